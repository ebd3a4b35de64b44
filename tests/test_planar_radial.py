"""Planar and radial flows: the invertibility constraints, the inverses, edge cases, fitting."""

import numpy as np
import pytest
import tensorflow as tf

import tfp_flows as tff
from tfp_flows import testing
from tfp_flows.bijectors import Planar, Radial
from tfp_flows.bijectors.planar import planar_constraint


def _points(n, batch, dtype, scale, seed):
    return scale * tf.random.stateless_normal([batch, n], seed=[seed, 0], dtype=dtype)


def _set(variable, value):
    variable.assign(tf.constant(value, variable.dtype))


# -- the planar constraint ---------------------------------------------------------------------


@pytest.mark.parametrize("w_dot_u", [-100.0, -3.0, 0.0, 2.0, 100.0])
def test_planar_constraint_keeps_the_layer_invertible_for_adversarial_raw_parameters(w_dot_u):
    layer = Planar(3, dtype=tf.float64)
    w = np.array([0.8, -0.4, 1.3])
    _set(layer.w, w)
    _set(
        layer.u, w_dot_u * w / (w @ w) + np.array([0.5, 1.0, 0.0]) - 0.2 * w
    )  # plus an orthogonal part
    _set(layer.b, 0.4)
    assert np.isclose(float(tf.reduce_sum(layer.w * layer.u)), w_dot_u - 0.2 * (w @ w))
    u_hat, _, b, c = layer.constrained_parameters()
    assert float(c) >= -1.0
    assert float(tf.reduce_sum(u_hat * layer.w)) >= -1.0 - 1e-12
    # the map along w, alpha -> alpha + c tanh(alpha + b), is non-decreasing
    alpha = np.linspace(-20.0, 20.0, 4001)
    along_w = alpha + float(c) * np.tanh(alpha + float(b))
    assert np.all(np.diff(along_w) >= 0)
    # the Jacobian determinant never changes sign; external points round-trip
    x = _points(3, 64, tf.float64, 3.0, seed=1)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer.forward(x)
    determinants = np.linalg.det(tape.batch_jacobian(y, x).numpy())
    assert np.all(determinants >= 0)
    np.testing.assert_allclose(layer.inverse(tf.identity(y)), x, atol=1e-6)
    assert np.all(np.isfinite(layer.inverse_log_det_jacobian(tf.identity(y), 1)))


def test_the_constraint_is_finite_and_bounded_as_w_goes_to_zero():
    u = tf.constant([[0.3, -2.0]] * 4, tf.float64)
    w = tf.constant([[1e-3, 0.0], [1e-150, 1e-150], [0.0, 1e-300], [0.0, 0.0]], tf.float64)
    u_hat, c = planar_constraint(u, w)
    assert np.all(np.isfinite(u_hat)) and np.all(np.isfinite(c))
    # ||u_hat - u|| -> ||u|| |e^T u| / e: no blow-up like the paper's m(a) = -1 + softplus(a)
    assert np.all(np.linalg.norm(u_hat - u, axis=-1) <= np.linalg.norm(u, axis=-1) / np.e * 1.001)
    np.testing.assert_allclose(u_hat[1], u[1] - np.mean(u[1]) * np.ones(2) / np.e, rtol=1e-12)
    np.testing.assert_allclose(u_hat[2], [0.3, -2.0 + 2.0 / np.e], rtol=1e-12)
    np.testing.assert_array_equal(u_hat[-1], u[-1])  # w = 0: nothing to constrain


