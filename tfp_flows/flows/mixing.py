"""Mixing layers between a builder's transforms: the ``mixing=`` option every builder shares.

A coupling or autoregressive layer transforms along fixed coordinates; a mixing
layer after each one changes which coordinates the next layer sees.

| ``mixing`` | layer after transform ``i`` |
|---|---|
| ``"lu"`` | a learned :class:`~tfp_flows.bijectors.LULinear` map (Glow's 1x1 convolution) |
| ``None`` | nothing (the builder's own alternation, for example of coupling masks) |

#### Examples

>>> import tensorflow as tf
>>> mixing_layer("lu", event_size=3, index=0, dtype=tf.float32, name="flow").name
'flow_lu_linear_0'
>>> mixing_layer(None, event_size=3, index=0, dtype=tf.float32, name="flow") is None
True
"""

from __future__ import annotations

import tensorflow as tf
from tensorflow_probability import bijectors as tfb

from tfp_flows.bijectors.linear import LULinear

__all__ = ["MIXINGS", "check_mixing", "mixing_layer"]

MIXINGS = (None, "lu")


def check_mixing(mixing: str | None) -> str | None:
    """``mixing`` if it names a mixing layer, else ``ValueError`` naming the choices."""
    if mixing not in MIXINGS:
        raise ValueError(
            f"mixing must be one of {', '.join(repr(m) for m in MIXINGS)}, got {mixing!r}.")
    return mixing


def mixing_layer(
    mixing: str | None,
    event_size: int,
    index: int,
    dtype: tf.DType,
    name: str,
    seed: int | None = None,
) -> tfb.Bijector | None:
    """The mixing layer after transform ``index`` of the flow ``name`` (``None``: no layer).

    ``seed`` (plus ``index``) fixes a random mixing layer; the learned ones start
    at the identity.
    """
    if check_mixing(mixing) == "lu":
        return LULinear(event_size, dtype=dtype, name=f"{name}_lu_linear_{index}")
    return None
