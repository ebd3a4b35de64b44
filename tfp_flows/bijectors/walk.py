"""The one chain walker: a flow or bijector as the list of its layers, in forward order.

A flow is a composition ``f = f_L o ... o f_2 o f_1``. TFP writes it as
``tfb.Chain([b_0, ..., b_{L-1}])``, which applies ``b_{L-1}`` first, so the
forward order is the ``bijectors`` list reversed. :func:`walk` flattens

* ``tfb.Chain`` (and :class:`~tfp_flows.bijectors.FlowChain`, and TFP's
  ``_Chain``) recursively;
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

from typing import NamedTuple

from tensorflow_probability import bijectors as tfb
from tensorflow_probability import distributions as tfd

__all__ = ["Layer", "as_bijector", "flatten", "walk"]

# ``tfb.Chain(...)`` and ``tfb.Invert(...)`` return instances of the private base classes
# ``_Chain`` / ``_Invert`` (not of ``tfb.Chain`` / ``tfb.Invert``) when their bijectors are not
# composite tensors, e.g. a flow's layers; ``FlowChain`` extends ``_Chain``.
CHAIN_TYPES = tuple(c for c in tfb.Chain.__mro__ if c.__name__ in ("Chain", "_Chain"))
INVERT_TYPES = tuple(c for c in tfb.Invert.__mro__ if c.__name__ in ("Invert", "_Invert"))


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
    if isinstance(bijector, CHAIN_TYPES):
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
