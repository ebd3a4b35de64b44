"""``MADE``: the masked autoencoder that computes an autoregressive layer's parameters.

A MADE (Germain et al. 2015) is a multilayer perceptron whose weight matrices
are multiplied by fixed 0/1 masks so that output ``i`` depends on input ``m``
only when ``m`` comes before ``i`` in a chosen order. One pass of the network
gives the parameters of every entry of an autoregressive layer at once. It
meets the :class:`~tfp_flows.nn.AutoregressiveConditioner` protocol (its
``connectivity`` is the product of its masks); :class:`MADEFactory` builds one
for the sizes and order a :class:`~tfp_flows.bijectors.MaskedAutoregressive` asks for.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from tfp_flows._internal.checks import check_floating_dtype, check_integer
from tfp_flows.nn.conditioners import ConditionerSpec, check_input_order
from tfp_flows.nn.mlp import check_hidden_units, get_activation

__all__ = ["MADE", "MADEFactory", "check_input_order"]


class MADE(tf.Module):
    """Masked autoencoder for distribution estimation on plain ``tf.Variable`` s.

    With ``n`` entries, ``o = input_order`` (entry ``i`` is the ``o[i]``-th in the
    order) and ``k = params_per_entry``, the degrees and masks are

    ```none
    input degrees     d_0(i) = o[i] + 1                         in 1..n
    hidden degrees    d_l(u) = a + (u mod max(n - a, 1))        cycling a..n-1 (layer l >= 1)
                      a = 1, or a = 0 with a context (degree-0 units see only the context)
    output degrees    d_L(j * n + i) = o[i] + 1                 block j = parameter j of entry i
    hidden masks      M_l[u, v] = [d_l(v) >= d_{l-1}(u)]
    output mask       M_L[u, v] = [d_L(v) >  d_{L-1}(u)]
    h_l = act(h_{l-1} (W_l * M_l) + b_l  [+ c V  for l = 1]),   out = h_{L-1} (W_L * M_L) + b_L
    ```

    so output ``j * n + i`` depends on input ``m`` only if ``o[m] < o[i]`` (and
    on every input with ``o[m] < o[i]`` when every hidden layer has at least
    ``n - a`` units: the degrees are deterministic, ``seed`` fixes only the
    weights). The context ``c`` (``[..., context_size]``) feeds every unit of
    the first layer through the unmasked kernel ``V``; the degree-0 units carry
    it to every output, so every entry's parameters, also the first entry's,
    may depend on it freely (needs a hidden layer). The output is ``[..., k * n]`` in ``k`` blocks of
    ``n``, the layout of :func:`~tfp_flows.bijectors.transformers.params_from_blocks`.
    Hidden kernels are Glorot-uniform (``seed``), biases zero; with
    ``zero_init_output`` the last layer starts at zero, so a fresh
    autoregressive layer is the identity.

    Args:
      num_entries: ``n``, the width of the input.
      params_per_entry: ``k``, the number of parameters per entry.
      hidden_units: widths of the hidden layers.
      input_order: a permutation of ``range(n)``, ``input_order[i]`` the position
        of entry ``i`` (``None``: ``0, 1, ..., n - 1``).
      context_size: width of the context (0: unconditional).
      activation: name (``"relu"``, ``"tanh"``, ``"gelu"``, ...) or callable.
      zero_init_output: start the last layer at zero.
      seed: integer seed of the hidden kernels' initialisation.
      dtype: ``tf.float32`` or ``tf.float64``.
      name: module name.

    #### Examples

    >>> made = MADE(3, params_per_entry=2, hidden_units=(8,), seed=0)
    >>> made(tf.ones([4, 3])).shape
    TensorShape([4, 6])
    >>> made.masks[-1].shape, made.degrees[0].tolist()   # [hidden, k * n]; input degrees
    ((8, 6), [1, 2, 3])
    >>> (made.masks[0] @ made.masks[1] > 0).astype(int)[:, :3].tolist()   # block 0: m -> i
    [[0, 1, 1], [0, 0, 1], [0, 0, 0]]

    #### References

    [1]: Mathieu Germain, Karol Gregor, Iain Murray, Hugo Larochelle. MADE:
         Masked Autoencoder for Distribution Estimation. ICML 2015.
         https://arxiv.org/abs/1502.03509
    """

    def __init__(
        self,
        num_entries: int,
        params_per_entry: int = 1,
        hidden_units: Sequence[int] = (64, 64),
        *,
        input_order: Sequence[int] | np.ndarray | None = None,
        context_size: int = 0,
        activation: str | Callable[[tf.Tensor], tf.Tensor] = "relu",
        zero_init_output: bool = True,
        seed: int | None = None,
        dtype: tf.DType = tf.float32,
        name: str = "made",
    ):
        super().__init__(name=name)
        n = check_integer(f"{name}: num_entries", num_entries, minimum=1)
        k = check_integer(f"{name}: params_per_entry", params_per_entry, minimum=1)
        self._context_size = check_integer(f"{name}: context_size", context_size, minimum=0)
        hidden_units = check_hidden_units(hidden_units)
        dtype = check_floating_dtype(dtype, name)
        self._activation = get_activation(activation)
        self._num_entries, self._params_per_entry = n, k
        self._input_order = check_input_order(input_order, n, f"{name}: input_order")
        input_degrees = self._input_order + 1
        # Degree-0 units (with a context) read only the context and reach every output.
        lowest = 0 if self._context_size else 1
        hidden_degrees = [lowest + np.arange(width) % max(n - lowest, 1) for width in hidden_units]
        output_degrees = np.tile(input_degrees, k)
        self._degrees = [input_degrees, *hidden_degrees, output_degrees]
        masks = [
            (d_out[None, :] >= d_in[:, None]).astype(np.float64)
            for d_in, d_out in zip(self._degrees[:-2], self._degrees[1:-1])
        ]
        masks.append((output_degrees[None, :] > self._degrees[-2][:, None]).astype(np.float64))
        self._masks = masks
        rng = np.random.default_rng(seed)
        sizes = [n, *hidden_units, k * n]
        kernels, biases = [], []
        with self.name_scope:
            for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
                last = i == len(sizes) - 2
                fan_in_total = fan_in + (self._context_size if i == 0 else 0)
                if last and zero_init_output:
                    kernel = np.zeros([fan_in, fan_out])
                else:
                    limit = np.sqrt(6.0 / (fan_in_total + fan_out))
                    kernel = rng.uniform(-limit, limit, size=[fan_in, fan_out])
                kernels.append(tf.Variable(kernel, dtype=dtype, name=f"kernel_{i}"))
                biases.append(tf.Variable(np.zeros([fan_out]), dtype=dtype, name=f"bias_{i}"))
            if self._context_size:
                fan_out = sizes[1]
                limit = np.sqrt(6.0 / (n + self._context_size + fan_out))
                if len(sizes) == 2 and zero_init_output:
                    context_kernel = np.zeros([self._context_size, fan_out])
                else:
                    context_kernel = rng.uniform(-limit, limit, size=[self._context_size, fan_out])
                self.context_kernel = tf.Variable(
                    context_kernel, dtype=dtype, name="context_kernel"
                )
        self.kernels = kernels
        self.biases = biases
        self._mask_constants = [tf.constant(mask, dtype=dtype) for mask in masks]

    @property
    def num_entries(self) -> int:
        """``n``, the width of the input."""
        return self._num_entries

    @property
    def params_per_entry(self) -> int:
        """``k``, the number of output blocks of ``n``."""
        return self._params_per_entry

    @property
    def context_size(self) -> int:
        """Width of the context it reads (0: unconditional)."""
        return self._context_size

    @property
    def input_order(self) -> np.ndarray:
        """``input_order[i]``: the position of entry ``i`` in the autoregressive order."""
        return self._input_order.copy()

    @property
    def degrees(self) -> list[np.ndarray]:
        """The degrees of the input, of every hidden layer and of the output units."""
        return [d.copy() for d in self._degrees]

    @property
    def masks(self) -> list[np.ndarray]:
        """The 0/1 masks ``M_1, ..., M_L``, each ``[fan_in, fan_out]`` like the kernels."""
        return [m.copy() for m in self._masks]

    @property
    def input_size(self) -> int:
        """``n``: a MADE reads every entry."""
        return self._num_entries

    @property
    def output_size(self) -> int:
        """``k * n``: ``k`` blocks of ``n`` parameters."""
        return self._params_per_entry * self._num_entries

    @property
    def connectivity(self) -> np.ndarray:
        """``C`` ``[n, k n]``: ``C[m, u] = 1`` iff a path of unmasked weights joins input ``m``
        to output ``u`` (the product of the masks); ``C[m, j n + i] = 1`` only if
        ``input_order[m] < input_order[i]``."""
        reach = self._masks[0] > 0
        for mask in self._masks[1:]:
            reach = (reach.astype(np.int64) @ (mask > 0).astype(np.int64)) > 0
        return reach.astype(np.int64)

    def __call__(self, x: tf.Tensor, context: tf.Tensor | None = None) -> tf.Tensor:
        """The parameters ``[..., k * n]`` of the entries of ``x`` (``[..., n]``)."""
        if (context is None) != (self._context_size == 0):
            expected = (
                f"a context of size {self._context_size}" if self._context_size else "no context"
            )
            got = "none" if context is None else f"one of shape {context.shape.as_list()}"
            raise ValueError(f"{self.name}: this MADE takes {expected}, got {got}.")
        batch_shape = tf.shape(x)[:-1]
        h = tf.reshape(x, [-1, self._num_entries])
        last = len(self.kernels) - 1
        for i, (kernel, bias, mask) in enumerate(
            zip(self.kernels, self.biases, self._mask_constants)
        ):
            h_next = tf.matmul(h, kernel * mask) + bias
            if i == 0 and self._context_size:
                h_next += tf.matmul(
                    tf.reshape(context, [-1, self._context_size]), self.context_kernel
                )
            h = self._activation(h_next) if i < last else h_next
        return tf.reshape(h, tf.concat([batch_shape, [h.shape[-1]]], axis=0))


@dataclass(frozen=True)
class MADEFactory:
    """Builds a :class:`MADE` for the sizes and order a layer asks for (a ``ConditionerFactory``).

    The layer's :class:`~tfp_flows.nn.ConditionerSpec` gives ``n`` (``input_size``),
    ``k`` (``params_per_entry``), the context and the order (``input_order``;
    ``None``: ``0..n-1``); the factory holds the rest.

    Args:
      hidden_units: widths of the hidden layers (at least ``n - 1`` units each
        let every entry depend on all the entries before it).
      activation: name (``"relu"``, ``"tanh"``, ``"gelu"``, ...) or callable.
      seed: integer seed of the hidden kernels' initialisation.
      zero_init_output: start the last layer at zero (a fresh layer is the identity).

    #### Examples

    >>> spec = ConditionerSpec(input_size=3, params_per_entry=2, num_transformed=3,
    ...                        input_order=np.array([2, 1, 0]))
    >>> made = MADEFactory(hidden_units=(8,), seed=0).make_conditioner(spec)
    >>> made.output_size, made.input_order.tolist()
    (6, [2, 1, 0])
    """

    hidden_units: Sequence[int] = (64, 64)
    activation: str | Callable[[tf.Tensor], tf.Tensor] = "relu"
    seed: int | None = None
    zero_init_output: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden_units", check_hidden_units(self.hidden_units))
        get_activation(self.activation)

    def make_conditioner(self, spec: ConditionerSpec) -> MADE:
        """A :class:`MADE` of ``spec.input_size`` entries named ``"made"``."""
        return MADE(
            spec.input_size,
            spec.params_per_entry,
            self.hidden_units,
            input_order=spec.input_order,
            context_size=spec.context_size,
            activation=self.activation,
            zero_init_output=self.zero_init_output,
            seed=self.seed,
            dtype=spec.dtype,
            name="made",
        )
