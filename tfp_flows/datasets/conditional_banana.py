"""The banana whose curvature is the context: a conditional target with an exact density."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import tensorflow as tf

from tfp_flows.datasets.banana import Banana
from tfp_flows.datasets.base import ConditionalTarget
from tfp_flows.datasets.numerics import LOG_2PI

__all__ = ["ConditionalBanana"]


class ConditionalBanana(ConditionalTarget):
    """The banana `p(x | b)` with the curvature `b` as context (`context_size = 1`).

    Event `x = (x1, x2)`, context `b` of shape `[..., 1]`:

        x2 ~ N(0, std2^2),    x1 | x2, b ~ N(b x2^2, 1),

        log p(x | b) = -((x1 - b x2^2)^2 + (x2 / std2)^2) / 2 - log(2 pi) - log(std2),
        H(b)         = log(2 pi e) + log(std2)      (= 4.2242 nats for std2 = 4, every b).

    `x = T_b(z) = (z1 + b (std2 z2)^2, std2 z2)` with `z ~ N(0, I)` is a shear
    after a scaling: its Jacobian determinant is `std2` whatever `b`, so the
    entropy does not depend on the context.  `p(. | b)` is `Banana(std2,
    curvature=b)`, which `given(b)` returns for a single context value.  Any
    finite real `b` is a valid context (`b = 0` is a Gaussian, `b < 0` the
    mirrored banana); non-finite values raise `ValueError`.

    Training pairs: `sample_pairs(n, seed)` returns `(x, b)` with
    `b ~ Uniform(b_range)` of shape `[n, 1]` and `x ~ p(. | b)` of shape
    `[n, 2]` (one event per context).

    #### Examples

    >>> target = ConditionalBanana(b_range=(0.05, 0.5))
    >>> x, b = target.sample_pairs(1000, seed=0)
    >>> x.shape, b.shape
    (TensorShape([1000, 2]), TensorShape([1000, 1]))
    >>> target.log_prob([0.0, 0.0], context=[[0.05], [0.5]]).shape
    TensorShape([2])
    >>> print(f"{float(target.entropy(context=[0.25])):.4f}")
    4.2242
    >>> target.sample(3, seed=1, context=[0.25]).shape
    TensorShape([3, 2])
    """

    event_size = 2
    context_size = 1

    def __init__(
        self,
        b_range: tuple[float, float] = (0.05, 0.5),
        std2: float = 4.0,
        dtype: Any = tf.float32,
        name: str = "ConditionalBanana",
    ) -> None:
        parameters = dict(locals())
        low, high = (float(v) for v in b_range)
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ValueError(
                f"b_range must be two finite numbers (low, high) with low < high, got {b_range!r}."
            )
        if not std2 > 0:
            raise ValueError(f"std2 must be positive, got {std2!r}.")
        self._b_range = (low, high)
        self._std2 = float(std2)
        super().__init__(dtype=dtype, parameters=parameters, name=name)

    @property
    def b_range(self) -> tuple[float, float]:
        """The interval `(low, high)` of the uniform context law used by `sample_pairs`."""
        return self._b_range

    @property
    def std2(self) -> float:
        """Standard deviation of the Gaussian coordinate `x2`."""
        return self._std2

    def given(self, context: Any) -> Banana:
        """`p(x | b)` for one context value `b` (a number or shape `[1]`), as a `Banana`."""
        values = np.asarray(tf.get_static_value(self.validate_context(np.reshape(context, [-1]))))
        if values.size != 1:
            raise ValueError(f"given() takes a single context value, got shape {values.shape}.")
        return Banana(std2=self._std2, curvature=float(values[0]), dtype=self.dtype)

    def _sample_context(self, n, seed):
        low, high = self._b_range
        return tf.random.stateless_uniform(
            [n, 1], seed=seed, minval=low, maxval=high, dtype=self.dtype
        )

    def _sample_given(self, n, seed, context):
        shape = tf.concat([[n], tf.shape(context)[:-1], [2]], axis=0)
        z = tf.random.stateless_normal(shape, seed=seed, dtype=self.dtype)
        x2 = self._std2 * z[..., 1]
        return tf.stack([z[..., 0] + context[..., 0] * x2**2, x2], axis=-1)

    def _log_prob_given(self, x, context):
        x1, x2 = x[..., 0], x[..., 1]
        u = x1 - context[..., 0] * x2**2
        return -0.5 * (u**2 + (x2 / self._std2) ** 2) - LOG_2PI - math.log(self._std2)

    def _entropy_given(self, context):
        value = tf.constant(1.0 + LOG_2PI + math.log(self._std2), self.dtype)
        return tf.fill(tf.shape(context)[:-1], value)
