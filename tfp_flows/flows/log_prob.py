"""Evaluating a distribution's log-density: with or without a context, in batches.

Two functions every part of the package uses to call ``log_prob``:

* :func:`log_prob` calls ``distribution.log_prob(x, context=c)`` for a
  conditional flow and plain ``distribution.log_prob(x)`` when ``context`` is
  ``None`` -- no ``context`` keyword at all, so stock TFP distributions and
  unconditional flows work unchanged.
* :func:`batched_log_prob` evaluates ``log q(x_i | c_i)`` for many rows in
  batches (bounded memory) and returns them as one float64 NumPy array; a
  context with one row per point is sliced along with ``x``, a context that
  serves every point (``[context_size]`` or ``[1, context_size]``) is passed
  whole, and any other context is refused naming both shapes
  (:func:`context_rows`) -- whatever ``batch_size`` is.

#### Examples

>>> import tensorflow_probability as tfp
>>> normal = tfp.distributions.MultivariateNormalDiag([0.0, 0.0])
>>> batched_log_prob(normal, np.zeros([5, 2]), batch_size=2).round(4).tolist()
[-1.8379, -1.8379, -1.8379, -1.8379, -1.8379]
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf
from tensorflow_probability import distributions as tfd

from tfp_flows._internal.checks import check_integer, check_tensor_dtype

__all__ = ["batched_log_prob", "check_takes_context", "context_rows", "log_prob"]


def _shape_text(shape: Any) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in list(shape)) + "]"


def context_rows(
    points_shape: Any, event_rank: int | None, context_shape: Any, owner: str = "context"
) -> bool:
    """Whether a context is sliced with the points (one row per point) or serves them all.

    ```none
    points  [*batch_x, *event]     context [*batch_c, k]
    batch_c broadcasts to batch_x (NumPy rules: aligned from the right, each size equal or 1)
      -> True   batch_c has the rank of batch_x and a first size that is not 1: context row i
                goes with point i (the context is sliced along with the points)
      -> False  otherwise: the whole context serves every batch of points
    else        ValueError naming both shapes
    ```

    This is ``log_prob``'s broadcasting rule, restricted to contexts that give each
    point one context (the result has the points' batch shape): ``[n, k]`` with
    ``[n, d]``, ``[k]`` or ``[1, k]`` with ``[n, d]``; ``[m, k]`` with ``[n, d]``
    (``m != n``, ``m != 1``) is refused, never recycled batch by batch.

    #### Examples

    >>> context_rows([256, 2], 1, [256, 1]), context_rows([256, 2], 1, [1])
    (True, False)
    >>> context_rows([256, 2], 1, [128, 1], "nll")
    Traceback (most recent call last):
    ...
    ValueError: nll: a context of shape [128, 1] does not broadcast against points of shape [256, 2]: give one context row per point (shape [256, 1]) or one context for all points (shape [1] or [1, 1]).
    """
    points_shape, context_shape = tf.TensorShape(points_shape), tf.TensorShape(context_shape)
    if event_rank is None or points_shape.rank is None or context_shape.rank is None:
        return False
    if context_shape.rank == 0:
        raise ValueError(f"{owner}: expected a context of shape [..., context_size], got a scalar.")
    batch_x = points_shape[: max(points_shape.rank - event_rank, 0)].as_list()
    batch_c, width = context_shape[:-1].as_list(), context_shape[-1]
    fits = len(batch_c) <= len(batch_x) and all(
        c is None or a is None or c in (1, a) for a, c in zip(reversed(batch_x), reversed(batch_c))
    )
    if not fits:
        raise ValueError(
            f"{owner}: a context of shape {_shape_text(context_shape)} does not broadcast "
            f"against points of shape {_shape_text(points_shape)}: give one context row per "
            f"point (shape {_shape_text(batch_x + [width])}) or one context for all points "
            f"(shape [{width}] or [1, {width}])."
        )
    return bool(batch_c) and len(batch_c) == len(batch_x) and batch_c[0] != 1


def log_prob(distribution: tfd.Distribution, x: Any, context: Any = None) -> tf.Tensor:
    """``log q(x | context)``; with ``context=None`` exactly ``distribution.log_prob(x)``.

    #### Examples

    >>> import tensorflow_probability as tfp
    >>> float(log_prob(tfp.distributions.Normal(0.0, 1.0), 0.0))  # no context keyword passed
    -0.9189385175704956
    """
    if context is None:
        return distribution.log_prob(x)
    return distribution.log_prob(x, context=context)


def batched_log_prob(
    distribution: tfd.Distribution, x: Any, *, context: Any = None, batch_size: int = 65536
) -> np.ndarray:
    """``log q(x_i | c_i)`` for every row ``x_i`` of ``x``, ``batch_size`` rows per call, in float64.

    ```none
    out[i] = log q(x[i] | context[i])    context of shape [n, k]: one row per point
    out[i] = log q(x[i] | context)       context of shape [k] or [1, k]: one for every point
    ```

    Any other context (``[m, k]`` for ``n`` points, ``m`` not ``n`` or 1) raises a
    ``ValueError`` naming both shapes (see :func:`context_rows`), whatever
    ``batch_size`` is. NumPy arrays and lists (``x`` and ``context``) are converted
    to the distribution's dtype; tensors of another dtype raise a ``TypeError``
    naming both dtypes.

    Args:
      distribution: any ``tfd.Distribution`` (a conditional flow when ``context`` is given).
      x: ``[n, ...event_shape]`` points.
      context: ``None`` (no ``context`` keyword is passed), ``[n, context_size]``
        (sliced with ``x``) or one context for all points (``[context_size]``,
        ``[1, context_size]``).
      batch_size: rows per ``log_prob`` call (a positive integer).

    Returns:
      A ``[n]`` float64 array.

    #### Examples

    >>> import tensorflow_probability as tfp
    >>> normal = tfp.distributions.Normal(0.0, 1.0)
    >>> batched_log_prob(normal, [0.0, 1.0, 2.0], batch_size=2).round(3).tolist()
    [-0.919, -1.419, -2.919]
    """
    batch_size = check_integer("batch_size", batch_size)
    owner = getattr(distribution, "name", type(distribution).__name__)
    x = _as_tensor(x, distribution.dtype, owner, "values")
    n = int(x.shape[0])
    per_row = False
    if context is not None:
        context = _as_tensor(context, distribution.dtype, owner, "a context")
        # the rows of x are the points: batch shape [n], whatever the event shape
        per_row = context_rows(x.shape, x.shape.rank - 1, context.shape, owner)
    parts = []
    for start in range(0, n, batch_size):
        rows = slice(start, start + batch_size)
        part_context = context[rows] if per_row else context
        parts.append(np.asarray(log_prob(distribution, x[rows], part_context), np.float64))
    if not parts:
        return np.zeros([0], np.float64)
    return np.concatenate(parts)


def _as_tensor(value: Any, dtype: tf.DType, owner: str, what: str) -> tf.Tensor:
    """A NumPy array or list converted to ``dtype``; a tensor checked to have it."""
    check_tensor_dtype(value, dtype, owner, what)
    return tf.convert_to_tensor(value if tf.is_tensor(value) else np.asarray(value), dtype=dtype)


def check_takes_context(distribution: tfd.Distribution, x: Any, context: Any) -> None:
    """``TypeError`` naming the problem if ``distribution.log_prob`` takes no ``context`` keyword.

    Evaluates ``log_prob(x, context=context)`` once (give a row or two).

    #### Examples

    >>> import tensorflow_probability as tfp
    >>> check_takes_context(tfp.distributions.Normal(0.0, 1.0), [0.0], [[1.0]])
    Traceback (most recent call last):
    ...
    TypeError: a context needs a conditional distribution (log_prob(x, context=c)), got Normal, which takes no context ...
    """
    owner = getattr(distribution, "name", type(distribution).__name__)
    x = _as_tensor(x, distribution.dtype, owner, "values")
    context = _as_tensor(context, distribution.dtype, owner, "a context")
    try:
        log_prob(distribution, x, context)
    except TypeError as error:
        if "context" not in str(error):
            raise
        raise TypeError(
            "a context needs a conditional distribution (log_prob(x, context=c)), got "
            f"{type(distribution).__name__}, which takes no context ({error}); build the flow "
            "with a context size, or train without a context."
        ) from None
