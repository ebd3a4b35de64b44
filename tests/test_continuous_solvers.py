"""``ContinuousFlow``'s other solvers (fixed-step Dopri5, TFP's adaptive Dormand-Prince with
adjoint gradients) and Hutchinson's trace estimator.

Tolerances: float64, a layer whose weights are perturbed by N(0, 0.1^2), inputs of scale 2 (as
``test_continuous_flow.py``). Statistical checks of Hutchinson's estimator use bounds of 5
standard errors derived from the probes' own variance (a false failure rate below 1e-6 per
check under a normal approximation); the probe draws are seeded, so each check is
deterministic.
"""

import numpy as np
import pytest
import tensorflow as tf

import tfp_flows as tff
from tfp_flows import testing
from tfp_flows.bijectors import ContinuousFlow
from tfp_flows.flows.continuous import continuous_layers, solver_error, with_trace
from tfp_flows.nn import VelocityMLP


def _layer(n=3, steps=16, context_size=0, seed=3, hidden=(16,), **settings):
    layer = ContinuousFlow(
        n,
        num_steps=steps,
        context_size=context_size,
        hidden_units=hidden,
        seed=seed,
        dtype=tf.float64,
        **settings,
    )
    testing.perturb_weights(layer, scale=0.1, seed=11)
    return layer


def _x(n=3, batch=32, seed=7):
    return 2.0 * tf.random.stateless_normal([batch, n], seed=[n, seed], dtype=tf.float64)


def test_bad_settings_are_refused_naming_expected_and_got():
    with pytest.raises(ValueError, match="solver must be one of 'rk4', 'dopri5', 'adaptive', "):
        ContinuousFlow(2, solver="euler")
    with pytest.raises(ValueError, match="got 'euler'"):
        ContinuousFlow(2, solver="euler")
    with pytest.raises(ValueError, match="trace must be one of 'exact', 'hutchinson', got 'hutch'"):
        ContinuousFlow(2, trace="hutch")
    with pytest.raises(ValueError, match="probe must be one of 'rademacher', 'gaussian', got 'u"):
        ContinuousFlow(2, trace="hutchinson", probe="uniform")
    with pytest.raises(ValueError, match="rtol must be a positive finite number, got 0"):
        ContinuousFlow(2, solver="adaptive", rtol=0.0)
    with pytest.raises(TypeError, match="probe_seed must be a non-negative integer, got 1.5"):
        ContinuousFlow(2, trace="hutchinson", probe_seed=1.5)
    with pytest.raises(ValueError, match="trace must be one of .*got None"):
        tff.cnf(2, trace=None)
    with pytest.raises(ValueError, match="solver must be one of .*got 'RK4'"):
        tff.cnf(2, solver="RK4")


