"""Targets by name: `TARGETS` (unconditional) and `CONDITIONAL_TARGETS` (need a context).

The two registries are disjoint.  `get_target` builds unconditional targets
only (what `tfp-flows train` and `tfp-flows targets` use) and refuses a
conditional name with a message pointing to `get_conditional_target`.

#### Examples

>>> sorted(CONDITIONAL_TARGETS)
['conditional_banana', 'linear_gaussian']
>>> get_conditional_target("conditional-banana").context_size
1
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tensorflow_probability as tfp

from tfp_flows.datasets.banana import Banana
from tfp_flows.datasets.base import ConditionalTarget, Target2D
from tfp_flows.datasets.checkerboard import Checkerboard
from tfp_flows.datasets.conditional_banana import ConditionalBanana
from tfp_flows.datasets.eight_gaussians import EightGaussians
from tfp_flows.datasets.linear_gaussian import LinearGaussianSimulator
from tfp_flows.datasets.moons import Moons
from tfp_flows.datasets.pinwheel import Pinwheel
from tfp_flows.datasets.rings import Rings
from tfp_flows.datasets.spirals import TwoSpirals

tfd = tfp.distributions

__all__ = [
    "CONDITIONAL_TARGETS",
    "TARGETS",
    "get_conditional_target",
    "get_target",
    "has_exact_log_prob",
]

TARGETS: dict[str, Callable[..., tfd.Distribution]] = {
    "banana": Banana,
    "moons": Moons,
    "eight_gaussians": EightGaussians,
    "checkerboard": Checkerboard,
    "two_spirals": TwoSpirals,
    "rings": Rings,
    "pinwheel": Pinwheel,
}
"""Lower-case names of the unconditional targets mapped to their constructors."""

CONDITIONAL_TARGETS: dict[str, Callable[..., ConditionalTarget]] = {
    "conditional_banana": ConditionalBanana,
    "linear_gaussian": LinearGaussianSimulator,
}
"""Lower-case names of the conditional targets (`ConditionalTarget`) mapped to their constructors."""


def _normalize(name: str) -> str:
    return str(name).strip().lower().replace("-", "_")


def _registry_key(name: str) -> str:
    key = _normalize(name)
    if key in CONDITIONAL_TARGETS:
        raise ValueError(
            f"Target {name!r} is conditional (it needs a context): build it with "
            f"get_conditional_target({key!r}); unconditional targets: {', '.join(sorted(TARGETS))}."
        )
    if key not in TARGETS:
        raise ValueError(f"Unknown target {name!r}; valid names: {', '.join(sorted(TARGETS))}.")
    return key


def get_target(name: str, **kwargs: Any) -> tfd.Distribution:
    """Constructs the unconditional target registered under `name` in `TARGETS`.

    `name` is matched case-insensitively with `-` treated as `_`; keyword
    arguments go to the constructor (e.g. `noise=0.1`, `dtype=tf.float64`).
    Raises `ValueError`, listing the valid names, for an unknown name, and
    for a conditional target's name (see `get_conditional_target`).

    #### Examples

    >>> get_target("moons", noise=0.1).noise
    0.1
    >>> get_target("nope")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: Unknown target 'nope'; valid names: banana, checkerboard, ...
    """
    return TARGETS[_registry_key(name)](**kwargs)


def get_conditional_target(name: str, **kwargs: Any) -> ConditionalTarget:
    """Constructs the conditional target registered under `name` in `CONDITIONAL_TARGETS`.

    Names are matched like `get_target`'s; keyword arguments go to the
    constructor.  Raises `ValueError` listing the conditional names otherwise.

    #### Examples

    >>> get_conditional_target("linear_gaussian", observation_size=3).observation_size
    3
    >>> get_conditional_target("banana")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: Unknown conditional target 'banana'; valid names: conditional_banana, ...
    """
    key = _normalize(name)
    if key not in CONDITIONAL_TARGETS:
        raise ValueError(
            f"Unknown conditional target {name!r}; valid names: "
            f"{', '.join(sorted(CONDITIONAL_TARGETS))}."
        )
    return CONDITIONAL_TARGETS[key](**kwargs)


def has_exact_log_prob(target: tfd.Distribution | str) -> bool:
    """Whether `target.log_prob` is exact (closed form or converged quadrature).

    For `Target2D` instances or registry names: whether the class implements
    `_log_prob_2d`, which every target here does (`Moons` and `TwoSpirals` by
    one-dimensional quadrature accurate to far better than `1e-6` nats, see
    `log_prob_method`); a `Target2D` subclass without it raises
    `NotImplementedError` from `log_prob`.  Conditional targets (instances or
    names in `CONDITIONAL_TARGETS`): whether the class implements
    `_log_prob_given` (all do, in closed form).  For other distributions:
    whether the class implements a log-density at all (`_log_prob` or `_prob`,
    the hooks `tfd.Distribution.log_prob` dispatches to).  Unknown names raise
    `ValueError`.

    #### Examples

    >>> has_exact_log_prob("moons"), has_exact_log_prob(Banana())
    (True, True)
    >>> has_exact_log_prob(tfd.Normal(0.0, 1.0)), has_exact_log_prob("linear_gaussian")
    (True, True)
    """
    if isinstance(target, str):
        key = _normalize(target)
        target_cls = (
            CONDITIONAL_TARGETS[key]
            if key in CONDITIONAL_TARGETS
            else TARGETS[_registry_key(target)]
        )
    else:
        target_cls = type(target)
    if isinstance(target_cls, type) and issubclass(target_cls, Target2D):
        return target_cls._log_prob_2d is not Target2D._log_prob_2d
    if isinstance(target_cls, type) and issubclass(target_cls, ConditionalTarget):
        return target_cls._log_prob_given is not ConditionalTarget._log_prob_given
    return hasattr(target_cls, "_log_prob") or hasattr(target_cls, "_prob")
