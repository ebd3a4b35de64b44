"""Conditional flows end to end: context in every place a distribution is used."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

import tfp_flows as tff
from tfp_flows import testing
from tfp_flows.bijectors import AffineCoupling, FlowChain
from tfp_flows.nn import MLPFactory

tfd, tfb = tfp.distributions, tfp.bijectors


def _flow(context_size=2, dtype=tf.float32, **kwargs):
    flow = tff.real_nvp(
        3, num_layers=3, hidden_units=(16,), context_size=context_size, dtype=dtype, **kwargs
    )
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
    expected = [flow.log_prob(x[i : i + 1], context=rows[i])[0] for i in range(5)]
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
    np.testing.assert_allclose(
        log_prob, flow.log_prob(tf.identity(samples), context=contexts), rtol=1e-4, atol=1e-4
    )
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

    compiled = {
        "eager": log_prob,
        "function": tf.function(log_prob),
        "xla": tf.function(log_prob, jit_compile=True),
    }[mode]
    np.testing.assert_allclose(
        compiled(x, context), log_prob(tf.identity(x), context), rtol=1e-10, atol=1e-10
    )


def test_a_cached_result_is_never_returned_for_another_context():
    flow = _flow()
    x = _x()
    first = flow.log_prob(x, context=[0.0, 0.0])
    second = flow.log_prob(x, context=[1.0, 1.0])  # same tensor x, another context
    fresh = flow.log_prob(tf.identity(x), context=[1.0, 1.0])
    np.testing.assert_array_equal(second, fresh)
    assert np.max(np.abs(first - second)) > 1e-3
    y = flow.bijector.forward(x, context=[0.0, 0.0])
    np.testing.assert_array_equal(
        flow.bijector.forward(x, context=[2.0, 0.0]),
        flow.bijector.forward(tf.identity(x), context=[2.0, 0.0]),
    )
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
    inner = FlowChain([AffineCoupling([1, 0, 0], MLPFactory(seed=1), context_size=1)])
    chain = FlowChain(
        [
            tfb.Invert(AffineCoupling(3, MLPFactory(seed=2), context_size=1)),
            inner,
            tfb.Shift([0.5, 0.0, 0.0]),
        ]
    )
    testing.perturb_weights(chain, scale=0.3, seed=1)
    x = _x()
    context = tf.constant([[0.7]])
    y = chain.forward(x, context=context)
    np.testing.assert_allclose(chain.inverse(y, context=context), x, atol=1e-4)
    manual = chain.bijectors[0].forward(
        inner.forward(x + [0.5, 0.0, 0.0], context=context), context=context
    )
    np.testing.assert_allclose(y, manual, atol=1e-6)
    assert chain.context_size == 1


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda f: f.log_prob(_x()), r"conditional: pass context= of shape \[..., 2\]"),
        (lambda f: f.sample(3, seed=0), r"conditional: pass context= of shape \[..., 2\]"),
        (
            lambda f: f.log_prob(_x(), context=[1.0]),
            r"expected a context of shape \[..., 2\], got shape \[1\]",
        ),
        (
            lambda f: f.log_prob(_x(), context=tf.zeros([2], tf.float64)),
            "expected a context of dtype float32, got float64",
        ),
        (lambda f: f.bijector.forward(_x()), "pass context="),
        (lambda f: f.condition([1.0, 2.0]).log_prob(_x(), context=[1.0, 2.0]), "bound context"),
    ],
)
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


@pytest.mark.slow
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
        target.log_prob,
        bound,
        optimizer=tf.keras.optimizers.Adam(1e-2),
        num_steps=60,
        sample_size=32,
        seed=(1, 2),
        jit_compile=True,
    )
    assert np.mean(losses[-10:]) < np.mean(losses[:10])

    # tfp.mcmc: the bound flow as the target of HMC, in a tf.function as TFP advises (eagerly,
    # 20 draws took 8.6 s of CPU; traced, 1.9 s)
    kernel = tfp.mcmc.HamiltonianMonteCarlo(bound.log_prob, step_size=0.3, num_leapfrog_steps=3)
    draws = tf.function(
        lambda: tfp.mcmc.sample_chain(20, tf.zeros(3), kernel=kernel, trace_fn=None, seed=(3, 4))
    )()
    assert draws.shape == [20, 3] and np.all(np.isfinite(draws))


def test_every_builder_takes_context_size():
    for builder in (tff.real_nvp, tff.nice):
        flow = builder(2, num_layers=2, hidden_units=(8,), context_size=3)
        assert flow.context_size == 3
        assert flow.log_prob(tf.zeros([4, 2]), context=tf.zeros([4, 3])).shape == [4]
    layers = [
        AffineCoupling(2, MLPFactory(seed=0), context_size=1),
        AffineCoupling([0, 1], context_size=1),
    ]
    assert tff.coupling_flow(layers, event_size=2).context_size == 1
    with pytest.raises(ValueError, match="context_size"):
        tff.real_nvp(2, context_size=-1)


@pytest.mark.slow
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
    np.testing.assert_allclose(
        model.evaluate((x[:500], b[:500]), verbose=0),
        -np.mean(model.distribution.log_prob(x[:500], context=b[:500])),
        rtol=1e-4,
    )


def test_a_context_whose_batch_does_not_broadcast_against_the_points_names_both_shapes():
    flow = _flow()
    x, contexts = _x(5), tf.zeros([4, 2])
    layer = next(b for b in flow.bijector.bijectors if getattr(b, "context_size", 0))
    both_shapes = r"context of shape \[4, 2\] does not broadcast against points of shape \[5, 3\]"
    calls = [
        lambda: flow.log_prob(x, context=contexts),
        lambda: flow.prob(x, context=contexts),
        lambda: flow.condition(contexts).log_prob(x),  # a batch of 4 distributions
        lambda: flow.bijector.forward(x, context=contexts),
        lambda: layer.inverse_log_det_jacobian(x, 1, context=contexts),
    ]
    for call in calls:
        with pytest.raises(ValueError, match=both_shapes):
            call()


def test_contexts_broadcast_against_the_points_by_numpy_rules():
    flow = _flow()
    x, c = _x(5), tf.constant([[0.5, -1.0]])
    one = flow.log_prob(x, context=c[0])
    np.testing.assert_array_equal(flow.log_prob(x, context=c), one)  # [1, k]
    np.testing.assert_array_equal(flow.log_prob(x, context=tf.tile(c, [5, 1])), one)  # [n, k]
    np.testing.assert_array_equal(flow.condition(c).log_prob(x), one)
    grid = flow.log_prob(x[:, None, :], context=tf.zeros([4, 2]))  # [5, 1] x [4]
    assert grid.shape == [5, 4]


def _conditional_builders():
    small = {"num_layers": 1, "context_size": 1}
    return {
        "real_nvp": lambda: tff.real_nvp(2, hidden_units=(8,), **small),
        "nice": lambda: tff.nice(2, hidden_units=(8,), **small),
        "maf": lambda: tff.maf(2, hidden_units=(8,), **small),
        "iaf": lambda: tff.iaf(2, hidden_units=(8,), **small),
        "nsf": lambda: tff.nsf(2, hidden_units=(8,), **small),
        "planar": lambda: tff.planar(2, hidden_units=(8,), **small),
        "radial": lambda: tff.radial(2, hidden_units=(8,), **small),
    }


@pytest.mark.parametrize("family", sorted(_conditional_builders()))
def test_a_context_of_unknown_width_traces_and_its_width_is_checked_when_run(family):
    flow = _conditional_builders()[family]()
    testing.perturb_weights(flow, scale=0.2, seed=1)
    log_prob = tf.function(
        lambda x, c: flow.log_prob(x, context=c),
        input_signature=[tf.TensorSpec([None, 2]), tf.TensorSpec([None, None])],
    )
    x = tf.random.stateless_normal([3, 2], seed=[4, 5])
    c = tf.constant([[0.1], [-0.4], [0.9]])
    np.testing.assert_allclose(
        log_prob(x, c), flow.log_prob(tf.identity(x), context=c), rtol=1e-5, atol=1e-5
    )
    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match=r"expected a context of shape \[\.\.\., 1\], got a context of width\] \[2\]",
    ):
        log_prob(x, tf.zeros([3, 2]))


@pytest.mark.parametrize("family", ["planar", "radial"])
def test_a_context_of_unknown_width_compiles_with_xla(family):
    flow = _conditional_builders()[family]()
    log_prob = tf.function(
        lambda x, c: flow.log_prob(x, context=c),
        jit_compile=True,
        input_signature=[tf.TensorSpec([None, 2]), tf.TensorSpec([None, None])],
    )
    x, c = tf.zeros([3, 2]), tf.constant([[0.1], [-0.4], [0.9]])
    np.testing.assert_allclose(
        log_prob(x, c), flow.log_prob(tf.identity(x), context=c), rtol=1e-5, atol=1e-5
    )


def test_a_batch_mismatch_hidden_while_tracing_is_refused_when_run():
    flow = _flow()
    log_prob = tf.function(
        lambda x, c: flow.log_prob(x, context=c),
        input_signature=[tf.TensorSpec([None, 3]), tf.TensorSpec([None, 2])],
    )
    assert log_prob(_x(5), tf.zeros([1, 2])).shape == [5]
    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match=r"a context of shape\] \[4 2\] \[does not broadcast against points of shape\] \[5 3\]",
    ):
        log_prob(_x(5), tf.zeros([4, 2]))


def test_an_integer_tensor_context_is_refused_with_advice_that_works():
    flow = _flow()
    context = tf.constant([[1, 2]] * 5)
    with pytest.raises(
        TypeError, match=r"got int32; cast it with tf\.cast\(c, tf\.float32\)\.$"
    ) as error:
        flow.log_prob(_x(), context=context)
    assert "dtype=tf.int32" not in str(error.value)
    np.testing.assert_array_equal(
        flow.log_prob(_x(), context=tf.cast(context, tf.float32)),
        flow.log_prob(_x(), context=[[1.0, 2.0]] * 5),
    )


def test_arrays_and_lists_are_converted_to_the_flows_dtype_and_tensors_are_checked():
    flow = _flow()
    x = _x()
    array = np.random.default_rng(0).normal(size=[5, 2])  # float64
    tensor = tf.constant(array, tf.float32)
    expected = flow.log_prob(x, context=tensor)
    for context in (array, array.tolist(), array.astype(np.float32)):
        np.testing.assert_array_equal(flow.log_prob(x, context=context), expected)
        np.testing.assert_array_equal(flow.prob(x, context=context), flow.prob(x, context=tensor))
        np.testing.assert_array_equal(
            flow.sample(2, seed=[1, 2], context=context),
            flow.sample(2, seed=[1, 2], context=tensor),
        )
        np.testing.assert_array_equal(flow.condition(context).log_prob(x), expected)
    assert tff.metrics.nll(flow, x, context=array) == pytest.approx(-float(np.mean(expected)))
    float64 = tf.constant(array)
    for call in (
        lambda: flow.log_prob(x, context=float64),
        lambda: flow.prob(x, context=float64),
        lambda: flow.sample(2, seed=[1, 2], context=float64),
        lambda: flow.condition(float64),
        lambda: tff.metrics.nll(flow, x, context=float64),
    ):
        with pytest.raises(TypeError, match="expected a context of dtype float32, got float64"):
            call()


def test_the_arrays_fit_accepts_are_the_arrays_log_prob_accepts():
    flow = tff.real_nvp(2, num_layers=1, hidden_units=(8,), context_size=1)
    rng = np.random.default_rng(1)
    context = rng.normal(size=[64, 1])  # float64 arrays
    theta = context + rng.normal(size=[64, 2])
    tff.fit(flow, theta, context=context, steps=2, batch_size=32, jit_compile=False, progress=False)
    log_prob = flow.log_prob(theta, context=context)
    assert log_prob.shape == [64] and np.all(np.isfinite(log_prob))
