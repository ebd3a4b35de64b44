"""Conditioners: the networks that compute a coupling layer's parameters.

A conditioner maps the conditioning part ``x_a`` of an event, shape
``[batch, n_a]``, to the parameters of the transformed part, shape
``[batch, k * n_b]``. :class:`MLP` is the default: a multilayer perceptron on
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
from typing import Any

import numpy as np
import tensorflow as tf

__all__ = ["MLP", "TrackedConditioner", "check_hidden_units", "get_activation"]

_ACTIVATIONS: dict[str, Callable[[tf.Tensor], tf.Tensor]] = {
    "relu": tf.nn.relu,
    "tanh": tf.math.tanh,
    "elu": tf.nn.elu,
    "gelu": tf.nn.gelu,
    "silu": tf.nn.silu,
    "swish": tf.nn.silu,
    "softplus": tf.math.softplus,
    "leaky_relu": tf.nn.leaky_relu,
    "sigmoid": tf.math.sigmoid,
}


def get_activation(activation: str | Callable[[tf.Tensor], tf.Tensor]) -> Callable:
    """Returns the activation function named by ``activation`` (or ``activation`` itself).

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
            f"{sorted(_ACTIVATIONS)}.") from None


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
        raise TypeError(f"hidden_units must be {expected}, got {hidden_units!r} "
                        f"({type(hidden_units).__name__}).")
    for width in hidden_units:
        if isinstance(width, (bool, np.bool_)) or not isinstance(width, (int, np.integer)):
            raise TypeError(f"hidden_units must be {expected}, got {tuple(hidden_units)!r}.")
        if width < 1:
            raise ValueError(f"hidden_units must be {expected}, got {tuple(hidden_units)!r} "
                             f"(a layer of width {width} would ignore its input).")
    return tuple(int(width) for width in hidden_units)


class MLP(tf.Module):
    """Multilayer perceptron ``h_{l+1} = act(h_l W_l + b_l)``, linear last layer.

    Hidden kernels use Glorot-uniform initialisation
    ``W ~ U(-sqrt(6 / (fan_in + fan_out)), +sqrt(...))``; biases start at zero.
    With ``zero_init_output=True`` (the default) the last kernel and bias are
    zero, so the network outputs zeros until it is trained.

    Args:
      input_size: width of the input ``n_a``.
      output_size: width of the output.
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
    ):
        super().__init__(name=name)
        self._activation = get_activation(activation)
        sizes = [int(input_size), *check_hidden_units(hidden_units), int(output_size)]
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

    def check_sizes(self, input_size: int, output_size: int, owner: str) -> None:
        """Raises ``ValueError`` unless this MLP maps ``input_size`` to ``output_size`` entries."""
        sizes = (self.kernels[0].shape[0], self.kernels[-1].shape[1])
        if sizes != (input_size, output_size):
            raise ValueError(
                f"{owner}: the conditioner must map {input_size} inputs to {output_size} "
                f"outputs, but this MLP maps {sizes[0]} to {sizes[1]}.")

    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        h = x
        last = len(self.kernels) - 1
        for i, (kernel, bias) in enumerate(zip(self.kernels, self.biases)):
            h = tf.matmul(h, kernel) + bias
            if i < last:
                h = self._activation(h)
        return h


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

    The network is called once on zeros of shape ``[1, input_size]`` to build
    it. Keras 3 layers keep their weights in ``keras.Variable`` objects that
    ``tf.Module`` does not see; this wrapper stores the underlying
    ``tf.Variable`` s in an attribute, so ``trainable_variables``,
    ``tf.train.Checkpoint`` and ``tf.saved_model.save`` all find them.

    Args:
      network: callable ``[batch, input_size] -> [batch, output_size]`` (or a
        tuple of tensors whose last sizes add up to ``output_size``).
      input_size: width of the conditioning input.
      output_size: expected width of the output.
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
    ):
        super().__init__(name=name)
        if not callable(network):
            raise TypeError(f"a conditioner must be callable, got {type(network).__name__}.")
        self.network = network
        self._input_size, self._output_size = int(input_size), int(output_size)
        probe_rows = 3  # a batch that neither broadcasts from nor to the output's
        probe = self._concat(network(tf.zeros([probe_rows, input_size], dtype=dtype)))
        if not tf.is_tensor(probe) or probe.dtype != dtype:
            what = probe.dtype.name if tf.is_tensor(probe) else type(probe).__name__
            raise TypeError(
                f"the conditioner must return a {tf.as_dtype(dtype).name} tensor (the bijector's "
                f"dtype), got {what}; build the network with dtype={tf.as_dtype(dtype).name}.")
        if probe.shape.as_list() != [probe_rows, output_size]:
            raise ValueError(
                f"the conditioner must map inputs of shape [batch, {input_size}] to outputs of "
                f"shape [batch, {output_size}], got shape {probe.shape.as_list()} for "
                f"{probe_rows} input rows.")
        if not isinstance(network, tf.Module):
            # Keras 3 (or any non-Module) network: track its variables explicitly.
            self.network_variables = _keras3_variables(network)

    def check_sizes(self, input_size: int, output_size: int, owner: str) -> None:
        """Raises ``ValueError`` unless this conditioner was checked for these sizes."""
        if (self._input_size, self._output_size) != (input_size, output_size):
            raise ValueError(
                f"{owner}: the conditioner must map {input_size} inputs to {output_size} "
                f"outputs, but it was built for {self._input_size} to {self._output_size}.")

    @staticmethod
    def _concat(output: Any) -> tf.Tensor:
        if isinstance(output, (tuple, list)):
            return tf.concat(list(output), axis=-1)
        return output

    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        return self._concat(self.network(x))
