"""Permute: fixed orders of a vector event, and the mixing= options built from them."""

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_probability import distributions as tfd

import tfp_flows as tff
from tfp_flows.bijectors import Permute
from tfp_flows.flows.mixing import mixing_layer


def test_forward_moves_entry_p_i_to_i_and_inverse_undoes_it():
    layer = Permute([3, 0, 2, 1], dtype=tf.float64)
    x = tf.constant([[10.0, 11.0, 12.0, 13.0], [0.0, -1.0, -2.0, -3.0]], tf.float64)
    np.testing.assert_array_equal(
        layer.forward(x), [[13.0, 10.0, 12.0, 11.0], [-3.0, 0.0, -2.0, -1.0]]
    )
    np.testing.assert_array_equal(layer.inverse(layer.forward(x)), x)
    np.testing.assert_array_equal(layer.forward_log_det_jacobian(x, 1), [0.0, 0.0])
    np.testing.assert_array_equal(layer.inverse_log_det_jacobian(x[0], 1), 0.0)


def test_reverse_and_seeded_random_orders():
    assert Permute.reverse(4).permutation.tolist() == [3, 2, 1, 0]
    first, again = Permute.random(7, seed=3), Permute.random(7, seed=3)
    assert sorted(first.permutation.tolist()) == list(range(7))
    np.testing.assert_array_equal(first.permutation, again.permutation)
    orders = {tuple(Permute.random(7, seed=s).permutation) for s in range(5)}
    assert len(orders) == 5


def test_a_permutation_is_linear_so_tfp_moments_are_exact():
    layer = Permute([2, 0, 1], dtype=tf.float64)
    assert layer.is_constant_jacobian
    base = tfd.MultivariateNormalDiag(
        tf.constant([1.0, 2.0, 3.0], tf.float64), tf.constant([0.1, 1.0, 10.0], tf.float64)
    )
    flow = tfd.TransformedDistribution(base, layer)
    np.testing.assert_allclose(flow.mean(), [3.0, 1.0, 2.0])
    np.testing.assert_allclose(np.diag(flow.covariance()), [100.0, 0.01, 1.0])
    x = tf.constant([[0.5, -1.0, 2.0]], tf.float64)
    np.testing.assert_allclose(flow.log_prob(x), base.log_prob(tf.gather(x, [1, 2, 0], axis=-1)))


@pytest.mark.parametrize(
    "permutation", [[0, 0, 1], [1, 2], [], [[0, 1]], [0.0, 1.0], [True, False]]
)
def test_a_bad_permutation_is_explained(permutation):
    with pytest.raises(ValueError, match="permutation must be a reordering of range"):
        Permute(permutation)


def test_bad_constructor_arguments_are_explained():
    with pytest.raises(ValueError, match="event_size must be a positive integer, got 0"):
        Permute.reverse(0)
    with pytest.raises(ValueError, match="seed must be a non-negative integer, got -2"):
        Permute.random(3, seed=-2)
    with pytest.raises(
        ValueError, match=r"expected inputs with event shape \[3\], got shape \[2, 2\]"
    ):
        Permute.reverse(3).forward(tf.zeros([2, 2]))


@pytest.mark.parametrize("mixing", ["reverse", "random"])
def test_builders_place_a_permutation_after_every_transform(mixing):
    flow = tff.real_nvp(5, num_layers=3, hidden_units=(8,), mixing=mixing, seed=7, name="f")
    permutes = [b for b in flow.bijector.bijectors if isinstance(b, Permute)]
    assert [b.name for b in reversed(permutes)] == ["f_permute_0", "f_permute_1", "f_permute_2"]
    for i, layer in enumerate(reversed(permutes)):
        expected = Permute.reverse(5) if mixing == "reverse" else Permute.random(5, seed=7 + i)
        np.testing.assert_array_equal(layer.permutation, expected.permutation)
    assert np.all(np.isfinite(flow.log_prob(tf.random.stateless_normal([4, 5], seed=[1, 1]))))


def test_unseeded_random_mixing_still_builds_a_permutation():
    layer = mixing_layer("random", event_size=4, index=2, dtype=tf.float32, name="g", seed=None)
    assert layer.name == "g_permute_2" and sorted(layer.permutation.tolist()) == [0, 1, 2, 3]
