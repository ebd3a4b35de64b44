"""A learned invertible linear map in LU form (Glow's "invertible 1x1 convolution")."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfp_flows.bijectors.base import VectorBijector
from tfp_flows.naming import unique_name

__all__ = ["LULinear"]


class LULinear(VectorBijector):
    """``y = W x`` with ``W = P L U``: mixes every entry of the event with every other.

    ``P`` is a fixed permutation, ``L`` unit lower-triangular and ``U``
    upper-triangular with diagonal ``exp(log_diag)`` (so ``W`` is always
    invertible). Coupling layers transform along fixed axes; a learned
    linear map between them lets each coupling act along learned directions.

    ```none
    forward:  y = P L U x
    inverse:  x = U^{-1} L^{-1} P^T y          (two triangular solves)
    forward_log_det_jacobian = sum(log_diag) = -inverse_log_det_jacobian
    ```

    Starts at the identity (``P = I`` unless ``permutation`` is given). The map
    is linear, so ``is_constant_jacobian`` is ``True`` and a flow of such layers
    has TFP's closed-form ``mean()`` and ``covariance()``.

    Args:
      event_size: size of the event.
      permutation: optional fixed permutation of ``range(event_size)`` for ``P``.
      dtype: ``tf.float32`` or ``tf.float64``.
      name: layer name (default: the next free ``lu_linear``, ``lu_linear_1``, ...).

    #### Examples

    >>> layer = LULinear(2)
    >>> layer.forward(tf.constant([[1.0, 2.0]])).numpy().tolist()  # identity at first
    [[1.0, 2.0]]
    >>> _ = layer.lower_upper.assign([[2.0, 1.0], [0.5, 0.0]])  # off-diagonals of L and U
    >>> layer.forward(tf.constant([[1.0, 2.0]])).numpy().tolist()   # [[1, 1], [0.5, 1.5]] x
    [[3.0, 3.5]]
    """

    def __init__(
        self,
        event_size: int,
        permutation: np.ndarray | None = None,
        dtype: tf.DType = tf.float32,
        name: str | None = None,
    ):
        parameters = dict(locals())
        name = name or unique_name("lu_linear")
        super().__init__(event_size, is_constant_jacobian=True, dtype=dtype,
                         parameters=parameters, name=name)
        permutation = np.arange(event_size) if permutation is None else np.asarray(permutation)
        if sorted(permutation.tolist()) != list(range(event_size)):
            raise ValueError(f"permutation must reorder range({event_size}), got {permutation}.")
        self._permutation = permutation.astype(np.int32)
        self._inverse_permutation = np.argsort(permutation).astype(np.int32)
        with tf.name_scope(name):
            # strictly-lower part: L; strictly-upper part: U; diagonal unused (see log_diag)
            self.lower_upper = tf.Variable(tf.zeros([event_size, event_size], dtype),
                                           name="lower_upper")
            self.log_diag = tf.Variable(tf.zeros([event_size], dtype), name="log_diag")

    def _factors(self):
        n = self._event_size
        strict_lower = tf.linalg.band_part(self.lower_upper, -1, 0) - tf.linalg.band_part(
            self.lower_upper, 0, 0)
        lower = strict_lower + tf.eye(n, dtype=self.dtype)
        upper = (tf.linalg.band_part(self.lower_upper, 0, -1)
                 - tf.linalg.band_part(self.lower_upper, 0, 0) + tf.linalg.diag(tf.exp(self.log_diag)))
        return lower, upper

    def _ldj(self, x):
        return tf.broadcast_to(tf.reduce_sum(self.log_diag), tf.shape(x)[:-1])

    def _as_rows(self, x):
        return tf.reshape(x, [-1, self._event_size]), tf.shape(x)

    def _forward_and_ildj(self, x):
        lower, upper = self._factors()
        rows, shape = self._as_rows(x)
        y = tf.reshape(tf.matmul(rows, tf.matmul(lower, upper), transpose_b=True), shape)  # W x
        return tf.gather(y, self._permutation, axis=-1), -self._ldj(x)

    def _inverse_and_ildj(self, y):
        lower, upper = self._factors()
        rows, shape = self._as_rows(tf.gather(y, self._inverse_permutation, axis=-1))
        z = tf.linalg.triangular_solve(lower, tf.transpose(rows), lower=True)
        x = tf.linalg.triangular_solve(upper, z, lower=False)
        return tf.reshape(tf.transpose(x), shape), -self._ldj(y)
