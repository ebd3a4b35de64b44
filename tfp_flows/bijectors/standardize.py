"""An exact, invertible data normalisation fitted to the data: ``x = loc + scale * u``."""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from tfp_flows.bijectors.base import VectorBijector
from tfp_flows.naming import unique_name

__all__ = ["Standardize"]


class Standardize(VectorBijector):
    """Elementwise affine map from standardised to data coordinates, fitted by :meth:`adapt`.

    ```none
    forward:  x = loc + exp(log_scale) * u
    inverse:  u = (x - loc) * exp(-log_scale)
    forward_log_det_jacobian = sum(log_scale) = -inverse_log_det_jacobian
    ```

    ``loc`` and ``log_scale`` are non-trainable variables that start at the
    identity (0 and 0). ``adapt(data)`` sets them to the data's mean and
    ``log(std)``, so a flow ending in this layer learns in standardised
    coordinates while its ``log_prob`` stays exact in the data's coordinates.
    ``fit`` and ``FlowModel.fit`` adapt a flow's ``Standardize`` layer before training
    when the flow has exactly one that is not adapted yet.

    Args:
      event_size: size of the event.
      dtype: ``tf.float32`` or ``tf.float64``.
      name: layer name (default: the next free ``standardize``, ``standardize_1``, ...).

    #### Examples

    >>> import numpy as np
    >>> layer = Standardize(2)
    >>> layer.adapt(np.array([[0.0, 10.0], [2.0, 30.0]]))
    >>> layer.inverse(tf.constant([[1.0, 20.0]])).numpy().tolist()
    [[0.0, 0.0]]
    >>> float(layer.forward_log_det_jacobian(tf.zeros([1, 2]), event_ndims=1)[0])  # log(1 * 10)
    2.3025851249694824
    """

    def __init__(self, event_size: int, dtype: tf.DType = tf.float32, name: str | None = None):
        parameters = dict(locals())
        name = name or unique_name("standardize")
        super().__init__(
            event_size, is_constant_jacobian=True, dtype=dtype, parameters=parameters, name=name)
        with tf.name_scope(name):
            self.loc = tf.Variable(tf.zeros([event_size], dtype), trainable=False, name="loc")
            self.log_scale = tf.Variable(
                tf.zeros([event_size], dtype), trainable=False, name="log_scale")
            self.adapted = tf.Variable(False, trainable=False, name="adapted")

    def adapt(self, data: Any) -> None:
        """Sets ``loc`` to the mean of ``data`` and ``scale`` to its standard deviation.

        ```none
        loc_j = (1/n) sum_i x_ij,    scale_j = sqrt((1/n) sum_i (x_ij - loc_j)^2)
        ```

        The statistics are computed from the values the layer will see
        (``data`` cast to the layer's dtype), in that dtype, or in float64 where
        that overflows (an outlier of 1e20 in float32), and checked before
        anything is assigned: on any error the layer keeps its previous state.

        Args:
          data: ``[n, event_size]`` real numbers, ``n >= 2``.

        Raises:
          TypeError: ``data`` is not real numbers.
          ValueError: a wrong shape, fewer than 2 rows, a non-finite value or one
            beyond the layer dtype's range, a constant column (no scale to
            standardise by), or a scale the layer's dtype cannot hold.

        #### Examples

        >>> layer = Standardize(2)
        >>> layer.adapt([[1.0, 5.0], [3.0, 5.0]])
        Traceback (most recent call last):
        ...
        ValueError: Standardize.adapt: data column 1 must vary, got the constant 5 in all 2 rows; drop the column (a constant has no density a flow can fit), add noise to it (dequantise), or build the flow without standardisation (standardize=False).
        >>> bool(layer.adapted.numpy())  # unchanged by the failed call
        False
        """
        loc, log_scale = _statistics(data, self.loc.shape[0], self.dtype)
        self.loc.assign(loc)
        self.log_scale.assign(log_scale)
        self.adapted.assign(True)

    def _ldj(self, x):
        return tf.broadcast_to(tf.reduce_sum(self.log_scale), tf.shape(x)[:-1])

    def _forward_and_ildj(self, u):
        return self.loc + tf.exp(self.log_scale) * u, -self._ldj(u)

    def _inverse_and_ildj(self, x):
        return (x - self.loc) * tf.exp(-self.log_scale), -self._ldj(x)


def _statistics(data: Any, event_size: int, dtype: tf.DType) -> tuple[np.ndarray, np.ndarray]:
    """``(loc, log_scale)`` of ``data`` in ``dtype``, computed in float64 and checked."""
    what = "Standardize.adapt: data"
    array = np.asarray(data)
    if array.dtype == bool or not (np.issubdtype(array.dtype, np.integer)
                                   or np.issubdtype(array.dtype, np.floating)):
        raise TypeError(f"{what} must be real numbers, got dtype {array.dtype}.")
    if array.ndim == 0 or array.shape[-1] != event_size:
        raise ValueError(f"{what} must have shape [n, {event_size}], got shape {array.shape}.")
    array = array.reshape(-1, event_size).astype(np.float64)
    n = array.shape[0]
    if n < 2:
        raise ValueError(
            f"{what} must have at least 2 rows to estimate a scale, got {n}; pass more rows, or "
            "build the flow without standardisation (standardize=False).")
    info = np.finfo(dtype.as_numpy_dtype)
    bad = ~np.isfinite(array) | (np.abs(array) > info.max)
    if bad.any():
        row, column = (int(i) for i in np.argwhere(bad)[0])
        value = array[row, column]
        if np.isfinite(value):
            raise ValueError(
                f"{what} must fit in {dtype.name} (|x| <= {info.max:.3g}), got {value:.6g} in row "
                f"{row}, column {column}; rescale the data or build the flow with "
                "dtype=tf.float64.")
        raise ValueError(f"{what} must be finite, got {value} in row {row}, column {column}; "
                         "remove or impute non-finite rows.")
    array = array.astype(dtype.as_numpy_dtype).astype(np.float64)  # the values the layer sees
    constant = np.flatnonzero(array.min(axis=0) == array.max(axis=0))
    if constant.size:
        columns = (f"column {constant[0]}" if constant.size == 1
                   else f"columns {constant.tolist()}")
        values = ", ".join(f"{array[0, j]:.6g}" for j in constant)
        constants = "the constant" if constant.size == 1 else "the constants"
        raise ValueError(
            f"{what} {columns} must vary, got {constants} {values} in all {n} rows; drop the "
            "column (a constant has no density a flow can fit), add noise to it (dequantise), or "
            "build the flow without standardisation (standardize=False).")
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
        usable = (np.isfinite(np.exp(log_scale)) & (np.exp(log_scale) > 0)
                  & np.isfinite(np.exp(-log_scale))
                  & np.all(np.isfinite((array.astype(dtype.as_numpy_dtype) - loc_d)
                                       * np.exp(-log_scale)), axis=0))
    if not usable.all():
        column = int(np.flatnonzero(~usable)[0])
        raise ValueError(
            f"{what} column {column} must have a standard deviation {dtype.name} can hold "
            f"together with its inverse, got {scale[column]:.6g}; rescale the data or build the "
            "flow with dtype=tf.float64.")
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
