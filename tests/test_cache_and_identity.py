"""No stale or cross-flow results: nothing cached, layers equal only to themselves.

Every test compares against a *fresh copy* of the input tensor (``tf.identity``), which no
cache has seen, so it computes the true value with the current weights.
"""

import copy

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

import tfp_flows as tff
from tfp_flows import testing
from tfp_flows.bijectors import AffineCoupling, FlowChain, LULinear, Standardize
from tfp_flows.nn import MLPFactory

tfb, tfd = tfp.bijectors, tfp.distributions

MODES = {
    "eager": lambda f: f,
    "function": tf.function,
    "xla": lambda f: tf.function(f, jit_compile=True),
}


def _flow(seed=0, **kwargs):
    return tff.real_nvp(2, num_layers=2, hidden_units=(8,), seed=seed, **kwargs)


def _move(variables, by=0.3):
    for variable in variables:
        if variable.dtype.is_floating:
            variable.assign_add(tf.fill(variable.shape, tf.cast(by, variable.dtype)))


# -- stale results at the flow level ------------------------------------------------------


def test_log_prob_of_samples_drawn_before_a_weight_update_is_the_true_one():
    flow = _flow()
    testing.perturb_weights(flow)
    samples = flow.sample(64, seed=1)
    _move(flow.trainable_variables)
    np.testing.assert_allclose(
        flow.log_prob(samples), flow.log_prob(tf.identity(samples)), rtol=1e-6
    )


def test_chain_forward_of_a_tensor_seen_before_a_weight_update_is_the_true_one():
    flow = _flow()
    x = tf.random.stateless_normal([16, 2], seed=[1, 2])
    before = flow.bijector.forward(x)
    _move(flow.trainable_variables)
    after = flow.bijector.forward(x)
    assert not np.allclose(before, after)
    np.testing.assert_allclose(after, flow.bijector.forward(tf.identity(x)), rtol=1e-6)
    np.testing.assert_allclose(
        flow.bijector.inverse_log_det_jacobian(after, 1),
        flow.bijector.inverse_log_det_jacobian(tf.identity(after), 1),
        rtol=1e-6,
    )


@pytest.mark.parametrize("mode", ["function", pytest.param("xla", marks=pytest.mark.slow)])
def test_inside_one_compiled_function_an_assignment_invalidates_cached_results(mode):
    flow = _flow()
    testing.perturb_weights(flow)
    variables = flow.trainable_variables

    def sample_update_score(seed):
        samples = flow.sample(32, seed=seed)
        for variable in variables:
            variable.assign_add(tf.fill(variable.shape, 0.2))
        return flow.log_prob(samples), samples

    log_prob, samples = MODES[mode](sample_update_score)(tf.constant([3, 4]))
    np.testing.assert_allclose(log_prob, flow.log_prob(tf.identity(samples)), rtol=1e-5)


def test_a_flows_own_samples_get_their_exact_density_without_a_round_trip():
    flow = _flow()
    testing.perturb_weights(flow)
    z, base_log_prob = flow.distribution.experimental_sample_and_log_prob(8, seed=[5, 5])
    x, log_prob = flow.experimental_sample_and_log_prob(8, seed=[5, 5])
    # the density of each sample comes from the pass that drew it: exactly base - fldj(z) ...
    y, fldj = flow.bijector.forward(z), flow.bijector.forward_log_det_jacobian(z, 1)
    np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(log_prob, base_log_prob - fldj)
    # ... and log_prob of the samples, through every layer's inverse, agrees to rounding
    np.testing.assert_allclose(flow.log_prob(x), log_prob, rtol=1e-5, atol=1e-5)


def test_an_eager_training_loop_on_one_tensor_reports_the_true_loss_every_step():
    flow = _flow()
    data = tf.constant(tff.datasets.Banana().sample(256, seed=0))
    optimizer = tf.keras.optimizers.Adam(1e-2)
    for _ in range(3):
        with tf.GradientTape() as tape:
            loss = -tf.reduce_mean(flow.log_prob(data))
        optimizer.apply_gradients(
            zip(tape.gradient(loss, flow.trainable_variables), flow.trainable_variables)
        )
        np.testing.assert_allclose(
            -tf.reduce_mean(flow.log_prob(data)),
            -tf.reduce_mean(flow.log_prob(tf.identity(data))),
            rtol=1e-6,
        )


