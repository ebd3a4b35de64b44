"""Fitting a flow's adaptive layers to the data before training: one protocol for all of them.

An *adaptive* layer (:mod:`~tfp_flows.bijectors.adaptive`: ``Standardize``,
``ActNorm``, ``BatchNorm``, or any layer with an ``adapted`` variable and
``adapt(outputs)``) fits its statistics to samples of its *outputs*, the
data-side coordinates. :func:`adapt_layers` walks the flow from the data side
(:func:`~tfp_flows.bijectors.walk.walk`, reversed) and pushes the data
through each layer's inverse, so every layer is fitted to the data as it
arrives there:

```none
flow:   z --g_1--> ... --g_L--> x          (forward order, base -> data)
rows_L = x;   for l = L, ..., 1:   if g_l is adaptive and not adapted: g_l.adapt(rows_l)
                                   rows_{l-1} = g_l^{-1}(rows_l, context)
```

(the walk stops after the last layer that needs adapting). A layer is
adapted after the layers on its data side, so an ``ActNorm`` in the middle of
a flow sees data already standardised by a ``Standardize`` after it. The
layers inside a :class:`~tfp_flows.bijectors.FactorOut` (a multiscale image
flow) are adapted the same way, to the part of the data that reaches them. A
conditional layer's inverse needs the rows' context: pass it, or the error
names the layer. An adaptive layer applied inverted (inside ``tfb.Invert``)
is left alone: it maps the data *towards* its statistics' coordinates, so
fitting its outputs to the data would fit the wrong side. Layers adapted
already (``adapted`` is ``True``, e.g. restored from a checkpoint) are kept
as they are. ``undo()`` puts every adapted layer back; a failure while
adapting one layer undoes the others before the error (which names the layer)
is raised.

#### Examples

>>> import numpy as np
>>> from tfp_flows.flows import real_nvp
>>> flow = real_nvp(2, num_layers=2, normalization="actnorm", name="flow")
>>> [layer.bijector.name for layer in find_adaptive_layers(flow)]
['flow_actnorm_0', 'flow_actnorm_1', 'flow_standardize']
>>> undo = adapt_layers(flow, np.array([[0.0, 1.0], [2.0, 5.0], [4.0, 3.0]]))
>>> find_standardize_layers(flow)[0].loc.numpy().tolist()
[2.0, 3.0]
>>> all(bool(layer.bijector.adapted.numpy()) for layer in find_adaptive_layers(flow))
True
>>> undo(); find_standardize_layers(flow)[0].loc.numpy().tolist()
[0.0, 0.0]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf
from tensorflow_probability import bijectors as tfb
from tensorflow_probability import distributions as tfd

from tfp_flows.bijectors.adaptive import is_adaptive
from tfp_flows.bijectors.chain import context_size_of
from tfp_flows.bijectors.factor_out import FactorOut
from tfp_flows.bijectors.standardize import Standardize
from tfp_flows.bijectors.walk import Layer, walk
from tfp_flows.training.state import restore, snapshot

__all__ = ["adapt_layers", "adapt_standardize", "find_adaptive_layers", "find_standardize_layers"]

Rows = Any  # an array [n, *event_shape], or a pair (rows, context)


def find_adaptive_layers(flow_or_bijector: tfd.Distribution | tfb.Bijector) -> list[Layer]:
    """Every adaptive leaf of a flow, in forward order, with whether it is applied inverted.

    #### Examples

    >>> from tfp_flows.flows import real_nvp
    >>> [layer.bijector.name for layer in find_adaptive_layers(real_nvp(2, num_layers=1, name="f"))]
    ['f_standardize']
    """
    found = []
    for layer in walk(flow_or_bijector):
        if isinstance(layer.bijector, FactorOut):  # a multiscale flow's inner scales
            found += [
                Layer(inner.bijector, inner.inverted != layer.inverted)
                for inner in find_adaptive_layers(layer.bijector.inner)
            ]
        elif is_adaptive(layer.bijector):
            found.append(layer)
    return found


def find_standardize_layers(flow_or_bijector: tfd.Distribution | tfb.Bijector) -> list[Standardize]:
    """Every :class:`~tfp_flows.bijectors.Standardize` layer of a flow, in forward order.

    Layers inside ``tfb.Invert`` are included (as the ``Standardize`` objects).

    #### Examples

    >>> from tfp_flows.flows import real_nvp
    >>> [layer.name for layer in find_standardize_layers(real_nvp(2, num_layers=1, name="flow").bijector)]
    ['flow_standardize']
    """
    return [
        layer.bijector
        for layer in walk(flow_or_bijector)
        if isinstance(layer.bijector, Standardize)
    ]


def adapt_layers(
    flow: tfd.Distribution | tfb.Bijector,
    rows: Rows | Callable[[], Rows] | None,
    context: Any = None,
) -> Callable[[], None]:
    """Adapts every not yet adapted, not inverted adaptive layer of ``flow``; returns ``undo()``.

    See the module docstring for the order and the coordinates each layer is
    fitted in.

    Args:
      flow: a flow (a distribution with a ``.bijector``) or a bijector; any
        other distribution has nothing to adapt.
      rows: the data ``[n, *event_shape]``, or a pair ``(rows, context)``, or a
        function returning either (called only if a layer needs adapting), or
        ``None`` (nothing to adapt to: nothing changes).
      context: the rows' context ``[n, context_size]`` (when ``rows`` is an
        array); needed when a conditional layer lies between the data and an
        adaptive layer.

    Returns:
      ``undo()``, which puts every layer this call adapted back to its state before.

    Raises:
      ValueError, TypeError: a layer refused its rows (non-finite, constant
        feature, ...) or a conditional layer got no context; the message names
        the layer, and every layer adapted before it is put back.
    """
    bijector = flow if isinstance(flow, tfb.Bijector) else getattr(flow, "bijector", None)
    if not isinstance(bijector, tfb.Bijector) or rows is None:
        return lambda: None
    data_side_first = list(reversed(walk(bijector)))
    pending = [i for i, layer in enumerate(data_side_first) if _needs_adapting(layer)]
    if not pending:
        return lambda: None
    if callable(rows):
        rows = rows()
        if rows is None:  # a source without data (reverse KL): nothing to adapt to
            return lambda: None
    if isinstance(rows, tuple) and len(rows) == 2 and context is None:
        rows, context = rows
    undos: list[Callable[[], None]] = []

    def undo() -> None:
        for undo_one in reversed(undos):
            undo_one()

    values = rows
    try:
        for i, layer in enumerate(data_side_first[: pending[-1] + 1]):
            leaf = layer.bijector
            if i in pending and isinstance(leaf, FactorOut):  # the layers inside, on their rows
                undos.append(
                    adapt_layers(leaf.inner, leaf.inner_outputs(values).numpy(), context=context)
                )
            elif i in pending:
                before = snapshot(leaf.variables)
                try:
                    leaf.adapt(values)
                except (TypeError, ValueError) as error:
                    where = (
                        "the data"
                        if i == 0
                        else f"the data as it arrives there (after the inverses of {i} layers)"
                    )
                    raise type(error)(
                        f"adapting layer {leaf.name!r} to {where}: {error}"
                    ) from error
                undos.append(lambda leaf=leaf, before=before: restore(leaf.variables, before))
            if i < pending[-1]:
                values = _inverse(layer, values, context)
    except BaseException:
        undo()
        raise
    return undo


def _needs_adapting(layer: Layer) -> bool:
    """An adaptive leaf not adapted yet (and not inverted), or a ``FactorOut`` holding one."""
    leaf = layer.bijector
    if layer.inverted:
        return False
    if isinstance(leaf, FactorOut):
        return any(_needs_adapting(inner) for inner in walk(leaf.inner))
    return is_adaptive(leaf) and not bool(leaf.adapted.numpy())


def _inverse(layer: Layer, values: Any, context: Any) -> np.ndarray:
    """``values`` pushed through the inverse of the map ``layer`` applies in the forward pass."""
    bijector = layer.as_bijector()
    values = tf.convert_to_tensor(values, bijector.dtype or tf.float32)
    kwargs = {}
    if context_size_of(layer.bijector) > 0:
        if context is None:
            raise ValueError(
                f"adapting the flow's layers to the data: the data must pass the inverse of the "
                f"conditional layer {layer.bijector.name!r}, which needs the rows' context; "
                "got none (pass the rows with their context)."
            )
        kwargs["context"] = tf.convert_to_tensor(context, values.dtype)
    return bijector.inverse(values, **kwargs).numpy()


def adapt_standardize(
    distribution: tfd.Distribution, rows: np.ndarray | Callable[[], np.ndarray] | None
) -> Callable[[], None]:
    """The name of :func:`adapt_layers` before it adapted every adaptive layer (kept for users)."""
    return adapt_layers(distribution, rows)
