"""A fixed reordering of the entries of a vector event: volume preserving, no weights."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from tfp_flows._internal.checks import check_integer
from tfp_flows._internal.naming import unique_name
from tfp_flows.bijectors.base import FlowBijector

__all__ = ["Permute"]


def _check_permutation(permutation: Sequence[int] | np.ndarray, name: str) -> np.ndarray:
    """``permutation`` as an int32 array if it reorders ``range(n)``, ``n >= 1``."""
    array = np.asarray(permutation)
    if (
        array.ndim != 1
        or array.size == 0
        or array.dtype.kind not in "iu"
        or sorted(array.tolist()) != list(range(array.size))
    ):
        raise ValueError(
            f"{name}: permutation must be a reordering of range(n) such as [2, 0, 1], got "
            f"{permutation!r}."
        )
    return array.astype(np.int32)


class Permute(FlowBijector):
    """``y = x[..., permutation]``: entry ``i`` of ``y`` is entry ``permutation[i]`` of ``x``.

    ```none
    forward:  y_i = x_{p(i)}
    inverse:  x_j = y_{p^{-1}(j)}                   (p^{-1} = argsort(p))
    forward_log_det_jacobian = inverse_log_det_jacobian = 0
    ```

    A permutation matrix is linear, so ``is_constant_jacobian`` is ``True``.
    Between layers that transform fixed coordinates (couplings, autoregressive
    layers) it changes which coordinates the next layer sees, for free. Unlike
    ``tfb.Permute`` it is a :class:`~tfp_flows.bijectors.FlowBijector`: a
    fixed event size, inputs checked.

    Args:
      permutation: a reordering of ``range(n)``; ``n`` is the event size.
      validate_args: check inputs are finite.
      dtype: ``tf.float32`` or ``tf.float64``.
      name: layer name (default: the next free ``permute``, ``permute_1``, ...).

    #### Examples

    >>> layer = Permute([2, 0, 1])
    >>> layer.forward(tf.constant([[10.0, 20.0, 30.0]])).numpy().tolist()
    [[30.0, 10.0, 20.0]]
    >>> layer.inverse(tf.constant([[30.0, 10.0, 20.0]])).numpy().tolist()
    [[10.0, 20.0, 30.0]]
    >>> Permute.reverse(3).permutation.tolist(), Permute.random(3, seed=5).permutation.tolist()
    ([2, 1, 0], [1, 2, 0])
    """

    def __init__(
        self,
        permutation: Sequence[int] | np.ndarray,
        *,
        validate_args: bool = False,
        dtype: tf.DType = tf.float32,
        name: str | None = None,
    ):
        parameters = dict(locals())
        name = name or unique_name("permute")
        self._permutation = _check_permutation(permutation, name)
        self._inverse_permutation = np.argsort(self._permutation).astype(np.int32)
        parameters["permutation"] = self._permutation
        super().__init__(
            len(self._permutation),
            is_constant_jacobian=True,
            validate_args=validate_args,
            dtype=dtype,
            parameters=parameters,
            name=name,
        )

    @classmethod
    def reverse(cls, event_size: int, **kwargs) -> Permute:
        """The reversal ``[n - 1, ..., 1, 0]`` (keyword arguments as the constructor's)."""
        event_size = check_integer("event_size", event_size, minimum=1)
        return cls(np.arange(event_size)[::-1], **kwargs)

    @classmethod
    def random(cls, event_size: int, seed: int | None = None, **kwargs) -> Permute:
        """A uniformly random order, fixed by ``seed`` (``numpy.random.default_rng(seed)``)."""
        event_size = check_integer("event_size", event_size, minimum=1)
        if seed is not None:
            seed = check_integer("seed", seed, minimum=0)
        return cls(np.random.default_rng(seed).permutation(event_size), **kwargs)

    @property
    def permutation(self) -> np.ndarray:
        """The order ``p``: ``y_i = x_{p(i)}``."""
        return self._permutation

    def _zeros(self, x):
        return tf.zeros(tf.shape(x)[:-1], dtype=self.dtype)

    def _forward_and_ildj(self, x):
        return tf.gather(x, self._permutation, axis=-1), self._zeros(x)

    def _inverse_and_ildj(self, y):
        return tf.gather(y, self._inverse_permutation, axis=-1), self._zeros(y)
