"""Argument checks that name what was expected and what came.

#### Examples

>>> check_integer("num_layers", 2.5, minimum=1)
Traceback (most recent call last):
...
TypeError: num_layers must be a positive integer, got 2.5 (float).
>>> check_floating_dtype("float16", "real_nvp").name
Traceback (most recent call last):
...
TypeError: real_nvp supports dtypes float32 and float64, got float16.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

__all__ = [
    "check_context", "check_event_shape", "check_floating_dtype", "check_integer", "check_number",
    "check_positive_float", "check_tensor_dtype",
]

SUPPORTED_DTYPES = (tf.float32, tf.float64)


def _describe(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def check_integer(name: str, value: Any, minimum: int | None = 1) -> int:
    """``value`` as an ``int`` if it is an integer ``>= minimum``; else a ``TypeError``/``ValueError``.

    ``bool`` and ``float`` values (even ``10.0``) are refused: they are usually a
    mistake, and a silent ``int()`` would hide it.

    #### Examples

    >>> check_integer("steps", 10.5)
    Traceback (most recent call last):
    ...
    TypeError: steps must be a positive integer, got 10.5 (float).
    >>> check_integer("steps_per_execution", 0)
    Traceback (most recent call last):
    ...
    ValueError: steps_per_execution must be a positive integer, got 0.
    """
    expected = {None: "an integer", 0: "a non-negative integer", 1: "a positive integer"}.get(
        minimum, f"an integer >= {minimum}")
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be {expected}, got {_describe(value)}.")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be {expected}, got {value}.")
    return int(value)


def check_number(name: str, value: Any, expected: str, valid: Callable[[float], bool]) -> float:
    """``value`` as a ``float`` if it is a real number (not a ``bool``) for which ``valid`` holds.

    #### Examples

    >>> check_number("learning_rate", -1e-3, "a positive finite number", lambda v: 0 < v < np.inf)
    Traceback (most recent call last):
    ...
    ValueError: learning_rate must be a positive finite number, got -0.001.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be {expected}, got {_describe(value)}.")
    if not valid(float(value)):
        raise ValueError(f"{name} must be {expected}, got {value}.")
    return float(value)


def check_positive_float(name: str, value: Any) -> float:
    """``value`` as a finite ``float > 0``, or an error naming what came."""
    return check_number(name, value, "a positive finite number", lambda v: 0 < v < math.inf)


def check_floating_dtype(dtype: Any, owner: str) -> tf.DType:
    """``dtype`` as a ``tf.DType`` if it is float32 or float64, else ``TypeError``."""
    try:
        dtype = tf.as_dtype(dtype)
    except TypeError:
        raise TypeError(f"{owner} supports dtypes float32 and float64, got {dtype!r}.") from None
    if dtype not in SUPPORTED_DTYPES:
        raise TypeError(f"{owner} supports dtypes float32 and float64, got {dtype.name}.")
    return dtype


def check_tensor_dtype(value: Any, expected: tf.DType, owner: str, what: str) -> None:
    """``TypeError`` naming both dtypes and the fix if ``value`` is a tensor of another dtype.

    #### Examples

    >>> check_tensor_dtype(tf.zeros([1], tf.float64), tf.float32, "flow", "values")
    Traceback (most recent call last):
    ...
    TypeError: flow: expected values of dtype float32, got float64; cast them with tf.cast(x, tf.float32) or build the flow with dtype=tf.float64.
    """
    if tf.is_tensor(value) and value.dtype != expected:
        raise TypeError(
            f"{owner}: expected {what} of dtype {expected.name}, got {value.dtype.name}; cast "
            f"them with tf.cast(x, tf.{expected.name}) or build the flow with "
            f"dtype=tf.{value.dtype.name}.")


def check_event_shape(event_shape: Any, name: str) -> tuple[int, ...]:
    """An event shape (an int for vectors, or a sequence of positive ints) as a tuple.

    #### Examples

    >>> check_event_shape(3, "event_shape"), check_event_shape([8, 8, 1], "event_shape")
    ((3,), (8, 8, 1))
    >>> check_event_shape([], "event_shape")
    Traceback (most recent call last):
    ...
    ValueError: event_shape must be a positive integer or a non-empty sequence of them, got [] (list).
    """
    if isinstance(event_shape, tf.TensorShape):
        event_shape = event_shape.as_list()
    if isinstance(event_shape, (int, np.integer)) and not isinstance(event_shape, bool):
        return (check_integer(name, event_shape, minimum=1),)
    expected = "a positive integer or a non-empty sequence of them"
    if isinstance(event_shape, (str, bytes)) or not isinstance(event_shape, (tuple, list)) or (
            not event_shape):
        raise ValueError(f"{name} must be {expected}, got {_describe(event_shape)}.")
    return tuple(check_integer(name, size, minimum=1) for size in event_shape)


def check_context(context: Any, context_size: int, dtype: tf.DType, owner: str) -> tf.Tensor:
    """``context`` as a tensor of ``dtype`` and shape ``[..., context_size]``, or a clear error.

    #### Examples

    >>> check_context([[0.5]], 1, tf.float32, "flow").shape
    TensorShape([1, 1])
    >>> check_context([0.5, 1.0], 1, tf.float32, "flow")
    Traceback (most recent call last):
    ...
    ValueError: flow: expected a context of shape [..., 1], got shape [2].
    """
    check_tensor_dtype(context, dtype, owner, "a context")
    if not tf.is_tensor(context):
        array = np.asarray(context)
        if array.dtype.kind not in "fiub":
            raise TypeError(f"{owner}: expected a numeric context, got {_describe(context)}.")
        typed = isinstance(context, (np.ndarray, np.generic))  # Python numbers carry no dtype
        if typed and array.dtype.kind == "f" and array.dtype != dtype.as_numpy_dtype:
            raise TypeError(
                f"{owner}: expected a context of dtype {dtype.name}, got {array.dtype.name}; "
                f"cast it with np.asarray(c, np.{dtype.name}) or build the flow with "
                f"dtype=tf.{array.dtype.name}.")
        context = tf.constant(array, dtype=dtype)
    if context.shape.rank == 0 or (
            context.shape.rank is not None and context.shape[-1] not in (None, context_size)):
        raise ValueError(
            f"{owner}: expected a context of shape [..., {context_size}], got shape "
            f"{context.shape.as_list()}.")
    return context
