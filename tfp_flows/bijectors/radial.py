"""Radial flow layer (Rezende & Mohamed, 2015): contracts or expands around a learned centre.

```none
forward:  y = x + beta h(alpha, r) (x - x0),    r = ||x - x0||,   h(alpha, r) = 1 / (alpha + r)
log|det dy/dx| = (d - 1) log(1 + beta h) + log(1 + beta h + beta h'(r) r)
               = (d - 1) log((alpha + beta + r) / (alpha + r)) + log(1 + alpha beta / (alpha + r)^2)
```

With ``alpha > 0`` and ``beta >= -alpha`` the radius ``r -> r (alpha + beta + r) / (alpha + r)``
is increasing, so the map is invertible (appendix A.2 of the paper) and its
inverse has a closed form: a quadratic in ``r``.

#### References

[1]: Danilo Jimenez Rezende, Shakir Mohamed. Variational Inference with
     Normalizing Flows. ICML 2015. https://arxiv.org/abs/1505.05770
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import tensorflow as tf

from tfp_flows._internal.checks import check_floating_dtype, check_integer
from tfp_flows._internal.naming import unique_name
from tfp_flows.bijectors.base import FlowBijector
from tfp_flows.nn.mlp import MLP, amortised_network, amortised_parameters

__all__ = ["Radial"]

_SOFTPLUS_INVERSE_OF_ONE = float(np.log(np.expm1(1.0)))  # softplus(.) = 1


def _norm(z: tf.Tensor) -> tf.Tensor:
    """``||z||`` over the last axis without overflow (scaled by ``max |z_i|``, so 1e20 in
    float32 stays finite), with a finite (zero) gradient at ``z = 0``."""
    largest = tf.reduce_max(tf.abs(z), axis=-1)
    positive = largest > 0
    scale = tf.where(positive, largest, tf.ones_like(largest))
    scaled = tf.reduce_sum(tf.square(z / scale[..., None]), axis=-1)  # in [1, d] unless z = 0
    return tf.where(
        positive,
        scale * tf.sqrt(tf.where(positive, scaled, tf.ones_like(scaled))),
        tf.zeros_like(largest),
    )


def _hypot(p: tf.Tensor, q_squared: tf.Tensor) -> tf.Tensor:
    """``sqrt(p^2 + q_squared)`` for ``q_squared >= 0`` without overflow: scaled by
    ``max(|p|, 1)``."""
    scale = tf.maximum(tf.abs(p), tf.ones_like(p))
    return scale * tf.sqrt(tf.square(p / scale) + q_squared / scale / scale)


class Radial(FlowBijector):
    """Radial flow layer ``y = x + beta (x - x0) / (alpha + ||x - x0||)`` on vectors.

    ```none
    alpha = softplus(raw_alpha) > 0,     beta = -alpha + softplus(raw_beta) >= -alpha
    forward:  y = x0 + (1 + beta / (alpha + r)) (x - x0),            r = ||x - x0||
    inverse:  r = the root >= 0 of  r^2 + (alpha + beta - r_y) r - alpha r_y = 0,   r_y = ||y - x0||
              x = x0 + (alpha + r) / (alpha + beta + r) (y - x0)
    forward_log_det_jacobian(x) = (d - 1) log(1 + beta / (alpha + r)) + log(1 + alpha beta / (alpha + r)^2)
    ```

    The quadratic's roots have product ``-alpha r_y <= 0``, so exactly one is
    non-negative; with ``p = alpha + beta - r_y`` it is computed without
    cancellation as ``(-p + sqrt(p^2 + 4 alpha r_y)) / 2`` when ``p < 0`` and
    ``2 alpha r_y / (p + sqrt(p^2 + 4 alpha r_y))`` otherwise. At the centre
    (``x = x0``, ``r = 0``) values and gradients are finite: the map is there
    the scaling ``1 + beta / alpha`` (``||.||`` has a zero gradient at 0).

    Initialisation: ``raw_alpha = raw_beta = log(e - 1)`` (``alpha = 1``,
    ``beta = 0``: the identity, so a fresh flow is ``N(0, I)``) and the centre
    ``x0`` (the variable ``center``) seeded ``N(0, I)``: ``beta`` gets a gradient ``(x - x0) / (alpha + r)`` at
    the first step, and the layers of a flow start at different centres (at a
    common centre they would start out symmetric).

    A conditional layer (``context_size = k > 0``) adds the output of an
    :class:`~tfp_flows.bijectors.MLP` ``c -> (dx0, draw_alpha, draw_beta)``
    (last layer at zero) to ``(center, raw_alpha, raw_beta)``: one radial map per
    context, as in amortised variational inference. The context broadcasts
    against the batch.

    Args:
      event_size: size ``d`` of the vector event.
      context_size: width ``k`` of the context (0: unconditional).
      hidden_units, activation: of the context MLP (used only if ``k > 0``).
      seed: seed of the centre and of the context MLP.
      validate_args: check inputs and context are finite.
      dtype: ``tf.float32`` or ``tf.float64``.
      name: layer name (default: the next free ``radial``, ``radial_1``, ...).

    #### Examples

    >>> layer = Radial(2, seed=0)
    >>> layer.forward(tf.constant([[1.0, 2.0]])).numpy().tolist()  # identity at first
    [[1.0, 2.0]]
    >>> _ = layer.center.assign([0.0, 0.0])
    >>> _ = layer.raw_beta.assign(2.0)                 # beta = softplus(2) - 1 = 1.127
    >>> y = layer.forward(tf.constant([[3.0, 4.0]]))   # r = 5: scaled by 1 + beta / 6
    >>> y.numpy().tolist(), layer.inverse(y).numpy().tolist()
    ([[3.5635, 4.7513]], [[3.0, 4.0]])

    #### References

    [1]: Danilo Jimenez Rezende, Shakir Mohamed. Variational Inference with
         Normalizing Flows. ICML 2015. https://arxiv.org/abs/1505.05770
    """

    def __init__(
        self,
        event_size: int,
        *,
        context_size: int = 0,
        hidden_units: Sequence[int] = (32, 32),
        activation: str | Callable[[tf.Tensor], tf.Tensor] = "tanh",
        seed: int | None = None,
        validate_args: bool = False,
        dtype: tf.DType = tf.float32,
        name: str | None = None,
    ):
        parameters = dict(locals())
        name = name or unique_name("radial")
        dtype = check_floating_dtype(dtype, name)
        event_size = check_integer(f"{name}: event_size", event_size, minimum=1)
        context_size = check_integer(f"{name}: context_size", context_size, minimum=0)
        super().__init__(
            event_size,
            validate_args=validate_args,
            dtype=dtype,
            parameters=parameters,
            name=name,
            context_size=context_size,
        )
        rng = np.random.default_rng(seed)
        with tf.name_scope(name):
            self.center = tf.Variable(rng.normal(size=[event_size]), dtype=dtype, name="center")
            self.raw_alpha = tf.Variable(_SOFTPLUS_INVERSE_OF_ONE, dtype=dtype, name="raw_alpha")
            self.raw_beta = tf.Variable(_SOFTPLUS_INVERSE_OF_ONE, dtype=dtype, name="raw_beta")
            self._conditioner = amortised_network(
                context_size, event_size + 2, hidden_units, activation, seed, dtype
            )

    @property
    def conditioner(self) -> MLP | None:
        """The context network ``c -> (dx0, draw_alpha, draw_beta)`` (``None``: unconditional)."""
        return self._conditioner

    def constrained_parameters(
        self,
        context: tf.Tensor | None = None,
    ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """``(x0, alpha, beta)`` of shapes ``[..., d]``, ``[...]``, ``[...]``: ``alpha > 0``, ``beta >= -alpha``.

        The leading ``...`` is the context's batch shape (empty for an
        unconditional layer).
        """
        d = self.event_size
        raw = tf.concat([self.center, self.raw_alpha[None], self.raw_beta[None]], axis=0)
        params = amortised_parameters(raw, self._conditioner, context)
        alpha = tf.math.softplus(params[..., d])
        beta = tf.math.softplus(params[..., d + 1]) - alpha
        return params[..., :d], alpha, beta

    def _log_det(self, r, alpha, beta):
        """``log|det dy/dx|`` at radius ``r`` (of ``x``), see the class docstring."""
        return (self.event_size - 1) * (
            tf.math.log(alpha + beta + r) - tf.math.log(alpha + r)
        ) + tf.math.log1p(alpha * beta / tf.square(alpha + r))

    def _forward_and_ildj(self, x, context=None):
        x0, alpha, beta = self.constrained_parameters(context)
        z = x - x0
        r = _norm(z)
        y = x + (beta / (alpha + r))[..., None] * z
        return y, -self._log_det(r, alpha, beta)

    def _inverse_and_ildj(self, y, context=None):
        x0, alpha, beta = self.constrained_parameters(context)
        z_y = y - x0
        r_y = _norm(z_y)
        p = alpha + beta - r_y
        root = _hypot(p, 4.0 * alpha * r_y)  # p^2 overflows float32 from r_y ~ 1e19
        # the non-negative root, without cancellation (p + root = 0 only at y = x0, r = 0)
        denominator = p + root
        safe = tf.where(denominator > 0, denominator, tf.ones_like(denominator))
        r = tf.where(p >= 0, 2.0 * alpha * r_y / safe, 0.5 * (root - p))
        denominator = alpha + beta + r
        scale = (alpha + r) / tf.where(denominator > 0, denominator, tf.ones_like(denominator))
        x = x0 + scale[..., None] * z_y
        return x, -self._log_det(r, alpha, beta)
