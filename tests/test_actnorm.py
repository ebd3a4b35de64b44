"""``ActNorm``: data-dependent initialisation per feature and per channel, its log-det, its errors.

The generic bijector properties (round trips, log-det vs autodiff, compiled
modes, gradients, caches) run through the registry (``actnorm``,
``actnorm_image``); here: what adapting does, and the builders' option.
"""

import numpy as np
import pytest
import tensorflow as tf

import tfp_flows as tff
from tfp_flows.bijectors import ActNorm
from tfp_flows.bijectors.walk import flatten


def _rows(shape, seed=0):
    rng = np.random.default_rng(seed)
    features = shape[-1]
    return rng.normal(np.arange(features) - 1.0, 0.5 + np.arange(features), size=(500, *shape))


@pytest.mark.parametrize("shape", [(3,), (4, 5, 3)], ids=["vector", "image"])
def test_after_adapt_the_inverse_standardises_each_feature(shape):
    data = _rows(shape)
    layer = ActNorm(shape if len(shape) > 1 else shape[0], dtype=tf.float64)
    assert not layer.adapted.numpy()
    layer.adapt(data)
    assert layer.adapted.numpy()
    u = layer.inverse(tf.constant(data)).numpy().reshape(-1, shape[-1])
    np.testing.assert_allclose(u.mean(0), 0.0, atol=1e-10)
    np.testing.assert_allclose(u.std(0), 1.0, rtol=1e-10)
    # one statistic per channel: the pixels of an image share it
    assert layer.loc.shape == layer.log_scale.shape == (shape[-1],)


def test_the_image_log_det_counts_every_pixel_of_a_channel():
    layer = ActNorm((4, 5, 2), dtype=tf.float64)
    layer.log_scale.assign([0.3, -0.1])
    x = tf.random.stateless_normal([2, 4, 5, 2], seed=[1, 2], dtype=tf.float64)
    expected = 4 * 5 * (0.3 - 0.1)
    np.testing.assert_allclose(layer.forward_log_det_jacobian(x, event_ndims=3), [expected] * 2)
    # the same from the dense Jacobian of the flattened map
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer.forward(x)
    jacobian = tape.batch_jacobian(y, x).numpy().reshape(2, 40, 40)
    np.testing.assert_allclose(np.linalg.slogdet(jacobian)[1], [expected] * 2, rtol=1e-12)


def test_both_variables_are_trainable_and_the_flag_is_not():
    layer = ActNorm(2)
    assert {id(v) for v in layer.trainable_variables} == {id(layer.loc), id(layer.log_scale)}
    assert any(v is layer.adapted for v in layer.variables)


@pytest.mark.parametrize(
    "data, message",
    [
        (
            np.stack([np.arange(10.0), np.full(10, 2.0)], 1),
            "ActNorm.adapt: data column 1 must vary",
        ),
        (np.array([[0.0, np.nan], [1.0, 2.0]]), "must be finite, got nan in row 0, column 1"),
        (np.zeros((3, 3)), r"must have shape \[n, 2\]"),
    ],
)
def test_degenerate_data_is_refused_before_anything_changes(data, message):
    layer = ActNorm(2)
    with pytest.raises(ValueError, match=message):
        layer.adapt(data)
    assert not layer.adapted.numpy()
    np.testing.assert_array_equal(layer.log_scale.numpy(), [0.0, 0.0])


def test_a_constant_image_channel_is_named():
    data = _rows((2, 2, 2))
    data[..., 1] = 4.0
    with pytest.raises(
        ValueError, match="channel 1 must vary, got the constant 4 in all 2000 values"
    ):
        ActNorm((2, 2, 2)).adapt(data)


@pytest.mark.parametrize("builder, kind", [(tff.real_nvp, "affine"), (tff.nice, "additive")])
def test_builders_put_an_actnorm_before_each_coupling(builder, kind):
    flow = builder(3, num_layers=2, hidden_units=(8,), normalization="actnorm", name="f")
    names = [layer.name for layer in flatten(flow)]  # forward order, base side first
    assert names == [
        "f_actnorm_0",
        f"f_{kind}_coupling_0",
        "f_lu_linear_0",
        "f_actnorm_1",
        f"f_{kind}_coupling_1",
        "f_lu_linear_1",
        "f_standardize",
    ]
    default = builder(3, num_layers=2, hidden_units=(8,))
    assert not any("actnorm" in layer.name for layer in flatten(default))


def test_builders_refuse_an_unknown_normalization():
    with pytest.raises(
        ValueError, match=r"normalization must be one of \[None, 'actnorm'\], got 'batch'"
    ):
        tff.real_nvp(2, normalization="batch")
