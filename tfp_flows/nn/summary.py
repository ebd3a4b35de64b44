"""Summary networks: learned statistics ``s = h(x)`` of an observation, the context of a posterior flow.

In neural posterior estimation (:func:`tfp_flows.inference.npe`) the flow
learns ``q(theta | h(x))``; the summary network ``h`` is trained jointly with
the flow, by the same maximum-likelihood loss, so it learns statistics that
are informative about ``theta``. Both networks here are Keras 3 layers that
declare their ``output_size`` (the width of ``s``, the flow's ``context_size``):

```none
MLPSummary:   s = MLP(flatten(x))                                   x: [B, *x_shape]
DeepSet:      s = rho([ (1/m) sum_{j: mask_j} phi(x_j),  log m ])    x: [B, m_max, d], m = sum_j mask_j
```

A :class:`DeepSet` is exactly invariant to permutations of the set's elements
(a masked mean is a symmetric function, and it is summed in sorted order, so
floating-point rounding does not depend on the order either) and reads sets of varying size: rows
whose ``mask`` is 0 (padding) do not enter the mean, and ``log m`` tells
``rho`` how many elements there were, so a posterior can contract as ``m``
grows. Any other network works as a summary too (a Keras 3 or tf_keras layer,
a ``tf.Module``, a function of one tensor): :func:`summary_variables` finds the
``tf.Variable`` s behind it, so the flow's ``trainable_variables``, checkpoints
and ``fit`` see them.

#### Examples

>>> import numpy as np
>>> net = DeepSet(output_size=3, hidden_units=(8,), seed=0)
>>> x = np.random.default_rng(0).normal(size=(2, 5, 2)).astype("float32")
>>> s = net(x)
>>> s.shape
TensorShape([2, 3])
>>> bool(np.allclose(net(x[:, ::-1]), s, atol=1e-6))   # the same set in another order
True

#### References

[1] Manzil Zaheer, Satwik Kottur, Siamak Ravanbakhsh, Barnabas Poczos, Ruslan
    Salakhutdinov and Alexander Smola. Deep Sets. NeurIPS 2017.
[2] Stefan T. Radev, Ulf K. Mertens, Andreas Voss, Lynton Ardizzone and Ullrich
    Koethe. BayesFlow: Learning complex stochastic models with invertible neural
    networks. IEEE TNNLS 2020.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import tensorflow as tf

from tfp_flows._internal.checks import check_integer

__all__ = ["DeepSet", "MLPSummary", "summary_variables"]


def _dense_stack(
    hidden_units: Sequence[int], output_size: int, activation: Any, seed: int | None, name: str
) -> keras.Sequential:
    """``len(hidden_units)`` dense layers with ``activation``, then a linear one of ``output_size``."""
    layers = []
    for i, units in enumerate(hidden_units):
        init = keras.initializers.GlorotUniform(seed=None if seed is None else seed + i)
        layers.append(
            keras.layers.Dense(
                int(units), activation=activation, kernel_initializer=init, name=f"{name}_{i}"
            )
        )
    init = keras.initializers.GlorotUniform(seed=None if seed is None else seed + len(layers))
    layers.append(keras.layers.Dense(output_size, kernel_initializer=init, name=f"{name}_out"))
    return keras.Sequential(layers, name=name)


def _check_units(
    hidden_units: Sequence[int], name: str = "hidden_units", non_empty: bool = False
) -> tuple[int, ...]:
    """``hidden_units`` as a tuple of positive integers (at least one if ``non_empty``), checked."""
    if (
        isinstance(hidden_units, (int, str))
        or not all(isinstance(u, int) and not isinstance(u, bool) and u > 0 for u in hidden_units)
        or (non_empty and len(hidden_units) == 0)
    ):
        kind = "a non-empty" if non_empty else "a"
        raise ValueError(
            f"{name} must be {kind} sequence of positive integers, got {hidden_units!r}."
        )
    return tuple(hidden_units)


def _channels(owner: str, shape: Sequence[Any], known: int | None, axes: str) -> int:
    """The channels of ``x [batch, *axes]`` (one) or ``[batch, *axes, channels]``, checked.

    ``known``: the channels a built network reads (``None``: not built yet).
    Raises a ``ValueError`` naming the expected and the received shape.
    """
    spatial = len(axes.split(", "))
    rank = len(shape)
    channels = 1 if rank == 1 + spatial else int(shape[-1]) if rank == 2 + spatial else None
    if channels is not None and channels == (channels if known is None else known):
        return channels
    if known is None:
        wanted = f"[batch, {axes}] or [batch, {axes}, channels]"
    elif known == 1:
        wanted = f"[batch, {axes}] or [batch, {axes}, 1]"
    else:
        wanted = f"[batch, {axes}, {known}] ({known} channels)"
    raise ValueError(f"{owner}: expected shape {wanted}, got shape {tuple(shape)}.")


def _convolutions(
    layer: Any, filters: Sequence[int], kernel_size: int, activation: Any, seed: int | None
) -> list[Any]:
    """One ``layer`` (``Conv1D``/``Conv2D``, "same" padding) per entry of ``filters``, seeded."""
    return [
        layer(
            f,
            kernel_size,
            padding="same",
            activation=activation,
            kernel_initializer=keras.initializers.GlorotUniform(
                seed=None if seed is None else seed + i
            ),
            name=f"conv_{i}",
        )
        for i, f in enumerate(filters)
    ]


def _convolve(convolutions: Sequence[Any], h: Any, pool: Any) -> Any:
    """The convolutions in turn, ``pool`` (size 2, stride 2) between consecutive ones."""
    for i, convolution in enumerate(convolutions):
        h = convolution(h)
        if i < len(convolutions) - 1:
            h = pool(h, pool_size=2, strides=2, padding="same")
    return h


class _ChannelsChecked(keras.layers.Layer):
    """A layer on ``[batch, *axes(, channels)]`` whose channels are fixed by its first call.

    The shape is checked before Keras's ``__call__``, which rewrites errors raised in ``call``.
    """

    axes = "time"
    channels: int | None = None

    def __call__(self, x: Any, *args: Any, **kwargs: Any) -> tf.Tensor:
        shape = getattr(x, "shape", None)
        shape = keras.ops.shape(keras.ops.convert_to_tensor(x)) if shape is None else shape
        self.channels = _channels(self.name, tuple(shape), self.channels, self.axes)
        return super().__call__(x, *args, **kwargs)


class MLPSummary(keras.layers.Layer):
    """``s = MLP(flatten(x))``: a multilayer perceptron on the flattened observation.

    Args:
      output_size: width of the summary ``s`` (the posterior flow's context size).
      hidden_units: widths of the hidden layers.
      activation: their activation (default ``"gelu"``).
      seed: seed of the initial weights (``None``: unseeded).

    #### Examples

    >>> import numpy as np
    >>> MLPSummary(4, hidden_units=(8,), seed=0)(np.zeros([3, 2, 5], "float32")).shape
    TensorShape([3, 4])
    """

    def __init__(
        self,
        output_size: int,
        hidden_units: Sequence[int] = (64, 64),
        activation: Any = "gelu",
        seed: int | None = 0,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.output_size = check_integer("output_size", output_size)
        self.hidden_units = _check_units(hidden_units)
        self.network = _dense_stack(self.hidden_units, self.output_size, activation, seed, "mlp")

    def call(self, x: Any, mask: Any = None) -> tf.Tensor:
        x = keras.ops.convert_to_tensor(x)
        flat = keras.ops.reshape(x, (-1, int(_num_elements(x.shape[1:]))))
        return self.network(flat)


def _num_elements(shape: Any) -> int:
    total = 1
    for size in shape:
        total *= int(size)
    return total


class DeepSet(keras.layers.Layer):
    """A permutation-invariant network on sets ``[B, m, d]``, with a mask for sets of varying size.

    ```none
    e_j = phi(x_j)                                   every element, [B, m, h]
    p   = sum_j mask_j e_j / m,    m = sum_j mask_j  masked mean (mask: 1 present, 0 padding)
    s   = rho([p, log m])                            [B, output_size]
    ```

    Args:
      output_size: width of ``s``.
      hidden_units: widths of the hidden layers of ``phi`` and of ``rho``.
      embedding_size: width ``h`` of each element's embedding ``phi(x_j)``.
      activation: the activation of both networks.
      seed: seed of the initial weights.

    Call it as ``net(x)`` (every element present) or ``net(x, mask=mask)`` with
    ``mask`` ``[B, m]`` (1 or ``True`` for an element, 0 for padding, whatever
    the padding rows hold, NaN included; at least one element per set).

    #### Examples

    >>> import numpy as np
    >>> net = DeepSet(2, hidden_units=(8,), seed=0)
    >>> x = np.ones([1, 3, 1], "float32")
    >>> padded = np.concatenate([x, np.full([1, 2, 1], 7.0, "float32")], axis=1)
    >>> bool(np.allclose(net(padded, mask=[[1, 1, 1, 0, 0]]), net(x)))   # padding is ignored
    True
    """

    def __init__(
        self,
        output_size: int,
        hidden_units: Sequence[int] = (64, 64),
        embedding_size: int = 64,
        activation: Any = "gelu",
        seed: int | None = 0,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.supports_masking = True  # reads `mask`: npe pads sets of varying size for it
        self.output_size = check_integer("output_size", output_size)
        self.hidden_units = _check_units(hidden_units)
        self.embedding_size = check_integer("embedding_size", embedding_size)
        rho_seed = None if seed is None else seed + 1000
        self.phi = _dense_stack(self.hidden_units, self.embedding_size, activation, seed, "phi")
        self.rho = _dense_stack(self.hidden_units, self.output_size, activation, rho_seed, "rho")

    def call(self, x: Any, mask: Any = None) -> tf.Tensor:
        x = keras.ops.convert_to_tensor(x)
        if len(x.shape) != 3:
            raise ValueError(
                f"{self.name}: expected sets of shape [batch, set_size, features], got shape "
                f"{tuple(x.shape)}."
            )
        if mask is None:
            mask = keras.ops.ones(keras.ops.shape(x)[:2], dtype=x.dtype)
        mask = keras.ops.cast(mask, x.dtype)[..., None]  # [B, m, 1]
        # padding rows are zeroed before phi, whatever they hold: NaN padding would give NaN
        # summaries (NaN * 0 is NaN) and NaN gradients of phi's weights
        x = keras.ops.where(mask > 0, x, 0.0)
        embedded = self.phi(x) * mask  # [B, m, h]
        count = keras.ops.maximum(keras.ops.sum(mask, axis=1), 1.0)  # [B, 1]
        # summed in sorted order: the same sum, to the last bit, for every order of the elements
        ordered = keras.ops.sort(keras.ops.transpose(embedded, (0, 2, 1)), axis=-1)
        pooled = keras.ops.sum(ordered, axis=-1) / count
        return self.rho(keras.ops.concatenate([pooled, keras.ops.log(count)], axis=-1))


def summary_variables(network: Any) -> list[tf.Variable]:
    """The ``tf.Variable`` s a summary network computes with (trainable or not), deduplicated.

    Keras 3 keeps its weights in ``keras.Variable`` objects that ``tf.Module``
    does not track; this returns the ``tf.Variable`` behind each, so an owner
    that stores the list is tracked by ``tf.Module`` (``trainable_variables``,
    ``tf.train.Checkpoint``). A ``tf.Module`` or a tf_keras layer gives its own
    variables; a plain function has none.

    #### Examples

    >>> import numpy as np
    >>> net = MLPSummary(2, hidden_units=(4,))
    >>> _ = net(np.zeros([1, 3], "float32"))
    >>> [tuple(v.shape) for v in summary_variables(net)]
    [(3, 4), (4,), (4, 2), (2,)]
    """
    found: list[tf.Variable] = []
    for variable in getattr(network, "variables", ()) or ():
        if isinstance(variable, tf.Variable):
            found.append(variable)
        elif isinstance(getattr(variable, "value", None), tf.Variable):
            found.append(variable.value)
    unique: dict[int, tf.Variable] = {}
    for variable in found:
        unique.setdefault(id(variable), variable)
    return list(unique.values())
