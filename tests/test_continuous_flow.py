"""The continuous-time flow: ``VelocityMLP``, ``ContinuousFlow``, ``tff.cnf`` and ``FlowMatching``.

Tolerances (float64, a layer whose weights are perturbed by N(0, 0.1^2), inputs of scale 2)
follow the RK4 solver's error, which falls ~30-fold per doubling of ``num_steps`` here:
measured at 16 steps round trip 1.4e-7, log-det vs autodiff 1.1e-7; at 32 steps 4.7e-9 and
3.7e-9; the bounds below leave a factor ~5-10 of margin.
"""

import warnings

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_probability import distributions as tfd

import tfp_flows as tff
from tfp_flows import testing
from tfp_flows.bijectors import ContinuousFlow, FlowChain
from tfp_flows.flows.continuous import continuous_layers
from tfp_flows.nn import VelocityMLP


def _layer(n=3, steps=16, context_size=0, dtype=tf.float64, seed=3, hidden=(16,)):
    layer = ContinuousFlow(
        n,
        num_steps=steps,
        context_size=context_size,
        hidden_units=hidden,
        seed=seed,
        dtype=dtype,
    )
    testing.perturb_weights(layer, scale=0.1, seed=11)
    return layer


def _x(n=3, batch=32, dtype=tf.float64, seed=7):
    return 2.0 * tf.random.stateless_normal([batch, n], seed=[n, seed], dtype=dtype)


