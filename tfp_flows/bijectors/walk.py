"""The one chain walker: a flow or bijector as the list of its layers, in forward order.

A flow is a composition ``f = f_L o ... o f_2 o f_1``. TFP writes it as
``tfb.Chain([b_0, ..., b_{L-1}])``, which applies ``b_{L-1}`` first, so the
forward order is the ``bijectors`` list reversed. :func:`walk` flattens

* ``tfb.Chain`` (and :class:`~tfp_flows.bijectors.FlowChain`, and the class
  ``tfb.Chain(...)`` returns for layers that are not composite tensors) recursively;
* ``tfb.Invert``, by pushing the inversion down to the leaves:
  ``Invert(Chain([a, b]))`` applies ``a^{-1}`` first and ``b^{-1}`` second
  (``(a o b)^{-1} = b^{-1} o a^{-1}``), so its layers are
  ``[Invert(a), Invert(b)]``, and ``Invert(Invert(a))`` is ``a``;
* a ``tfd.TransformedDistribution``, through its ``.bijector``.

Every other bijector (``tfb.Blockwise``, ``tfb.JointMap``, a coupling layer, ...)
is one layer. The composition of the layers is the original map:

```none
layers(f) = [g_1, ..., g_L]   with   f(x) = g_L(...g_2(g_1(x)))   and   f^{-1}(y) = g_1^{-1}(...g_L^{-1}(y))
```

:func:`walk` returns each leaf with whether it is applied inverted
(:class:`Layer`); :func:`flatten` returns the layers as bijectors (an inverted
leaf wrapped in ``tfb.Invert``). :mod:`tfp_flows.plotting.trajectory` follows a batch
through ``flatten``; :func:`tfp_flows.training.find_standardize_layers` looks for
``Standardize`` leaves with ``walk``.

:func:`forward_and_log_det` and :func:`inverse_and_log_det` walk the same
structure and return a value with its log-det from *one* pass of every layer:
a layer with one-pass hooks (the package's layers and chains,
``forward_and_log_det`` / ``inverse_and_log_det``) is called once; any other
bijector is called as TFP does (``inverse`` then ``inverse_log_det_jacobian``).
Chains route keyword arguments as they do themselves (``tfb.Chain`` by layer
name; :class:`~tfp_flows.bijectors.FlowChain` also hands ``context`` to its
conditional layers); ``tfb.Invert(b)`` is ``b`` walked the other way.

#### Examples

>>> from tensorflow_probability import bijectors as tfb
>>> inner = tfb.Chain([tfb.Exp(), tfb.Scale(2.0)])
>>> [b.name for b in flatten(tfb.Chain([tfb.Shift(1.0), inner]))]
['scale', 'exp', 'shift']
>>> [b.name for b in flatten(tfb.Invert(inner))]
['invert_exp', 'invert_scale']
>>> [(layer.bijector.name, layer.inverted) for layer in walk(tfb.Invert(inner))]
[('exp', True), ('scale', True)]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
import tensorflow as tf
from tensorflow_probability import bijectors as tfb
from tensorflow_probability import distributions as tfd

__all__ = [
    "Layer",
    "as_bijector",
    "compose_one_pass",
    "flatten",
    "forward_and_log_det",
    "inverse_and_log_det",
    "walk",
]

# ``tfb.Chain(...)`` and ``tfb.Invert(...)`` return instances of the private base classes
# ``_Chain`` / ``_Invert`` (not of ``tfb.Chain`` / ``tfb.Invert``) when their bijectors are not
# composite tensors, e.g. a flow's layers. (``FlowChain`` has the one-pass hooks of its own.)
CHAIN_TYPES = tuple(c for c in tfb.Chain.__mro__ if c.__name__ in ("Chain", "_Chain"))
INVERT_TYPES = tuple(c for c in tfb.Invert.__mro__ if c.__name__ in ("Invert", "_Invert"))


def _is_chain(bijector: tfb.Bijector) -> bool:
    """Whether ``bijector`` is a ``tfb.Chain`` (TFP's classes) or a ``FlowChain``."""
    from tfp_flows.bijectors.chain import FlowChain  # chain.py imports this module

    return isinstance(bijector, (*CHAIN_TYPES, FlowChain))


class Layer(NamedTuple):
    """One leaf of a flow: ``bijector``, applied as its inverse when ``inverted``."""

    bijector: tfb.Bijector
    inverted: bool = False

    def as_bijector(self) -> tfb.Bijector:
        """The map this layer applies in the forward pass: ``bijector`` or ``tfb.Invert(bijector)``."""
        return tfb.Invert(self.bijector) if self.inverted else self.bijector


def as_bijector(flow_or_bijector: tfd.Distribution | tfb.Bijector) -> tfb.Bijector:
    """``flow_or_bijector`` itself if a bijector, else its ``.bijector``; ``TypeError`` otherwise."""
    if isinstance(flow_or_bijector, tfb.Bijector):
        return flow_or_bijector
    bijector = getattr(flow_or_bijector, "bijector", None)
    if isinstance(bijector, tfb.Bijector):
        return bijector
    raise TypeError(
        "expected a tfd.TransformedDistribution or a tfb.Bijector, got "
        f"{type(flow_or_bijector).__name__}."
    )


def walk(flow_or_bijector: tfd.Distribution | tfb.Bijector) -> list[Layer]:
    """The leaves of a flow in forward order (base -> data), each with its orientation.

    See the module docstring for the rules (chains flattened, inversions pushed
    to the leaves, any other bijector one leaf).

    #### Examples

    >>> from tensorflow_probability import bijectors as tfb
    >>> chain = tfb.Chain([tfb.Shift(1.0), tfb.Invert(tfb.Chain([tfb.Exp(), tfb.Scale(2.0)]))])
    >>> [(layer.bijector.name, layer.inverted) for layer in walk(chain)]
    [('exp', True), ('scale', True), ('shift', False)]
    """
    return _walk(as_bijector(flow_or_bijector), inverted=False)


def _walk(bijector: tfb.Bijector, inverted: bool) -> list[Layer]:
    if isinstance(bijector, INVERT_TYPES):
        return _walk(bijector.bijector, not inverted)
    if _is_chain(bijector):
        forward_order = list(reversed(list(bijector.bijectors)))
        if inverted:  # (b_0 o ... o b_{L-1})^{-1} = b_{L-1}^{-1} o ... o b_0^{-1}: b_0^{-1} first
            forward_order.reverse()
        return [layer for child in forward_order for layer in _walk(child, inverted)]
    return [Layer(bijector, inverted)]


def flatten(flow_or_bijector: tfd.Distribution | tfb.Bijector) -> list[tfb.Bijector]:
    """The layers of a flow in the order its forward pass applies them (base -> data).

    Composing them gives the flow's bijector: ``f(x) = g_L(...g_1(x))``.
    An inverted leaf comes wrapped in ``tfb.Invert``.

    #### Examples

    >>> from tensorflow_probability import bijectors as tfb
    >>> [b.name for b in flatten(tfb.Chain([tfb.Shift(1.0), tfb.Scale(2.0)]))]
    ['scale', 'shift']
    """
    return [layer.as_bijector() for layer in walk(flow_or_bijector)]


def _sum(total: tf.Tensor | None, log_det: Any) -> tf.Tensor:
    log_det = tf.convert_to_tensor(log_det)
    if total is None:
        return log_det
    if total.dtype != log_det.dtype:  # TFP's rule: the sum is carried in the wider dtype
        wider = max(total.dtype, log_det.dtype, key=lambda dtype: dtype.size)
        total, log_det = tf.cast(total, wider), tf.cast(log_det, wider)
    return total + log_det


def compose_one_pass(
    bijectors: Sequence[tfb.Bijector],
    value: Any,
    event_ndims: int,
    forward: bool,
    route: Callable[[tfb.Bijector], dict[str, Any]],
) -> tuple[tf.Tensor, tf.Tensor]:
    """``(value mapped, log|det|)`` through ``tfb.Chain(bijectors)``, each layer run once.

    ``route(layer)`` gives the keyword arguments of ``layer`` (``tfb.Chain``: the entry of
    its name); ``event_ndims`` (a static int) follows each layer's
    ``forward_event_ndims`` / ``inverse_event_ndims``.
    """
    ndims = tf.get_static_value(tf.convert_to_tensor(event_ndims))
    if ndims is None or np.ndim(ndims) != 0:
        raise ValueError(f"event_ndims must be a static integer, got {event_ndims}.")
    ndims, total = int(ndims), None
    for layer in reversed(bijectors) if forward else bijectors:
        layer_kwargs = route(layer)
        value, log_det = _one_pass(layer, value, ndims, forward, layer_kwargs)
        total = _sum(total, log_det)
        next_ndims = layer.forward_event_ndims if forward else layer.inverse_event_ndims
        ndims = int(tf.get_static_value(next_ndims(ndims, **layer_kwargs)))
    if total is None:  # an empty chain: the identity
        return value, tf.zeros([], dtype=tf.convert_to_tensor(value).dtype)
    return value, total


def _one_pass(bijector: tfb.Bijector, value: Any, event_ndims: Any, forward: bool, kwargs: dict):
    """``(value mapped, log|det|)`` of ``bijector`` forward or inverse, each layer run once."""
    if isinstance(bijector, INVERT_TYPES):
        return _one_pass(bijector.bijector, value, event_ndims, not forward, kwargs)
    own = getattr(bijector, "forward_and_log_det" if forward else "inverse_and_log_det", None)
    if own is not None:
        return own(value, event_ndims, **kwargs)
    if isinstance(bijector, CHAIN_TYPES) and isinstance(event_ndims, int):
        layers = list(bijector.bijectors)
        return compose_one_pass(
            layers, value, event_ndims, forward, lambda layer: kwargs.get(layer.name, {})
        )
    if forward:
        return (
            bijector.forward(value, **kwargs),
            bijector.forward_log_det_jacobian(value, event_ndims, **kwargs),
        )
    return (
        bijector.inverse(value, **kwargs),
        bijector.inverse_log_det_jacobian(value, event_ndims, **kwargs),
    )


def forward_and_log_det(
    bijector: tfb.Bijector, x: Any, event_ndims: int, **kwargs: Any
) -> tuple[tf.Tensor, tf.Tensor]:
    """``(y, log|det dy/dx|)`` with ``y = bijector.forward(x)``, every layer run once.

    ``event_ndims`` as in ``forward_log_det_jacobian``; ``kwargs`` as ``forward`` takes them.

    #### Examples

    >>> import tensorflow as tf
    >>> from tensorflow_probability import bijectors as tfb
    >>> y, log_det = forward_and_log_det(tfb.Chain([tfb.Shift(1.0), tfb.Scale(2.0)]),
    ...                                  tf.constant([1.0, 2.0]), 1)
    >>> y.numpy().tolist(), round(float(log_det), 4)   # 2 log 2
    ([3.0, 5.0], 1.3863)
    """
    return _one_pass(bijector, x, event_ndims, True, kwargs)


def inverse_and_log_det(
    bijector: tfb.Bijector, y: Any, event_ndims: int, **kwargs: Any
) -> tuple[tf.Tensor, tf.Tensor]:
    """``(x, log|det dx/dy|)`` with ``x = bijector.inverse(y)``, every layer run once.

    What a flow's ``log_prob`` needs: ``log q(y) = log base(x) + log|det dx/dy|``.

    #### Examples

    >>> import tensorflow as tf
    >>> from tensorflow_probability import bijectors as tfb
    >>> x, log_det = inverse_and_log_det(tfb.Invert(tfb.Scale(2.0)), tf.constant([1.0, 2.0]), 1)
    >>> x.numpy().tolist(), round(float(log_det), 4)   # x = 2 y
    ([2.0, 4.0], 1.3863)
    """
    return _one_pass(bijector, y, event_ndims, False, kwargs)
