"""The one context check of layers, chains and flows: present iff conditional, then its shape.

Every entry point that takes ``context=`` (a :class:`~tfp_flows.bijectors.FlowBijector`,
a :class:`~tfp_flows.bijectors.FlowChain`, a :class:`~tfp_flows.Flow`) calls
:func:`checked_context`, so the rule and its messages are written once:

```none
context_size = 0:   context must be None                 -> None
context_size = k:   context must be given, [..., k]      -> a tensor of the owner's dtype
                    (and, given the points, its batch shape broadcasts against theirs)
```

#### Examples

>>> import tensorflow as tf
>>> checked_context(None, 0, tf.float32, "layer", kind="layer") is None
True
>>> checked_context([[1.0]], 0, tf.float32, "flow", kind="flow")
Traceback (most recent call last):
...
ValueError: flow: this flow is unconditional (context_size=0), but a context was given (shape [1, 1]); expected none.
>>> checked_context(None, 2, tf.float32, "chain", kind="chain")
Traceback (most recent call last):
...
ValueError: chain: this chain is conditional: pass context= of shape [..., 2] (got none).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from tfp_flows._internal.checks import check_context, check_context_batch

__all__ = ["checked_context", "with_context"]


def checked_context(
    context: Any,
    context_size: int,
    dtype: tf.DType,
    owner: str,
    *,
    kind: str,
    hint: str = "",
    points: Any = None,
    event_rank: int | None = None,
    at_run_time: bool = True,
) -> tf.Tensor | None:
    """``context`` checked against ``context_size``: ``None`` iff unconditional, else ``[..., k]``.

    Args:
      context: the ``context=`` an entry point received (``None``: none).
      context_size: width ``k`` its owner takes (0: unconditional).
      dtype: the owner's dtype (lists and arrays are converted to it; tensors must have it).
      owner: the owner's name, first in every message.
      kind: what the owner is (``"layer"``, ``"chain"``, ``"flow"``), named in the messages.
      hint: appended to the message for a missing context (how else to give one).
      points: the values the call acts on; with ``event_rank``, the context's batch shape
        must broadcast against theirs (:func:`~tfp_flows._internal.checks.check_context_batch`).
      event_rank: rank of the owner's event (``points``' trailing axes that are not batch).
      at_run_time: check batch sizes unknown while tracing when the function runs.

    Returns:
      ``None`` for an unconditional owner, else the context as a tensor of ``dtype``.
    """
    if context_size == 0:
        if context is not None:
            shape = context.shape.as_list() if tf.is_tensor(context) else list(np.shape(context))
            raise ValueError(
                f"{owner}: this {kind} is unconditional (context_size=0), but a context was "
                f"given (shape {shape}); expected none."
            )
        return None
    if context is None:
        raise ValueError(
            f"{owner}: this {kind} is conditional: pass context= of shape "
            f"[..., {context_size}]{hint} (got none)."
        )
    context = check_context(context, context_size, dtype, owner)
    if points is not None:
        context = check_context_batch(points, event_rank, context, owner, at_run_time=at_run_time)
    return context


def with_context(
    x: tf.Tensor, context: tf.Tensor | None, context_size: int, owner: str
) -> tf.Tensor:
    """``x`` or ``[x, context]`` (concatenated on the last axis), checked against ``context_size``.

    What a network that reads one input (an MLP, a wrapped Keras model) is fed.

    #### Examples

    >>> with_context(tf.zeros([4, 2]), tf.ones([4, 1]), 1, "mlp").shape
    TensorShape([4, 3])
    """
    if context_size == 0:
        if context is not None:
            raise ValueError(
                f"{owner}: this network takes no context (context_size=0), got one of shape "
                f"{context.shape.as_list()}."
            )
        return x
    if context is None:
        raise ValueError(f"{owner}: this network needs a context of size {context_size}, got none.")
    return tf.concat([x, context], axis=-1)
