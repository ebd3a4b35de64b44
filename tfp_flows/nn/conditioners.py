"""The conditioner protocol: what a network must offer to compute a layer's parameters.

A coupling or autoregressive layer (:mod:`tfp_flows.bijectors`) routes its
input and transforms it elementwise with a
:class:`~tfp_flows.bijectors.transformers.Transformer` of ``p`` parameters per
entry; a *conditioner* computes those parameters. Any network meets the
:class:`Conditioner` protocol when it declares its sizes and maps

```none
input_size   = n_a        width of x_a, the conditioning entries
output_size  = p * n_b    p blocks of n_b: block j holds parameter j of every transformed entry
context_size = k          width of the context c (0: unconditional)

conditioner(x_a, context=None):  [B, n_a] x [B, k] -> [B, p * n_b]        (context None iff k = 0)
```

and its variables are tracked by ``tf.Module`` (a ``tf.Module`` or a tf_keras
layer; a Keras 3 layer meeting the protocol is wrapped in
:class:`TrackedConditioner` by the layer, so that ``trainable_variables``,
checkpoints and SavedModel see its weights). A network that declares no sizes
(a plain ``keras.Sequential``, a tf_keras model, a ``tf.Module`` or function of
one tensor) is adapted by :class:`TrackedConditioner`: it reads ``[x_a, c]``
concatenated, ``[B, n_a + k] -> [B, p * n_b]``. Every conditioner is called
once on a probe batch when the layer is built: an output of another shape or
dtype is refused there, naming what was expected and what came.

An *autoregressive* conditioner (:class:`AutoregressiveConditioner`, for
:class:`~tfp_flows.bijectors.MaskedAutoregressive`) reads every entry,
``n_a = n_b = n``, and also declares an order and which inputs each output may read:

```none
input_order   o            a permutation of range(n): entry i is the o[i]-th in the order
connectivity  C [n, p n]   C[m, j n + i] = 1 if output j n + i may depend on input m
required:     C[m, j n + i] = 1   =>   o[m] < o[i]
```

so ``d params_{j n + i} / d x_m = 0`` unless ``m`` comes before ``i``: the
layer's Jacobian is triangular in the order (its log-det is the sum of the
transformer's log-derivatives) and ``n`` passes invert it exactly. The layer
checks the declared ``connectivity`` against the order; a network that declares
no order is refused (a ``TypeError`` naming what is missing). :class:`~tfp_flows.nn.MADE`
declares its masks' connectivity; ``TrackedConditioner(network, ...,
input_order=o)`` declares the strict pattern for any masked network and checks it
by behaviour: on a random probe, every Jacobian entry outside the pattern must be
exactly zero (a check that a network whose output starts at zero passes
trivially, so build masked networks from masked layers).

A :class:`ConditionerFactory` holds a network's hyperparameters and builds one
for the sizes the layer asks for (:class:`ConditionerSpec`):
:class:`~tfp_flows.nn.MLPFactory`, :class:`~tfp_flows.nn.MADEFactory`,
:class:`~tfp_flows.nn.ConvResNetFactory`, or any object with a
``make_conditioner(spec)`` method. Layers take a network or a factory; the
builders (``tff.real_nvp``, ``tff.maf``, ...) take hyperparameters and make the factories.

#### Examples

A user network that declares its sizes, in a coupling layer:

>>> import keras
>>> import tensorflow as tf
>>> import tfp_flows as tff
>>> class Shift(keras.layers.Layer):
...     def __init__(self):
...         super().__init__()
...         self.input_size, self.output_size, self.context_size = 1, 2, 0
...         self.dense = keras.layers.Dense(2, kernel_initializer="zeros")
...     def call(self, x_a, context=None):
...         return self.dense(x_a)
>>> isinstance(Shift(), Conditioner)
True
>>> layer = tff.bijectors.AffineCoupling(2, Shift())   # a Keras 3 layer: wrapped, tracked
>>> len(layer.trainable_variables)   # the Dense kernel and bias, and the log-scale bound
3
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import tensorflow as tf

from tfp_flows._internal.context import with_context

__all__ = [
    "AutoregressiveConditioner",
    "Conditioner",
    "ConditionerFactory",
    "ConditionerSpec",
    "TrackedConditioner",
    "as_autoregressive_conditioner",
    "as_conditioner",
    "autoregressive_connectivity",
    "check_autoregressive",
    "check_input_order",
]


@runtime_checkable
class Conditioner(Protocol):
    """A network ``(x_a [B, n_a], context [B, k] or None) -> [B, output_size]`` with declared sizes.

    See the module docstring for the protocol and its math; any object with
    these three attributes and this call meets it (``isinstance`` checks them).
    """

    @property
    def input_size(self) -> int:
        """``n_a``, the width of ``x_a``."""

    @property
    def output_size(self) -> int:
        """``p * n_b``, the width of the parameters."""

    @property
    def context_size(self) -> int:
        """``k``, the width of the context (0: unconditional)."""

    def __call__(self, x_a: tf.Tensor, context: tf.Tensor | None = None) -> tf.Tensor:
        """The parameters ``[B, output_size]``."""


@runtime_checkable
class AutoregressiveConditioner(Conditioner, Protocol):
    """A :class:`Conditioner` that also declares its order and which inputs each output reads.

    ``connectivity[m, j n + i] = 1`` only if ``input_order[m] < input_order[i]``
    (module docstring); ``None`` for either means "not declared".
    """

    @property
    def input_order(self) -> np.ndarray | None:
        """``o``, a permutation of ``range(n)``: entry ``i`` is the ``o[i]``-th in the order."""

    @property
    def connectivity(self) -> np.ndarray | None:
        """``C`` ``[n, output_size]``, 0/1: ``C[m, u] = 1`` if output ``u`` may read input ``m``."""


@dataclass(frozen=True)
class ConditionerSpec:
    """What a layer asks of its conditioner: sizes, dtype, and its routing (mask or order).

    Attributes:
      input_size: ``n_a``, the width of the conditioning entries.
      params_per_entry: ``p``, the transformer's parameters per transformed entry.
      num_transformed: ``n_b``, the number of transformed entries.
      context_size: ``k``, the width of the context (0: unconditional).
      dtype: the layer's dtype (the conditioner must return it).
      mask: a coupling layer's 0/1 mask, of the event's shape (1 = conditioning).
      input_order: an autoregressive layer's order (``None``: the factory's default).

    #### Examples

    >>> ConditionerSpec(input_size=2, params_per_entry=3, num_transformed=2).output_size
    6
    """

    input_size: int
    params_per_entry: int
    num_transformed: int
    context_size: int = 0
    dtype: tf.DType = tf.float32
    mask: np.ndarray | None = None
    input_order: np.ndarray | None = None

    @property
    def output_size(self) -> int:
        """``p * n_b``: the width of the parameters."""
        return self.params_per_entry * self.num_transformed


@runtime_checkable
class ConditionerFactory(Protocol):
    """Builds a conditioner for a :class:`ConditionerSpec` (hyperparameters held by the factory).

    ``make_conditioner`` may return any network :func:`as_conditioner` accepts.
    """

    def make_conditioner(self, spec: ConditionerSpec) -> Any:
        """A network for these sizes, dtype and routing."""


def check_input_order(input_order: Any, num_entries: int, owner: str = "input_order") -> np.ndarray:
    """``input_order`` as an int array, a permutation of ``range(num_entries)``; ``None``: identity.

    ``input_order[i]`` is the position of entry ``i`` in the autoregressive
    order: entry ``i`` depends on the entries ``m`` with
    ``input_order[m] < input_order[i]``.

    #### Examples

    >>> check_input_order(None, 3).tolist()
    [0, 1, 2]
    >>> check_input_order([0, 0, 1], 3)
    Traceback (most recent call last):
    ...
    ValueError: input_order must be a permutation of range(3), got [0, 0, 1].
    """
    if input_order is None:
        return np.arange(num_entries, dtype=np.int64)
    order = np.asarray(input_order)
    if (
        order.dtype.kind not in "iu"
        or order.shape != (num_entries,)
        or not np.array_equal(np.sort(order), np.arange(num_entries))
    ):
        shown = order.tolist() if order.dtype.kind in "iuf" else input_order
        raise ValueError(f"{owner} must be a permutation of range({num_entries}), got {shown}.")
    return order.astype(np.int64)


def autoregressive_connectivity(input_order: Any, params_per_entry: int) -> np.ndarray:
    """The strict autoregressive pattern ``C[m, j n + i] = [o[m] < o[i]]``, ``[n, p n]`` of 0/1.

    #### Examples

    >>> autoregressive_connectivity([0, 1, 2], 1).tolist()   # input m (row) -> output i
    [[0, 1, 1], [0, 0, 1], [0, 0, 0]]
    """
    order = np.asarray(input_order)
    before = (order[:, None] < order[None, :]).astype(np.int64)
    return np.tile(before, [1, int(params_per_entry)])


def _describe(network: Any) -> str:
    return f"{type(network).__module__}.{type(network).__qualname__}"


def _size_errors(network: Any, spec: ConditionerSpec) -> list[str]:
    declared = (network.input_size, network.output_size, network.context_size)
    needed = (spec.input_size, spec.output_size, spec.context_size)
    names = ("input_size", "output_size", "context_size")
    return [
        f"{name}={want} (got {got})"
        for name, want, got in zip(names, needed, declared)
        if got != want
    ]


def _probe(
    call: Callable[[tf.Tensor, tf.Tensor | None], Any],
    input_size: int,
    output_size: int,
    context_size: int,
    dtype: tf.DType,
    owner: str,
) -> None:
    """Calls the network on zeros ``[3, n_a]`` (and ``[3, k]``) and checks the output's shape and dtype."""
    rows = 3  # a batch that neither broadcasts from nor to the output's
    x = tf.zeros([rows, input_size], dtype=dtype)
    context = tf.zeros([rows, context_size], dtype=dtype) if context_size else None
    probe = call(x, context)
    if not tf.is_tensor(probe) or probe.dtype != dtype:
        what = probe.dtype.name if tf.is_tensor(probe) else type(probe).__name__
        raise TypeError(
            f"{owner}: the conditioner must return a {tf.as_dtype(dtype).name} tensor (the "
            f"layer's dtype), got {what}; build the network with dtype={tf.as_dtype(dtype).name}."
        )
    if probe.shape.as_list() != [rows, output_size]:
        raise ValueError(
            f"{owner}: the conditioner must map inputs of shape [batch, {input_size}] and a "
            f"context of size {context_size} to outputs of shape [batch, {output_size}], got "
            f"shape {probe.shape.as_list()} for {rows} input rows."
        )


