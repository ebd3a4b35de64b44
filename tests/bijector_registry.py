"""Every bijector the package ships, as factories ``(event_size, dtype) -> bijector``.

The property suite (``test_bijector_properties.py``) runs ``tfp_flows.testing``
over this registry: a new bijector is checked by adding one line here.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
import tf_keras

import tfp_flows as tff
from tfp_flows.bijectors import (
    AdditiveCoupling,
    AffineCoupling,
    LULinear,
    Standardize,
    alternating_mask,
    random_mask,
)


def keras3_conditioner(n_out: int, dtype: tf.DType) -> keras.Model:
    """A small Keras 3 network (its variables are invisible to tf.Module on their own)."""
    return keras.Sequential([
        keras.layers.Dense(16, activation="tanh", dtype=dtype.name),
        keras.layers.Dense(n_out, dtype=dtype.name),
    ])


def tf_keras_conditioner(n_out: int, dtype: tf.DType) -> tf_keras.Model:
    """A small tf_keras (Keras 2) network."""
    return tf_keras.Sequential([
        tf_keras.layers.Dense(16, activation="tanh", dtype=dtype.name),
        tf_keras.layers.Dense(n_out, dtype=dtype.name),
    ])


def _n_transformed(n: int) -> int:
    return int((alternating_mask(n) == 0).sum())


def _adapted_standardize(n: int, dtype: tf.DType) -> Standardize:
    layer = Standardize(n, dtype=dtype)
    layer.adapt(np.random.default_rng(0).normal(3.0, 5.0, size=(100, n)))
    return layer


REGISTRY = {
    "affine_coupling": lambda n, dtype: AffineCoupling(n, hidden_units=(16, 16), seed=1, dtype=dtype),
    "affine_coupling_random_mask": lambda n, dtype: AffineCoupling(
        random_mask(n, seed=3), hidden_units=(16,), activation="tanh", seed=2, dtype=dtype),
    "affine_coupling_keras3": lambda n, dtype: AffineCoupling(
        n, keras3_conditioner(2 * _n_transformed(n), dtype), dtype=dtype),
    "affine_coupling_tf_keras": lambda n, dtype: AffineCoupling(
        n, tf_keras_conditioner(2 * _n_transformed(n), dtype), dtype=dtype),
    "additive_coupling": lambda n, dtype: AdditiveCoupling(n, hidden_units=(16,), seed=4, dtype=dtype),
    "standardize": _adapted_standardize,
    "lu_linear": lambda n, dtype: LULinear(n, permutation=np.arange(n)[::-1], dtype=dtype),
    "real_nvp_chain": lambda n, dtype: tff.real_nvp(
        n, num_layers=4, hidden_units=(16,), seed=5, dtype=dtype).bijector,
    "nice_chain": lambda n, dtype: tff.nice(
        n, num_layers=4, hidden_units=(16,), seed=6, dtype=dtype).bijector,
}
