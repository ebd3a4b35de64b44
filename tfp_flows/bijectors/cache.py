"""Bijector caches that never return results computed with other weights.

TFP caches ``forward``/``inverse`` results keyed by the bijector (by equality)
and the *identity* of the input tensor. For a bijector with trainable weights
that is a trap twice over:

- an eager training loop that evaluates ``log_prob(x)`` on the same data tensor
  after every optimizer step gets the value of the *first* step back, and
  ``log_prob(s)`` of samples drawn before an update returns the old density;
- inside ``tf.function``, a value cached before a variable was assigned is
  returned after the assignment.

The caches here add a *weights state* to every cache key (:func:`weights_state`):

```none
eager:           (version of v for every variable v)      O(number of variables), not of weights
tf.function:     (the graph, number of variable writes traced into it so far)
```

so an entry is reused only while the weights it was computed with are
unchanged. Both are conservative: any variable write traced into the graph
(an optimizer step, an ``assign``) invalidates the graph's entries, and a
function traced once keeps its entries for one trace.

Eagerly, a variable's *version* changes whenever its value may have changed,
without looking at the values. The cache keeps the tensor of the variable's
last read (``ReadVariableOp`` returns the variable's buffer itself, not a
copy), so that buffer is shared. TensorFlow never writes into a shared
variable buffer: every write (``assign*``, ``scatter_*``, the fused
``ResourceApply*`` kernels of tf_keras optimizers, Keras 3 optimizer updates,
checkpoint restores, a ``tf.function`` or XLA computation that updates the
variable) either copies the buffer first (copy-on-write) or puts a new one in
its place. A variable whose buffer address differs from the kept read's has
therefore been written since (the kept read holds the old buffer, so its
address cannot be reused), and gets a new version; an equal address means no
write happened. A variable whose address cannot be read (no DLPack for its
device or dtype) gets a new version at every call. The price: a variable that
is written after an eager call is copied once by its next write, and its old
buffer lives until the next eager call looks at it.

Within one :func:`call_scope` (no variable is written during one
``log_prob``) a module's state is computed once.

A result is also useless to a gradient tape that did not record its
computation. While a tape may record, an entry is reused only within one
:func:`call_scope` (one ``log_prob``, ``prob`` or ``sample_and_log_prob`` of a
:class:`~tfp_flows.Flow`, where ``inverse`` and ``inverse_log_det_jacobian``
share one pass); outside a scope, nothing is reused under a tape. Which *bijector* an entry
belongs to is TFP's business: the package's bijectors compare equal only to
themselves (see :class:`~tfp_flows.bijectors.FlowBijector`), so two flows
never answer each other's calls.

:class:`WeightAwareCache` is "greedy": the bijector's ``_augmented_forward`` /
``_augmented_inverse`` return ``(output, {"ildj": ...})``, so one conditioner
pass gives both the transformed value and the log-det-Jacobian, and
``TransformedDistribution.log_prob`` (which calls ``inverse`` and then
``inverse_log_det_jacobian``) runs the conditioner once.
:class:`WeightAwareValueCache` caches values only, for compositions
(:class:`~tfp_flows.bijectors.FlowChain`).

#### Examples

>>> import tensorflow as tf
>>> from tfp_flows.bijectors import AffineCoupling
>>> layer = AffineCoupling(2, seed=0)
>>> x = tf.constant([[1.0, 2.0]])
>>> before = layer.inverse(x)
>>> _ = [v.assign(v + 0.5) for v in layer.trainable_variables]
>>> bool(tf.reduce_all(layer.inverse(x) == layer.inverse(tf.identity(x))))
True
"""

from __future__ import annotations

import contextlib
import contextvars
import ctypes
import itertools
import weakref
from collections.abc import Iterator
from typing import Any

import tensorflow as tf
from tensorflow.python.eager import record
from tensorflow.python.ops import gen_resource_variable_ops
from tensorflow_probability.python.internal import cache_util

__all__ = ["WeightAwareCache", "WeightAwareValueCache", "call_scope", "weights_state"]

_TOKEN = "_tfp_flows_weights_state"

# Ops that take a variable handle without writing to it.
_READ_ONLY_RESOURCE_OPS = frozenset(
    {
        "ReadVariableOp",
        "ResourceGather",
        "ResourceGatherNd",
        "VariableShape",
        "VarIsInitializedOp",
        "Identity",
        "DestroyResourceOp",
    }
)


class _Scope:
    """One user-level call; ``states`` maps ``id(module)`` to its eager weights state."""

    __slots__ = ("states",)

    def __init__(self) -> None:
        self.states: dict[int, tuple] = {}


_scope: contextvars.ContextVar[_Scope | None] = contextvars.ContextVar(
    "tfp_flows_cache_call_scope", default=None
)


@contextlib.contextmanager
def call_scope() -> Iterator[None]:
    """Lets results be reused under a gradient tape for the duration of one user-level call.

    #### Examples

    >>> with call_scope():
    ...     inside = _recording_key()
    >>> inside == _recording_key()  # no tape records: the scope does not matter
    True
    """
    token = _scope.set(_Scope())
    try:
        yield
    finally:
        _scope.reset(token)


