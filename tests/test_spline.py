"""The rational-quadratic spline transformer and the ``nsf`` builder."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

import tfp_flows as tff
from tfp_flows.bijectors import Coupling
from tfp_flows.bijectors.transformers import RationalQuadraticSpline

tfb = tfp.bijectors

BINS, BOUND = 5, 3.0


def _params(batch, n, dtype=tf.float64, seed=0, scale=2.0):
    """Raw parameters far from the identity: uneven bins and derivatives."""
    shape = [batch, n, 3 * BINS - 1]
    return scale * tf.random.stateless_normal(shape, seed=[seed, 1], dtype=dtype)


def _spline():
    return RationalQuadraticSpline(bins=BINS, bound=BOUND)


def _tfp_reference(spline, params):
    """TFP's own spline with the same knots and derivatives (interior ones only)."""
    x_knots, y_knots, derivatives = spline.spline(params)
    return tfb.RationalQuadraticSpline(
        bin_widths=x_knots[..., 1:] - x_knots[..., :-1],
        bin_heights=y_knots[..., 1:] - y_knots[..., :-1],
        knot_slopes=derivatives[..., 1:-1],
        range_min=-BOUND,
    )


def _grid(batch, n, low=-BOUND, high=BOUND, dtype=tf.float64):
    return tf.cast(tf.reshape(tf.linspace(low, high, batch * n), [batch, n]), dtype)


def test_values_and_log_dets_equal_tfps_spline_with_the_same_knots():
    spline = _spline()
    params = _params(400, 3)
    x = _grid(400, 3, -BOUND + 1e-6, BOUND - 1e-6)
    reference = _tfp_reference(spline, params)
    y, forward_ildj = spline.forward(x, params)
    np.testing.assert_allclose(y, reference.forward(x), atol=1e-12)
    np.testing.assert_allclose(
        forward_ildj, -reference.forward_log_det_jacobian(x, event_ndims=0), atol=1e-10
    )
    x_back, inverse_ildj = spline.inverse(x, params)
    np.testing.assert_allclose(x_back, reference.inverse(x), atol=1e-12)
    np.testing.assert_allclose(
        inverse_ildj, reference.inverse_log_det_jacobian(x, event_ndims=0), atol=1e-10
    )


def test_the_spline_is_not_the_identity_for_these_parameters():
    """So the comparisons above compare real transformations."""
    y, ildj = _spline().forward(_grid(400, 3), _params(400, 3))
    assert np.max(np.abs(y - _grid(400, 3))) > 0.1 and np.max(np.abs(ildj)) > 0.1


@pytest.mark.parametrize("dtype, atol", [(tf.float32, 1e-6), (tf.float64, 1e-14)])
def test_zero_parameters_give_the_identity(dtype, atol):
    spline = _spline()
    x = _grid(50, 2, -2 * BOUND, 2 * BOUND, dtype)
    params = tf.zeros([50, 2, spline.params_per_entry], dtype)
    for direction in (spline.forward, spline.inverse):
        value, ildj = direction(x, params)
        np.testing.assert_allclose(value, x, atol=atol)
        np.testing.assert_allclose(ildj, 0.0, atol=atol)


def _special_inputs(spline, params, dtype):
    """Every x- and y-knot of each entry (so +-B too), just inside and outside +-B, and far out."""
    x_knots, y_knots, _ = spline.spline(params)
    bound = BOUND * (1 - np.finfo(dtype.as_numpy_dtype).eps)
    far = [1e4, -1e4, 1e30, -1e30] if dtype == tf.float32 else [1e4, -1e4, 1e300, -1e300]
    extra = tf.constant([bound, -bound, 2 * BOUND - bound, -2 * BOUND + bound] + far, dtype)
    n = params.shape[-2]
    columns = tf.concat(
        [tf.transpose(x_knots[0]), tf.transpose(y_knots[0]), tf.tile(extra[:, None], [1, n])],
        axis=0,
    )
    return columns, tf.broadcast_to(params[:1], [columns.shape[0], *params.shape[1:]])


