"""Evaluating a distribution's log-density: with or without a context, in batches.

Two functions every part of the package uses to call ``log_prob``:

* :func:`log_prob` calls ``distribution.log_prob(x, context=c)`` for a
  conditional flow and plain ``distribution.log_prob(x)`` when ``context`` is
  ``None`` -- no ``context`` keyword at all, so stock TFP distributions and
  unconditional flows work unchanged.
* :func:`batched_log_prob` evaluates ``log q(x_i | c_i)`` for many rows in
  batches (bounded memory) and returns them as one float64 NumPy array; a
  context with one row per point is sliced along with ``x``, any other context
  (e.g. one ``[context_size]`` vector) is passed whole and broadcast.

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

from tfp_flows.checks import check_integer

__all__ = ["batched_log_prob", "check_takes_context", "log_prob"]


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


def batched_log_prob(distribution: tfd.Distribution, x: Any, *, context: Any = None,
                     batch_size: int = 65536) -> np.ndarray:
    """``log q(x_i | c_i)`` for every row ``x_i`` of ``x``, ``batch_size`` rows per call, in float64.

    ```none
    out[i] = log q(x[i] | context[i])    context of shape [n, ...]: one row per point
    out[i] = log q(x[i] | context)       any other context: broadcast against every batch
    ```

    Args:
      distribution: any ``tfd.Distribution`` (a conditional flow when ``context`` is given).
      x: ``[n, ...event_shape]`` points; converted to the distribution's dtype.
      context: ``None`` (no ``context`` keyword is passed), ``[n, context_size]``
        (sliced with ``x``) or a context that broadcasts (e.g. ``[context_size]``).
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
    x = tf.convert_to_tensor(x, dtype=distribution.dtype)
    n = int(x.shape[0])
    if context is not None:
        context = tf.convert_to_tensor(context, dtype=distribution.dtype)
    per_row = context is not None and context.shape.rank >= 2 and int(context.shape[0]) == n
    parts = []
    for start in range(0, n, batch_size):
        rows = slice(start, start + batch_size)
        part_context = context[rows] if per_row else context
        parts.append(np.asarray(log_prob(distribution, x[rows], part_context), np.float64))
    if not parts:
        return np.zeros([0], np.float64)
    return np.concatenate(parts)


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
    try:
        log_prob(distribution, tf.convert_to_tensor(x, distribution.dtype),
                 tf.convert_to_tensor(context, distribution.dtype))
    except TypeError as error:
        if "context" not in str(error):
            raise
        raise TypeError(
            "a context needs a conditional distribution (log_prob(x, context=c)), got "
            f"{type(distribution).__name__}, which takes no context ({error}); build the flow "
            "with a context size, or train without a context.") from None
