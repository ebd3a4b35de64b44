"""Follow a batch through a flow one layer at a time.

A flow is a composition ``f = f_L o ... o f_2 o f_1`` of bijectors. In TFP it
is a ``tfb.Chain(bijectors)`` that applies ``bijectors[-1]`` first, so
``f_1 = bijectors[-1]`` and ``f_L = bijectors[0]``. :func:`chain_trajectory`
records every intermediate value

```none
forward:  x_0 = x,  x_k = f_k(x_{k-1})               (k = 1..L),  x_L = f(x)
inverse:  y_0 = y,  y_k = f_{L+1-k}^{-1}(y_{k-1})    (k = 1..L),  y_L = f^{-1}(y)
```

which is what a picture of "the base distribution morphing into the data"
(or the data being pulled back to the latent space) needs.

#### Examples

>>> import tensorflow as tf
>>> from tensorflow_probability import bijectors as tfb
>>> steps = chain_trajectory(tfb.Chain([tfb.Shift(1.0), tfb.Scale(2.0)]), tf.constant([1.0]))
>>> [(name, float(value[0])) for name, value in steps]
[('input', 1.0), ('scale', 2.0), ('shift', 3.0)]
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf
from tensorflow_probability import bijectors as tfb
from tensorflow_probability import distributions as tfd

from tfp_flows.bijectors.walk import as_bijector, flatten

__all__ = ["chain_trajectory", "flatten_bijector"]

_DIRECTIONS = ("forward", "inverse")


def flatten_bijector(
    flow_or_bijector: tfd.TransformedDistribution | tfb.Bijector,
) -> list[tfb.Bijector]:
    """The layers of a flow in the order the forward pass applies them (base -> data).

    The package's one chain walker, :func:`tfp_flows.bijectors.walk.flatten`:
    ``tfb.Chain([b_0, ..., b_{L-1}])`` computes ``b_0(b_1(...b_{L-1}(x)))``, so
    its forward order is ``b_{L-1}, ..., b_0``; nested chains are flattened
    recursively, and ``tfb.Invert`` of a chain is pushed down to its layers
    (``Invert(Chain([a, b]))`` gives ``[Invert(a), Invert(b)]``). Any other
    bijector is a single layer. A ``tfd.TransformedDistribution`` contributes
    its ``.bijector``.

    #### Examples

    >>> inner = tfb.Chain([tfb.Exp(), tfb.Scale(2.0)])
    >>> [b.name for b in flatten_bijector(tfb.Chain([tfb.Shift(1.0), inner]))]
    ['scale', 'exp', 'shift']
    """
    return flatten(flow_or_bijector)


def chain_trajectory(
    flow_or_bijector: tfd.TransformedDistribution | tfb.Bijector,
    x: Any,
    direction: str = "forward",
) -> list[tuple[str, tf.Tensor]]:
    """``x`` after every layer of a flow: ``[("input", x), (name_1, x_1), ..., (name_L, x_L)]``.

    With the layers ``f_1, ..., f_L`` in forward order (see
    :func:`flatten_bijector`; for a ``tfb.Chain`` that is its ``bijectors`` list
    reversed),

    ```none
    direction="forward":  x_k = f_k(x_{k-1}),            x_L = f(x)       (latent -> data)
    direction="inverse":  x_k = f_{L+1-k}^{-1}(x_{k-1}),  x_L = f^{-1}(x)  (data -> latent)
    ```

    Each entry is named after the layer just applied (``bijector.name``); in
    the inverse direction that is the layer whose ``inverse`` was applied.

    Args:
      flow_or_bijector: a ``tfd.TransformedDistribution`` (its ``.bijector`` is
        used) or any ``tfb.Bijector``; chains are flattened recursively.
      x: a batch of inputs, e.g. shape ``[n, d]`` (converted to the bijector's dtype).
      direction: ``"forward"`` or ``"inverse"``.

    Returns:
      A list of ``L + 1`` ``(name, tensor)`` pairs, the first being ``("input", x)``.

    #### Examples

    >>> import tfp_flows as tff
    >>> flow = tff.real_nvp(2, num_layers=2, hidden_units=(8,), name="nvp")
    >>> z = tf.zeros([3, 2])
    >>> [name for name, _ in chain_trajectory(flow, z)]  # doctest: +NORMALIZE_WHITESPACE
    ['input', 'nvp_affine_coupling_0', 'nvp_lu_linear_0', 'nvp_affine_coupling_1',
     'nvp_lu_linear_1', 'nvp_standardize']
    >>> [name for name, _ in chain_trajectory(flow, z, direction="inverse")][:2]
    ['input', 'nvp_standardize']
    >>> chain_trajectory(flow, z)[-1][1].shape
    TensorShape([3, 2])
    """
    if direction not in _DIRECTIONS:
        raise ValueError(f"direction must be one of {_DIRECTIONS}, got {direction!r}.")
    bijector = as_bijector(flow_or_bijector)
    layers = flatten(bijector)
    dtype = bijector.dtype
    if dtype is None and isinstance(flow_or_bijector, tfd.Distribution):
        dtype = flow_or_bijector.dtype
    value = tf.convert_to_tensor(x, dtype=dtype)
    steps: list[tuple[str, tf.Tensor]] = [("input", value)]
    if direction == "forward":
        for layer in layers:
            value = layer.forward(value)
            steps.append((layer.name, value))
    else:
        for layer in reversed(layers):
            value = layer.inverse(value)
            steps.append((layer.name, value))
    return steps
