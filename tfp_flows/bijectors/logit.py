"""``Logit``: Real NVP's logit preprocessing of pixels in ``[0, 1]``, with its exact log-det."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from tfp_flows._internal.checks import check_number
from tfp_flows._internal.naming import unique_name
from tfp_flows.bijectors.base import FlowBijector


def _tiny(dtype: tf.DType) -> float:
    """The smallest positive normal number of ``dtype``."""
    return float(np.finfo(dtype.as_numpy_dtype).tiny)


__all__ = ["Logit"]


class Logit(FlowBijector):
    """Pixels in ``[0, 1]`` to logit space: ``y = logit(alpha + (1 - 2 alpha) x)``, elementwise.

    ```none
    forward:  s = alpha + (1 - 2 alpha) x,          y = log s - log(1 - s)
    inverse:  x = (sigmoid(y) - alpha) / (1 - 2 alpha)
    forward_log_det_jacobian(x) = sum_i [log(1 - 2 alpha) - log s_i - log(1 - s_i)]
    inverse_log_det_jacobian(y) = sum_i [log sigmoid(y_i) + log sigmoid(-y_i)] - D log(1 - 2 alpha)
    ```

    summed over the ``D`` entries of the event. ``alpha`` keeps the pixels
    ``0`` and ``1`` away from the poles of the logit: ``[0, 1]`` maps onto
    ``[logit(alpha), logit(1 - alpha)]`` (``+-2.944`` for ``alpha = 0.05``, the
    value of Real NVP, sec. 4.1). ``forward`` is defined on the wider interval
    ``(-alpha / (1 - 2 alpha), (1 - alpha) / (1 - 2 alpha))`` that ``inverse``
    maps ``R`` onto. Outside it the pixel density is zero: ``forward`` returns
    the logit of the nearest representable point (finite, with finite
    gradients) and ``forward_log_det_jacobian`` is ``-inf``, so ``log_prob``
    of a flow behind ``tfb.Invert(Logit(...))`` is ``-inf`` there, never NaN.

    A density on pixels: with a flow ``q`` on ``y``, ``tfb.Invert(Logit(...))``
    on top of it gives ``p(x) = q(y(x)) |det dy/dx|``, a density on the
    dequantised pixels
    (``tfp_flows.images.dequantization.with_logit_preprocessing`` builds it).
    That density lives on the wider interval above, so it integrates to
    ``q(y in [logit(alpha), logit(1 - alpha)]^D) <= 1`` over ``[0, 1]^D``: the
    mass a model puts outside is lost, and bits/dim computed from ``p`` are
    those of a (slightly) defective model, never better than the truth.

    Args:
      event_shape: the pixels' event shape, e.g. ``(8, 8, 1)`` or ``64``.
      alpha: the margin, ``0 < alpha < 0.5`` (default ``0.05``).
      validate_args: check inputs are finite.
      dtype: ``tf.float32`` or ``tf.float64``.
      name: layer name (default: the next free ``logit``, ``logit_1``, ...).

    #### Examples

    >>> import numpy as np
    >>> layer = Logit(2, alpha=0.05)
    >>> np.round(layer.forward(tf.constant([[0.0, 0.5]])).numpy(), 4).tolist()   # logit(0.05), 0
    [[-2.9444, 0.0]]
    >>> np.round(layer.inverse(tf.constant([[-2.944439, 0.0]])).numpy(), 4).tolist()
    [[0.0, 0.5]]
    >>> # at x = 0.5: s = 0.5, so the log-det is 2 * [log 0.9 - 2 log 0.5]
    >>> round(float(layer.forward_log_det_jacobian(tf.constant([[0.5, 0.5]]), event_ndims=1)[0]), 4)
    2.5619

    #### References

    [1]: Laurent Dinh, Jascha Sohl-Dickstein, Samy Bengio. Density estimation
         using Real NVP. ICLR 2017, section 4.1. https://arxiv.org/abs/1605.08803
    """

    def __init__(
        self,
        event_shape: int | Sequence[int],
        *,
        alpha: float = 0.05,
        validate_args: bool = False,
        dtype: tf.DType = tf.float32,
        name: str | None = None,
    ):
        parameters = dict(locals())
        name = name or unique_name("logit")
        self._alpha = check_number(
            f"{name}: alpha", alpha, "a number with 0 < alpha < 0.5", lambda a: 0.0 < a < 0.5
        )
        super().__init__(
            event_shape, validate_args=validate_args, dtype=dtype, parameters=parameters, name=name
        )

    @property
    def alpha(self) -> float:
        """The margin ``alpha``: ``[0, 1]`` maps onto ``[logit(alpha), logit(1 - alpha)]``."""
        return self._alpha

    def _sum_event(self, values: tf.Tensor) -> tf.Tensor:
        return tf.reduce_sum(values, axis=list(range(-len(self.event_shape), 0)))

    def _log_det_scale(self) -> float:
        """``D log(1 - 2 alpha)``: the affine part's log-det."""
        return self.event_size * math.log1p(-2.0 * self._alpha)

    def _forward_and_ildj(self, x):
        alpha = tf.constant(self._alpha, self.dtype)
        slope = 1.0 - 2.0 * alpha
        s, one_minus_s = alpha + slope * x, (1.0 - alpha) - slope * x
        inside = (s > 0.0) & (one_minus_s > 0.0)
        # Outside the domain the logit is undefined: evaluate it at a point inside (so
        # neither the value nor the gradient is NaN) and give the entry zero density.
        tiny = tf.constant(_tiny(self.dtype), self.dtype)
        log_s = tf.math.log(tf.where(inside, s, tf.clip_by_value(s, tiny, 1.0)))
        log_one_minus_s = tf.math.log(
            tf.where(inside, one_minus_s, tf.clip_by_value(one_minus_s, tiny, 1.0))
        )
        y = log_s - log_one_minus_s
        outside = tf.constant(math.inf, self.dtype)
        ildj = (
            self._sum_event(tf.where(inside, log_s + log_one_minus_s, outside))
            - self._log_det_scale()
        )
        return y, ildj

    def _inverse_and_ildj(self, y):
        alpha = tf.constant(self._alpha, self.dtype)
        x = (tf.sigmoid(y) - alpha) / (1.0 - 2.0 * alpha)
        ildj = (
            self._sum_event(tf.math.log_sigmoid(y) + tf.math.log_sigmoid(-y))
            - self._log_det_scale()
        )
        return x, ildj
