"""The adaptation protocol: layers whose statistics are fitted to data before training.

A layer is *adaptive* when it has

* ``adapted``: a non-trainable boolean ``tf.Variable`` (so a checkpoint keeps
  it), ``False`` until the layer is fitted;
* ``adapt(outputs)``: sets the layer's statistics from samples ``outputs`` in
  its *output* coordinates -- the forward, data-side ones -- and sets
  ``adapted`` to ``True``; on any error nothing changes.

:class:`~tfp_flows.bijectors.Standardize`,
:class:`~tfp_flows.bijectors.ActNorm` and
:class:`~tfp_flows.bijectors.BatchNorm` are adaptive. They all fit one
per-feature (per channel for ``[H, W, C]`` events) location and scale:

```none
loc_c   = mean of outputs[..., c]  over the rows (and H, W)
scale_c = std  of outputs[..., c]  over the same values
inverse after adapt:  u[..., c] = (y[..., c] - loc_c) / scale_c   (zero mean, unit variance)
```

:func:`feature_statistics` computes and checks them (non-finite values, a
constant feature, a scale the dtype cannot hold). Which layer sees which rows
(data pushed through the layers between it and the data) is
:func:`tfp_flows.training.adapt_layers`'s business.

#### Examples

>>> from tfp_flows.bijectors import ActNorm, Standardize
>>> is_adaptive(Standardize(2)), is_adaptive(ActNorm(2)), is_adaptive(tf.Module())
(True, True, False)
>>> loc, log_scale = feature_statistics([[0.0, 1.0], [2.0, 5.0]], (2,), tf.float32)
>>> loc.tolist(), np.exp(log_scale).tolist()
([1.0, 3.0], [1.0, 2.0])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import tensorflow as tf

__all__ = ["Adaptive", "feature_statistics", "is_adaptive"]


@runtime_checkable
class Adaptive(Protocol):
    """What an adaptive layer has: an ``adapted`` flag and ``adapt(outputs)`` (see the module)."""

    adapted: tf.Variable

    def adapt(self, outputs: Any) -> None:
        """Fits the layer's statistics to ``outputs`` (its forward-side coordinates)."""


def is_adaptive(layer: Any) -> bool:
    """Whether ``layer`` follows the adaptation protocol (``adapted`` variable and ``adapt``)."""
    return isinstance(getattr(layer, "adapted", None), tf.Variable) and callable(
        getattr(layer, "adapt", None)
    )