def _recording_key() -> object:
    """``False`` when no tape records; else the current call scope (a fresh one if none)."""
    if not record.could_possibly_record():
        return False
    scope = _scope.get()
    return object() if scope is None else scope


# graph -> (number of operations scanned, variable writes among them)
_graph_writes: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


_versions = itertools.count()
_PyCapsule_GetPointer = ctypes.pythonapi.PyCapsule_GetPointer
_PyCapsule_GetPointer.restype = ctypes.c_void_p
_PyCapsule_GetPointer.argtypes = [ctypes.py_object, ctypes.c_char_p]


def _buffer_address(value: tf.Tensor) -> int | None:
    """Address of the device buffer behind an eager tensor (via DLPack); ``None`` if unknown."""
    try:
        capsule = tf.experimental.dlpack.to_dlpack(value)
    except Exception:  # a device or dtype without DLPack
        return None
    managed = _PyCapsule_GetPointer(capsule, b"dltensor")  # DLManagedTensor*: DLTensor first,
    return ctypes.c_void_p.from_address(managed).value  # whose first field is `void* data`


def _read(variable: tf.Variable) -> tf.Tensor:
    handle = getattr(variable, "_handle", None)
    if handle is not None and getattr(variable, "_distribute_strategy", None) is None:
        return gen_resource_variable_ops.read_variable_op(handle, variable.dtype)  # no copy
    return tf.convert_to_tensor(variable)


class _Watch:
    """The last read of one variable (kept, so its buffer stays shared) and its version."""

    __slots__ = ("address", "read", "reference", "shape", "version")

    def __init__(self, variable: tf.Variable):
        key = id(variable)
        self.reference = weakref.ref(variable, lambda _: _watches.pop(key, None))
        self.read = self.address = self.shape = None
        self.version = -1

    def version_now(self, variable: tf.Variable) -> int:
        read = _read(variable)
        address = _buffer_address(read)
        if address is None or address != self.address or read.shape != self.shape:
            self.read, self.address, self.shape = read, address, read.shape
            self.version = next(_versions)
        return self.version


_watches: dict[int, _Watch] = {}


def _variable_version(variable: tf.Variable) -> int:
    """A number that changes whenever ``variable`` may have been written (eagerly)."""
    watch = _watches.get(id(variable))
    if watch is None or watch.reference() is not variable:
        watch = _watches[id(variable)] = _Watch(variable)
    return watch.version_now(variable)


def _eager_weights_state(module: tf.Module) -> tuple:
    scope = _scope.get()
    if scope is not None and id(module) in scope.states:
        return scope.states[id(module)]
    state = ("eager", *(_variable_version(v) for v in module.variables))
    if scope is not None:
        scope.states[id(module)] = state
    return state


def _writes_variables(operation: tf.Operation) -> bool:
    if operation.type in _READ_ONLY_RESOURCE_OPS:
        return False
    return any(t.dtype == tf.resource for t in operation.inputs)


def _variable_writes(graph: tf.Graph) -> int:
    """Number of operations in ``graph`` so far that may write a variable (conservative)."""
    scanned, writes = _graph_writes.get(graph, (0, 0))
    operations = graph.get_operations()
    if len(operations) > scanned:
        writes += sum(_writes_variables(op) for op in operations[scanned:])
        _graph_writes[graph] = (len(operations), writes)
    return writes


def weights_state(module: tf.Module) -> tuple:
    """A hashable token that changes whenever ``module``'s weights may have changed.

    Eagerly, the versions of the variables (see the module docstring). While tracing a
    ``tf.function``, the graph and the number of variable writes traced into
    it so far.

    #### Examples

    >>> v = tf.Variable([1.0, 2.0])
    >>> module = tf.Module(); module.v = v
    >>> before = weights_state(module)
    >>> _ = v.assign([1.0, 3.0])
    >>> weights_state(module) == before
    False
    """
    if tf.executing_eagerly():
        return _eager_weights_state(module)
    graph = tf.compat.v1.get_default_graph()
    return ("graph", id(graph), _variable_writes(graph))


class _WeightsKeyed:
    """Adds :func:`weights_state` of the bound bijector to every cache key."""

    def _keyed(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        if self.bijector is None:
            return kwargs
        return dict(kwargs, **{_TOKEN: (weights_state(self.bijector), _recording_key())})

    def _lookup(self, input, forward_name, inverse_name, **kwargs):  # noqa: A002
        return super()._lookup(input, forward_name, inverse_name, **self._keyed(kwargs))

    def _attributes(self, input, fn_name, **kwargs):  # noqa: A002
        return super()._attributes(input, fn_name, **self._keyed(kwargs))

    def _invoke(self, input, fn_name, kwargs, attributes):  # noqa: A002
        kwargs = {k: v for k, v in kwargs.items() if k != _TOKEN}
        return super()._invoke(input, fn_name, kwargs, attributes)


class WeightAwareCache(_WeightsKeyed, cache_util.BijectorCacheWithGreedyAttrs):
    """Greedy-attribute bijector cache keyed also by the current weights."""


class WeightAwareValueCache(_WeightsKeyed, cache_util.BijectorCache):
    """Value cache keyed also by the current weights (for chains of layers)."""
