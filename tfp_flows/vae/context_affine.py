"""``ContextAffine``: the amortised Gaussian as a conditional layer, ``z = mu(c) + sigma(c) eps``.

The last layer of every VAE posterior built by name (:mod:`tfp_flows.vae.posteriors`): its
location and log-scale are the first ``2 d`` entries of the context (the encoder's output),
so on a standard normal base it is the usual diagonal Gaussian ``q(z | x) = N(mu, diag sigma^2)``
of a VAE, and flow layers under it (IAF, Real NVP, splines), all reading the same context,
make it a flow posterior (Kingma et al. 2016, sec. 4).

```none
y = mu + exp(s) * x,      mu = c[..., :d],  s = c[..., d:2d]
x = (y - mu) * exp(-s),   log|det dy/dx| = sum_i s_i,   ildj = -sum_i s_i
```

It has no weights: the network that computes ``c`` (the VAE's encoder) holds them.

#### Examples

>>> import numpy as np
>>> layer = ContextAffine(2, context_size=5)
>>> c = tf.constant([[1.0, -1.0, 0.0, np.log(2.0), 7.0]])   # mu = (1, -1), sigma = (1, 2)
>>> y, log_det = layer.forward_and_log_det(tf.ones([1, 2]), context=c)   # one pass
>>> y.numpy().tolist(), round(float(log_det[0]), 4)                     # log 2
([[2.0, 1.0]], 0.6931)
"""

from __future__ import annotations

import tensorflow as tf

from tfp_flows._internal.checks import check_integer
from tfp_flows.bijectors.base import FlowBijector, broadcast_batch

__all__ = ["ContextAffine"]


class ContextAffine(FlowBijector):
    """``y = c[..., :d] + exp(c[..., d:2d]) * x``: an affine map whose parameters are the context.

    Args:
      event_size: ``d``, the size of the vectors it maps.
      context_size: the context's width ``k >= 2 d``; entries past ``2 d`` are not read
        here (the flow layers on top read them).
      validate_args: check inputs are finite.
      dtype: ``tf.float32`` or ``tf.float64``.
      name: the layer's name.
    """

    def __init__(
        self,
        event_size: int,
        context_size: int,
        *,
        validate_args: bool = False,
        dtype: tf.DType = tf.float32,
        name: str = "context_affine",
    ):
        parameters = dict(locals())
        event_size = check_integer("event_size", event_size)
        context_size = check_integer("context_size", context_size)
        if context_size < 2 * event_size:
            raise ValueError(
                f"{name}: the context holds the location and the log-scale of {event_size} "
                f"entries, so context_size must be at least {2 * event_size}, got {context_size}."
            )
        super().__init__(
            event_size,
            parameters=parameters,
            name=name,
            validate_args=validate_args,
            dtype=dtype,
            context_size=context_size,
        )

    def _location_and_log_scale(self, x, context):
        x, context = broadcast_batch(x, context)
        d = self.event_size
        return x, context[..., :d], context[..., d : 2 * d]

    def _forward_and_ildj(self, x, context=None):
        x, loc, log_scale = self._location_and_log_scale(x, context)
        return loc + tf.exp(log_scale) * x, -tf.reduce_sum(log_scale, axis=-1)

    def _inverse_and_ildj(self, y, context=None):
        y, loc, log_scale = self._location_and_log_scale(y, context)
        return (y - loc) * tf.exp(-log_scale), -tf.reduce_sum(log_scale, axis=-1)
