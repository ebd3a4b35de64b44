"""Conditional flows end to end: context in every place a distribution is used."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

import tfp_flows as tff
from tfp_flows import testing
from tfp_flows.bijectors import AffineCoupling, FlowChain

tfd, tfb = tfp.distributions, tfp.bijectors


def _flow(context_size=2, dtype=tf.float32, **kwargs):
    flow = tff.real_nvp(3, num_layers=3, hidden_units=(16,), context_size=context_size,
                        dtype=dtype, **kwargs)
    testing.perturb_weights(flow, scale=0.2, seed=3)
    return flow


def _x(n=5, dtype=tf.float32):
    return tf.random.stateless_normal([n, 3], seed=[1, 2], dtype=dtype)


def test_context_changes_the_density_and_broadcasts_against_the_batch():
    flow = _flow()
    x = _x()
    c1, c2 = tf.constant([0.5, -1.0]), tf.constant([2.0, 0.3])
    lp1, lp2 = flow.log_prob(x, context=c1), flow.log_prob(x, context=c2)
    assert lp1.shape == [5] and np.max(np.abs(lp1 - lp2)) > 1e-2
    # one context per row equals one call per row
    rows = tf.stack([c1, c2, c1, c2, c1])
    per_row = flow.log_prob(x, context=rows)
    expected = [flow.log_prob(x[i:i + 1], context=rows[i])[0] for i in range(5)]
    np.testing.assert_allclose(per_row, expected, rtol=1e-5, atol=1e-5)
    # a single x against a batch of 4 contexts: batch shape [4]
    contexts = tf.random.stateless_normal([4, 2], seed=[3, 3])
    assert flow.log_prob(x[0], context=contexts).shape == [4]
    np.testing.assert_allclose(flow.prob(x, context=c1), np.exp(lp1), rtol=1e-5)


def test_sample_and_sample_and_log_prob_take_the_context_batch():
    flow = _flow()
    contexts = tf.random.stateless_normal([4, 2], seed=[3, 4])
    assert flow.sample(6, seed=1, context=contexts).shape == [6, 4, 3]
    assert flow.sample([2, 3], seed=1, context=contexts[0]).shape == [2, 3, 3]
    samples, log_prob = flow.experimental_sample_and_log_prob(6, seed=2, context=contexts)
    assert samples.shape == [6, 4, 3] and log_prob.shape == [6, 4]
    np.testing.assert_allclose(log_prob, flow.log_prob(tf.identity(samples), context=contexts),
                               rtol=1e-4, atol=1e-4)
    # the samples follow the context: the sample mean moves with it
    near = flow.sample(2000, seed=3, context=[0.0, 0.0])
    far = flow.sample(2000, seed=3, context=[3.0, -3.0])
    assert np.max(np.abs(np.mean(near, 0) - np.mean(far, 0))) > 0.1


@pytest.mark.parametrize("mode", testing.MODES)
def test_compiled_log_prob_with_context_equals_eager(mode):
    flow = _flow(dtype=tf.float64)
    x = _x(dtype=tf.float64)
    context = tf.random.stateless_normal([5, 2], seed=[5, 5], dtype=tf.float64)

    def log_prob(x, c):
        return flow.log_prob(x, context=c)

    compiled = {"eager": log_prob, "function": tf.function(log_prob),
                "xla": tf.function(log_prob, jit_compile=True)}[mode]
    np.testing.assert_allclose(compiled(x, context), log_prob(tf.identity(x), context),
                               rtol=1e-10, atol=1e-10)


def test_a_cached_result_is_never_returned_for_another_context():
    flow = _flow()
    x = _x()
    first = flow.log_prob(x, context=[0.0, 0.0])
    second = flow.log_prob(x, context=[1.0, 1.0])  # same tensor x, another context
    fresh = flow.log_prob(tf.identity(x), context=[1.0, 1.0])
    np.testing.assert_array_equal(second, fresh)
    assert np.max(np.abs(first - second)) > 1e-3
    y = flow.bijector.forward(x, context=[0.0, 0.0])
    np.testing.assert_array_equal(flow.bijector.forward(x, context=[2.0, 0.0]),
                                  flow.bijector.forward(tf.identity(x), context=[2.0, 0.0]))
    assert y.shape == [5, 3]


def test_gradients_reach_every_variable_and_the_context():
    flow = _flow()
    context = tf.constant([[0.3, -0.2]] * 5)
    with tf.GradientTape() as tape:
        tape.watch(context)
        loss = -tf.reduce_mean(flow.log_prob(_x(), context=context))
    gradients = tape.gradient(loss, [context, *flow.trainable_variables])
    assert all(g is not None for g in gradients)
    assert np.max(np.abs(gradients[0])) > 0


def test_every_conditional_layer_gets_the_context_through_invert_and_nested_chains():
    inner = FlowChain([AffineCoupling([1, 0, 0], context_size=1, seed=1)])
    chain = FlowChain([tfb.Invert(AffineCoupling(3, context_size=1, seed=2)), inner,
                       tfb.Shift([0.5, 0.0, 0.0])])
    testing.perturb_weights(chain, scale=0.3, seed=1)
    x = _x()
    context = tf.constant([[0.7]])
    y = chain.forward(x, context=context)
    np.testing.assert_allclose(chain.inverse(y, context=context), x, atol=1e-4)
    manual = chain.bijectors[0].forward(
        inner.forward(x + [0.5, 0.0, 0.0], context=context), context=context)
    np.testing.assert_allclose(y, manual, atol=1e-6)
    assert chain.context_size == 1


@pytest.mark.parametrize("call, message", [
    (lambda f: f.log_prob(_x()), r"conditional: pass context= of shape \[..., 2\]"),
    (lambda f: f.sample(3, seed=0), r"conditional: pass context= of shape \[..., 2\]"),
    (lambda f: f.log_prob(_x(), context=[1.0]), r"expected a context of shape \[..., 2\], got shape \[1\]"),
    (lambda f: f.log_prob(_x(), context=np.zeros(2)), "expected a context of dtype float32, got float64"),
    (lambda f: f.bijector.forward(_x()), "pass context="),
    (lambda f: f.condition([1.0, 2.0]).log_prob(_x(), context=[1.0, 2.0]), "bound context"),
])
def test_a_missing_or_wrong_context_is_explained(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call(_flow())


def test_an_unconditional_flow_refuses_a_context():
    flow = tff.real_nvp(3, num_layers=2, hidden_units=(8,))
    with pytest.raises(ValueError, match="unconditional"):
        flow.log_prob(_x(), context=[1.0])
    with pytest.raises(ValueError, match="no context to bind"):
        flow.condition([1.0])
    with pytest.raises(ValueError, match="different sizes"):
        FlowChain([AffineCoupling(2, context_size=1), AffineCoupling(2, context_size=2)])


def test_a_nan_context_raises_with_validate_args():
    flow = tff.real_nvp(3, num_layers=2, hidden_units=(8,), context_size=1, validate_args=True)
    with pytest.raises(tf.errors.InvalidArgumentError, match="context must be finite"):
        flow.log_prob(_x(), context=[np.nan])


def test_a_bound_flow_is_a_plain_distribution_for_vi_and_mcmc():
    flow = _flow()
    context = tf.constant([0.4, -0.8])
    bound = flow.condition(context)
    assert bound.batch_shape == [] and bound.event_shape == [3]
    x = _x()
    np.testing.assert_allclose(bound.log_prob(x), flow.log_prob(x, context=context), rtol=1e-6)
    assert set(map(id, bound.trainable_variables)) == set(map(id, flow.trainable_variables))
    batched = flow.condition(tf.stack([context, -context]))
    assert batched.batch_shape == [2] and batched.sample(4, seed=1).shape == [4, 2, 3]

    # tfp.vi: fit the bound flow to a Gaussian target (the ELBO improves)
    target = tfd.MultivariateNormalDiag([1.0, -1.0, 0.5], [0.5, 1.0, 2.0])
    losses = tfp.vi.fit_surrogate_posterior(
        target.log_prob, bound, optimizer=tf.keras.optimizers.Adam(1e-2), num_steps=60,
        sample_size=32, seed=(1, 2), jit_compile=True)
    assert np.mean(losses[-10:]) < np.mean(losses[:10])

    # tfp.mcmc: the bound flow as the target of HMC
    kernel = tfp.mcmc.HamiltonianMonteCarlo(bound.log_prob, step_size=0.3, num_leapfrog_steps=3)
    draws = tfp.mcmc.sample_chain(20, tf.zeros(3), kernel=kernel, trace_fn=None, seed=(3, 4))
    assert draws.shape == [20, 3] and np.all(np.isfinite(draws))


def test_every_builder_takes_context_size():
    for builder in (tff.real_nvp, tff.nice):
        flow = builder(2, num_layers=2, hidden_units=(8,), context_size=3)
        assert flow.context_size == 3
        assert flow.log_prob(tf.zeros([4, 2]), context=tf.zeros([4, 3])).shape == [4]
    layers = [AffineCoupling(2, context_size=1, seed=0), AffineCoupling([0, 1], context_size=1)]
    assert tff.coupling_flow(layers, event_size=2).context_size == 1
    with pytest.raises(ValueError, match="context_size"):
        tff.real_nvp(2, context_size=-1)


def test_fit_and_flow_model_train_a_conditional_flow_on_context_pairs():
    import keras

    target = tff.datasets.ConditionalBanana()
    x, b = (np.asarray(t) for t in target.sample_pairs(2048, seed=0))
    flow = tff.real_nvp(2, num_layers=2, hidden_units=(16,), context_size=1)
    before = tff.metrics.conditional_kl_gap(flow, target, context=[0.25], n=2000, seed=1)
    tff.fit(flow, x, context=b, steps=200, batch_size=256, seed=0, progress=False)
    after = tff.metrics.conditional_kl_gap(flow, target, context=[0.25], n=2000, seed=1)
    assert after.mean < 0.5 * before.mean

    model = tff.FlowModel(tff.real_nvp(2, num_layers=2, hidden_units=(16,), context_size=1))
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    history = model.fit((x, b), epochs=2, batch_size=256, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    np.testing.assert_allclose(model.evaluate((x[:500], b[:500]), verbose=0),
                               -np.mean(model.distribution.log_prob(x[:500], context=b[:500])),
                               rtol=1e-4)