@pytest.mark.parametrize("mode", ["eager", pytest.param("xla", marks=pytest.mark.slow)])
@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
def test_finite_values_and_gradients_on_knots_at_the_bounds_and_far_outside(dtype, mode):
    spline = _spline()
    params = tf.Variable(_params(1, 2, dtype))
    x, _ = _special_inputs(spline, params, dtype)
    x = tf.Variable(x)

    def values_and_gradients():
        with tf.GradientTape(persistent=True) as tape:
            broadcast = tf.broadcast_to(params, [x.shape[0], *params.shape[1:]])
            results = spline.forward(x, broadcast) + spline.inverse(x, broadcast)
            total = tf.add_n([tf.reduce_sum(r) for r in results])
        return results, tape.gradient(total, [x, params])

    if mode == "xla":
        values_and_gradients = tf.function(values_and_gradients, jit_compile=True)
    results, gradients = values_and_gradients()
    for tensor in (*results, *gradients):
        assert np.all(np.isfinite(tensor.numpy()))
    forward_x, ildj = results[0].numpy(), results[1].numpy()
    far = np.abs(x.numpy()) > 2 * BOUND
    np.testing.assert_array_equal(forward_x[far], x.numpy()[far])  # identity tails
    np.testing.assert_array_equal(ildj[far], 0.0)


@pytest.mark.parametrize("dtype, atol", [(tf.float32, 1e-5), (tf.float64, 1e-12)])
def test_knots_map_onto_knots_and_round_trip(dtype, atol):
    spline = _spline()
    params = _params(1, 2, dtype, seed=3)
    x_knots, y_knots, _ = spline.spline(params)
    broadcast = tf.broadcast_to(params, [BINS + 1, 2, params.shape[-1]])
    y, _ = spline.forward(tf.transpose(x_knots[0]), broadcast)
    np.testing.assert_allclose(y, tf.transpose(y_knots[0]), atol=atol)
    x, _ = spline.inverse(tf.transpose(y_knots[0]), broadcast)
    np.testing.assert_allclose(x, tf.transpose(x_knots[0]), atol=atol)


def test_round_trip_below_1e_10_in_float64_everywhere():
    spline = _spline()
    params = _params(2000, 2, seed=4, scale=1.0)
    x = tf.random.stateless_uniform(
        [2000, 2], seed=[5, 5], minval=-1.5 * BOUND, maxval=1.5 * BOUND, dtype=tf.float64
    )
    special, special_params = _special_inputs(spline, params, tf.float64)
    for points, p in ((x, params), (special, special_params)):
        y, forward_ildj = spline.forward(points, p)
        x_back, inverse_ildj = spline.inverse(y, p)
        assert np.max(np.abs(x_back - points) / np.maximum(1.0, np.abs(points))) < 1e-10
        np.testing.assert_allclose(forward_ildj, inverse_ildj, atol=1e-10)


def test_round_trip_of_extreme_bins_is_exact_up_to_the_inverses_conditioning():
    """Raw parameters of scale 3 make slopes near 1e-6, where one rounding of y moves x by
    1e-10: the round-trip error times the slope stays at the rounding error of y."""
    spline = _spline()
    params = _params(2000, 2, seed=4, scale=3.0)
    x = tf.random.stateless_uniform(
        [2000, 2], seed=[5, 5], minval=-1.5 * BOUND, maxval=1.5 * BOUND, dtype=tf.float64
    )
    y, forward_ildj = spline.forward(x, params)
    x_back, _ = spline.inverse(y, params)
    assert np.max(np.abs(x_back - x) * np.exp(-forward_ildj)) < 1e-14


def test_strictly_increasing_and_log_derivative_matches_autodiff():
    spline = _spline()
    n = 20_001
    params = tf.broadcast_to(_params(1, 1, seed=6, scale=3.0), [n, 1, 3 * BINS - 1])
    x = tf.reshape(tf.linspace(tf.constant(-1.2 * BOUND, tf.float64), 1.2 * BOUND, n), [n, 1])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y, ildj = spline.forward(x, params)
    slope = tape.gradient(y, x)
    assert np.all(np.diff(y.numpy()[:, 0]) > 0)
    np.testing.assert_allclose(np.log(slope), -ildj, atol=1e-10)


