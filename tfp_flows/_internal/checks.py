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
    "check_context",
    "check_context_batch",
    "check_event_shape",
    "check_floating_dtype",
    "check_integer",
    "check_number",
    "check_positive_float",
    "check_tensor_dtype",
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
        minimum, f"an integer >= {minimum}"
    )
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

    The advice offers ``dtype=`` of the flow only where a flow can have it
    (float32, float64); for any other dtype (an ``int32`` tensor) it offers the cast.

    #### Examples

    >>> check_tensor_dtype(tf.zeros([1], tf.float64), tf.float32, "flow", "values")
    Traceback (most recent call last):
    ...
    TypeError: flow: expected values of dtype float32, got float64; cast them with tf.cast(x, tf.float32) or build the flow with dtype=tf.float64.
    >>> check_tensor_dtype(tf.zeros([1], tf.int32), tf.float32, "flow", "a context")
    Traceback (most recent call last):
    ...
    TypeError: flow: expected a context of dtype float32, got int32; cast it with tf.cast(c, tf.float32).
    """
    if tf.is_tensor(value) and value.dtype != expected:
        name, it = ("c", "it") if what == "a context" else ("x", "them")
        advice = f"cast {it} with tf.cast({name}, tf.{expected.name})"
        if value.dtype in SUPPORTED_DTYPES:
            advice += f" or build the flow with dtype=tf.{value.dtype.name}"
        raise TypeError(
            f"{owner}: expected {what} of dtype {expected.name}, got {value.dtype.name}; {advice}."
        )


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
    if (
        isinstance(event_shape, (str, bytes))
        or not isinstance(event_shape, (tuple, list))
        or (not event_shape)
    ):
        raise ValueError(f"{name} must be {expected}, got {_describe(event_shape)}.")
    return tuple(check_integer(name, size, minimum=1) for size in event_shape)


def check_context(context: Any, context_size: int, dtype: tf.DType, owner: str) -> tf.Tensor:
    """``context`` as a tensor of ``dtype`` and shape ``[..., context_size]``, or a clear error.

    One rule for every entry point (``log_prob``, ``prob``, ``sample``, ``condition``,
    the layers, the metrics): NumPy arrays, NumPy scalars and Python
    lists or numbers are converted to ``dtype``; a tensor must already have
    ``dtype`` (a ``TypeError`` names both dtypes and the cast). The width is
    checked statically; a width unknown while tracing (``tf.TensorSpec([None,
    None])``) is checked when the function runs (``InvalidArgumentError`` naming
    both widths), and the returned tensor then has the static width
    ``context_size``, so every layer traces.

    #### Examples

    >>> check_context([[0.5]], 1, tf.float32, "flow").shape
    TensorShape([1, 1])
    >>> check_context(np.zeros([2, 1]), 1, tf.float32, "flow").dtype.name  # float64 array
    'float32'
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
        context = tf.constant(array.astype(dtype.as_numpy_dtype), dtype=dtype)
    if context.shape.rank == 0 or (
        context.shape.rank is not None and context.shape[-1] not in (None, context_size)
    ):
        raise ValueError(
            f"{owner}: expected a context of shape [..., {context_size}], got shape "
            f"{context.shape.as_list()}."
        )
    if context.shape.rank is not None and context.shape[-1] is None:
        width = tf.shape(context)[-1]
        assertion = tf.debugging.Assert(
            tf.equal(width, context_size),
            [
                f"{owner}: expected a context of shape [..., {context_size}], got a context of "
                f"width",
                width,
            ],
        )
        with tf.control_dependencies([assertion]):
            context = tf.identity(context)
        context = tf.ensure_shape(context, context.shape[:-1].concatenate([context_size]))
    return context


def _shape_text(shape: tf.TensorShape) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in shape.as_list()) + "]"


def check_context_batch(
    points: Any, event_rank: int | None, context: tf.Tensor, owner: str, *, at_run_time: bool = True
) -> tf.Tensor:
    """``context`` if its batch shape broadcasts against that of ``points``, else a clear error.

    ```none
    points  [*batch_x, *event]      (event_rank axes of event)
    context [*batch_c, k]           batch_x and batch_c broadcast by NumPy's rules:
                                    aligned from the right, sizes equal or one of them 1
    ```

    So ``[n, k]`` pairs context row ``i`` with point ``i`` of ``[n, d]``, ``[k]``
    or ``[1, k]`` serves every point, and ``[4, k]`` against ``[5, d]`` raises a
    ``ValueError`` naming both shapes. Sizes unknown while tracing are checked
    when the function runs (``at_run_time``: the returned context carries the
    check; a ``Flow`` checks once per call, its layers only statically, so that
    every layer of one call sees the same context tensor, which TFP's caches key on).

    #### Examples

    >>> check_context_batch(tf.zeros([5, 2]), 1, tf.zeros([4, 1]), "flow")
    Traceback (most recent call last):
    ...
    ValueError: flow: a context of shape [4, 1] does not broadcast against points of shape [5, 2]: their batch shapes [4] and [5] must be equal or 1 where they differ (NumPy broadcasting); give one context row per point (shape [5, 1]) or one context for all points (shape [1] or [1, 1]).
    """
    shape = points.shape if tf.is_tensor(points) else tf.TensorShape(np.shape(points))
    if (
        event_rank is None
        or shape.rank is None
        or context.shape.rank is None
        or (shape.rank < event_rank)
    ):
        return context
    batch_x, batch_c = shape[: shape.rank - event_rank], context.shape[:-1]
    width = context.shape[-1]
    message = (
        f"{owner}: a context of shape {_shape_text(context.shape)} does not broadcast against "
        f"points of shape {_shape_text(shape)}: their batch shapes {_shape_text(batch_c)} and "
        f"{_shape_text(batch_x)} must be equal or 1 where they differ (NumPy broadcasting); "
        f"give one context row per point (shape {_shape_text(batch_x.concatenate([width]))}) "
        f"or one context for all points (shape [{width}] or [1, {width}])."
    )
    pairs = list(zip(reversed(batch_x.as_list()), reversed(batch_c.as_list())))
    if any(a is not None and c is not None and a != c and 1 not in (a, c) for a, c in pairs):
        raise ValueError(message)
    if (
        not at_run_time
        or not tf.is_tensor(points)
        or all(a is not None and c is not None for a, c in pairs)
    ):
        return context
    rank = min(batch_x.rank, batch_c.rank)
    if rank == 0:
        return context
    dims_x = tf.shape(points)[batch_x.rank - rank : batch_x.rank]
    dims_c = tf.shape(context)[batch_c.rank - rank : batch_c.rank]
    broadcasts = tf.reduce_all((dims_x == dims_c) | (dims_x == 1) | (dims_c == 1))
    assertion = tf.debugging.Assert(
        broadcasts,
        [
            f"{owner}: a context of shape",
            tf.shape(context),
            "does not broadcast against points of shape",
            tf.shape(points),
            "(NumPy broadcasting of the batch shapes)",
        ],
    )
    with tf.control_dependencies([assertion]):
        return tf.identity(context)
