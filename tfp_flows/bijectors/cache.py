"""No cache: the package's layers compute every call from the current weights.

TFP caches ``forward``/``inverse`` results keyed by the bijector and the *identity*
of the input tensor. For a bijector whose weights are variables that cache can
return a result computed with other weights: ``layer.inverse(y)`` of a tensor seen
before an optimizer step, ``log_prob(s)`` of samples drawn before an update, or a
value cached before an ``assign`` inside one ``tf.function``. Versioning the
weights to key the cache needs TensorFlow internals (buffer addresses, the ops
traced into a graph) and still has to be proved fresh case by case.

The package takes the way of distrax, flowjax and zuko instead: nothing is
cached, so nothing can go stale. What the cache used to buy, one conditioner
pass for a value and its log-det, comes from the one-pass hooks themselves:

```none
layer.forward_and_log_det(x)  -> (y, log|det dy/dx|)     one pass
layer.inverse_and_log_det(y)  -> (x, log|det dx/dy|)     one pass
```

which :class:`~tfp_flows.Flow` calls through its chain
(:func:`~tfp_flows.bijectors.walk.inverse_and_log_det`), so ``log_prob``,
``sample`` and ``experimental_sample_and_log_prob`` each run every conditioner
once. A direct ``layer.inverse(y)`` followed by
``layer.inverse_log_det_jacobian(y)`` runs the layer twice, as zuko's
``transform.inv(y)`` and ``transform.inv.log_abs_det_jacobian`` would.

:class:`NoCache` is the object a TFP ``Bijector`` looks for in ``self._cache``:
``forward``/``inverse`` call the bijector's ``_forward``/``_inverse``, and the
attribute dictionaries (where TFP keeps a computed log-det) start empty at every
call.

#### Examples

>>> import tensorflow as tf
>>> from tfp_flows.bijectors import AffineCoupling
>>> from tfp_flows.nn import MLPFactory
>>> layer = AffineCoupling(2, MLPFactory(seed=0))
>>> y = tf.constant([[1.0, 2.0]])
>>> before = layer.inverse(y)
>>> _ = [v.assign(v + 0.5) for v in layer.trainable_variables]
>>> bool(tf.reduce_all(layer.inverse(y) == layer.inverse(tf.identity(y))))  # the same tensor y
True
"""

from __future__ import annotations

from typing import Any

__all__ = ["NoCache"]


class _Uncached:
    """:class:`NoCache` bound to one bijector: every call computes."""

    __slots__ = ("bijector",)

    def __init__(self, bijector: Any):
        self.bijector = bijector

    def forward(self, x: Any, **kwargs: Any) -> Any:
        return self.bijector._forward(x, **kwargs)

    def inverse(self, y: Any, **kwargs: Any) -> Any:
        return self.bijector._inverse(y, **kwargs)

    def forward_attributes(self, x: Any, **kwargs: Any) -> dict[str, Any]:
        return {}

    def inverse_attributes(self, y: Any, **kwargs: Any) -> dict[str, Any]:
        return {}


class NoCache:
    """A bijector "cache" that keeps nothing: set ``_cache = NoCache()`` on a bijector class.

    Every ``forward``/``inverse`` and log-det is computed from its input and
    the bijector's current weights; no result outlives its call.

    #### Examples

    >>> import tensorflow as tf
    >>> from tensorflow_probability import bijectors as tfb
    >>> class Shifted(tfb.Shift):
    ...     _cache = NoCache()
    >>> shift = tf.Variable(1.0)
    >>> bijector, x = Shifted(shift), tf.constant([0.0])
    >>> first = bijector.forward(x)
    >>> _ = shift.assign(5.0)
    >>> float(first[0]), float(bijector.forward(x)[0])
    (1.0, 5.0)
    """

    def __get__(self, bijector: Any, owner: type | None = None) -> Any:
        return self if bijector is None else _Uncached(bijector)