def test_a_planar_layer_with_w_zero_is_a_translation_with_finite_gradients():
    layer = Planar(2, dtype=tf.float64)
    _set(layer.w, [0.0, 0.0])
    _set(layer.u, [0.5, -1.5])
    _set(layer.b, 0.7)
    x = _points(2, 8, tf.float64, 2.0, seed=2)
    shift = np.array([0.5, -1.5]) * np.tanh(0.7)
    np.testing.assert_allclose(layer.forward(x), x.numpy() + shift, atol=1e-14)
    np.testing.assert_allclose(layer.inverse(tf.identity(x)), x.numpy() - shift, atol=1e-14)
    np.testing.assert_array_equal(layer.forward_log_det_jacobian(x, 1), np.zeros(8))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer.inverse(tf.identity(x)) ** 2) + tf.reduce_sum(
            layer.inverse_log_det_jacobian(tf.identity(x), 1)
        )
    gradients = tape.gradient(loss, layer.trainable_variables)
    assert all(g is not None and np.all(np.isfinite(g)) for g in gradients)


def test_fresh_layers_are_the_identity_but_their_gradients_do_not_vanish():
    x = _points(3, 16, tf.float32, 1.0, seed=3)
    for layer in (Planar(3, seed=0), Radial(3, seed=0)):
        np.testing.assert_array_equal(layer.forward(x), x)
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer.forward(x) ** 3)
        gradients = tape.gradient(loss, layer.trainable_variables)
        assert max(float(tf.reduce_max(tf.abs(g))) for g in gradients) > 1e-2, layer.name


# -- the planar inverse: external points at the documented tolerance ---------------------------


@pytest.mark.parametrize("dtype, rtol", [(tf.float64, 1e-10), (tf.float32, 1e-5)])
@pytest.mark.parametrize("make", [Planar, Radial], ids=["planar", "radial"])
def test_inverse_of_points_the_flow_never_sampled_at_the_documented_tolerance(make, dtype, rtol):
    layer = make(4, seed=1, dtype=dtype)
    testing.perturb_weights(layer, scale=1.0, seed=5)
    if make is Planar:  # w^T u = 2: c = m(2) = 1.7, well away from the singular -1
        w, v = layer.w.numpy(), np.array([3.0, -2.0, 0.5, 1.0])
        _set(layer.u, (2.0 - v @ w) * w / (w @ w) + v)
    y = tf.concat(
        [
            _points(4, 200, dtype, 5.0, seed=4),
            tf.random.stateless_uniform([200, 4], [4, 1], -50.0, 50.0, dtype=dtype),
        ],
        0,
    )
    x = layer.inverse(y)
    scale = np.maximum(1.0, np.max(np.abs(y.numpy()), axis=-1, keepdims=True))
    assert np.all(np.abs(layer.forward(tf.identity(x)) - y) <= rtol * scale)
    np.testing.assert_allclose(  # and the log-dets of both directions agree
        layer.forward_log_det_jacobian(tf.identity(x), 1),
        -layer.inverse_log_det_jacobian(tf.identity(y), 1),
        atol=50 * rtol,
    )


def test_the_planar_inverse_gradient_is_the_implicit_function_gradient():
    """Gradients flow through one Newton step at the root, not the iterations: check them
    against central finite differences of the inverse."""
    layer = Planar(3, seed=2, dtype=tf.float64)
    testing.perturb_weights(layer, scale=1.0, seed=6)
    y = _points(3, 5, tf.float64, 2.0, seed=7)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.sin(layer.inverse(y)))
    gradient = tape.gradient(loss, layer.b)
    eps = 1e-6
    values = []
    for delta in (eps, -2 * eps):
        layer.b.assign_add(delta)
        values.append(float(tf.reduce_sum(tf.sin(layer.inverse(tf.identity(y))))))
    layer.b.assign_add(eps)
    np.testing.assert_allclose(float(gradient), (values[0] - values[1]) / (2 * eps), rtol=1e-6)


# -- radial: the centre and the limits ---------------------------------------------------------


