"""``Flow(draw_groups=g)``: ``experimental_sample_and_log_prob`` runs the layers on ``g`` groups.

The grouped path must give the very draws and densities of one batch (eager and under XLA), the
same gradients, run the layers once per group, and fall back to one batch where it cannot split.
"""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

import tfp_flows as tff

tfd = tfp.distributions


def _flows(groups: int):
    one = tff.iaf(3, num_layers=2, hidden_units=(8, 8), seed=0)
    for variable in one.trainable_variables:  # away from the identity a fresh IAF starts at
        variable.assign(
            variable
            + 0.3
            * tf.random.stateless_normal(
                variable.shape, seed=[len(variable.name), variable.shape.num_elements()]
            )
        )
    return one, one.copy(draw_groups=groups)


@pytest.mark.parametrize("groups", [2, 4])
@pytest.mark.parametrize("sample_shape", [[8], [2, 4]])
def test_grouped_draws_and_densities_are_those_of_one_batch(groups, sample_shape):
    one, grouped = _flows(groups)
    x1, log_q1 = one.experimental_sample_and_log_prob(sample_shape, seed=[4, 5])
    x2, log_q2 = grouped.experimental_sample_and_log_prob(sample_shape, seed=[4, 5])
    assert x2.shape == sample_shape + [3] and log_q2.shape == sample_shape
    np.testing.assert_allclose(x2, x1, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(log_q2, log_q1, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(log_q2, grouped.log_prob(tf.identity(x2)), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(x2, grouped.sample(sample_shape, seed=[4, 5]), rtol=1e-6, atol=1e-6)
    assert float(tf.math.reduce_std(log_q2)) > 0.1  # the layers are not the identity


@pytest.mark.slow
def test_grouped_draws_under_xla_and_their_gradients_match_one_batch():
    one, grouped = _flows(2)

    def loss_and_gradients(flow):
        @tf.function(jit_compile=True)
        def run():
            with tf.GradientTape() as tape:
                x, log_q = flow.experimental_sample_and_log_prob(16, seed=[1, 2])
                loss = tf.reduce_mean(log_q + tf.reduce_sum(x**2, axis=-1))
            return loss, tape.gradient(loss, flow.trainable_variables)

        return run()

    (loss1, gradients1), (loss2, gradients2) = loss_and_gradients(one), loss_and_gradients(grouped)
    np.testing.assert_allclose(loss2, loss1, rtol=1e-6)
    for g1, g2 in zip(gradients1, gradients2):
        np.testing.assert_allclose(g2, g1, rtol=1e-5, atol=1e-6)
    assert max(float(tf.reduce_max(tf.abs(g))) for g in gradients1) > 1e-3


@pytest.mark.parametrize(
    "sample_shape, calls_per_layer", [([8], 2), ([4], 2), ([7], 1), ([], 1), ([2], 1)]
)
def test_the_layers_run_once_per_group_or_once_where_draws_do_not_split(
    made_calls, sample_shape, calls_per_layer
):
    one, grouped = _flows(2)
    made_calls.clear()  # count from here on
    calls = made_calls
    x, log_q = grouped.experimental_sample_and_log_prob(sample_shape, seed=[3, 3])
    assert len(calls) == 2 * calls_per_layer  # 2 layers
    assert x.shape == sample_shape + [3] and log_q.shape == sample_shape
    np.testing.assert_allclose(
        log_q,
        one.experimental_sample_and_log_prob(sample_shape, seed=[3, 3])[1],
        rtol=1e-6,
        atol=1e-6,
    )


def test_conditional_flows_keep_one_batch_and_copies_keep_the_groups(made_calls):
    conditional = tff.iaf(2, num_layers=1, hidden_units=(8,), context_size=1, seed=0)
    grouped = conditional.copy(draw_groups=2)
    made_calls.clear()  # count from here on
    calls = made_calls
    x, log_q = grouped.experimental_sample_and_log_prob(4, seed=[1, 1], context=[[0.5]])
    assert len(calls) == 1 and x.shape == [4, 1, 2] and log_q.shape == [4, 1]
    bound = grouped.condition([0.5])
    assert bound.draw_groups == 2 and grouped.copy().draw_groups == 2
    calls.clear()
    bound.experimental_sample_and_log_prob(4, seed=[1, 1])
    assert len(calls) == 1  # a bound context: one batch


@pytest.mark.parametrize("bad, error", [(0, ValueError), (1.0, TypeError)])
def test_bad_draw_groups_are_refused_by_name(bad, error):
    with pytest.raises(error, match="draw_groups"):
        tff.iaf(2, num_layers=1, hidden_units=(4,)).copy(draw_groups=bad)


def test_surrogate_posterior_draws_in_two_groups_by_default():
    model = tfd.JointDistributionNamed(dict(a=tfd.Normal(0.0, 1.0), b=tfd.LogNormal(0.0, 1.0)))
    assert (
        tff.inference.surrogate_posterior(model).flow.draw_groups
        == tff.inference.DEFAULT_DRAW_GROUPS
        == 2
    )
    assert tff.inference.surrogate_posterior(model, draw_groups=1).flow.draw_groups == 1
    plain = tfd.Sample(tfd.Normal(0.0, 1.0), 2)
    assert tff.inference.surrogate_posterior(model, flow=plain).flow is plain
    with pytest.raises(TypeError, match="draw_groups applies to the package's flows"):
        tff.inference.surrogate_posterior(model, flow=plain, draw_groups=2)
