"""``FlowChain``: the ``tfb.Chain`` of a flow's layers, with a cache that never goes stale.

``tfb.Chain`` caches its own ``forward``/``inverse`` results keyed by the chain
(by equality) and the input tensor, above the caches of its layers: after a
weight update, ``chain.forward(x)`` of a tensor seen before, or
``flow.log_prob(s)`` of samples drawn before, would return the old value.
:class:`FlowChain` is a ``tfb.Chain`` in every other respect; its cache keys
carry the weights state of every layer (see :mod:`tfp_flows.bijectors.cache`)
and it equals only itself. It extends the class that ``tfb.Chain(layers)``
itself returns for layers that are not ``CompositeTensor`` s (TFP's ``_Chain``):
a ``tfb.Chain`` subclass would be an auto-composite tensor, and a
``TransformedDistribution`` around it would not track its variables.
"""

from __future__ import annotations

from typing import Any

from tensorflow_probability.python.bijectors.chain import _Chain

from tfp_flows.bijectors.cache import WeightAwareValueCache

__all__ = ["FlowChain"]


class FlowChain(_Chain):
    """A ``tfb.Chain`` whose cached results are keyed by the current weights of its layers.

    ```none
    forward(x) = b_1(b_2(... b_n(x)))        (bijectors[-1] is applied first)
    log|det J(x)| = sum_k log|det J_{b_k}|
    ```

    #### Examples

    >>> import tensorflow as tf
    >>> from tfp_flows.bijectors import AffineCoupling
    >>> chain = FlowChain([AffineCoupling(2, seed=0), AffineCoupling([0, 1], seed=1)])
    >>> x = tf.constant([[0.5, -1.0]])
    >>> y = chain.forward(x)
    >>> _ = [v.assign(v + 0.1) for v in chain.trainable_variables]
    >>> bool(tf.reduce_all(chain.forward(x) == chain.forward(tf.identity(x))))  # not the old y
    True
    >>> chain == FlowChain(chain.bijectors)   # equal only to itself
    False
    """

    _cache = WeightAwareValueCache()

    def __eq__(self, other: Any) -> bool:
        return self is other

    def __hash__(self) -> int:
        return id(self)
