"""Mixing layers between a builder's transforms: the ``mixing=`` option every builder shares.

A coupling or autoregressive layer transforms along fixed coordinates; a mixing
layer after each one changes which coordinates the next layer sees.

| ``mixing`` | layer after transform ``i`` |
|---|---|
| ``"lu"`` | a learned :class:`~tfp_flows.bijectors.LULinear` map (Glow's 1x1 convolution) |
| ``"reverse"`` | :meth:`Permute.reverse <tfp_flows.bijectors.Permute.reverse>`: the event in reverse order |
| ``"random"`` | :meth:`Permute.random <tfp_flows.bijectors.Permute.random>`: a fixed random order, seeded by ``seed + i`` |
| ``None`` | nothing (the builder's own alternation, for example of coupling masks) |

#### Examples

>>> import tensorflow as tf
>>> mixing_layer("lu", event_size=3, index=0, dtype=tf.float32, name="flow").name
'flow_lu_linear_0'
>>> mixing_layer("random", event_size=3, index=1, dtype=tf.float32, name="flow", seed=0).name
'flow_permute_1'
>>> mixing_layer(None, event_size=3, index=0, dtype=tf.float32, name="flow") is None
True
"""

from __future__ import annotations

import tensorflow as tf
from tensorflow_probability import bijectors as tfb

from tfp_flows.bijectors.linear import LULinear
from tfp_flows.bijectors.permutation import Permute

__all__ = ["MIXINGS", "check_mixing", "mixing_layer", "mixing_parameters"]

MIXINGS = (None, "lu", "reverse", "random")


def check_mixing(mixing: str | None) -> str | None:
    """``mixing`` if it names a mixing layer, else ``ValueError`` naming the choices."""
    if mixing not in MIXINGS:
        raise ValueError(
            f"mixing must be one of {', '.join(repr(m) for m in MIXINGS)}, got {mixing!r}."
        )
    return mixing


def mixing_parameters(mixing: str | None, event_size: int) -> int:
    """Trainable parameters of one mixing layer: ``event_size**2 + event_size`` for ``"lu"``, else 0.

    #### Examples

    >>> mixing_parameters("lu", 10), mixing_parameters("reverse", 10)
    (110, 0)
    """
    return event_size**2 + event_size if check_mixing(mixing) == "lu" else 0


def mixing_layer(
    mixing: str | None,
    event_size: int,
    index: int,
    dtype: tf.DType,
    name: str,
    seed: int | None = None,
) -> tfb.Bijector | None:
    """The mixing layer after transform ``index`` of the flow ``name`` (``None``: no layer).

    ``seed + index`` fixes a random permutation (``seed=None``: unseeded); the
    learned layers start at the identity.
    """
    mixing = check_mixing(mixing)
    if mixing == "lu":
        return LULinear(event_size, dtype=dtype, name=f"{name}_lu_linear_{index}")
    if mixing == "reverse":
        return Permute.reverse(event_size, dtype=dtype, name=f"{name}_permute_{index}")
    if mixing == "random":
        return Permute.random(
            event_size,
            seed=None if seed is None else seed + index,
            dtype=dtype,
            name=f"{name}_permute_{index}",
        )
    return None