# -- equality and cross-flow results ------------------------------------------------------


def test_layers_built_alike_never_compare_equal():
    a, b = LULinear(2), LULinear(2)
    assert a != b and a == a and hash(a) != hash(b)
    assert AffineCoupling(2, MLPFactory(seed=0)) != AffineCoupling(2, MLPFactory(seed=0))
    assert Standardize(2) != Standardize(2)
    first, second = _flow(), _flow()
    assert first.bijector != second.bijector and first.bijector == first.bijector
    assert len({first.bijector, second.bijector, first.bijector}) == 2


@pytest.mark.parametrize("mode", list(MODES))
def test_two_flows_built_alike_never_answer_each_others_calls(mode):
    first, second = _flow(), _flow()
    _move(second.trainable_variables, by=0.5)  # differ only in their weights (LU ones included)
    x = tf.constant([[0.3, 0.1], [-1.0, 2.0]])
    both = MODES[mode](lambda x: (first.log_prob(x), second.log_prob(x)))
    got_first, got_second = both(x)
    np.testing.assert_allclose(got_first, first.log_prob(tf.identity(x)), rtol=1e-5)
    np.testing.assert_allclose(got_second, second.log_prob(tf.identity(x)), rtol=1e-5)
    assert not np.allclose(got_first, got_second)


def test_two_lu_layers_in_one_compiled_function_keep_their_own_weights():
    a, b = LULinear(2), LULinear(2)
    b.log_diag.assign([1.0, -0.5])
    b.lower_upper.assign([[0.0, 2.0], [0.7, 0.0]])
    x = tf.constant([[1.0, 2.0]])
    ya, yb = tf.function(lambda x: (a.forward(x), b.forward(x)))(x)
    np.testing.assert_allclose(ya, x)
    np.testing.assert_allclose(yb, b.forward(tf.identity(x)), rtol=1e-6)


@pytest.mark.parametrize("mode", ["eager", "function"])
def test_a_mixture_of_two_flows_is_the_weighted_sum_of_their_densities(mode):
    first, second = _flow(seed=0), _flow(seed=0)
    testing.perturb_weights(first, seed=1)
    testing.perturb_weights(second, seed=2)
    mixture = tfd.Mixture(tfd.Categorical(probs=[0.3, 0.7]), [first, second])
    x = tf.random.stateless_normal([10, 2], seed=[7, 7])
    got = MODES[mode](mixture.log_prob)(x)
    expected = np.logaddexp(
        np.log(0.3) + first.log_prob(tf.identity(x)), np.log(0.7) + second.log_prob(tf.identity(x))
    )
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_kl_divergence_between_different_flows_is_not_a_closed_form_zero():
    first, second = _flow(), _flow()
    lu_layers = [b for b in second.bijector.bijectors if isinstance(b, LULinear)]
    _move([layer.log_diag for layer in lu_layers], by=0.4)
    with pytest.raises(NotImplementedError):
        tfd.kl_divergence(first, second)  # TFP's closed form needs equal bijectors
    assert float(tfd.kl_divergence(first, first)) == 0.0


@pytest.mark.slow
def test_variational_inference_with_one_flow_as_prior_and_another_as_surrogate():
    prior, surrogate = _flow(seed=0), _flow(seed=0)
    testing.perturb_weights(prior, seed=3)

    def loss():
        return tfp.vi.monte_carlo_variational_loss(
            prior.log_prob, surrogate, sample_size=256, seed=[1, 2]
        )

    compiled = tf.function(loss)()
    np.testing.assert_allclose(compiled, loss(), rtol=1e-5)
    # and it is the Monte Carlo KL(surrogate || prior) (to within 4 standard errors)
    z, surrogate_log_prob = surrogate.experimental_sample_and_log_prob(4096, seed=[5, 6])
    terms = surrogate_log_prob - prior.log_prob(tf.identity(z))
    assert (
        abs(float(compiled) - float(tf.reduce_mean(terms)))
        < 4 * float(tf.math.reduce_std(terms)) * (1 / 256 + 1 / 4096) ** 0.5
    )
    trace = tfp.vi.fit_surrogate_posterior(
        prior.log_prob,
        surrogate,
        tf.keras.optimizers.Adam(1e-2),
        num_steps=30,
        sample_size=64,
        seed=[3, 4],
    )
    assert np.all(np.isfinite(trace)) and float(trace[-5:].numpy().mean()) < float(trace[0])