@pytest.mark.parametrize(
    "hidden, features, skip",
    [((), 0, False), ((8, 8), 0, False), ((8, 8), 2, False), ((), 0, True), ((8, 8), 2, True)],
)
def test_velocity_jvp_is_the_autodiff_jacobian_times_the_direction(hidden, features, skip):
    net = VelocityMLP(
        3,
        context_size=1,
        hidden_units=hidden,
        activation="silu",
        state_frequencies=features,
        scale_state=bool(features),
        gaussian_skip=skip,
        zero_init_output=False,
        seed=2,
        dtype=tf.float64,
    )
    x, t = _x(), tf.random.stateless_uniform([32, 1], seed=[1, 2], dtype=tf.float64)
    c = tf.random.stateless_normal([32, 1], seed=[3, 4], dtype=tf.float64)
    u = tf.random.stateless_normal([32, 3], seed=[5, 6], dtype=tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(x)
        v = net(x, t, c)
    expected = tf.einsum("bij,bj->bi", tape.batch_jacobian(v, x), u)
    v_jvp, jvp = net.velocity_and_jvp(x, t, c, u)
    np.testing.assert_allclose(v_jvp, v, atol=1e-14)
    np.testing.assert_allclose(jvp, expected, atol=1e-12)
    assert np.std(jvp) > 1e-2


@pytest.mark.parametrize("probe", ["rademacher", "gaussian"])
def test_hutchinson_estimates_of_the_divergence_average_to_the_exact_trace(probe):
    """4,000 probes at each of 4 points (n = 5) against ``tr A``, ``A = dv/dx`` from autodiff.

    The estimate ``eps^T A eps`` has variance ``2 (||S||_F^2 - sum_i A_ii^2)`` (Rademacher) or
    ``2 ||S||_F^2`` (Gaussian), ``S = (A + A^T) / 2``: the mean of K probes lies within
    5 sqrt(Var / K) of the trace, and the probes' sample variance matches that variance within 5
    of its own standard errors, ``sqrt((m4 - Var^2) / K)`` (``m4`` the sample fourth central
    moment)."""
    n, points, k = 5, 4, 4000
    layer = _layer(n=n, hidden=(16, 16), trace="hutchinson", probe=probe, probe_seed=9)
    x = tf.repeat(_x(n=n, batch=points), k, axis=0)  # point p's probes at rows p * k ...
    t = tf.fill([points * k, 1], tf.constant(0.3, tf.float64))
    probes = layer._probes(tf.shape(x))
    _, estimates = layer._velocity_and_divergence(x, t, None, probes)
    with tf.GradientTape() as tape:
        tape.watch(x)
        v = layer.velocity_network(x, t)
    jacobians = tape.batch_jacobian(v, x).numpy()[::k]  # [points, n, n]
    estimates = estimates.numpy().reshape(points, k)
    for a, e in zip(jacobians, estimates):
        s = 0.5 * (a + a.T)
        variance = 2.0 * np.sum(s * s)
        if probe == "rademacher":
            variance -= 2.0 * np.sum(np.diag(a) ** 2)
        assert variance > 0.01  # not an exact estimate at this point
        assert abs(e.mean() - np.trace(a)) < 5.0 * np.sqrt(variance / k)
        m4 = np.mean((e - e.mean()) ** 4)
        assert abs(e.var() - variance) < 5.0 * np.sqrt((m4 - e.var() ** 2) / k)


def test_hutchinson_log_det_is_unbiased_over_probes():
    """The solved log-det with 2,000 probes per point (one solve, a batch of copies): its mean
    lies within 5 sample standard errors of the exact-trace log-det, its spread is not 0, and
    the state is the exact layer's (the probes touch only the trace)."""
    k = 2000
    layer = _layer(n=4, steps=8, trace="hutchinson", probe_seed=1)
    exact = layer.with_trace("exact")
    x = _x(n=4, batch=3)
    y_exact, log_det_exact = exact.forward_and_log_det(x)
    y, log_det = layer.forward_and_log_det(tf.repeat(x, k, axis=0))
    np.testing.assert_allclose(y[::k], y_exact, atol=1e-12)
    log_det = log_det.numpy().reshape(3, k)
    spread = log_det.std(axis=1, ddof=1)
    assert np.all(spread > 1e-3)
    assert np.all(np.abs(log_det.mean(axis=1) - log_det_exact) < 5.0 * spread / np.sqrt(k))


def _hutchinson_layer_and_inputs():
    layer = _layer(trace="hutchinson", context_size=2)
    c = tf.random.stateless_normal([32, 2], seed=[5, 6], dtype=tf.float64)
    return layer, _x(), c


@pytest.mark.slow
def test_hutchinson_draws_fresh_probes_every_solve():
    layer, x, c = _hutchinson_layer_and_inputs()
    first = layer.forward_and_log_det(x, context=c)[1]
    second = layer.forward_and_log_det(x, context=c)[1]
    assert np.max(np.abs(first - second)) > 1e-3  # new probes
    assert int(layer.probe_counter.numpy()) == 2
    layer.probe_counter.assign(0)  # the first solve's probes again, in a tf.function
    traced = tf.function(lambda x, c: layer.forward_and_log_det(x, context=c))(x, c)[1]
    np.testing.assert_allclose(traced, first, atol=1e-12)
    assert int(layer.probe_counter.numpy()) == 1
    copied = layer.copy()
    assert copied.probe_counter is layer.probe_counter and copied == layer
    assert type(layer)(**layer.parameters).probe_counter is layer.probe_counter
    assert "probe_counter" not in [v.name for v in layer.trainable_variables]


@pytest.mark.slow
def test_hutchinson_runs_under_xla():
    layer, x, c = _hutchinson_layer_and_inputs()
    eager = layer.forward_and_log_det(x, context=c)
    layer.probe_counter.assign(0)
    compiled = tf.function(lambda x, c: layer.forward_and_log_det(x, context=c), jit_compile=True)
    for got, want in zip(compiled(x, c), eager):
        np.testing.assert_allclose(got, want, atol=1e-12)
    assert int(layer.probe_counter.numpy()) == 1


def test_a_copy_with_the_exact_trace_shares_the_weights():
    flow = tff.cnf(
        3, hidden_units=(8,), num_steps=4, trace="hutchinson", probe="gaussian", gaussian_skip=False
    )
    (layer,) = continuous_layers(flow)
    assert (layer.trace, layer._probe) == ("hutchinson", "gaussian")
    (exact,) = continuous_layers(with_trace(flow, "exact"))
    assert exact.trace == "exact" and exact.velocity_network is layer.velocity_network
    # a fresh flow: v = 0, so every probe's estimate is exactly 0 and solver_error is 0 too
    data = _x().numpy().astype(np.float32)
    assert float(tf.reduce_max(solver_error(flow, data))) == 0.0


@pytest.mark.slow
def test_maximum_likelihood_training_with_hutchinson_lowers_the_exact_nll():
    """``tff.fit`` (its default XLA loop) with Hutchinson's trace, scored with the exact trace:
    measured 4.96 -> 2.80 nats (the data's entropy is 2.84)."""
    rng = np.random.default_rng(1)
    data = rng.normal([1.0, -1.0], [0.5, 2.0], size=(512, 2)).astype(np.float32)
    flow = tff.cnf(
        2, hidden_units=(16, 16), num_steps=4, standardize=False, seed=0, trace="hutchinson"
    )
    exact = with_trace(flow, "exact")
    before = -float(tf.reduce_mean(exact.log_prob(data)))
    history = tff.fit(flow, data, steps=150, progress=False)
    after = -float(tf.reduce_mean(exact.log_prob(data)))
    assert np.all(np.isfinite(history.loss))
    assert after < before - 1.0
    (layer,) = continuous_layers(flow)
    assert int(layer.probe_counter.numpy()) >= 150  # a fresh probe every step


@pytest.mark.slow
def test_dopri5_error_falls_faster_than_fourth_order():
    """Round-trip error at 2, 4 and 8 Dopri5 steps: measured 1.2e-2, 6.0e-4, 2.9e-5, ratios
    20.0 and 20.9 per doubling (towards the asymptotic 32 of a fifth-order method); above the
    16 of RK4's fourth order."""
    x = _x()
    errors = []
    for steps in (2, 4, 8):
        layer = _layer(steps=steps, solver="dopri5")
        errors.append(np.max(np.abs(layer.inverse(layer.forward(x)) - x)))
    ratios = [errors[0] / errors[1], errors[1] / errors[2]]
    assert min(ratios) > 16, ratios


def _log_det_against_autodiff(layer, n, context_size=2, batch=8):
    """``max |log_det - log|det J||`` with J the autodiff Jacobian of ``layer.forward``."""
    x = _x(n=n, batch=batch)
    c = tf.random.stateless_normal([batch, context_size], seed=[5, 6], dtype=tf.float64)
    copies = tf.repeat(x, n, axis=0)
    rows = tf.tile(tf.eye(n, dtype=tf.float64), [batch, 1])
    with tf.GradientTape() as tape:
        tape.watch(copies)
        y, log_det = layer.forward_and_log_det(copies, context=tf.repeat(c, n, axis=0))
        selected = tf.reduce_sum(y * rows)
    jacobian = tf.reshape(tape.gradient(selected, copies), [batch, n, n])
    log_det = log_det[::n]
    assert np.std(log_det) > 1e-2
    return np.max(np.abs(log_det - tf.linalg.slogdet(jacobian)[1]))


@pytest.mark.slow
@pytest.mark.parametrize(
    "settings, round_trip_bound, log_det_bound",
    [
        (dict(solver="dopri5", steps=16), 1e-6, 1e-7),
        (dict(solver="adaptive", rtol=1e-10, atol=1e-10), 1e-8, 1e-8),
    ],
    ids=["dopri5", "adaptive"],
)
def test_round_trip_and_log_det_at_a_tight_setting(settings, round_trip_bound, log_det_bound):
    """float64, conditional: round trip and fldj + ildj (n = 3), and the log-det against the
    autodiff Jacobian of the solved map at the registry's sizes 2, 3 and 7 (the issue asks for
    1e-6). Measured: Dopri5 at 16 steps, round trip 8.2e-8, fldj + ildj 1.1e-7, log-det
    1.0e-9 / 3.2e-9 / 3.5e-9; adaptive at rtol = atol = 1e-10, 2.1e-10, 1.7e-10 and 8.0e-10 /
    3.2e-10 / 4.8e-10 (its Jacobian through TFP's adjoint)."""
    layer = _layer(context_size=2, **settings)
    x = _x()
    c = tf.random.stateless_normal([32, 2], seed=[5, 6], dtype=tf.float64)
    y, fldj = layer.forward_and_log_det(x, context=c)
    x_back, ildj = layer.inverse_and_log_det(y, context=c)
    assert np.max(np.abs(y - x)) > 0.1
    assert np.max(np.abs(x_back - x)) < round_trip_bound
    assert np.max(np.abs(fldj + ildj)) < round_trip_bound
    for n in (2, 3, 7):
        error = _log_det_against_autodiff(_layer(n=n, context_size=2, **settings), n)
        assert error < log_det_bound, (n, error)


@pytest.mark.slow
def test_adaptive_solver_eager_function_and_xla_agree_and_adjoint_gradients_match_backprop():
    """TFP's adjoint gradients (adaptive, tight tolerances) against backprop through our fixed
    Dopri5 at 32 steps, conditional: the context's gradient too (passed as a TFP constant)."""
    adaptive = _layer(context_size=2, solver="adaptive", rtol=1e-10, atol=1e-10)
    fixed = adaptive._replaced(solver="dopri5", num_steps=32)
    x = _x()
    c = tf.random.stateless_normal([32, 2], seed=[5, 6], dtype=tf.float64)

    def loss_and_gradients(layer, x, c):
        with tf.GradientTape() as tape:
            tape.watch([x, c])
            z, ildj = layer.inverse_and_log_det(x, context=c)
            loss = tf.reduce_mean(tf.reduce_sum(z * z, -1) - ildj)
        return loss, tape.gradient(loss, [x, c, *layer.trainable_variables])

    eager = loss_and_gradients(adaptive, x, c)
    expected = loss_and_gradients(fixed, x, c)
    np.testing.assert_allclose(eager[0], expected[0], atol=1e-8)
    for got, want in zip(eager[1], expected[1]):
        np.testing.assert_allclose(got, want, atol=1e-7)
    traced = tf.function(lambda x, c: loss_and_gradients(adaptive, x, c))(x, c)
    np.testing.assert_allclose(traced[0], eager[0], atol=1e-12)
    for got, want in zip(traced[1], eager[1]):
        np.testing.assert_allclose(got, want, atol=1e-10)
    compiled = tf.function(
        lambda x, c: adaptive.forward_and_log_det(x, context=c), jit_compile=True
    )
    for got, want in zip(compiled(x, c), adaptive.forward_and_log_det(x, context=c)):
        np.testing.assert_allclose(got, want, atol=1e-10)