def _concat(output: Any) -> Any:
    """A tuple of ``p`` parameter tensors ``[B, n_b]`` as the ``p`` blocks ``[B, p n_b]``."""
    if isinstance(output, (tuple, list)):
        return tf.concat(list(output), axis=-1)
    return output


def _keras3_variables(network: Any) -> list[tf.Variable]:
    """The ``tf.Variable`` s behind a Keras 3 object's ``keras.Variable`` s."""
    found = []
    for variable in getattr(network, "variables", ()):
        if isinstance(variable, tf.Variable):
            found.append(variable)
        elif isinstance(getattr(variable, "value", None), tf.Variable):
            found.append(variable.value)
    return found


def check_autoregressive(
    network: Callable[..., tf.Tensor],
    input_order: Any,
    params_per_entry: int,
    context_size: int = 0,
    dtype: tf.DType = tf.float32,
    owner: str = "conditioner",
    connectivity: np.ndarray | None = None,
) -> None:
    """Raises ``ValueError`` unless ``network(x, context)`` is autoregressive on a random probe.

    The Jacobian ``d out / d x`` at two normal rows (seeded) must vanish exactly
    wherever ``connectivity`` (default: the strict pattern of ``input_order``)
    is 0. A check of behaviour at one point: a network whose output does not
    depend on its input there (a zero last layer) passes whatever its structure.

    #### Examples

    >>> import keras
    >>> dense = keras.layers.Dense(3)   # every output reads every input
    >>> check_autoregressive(lambda x, c: dense(x), [0, 1, 2], 1, owner="dense")
    Traceback (most recent call last):
    ...
    ValueError: dense: the network is not autoregressive in the order input_order=[0, 1, 2]: output 0 (parameter 0 of entry 0) depends on input 0, which does not come before entry 0 (input_order[0] = 0, input_order[0] = 0); mask its weights (as tff.nn.MADE does).
    """
    order = np.asarray(input_order)
    n = len(order)
    allowed = (
        autoregressive_connectivity(order, params_per_entry)
        if connectivity is None
        else np.asarray(connectivity)
    )
    x = tf.random.stateless_normal([2, n], seed=[7, 11], dtype=dtype)
    context = (
        tf.random.stateless_normal([2, context_size], seed=[7, 12], dtype=dtype)
        if context_size
        else None
    )
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = _concat(network(x, context))
    jacobian = tape.batch_jacobian(out, x)  # [2, p n, n]
    reads = np.any(jacobian.numpy() != 0, axis=0).T  # [n, p n]: input m -> output u
    leaks = np.argwhere(reads & (allowed == 0))
    if len(leaks):
        m, u = (int(v) for v in leaks[0])
        j, i = divmod(u, n)
        raise ValueError(
            f"{owner}: the network is not autoregressive in the order "
            f"input_order={order.tolist()}: output {u} (parameter {j} of entry {i}) depends on "
            f"input {m}, which does not come before entry {i} (input_order[{m}] = {order[m]}, "
            f"input_order[{i}] = {order[i]}); mask its weights (as tff.nn.MADE does)."
        )


