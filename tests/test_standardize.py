"""``Standardize.adapt``: float64 statistics, refused degenerate data, no poisoned state."""

import numpy as np
import pytest
import tensorflow as tf

from tfp_flows.bijectors import Standardize


def _rows(n=200, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).normal([3.0, -1.0], [2.0, 0.5], size=(n, 2)).astype(dtype)


def _state(layer):
    return [layer.loc.numpy(), layer.log_scale.numpy(), bool(layer.adapted.numpy())]


def test_a_large_finite_outlier_gives_the_float64_statistics():
    data = _rows()
    data[5, 0] = 1e20  # its square overflows float32
    layer = Standardize(2)
    layer.adapt(data)
    expected = data.astype(np.float64)
    np.testing.assert_allclose(layer.loc.numpy(), expected.mean(0), rtol=1e-6)
    # log_scale is stored in float32: compare it, not its exponential
    np.testing.assert_allclose(layer.log_scale.numpy(), np.log(expected.std(0)), rtol=1e-6)


def test_a_float64_layer_takes_values_near_the_float64_limit():
    data = np.array([[1e300, 0.0], [-1e300, 1.0]])
    layer = Standardize(2, dtype=tf.float64)
    layer.adapt(data)
    np.testing.assert_allclose(layer.loc.numpy(), [0.0, 0.5])
    np.testing.assert_allclose(np.exp(layer.log_scale.numpy()), [1e300, 0.5], rtol=1e-12)
    np.testing.assert_allclose(layer.inverse(tf.constant(data)).numpy(), [[1, -1], [-1, 1]])


@pytest.mark.parametrize(
    "data, error, message",
    [
        (
            np.ones((50, 2)),
            ValueError,
            r"columns \[0, 1\] must vary, got the constants 1, 1 in all 50",
        ),
        (
            np.stack([np.arange(50.0), np.full(50, 7.0)], 1),
            ValueError,
            "column 1 must vary, got the constant 7 in all 50 rows; drop the column",
        ),
        (np.array([[1.0, 2.0]]), ValueError, "at least 2 rows to estimate a scale, got 1"),
        (
            np.array([[1e300, 0.0], [0.0, 1.0]]),
            ValueError,
            r"must fit in float32 \(\|x\| <= 3.4e\+38\), got 1e\+300 in row 0, column 0",
        ),
        (
            np.array([[0.0, 1.0], [1.0, np.nan]]),
            ValueError,
            "must be finite, got nan in row 1, column 1",
        ),
        (
            np.array([[0.0, 1e-45], [0.0, 0.0], [1.0, 0.0]], np.float32),
            ValueError,
            "column 1 must have a standard deviation float32 can hold",
        ),
        (np.zeros((4, 3)), ValueError, r"must have shape \[n, 2\], got shape \(4, 3\)"),
        (np.array([["a", "b"], ["c", "d"]]), TypeError, "must be real numbers, got dtype <U1"),
    ],
)
def test_degenerate_data_is_refused_and_the_layer_keeps_its_state(data, error, message):
    layer = Standardize(2)
    layer.adapt(_rows())
    before = _state(layer)
    with pytest.raises(error, match=message):
        layer.adapt(data)
    after = _state(layer)
    for old, new in zip(before, after):
        np.testing.assert_array_equal(old, new)
    assert after[2]  # still adapted to the good rows


def test_a_refused_first_adapt_leaves_the_identity():
    layer = Standardize(2)
    with pytest.raises(ValueError, match="must vary"):
        layer.adapt(np.ones((10, 2)))
    assert not layer.adapted.numpy()
    x = tf.constant([[1.5, -2.0]])
    np.testing.assert_array_equal(layer.inverse(x).numpy(), x.numpy())
