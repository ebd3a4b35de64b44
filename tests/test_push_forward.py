"""``PushForward`` (the base of ``tff.Flow`` and the surrogate posterior) is the distribution
``tfd.TransformedDistribution`` describes, on TFP's public API: the same densities, draws,
shapes, slices and affine closed forms for TFP's own bijectors; and a flow built on it works
wherever TFP takes a distribution."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

import tfp_flows as tff
from tfp_flows import testing
from tfp_flows.distributions import PushForward, StandardNormal

tfb, tfd = tfp.bijectors, tfp.distributions


def _cases():
    scale_tril = [[2.0, 0.0], [0.5, 1.0]]
    return {
        "exp": (tfd.Normal(0.3, 1.2), tfb.Exp(), tf.constant([0.5, 1.0, 4.0])),
        "affine vectors": (
            tfd.MultivariateNormalDiag(tf.zeros(2), [1.0, 3.0]),
            tfb.Shift([1.0, -2.0])(tfb.ScaleMatvecTriL(scale_tril)),
            tf.constant([[0.1, -0.3], [1.0, 2.0]]),
        ),
        "batch from the bijector": (
            tfd.Normal(0.0, 1.0),
            tfb.Scale([1.0, 2.0, 3.0]),
            tf.constant([[0.5, -1.0, 2.0]]),
        ),
        "batch from the base": (
            tfd.Normal(tf.constant([0.0, 1.0]), 2.0),
            tfb.Sigmoid(),
            tf.constant([0.2, 0.9]),
        ),
        "multipart": (
            tfd.MultivariateNormalDiag(tf.zeros(3)),
            tfb.JointMap([tfb.Exp(), tfb.Identity()])(tfb.Split([1, 2])),
            [tf.constant([[0.5], [2.0]]), tf.constant([[0.1, 0.2], [-1.0, 3.0]])],
        ),
    }


@pytest.mark.parametrize("case", list(_cases()))
def test_densities_draws_and_shapes_are_those_of_tfps_transformed_distribution(case):
    base, bijector, y = _cases()[case]
    ours, tfps = PushForward(base, bijector), tfd.TransformedDistribution(base, bijector)
    assert not isinstance(ours, tf.__internal__.CompositeTensor)
    assert ours.batch_shape == tfps.batch_shape and ours.event_shape == tfps.event_shape
    tf.nest.map_structure(
        np.testing.assert_array_equal, ours.event_shape_tensor(), tfps.event_shape_tensor()
    )
    np.testing.assert_array_equal(ours.batch_shape_tensor(), tfps.batch_shape_tensor())
    np.testing.assert_allclose(ours.log_prob(y), tfps.log_prob(y), rtol=1e-6)
    np.testing.assert_allclose(ours.prob(y), tfps.prob(y), rtol=1e-6)
    for got, expected in [
        (ours.sample([2, 3], seed=[1, 2]), tfps.sample([2, 3], seed=[1, 2])),
        (
            ours.experimental_sample_and_log_prob(4, seed=[3, 4]),
            tfps.experimental_sample_and_log_prob(4, seed=[3, 4]),
        ),
    ]:
        tf.nest.map_structure(
            lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6), got, expected
        )


def test_affine_closed_forms_are_tfps_and_a_nonlinear_map_has_none():
    base, bijector, _ = _cases()["affine vectors"]
    ours, tfps = PushForward(base, bijector), tfd.TransformedDistribution(base, bijector)
    for statistic in ("mean", "mode", "covariance", "entropy"):
        np.testing.assert_allclose(
            getattr(ours, statistic)(), getattr(tfps, statistic)(), rtol=1e-6
        )
    # Cov[y] = A Cov[x] A^T with A = L: written out.
    scale = np.array([[2.0, 0.0], [0.5, 1.0]])
    np.testing.assert_allclose(ours.covariance(), scale @ np.diag([1.0, 9.0]) @ scale.T, rtol=1e-6)
    scalar = PushForward(tfd.Normal(1.0, 0.5), tfb.Shift(1.0)(tfb.Scale(-3.0)))
    assert float(scalar.stddev()) == pytest.approx(1.5)
    with pytest.raises(NotImplementedError, match="closed form only for an affine map"):
        PushForward(tfd.Normal(0.0, 1.0), tfb.Exp()).mean()
    with pytest.raises(NotImplementedError, match="square root of the diagonal of covariance"):
        ours.stddev()


def test_a_batch_slice_slices_the_bijectors_batch():
    pushed = PushForward(tfd.Normal(0.0, 1.0), tfb.Scale([1.0, 2.0, 3.0]))
    tail = pushed[1:]
    assert tail.batch_shape == [2]
    np.testing.assert_allclose(tail.log_prob([0.5, 0.5]), pushed.log_prob([0.5, 0.5, 0.5])[1:])


def test_the_event_space_bijector_maps_the_bases_through_the_map():
    pushed = PushForward(tfd.LogNormal(0.0, 1.0), tfb.Shift(2.0))  # support (2, inf)
    bijector = pushed.experimental_default_event_space_bijector()
    np.testing.assert_allclose(
        bijector(tf.constant([-3.0, 0.0, 1.0])), 2 + np.exp([-3.0, 0.0, 1.0])
    )


# -- a flow wherever TFP takes a distribution ------------------------------------------------


def _flow(seed=0, **kwargs):
    flow = tff.real_nvp(2, num_layers=2, hidden_units=(8,), seed=seed, **kwargs)
    testing.perturb_weights(flow, seed=seed)
    return flow


def test_a_flow_is_a_plain_tfd_distribution_with_its_name_and_shapes():
    flow = _flow()
    assert isinstance(flow, tfd.Distribution) and isinstance(flow, PushForward)
    assert not isinstance(flow, tf.__internal__.CompositeTensor)
    assert str(flow) == (
        f'tfp.distributions.Flow("{flow.name}", batch_shape=[], event_shape=[2], dtype=float32)'
    )
    assert repr(flow).startswith(f"<tfp.distributions.Flow '{flow.name}' batch_shape=[]")


def test_a_copy_shares_the_layers_and_scores_alike():
    flow = _flow()
    copied = flow.copy(draw_groups=2)
    x = tf.random.stateless_normal([5, 2], seed=[1, 1])
    assert copied.name == flow.name and copied.draw_groups == 2
    assert {v.ref() for v in copied.trainable_variables} == {
        v.ref() for v in flow.trainable_variables
    }
    np.testing.assert_allclose(copied.log_prob(x), flow.log_prob(x), rtol=1e-6)


def test_a_mixture_of_flows_draws_from_its_components():
    first, second = _flow(seed=0), _flow(seed=1)
    mixture = tfd.Mixture(tfd.Categorical(probs=[0.3, 0.7]), [first, second])
    draws = mixture.sample(6, seed=[2, 3])
    assert draws.shape == [6, 2] and np.all(np.isfinite(draws))
    expected = np.logaddexp(
        np.log(0.3) + first.log_prob(draws), np.log(0.7) + second.log_prob(draws)
    )
    np.testing.assert_allclose(mixture.log_prob(draws), expected, rtol=1e-5)


def test_a_joint_distribution_scores_a_flow_part_with_the_flows_density():
    flow = _flow()
    joint = tfd.JointDistributionSequential([flow, lambda z: tfd.Normal(z[..., 0], 1.0)])
    z, y = joint.sample(4, seed=[5, 6])
    assert z.shape == [4, 2] and y.shape == [4]
    expected = flow.log_prob(z) + tfd.Normal(z[..., 0], 1.0).log_prob(y)
    np.testing.assert_allclose(joint.log_prob([z, y]), expected, rtol=1e-5)


def test_a_conditioned_flow_as_a_prior_scores_with_its_bound_context():
    flow = _flow(context_size=1).condition([0.5])
    model = tfd.JointDistributionNamed(dict(z=flow, y=lambda z: tfd.Normal(z[..., 1], 1.0)))
    pinned = model.experimental_pin(y=0.3)
    z = tf.constant([[0.2, -0.4], [1.0, 0.5]])
    expected = flow.log_prob(z) + tfd.Normal(z[..., 1], 1.0).log_prob(0.3)
    np.testing.assert_allclose(pinned.unnormalized_log_prob(z=z), expected, rtol=1e-5)
    np.testing.assert_allclose(flow.unnormalized_log_prob(z), flow.log_prob(z), rtol=1e-6)


def test_kl_divergence_of_one_map_is_the_bases_and_of_two_contexts_has_no_closed_form():
    affine = tfb.Shift([1.0, 2.0])
    first = tff.Flow(StandardNormal(loc=tf.zeros(2)), affine)
    second = tff.Flow(StandardNormal(loc=tf.ones(2)), affine)
    assert float(tfd.kl_divergence(first, second)) == pytest.approx(1.0)  # |1 - 0|^2 / 2 * 2
    conditional = _flow(context_size=1)
    with pytest.raises(NotImplementedError, match="one bound context"):
        tfd.kl_divergence(conditional.condition([0.0]), conditional.condition([3.0]))