def feature_statistics(
    data: Any,
    event_shape: Sequence[int],
    dtype: tf.DType,
    what: str = "data",
    hint: str = "build the flow without this layer",
) -> tuple[np.ndarray, np.ndarray]:
    """``(loc, log_scale)`` per feature (last axis) of ``data``, in ``dtype``, checked.

    ```none
    loc_c = (1/m) sum_i v_ic,    log_scale_c = log sqrt((1/m) sum_i (v_ic - loc_c)^2)
    ```

    over the ``m`` values ``v_ic`` of feature ``c``: the rows for a vector
    event ``[n]``, the rows times ``H * W`` for an image ``[H, W, C]``. The
    statistics are computed from the values the layer will see (``data`` cast to
    ``dtype``), in ``dtype``, or in float64 where that overflows.

    Args:
      data: ``[rows, *event_shape]`` real numbers.
      event_shape: the layer's event shape.
      dtype: the layer's dtype.
      what: how errors name the data (e.g. ``"Standardize.adapt: data"``).
      hint: the last remedy offered for a constant feature or too few rows.

    Raises:
      TypeError: ``data`` is not real numbers.
      ValueError: a wrong shape, fewer than 2 values per feature, a non-finite
        value or one beyond ``dtype``'s range, a constant feature, or a scale
        ``dtype`` cannot hold together with its inverse.
    """
    event_shape = tuple(int(d) for d in event_shape)
    features = event_shape[-1]
    feature = "column" if len(event_shape) == 1 else "channel"
    array = np.asarray(data)
    if array.dtype == bool or not (
        np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
    ):
        raise TypeError(f"{what} must be real numbers, got dtype {array.dtype}.")
    if array.ndim <= len(event_shape) - 1 or tuple(array.shape[-len(event_shape) :]) != event_shape:
        expected = ", ".join(["n", *(str(d) for d in event_shape)])
        raise ValueError(f"{what} must have shape [{expected}], got shape {array.shape}.")
    array = array.reshape(-1, features).astype(np.float64)
    n = array.shape[0]
    unit = "rows" if len(event_shape) == 1 else "values per channel"
    if n < 2:
        raise ValueError(
            f"{what} must have at least 2 {unit} to estimate a scale, got {n}; pass more rows, "
            f"or {hint}."
        )
    info = np.finfo(dtype.as_numpy_dtype)
    bad = ~np.isfinite(array) | (np.abs(array) > info.max)
    if bad.any():
        value_index, column = (int(i) for i in np.argwhere(bad)[0])
        row = value_index // int(np.prod(event_shape[:-1]))  # values per row of one feature
        value = array[value_index, column]
        if np.isfinite(value):
            raise ValueError(
                f"{what} must fit in {dtype.name} (|x| <= {info.max:.3g}), got {value:.6g} in row "
                f"{row}, {feature} {column}; rescale the data or build the flow with "
                "dtype=tf.float64."
            )
        raise ValueError(
            f"{what} must be finite, got {value} in row {row}, {feature} {column}; "
            "remove or impute non-finite rows."
        )
    array = array.astype(dtype.as_numpy_dtype).astype(np.float64)  # the values the layer sees
    constant = np.flatnonzero(array.min(axis=0) == array.max(axis=0))
    if constant.size:
        columns = (
            f"{feature} {constant[0]}" if constant.size == 1 else f"{feature}s {constant.tolist()}"
        )
        values = ", ".join(f"{array[0, j]:.6g}" for j in constant)
        constants = "the constant" if constant.size == 1 else "the constants"
        raise ValueError(
            f"{what} {columns} must vary, got {constants} {values} in all {n} {unit}; drop the "
            f"{feature} (a constant has no density a flow can fit), add noise to it "
            f"(dequantise), or {hint}."
        )
    # In the layer's dtype when that is finite (the statistics training has always used: the
    # trained flows and the benchmark figures stay bit for bit); in float64 when it overflows.
    with np.errstate(over="ignore", invalid="ignore"):
        native = array.astype(dtype.as_numpy_dtype)
        loc, scale = native.mean(axis=0), native.std(axis=0)
    if not (np.all(np.isfinite(loc)) and np.all(np.isfinite(scale))):
        loc, scale = _mean_and_std(array)
    # exp(log_scale), exp(-log_scale) and the standardised data must all be finite in `dtype`.
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        log_scale = np.log(scale).astype(dtype.as_numpy_dtype)
        loc_d = loc.astype(dtype.as_numpy_dtype)
        usable = (
            np.isfinite(np.exp(log_scale))
            & (np.exp(log_scale) > 0)
            & np.isfinite(np.exp(-log_scale))
            & np.all(
                np.isfinite((array.astype(dtype.as_numpy_dtype) - loc_d) * np.exp(-log_scale)),
                axis=0,
            )
        )
    if not usable.all():
        column = int(np.flatnonzero(~usable)[0])
        raise ValueError(
            f"{what} {feature} {column} must have a standard deviation {dtype.name} can hold "
            f"together with its inverse, got {scale[column]:.6g}; rescale the data or build the "
            "flow with dtype=tf.float64."
        )
    return loc_d, log_scale


def _mean_and_std(array: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column means and standard deviations in float64, without overflow for |x| near 1e308."""
    with np.errstate(over="ignore", invalid="ignore"):
        loc = array.mean(axis=0)
        scale = np.sqrt(np.mean(np.square(array - loc), axis=0))
    if np.all(np.isfinite(loc)) and np.all(np.isfinite(scale)):
        return loc, scale
    size = np.max(np.abs(array), axis=0)  # > 0: constant columns were refused
    unit = array / size
    unit_loc = unit.mean(axis=0)
    with np.errstate(over="ignore"):
        return size * unit_loc, size * np.sqrt(np.mean(np.square(unit - unit_loc), axis=0))
