"""``MLP``: the dense conditioner of vector coupling layers, and its factory ``MLPFactory``.

A multilayer perceptron on plain ``tf.Variable`` s that meets the
:class:`~tfp_flows.nn.Conditioner` protocol: it maps the conditioning entries
``x_a`` ``[batch, n_a]`` (and a context ``[batch, k]``, read concatenated) to
``[batch, output_size]``; its last layer starts at zero, so a fresh coupling
layer is the identity. :class:`MLPFactory` holds its hyperparameters and builds
one for the sizes a layer asks for.

#### Examples

>>> import tensorflow as tf
>>> mlp = MLP(input_size=1, output_size=2, hidden_units=(8,), seed=0)
>>> mlp(tf.ones([3, 1])).numpy().tolist()  # zero-initialised output layer
[[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]]
>>> [v.name for v in mlp.trainable_variables]
['mlp/bias_0:0', 'mlp/bias_1:0', 'mlp/kernel_0:0', 'mlp/kernel_1:0']
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import tensorflow as tf

from tfp_flows._internal.context import with_context
from tfp_flows.nn.conditioners import ConditionerModule, ConditionerSpec

__all__ = [
    "MLP",
    "MLPFactory",
    "amortised_network",
    "amortised_parameters",
    "check_hidden_units",
    "dense_forward",
    "dense_weights",
    "get_activation",
]

_ACTIVATIONS: dict[str, Callable[[tf.Tensor], tf.Tensor]] = {
    "relu": tf.nn.relu,
    "tanh": tf.math.tanh,
    "elu": tf.nn.elu,
    "gelu": tf.nn.gelu,
    "gelu_tanh": partial(tf.nn.gelu, approximate=True),
    "silu": tf.nn.silu,
    "swish": tf.nn.silu,
    "softplus": tf.math.softplus,
    "leaky_relu": tf.nn.leaky_relu,
    "sigmoid": tf.math.sigmoid,
}


def get_activation(activation: str | Callable[[tf.Tensor], tf.Tensor]) -> Callable:
    """Returns the activation function named by ``activation`` (or ``activation`` itself).

    ``"gelu"`` is the exact ``x Phi(x)``; ``"gelu_tanh"`` its tanh approximation
    ``x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``, within 5e-4 of it and cheaper
    on CPU (XLA evaluates ``tanh`` faster than ``erf`` and its derivative).

    #### Examples

    >>> get_activation("tanh") is tf.math.tanh
    True
    """
    if callable(activation):
        return activation
    try:
        return _ACTIVATIONS[activation]
    except KeyError:
        raise ValueError(
            f"unknown activation {activation!r}; expected a callable or one of "
            f"{sorted(_ACTIVATIONS)}."
        ) from None


def check_hidden_units(hidden_units: Any) -> tuple[int, ...]:
    """``hidden_units`` as a tuple of positive ints, or an error naming what came.

    #### Examples

    >>> check_hidden_units([64, 64])
    (64, 64)
    >>> check_hidden_units("64")
    Traceback (most recent call last):
    ...
    TypeError: hidden_units must be a sequence of positive integers such as (64, 64), got '64' (str).
    """
    expected = "a sequence of positive integers such as (64, 64)"
    if isinstance(hidden_units, (str, bytes)) or not isinstance(hidden_units, Sequence):
        raise TypeError(
            f"hidden_units must be {expected}, got {hidden_units!r} "
            f"({type(hidden_units).__name__})."
        )
    for width in hidden_units:
        if isinstance(width, (bool, np.bool_)) or not isinstance(width, (int, np.integer)):
            raise TypeError(f"hidden_units must be {expected}, got {tuple(hidden_units)!r}.")
        if width < 1:
            raise ValueError(
                f"hidden_units must be {expected}, got {tuple(hidden_units)!r} "
                f"(a layer of width {width} would ignore its input)."
            )
    return tuple(int(width) for width in hidden_units)


class MLP(ConditionerModule):
    """Multilayer perceptron ``h_{l+1} = act(h_l W_l + b_l)``, linear last layer.

    Hidden kernels use Glorot-uniform initialisation
    ``W ~ U(-sqrt(6 / (fan_in + fan_out)), +sqrt(...))``; biases start at zero.
    With ``zero_init_output=True`` (the default) the last kernel and bias are
    zero, so the network outputs zeros until it is trained.

    With ``context_size = k > 0`` the first layer reads ``[x_a, context]``
    (concatenated, width ``n_a + k``).

    Args:
      input_size: width of the input ``n_a``.
      output_size: width of the output.
      context_size: width of the context (0: unconditional).
      hidden_units: widths of the hidden layers.
      activation: name (``"relu"``, ``"tanh"``, ``"gelu"``, ...) or callable.
      zero_init_output: start the last layer at zero.
      seed: integer seed for a deterministic initialisation.
      dtype: ``tf.float32`` or ``tf.float64``.
      name: module name.

    #### Examples

    >>> net = MLP(2, 4, hidden_units=(16, 16), activation="tanh", seed=1)
    >>> net(tf.zeros([5, 2])).shape
    TensorShape([5, 4])
    >>> conditional = MLP(2, 4, context_size=3, seed=1)
    >>> conditional(tf.zeros([5, 2]), tf.zeros([5, 3])).shape
    TensorShape([5, 4])
    """

    def __init__(
        self,
        input_size: int,
        output_size: int,
        hidden_units: Sequence[int] = (64, 64),
        activation: str | Callable[[tf.Tensor], tf.Tensor] = "relu",
        zero_init_output: bool = True,
        seed: int | None = None,
        dtype: tf.DType = tf.float32,
        name: str = "mlp",
        context_size: int = 0,
    ):
        super().__init__(input_size, output_size, context_size, name=name)
        self._activation = get_activation(activation)
        sizes = [
            int(input_size) + int(context_size),
            *check_hidden_units(hidden_units),
            int(output_size),
        ]
        with self.name_scope:
            self.kernels, self.biases = dense_weights(sizes, zero_init_output, seed, dtype)

    def __call__(self, x: tf.Tensor, context: tf.Tensor | None = None) -> tf.Tensor:
        """``x`` ``[batch, n_a]`` (and ``context`` ``[batch, k]``) -> ``[batch, output_size]``."""
        h = with_context(x, context, self._sizes[2], self.name)
        return dense_forward(h, self.kernels, self.biases, self._activation)


@dataclass(frozen=True)
class MLPFactory:
    """Builds an :class:`MLP` conditioner for the sizes a layer asks for (a ``ConditionerFactory``).

    Holds the network's hyperparameters, so a layer takes the factory and
    supplies the sizes: ``n_a`` inputs, ``p n_b`` outputs, a context of ``k``.

    Args:
      hidden_units: widths of the hidden layers.
      activation: name (``"relu"``, ``"tanh"``, ``"gelu"``, ...) or callable.
      seed: integer seed of the initialisation (``None``: unseeded).
      zero_init_output: start the last layer at zero (a fresh layer is the identity).

    #### Examples

    >>> from tfp_flows.nn.conditioners import ConditionerModule, ConditionerSpec
    >>> spec = ConditionerSpec(input_size=2, params_per_entry=2, num_transformed=3)
    >>> net = MLPFactory(hidden_units=(8,), seed=0).make_conditioner(spec)
    >>> net.input_size, net.output_size, net(tf.ones([4, 2])).shape
    (2, 6, TensorShape([4, 6]))
    """

    hidden_units: Sequence[int] = (64, 64)
    activation: str | Callable[[tf.Tensor], tf.Tensor] = "relu"
    seed: int | None = None
    zero_init_output: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden_units", check_hidden_units(self.hidden_units))
        get_activation(self.activation)  # an unknown name fails here, not in the layer

    def make_conditioner(self, spec: ConditionerSpec) -> MLP:
        """An :class:`MLP` ``[batch, n_a] (+ context) -> [batch, p n_b]`` named ``"mlp"``."""
        return MLP(
            spec.input_size,
            spec.output_size,
            hidden_units=self.hidden_units,
            activation=self.activation,
            zero_init_output=self.zero_init_output,
            seed=self.seed,
            dtype=spec.dtype,
            name="mlp",
            context_size=spec.context_size,
        )


def dense_weights(
    sizes: Sequence[int], zero_init_output: bool, seed: int | None, dtype: tf.DType
) -> tuple[list[tf.Variable], list[tf.Variable]]:
    """Kernels and biases of dense layers ``sizes[0] -> sizes[1] -> ... -> sizes[-1]``.

    Kernels are Glorot-uniform, ``U(-sqrt(6 / (fan_in + fan_out)), +...)``, drawn from
    ``np.random.default_rng(seed)`` layer by layer; biases are zero; with
    ``zero_init_output`` the last kernel is zero too (the network starts at 0).
    Call it inside the owning module's ``name_scope``.

    >>> kernels, biases = dense_weights([3, 8, 2], True, 0, tf.float32)
    >>> [k.shape.as_list() for k in kernels], float(tf.reduce_sum(tf.abs(kernels[-1])))
    ([[3, 8], [8, 2]], 0.0)
    """
    rng = np.random.default_rng(seed)
    kernels, biases = [], []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        if i == len(sizes) - 2 and zero_init_output:
            kernel = np.zeros([fan_in, fan_out])
        else:
            limit = np.sqrt(6.0 / (fan_in + fan_out))
            kernel = rng.uniform(-limit, limit, size=[fan_in, fan_out])
        kernels.append(tf.Variable(kernel, dtype=dtype, name=f"kernel_{i}"))
        biases.append(tf.Variable(np.zeros([fan_out]), dtype=dtype, name=f"bias_{i}"))
    return kernels, biases


def dense_forward(
    h: tf.Tensor,
    kernels: Sequence[tf.Variable],
    biases: Sequence[tf.Variable],
    activation: Callable[[tf.Tensor], tf.Tensor],
) -> tf.Tensor:
    """``h -> W_L a(... a(W_1 h + b_1) ...) + b_L``: the activation after every layer but the last."""
    last = len(kernels) - 1
    for i, (kernel, bias) in enumerate(zip(kernels, biases)):
        h = tf.matmul(h, kernel) + bias
        if i < last:
            h = activation(h)
    return h


def amortised_network(
    context_size: int,
    num_parameters: int,
    hidden_units: Sequence[int],
    activation: Any,
    seed: int | None,
    dtype: tf.DType,
) -> MLP | None:
    """The context MLP ``c -> d params`` of an amortised layer (last layer at zero), ``None`` if k = 0.

    Seeded with ``seed + 1`` (the layer's own parameters use ``seed``); see
    :func:`amortised_parameters`.

    #### Examples

    >>> amortised_network(0, 5, (8,), "tanh", 0, tf.float32) is None
    True
    >>> amortised_network(2, 5, (8,), "tanh", 0, tf.float32)(tf.ones([4, 2])).shape
    TensorShape([4, 5])
    """
    if not context_size:
        return None
    return MLP(
        context_size,
        num_parameters,
        hidden_units=hidden_units,
        activation=activation,
        zero_init_output=True,
        seed=None if seed is None else seed + 1,
        dtype=dtype,
        name="context_mlp",
    )


def amortised_parameters(
    raw: tf.Tensor, conditioner: MLP | None, context: tf.Tensor | None
) -> tf.Tensor:
    """A layer's parameters ``raw`` ``[p]``, plus ``conditioner(context)`` ``[..., p]`` if conditional.

    Amortised parameters (Rezende & Mohamed 2015): one network maps each
    context to its own correction of the shared parameters.

    ```none
    params(c) = raw + conditioner(c)          (raw alone without a context)
    ```

    #### Examples

    >>> net = MLP(input_size=1, output_size=3, hidden_units=(4,), seed=0)  # starts at zero
    >>> amortised_parameters(tf.ones([3]), net, tf.zeros([2, 1])).numpy().tolist()
    [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
    """
    if context is None:
        return raw
    out = conditioner(tf.reshape(context, [-1, context.shape[-1]]))
    return raw + tf.reshape(out, tf.concat([tf.shape(context)[:-1], [raw.shape[-1]]], axis=0))
