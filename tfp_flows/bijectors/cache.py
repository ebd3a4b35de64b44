"""A bijector cache that never returns results computed with other weights.

TFP caches ``forward``/``inverse`` results keyed by the *identity* of the input
tensor. For a bijector with trainable weights that is a trap: an eager training
loop that evaluates ``log_prob(x)`` on the same data tensor after every
optimizer step gets the value of the *first* step back. :class:`WeightAwareCache`
adds a fingerprint of the bijector's variables (and whether a gradient tape is
recording) to every cache key when running eagerly, so an entry is only reused
while the weights it was computed with are unchanged. Inside ``tf.function`` a
cache entry lives for one trace, where the fingerprint is not needed.

The cache is "greedy": the bijector's ``_augmented_forward`` /
``_augmented_inverse`` return ``(output, {"ildj": ...})``, so one conditioner
pass gives both the transformed value and the log-det-Jacobian, and
``TransformedDistribution.log_prob`` (which calls ``inverse`` and then
``inverse_log_det_jacobian``) runs the conditioner once.

#### Examples

>>> import tensorflow as tf
>>> from tfp_flows.bijectors import AffineCoupling
>>> layer = AffineCoupling(2, seed=0)
>>> x = tf.constant([[1.0, 2.0]])
>>> before = layer.inverse(x)
>>> _ = [v.assign(v + 0.5) for v in layer.trainable_variables]
>>> bool(tf.reduce_all(layer.inverse(x) == layer.inverse(tf.identity(x))))
True
"""

from __future__ import annotations

import hashlib
from typing import Any

import tensorflow as tf
from tensorflow.python.eager import record
from tensorflow_probability.python.internal import cache_util

__all__ = ["WeightAwareCache"]

_TOKEN = "_tfp_flows_weights_token"


def _weights_fingerprint(module: tf.Module) -> bytes:
    """Digest of the current values of every variable of ``module``."""
    digest = hashlib.blake2b(digest_size=16)
    for variable in module.variables:
        digest.update(variable.numpy().tobytes())
    return digest.digest()


class WeightAwareCache(cache_util.BijectorCacheWithGreedyAttrs):
    """Greedy-attribute bijector cache keyed also by the current weights."""

    def _keyed(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        if self.bijector is None or not tf.executing_eagerly():
            return kwargs
        token = (_weights_fingerprint(self.bijector), record.could_possibly_record())
        return dict(kwargs, **{_TOKEN: token})

    def _lookup(self, input, forward_name, inverse_name, **kwargs):  # noqa: A002
        return super()._lookup(input, forward_name, inverse_name, **self._keyed(kwargs))

    def _attributes(self, input, fn_name, **kwargs):  # noqa: A002
        return super()._attributes(input, fn_name, **self._keyed(kwargs))

    def _invoke(self, input, fn_name, kwargs, attributes):  # noqa: A002
        kwargs = {k: v for k, v in kwargs.items() if k != _TOKEN}
        return super()._invoke(input, fn_name, kwargs, attributes)
