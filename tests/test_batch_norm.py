"""``BatchNorm``: batch statistics in training steps, moving statistics (an exact density) elsewhere.

The generic bijector properties (evaluation mode: round trips, log-det vs
autodiff, compiled modes, gradients, caches) run through the registry
(``batch_norm``, ``batch_norm_image``); here: the two modes, the updates in
``fit`` and ``FlowModel.fit``, and the density after training.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfp_flows as tff
from tfp_flows.bijectors import AffineCoupling, BatchNorm, training_mode
from tfp_flows.nn import MLPFactory
from tfp_flows.training import MaximumLikelihood, gradient_step
from tfp_flows.training.sources import Batch


def _data(n=512, seed=0):
    rng = np.random.default_rng(seed)
    x2 = rng.normal(0.0, 2.0, n)
    return np.stack([x2**2 / 4 + rng.normal(0.0, 1.0, n), x2], 1).astype(np.float32)


def _flow(momentum=0.9):
    layers = [
        AffineCoupling(2, MLPFactory(hidden_units=(8,), seed=0)),
        BatchNorm(2, momentum=momentum),
        AffineCoupling([0, 1], MLPFactory(hidden_units=(8,), seed=1)),
    ]
    return tff.flows.coupling_flow(layers, 2, standardize=True), layers[1]


def _moving(layer):
    return np.concatenate([layer.moving_mean.numpy(), layer.moving_variance.numpy()])


@pytest.mark.parametrize("shape", [(3,), (2, 3, 2)], ids=["vector", "image"])
def test_training_mode_normalises_by_the_batch_and_its_log_det_uses_the_batch_variance(shape):
    layer = BatchNorm(shape if len(shape) > 1 else shape[0], epsilon=1e-6, dtype=tf.float64)
    layer.loc.assign(np.linspace(0.1, 0.2, shape[-1]))
    layer.log_scale.assign(np.linspace(-0.2, 0.4, shape[-1]))
    y = tf.random.stateless_normal([64, *shape], seed=[3, 4], dtype=tf.float64) * 3.0 + 1.0
    axes = tuple(range(len(shape)))  # rows and pixels: everything but the channel
    mean, variance = np.mean(y.numpy(), axis=axes), np.var(y.numpy(), axis=axes)
    with training_mode():
        u, ildj = layer.inverse(y), layer.inverse_log_det_jacobian(y, event_ndims=len(shape))
    expected = layer.loc.numpy() + np.exp(layer.log_scale.numpy()) * (y.numpy() - mean) / np.sqrt(
        variance + 1e-6
    )
    np.testing.assert_allclose(u.numpy(), expected, rtol=1e-10)
    pixels = int(np.prod(shape[:-1]))
    np.testing.assert_allclose(
        ildj.numpy(), pixels * np.sum(layer.log_scale.numpy() - 0.5 * np.log(variance + 1e-6))
    )
    # outside training: the moving statistics (0 and 1 here), untouched by the training call
    np.testing.assert_array_equal(_moving(layer), [0.0] * shape[-1] + [1.0] * shape[-1])
    expected = layer.loc.numpy() + np.exp(layer.log_scale.numpy()) * y.numpy() / np.sqrt(1 + 1e-6)
    np.testing.assert_allclose(layer.inverse(y).numpy(), expected, rtol=1e-10)


def test_one_gradient_step_moves_the_moving_averages_by_the_momentum_rule():
    layer = BatchNorm(2, momentum=0.75, dtype=tf.float64)
    flow = tff.flows.coupling_flow([layer], 2, standardize=False, dtype=tf.float64)
    x = tf.constant(_data(64).astype(np.float64))
    outcome = gradient_step(
        flow, MaximumLikelihood(), keras.optimizers.SGD(0.1), flow.trainable_variables, Batch(x)
    )
    assert bool(outcome.finite)
    np.testing.assert_allclose(layer.moving_mean.numpy(), 0.25 * x.numpy().mean(0), rtol=1e-12)
    np.testing.assert_allclose(
        layer.moving_variance.numpy(), 0.75 + 0.25 * x.numpy().var(0), rtol=1e-12
    )


@pytest.mark.slow
def test_fit_adapts_then_moves_the_statistics_and_the_density_stays_normalised():
    flow, layer = _flow()
    data = _data()
    # the whole data: no move (adaptation only; the XLA loop is checked next)
    tff.fit(flow, data, steps=1, batch_size=512, progress=False, jit_compile=False)
    assert layer.adapted.numpy()
    adapted = _moving(layer)
    # Standardize (the data side) came first: this layer saw standardised data
    np.testing.assert_allclose(adapted, [0.0, 0.0, 1.0, 1.0], atol=1e-4)
    before = _moving(layer)
    tff.fit(flow, data, steps=30, batch_size=32, progress=False, jit_compile=True)  # the XLA loop
    after = _moving(layer)
    assert np.all(after != before)
    np.testing.assert_allclose(after, adapted, atol=0.5)  # moving averages of similar batches
    log_prob = flow.log_prob(tf.constant(data))
    assert np.all(_moving(layer) == after)  # evaluation reads the statistics, never moves them
    assert np.all(np.isfinite(log_prob.numpy()))
    tff.testing.assert_normalized(flow, (-12.0, -12.0), (18.0, 12.0), grid_size=400)


@pytest.mark.slow
def test_flow_model_fit_moves_the_statistics_and_evaluate_uses_the_moving_ones():
    flow, layer = _flow()
    data = _data()
    model = tff.FlowModel(flow)
    model.compile(keras.optimizers.Adam(1e-3))
    model.fit(data, epochs=1, batch_size=32, verbose=0, shuffle=False)
    assert layer.adapted.numpy()
    after = _moving(layer)
    assert np.all(np.abs(after - [0.0, 0.0, 1.0, 1.0]) > 0)
    expected = -float(np.mean(flow.log_prob(tf.constant(data)).numpy()))
    np.testing.assert_allclose(model.evaluate(data, batch_size=512, verbose=0), expected, rtol=1e-5)
    assert np.all(_moving(layer) == after)
    tff.testing.assert_normalized(flow, (-12.0, -12.0), (18.0, 12.0), grid_size=400)


def test_adapt_sets_the_moving_statistics_from_the_outputs():
    data = np.random.default_rng(1).normal([2.0, -3.0], [0.5, 4.0], size=(1000, 2))
    layer = BatchNorm(2, epsilon=1e-9, dtype=tf.float64)
    layer.adapt(data)
    u = layer.inverse(tf.constant(data)).numpy()
    np.testing.assert_allclose(u.mean(0), 0.0, atol=1e-10)
    np.testing.assert_allclose(u.std(0), 1.0, rtol=1e-8)
    assert {id(v) for v in layer.trainable_variables} == {id(layer.loc), id(layer.log_scale)}
    assert BatchNorm(2, affine=False).trainable_variables == ()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"momentum": 1.0}, r"momentum must be a number in \[0, 1\), got 1.0"),
        ({"epsilon": 0.0}, "epsilon must be a positive number, got 0.0"),
        ({"event_shape": (2, 2)}, r"expected event_shape n or \(H, W, C\), got \[2, 2\]"),
    ],
)
def test_bad_settings_are_refused(kwargs, message):
    kwargs = {"event_shape": 2, **kwargs}
    with pytest.raises(ValueError, match=message):
        BatchNorm(**kwargs)
