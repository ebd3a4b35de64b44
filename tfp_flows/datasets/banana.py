"""The banana: a Gaussian bent by a quadratic shift (closed-form density and entropy)."""

from __future__ import annotations

import math
from typing import Any

import tensorflow as tf

from tfp_flows.datasets.base import Target2D
from tfp_flows.datasets.numerics import LOG_2PI

__all__ = ["Banana"]


class Banana(Target2D):
    """Banana-shaped density: a Gaussian bent by a quadratic shift.

    `x2 ~ N(0, std2^2)` and `x1 | x2 ~ N(curvature * x2^2, 1)`, i.e. the event
    is `(x1, x2)` with `x1` the curved coordinate.  Equivalently
    `x = T(z)`, `z ~ N(0, I)`, `T(z) = (z1 + curvature (std2 z2)^2, std2 z2)`,
    a map with constant Jacobian determinant `std2`.

        log p(x) = log N(x2; 0, std2^2) + log N(x1 - curvature x2^2; 0, 1)
        H = log(2 pi e) + log(std2)          (= 4.2242 nats for std2 = 4)

    #### Examples

    >>> target = Banana()
    >>> target.sample(5, seed=0).shape
    TensorShape([5, 2])
    >>> print(f"{float(target.entropy()):.4f}")
    4.2242
    >>> print(f"{float(target.log_prob([0.0, 0.0])):.4f}")
    -3.2242
    """

    def __init__(
        self,
        std2: float = 4.0,
        curvature: float = 0.25,
        dtype: Any = tf.float32,
        name: str = "Banana",
    ) -> None:
        parameters = dict(locals())
        if std2 <= 0:
            raise ValueError("std2 must be positive.")
        self._std2 = float(std2)
        self._curvature = float(curvature)
        super().__init__(dtype=dtype, parameters=parameters, name=name)

    @property
    def std2(self) -> float:
        """Standard deviation of the Gaussian coordinate `x2`."""
        return self._std2

    @property
    def curvature(self) -> float:
        """Coefficient `b` in `E[x1 | x2] = b * x2^2`."""
        return self._curvature

    def _sample_stateless(self, n, seed):
        z = self._normal([n, 2], seed)
        x2 = self._std2 * z[:, 1]
        return tf.stack([z[:, 0] + self._curvature * x2**2, x2], axis=-1)

    def _log_prob_2d(self, x):
        x1, x2 = x[..., 0], x[..., 1]
        u = x1 - self._curvature * x2**2
        return -0.5 * (u**2 + (x2 / self._std2) ** 2) - LOG_2PI - math.log(self._std2)

    def _entropy(self):
        return tf.constant(1.0 + LOG_2PI + math.log(self._std2), dtype=self.dtype)
