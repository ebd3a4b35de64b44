"""The property suite of ``tfp_flows.testing`` over every bijector in the registry."""

import numpy as np
import pytest
import tensorflow as tf
from bijector_registry import REGISTRY

from tfp_flows import testing

EVENT_SIZES = (2, 3, 7)
DTYPES = (tf.float32, tf.float64)


def _perturbed(name, event_size, dtype):
    bijector = REGISTRY[name](event_size, dtype)
    testing.perturb_weights(bijector, scale=0.1, seed=11)
    return bijector


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
@pytest.mark.parametrize("event_size", EVENT_SIZES)
@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_properties_hold_in_every_mode(name, event_size, dtype):
    bijector = _perturbed(name, event_size, dtype)
    x = 2.0 * tf.random.stateless_normal([32, event_size], seed=[event_size, 7], dtype=dtype)
    errors = testing.check_bijector(bijector, x)
    if dtype == tf.float64:
        assert errors["autodiff_log_det"] < 1e-8
        assert errors["round_trip"] < 1e-10


@pytest.mark.parametrize("mode", testing.MODES)
@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_no_stale_results_after_a_weight_change(name, mode):
    bijector = _perturbed(name, 3, tf.float64)
    x = tf.random.stateless_normal([8, 3], seed=[2, 2], dtype=tf.float64)
    testing.assert_cache_follows_weights(bijector, x, mode)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_weights_moved_away_from_identity(name):
    """The suite checks real transformations, not the identity of a fresh flow."""
    bijector = _perturbed(name, 3, tf.float64)
    x = tf.random.stateless_normal([16, 3], seed=[1, 1], dtype=tf.float64)
    assert np.max(np.abs(bijector.forward(x) - x)) > 1e-2


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_2d_flow_density_integrates_to_one(name):
    from tensorflow_probability import distributions as tfd

    bijector = _perturbed(name, 2, tf.float64)
    if name == "standardize":  # its adapted scale of 5 needs a wider box
        low, high = (-30.0, -30.0), (40.0, 40.0)
    else:
        low, high = (-12.0, -12.0), (12.0, 12.0)
    flow = tfd.TransformedDistribution(
        tfd.MultivariateNormalDiag(tf.zeros(2, tf.float64)), bijector)
    integral = testing.assert_normalized(flow, low, high, grid_size=500)
    assert abs(integral - 1.0) < 1e-2


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_large_inputs_give_finite_outputs_and_densities(name):
    from tensorflow_probability import distributions as tfd

    bijector = _perturbed(name, 3, tf.float32)
    x = tf.constant([[1e3, -1e4, 5e3], [-1e4, 1e4, 1e3]], tf.float32)
    flow = tfd.TransformedDistribution(tfd.MultivariateNormalDiag(tf.zeros(3)), bijector)
    assert np.all(np.isfinite(bijector.forward(x)))
    assert np.all(np.isfinite(bijector.inverse(x)))
    assert np.all(np.isfinite(flow.log_prob(x)))