def test_radial_at_its_centre_is_finite_with_the_scaling_jacobian():
    layer = Radial(3, seed=0, dtype=tf.float64)
    _set(layer.raw_beta, 1.5)
    alpha = float(tf.math.softplus(layer.raw_alpha))
    beta = float(tf.math.softplus(layer.raw_beta)) - alpha
    center = tf.identity(layer.center)[None]
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(center)
        y = layer.forward(center)
        fldj = layer.forward_log_det_jacobian(center, 1)
        x = layer.inverse(tf.identity(center))
    np.testing.assert_allclose(y, center)
    np.testing.assert_allclose(x, center)
    np.testing.assert_allclose(fldj, [3 * np.log1p(beta / alpha)], rtol=1e-12)
    np.testing.assert_allclose(
        tape.batch_jacobian(y, center)[0], (1 + beta / alpha) * np.eye(3), rtol=1e-12
    )
    for gradient in tape.gradient([y, fldj, x], layer.trainable_variables):
        assert np.all(np.isfinite(gradient))


def test_radial_with_beta_at_its_bound_still_round_trips():
    layer = Radial(2, seed=0, dtype=tf.float64)
    _set(layer.raw_beta, -30.0)  # beta = -alpha + 1e-13: nearly collapses the centre
    x = _points(2, 32, tf.float64, 3.0, seed=8)
    y = layer.forward(x)
    np.testing.assert_allclose(layer.inverse(tf.identity(y)), x, rtol=1e-8, atol=1e-8)
    assert np.all(np.isfinite(layer.forward_log_det_jacobian(x, 1)))


@pytest.mark.parametrize("builder", [tff.planar, tff.radial])
def test_flows_are_finite_at_inputs_of_size_1e4(builder):
    flow = builder(3, num_layers=4, seed=1)
    testing.perturb_weights(flow, scale=1.0, seed=9)
    x = tf.constant([[1e4, -1e4, 3e3], [-1e4, 0.0, 1e4], [0.0, 0.0, -1e4]])
    assert np.all(np.isfinite(flow.log_prob(x)))
    assert np.all(np.isfinite(flow.bijector.inverse(tf.identity(x))))
    assert np.all(np.isfinite(flow.bijector.forward(tf.identity(x))))


@pytest.mark.parametrize("builder", [tff.planar, tff.radial])
def test_a_2d_flow_density_integrates_to_one(builder):
    flow = builder(2, num_layers=4, seed=2, dtype=tf.float64)
    testing.perturb_weights(flow, scale=0.5, seed=10)
    integral = testing.assert_normalized(flow, (-14.0, -14.0), (14.0, 14.0), grid_size=400)
    assert abs(integral - 1.0) < 1e-2


# -- context: amortised parameters --------------------------------------------------------------


@pytest.mark.parametrize("make", [Planar, Radial], ids=["planar", "radial"])
def test_a_context_gives_each_batch_element_its_own_map_and_broadcasts(make):
    layer = make(3, context_size=2, seed=3, hidden_units=(8,))
    testing.perturb_weights(layer, scale=0.3, seed=12)
    x = _points(3, 4, tf.float32, 1.0, seed=11)
    contexts = tf.constant([[0.0, 1.0], [2.0, -1.0], [0.0, 1.0], [-3.0, 0.5]])
    y = layer.forward(x, context=contexts)
    one_by_one = tf.concat(
        [layer.forward(x[i : i + 1], context=contexts[i : i + 1]) for i in range(4)], 0
    )
    np.testing.assert_allclose(y, one_by_one, atol=1e-6)
    assert not np.allclose(y[0] - x[0], layer.forward(x[:1], context=contexts[1:2])[0] - x[0])
    # one context for a batch of points, and one point under a batch of contexts
    assert layer.forward(x, context=contexts[0]).shape == (4, 3)
    assert layer.inverse(x[0], context=contexts).shape == (4, 3)
    assert layer.inverse_log_det_jacobian(x[0], 1, context=contexts).shape == (4,)
    np.testing.assert_allclose(layer.inverse(tf.identity(y), context=contexts), x, atol=1e-4)