# -- copy() ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: LULinear(3, permutation=[2, 0, 1]),
        lambda: AffineCoupling(3, MLPFactory(hidden_units=(8,), seed=0)),
        lambda: tff.bijectors.AdditiveCoupling(3, MLPFactory(hidden_units=(8,), seed=0)),
        lambda: Standardize(3),
    ],
    ids=["lu_linear", "affine_coupling", "additive_coupling", "standardize"],
)
def test_copy_keeps_the_trained_weights_and_deepcopy_is_independent(make):
    layer = make()
    testing.perturb_weights(layer, seed=4)
    if isinstance(layer, Standardize):
        layer.adapt(np.random.default_rng(0).normal(2.0, 3.0, size=(50, 3)))
    x = tf.random.stateless_normal([5, 3], seed=[8, 8])
    copied = layer.copy(name="renamed")
    assert copied.name == "renamed" and copied != layer
    np.testing.assert_array_equal(copied.forward(x), layer.forward(tf.identity(x)))
    assert {id(v) for v in copied.variables} == {id(v) for v in layer.variables}
    independent = copy.deepcopy(layer)
    np.testing.assert_array_equal(independent.forward(x), layer.forward(tf.identity(x)))
    _move(layer.variables)
    np.testing.assert_array_equal(copied.forward(x), layer.forward(tf.identity(x)))  # shared
    assert not np.allclose(independent.forward(x), layer.forward(tf.identity(x)))


@pytest.mark.parametrize(
    "make, override",
    [
        (lambda: LULinear(3), {"event_size": 4}),
        (lambda: AffineCoupling(3, MLPFactory(hidden_units=(8,))), {"log_scale_bound": 5.0}),
        (lambda: AffineCoupling(3, MLPFactory(hidden_units=(8,))), {"hidden_units": (16,)}),
        (lambda: AffineCoupling(3, MLPFactory(hidden_units=(8,))), {"dtype": tf.float64}),
    ],
)
def test_copy_refuses_overrides_that_the_shared_weights_would_ignore(make, override):
    with pytest.raises(
        ValueError, match=f"takes only name= and validate_args=, got {list(override)[0]}"
    ):
        make().copy(**override)


def test_copied_flow_chain_and_flow_keep_the_weights():
    flow = _flow()
    testing.perturb_weights(flow)
    x = tf.random.stateless_normal([5, 2], seed=[9, 9])
    assert isinstance(flow.bijector.copy(), FlowChain)
    np.testing.assert_array_equal(
        flow.bijector.copy().forward(x), flow.bijector.forward(tf.identity(x))
    )
    np.testing.assert_array_equal(flow.copy().log_prob(x), flow.log_prob(tf.identity(x)))


def test_a_users_compiled_training_loop_scores_an_outer_tensor_with_the_current_weights():
    flow = _flow()
    optimizer = tf.keras.optimizers.Adam(1e-2)
    optimizer.build(flow.trainable_variables)
    data = tf.constant(tff.datasets.Banana().sample(128, seed=1))

    @tf.function
    def train(x):
        before = tf.reduce_mean(flow.log_prob(x))  # in the outer graph
        for _ in tf.range(5):  # a while loop: its body is another graph
            with tf.GradientTape() as tape:
                loss = -tf.reduce_mean(flow.log_prob(x))
            gradients = tape.gradient(loss, flow.trainable_variables)
            optimizer.apply_gradients(zip(gradients, flow.trainable_variables))
        return before, tf.reduce_mean(flow.log_prob(x))

    before, after = train(data)
    np.testing.assert_allclose(after, tf.reduce_mean(flow.log_prob(tf.identity(data))), rtol=1e-6)
    assert after > before  # five steps of ascent on the log-likelihood


