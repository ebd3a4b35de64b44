"""Conditioners: the networks that compute a coupling layer's parameters.

A conditioner maps the conditioning part ``x_a`` of an event, shape
``[batch, n_a]``, and the context, shape ``[batch, context_size]`` (``None``
for an unconditional layer), to the parameters of the transformed part, shape
``[batch, k * n_b]`` in ``k`` blocks of ``n_b`` (block ``j`` holds parameter
``j`` of every transformed entry; see :mod:`tfp_flows.bijectors.transformers`).
It is called as ``conditioner(x_a, context)``. :class:`MLP` is the default: a multilayer perceptron on
plain ``tf.Variable`` s whose last layer starts at zero, so a fresh coupling
layer is the identity. :class:`TrackedConditioner` adapts any user network — a
Keras 3 layer or model, a tf_keras layer or model, a ``tf.Module`` or a plain
callable holding ``tf.Variable`` s — and makes its variables visible to
``tf.Module`` tracking, ``tf.train.Checkpoint`` and ``tf.saved_model``.

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
from functools import partial
from typing import Any

import numpy as np
import tensorflow as tf

__all__ = [
    "MLP",
    "TrackedConditioner",
    "amortised_network",
    "amortised_parameters",
    "check_hidden_units",
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


class MLP(tf.Module):
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
        super().__init__(name=name)
        self._activation = get_activation(activation)
        self._sizes = (int(input_size), int(output_size), int(context_size))
        sizes = [
            int(input_size) + int(context_size),
            *check_hidden_units(hidden_units),
            int(output_size),
        ]
        rng = np.random.default_rng(seed)
        kernels, biases = [], []
        with self.name_scope:
            for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
                last = i == len(sizes) - 2
                if last and zero_init_output:
                    kernel = np.zeros([fan_in, fan_out])
                else:
                    limit = np.sqrt(6.0 / (fan_in + fan_out))
                    kernel = rng.uniform(-limit, limit, size=[fan_in, fan_out])
                kernels.append(tf.Variable(kernel, dtype=dtype, name=f"kernel_{i}"))
                biases.append(tf.Variable(np.zeros([fan_out]), dtype=dtype, name=f"bias_{i}"))
        self.kernels = kernels
        self.biases = biases

    def check_sizes(
        self, input_size: int, output_size: int, owner: str, context_size: int = 0
    ) -> None:
        """Raises ``ValueError`` unless this MLP maps these sizes (inputs, outputs, context)."""
        _check_sizes(self._sizes, (input_size, output_size, context_size), owner, "this MLP")

    def __call__(self, x: tf.Tensor, context: tf.Tensor | None = None) -> tf.Tensor:
        h = _with_context(x, context, self._sizes[2], self.name)
        last = len(self.kernels) - 1
        for i, (kernel, bias) in enumerate(zip(self.kernels, self.biases)):
            h = tf.matmul(h, kernel) + bias
            if i < last:
                h = self._activation(h)
        return h


def _check_sizes(
    built: tuple[int, int, int], needed: tuple[int, int, int], owner: str, what: str
) -> None:
    if tuple(built) != tuple(needed):
        raise ValueError(
            f"{owner}: the conditioner must map {needed[0]} inputs and a context of size "
            f"{needed[2]} to {needed[1]} outputs, but {what} was built for {built[0]} inputs, "
            f"a context of size {built[2]} and {built[1]} outputs."
        )


def _with_context(
    x: tf.Tensor, context: tf.Tensor | None, context_size: int, owner: str
) -> tf.Tensor:
    """``x`` or ``[x, context]`` (concatenated on the last axis), checked against ``context_size``."""
    if context_size == 0:
        if context is not None:
            raise ValueError(
                f"{owner}: this conditioner takes no context, got one of shape "
                f"{context.shape.as_list()}."
            )
        return x
    if context is None:
        raise ValueError(f"{owner}: this conditioner needs a context of size {context_size}.")
    return tf.concat([x, context], axis=-1)


def _keras3_variables(network: Any) -> list[tf.Variable]:
    """The ``tf.Variable`` s behind a Keras 3 object's ``keras.Variable`` s."""
    found = []
    for variable in getattr(network, "variables", ()):
        if isinstance(variable, tf.Variable):
            found.append(variable)
        elif isinstance(getattr(variable, "value", None), tf.Variable):
            found.append(variable.value)
    return found


