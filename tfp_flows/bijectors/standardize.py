"""An exact, invertible data normalisation fitted to the data: ``x = loc + scale * u``."""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from tfp_flows.bijectors.base import VectorBijector

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
    ``fit`` adapts every not yet adapted ``Standardize`` of a flow before training.

    Args:
      event_size: size of the event.
      dtype: ``tf.float32`` or ``tf.float64``.
      name: layer name.

    #### Examples

    >>> import numpy as np
    >>> layer = Standardize(2)
    >>> layer.adapt(np.array([[0.0, 10.0], [2.0, 30.0]]))
    >>> layer.inverse(tf.constant([[1.0, 20.0]])).numpy().tolist()
    [[0.0, 0.0]]
    >>> float(layer.forward_log_det_jacobian(tf.zeros([1, 2]), event_ndims=1)[0])  # log(1 * 10)
    2.3025851249694824
    """

    def __init__(self, event_size: int, dtype: tf.DType = tf.float32, name: str = "standardize"):
        parameters = dict(locals())
        super().__init__(
            event_size, is_constant_jacobian=True, dtype=dtype, parameters=parameters, name=name)
        with tf.name_scope(name):
            self.loc = tf.Variable(tf.zeros([event_size], dtype), trainable=False, name="loc")
            self.log_scale = tf.Variable(
                tf.zeros([event_size], dtype), trainable=False, name="log_scale")
            self.adapted = tf.Variable(False, trainable=False, name="adapted")

    def adapt(self, data: Any, min_scale: float = 1e-6) -> None:
        """Sets ``loc`` to the mean of ``data`` and ``scale`` to its standard deviation."""
        data = np.asarray(data, dtype=self.dtype.as_numpy_dtype).reshape(-1, self.loc.shape[0])
        if data.shape[0] == 0:
            raise ValueError("Standardize.adapt needs at least one data row, got none.")
        self.loc.assign(data.mean(axis=0))
        self.log_scale.assign(np.log(np.maximum(data.std(axis=0), min_scale)))
        self.adapted.assign(True)

    def _ldj(self, x):
        return tf.broadcast_to(tf.reduce_sum(self.log_scale), tf.shape(x)[:-1])

    def _forward_and_ildj(self, u):
        return self.loc + tf.exp(self.log_scale) * u, -self._ldj(u)

    def _inverse_and_ildj(self, x):
        return (x - self.loc) * tf.exp(-self.log_scale), -self._ldj(x)
