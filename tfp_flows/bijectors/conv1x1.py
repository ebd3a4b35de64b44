"""``Conv1x1``: Glow's invertible 1x1 convolution, a learned channel mixing in LU form."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from tfp_flows._internal.naming import unique_name
from tfp_flows.bijectors.base import FlowBijector
from tfp_flows.bijectors.linear import (
    lu_factors,
    lu_matmul,
    lu_parameters,
    lu_solve,
    random_rotation,
)

__all__ = ["Conv1x1"]


class Conv1x1(FlowBijector):
    """``y[h, w, :] = W x[h, w, :]``: one invertible ``C x C`` matrix applied at every pixel.

    ``W = P L U`` as in :class:`~tfp_flows.bijectors.LULinear` (the same maths,
    :mod:`~tfp_flows.bijectors.linear`): ``P`` a fixed permutation, ``L`` unit
    lower-triangular, ``U`` upper-triangular with diagonal
    ``signs * exp(log_diag)`` (fixed signs), so ``W`` stays invertible and its
    log-determinant costs ``O(C)``:

    ```none
    forward:  y[..., h, w, :] = W x[..., h, w, :]
    inverse:  x[..., h, w, :] = U^{-1} L^{-1} P^T y[..., h, w, :]
    forward_log_det_jacobian = H W log|det W| = H W sum(log_diag) = -inverse_log_det_jacobian
    ```

    Glow puts one between an ActNorm and an affine coupling in every step: a
    learned generalisation of reversing the channels, so that every channel
    gets transformed and conditions in turn. The map is linear
    (``is_constant_jacobian`` is ``True``).

    Args:
      event_shape: ``(H, W, C)``.
      seed: ``None`` to start at ``W = P`` (the identity unless ``permutation``
        is given); an integer to start, as Glow does, at a random rotation
        (factored once; its ``P`` and the signs of ``U``'s diagonal stay fixed).
      permutation: a fixed permutation of ``range(C)`` for ``P`` (with ``seed=None``).
      validate_args: check inputs are finite.
      dtype: ``tf.float32`` or ``tf.float64``.
      name: layer name (default: the next free ``conv1x1``, ``conv1x1_1``, ...).

    #### Examples

    >>> layer = Conv1x1((2, 2, 3), seed=0)            # a random rotation: log|det W| = 0
    >>> x = tf.random.stateless_normal([5, 2, 2, 3], seed=[0, 1])
    >>> y = layer.forward(x)
    >>> bool(tf.reduce_all(tf.abs(layer.inverse(y) - x) < 1e-5))
    True
    >>> _ = layer.log_diag.assign([0.5, 0.0, 0.0])    # det W scaled by e^0.5, at 4 pixels
    >>> float(layer.forward_log_det_jacobian(x, event_ndims=3)[0])
    2.0

    #### References

    [1]: Diederik P. Kingma, Prafulla Dhariwal. Glow: Generative Flow with
         Invertible 1x1 Convolutions. NeurIPS 2018. https://arxiv.org/abs/1807.03039
    """

    def __init__(
        self,
        event_shape: Sequence[int],
        *,
        seed: int | None = None,
        permutation: Sequence[int] | np.ndarray | None = None,
        validate_args: bool = False,
        dtype: tf.DType = tf.float32,
        name: str | None = None,
    ):
        parameters = dict(locals())
        name = name or unique_name("conv1x1")
        super().__init__(
            event_shape,
            is_constant_jacobian=True,
            validate_args=validate_args,
            dtype=dtype,
            parameters=parameters,
            name=name,
        )
        if len(self.event_shape) != 3:
            raise ValueError(
                f"{name}: expected an image event_shape (H, W, C), got {list(self.event_shape)}."
            )
        channels = self.event_shape[-1]
        if seed is not None and permutation is not None:
            raise ValueError(
                f"{name}: give seed= (a random rotation, its own P) or "
                "permutation= (a fixed P), not both."
            )
        if seed is not None:
            permutation, lower_upper, log_diag, signs = lu_parameters(
                random_rotation(channels, seed)
            )
        else:
            permutation = np.arange(channels) if permutation is None else np.asarray(permutation)
            if sorted(permutation.tolist()) != list(range(channels)):
                raise ValueError(
                    f"{name}: permutation must reorder range({channels}), got {permutation}."
                )
            lower_upper, log_diag, signs = (
                np.zeros([channels, channels]),
                np.zeros([channels]),
                np.ones([channels]),
            )
        self._permutation = np.asarray(permutation, np.int32)
        self._signs = np.asarray(signs, self.dtype.as_numpy_dtype)
        with tf.name_scope(name):
            self.lower_upper = tf.Variable(lower_upper, dtype=self.dtype, name="lower_upper")
            self.log_diag = tf.Variable(log_diag, dtype=self.dtype, name="log_diag")

    @property
    def matrix(self) -> tf.Tensor:
        """The current ``C x C`` matrix ``W = P L U``."""
        lower, upper = lu_factors(self.lower_upper, self.log_diag, self._signs)
        return tf.gather(tf.matmul(lower, upper), self._permutation, axis=0)

    def _ildj(self, x: tf.Tensor) -> tf.Tensor:
        pixels = self.event_shape[0] * self.event_shape[1]
        return tf.broadcast_to(-pixels * tf.reduce_sum(self.log_diag), tf.shape(x)[:-3])

    def _map(self, x: tf.Tensor, step) -> tf.Tensor:
        lower, upper = lu_factors(self.lower_upper, self.log_diag, self._signs)
        rows = step(tf.reshape(x, [-1, self.event_shape[-1]]), lower, upper, self._permutation)
        return tf.reshape(rows, tf.shape(x))

    def _forward_and_ildj(self, x):
        return self._map(x, lu_matmul), self._ildj(x)

    def _inverse_and_ildj(self, y):
        return self._map(y, lu_solve), self._ildj(y)