def test_a_conditional_planar_flow_samples_and_scores_given_a_context():
    flow = tff.planar(2, num_layers=3, context_size=1, seed=4)
    testing.perturb_weights(flow, scale=0.3, seed=13)
    c = tf.constant([[0.5], [-2.0]])
    samples = flow.sample(2, seed=1, context=c)
    assert samples.shape == (2, 2, 2)
    assert np.all(np.isfinite(flow.log_prob(samples, context=c)))


@pytest.mark.parametrize("make", [Planar, Radial], ids=["planar", "radial"])
def test_copy_shares_the_weights_and_the_context_network(make):
    layer = make(2, context_size=1, seed=0, hidden_units=(4,))
    testing.perturb_weights(layer, scale=0.5, seed=14)
    copied = layer.copy(name="copied")
    assert copied != layer and {id(v) for v in copied.variables} == {id(v) for v in layer.variables}
    x, c = _points(2, 3, tf.float32, 1.0, seed=15), tf.ones([3, 1])
    np.testing.assert_array_equal(
        copied.forward(x, context=c), layer.forward(tf.identity(x), context=c)
    )


# -- builders -----------------------------------------------------------------------------------


@pytest.mark.parametrize("builder, margin", [(tff.planar, 0.5), (tff.radial, 0.1)])
@pytest.mark.slow
def test_a_short_fit_on_the_banana_beats_the_best_gaussian(builder, margin):
    """300 steps: the held-out NLL drops below that of a Gaussian with the data's own variances
    (what the adapted Standardize layer alone would give)."""
    target = tff.datasets.Banana()
    flow = builder(2, num_layers=8, seed=0)
    tff.fit(flow, target, steps=300, batch_size=128, learning_rate=1e-2, progress=False, seed=0)
    test = target.sample(2000, seed=1)
    gaussian_nll = float(np.sum(0.5 * np.log(2 * np.pi * np.e * np.var(test.numpy(), axis=0))))
    nll = -float(tf.reduce_mean(flow.log_prob(test)))
    assert nll < gaussian_nll - margin, (nll, gaussian_nll)


def test_builders_name_their_layers_like_real_nvp():
    flow = tff.planar(2, num_layers=2, name="q")
    assert flow.name == "q" and [b.name for b in flow.bijector.bijectors] == [
        "q_standardize",
        "q_planar_1",
        "q_planar_0",
    ]
    assert [
        b.name for b in tff.radial(2, num_layers=1, standardize=False, name="r").bijector.bijectors
    ] == ["r_radial_0"]


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"event_size": 0}, ValueError, "event_size must be a positive integer, got 0"),
        (
            {"event_size": 2.0},
            TypeError,
            r"event_size must be a positive integer, got 2.0 \(float\)",
        ),
        ({"num_layers": 0}, ValueError, "num_layers must be a positive integer, got 0"),
        ({"context_size": -1}, ValueError, "context_size must be a non-negative integer, got -1"),
        ({"seed": -1}, ValueError, "seed must be a non-negative integer, got -1"),
        ({"hidden_units": "32"}, TypeError, "hidden_units must be a sequence of positive integers"),
        ({"dtype": tf.float16}, TypeError, "supports dtypes float32 and float64, got float16"),
    ],
)
@pytest.mark.parametrize("builder", [tff.planar, tff.radial])
def test_bad_builder_arguments_are_explained(builder, kwargs, error, message):
    arguments = {"event_size": 2, "num_layers": 2, **kwargs}
    with pytest.raises(error, match=message):
        builder(**arguments)


@pytest.mark.parametrize("make", [Planar, Radial])
def test_bad_layer_arguments_are_explained(make):
    with pytest.raises(ValueError, match="event_size must be a positive integer, got 0"):
        make(0)
    with pytest.raises(
        ValueError, match=r"expected inputs with event shape \[2\], got shape \[1, 3\]"
    ):
        make(2).forward(tf.zeros([1, 3]))
    with pytest.raises(ValueError, match="this layer is conditional: pass context="):
        make(2, context_size=1).forward(tf.zeros([1, 2]))