def _check_divergence(net, context_size):
    """``velocity_and_divergence`` against ``net``'s call and its autodiff Jacobian's trace."""
    x, t = _x(), tf.random.stateless_uniform([32, 1], seed=[1, 2], dtype=tf.float64)
    c = tf.random.stateless_normal([32, context_size], seed=[3, 4], dtype=tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(x)
        v = net(x, t, c)
    expected = tf.linalg.trace(tape.batch_jacobian(v, x))
    v_exact, divergence = net.velocity_and_divergence(x, t, c)
    np.testing.assert_allclose(v_exact, v, atol=1e-14)
    np.testing.assert_allclose(divergence, expected, atol=1e-12)
    assert np.std(divergence) > 1e-2  # not a constant: the check sees the nonlinearity


@pytest.mark.parametrize("activation", ["tanh", "silu", "softplus", "gelu"])
def test_velocity_divergence_is_the_trace_of_the_autodiff_jacobian(activation):
    net = VelocityMLP(
        3,
        context_size=2,
        hidden_units=(8, 8),
        activation=activation,
        zero_init_output=False,
        seed=0,
        dtype=tf.float64,
    )
    _check_divergence(net, context_size=2)


@pytest.mark.parametrize("hidden", [(), (8, 8)])
def test_divergence_with_state_features_and_scaling_is_the_autodiff_trace(hidden):
    """With no hidden layer the divergence still varies: the features are nonlinear in x."""
    net = VelocityMLP(
        3,
        context_size=1,
        hidden_units=hidden,
        activation="silu",
        state_frequencies=3,
        scale_state=True,
        zero_init_output=False,
        seed=2,
        dtype=tf.float64,
    )
    _check_divergence(net, context_size=1)


@pytest.mark.parametrize("hidden", [(), (8, 8)])
def test_divergence_with_the_gaussian_skip_is_the_autodiff_trace(hidden):
    net = VelocityMLP(
        3,
        context_size=1,
        hidden_units=hidden,
        activation="silu",
        gaussian_skip=True,
        zero_init_output=False,
        seed=2,
        dtype=tf.float64,
    )
    _check_divergence(net, context_size=1)


def test_the_gaussian_skip_is_the_flow_matching_velocity_of_gaussian_data():
    """a(t) z_t regresses z1 - z0 on z_t for z0, z1 ~ N(0, I): the fresh net's residual is
    uncorrelated with z_t at every t (sample correlations on 20,000 draws, 0.007 standard error)."""
    net = VelocityMLP(2, hidden_units=(8,), gaussian_skip=True, seed=0, dtype=tf.float64)
    z0, z1 = tf.unstack(tf.random.stateless_normal([2, 20_000, 2], seed=[5, 6], dtype=tf.float64))
    for t in (0.1, 0.5, 0.9):
        z_t = (1.0 - t) * z0 + t * z1
        residual = (z1 - z0) - net(z_t, tf.fill([20_000, 1], tf.constant(t, tf.float64)))
        for j in range(2):
            assert abs(np.corrcoef(residual[:, j], z_t[:, j])[0, 1]) < 0.03
    # and it is not a zero field: at t = 0.9 it carries z_t outwards
    v = net(tf.ones([1, 2], tf.float64), tf.fill([1, 1], tf.constant(0.9, tf.float64)))
    np.testing.assert_allclose(v, [[0.8 / 0.82] * 2], rtol=1e-12)


def test_a_fresh_layer_with_the_gaussian_skip_is_the_identity_up_to_the_solver():
    """x(t) = x(0) sqrt((1 - t)^2 + t^2): back to x(0) at t = 1, log-det 0. Measured max error of
    y at 8 / 16 / 32 RK4 steps: 1.4e-5, 4.4e-7, 1.4e-8 (fourth order or better); the log-det's
    0 is exact up to rounding (a(1 - t) = -a(t), a symmetric quadrature)."""
    velocity = VelocityMLP(2, hidden_units=(8,), gaussian_skip=True, seed=0, dtype=tf.float64)
    x = _x(2)
    errors = []
    for steps in (8, 16, 32):
        layer = ContinuousFlow(2, velocity, num_steps=steps, dtype=tf.float64)
        y, log_det = layer.forward_and_log_det(x)
        errors.append(float(np.max(np.abs(y - x))))
        np.testing.assert_allclose(log_det, np.zeros(32), atol=1e-14)
    assert errors[0] < 1e-4 and errors[1] < 3e-6 and errors[2] < 1e-7
    assert errors[0] > 16 * errors[1] > 256 * errors[2]  # the solver's error, not a bias


def test_a_fresh_layer_is_the_identity():
    layer = ContinuousFlow(2, hidden_units=(8,), seed=0)
    x = _x(2, dtype=tf.float32)
    y, log_det = layer.forward_and_log_det(x)
    np.testing.assert_array_equal(y, x)
    np.testing.assert_array_equal(log_det, np.zeros(32))


def test_round_trip_within_the_solver_tolerance():
    layer = _layer(steps=16)
    x = _x()
    y, fldj = layer.forward_and_log_det(x)
    x_back, ildj = layer.inverse_and_log_det(y)
    assert np.max(np.abs(y - x)) > 0.1  # the map is far from the identity
    assert np.max(np.abs(x_back - x)) < 1e-6
    assert np.max(np.abs(fldj + ildj)) < 1e-6
    # and forward(inverse(y)) ~ y
    np.testing.assert_allclose(layer.forward(layer.inverse(y)), y, atol=1e-6)


def test_solver_error_falls_with_more_steps():
    x = _x()
    errors = []
    for steps in (4, 8):
        layer = _layer(steps=steps)
        errors.append(np.max(np.abs(layer.inverse(layer.forward(x)) - x)))
    assert errors[1] < errors[0] / 10  # fourth order: ~16x per doubling


@pytest.mark.slow
def test_log_det_matches_the_autodiff_jacobian_of_the_solved_map():
    """Exact-trace log-det against ``log|det|`` of the autodiff Jacobian of the solved map, at
    the property registry's event sizes 2, 3 and 7, conditional, float64, 16 RK4 steps: within
    1e-6 (measured max 2.5e-8, 7.9e-8, 7.8e-8). (The registry's ``continuous_flow`` entry checks the
    unconditional layer at these sizes, 32 steps, to 1e-8, in its slow tier.)"""
    context_size = 2
    for n in (2, 3, 7):
        layer = _layer(n=n, steps=16, context_size=context_size)
        x = _x(n=n, batch=8)
        kwargs = {}
        if context_size:
            kwargs["context"] = tf.random.stateless_normal([8, 2], seed=[5, 6], dtype=tf.float64)

        # the Jacobian in one backward pass: row i of every point's Jacobian from copy i of
        # the batch (the points are solved independently)
        copies = tf.repeat(x, n, axis=0)  # point b's copy i at row b * n + i
        rows = tf.tile(tf.eye(n, dtype=tf.float64), [8, 1])
        repeated = {k: tf.repeat(v, n, axis=0) for k, v in kwargs.items()}
        with tf.GradientTape() as tape:
            tape.watch(copies)
            y, log_det = layer.forward_and_log_det(copies, **repeated)
            selected = tf.reduce_sum(y * rows)
        jacobian = tf.reshape(tape.gradient(selected, copies), [8, n, n])
        autodiff = tf.linalg.slogdet(jacobian)[1]
        log_det = log_det[::n]  # (every copy of a point has its log-det)
        assert np.std(log_det) > 1e-2, n
        assert np.max(np.abs(log_det - autodiff)) < 1e-6, n


@pytest.mark.slow
def test_any_velocity_network_gets_its_trace_from_autodiff():
    """A network without ``velocity_and_divergence``: the layer differentiates it itself."""
    net = VelocityMLP(3, hidden_units=(16,), zero_init_output=False, seed=4, dtype=tf.float64)

    class Plain(tf.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        def __call__(self, x, t, context=None):
            return self.net(x, t, context)

    with_trace = ContinuousFlow(3, net, num_steps=8, dtype=tf.float64)
    plain = ContinuousFlow(3, Plain(), num_steps=8, dtype=tf.float64)
    x = _x()
    y1, ld1 = with_trace.forward_and_log_det(x)
    y2, ld2 = tf.function(plain.forward_and_log_det)(x)
    np.testing.assert_allclose(y2, y1, atol=1e-12)
    np.testing.assert_allclose(ld2, ld1, atol=1e-12)
    assert len(plain.trainable_variables) == len(net.trainable_variables) == 4


@pytest.mark.slow
def test_2d_density_integrates_to_one():
    layer = _layer(n=2, steps=8, seed=5, hidden=(16, 16))
    testing.perturb_weights(layer, scale=0.3, seed=12)  # a visibly bent density
    flow = tff.Flow(tfd.MultivariateNormalDiag(tf.zeros([2], tf.float64)), FlowChain([layer]))
    x = _x(2)
    assert np.max(np.abs(layer.forward(x) - x)) > 0.3
    integral = testing.assert_normalized(flow, (-9.0, -9.0), (9.0, 9.0), grid_size=300)
    assert abs(integral - 1.0) < 1e-2


@pytest.mark.slow
def test_eager_function_and_xla_agree():
    layer = _layer(context_size=2)
    x = _x()
    c = tf.random.stateless_normal([32, 2], seed=[5, 6], dtype=tf.float64)

    def both(x, c):
        y, fldj = layer.forward_and_log_det(x, context=c)
        x_back, ildj = layer.inverse_and_log_det(y, context=c)
        return y, fldj, x_back, ildj

    eager = both(x, c)
    for compiled in (tf.function(both), tf.function(both, jit_compile=True)):
        for a, b in zip(eager, compiled(x, c)):
            np.testing.assert_allclose(b, a, atol=1e-12)


def test_context_changes_the_map_and_is_required():
    layer = _layer(context_size=2)
    x = _x()
    c = tf.ones([32, 2], tf.float64)
    assert np.max(np.abs(layer.forward(x, context=c) - layer.forward(x, context=-c))) > 1e-2
    with pytest.raises(ValueError, match="context"):
        layer.forward(x)
    with pytest.raises(ValueError, match="context"):
        _layer().forward(x, context=c)
    # a context [k] serves every point (broadcast against the batch)
    np.testing.assert_allclose(
        layer.forward(x, context=tf.ones([2], tf.float64)), layer.forward(x, context=c), atol=1e-12
    )


def test_velocity_network_of_another_context_size_is_refused():
    with pytest.raises(ValueError, match="context of size 2.*context_size=1"):
        ContinuousFlow(3, VelocityMLP(3, context_size=2), context_size=1)


def test_copy_shares_weights_and_equality_follows_the_contract():
    layer = _layer()
    copied = layer.copy()
    rebuilt = type(layer)(**layer.parameters)
    assert copied == layer and rebuilt == layer and _layer() != layer
    assert {id(v) for v in copied.trainable_variables} == {id(v) for v in layer.trainable_variables}
    x = _x()
    layer.velocity_network.biases[-1].assign_add(tf.ones([3], tf.float64))
    np.testing.assert_array_equal(copied.forward(x), layer.forward(x))
    np.testing.assert_array_equal(rebuilt.forward(x), layer.forward(x))


def test_builder_returns_a_flow_that_starts_at_the_standard_normal():
    flow = tff.cnf(3, hidden_units=(8,), num_steps=4, gaussian_skip=False)
    assert isinstance(flow, tff.Flow)
    x = _x(dtype=tf.float32)
    np.testing.assert_allclose(
        flow.log_prob(x), tfd.MultivariateNormalDiag(tf.zeros(3)).log_prob(x), atol=1e-5
    )
    assert flow.sample(5, seed=0).shape == (5, 3)
    conditional = tff.cnf(2, context_size=1, hidden_units=(8,), num_steps=4)
    assert conditional.sample(4, seed=0, context=tf.ones([1])).shape == (4, 2)
    featured = tff.cnf(
        3,
        hidden_units=(8,),
        num_steps=4,
        state_frequencies=2,
        scale_state=True,
        gaussian_skip=False,
    )
    np.testing.assert_allclose(
        featured.log_prob(x), tfd.MultivariateNormalDiag(tf.zeros(3)).log_prob(x), atol=1e-5
    )
    (layer,) = continuous_layers(featured)
    assert layer.velocity_network.kernels[0].shape == (3 * (1 + 2 * 2) + 2 * 8, 8)
    # the default adds the Gaussian skip a(t) z: N(0, I) up to the solver's error (measured
    # at most 2.9e-3 nats at 4 RK4 steps, 9.2e-5 at 8, 2.9e-6 at 32, float32's rounding)
    skip = tff.cnf(3, hidden_units=(8,))
    (layer,) = continuous_layers(skip)
    assert layer.velocity_network.gaussian_skip and layer.num_steps == 32
    np.testing.assert_allclose(
        skip.log_prob(x), tfd.MultivariateNormalDiag(tf.zeros(3)).log_prob(x), atol=2e-5
    )


def test_flow_matching_refuses_a_flow_without_a_continuous_layer():
    data = np.zeros([8, 2], np.float32)
    with pytest.raises(TypeError, match="exactly one ContinuousFlow"):
        tff.training.FlowMatching()(
            tff.real_nvp(2, num_layers=2, hidden_units=(8,)), tff.training.Batch(data)
        )


def test_flow_matching_loss_is_zero_for_the_exact_velocity():
    """Base N(0, 1) and data z1 = z0 + 3: the straight path's velocity is the constant 3."""
    flow = tff.cnf(
        2, hidden_units=(8,), num_steps=4, standardize=False, gaussian_skip=False, dtype=tf.float64
    )
    layer = flow.bijector.bijectors[0]
    layer.velocity_network.biases[-1].assign([3.0, 3.0])
    loss = tff.training.FlowMatching(seed=0)
    # a batch whose seed fixes z0: the data are those same base draws plus 3
    seed = tf.constant([4, 5])
    import tensorflow_probability as tfp

    base_seed, _ = tfp.random.split_seed(seed, 2, salt="flow_matching")
    z0 = flow.distribution.sample(64, seed=base_seed)
    value = loss(flow, tff.training.Batch(z0 + 3.0, seed=seed))
    assert float(value) < 1e-20
    assert float(loss(flow, tff.training.Batch(z0 + 4.0, seed=seed))) == pytest.approx(2.0)


@pytest.mark.slow
def test_flow_matching_moves_a_gaussian_to_a_shifted_scaled_one():
    """Target N((3, -2), diag(0.5, 2)^2); 400 steps. Measured sample means within 0.05."""
    rng = np.random.default_rng(0)
    data = rng.normal([3.0, -2.0], [0.5, 2.0], size=(2048, 2)).astype(np.float32)
    flow = tff.cnf(2, hidden_units=(32, 32), num_steps=8, standardize=False, seed=0)
    tff.fit(flow, data, loss=tff.training.FlowMatching(seed=1), steps=400, progress=False)
    samples = flow.sample(4000, seed=1).numpy()
    # standard error of a mean of 4000 draws: <= 2 / sqrt(4000) = 0.03
    np.testing.assert_allclose(samples.mean(0), [3.0, -2.0], atol=0.15)
    assert 1.5 < samples.std(0)[1] / samples.std(0)[0]  # the scales moved apart


@pytest.mark.slow
def test_maximum_likelihood_training_lowers_the_nll():
    rng = np.random.default_rng(1)
    data = rng.normal([1.0, -1.0], [0.5, 2.0], size=(1024, 2)).astype(np.float32)
    flow = tff.cnf(2, hidden_units=(16, 16), num_steps=4, standardize=False, seed=0)
    before = -float(tf.reduce_mean(flow.log_prob(data)))
    history = tff.fit(flow, data, steps=150, progress=False)
    after = -float(tf.reduce_mean(flow.log_prob(data)))
    assert np.all(np.isfinite(history.loss))
    assert after < before - 0.3  # measured before 3.39, the entropy 2.84


@pytest.mark.slow
def test_flow_matching_on_a_target_source_matches_its_moments():
    """A target draws each batch with the step's seed; the loss's own draws must not repeat
    those streams (an unsalted split correlated t with the moon a point was drawn from, and the
    samples' spread came out 0.55x the target's)."""
    target = tff.datasets.Moons(noise=0.05)
    flow = tff.cnf(2, num_steps=8, seed=0)
    tff.fit(flow, target, steps=1000, loss=tff.training.FlowMatching(), seed=0, progress=False)
    samples = flow.sample(5000, seed=1).numpy()
    reference = target.sample(20_000, seed=tff.stateless_seed(3)).numpy()
    np.testing.assert_allclose(samples.std(0), reference.std(0), rtol=0.1)
    np.testing.assert_allclose(samples.mean(0), reference.mean(0), atol=0.05)


def _trainable_shift(dtype=tf.float32):
    from tensorflow_probability import bijectors as tfb

    return tfb.Shift(tf.Variable(tf.zeros([2], dtype)), name="trainable_shift")


@pytest.mark.parametrize("side", ["data", "base"])
def test_flow_matching_refuses_a_trainable_layer_around_the_continuous_layer(side):
    layer = ContinuousFlow(2, hidden_units=(8,), num_steps=2, seed=0)
    layers = [_trainable_shift(), layer] if side == "data" else [layer, _trainable_shift()]
    flow = tff.Flow(tfd.MultivariateNormalDiag(tf.zeros([2])), FlowChain(layers))
    data = np.random.default_rng(0).normal(size=(64, 2)).astype(np.float32)
    before = [v.numpy() for v in flow.trainable_variables]
    with pytest.raises(ValueError, match=f"'trainable_shift' on the {side} side.*z1 - z0"):
        tff.fit(flow, data, loss=tff.training.FlowMatching(), steps=2, progress=False)
    for v, b in zip(flow.trainable_variables, before):
        np.testing.assert_array_equal(v, b)  # refused before any step


def test_optimal_transport_pairs_are_close_and_keep_the_base_draws():
    """1-D: the optimal plan between two samples pairs them in sorted order."""
    from tfp_flows.training.flow_matching import optimal_transport_plan

    z1 = tf.random.stateless_normal([64, 1], seed=[1, 2], dtype=tf.float64) * 2.0 + 3.0
    z0 = tf.random.stateless_normal([64, 1], seed=[3, 4], dtype=tf.float64)
    plan = np.exp(optimal_transport_plan(z1, z0, regularization=1e-2, iterations=300).numpy())
    np.testing.assert_allclose(plan.sum(0), np.full(64, 1 / 64), rtol=1e-9)  # z0 marginal
    np.testing.assert_allclose(plan.sum(1), np.full(64, 1 / 64), rtol=1e-3)
    partner = np.argmax(plan, axis=1)  # the z0 each z1 goes to: monotone
    order = np.argsort(z1.numpy()[:, 0])
    assert np.all(np.diff(z0.numpy()[partner[order], 0]) >= 0)
    # and the loss draws its pairs from the plan: much closer than independent pairs
    # (centred data N(0, 2^2): E (z1 - z0)^2 = 5 for independent pairs, (2 - 1)^2 = 1 for the
    # optimal coupling)
    flow = tff.cnf(
        1, hidden_units=(8,), num_steps=2, standardize=False, gaussian_skip=False, dtype=tf.float64
    )
    batch = tff.training.Batch(z1 - 3.0, seed=tf.constant([5, 6]))
    independent = float(tff.training.FlowMatching()(flow, batch))  # v = 0: E (z1 - z0)^2
    paired = float(tff.training.FlowMatching(pairing="ot")(flow, batch))
    assert independent > 3.0 and paired < 0.4 * independent


def test_optimal_transport_pairing_refuses_a_context():
    flow = tff.cnf(2, context_size=1, hidden_units=(8,), num_steps=2)
    batch = tff.training.Batch(np.zeros([8, 2], np.float32), context=np.ones([8, 1], np.float32))
    with pytest.raises(ValueError, match="pairing='independent' with a context"):
        tff.training.FlowMatching(pairing="ot")(flow, batch)
    with pytest.raises(ValueError, match="pairing must be 'independent' or 'ot', got 'exact'"):
        tff.training.FlowMatching(pairing="exact")


def test_flow_matching_time_sampling():
    """Stratified: one time per interval [i/n, (i+1)/n); logit-normal: sigmoid(m + s e)."""
    seed = tf.constant([7, 8])
    stratified = tff.training.FlowMatching(time_sampling="stratified")
    t = stratified._times(tf.constant(500), seed, tf.float64).numpy()[:, 0]
    np.testing.assert_array_equal(np.floor(np.sort(t) * 500), np.arange(500))
    logit = tff.training.FlowMatching(time_sampling="logit_normal", logit_normal=(1.0, 0.5))
    t = logit._times(tf.constant(4000), seed, tf.float64).numpy()[:, 0]
    e = np.log(t / (1 - t))  # N(1, 0.5^2): standard errors 0.008 (mean), 0.006 (sd)
    assert abs(e.mean() - 1.0) < 0.04 and abs(e.std() - 0.5) < 0.03
    uniform = tff.training.FlowMatching()._times(tf.constant(4000), seed, tf.float64).numpy()
    assert abs(uniform.mean() - 0.5) < 0.02 and uniform.min() >= 0.0 and uniform.max() < 1.0


def test_flow_matching_sigma_min_shrinks_the_base_side_of_the_target():
    """v = 0 (fresh flow) and data at 0: the loss is (1 - sigma_min)^2 E ||z0||^2, same draws."""
    flow = tff.cnf(
        2, hidden_units=(8,), num_steps=2, standardize=False, gaussian_skip=False, dtype=tf.float64
    )
    batch = tff.training.Batch(np.zeros([256, 2]), seed=tf.constant([1, 2]))
    plain = float(tff.training.FlowMatching()(flow, batch))
    shrunk = float(tff.training.FlowMatching(sigma_min=0.5)(flow, batch))
    assert 1.5 < plain < 2.5  # E ||z0||^2 = 2
    assert shrunk == pytest.approx(0.25 * plain, rel=1e-12)


def test_flow_matching_refuses_bad_time_settings():
    with pytest.raises(ValueError, match="time_sampling must be one of .*got 'sobol'"):
        tff.training.FlowMatching(time_sampling="sobol")
    with pytest.raises(ValueError, match=r"sigma_min must be a number in \[0, 1\), got 1.0"):
        tff.training.FlowMatching(sigma_min=1.0)
    with pytest.raises(ValueError, match="logit_normal must be a pair"):
        tff.training.FlowMatching(time_sampling="logit_normal", logit_normal=0.5)
    with pytest.raises(ValueError, match="logit_normal.1. must be a positive"):
        tff.training.FlowMatching(time_sampling="logit_normal", logit_normal=(0.0, 0.0))


@pytest.mark.slow
def test_fit_warns_when_the_density_is_the_solvers_error():
    """A stiff field at 2 RK4 steps: log q differs from the fine solve's; fit says so."""
    from tfp_flows.flows.continuous import solver_error, with_num_steps
    from tfp_flows.training.solver_check import SolverErrorWarning, check_solver_error

    data = np.random.default_rng(2).normal(size=(128, 2)).astype(np.float32)
    flow = tff.cnf(2, hidden_units=(16,), num_steps=2, standardize=False, seed=1)
    testing.perturb_weights(flow.bijector, scale=0.3, seed=3)
    assert float(tf.reduce_mean(solver_error(flow, data))) > 0.05  # 2 vs 8 steps
    with pytest.warns(SolverErrorWarning, match="num_steps=2 RK4 steps and with 4 differ by"):
        tff.fit(flow, data, steps=1, learning_rate=1e-9, progress=False, jit_compile=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SolverErrorWarning)  # the same field, solved finely
        assert check_solver_error(with_num_steps(flow, 32), tff.training.Batch(data)) < 1e-3


def test_stratified_times_do_not_follow_the_row_order():
    # row i got a time in [i/n, (i+1)/n): for a batch in data order (an unshuffled dataset of
    # sorted rows) the first rows always had the small times, so t depended on the data
    seed = tf.constant([7, 8])
    stratified = tff.training.FlowMatching(time_sampling="stratified")
    t = stratified._times(tf.constant(500), seed, tf.float64).numpy()[:, 0]
    np.testing.assert_array_equal(np.floor(np.sort(t) * 500), np.arange(500))  # still strata
    assert abs(np.corrcoef(np.arange(500), t)[0, 1]) < 0.15  # independent: sd 0.045
    again = stratified._times(tf.constant(500), seed, tf.float64).numpy()[:, 0]
    np.testing.assert_array_equal(t, again)  # the same seed, the same times
