"""Exact data normalisation before training: fit a flow's ``Standardize`` layer to the data.

A flow built with ``standardize=True`` ends in a
:class:`~tfp_flows.bijectors.Standardize` layer ``x = loc + exp(log_scale) * u``
that maps standardised coordinates to the data's. :func:`adapt_standardize`
sets ``loc`` and ``log_scale`` to the data's mean and log standard deviation
before the first step, so training starts from a flow whose marginals match the
data's first two moments.

#### Examples

>>> import numpy as np
>>> from tfp_flows.flows import real_nvp
>>> flow = real_nvp(2, num_layers=1, name="flow")
>>> [layer.name for layer in find_standardize_layers(flow.bijector)]
['flow_standardize']
>>> undo = adapt_standardize(flow, np.array([[0.0, 1.0], [2.0, 5.0]]))
>>> find_standardize_layers(flow)[0].loc.numpy().tolist()
[1.0, 3.0]
>>> undo(); find_standardize_layers(flow)[0].loc.numpy().tolist()
[0.0, 0.0]
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from tensorflow_probability import bijectors as tfb
from tensorflow_probability import distributions as tfd

from tfp_flows.bijectors.standardize import Standardize
from tfp_flows.bijectors.walk import walk
from tfp_flows.training.state import restore, snapshot

__all__ = ["adapt_standardize", "find_standardize_layers"]


def find_standardize_layers(flow_or_bijector: tfd.Distribution | tfb.Bijector) -> list[Standardize]:
    """Every :class:`Standardize` layer of a flow, in forward order (see :mod:`tfp_flows.bijectors.walk`).

    Layers inside ``tfb.Invert`` are included (as the ``Standardize`` objects).

    #### Examples

    >>> from tfp_flows.flows import real_nvp
    >>> [layer.name for layer in find_standardize_layers(real_nvp(2, num_layers=1, name="flow").bijector)]
    ['flow_standardize']
    """
    return [layer.bijector for layer in walk(flow_or_bijector)
            if isinstance(layer.bijector, Standardize)]


def adapt_standardize(distribution: tfd.Distribution,
                      rows: np.ndarray | Callable[[], np.ndarray] | None) -> Callable[[], None]:
    """Adapts the flow's one not yet adapted, not inverted ``Standardize`` layer; returns ``undo()``.

    ``rows`` is an array, a function returning one (called only if a layer
    needs it), or ``None`` (nothing to adapt to). Nothing is adapted unless
    exactly one layer qualifies: a flow with several (or none) is left alone,
    and a ``Standardize`` applied inverted (inside ``tfb.Invert``) maps data to
    standardised coordinates, so fitting it to the data would be backwards.
    ``undo()`` puts the layer back to its state before.
    """
    if not isinstance(getattr(distribution, "bijector", None), tfb.Bijector) or rows is None:
        return lambda: None
    candidates = [layer for layer in walk(distribution) if isinstance(layer.bijector, Standardize)
                  and not bool(layer.bijector.adapted.numpy())]
    if len(candidates) != 1 or candidates[0].inverted:
        return lambda: None
    layer = candidates[0].bijector
    before = snapshot(layer.variables)
    layer.adapt(rows() if callable(rows) else rows)
    return lambda: restore(layer.variables, before)