class TrackedConditioner(tf.Module):
    """Adapts any network to the :class:`Conditioner` protocol, with its variables tracked.

    Two kinds of network:

    - one that meets the protocol (declares ``input_size``, ``output_size``,
      ``context_size``; for example a Keras 3 layer): it is called as
      ``network(x_a, context)``; the sizes are its own;
    - any other callable of one tensor (a ``keras.Sequential``, a tf_keras
      model, a ``tf.Module``, a function holding ``tf.Variable`` s): it reads
      ``[x_a, context]`` concatenated on the last axis,
      ``[B, input_size + context_size] -> [B, output_size]``, or a tuple of
      ``p`` tensors ``[B, output_size / p]`` (concatenated as the ``p`` blocks).

    The network is called once on zeros of shape ``[3, input_size]`` (plus the
    context) to build it and check its output. Keras 3 layers keep their
    weights in ``keras.Variable`` objects that ``tf.Module`` does not see; this
    wrapper stores the underlying ``tf.Variable`` s in an attribute, so
    ``trainable_variables``, ``tf.train.Checkpoint`` and ``tf.saved_model.save``
    all find them.

    With ``input_order`` the wrapper declares the network autoregressive in that
    order (an :class:`AutoregressiveConditioner` with the strict connectivity,
    for :class:`~tfp_flows.bijectors.MaskedAutoregressive`) and checks it by
    behaviour (:func:`check_autoregressive`).

    Args:
      network: the network (see above).
      input_size: width ``n_a`` of the conditioning input (default: the network's own).
      output_size: width of the output (default: the network's own).
      dtype: expected output dtype.
      name: module name.
      context_size: width of the context (0: unconditional; default: the network's own).
      input_order: a permutation of ``range(input_size)`` in which the network
        is autoregressive (``None``: not declared).

    #### Examples

    >>> import keras
    >>> net = keras.Sequential([keras.layers.Dense(8, activation="relu"), keras.layers.Dense(2)])
    >>> wrapped = TrackedConditioner(net, input_size=1, output_size=2)
    >>> len(wrapped.trainable_variables), wrapped(tf.ones([5, 1])).shape
    (4, TensorShape([5, 2]))
    """

    def __init__(
        self,
        network: Callable[..., Any],
        input_size: int | None = None,
        output_size: int | None = None,
        dtype: tf.DType = tf.float32,
        name: str = "conditioner",
        context_size: int | None = None,
        input_order: Any = None,
    ):
        super().__init__(name=name)
        if not callable(network):
            raise TypeError(f"a conditioner must be callable, got {type(network).__name__}.")
        self._declares = isinstance(network, Conditioner)
        if self._declares:
            sizes = (network.input_size, network.output_size, network.context_size)
            given = (input_size, output_size, context_size)
            for label, own, asked in zip(
                ("input_size", "output_size", "context_size"), sizes, given
            ):
                if asked is not None and asked != own:
                    raise ValueError(
                        f"{name}: the network declares {label}={own}, but {label}={asked} "
                        "was asked for."
                    )
        else:
            if input_size is None or output_size is None:
                raise TypeError(
                    f"{name}: a network that declares no sizes ({_describe(network)}) needs "
                    "input_size= and output_size=."
                )
            sizes = (input_size, output_size, context_size or 0)
        self.network = network
        self._sizes = tuple(int(s) for s in sizes)
        _probe(self.__call__, *self._sizes, dtype, name)
        if not isinstance(network, tf.Module):
            # Keras 3 (or any non-Module) network: track its variables explicitly.
            self.network_variables = _keras3_variables(network)
        # An autoregressive network's declarations: its own (a declaring network), or the
        # strict pattern of `input_order`, checked on the Jacobian.
        self._input_order = getattr(network, "input_order", None) if self._declares else None
        self._connectivity = getattr(network, "connectivity", None) if self._declares else None
        if input_order is not None:
            n, outputs = self._sizes[0], self._sizes[1]
            if outputs % n:
                raise ValueError(
                    f"{name}: an autoregressive network maps its {n} entries to p blocks of {n} "
                    f"parameters, but output_size={outputs} is not a multiple of {n}."
                )
            self._input_order = check_input_order(input_order, n, f"{name}: input_order")
            self._connectivity = autoregressive_connectivity(self._input_order, outputs // n)
            check_autoregressive(
                self.__call__, self._input_order, outputs // n, self._sizes[2], dtype, name
            )

    @property
    def input_size(self) -> int:
        """Width ``n_a`` of the conditioning input."""
        return self._sizes[0]

    @property
    def output_size(self) -> int:
        """Width of the output."""
        return self._sizes[1]

    @property
    def context_size(self) -> int:
        """Width of the context (0: unconditional)."""
        return self._sizes[2]

    @property
    def input_order(self) -> np.ndarray | None:
        """The declared autoregressive order (``None``: not declared)."""
        return None if self._input_order is None else np.array(self._input_order)

    @property
    def connectivity(self) -> np.ndarray | None:
        """Which inputs each output may read: the network's own, or the strict pattern of
        ``input_order`` (``None``: not declared)."""
        return None if self._connectivity is None else np.array(self._connectivity)

    def __call__(self, x: tf.Tensor, context: tf.Tensor | None = None) -> tf.Tensor:
        """``x`` ``[B, n_a]`` (and ``context`` ``[B, k]``) -> ``[B, output_size]``."""
        if self._declares:
            return _concat(self.network(x, context))
        return _concat(self.network(with_context(x, context, self._sizes[2], self.name)))


def as_conditioner(network: Any, spec: ConditionerSpec, owner: str) -> Conditioner:
    """``network`` (or what a factory makes for ``spec``) as a checked, tracked :class:`Conditioner`.

    - a :class:`ConditionerFactory`: its ``make_conditioner(spec)``, then as below;
    - a :class:`Conditioner`: its declared sizes must be the spec's (a
      ``ValueError`` names both); a Keras 3 one (not a ``tf.Module``) is wrapped
      in :class:`TrackedConditioner`;
    - any other callable: :class:`TrackedConditioner` (it reads ``[x_a, c]``).

    Every conditioner is called once on a probe (shape and dtype of its output).

    #### Examples

    >>> from tfp_flows.nn import MLP
    >>> spec = ConditionerSpec(input_size=1, params_per_entry=2, num_transformed=1)
    >>> as_conditioner(MLP(1, 4), spec, "coupling")
    Traceback (most recent call last):
    ...
    ValueError: coupling: the conditioner must have output_size=2 (got 4); build it for these sizes or give a factory (tff.nn.MLPFactory, ...).
    """
    if isinstance(network, ConditionerFactory):
        network = network.make_conditioner(spec)
    if isinstance(network, Conditioner):
        errors = _size_errors(network, spec)
        if errors:
            raise ValueError(
                f"{owner}: the conditioner must have {', '.join(errors)}; build it for these "
                "sizes or give a factory (tff.nn.MLPFactory, ...)."
            )
        if isinstance(network, tf.Module):
            _probe(network, spec.input_size, spec.output_size, spec.context_size, spec.dtype, owner)
            return network
        return TrackedConditioner(network, dtype=spec.dtype)
    if isinstance(network, (str, bytes)) or not callable(network):
        raise TypeError(
            f"{owner}: a conditioner must be a network (a tff.nn.Conditioner, a Keras or "
            "tf_keras layer or model, a tf.Module, a callable) or a ConditionerFactory, got "
            f"{network!r} ({type(network).__name__})."
        )
    return TrackedConditioner(
        network, spec.input_size, spec.output_size, spec.dtype, context_size=spec.context_size
    )


def as_autoregressive_conditioner(
    network: Any, spec: ConditionerSpec, owner: str
) -> AutoregressiveConditioner:
    """:func:`as_conditioner`, and the network must declare an order its connectivity respects.

    ``spec.input_order`` (if given) must be the network's. Raises ``TypeError``
    for a network that declares no ``input_order`` / ``connectivity`` (not known
    to be autoregressive), ``ValueError`` for a connectivity that lets an output
    read an input that does not come before its entry.

    #### Examples

    >>> import keras
    >>> spec = ConditionerSpec(input_size=3, params_per_entry=1, num_transformed=3)
    >>> as_autoregressive_conditioner(keras.layers.Dense(3), spec, "maf")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    TypeError: maf: the conditioner must be known to be autoregressive: ...
    """
    if isinstance(network, ConditionerFactory):
        network = network.make_conditioner(spec)
    missing = [
        attribute
        for attribute in ("input_order", "connectivity")
        if getattr(network, attribute, None) is None
    ]
    if missing:
        raise TypeError(
            f"{owner}: the conditioner must be known to be autoregressive: declare input_order "
            "(a permutation o of range(n)) and connectivity ([n, p n], output j n + i reads "
            "input m only if o[m] < o[i]), as tff.nn.MADE does, or wrap a masked network in "
            "tff.nn.TrackedConditioner(network, input_size=n, output_size=p * n, "
            f"input_order=o), which checks it; got {_describe(network)}, which declares no "
            f"{' and no '.join(missing)}."
        )
    conditioner = as_conditioner(network, spec, owner)
    n = spec.input_size
    order = check_input_order(network.input_order, n, f"{owner}: the conditioner's input_order")
    if spec.input_order is not None and not np.array_equal(order, spec.input_order):
        raise ValueError(
            f"{owner}: input_order={np.asarray(spec.input_order).tolist()} was asked for, but "
            f"the conditioner is autoregressive in input_order={order.tolist()} (give one order: "
            "leave input_order=None with a built network)."
        )
    connectivity = np.asarray(network.connectivity)
    if connectivity.shape != (n, spec.output_size):
        raise ValueError(
            f"{owner}: the conditioner's connectivity must have shape [{n}, {spec.output_size}] "
            f"(inputs, outputs), got {list(connectivity.shape)}."
        )
    leaks = np.argwhere(
        (connectivity != 0) & (autoregressive_connectivity(order, spec.params_per_entry) == 0)
    )
    if len(leaks):
        m, u = (int(v) for v in leaks[0])
        j, i = divmod(u, n)
        raise ValueError(
            f"{owner}: the conditioner's connectivity is not autoregressive in its "
            f"input_order={order.tolist()}: output {u} (parameter {j} of entry {i}) may read "
            f"input {m}, which does not come before entry {i}."
        )
    return conditioner