# -- gradient tapes: every call is recorded by the tape around it ------------------------------


@pytest.mark.parametrize("mode", ["eager", "function"])
def test_a_loss_logged_before_the_tape_does_not_take_the_gradients_away(mode):
    flow = _flow()
    testing.perturb_weights(flow)
    x = tf.random.stateless_normal([16, 2], seed=[4, 4])

    def logged_then_differentiated(x):
        logged = tf.reduce_mean(flow.log_prob(x))
        with tf.GradientTape() as tape:
            loss = -tf.reduce_mean(flow.log_prob(x))
        return logged, tape.gradient(loss, flow.trainable_variables)

    _, gradients = MODES[mode](logged_then_differentiated)(x)
    assert all(g is not None for g in gradients)


def test_a_second_tape_on_the_same_tensor_gets_its_gradients():
    flow = _flow()
    testing.perturb_weights(flow)
    x = tf.random.stateless_normal([16, 2], seed=[4, 5])
    gradients = []
    for _ in range(2):  # e.g. gradient accumulation over the same batch
        with tf.GradientTape() as tape:
            z = flow.bijector.inverse(x)
            loss = tf.reduce_mean(z**2)
        gradients.append(tape.gradient(loss, flow.trainable_variables))
    assert all(g is not None for g in gradients[1])
    for first, second in zip(*gradients):
        np.testing.assert_allclose(first, second, rtol=1e-6)


@pytest.mark.parametrize("mode", ["eager", "function"])
def test_under_a_tape_log_prob_still_runs_each_conditioner_once(mode, monkeypatch):
    flow = tff.real_nvp(2, num_layers=2, hidden_units=(8,), mixing=None)
    conditioners = [layer.conditioner for layer in flow.bijector.bijectors[1:]]
    original = type(conditioners[0]).__call__
    calls = []

    def counting(self, h, context=None):
        calls.append(conditioners.index(self))
        return original(self, h, context)

    monkeypatch.setattr(type(conditioners[0]), "__call__", counting)

    def loss_and_gradients(x):
        with tf.GradientTape() as tape:
            loss = -tf.reduce_mean(flow.log_prob(x))
        return loss, tape.gradient(loss, flow.trainable_variables)

    MODES[mode](loss_and_gradients)(tf.random.stateless_normal([4, 2], seed=[1, 9]))
    assert sorted(calls) == [0, 1]


@pytest.mark.parametrize("mode", ["eager", "function"])
@pytest.mark.slow
def test_neutra_style_mcmc_through_a_flow_chain_reports_the_true_target_log_prob(mode):
    flow = _flow()
    testing.perturb_weights(flow)
    target = tfd.MultivariateNormalDiag([1.0, -1.0], [2.0, 0.5])
    kernel = tfp.mcmc.TransformedTransitionKernel(
        tfp.mcmc.HamiltonianMonteCarlo(target.log_prob, step_size=0.1, num_leapfrog_steps=3),
        bijector=flow.bijector,
    )

    def run(seed):
        return tfp.mcmc.sample_chain(
            5,
            current_state=tf.constant([0.5, -0.5]),
            kernel=kernel,
            seed=seed,
            trace_fn=lambda _, results: results.inner_results.accepted_results.target_log_prob,
        )

    for seed in ([1, 2], [3, 4]):  # the weights move between the two runs
        states, traced = MODES[mode](run)(tf.constant(seed))
        z = flow.bijector.inverse(tf.identity(states))
        expected = target.log_prob(tf.identity(states)) + flow.bijector.forward_log_det_jacobian(
            tf.identity(z), 1
        )
        np.testing.assert_allclose(traced, expected, rtol=1e-4, atol=1e-4)
        _move(flow.trainable_variables, by=0.05)
