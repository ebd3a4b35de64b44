"""The 4 x 4 checkerboard (FFJORD): a uniform density on the dark squares."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_flows.datasets.base import Target2D

__all__ = ["Checkerboard"]


class Checkerboard(Target2D):
    """Uniform density on the dark squares of a 4 x 4 checkerboard (FFJORD).

    The board is `[-half_width, half_width)^2` cut into 4 x 4 squares of side
    `s = half_width / 2`; square `(i, j) = (floor(x1 / s), floor(x2 / s))` is
    dark when `i + j` is even.  The 8 dark squares have total area
    `2 half_width^2`, so

        log p(x) = -log(2 half_width^2) on dark squares, -inf elsewhere,
        H = log(2 half_width^2)          (= log 32 = 3.4657 for the default 4).

    The gradient of `log_prob` is zero (returned as zeros, not `None`).  With `half_width = 4` this is FFJORD's `checkerboard` toy.

    #### Examples

    >>> target = Checkerboard()
    >>> target.sample(5, seed=0).shape
    TensorShape([5, 2])
    >>> target.log_prob([[0.5, 0.5], [0.5, -0.5]]).numpy().tolist()
    [-3.465735912322998, -inf]
    """

    def __init__(
        self, half_width: float = 4.0, dtype: Any = tf.float32, name: str = "Checkerboard"
    ) -> None:
        parameters = dict(locals())
        if half_width <= 0:
            raise ValueError("half_width must be positive.")
        self._half_width = float(half_width)
        super().__init__(dtype=dtype, parameters=parameters, name=name)

    @property
    def half_width(self) -> float:
        """The board is `[-half_width, half_width)^2`."""
        return self._half_width

    def _sample_stateless(self, n, seed):
        cell_seed, pos_seed = tfp.random.split_seed(seed)
        k = tf.random.stateless_uniform([n], seed=cell_seed, minval=0, maxval=8, dtype=tf.int32)
        i = k % 4
        j = 2 * (k // 4) + i % 2  # i + j even
        cells = tf.cast(tf.stack([i, j], axis=-1), self.dtype)
        side = self._half_width / 2.0
        return (cells + self._uniform([n, 2], pos_seed)) * side - self._half_width

    def _log_prob_2d(self, x):
        side = self._half_width / 2.0
        inside = tf.reduce_all(
            tf.logical_and(x >= -self._half_width, x < self._half_width), axis=-1
        )
        cells = tf.floor(x / side)
        dark = tf.equal(tf.math.floormod(cells[..., 0] + cells[..., 1], 2.0), 0.0)
        log_density = tf.constant(-math.log(2.0 * self._half_width**2), self.dtype)
        # `0 * x` keeps log_prob connected to `x`: its gradient is zeros, not None.
        log_density = log_density + 0.0 * tf.reduce_sum(x, axis=-1)
        return tf.where(tf.logical_and(inside, dark), log_density, -np.inf)

    def _entropy(self):
        return tf.constant(math.log(2.0 * self._half_width**2), dtype=self.dtype)
