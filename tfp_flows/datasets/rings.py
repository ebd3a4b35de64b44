"""Concentric noisy rings (FFJORD) with a closed-form (Bessel) density."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import tensorflow as tf
import tensorflow_probability as tfp

from tfp_flows.datasets.base import Target2D
from tfp_flows.datasets.numerics import grid_entropy

__all__ = ["Rings"]


class Rings(Target2D):
    """Concentric noisy rings (FFJORD's `rings`), with an exact density.

    A ring `k` is chosen uniformly among `len(radii)`, an angle
    `a ~ Uniform[0, 2 pi)`, and `x = R_k (cos a, sin a) + noise * e`,
    `e ~ N(0, I)`.  Integrating the angle out gives the von Mises/Bessel form

        p(x) = (1/K) sum_k exp(-(r^2 + R_k^2) / (2 s^2)) I_0(r R_k / s^2) / (2 pi s^2)

    with `r = |x|`, `s = noise`, computed stably as
    `-(r - R_k)^2/(2 s^2) + log i0e(r R_k / s^2) - log(2 pi s^2)`.  Defaults are
    FFJORD's: radii `3 * (1, 0.75, 0.5, 0.25)` and noise 0.08.

    `entropy()` is the float64 grid quadrature with spacing `noise / 2` over
    `[-R_max - 10 noise, R_max + 10 noise]^2` (2.62318 nats for the defaults).

    #### Examples

    >>> target = Rings()
    >>> target.sample(5, seed=0).shape
    TensorShape([5, 2])
    >>> target.radii
    (3.0, 2.25, 1.5, 0.75)
    """

    entropy_method = "grid quadrature"

    def __init__(
        self,
        radii: Sequence[float] = (3.0, 2.25, 1.5, 0.75),
        noise: float = 0.08,
        dtype: Any = tf.float32,
        name: str = "Rings",
    ) -> None:
        parameters = dict(locals())
        radii = tuple(float(r) for r in radii)
        if not radii or min(radii) < 0:
            raise ValueError("radii must be a non-empty sequence of non-negative numbers.")
        if noise <= 0:
            raise ValueError("noise must be positive.")
        self._radii = radii
        self._noise = float(noise)
        super().__init__(dtype=dtype, parameters=parameters, name=name)

    @property
    def radii(self) -> tuple[float, ...]:
        """Ring radii."""
        return self._radii

    @property
    def noise(self) -> float:
        """Standard deviation of the isotropic Gaussian noise."""
        return self._noise

    def _sample_stateless(self, n, seed):
        ring_seed, angle_seed, noise_seed = tfp.random.split_seed(seed, n=3)
        k = tf.random.stateless_uniform(
            [n], seed=ring_seed, minval=0, maxval=len(self._radii), dtype=tf.int32
        )
        radius = tf.gather(tf.constant(self._radii, self.dtype), k)
        angle = 2.0 * math.pi * self._uniform([n], angle_seed)
        ring = radius[:, None] * tf.stack([tf.cos(angle), tf.sin(angle)], axis=-1)
        return ring + self._noise * self._normal([n, 2], noise_seed)

    def _log_prob_2d(self, x):
        s2 = self._noise**2
        # sqrt(max(., tiny)) keeps the gradient finite (and zero) at the origin.
        r = tf.sqrt(tf.maximum(tf.reduce_sum(x**2, axis=-1), 1e-30))[..., None]
        radii = tf.constant(self._radii, self.dtype)
        per_ring = -((r - radii) ** 2) / (2 * s2) + tf.math.log(
            tf.math.special.bessel_i0e(r * radii / s2)
        )
        return (
            tf.reduce_logsumexp(per_ring, axis=-1)
            - math.log(len(self._radii))
            - math.log(2.0 * math.pi * s2)
        )

    def _numerical_entropy(self):
        b = max(self._radii) + 10.0 * self._noise
        return grid_entropy(self._float64_twin().log_prob, (-b, -b), (b, b), self._noise / 2)