def test_log_derivative_is_continuous_at_the_bounds():
    """Boundary derivatives 1: the spline joins the identity tails without a kink."""
    spline = _spline()
    params = tf.broadcast_to(_params(1, 1, seed=7), [4, 1, 3 * BINS - 1])
    x = tf.constant([[-BOUND - 1e-9], [-BOUND + 1e-9], [BOUND - 1e-9], [BOUND + 1e-9]], tf.float64)
    y, ildj = spline.forward(x, params)
    np.testing.assert_allclose(y, x, atol=1e-8)
    np.testing.assert_allclose(ildj, 0.0, atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"bins": 1}, ValueError, "bins must be an integer >= 2, got 1"),
        ({"bins": 4.0}, TypeError, "bins must be an integer >= 2, got 4.0"),
        ({"bound": 0.0}, ValueError, "bound must be a positive finite number, got 0.0"),
        ({"bound": -1.0}, ValueError, "bound must be a positive finite number, got -1.0"),
        (
            {"bins": 4, "min_bin_width": 0.25},
            ValueError,
            r"min_bin_width must be a number in \(0, 1 / bins\) = \(0, 0.25\), got 0.25",
        ),
        ({"min_bin_height": 0.0}, ValueError, "min_bin_height must be a number in"),
        (
            {"min_derivative": 1.0},
            ValueError,
            r"min_derivative must be a number in \(0, 1\), got 1.0",
        ),
    ],
)
def test_spline_arguments_are_checked(kwargs, error, message):
    with pytest.raises(error, match=message):
        RationalQuadraticSpline(**kwargs)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"bins": 1}, ValueError, "bins must be an integer >= 2, got 1"),
        ({"bound": 0.0}, ValueError, "bound must be a positive finite number, got 0.0"),
        ({"min_derivative": -0.1}, ValueError, r"min_derivative must be a number in \(0, 1\)"),
        ({"num_layers": 0}, ValueError, "num_layers must be a positive integer, got 0"),
        (
            {"bins": 10_000},
            ValueError,
            r"bins must be an integer in \[2, 999\] \(every bin is at "
            r"least 0.001 of the interval \[-bound, bound\] wide and high, so at most 999 fit\), got 10000",
        ),
        (
            {"mixing": "glow"},
            ValueError,
            "mixing must be one of None, 'lu', 'reverse', 'random', got 'glow'",
        ),
        ({"hidden_units": (0,)}, ValueError, "width 0 would ignore its input"),
        ({"dtype": tf.int32}, TypeError, "supports dtypes float32 and float64, got int32"),
    ],
)
def test_nsf_arguments_are_checked(kwargs, error, message):
    with pytest.raises(error, match=message):
        tff.nsf(2, **kwargs)


def test_nsf_takes_as_many_bins_as_the_minimum_bin_width_allows():
    flow = tff.nsf(2, num_layers=1, hidden_units=(4,), bins=999, mixing=None, name="many_bins")
    couplings = [b for b in flow.bijector.bijectors if isinstance(b, Coupling)]
    assert [b.transformer.bins for b in couplings] == [999]


def test_nsf_event_size_must_be_at_least_two():
    with pytest.raises(ValueError, match="event_size must be an integer >= 2, got 1"):
        tff.nsf(1)


def test_nsf_layers_are_named_spline_couplings_and_a_fresh_flow_is_standard_normal():
    flow = tff.nsf(3, num_layers=2, hidden_units=(8,), bins=4, name="density")
    couplings = [b for b in flow.bijector.bijectors if isinstance(b, Coupling)]
    assert sorted(b.name for b in couplings) == [
        "density_rq_spline_coupling_0",
        "density_rq_spline_coupling_1",
    ]
    assert all(isinstance(b.transformer, RationalQuadraticSpline) for b in couplings)
    assert all(b.transformer.bins == 4 for b in couplings)
    x = tf.random.stateless_normal([10, 3], seed=[0, 0])
    expected = tfp.distributions.MultivariateNormalDiag(tf.zeros(3)).log_prob(x)
    np.testing.assert_allclose(flow.log_prob(x), expected, atol=1e-5)


