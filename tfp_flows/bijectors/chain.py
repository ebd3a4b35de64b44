"""``FlowChain``: the ``tfb.Chain`` of a flow's layers: a cache that never goes stale, one context.

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

Context: ``chain.forward(x, context=c)`` hands the same ``c`` to every
conditional layer (every layer that :func:`takes_context`, also inside nested
chains and ``tfb.Invert``); the other layers get what ``tfb.Chain`` gives
them, their per-name keyword arguments.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf
from tensorflow_probability import bijectors as tfb
from tensorflow_probability.python.bijectors.chain import _Chain

from tfp_flows._internal.checks import check_context
from tfp_flows.bijectors.cache import WeightAwareValueCache
from tfp_flows.bijectors.walk import walk

__all__ = ["FlowChain", "context_size_of", "takes_context"]


def context_size_of(bijector: tfb.Bijector) -> int:
    """Width of the context ``bijector`` takes: 0 for unconditional bijectors.

    Looks at every layer (:func:`~tfp_flows.bijectors.walk.walk`: through chains
    and ``tfb.Invert``); the conditional layers must agree on the width.

    #### Examples

    >>> from tfp_flows.bijectors import AffineCoupling
    >>> context_size_of(tfb.Invert(AffineCoupling(2, context_size=3))), context_size_of(tfb.Exp())
    (3, 0)
    """
    sizes = {int(getattr(layer.bijector, "context_size", 0) or 0) for layer in walk(bijector)}
    sizes.discard(0)
    if len(sizes) > 1:
        raise ValueError(
            f"{bijector.name}: its conditional layers take contexts of different sizes "
            f"{sorted(sizes)}; one context must serve every layer."
        )
    return sizes.pop() if sizes else 0


def takes_context(bijector: tfb.Bijector) -> bool:
    """Whether ``bijector`` is conditional (takes ``context=``)."""
    return context_size_of(bijector) > 0


class FlowChain(_Chain):
    """A ``tfb.Chain`` whose cached results are keyed by the current weights of its layers.

    ```none
    forward(x, c) = b_1(b_2(... b_n(x, c), c), c)     (bijectors[-1] is applied first)
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
    >>> conditional = FlowChain([AffineCoupling(2, context_size=1, seed=0)])
    >>> conditional.forward(x, context=[[0.3]]).shape
    TensorShape([1, 2])
    """

    _cache = WeightAwareValueCache()

    def __init__(self, bijectors: Any, **kwargs: Any):
        super().__init__(bijectors, **kwargs)
        self._context_size = context_size_of(self)
        dtypes = [layer.bijector.dtype for layer in walk(self) if layer.bijector.dtype is not None]
        self._context_dtype = dtypes[0] if dtypes else tf.float32

    @property
    def context_size(self) -> int:
        """Width ``k`` of the context its conditional layers take (0: unconditional)."""
        return self._context_size

    def __eq__(self, other: Any) -> bool:
        return self is other

    def __hash__(self) -> int:
        return id(self)

    def _checked_kwargs(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        context = kwargs.get("context")
        if context is None:
            if self._context_size:
                raise ValueError(
                    f"{self.name}: this chain has conditional layers: pass context= of shape "
                    f"[..., {self._context_size}]."
                )
            return {k: v for k, v in kwargs.items() if k != "context"}
        if not self._context_size:
            raise ValueError(
                f"{self.name}: no layer of this chain is conditional (context_size=0), but a "
                f"context was given."
            )
        return dict(
            kwargs,
            context=check_context(context, self._context_size, self._context_dtype, self.name),
        )

    def _call_forward(self, x, name, **kwargs):
        return super()._call_forward(x, name, **self._checked_kwargs(kwargs))

    def _call_inverse(self, y, name, **kwargs):
        return super()._call_inverse(y, name, **self._checked_kwargs(kwargs))

    def _call_forward_log_det_jacobian(self, x, event_ndims, name, **kwargs):
        return super()._call_forward_log_det_jacobian(
            x, event_ndims, name, **self._checked_kwargs(kwargs)
        )

    def _call_inverse_log_det_jacobian(self, y, event_ndims, name, **kwargs):
        return super()._call_inverse_log_det_jacobian(
            y, event_ndims, name, **self._checked_kwargs(kwargs)
        )

    def _layer_kwargs(self, bijector: tfb.Bijector, kwargs: dict[str, Any]) -> dict[str, Any]:
        own = kwargs.get(bijector.name, {})
        if "context" in kwargs and takes_context(bijector):
            return dict(own, context=kwargs["context"])
        return own

    def _walk_forward(self, step_fn, x, **kwargs):
        for bijector in reversed(self._bijectors):
            x = step_fn(bijector, x, **self._layer_kwargs(bijector, kwargs))
        return x

    def _walk_inverse(self, step_fn, y, **kwargs):
        for bijector in self._bijectors:
            y = step_fn(bijector, y, **self._layer_kwargs(bijector, kwargs))
        return y
