"""``FlowChain``: a flow's layers composed, computed fresh at every call, with one context.

```none
forward(x, c) = b_1(b_2(... b_n(x, c), c), c)     (bijectors[-1] is applied first)
log|det J(x)| = sum_k log|det J_{b_k}|
```

:class:`FlowChain` is the public ``tfb.Composition`` with the routing of
``tfb.Chain`` (the same order, keyword arguments by layer name), and:

- nothing is cached (:class:`~tfp_flows.bijectors.cache.NoCache`): after a
  weight update, ``chain.forward(x)`` of a tensor seen before is the new value;
- one pass per layer for a value and its log-det: ``forward_and_log_det`` /
  ``inverse_and_log_det``, and ``forward_log_det_jacobian`` /
  ``inverse_log_det_jacobian`` alone also run each layer once (a plain
  ``tfb.Chain`` runs the inverse to find each layer's input, then each layer's
  log-det);
- equality is TFP's (``parameters`` compared: the same layers, by their own
  equality, which compares their weights by identity), so a chain equals its
  ``copy()`` and a chain of the same layers, never a chain of layers built
  apart; it is not a ``CompositeTensor``, so a distribution around it tracks
  its variables;
- context: ``chain.forward(x, context=c)`` hands the same ``c`` to every
  conditional layer (every layer that :func:`takes_context`, also inside nested
  chains and ``tfb.Invert``); the other layers get what ``tfb.Chain`` gives
  them, their per-name keyword arguments.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf
from tensorflow_probability import bijectors as tfb

from tfp_flows._internal.context import checked_context
from tfp_flows.bijectors.cache import NoCache
from tfp_flows.bijectors.walk import compose_one_pass, walk

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


class FlowChain(tfb.Composition):
    """A ``tfb.Chain`` of layers that computes every call fresh, each layer once.

    ```none
    forward(x, c) = b_1(b_2(... b_n(x, c), c), c)     (bijectors[-1] is applied first)
    log|det J(x)| = sum_k log|det J_{b_k}|
    ```

    #### Examples

    >>> import tensorflow as tf
    >>> from tfp_flows.bijectors import AffineCoupling
    >>> from tfp_flows.nn import MLPFactory
    >>> chain = FlowChain([AffineCoupling(2, MLPFactory(seed=0)), AffineCoupling([0, 1], MLPFactory(seed=1))])
    >>> x = tf.constant([[0.5, -1.0]])
    >>> y = chain.forward(x)
    >>> _ = [v.assign(v + 0.1) for v in chain.trainable_variables]
    >>> bool(tf.reduce_all(chain.forward(x) == chain.forward(tf.identity(x))))  # not the old y
    True
    >>> chain == chain.copy(), chain == FlowChain(list(chain.bijectors))  # the same layers
    (True, True)
    >>> chain == FlowChain([AffineCoupling(2, MLPFactory(seed=0)), AffineCoupling([0, 1], MLPFactory(seed=1))])
    False
    >>> y, log_det = chain.inverse_and_log_det(y, event_ndims=1)   # one pass per layer
    >>> y.shape, log_det.shape
    (TensorShape([1, 2]), TensorShape([1]))
    >>> conditional = FlowChain([AffineCoupling(2, MLPFactory(seed=0), context_size=1)])
    >>> conditional.forward(x, context=[[0.3]]).shape
    TensorShape([1, 2])
    """

    _cache = NoCache()

    def __init__(
        self,
        bijectors: Any = None,
        validate_args: bool = False,
        validate_event_size: bool = False,
        parameters: dict[str, Any] | None = None,
        name: str | None = None,
    ):
        parameters = dict(locals()) if parameters is None else parameters
        if name is None:
            name = (
                "identity"
                if not bijectors
                else "_of_".join(["chain"] + [b.name for b in bijectors])
            )
            name = name.replace("/", "")
        ndims = None if bijectors else 0  # inferred from the layers by tfb.Composition
        with tf.name_scope(name) as name:
            super().__init__(
                bijectors=list(bijectors or ()),
                validate_args=validate_args,
                validate_event_size=validate_event_size,
                forward_min_event_ndims=ndims,
                inverse_min_event_ndims=ndims,
                parameters=parameters,
                name=name,
            )
        self._context_size = context_size_of(self)
        dtypes = [layer.bijector.dtype for layer in walk(self) if layer.bijector.dtype is not None]
        self._context_dtype = dtypes[0] if dtypes else tf.float32

    @property
    def context_size(self) -> int:
        """Width ``k`` of the context its conditional layers take (0: unconditional)."""
        return self._context_size

    def _checked_kwargs(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        context = checked_context(
            kwargs.get("context"), self._context_size, self._context_dtype, self.name, kind="chain"
        )
        if context is None:
            return {k: v for k, v in kwargs.items() if k != "context"}
        return dict(kwargs, context=context)

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

    def _is_increasing(self, **kwargs):
        increasing = True
        for bijector in self.bijectors:  # desc(desc) = asc, asc(asc) = asc, otherwise desc
            increasing = tf.equal(
                increasing, bijector._internal_is_increasing(**self._layer_kwargs(bijector, kwargs))
            )
        return increasing

    def _forward_log_det_jacobian(self, x, event_ndims, **kwargs):
        return self._one_pass(x, event_ndims, forward=True, kwargs=kwargs)[1]

    def _inverse_log_det_jacobian(self, y, event_ndims, **kwargs):
        return self._one_pass(y, event_ndims, forward=False, kwargs=kwargs)[1]

    def _one_pass(self, value, event_ndims, forward, kwargs):
        route = lambda layer: self._layer_kwargs(layer, kwargs)  # noqa: E731
        return compose_one_pass(list(self.bijectors), value, event_ndims, forward, route)

    def forward_and_log_det(
        self, x: Any, event_ndims: int | None = None, name: str = "forward_and_log_det", **kwargs
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """``(forward(x), forward_log_det_jacobian(x, event_ndims))``, each layer run once.

        ``event_ndims`` defaults to ``forward_min_event_ndims``.
        """
        event_ndims = self.forward_min_event_ndims if event_ndims is None else event_ndims
        with self.name_scope, tf.name_scope(name):
            x = tf.convert_to_tensor(x, dtype_hint=self._context_dtype, name="x")
            return self._one_pass(x, event_ndims, True, self._checked_kwargs(kwargs))

    def inverse_and_log_det(
        self, y: Any, event_ndims: int | None = None, name: str = "inverse_and_log_det", **kwargs
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """``(inverse(y), inverse_log_det_jacobian(y, event_ndims))``, each layer run once.

        ``event_ndims`` defaults to ``inverse_min_event_ndims``.
        """
        event_ndims = self.inverse_min_event_ndims if event_ndims is None else event_ndims
        with self.name_scope, tf.name_scope(name):
            y = tf.convert_to_tensor(y, dtype_hint=self._context_dtype, name="y")
            return self._one_pass(y, event_ndims, False, self._checked_kwargs(kwargs))

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