def test_conditional_nsf_depends_on_its_context():
    flow = tff.nsf(2, num_layers=2, hidden_units=(8,), context_size=1, seed=1)
    tff.testing.perturb_weights(flow, scale=0.5, seed=0)
    x = tf.constant([[0.3, -0.4]])
    first = flow.log_prob(x, context=tf.constant([[0.0]]))
    second = flow.log_prob(x, context=tf.constant([[2.0]]))
    assert np.all(np.isfinite([first, second])) and abs(float(first[0] - second[0])) > 1e-3


@pytest.mark.slow
def test_nsf_trains_on_the_banana_close_to_its_entropy():
    """The best Gaussian for the banana (covariance diag(33, 16)) has NLL 5.97 nats, the
    banana's entropy is log(2 pi e) + log(4) = 4.22: the standardize and linear layers alone
    cannot go below 5.97, the splines must bend to come within 0.3 nats of 4.22."""
    target = tff.datasets.Banana()
    flow = tff.nsf(2, num_layers=2, hidden_units=(16,), seed=0)
    history = tff.fit(flow, target, steps=300, seed=0, progress=False)
    x = target.sample(4000, seed=1)
    nll = -float(tf.reduce_mean(flow.log_prob(x)))
    entropy = np.log(2 * np.pi * np.e) + np.log(4.0)
    assert nll < entropy + 0.3, (nll, entropy)
    assert np.all(np.isfinite(history.loss))


@pytest.mark.parametrize("mode", ["eager", pytest.param("xla", marks=pytest.mark.slow)])
def test_a_trained_looking_nsf_flow_is_finite_with_gradients_on_its_knots_and_at_1e4(mode):
    """The flow-level promise: log q(x) and its gradients (w.r.t. x and every weight) are finite
    at |x| = 1e4 and at points whose first inverse step lands exactly on the spline's y-knots."""
    flow = tff.nsf(
        3,
        num_layers=2,
        hidden_units=(8,),
        bins=BINS,
        bound=BOUND,
        mixing=None,
        standardize=False,
        seed=1,
    )
    tff.testing.perturb_weights(flow, scale=0.5, seed=4)
    data_side = flow.bijector.bijectors[0]  # the last coupling: the first one log_prob inverts
    assert isinstance(data_side, Coupling)
    conditioning = np.flatnonzero(data_side.mask == 1)
    transformed = np.flatnonzero(data_side.mask == 0)
    x_a = tf.constant([[0.3] * len(conditioning)] * (BINS + 1))
    params = tff.bijectors.transformers.params_from_blocks(
        data_side.conditioner(x_a), data_side.transformer.params_per_entry
    )
    _, y_knots, _ = data_side.transformer.spline(params)  # [K + 1, n_b, K + 1]
    on_knots = np.zeros([BINS + 1, 3], np.float32)
    on_knots[:, conditioning] = 0.3
    on_knots[:, transformed] = np.stack([y_knots[k, :, k] for k in range(BINS + 1)])
    far = np.array([[1e4, -1e4, 1e4], [-1e4, 1e4, 5e3]], np.float32)

    def log_prob_and_gradients(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            log_prob = flow.log_prob(x)
        return log_prob, tape.gradient(log_prob, [x, *flow.trainable_variables])

    run = (
        log_prob_and_gradients
        if mode == "eager"
        else tf.function(log_prob_and_gradients, jit_compile=True)
    )
    for points in (on_knots, far):
        log_prob, gradients = run(tf.constant(points))
        assert np.all(np.isfinite(log_prob)), (points, log_prob)
        assert all(np.all(np.isfinite(g)) for g in gradients)
