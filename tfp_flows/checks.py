"""Argument checks that name what was expected and what came.

#### Examples

>>> check_integer("num_layers", 2.5, minimum=1)
Traceback (most recent call last):
...
TypeError: num_layers must be an integer >= 1, got 2.5 (float).
>>> check_floating_dtype("float16", "real_nvp").name
Traceback (most recent call last):
...
TypeError: real_nvp supports dtypes float32 and float64, got float16.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import tensorflow as tf

__all__ = ["check_floating_dtype", "check_integer", "check_positive_float"]

SUPPORTED_DTYPES = (tf.float32, tf.float64)


def check_integer(name: str, value: Any, minimum: int | None = None) -> int:
    """``value`` as an ``int``; ``TypeError`` for non-integers (and bools), ``ValueError`` below ``minimum``."""
    expected = "an integer" if minimum is None else f"an integer >= {minimum}"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be {expected}, got {value!r} ({type(value).__name__}).")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be {expected}, got {value}.")
    return int(value)


def check_positive_float(name: str, value: Any) -> float:
    """``value`` as a finite ``float > 0``; ``ValueError`` naming what came otherwise."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"{name} must be a finite number > 0, got {value!r} "
                        f"({type(value).__name__}).")
    if not math.isfinite(float(value)) or float(value) <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value}.")
    return float(value)


def check_floating_dtype(dtype: Any, owner: str) -> tf.DType:
    """``dtype`` as a ``tf.DType`` if it is float32 or float64, else ``TypeError``."""
    try:
        dtype = tf.as_dtype(dtype)
    except TypeError:
        raise TypeError(f"{owner} supports dtypes float32 and float64, got {dtype!r}.") from None
    if dtype not in SUPPORTED_DTYPES:
        raise TypeError(f"{owner} supports dtypes float32 and float64, got {dtype.name}.")
    return dtype
