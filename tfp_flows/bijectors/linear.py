"""A learned invertible linear map in LU form, and the LU maths it shares with ``Conv1x1``.

``W = P L U``: ``P`` a fixed permutation, ``L`` unit lower-triangular, ``U``
upper-triangular with diagonal ``signs * exp(log_diag)`` (fixed signs, default
all +1), so ``W`` is invertible for every value of the parameters and
``log|det W| = sum(log_diag)``. The strictly lower part of ``L`` and the
strictly upper part of ``U`` share one ``[n, n]`` variable ``lower_upper``.
:func:`lu_factors`, :func:`lu_matmul` and :func:`lu_solve` act on rows
``[m, n]``; :func:`lu_parameters` factors a given matrix (Glow starts its 1x1
convolution at a random rotation, :func:`random_rotation`).

#### Examples

>>> w = random_rotation(3, seed=0)
>>> permutation, lower_upper, log_diag, signs = lu_parameters(w)
>>> lower, upper = lu_factors(tf.constant(lower_upper), tf.constant(log_diag), signs)
>>> rows = tf.constant(np.eye(3))
>>> bool(np.allclose(lu_matmul(rows, lower, upper, permutation), rows @ w.T))  # x -> W x, row by row
True
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfp_flows._internal.naming import unique_name
from tfp_flows.bijectors.base import FlowBijector

__all__ = ["LULinear", "lu_factors", "lu_matmul", "lu_parameters", "lu_solve", "random_rotation"]


def lu_factors(
    lower_upper: tf.Tensor, log_diag: tf.Tensor, signs: np.ndarray | None = None
) -> tuple[tf.Tensor, tf.Tensor]:
    """``(L, U)``: ``L`` = strictly lower part of ``lower_upper`` + ``I``,
    ``U`` = its strictly upper part + ``diag(signs * exp(log_diag))``."""
    n = lower_upper.shape[-1]
    diagonal = (
        tf.exp(log_diag) if signs is None else tf.constant(signs, log_diag.dtype) * tf.exp(log_diag)
    )
    # Masks and the identity as constants: 7 graph operations, where band parts, tf.eye and
    # tf.linalg.diag traced 28 (an LULinear sits between every two layers of real_nvp).
    below = np.tril(np.ones([n, n], bool), -1)
    eye = tf.constant(np.eye(n), lower_upper.dtype)
    lower = tf.where(below, lower_upper, eye)
    upper = tf.where(below.T, lower_upper, eye * diagonal)
    return lower, upper


def lu_matmul(
    rows: tf.Tensor, lower: tf.Tensor, upper: tf.Tensor, permutation: np.ndarray
) -> tf.Tensor:
    """``y = P L U x`` for every row ``x`` of ``rows`` ``[m, n]``: ``y_i = (L U x)_{permutation[i]}``."""
    return tf.gather(
        tf.matmul(rows, tf.matmul(lower, upper), transpose_b=True), permutation, axis=-1
    )


def lu_solve(
    rows: tf.Tensor, lower: tf.Tensor, upper: tf.Tensor, permutation: np.ndarray
) -> tf.Tensor:
    """``x = U^{-1} L^{-1} P^T y`` for every row ``y`` of ``rows`` ``[m, n]`` (two triangular solves)."""
    unpermuted = tf.gather(rows, np.argsort(permutation).astype(np.int32), axis=-1)
    z = tf.linalg.triangular_solve(lower, tf.transpose(unpermuted), lower=True)
    return tf.transpose(tf.linalg.triangular_solve(upper, z, lower=False))


def lu_parameters(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(permutation, lower_upper, log_diag, signs)`` with ``matrix = P L U`` (partial pivoting).

    ``P`` in the convention of :func:`lu_matmul`; raises ``ValueError`` for a
    singular matrix.
    """
    a = np.array(matrix, dtype=np.float64)
    n = a.shape[0]
    if a.shape != (n, n):
        raise ValueError(f"lu_parameters needs a square matrix, got shape {a.shape}.")
    rows = np.arange(n)
    for k in range(n):
        pivot = k + int(np.argmax(np.abs(a[k:, k])))
        if a[pivot, k] == 0.0:
            raise ValueError("lu_parameters needs an invertible matrix, got a singular one.")
        a[[k, pivot]], rows[[k, pivot]] = a[[pivot, k]], rows[[pivot, k]]
        a[k + 1 :, k] /= a[k, k]
        a[k + 1 :, k + 1 :] -= np.outer(a[k + 1 :, k], a[k, k + 1 :])
    # matrix[rows] = L U, so (matrix x)_{rows[k]} = (L U x)_k
    diagonal = np.diag(a).copy()
    lower_upper = a - np.diag(diagonal)
    return (
        np.argsort(rows).astype(np.int32),
        lower_upper,
        np.log(np.abs(diagonal)),
        np.sign(diagonal),
    )


def random_rotation(n: int, seed: int | None = None) -> np.ndarray:
    """A random ``n x n`` orthogonal matrix (Haar measure: QR of a Gaussian matrix, signs fixed)."""
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(n, n)))
    return q * np.sign(np.diag(r))


class LULinear(FlowBijector):
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
      validate_args: check inputs for NaN and inf (raise ``InvalidArgumentError``).

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
        validate_args: bool = False,
    ):
        parameters = dict(locals())
        name = name or unique_name("lu_linear")
        super().__init__(
            event_size,
            is_constant_jacobian=True,
            validate_args=validate_args,
            dtype=dtype,
            parameters=parameters,
            name=name,
        )
        permutation = np.arange(event_size) if permutation is None else np.asarray(permutation)
        if sorted(permutation.tolist()) != list(range(event_size)):
            raise ValueError(f"permutation must reorder range({event_size}), got {permutation}.")
        self._permutation = permutation.astype(np.int32)
        with tf.name_scope(name):
            # strictly-lower part: L; strictly-upper part: U; diagonal unused (see log_diag)
            self.lower_upper = tf.Variable(
                tf.zeros([event_size, event_size], dtype), name="lower_upper"
            )
            self.log_diag = tf.Variable(tf.zeros([event_size], dtype), name="log_diag")

    def _ldj(self, x):
        return tf.broadcast_to(tf.reduce_sum(self.log_diag), tf.shape(x)[:-1])

    def _forward_and_ildj(self, x):
        lower, upper = lu_factors(self.lower_upper, self.log_diag)
        rows = lu_matmul(tf.reshape(x, [-1, self._event_size]), lower, upper, self._permutation)
        return tf.reshape(rows, tf.shape(x)), -self._ldj(x)

    def _inverse_and_ildj(self, y):
        lower, upper = lu_factors(self.lower_upper, self.log_diag)
        rows = lu_solve(tf.reshape(y, [-1, self._event_size]), lower, upper, self._permutation)
        return tf.reshape(rows, tf.shape(y)), -self._ldj(y)