class TrackedConditioner(tf.Module):
    """Wraps a user network so that its variables are tracked and its output checked.

    The network is called once on zeros of shape ``[3, input_size + context_size]``
    to build it and check its output. With a context it receives
    ``[x_a, context]`` concatenated on the last axis. Keras 3 layers keep their weights in ``keras.Variable`` objects that
    ``tf.Module`` does not see; this wrapper stores the underlying
    ``tf.Variable`` s in an attribute, so ``trainable_variables``,
    ``tf.train.Checkpoint`` and ``tf.saved_model.save`` all find them.

    Args:
      network: callable ``[batch, input_size + context_size] -> [batch, output_size]``
        (or a tuple of ``k`` tensors of width ``output_size / k``, one per
        parameter, which are concatenated as the ``k`` blocks).
      input_size: width of the conditioning input.
      output_size: expected width of the output.
      context_size: width of the context (0: unconditional).
      dtype: expected output dtype.
      name: module name.

    #### Examples

    >>> import keras
    >>> net = keras.Sequential([keras.layers.Dense(8, activation="relu"), keras.layers.Dense(2)])
    >>> wrapped = TrackedConditioner(net, input_size=1, output_size=2)
    >>> len(wrapped.trainable_variables)
    4
    """

    def __init__(
        self,
        network: Callable[[tf.Tensor], Any],
        input_size: int,
        output_size: int,
        dtype: tf.DType = tf.float32,
        name: str = "conditioner",
        context_size: int = 0,
    ):
        super().__init__(name=name)
        if not callable(network):
            raise TypeError(f"a conditioner must be callable, got {type(network).__name__}.")
        self.network = network
        self._sizes = (int(input_size), int(output_size), int(context_size))
        probe_rows = 3  # a batch that neither broadcasts from nor to the output's
        probe = self._concat(
            network(tf.zeros([probe_rows, input_size + context_size], dtype=dtype))
        )
        if not tf.is_tensor(probe) or probe.dtype != dtype:
            what = probe.dtype.name if tf.is_tensor(probe) else type(probe).__name__
            raise TypeError(
                f"the conditioner must return a {tf.as_dtype(dtype).name} tensor (the bijector's "
                f"dtype), got {what}; build the network with dtype={tf.as_dtype(dtype).name}."
            )
        if probe.shape.as_list() != [probe_rows, output_size]:
            raise ValueError(
                f"the conditioner must map inputs of shape [batch, {input_size + context_size}] "
                f"({input_size} conditioning entries + a context of size {context_size}) to outputs of "
                f"shape [batch, {output_size}], got shape {probe.shape.as_list()} for "
                f"{probe_rows} input rows."
            )
        if not isinstance(network, tf.Module):
            # Keras 3 (or any non-Module) network: track its variables explicitly.
            self.network_variables = _keras3_variables(network)

    def check_sizes(
        self, input_size: int, output_size: int, owner: str, context_size: int = 0
    ) -> None:
        """Raises ``ValueError`` unless this conditioner was checked for these sizes."""
        _check_sizes(self._sizes, (input_size, output_size, context_size), owner, "it")

    @staticmethod
    def _concat(output: Any) -> tf.Tensor:
        if isinstance(output, (tuple, list)):
            return tf.concat(list(output), axis=-1)
        return output

    def __call__(self, x: tf.Tensor, context: tf.Tensor | None = None) -> tf.Tensor:
        return self._concat(self.network(_with_context(x, context, self._sizes[2], self.name)))


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
