"""An exact, invertible data normalisation fitted to the data: ``x = loc + scale * u``."""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from tfp_flows._internal.naming import unique_name
from tfp_flows.bijectors.adaptive import feature_statistics
from tfp_flows.bijectors.base import FlowBijector

__all__ = ["Standardize"]


class Standardize(FlowBijector):
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
    It follows the adaptation protocol (:mod:`~tfp_flows.bijectors.adaptive`):
    ``fit`` and ``FlowModel.fit`` adapt every not yet adapted ``Standardize``
    (and ``ActNorm``, ``BatchNorm``) layer of a flow before training
    (:func:`~tfp_flows.training.adapt_layers`).

    Args:
      event_size: size of the event.
      dtype: ``tf.float32`` or ``tf.float64``.
      name: layer name (default: the next free ``standardize``, ``standardize_1``, ...).
      validate_args: check inputs for NaN and inf (raise ``InvalidArgumentError``).

    #### Examples

    >>> import numpy as np
    >>> layer = Standardize(2)
    >>> layer.adapt(np.array([[0.0, 10.0], [2.0, 30.0]]))
    >>> layer.inverse(tf.constant([[1.0, 20.0]])).numpy().tolist()
    [[0.0, 0.0]]
    >>> float(layer.forward_log_det_jacobian(tf.zeros([1, 2]), event_ndims=1)[0])  # log(1 * 10)
    2.3025851249694824
    """

    def __init__(
        self,
        event_size: int,
        dtype: tf.DType = tf.float32,
        name: str | None = None,
        validate_args: bool = False,
    ):
        parameters = dict(locals())
        name = name or unique_name("standardize")
        super().__init__(
            event_size,
            is_constant_jacobian=True,
            validate_args=validate_args,
            dtype=dtype,
            parameters=parameters,
            name=name,
        )
        with tf.name_scope(name):
            self.loc = tf.Variable(tf.zeros([event_size], dtype), trainable=False, name="loc")
            self.log_scale = tf.Variable(
                tf.zeros([event_size], dtype), trainable=False, name="log_scale"
            )
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
        loc, log_scale = feature_statistics(
            data,
            self.event_shape,
            self.dtype,
            "Standardize.adapt: data",
            "build the flow without standardisation (standardize=False)",
        )
        self.loc.assign(loc)
        self.log_scale.assign(log_scale)
        self.adapted.assign(True)

    def _ldj(self, x):
        return tf.broadcast_to(tf.reduce_sum(self.log_scale), tf.shape(x)[:-1])

    def _forward_and_ildj(self, u):
        return self.loc + tf.exp(self.log_scale) * u, -self._ldj(u)

    def _inverse_and_ildj(self, x):
        return (x - self.loc) * tf.exp(-self.log_scale), -self._ldj(x)
