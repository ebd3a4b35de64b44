"""Base class of the package's bijectors: a fixed event shape, an optional context.

:class:`FlowBijector` gives every subclass the same contract:

- subclasses implement ``_forward_and_ildj(x, **kwargs) -> (y, ildj)`` and
  ``_inverse_and_ildj(y, **kwargs) -> (x, ildj)``, the value and the
  log-det-Jacobian in one pass; both return the *inverse* log-det-Jacobian
  ``ildj = log|det dx/dy|`` summed over the event (one sign for every hook in
  the package); ``forward_and_log_det(x)`` and ``inverse_and_log_det(y)`` return
  both from that one pass, and :class:`~tfp_flows.Flow` calls them, so
  ``log_prob``, ``sample`` and ``experimental_sample_and_log_prob`` run each
  layer once;
- nothing is cached (:class:`~tfp_flows.bijectors.cache.NoCache`): every call
  computes from its input and the current weights, so no result is ever stale;
  ``inverse(y)`` then ``inverse_log_det_jacobian(y)`` runs the layer twice;
- the event has a fixed shape (``event_shape``, rank >= 1; an int means a
  vector); inputs of the wrong event shape or dtype raise errors naming what
  was expected and what came; with ``validate_args=True`` non-finite inputs
  raise; a layer that rearranges its event (a squeeze ``[H, W, C] -> [H/2, W/2, 4C]``)
  declares ``output_event_shape`` (same rank and size; ``forward_event_shape``
  and ``inverse_event_shape`` follow it);
- a *conditional* layer (``context_size = k > 0``) takes ``context=c`` of shape
  ``[..., k]`` in ``forward``, ``inverse`` and both log-dets, and its hooks
  receive it as ``context``; a missing context, or a context given to an
  unconditional layer, raises. The context's batch shape ``c.shape[:-1]`` must
  broadcast (NumPy rules) against the input's ``x.shape[:-event_rank]``, or the
  call raises naming both shapes; NumPy/list contexts are converted to the
  layer's dtype, tensors of another dtype raise; a width unknown while tracing
  is checked when the function runs;
- TFP's contract ``type(b)(**b.parameters)`` rebuilds the same map: a layer
  with weights (``tf.Variable`` s, or modules holding them) carries them in
  ``parameters["shared_weights"]`` (a :class:`SharedWeights`), and a layer
  built from them *shares* them: ``copy()``, ``copy(validate_args=True)``,
  the slices ``b[...]`` and ``b[()]`` and ``type(b)(**b.parameters)`` use the
  same variables, in eager mode and inside ``tf.function`` (no variable is
  created: the rebuild's ``__init__`` is handed the original's, in order);
- equality and hashing are TFP's (``parameters`` compared entry by entry,
  variables and modules by identity): a layer equals its copies and rebuilds;
  two layers built apart never compare equal, even with equal values (TFP
  treats equal bijectors as one map: its closed-form KL divergences, its
  caches of other bijectors); ``copy.deepcopy`` gives an independent layer
  with the same current values;
- batch shape ``[]``: ``b[...]`` and ``b[()]`` give the same map; any other
  slice raises ``IndexError`` (a scalar batch has no axis to index).

#### Writing your own layer: the rules

1. Subclass :class:`FlowBijector`, call ``super().__init__(event_shape,
   parameters=dict(locals()), name=...)`` and implement the two one-pass hooks
   ``_forward_and_ildj`` and ``_inverse_and_ildj`` (both return ``ildj = log|det dx/dy|``).
2. Keep weights in ``tf.Variable`` s, ``tf.Module`` s (:class:`~tfp_flows.nn.MLP`,
   :class:`~tfp_flows.nn.MADE`), tf_keras layers, or lists / tuples / dicts of them: TensorFlow
   tracks all of these (``trainable_variables``, checkpoints, SavedModel).
3. A Keras 3 layer or model is invisible to that tracking (its variables are not
   ``tf.Module`` s): its weights would not train or save. Setting one
   as an attribute raises ``TypeError``; wrap it, ``TrackedConditioner(layer, input_size=...,
   output_size=...)`` (:mod:`tfp_flows.nn`).
4. Build the same variables, in the same order, from the same parameters (seeded or not):
   a copy, slice or rebuild is handed this layer's variables as its ``__init__`` creates them,
   then shares every attribute that holds weights (directly or in a list, tuple or dict), so
   it computes the same map now and after training.
5. Check the layer with ``tff.testing.check_bijector`` after ``tff.testing.perturb_weights``.
"""

from __future__ import annotations

import functools
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf
from tensorflow_probability import bijectors as tfb

from tfp_flows._internal.checks import (
    check_event_shape,
    check_floating_dtype,
    check_integer,
    check_tensor_dtype,
)
from tfp_flows._internal.context import checked_context
from tfp_flows.bijectors.cache import NoCache

__all__ = ["FlowBijector", "SharedWeights", "broadcast_batch"]


def broadcast_batch(x: tf.Tensor, context: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """``x`` ``[..., n]`` and ``context`` ``[..., k]`` broadcast to one batch shape.

    What a conditional layer does before its network reads ``[x, context]``
    row by row (a context ``[m, k]`` with ``x`` ``[s, m, n]`` conditions every
    sample on its own row).

    #### Examples

    >>> x, c = broadcast_batch(tf.zeros([5, 3, 2]), tf.ones([3, 1]))
    >>> x.shape, c.shape
    (TensorShape([5, 3, 2]), TensorShape([5, 3, 1]))
    """
    if x.shape[:-1].is_fully_defined() and x.shape[:-1] == context.shape[:-1]:
        return x, context
    batch = tf.broadcast_dynamic_shape(tf.shape(x)[:-1], tf.shape(context)[:-1])
    return (
        tf.broadcast_to(x, tf.concat([batch, tf.shape(x)[-1:]], 0)),
        tf.broadcast_to(context, tf.concat([batch, tf.shape(context)[-1:]], 0)),
    )


def _nested(value: Any) -> list[Any]:
    """``value`` and everything inside its lists, tuples and dicts (TF's wrappers included)."""
    if isinstance(value, (str, bytes, tf.Tensor, np.ndarray)):
        return [value]
    if isinstance(value, Mapping):
        return [value, *(item for v in value.values() for item in _nested(v))]
    if (
        isinstance(value, (list, tuple))
        or isinstance(value, Sequence)
        and not isinstance(value, (tf.Module, tf.Variable))
    ):
        return [value, *(item for v in value for item in _nested(v))]
    return [value]


def _keras3_layer_in(value: Any) -> Any:
    """The first Keras 3 layer in ``value`` (or its lists/tuples/dicts), else ``None``."""
    keras = sys.modules.get("keras")  # not imported: no Keras 3 object can exist
    if keras is None:
        return None
    for v in _nested(value):
        if isinstance(v, keras.layers.Layer) and not isinstance(v, tf.Module):
            return v
    return None


# Attributes of tf.Module / tfb.Bijector bookkeeping: never weights of the layer's own.
_BOOKKEEPING = frozenset(
    {
        "_parameters",
        "_graph_parents",
        "_initial_parameter_control_dependencies",
        "_cached_batch_shapes",
        "_tfp_batch_slice_provenance",
    }
)


def _given_objects(parameters: Mapping[str, Any]) -> set[int]:
    """``id`` s of the variables and modules among ``parameters`` (networks passed in), with
    every variable and submodule inside those modules."""
    ids = set()
    for value in _nested(list(parameters.values())):
        if isinstance(value, (tf.Variable, tf.Module)):
            ids.add(id(value))
        if isinstance(value, tf.Module):
            ids.update(id(v) for v in value.variables)
            ids.update(id(m) for m in value.submodules)
    return ids


def _own_weight_attributes(layer: tf.Module, given: set[int]) -> dict[str, Any]:
    """The layer's attributes that hold weights (variables, modules; also in lists/dicts) not
    all passed in among its parameters (those are shared as parameters)."""
    own = {}
    for name, value in vars(layer).items():
        if name.startswith("_self_") or name in _BOOKKEEPING:
            continue
        weights = [v for v in _nested(value) if isinstance(v, (tf.Variable, tf.Module))]
        if weights and not all(id(v) in given for v in weights):
            own[name] = value
    return own


class SharedWeights:
    """The weights of one layer: what its copies, slices and rebuilds share.

    A :class:`FlowBijector` with weights carries them in
    ``parameters["shared_weights"]``, so TFP's ``type(b)(**b.parameters)`` (what
    ``copy()`` and ``b[...]`` do) builds a layer with *the same* variables:

    Networks passed in (modules among the other parameters, such as a coupling's
    ``conditioner``) are shared as those parameters; these are the layer's own weights:

    - ``variables``: the ``tf.Variable`` s the layer's ``__init__`` created (not
      those of networks among its other parameters), in creation order: the
      rebuild's ``__init__`` is handed these instead of creating new ones (so a
      rebuild inside ``tf.function`` creates no variable);
    - ``attributes``: the layer's attributes holding weights (variables, modules,
      lists or dicts of them) not passed in, set on the rebuild (a network that builds its
      variables at its first call is shared too).

    It compares by identity: two layers built apart never share weights, so
    never compare equal (TFP's ``__eq__`` compares ``parameters``).

    #### Examples

    >>> from tfp_flows.bijectors import ActNorm
    >>> layer = ActNorm(2, name="an")
    >>> layer.parameters["shared_weights"]
    SharedWeights(ActNorm: loc, log_scale, adapted)
    >>> rebuilt = type(layer)(**layer.parameters)
    >>> rebuilt.loc is layer.loc, rebuilt == layer, ActNorm(2, name="an") == layer
    (True, True, False)
    """

    def __init__(
        self, layer_type: type, attributes: Mapping[str, Any], variables: Sequence[tf.Variable]
    ):
        self._layer_type = layer_type
        self._attributes = dict(attributes)
        self._variables = tuple(variables)

    @property
    def layer_type(self) -> type:
        """The class of the layer these weights belong to."""
        return self._layer_type

    @property
    def attributes(self) -> Mapping[str, Any]:
        """The layer's attributes that hold weights, by name."""
        return dict(self._attributes)

    @property
    def variables(self) -> tuple[tf.Variable, ...]:
        """The variables the layer's ``__init__`` created, in creation order."""
        return self._variables

    def __repr__(self) -> str:
        return f"SharedWeights({self._layer_type.__name__}: {', '.join(self._attributes)})"


class _Replay:
    """A variable creator handing out ``variables`` in order instead of creating new ones.

    A creation that does not match the next variable (shape, dtype, trainability) ends the
    replay: from then on variables are created (and the shared attributes replace them)."""

    def __init__(self, variables: Sequence[tf.Variable]):
        self._pending = list(variables)

    @staticmethod
    def _matches(variable: tf.Variable, kwargs: dict[str, Any]) -> bool:
        trainable = kwargs.get("trainable")
        if trainable is not None and bool(trainable) != variable.trainable:
            return False
        dtype, shape = kwargs.get("dtype"), kwargs.get("shape")
        try:
            value = kwargs.get("initial_value")
            value = value() if callable(value) else value
            if not isinstance(value, (tf.Tensor, tf.Variable)):
                value = tf.convert_to_tensor(value, dtype=dtype)
        except (TypeError, ValueError):
            return False
        dtype = tf.as_dtype(dtype) if dtype is not None else value.dtype
        shape = tf.TensorShape(shape) if shape is not None else value.shape
        return variable.dtype.base_dtype == dtype.base_dtype and variable.shape == shape

    def __call__(self, next_creator: Callable[..., tf.Variable], **kwargs: Any) -> tf.Variable:
        if self._pending:
            if self._matches(self._pending[0], kwargs):
                return self._pending.pop(0)
            self._pending.clear()
        return next_creator(**kwargs)


_constructing = threading.local()


def _construction_stack() -> list[Any]:
    """The layers whose ``__init__`` runs in this thread (innermost last)."""
    if not hasattr(_constructing, "stack"):
        _constructing.stack = []
    return _constructing.stack


def _sharing_weights(init: Callable[..., None]) -> Callable[..., None]:
    """``init`` taking ``shared_weights=`` (a :class:`SharedWeights`), recording or replaying
    the variables it creates, and completing ``parameters`` when the outermost ``__init__``
    returns."""

    @functools.wraps(init)
    def __init__(self, *args: Any, shared_weights: SharedWeights | None = None, **kwargs: Any):
        stack = _construction_stack()
        if stack and stack[-1] is self:  # a subclass's __init__ calling its parent's
            init(self, *args, **kwargs)
            return
        if shared_weights is not None and not (
            isinstance(shared_weights, SharedWeights) and shared_weights.layer_type is type(self)
        ):
            raise TypeError(
                f"{type(self).__name__}: shared_weights must be the parameters"
                f"['shared_weights'] of another {type(self).__name__}, got {shared_weights!r}."
            )
        created: list[tf.Variable] = []

        def record(next_creator, **creator_kwargs):
            variable = next_creator(**creator_kwargs)
            created.append(variable)
            return variable

        creator = record if shared_weights is None else _Replay(shared_weights.variables)
        stack.append(self)
        try:
            with tf.variable_creator_scope(creator):
                init(self, *args, **kwargs)
        finally:
            stack.pop()
        self._complete_parameters(shared_weights, created)

    return __init__


def _hashable(value: Any) -> Any:
    """A hashable stand-in for one flattened parameter, equal when TFP's ``__eq__`` finds the
    values equal: arrays and constant tensors by value, variables and other unhashable objects
    by identity."""
    if isinstance(value, tf.Variable):
        return ("id", id(value))
    if tf.is_tensor(value):
        static = tf.get_static_value(value)
        value = ("id", id(value)) if static is None else np.asarray(static)
    if isinstance(value, np.ndarray):
        return ("array", value.shape, tuple(value.ravel().tolist()))
    try:
        hash(value)
    except TypeError:
        return ("id", id(value))
    return value


def _describe_slices(parts: tuple[Any, ...]) -> str:
    """``parts`` written as inside brackets: ``0, ..., tf.newaxis, 1:3``."""

    def one(part: Any) -> str:
        if part is Ellipsis:
            return "..."
        if part is None:
            return "tf.newaxis"
        if isinstance(part, slice):
            text = ":".join("" if v is None else str(v) for v in (part.start, part.stop))
            return text if part.step is None else f"{text}:{part.step}"
        return str(part)

    return ", ".join(one(part) for part in parts) if parts else "()"


class FlowBijector(tfb.Bijector):
    """A ``tfb.Bijector`` on events of a fixed shape, with one-pass log-dets and a context.

    Subclasses call ``super().__init__(event_shape, ...)`` (an int for vectors)
    and implement ``_forward_and_ildj`` and ``_inverse_and_ildj``; inputs reach
    them checked. ``forward_min_event_ndims`` is the rank of ``event_shape``.

    #### Examples

    >>> class Double(FlowBijector):
    ...     def __init__(self):
    ...         super().__init__(2, parameters={}, name="double", is_constant_jacobian=True)
    ...     def _forward_and_ildj(self, x):
    ...         return 2 * x, -2 * tf.math.log(2.0) * tf.ones(tf.shape(x)[:-1])
    ...     def _inverse_and_ildj(self, y):
    ...         return y / 2, -2 * tf.math.log(2.0) * tf.ones(tf.shape(y)[:-1])
    >>> Double().inverse(tf.constant([[2.0, 4.0]])).numpy().tolist()
    [[1.0, 2.0]]
    >>> y, log_det = Double().forward_and_log_det(tf.ones([3, 2]))   # one pass
    >>> y.shape, log_det.numpy().round(4).tolist()
    (TensorShape([3, 2]), [1.3863, 1.3863, 1.3863])
    >>> Double().forward(tf.zeros([1, 3]))
    Traceback (most recent call last):
    ...
    ValueError: double: expected inputs with event shape [2], got shape [1, 3].
    """

    _cache = NoCache()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            cls.__init__ = _sharing_weights(cls.__dict__["__init__"])

    def __init__(
        self,
        event_shape: int | Sequence[int],
        *,
        parameters: dict[str, Any],
        name: str,
        is_constant_jacobian: bool = False,
        validate_args: bool = False,
        dtype: tf.DType = tf.float32,
        context_size: int = 0,
        output_event_shape: int | Sequence[int] | None = None,
    ):
        self._event_shape = check_event_shape(event_shape, f"{name}: event_shape")
        self._event_size = int(np.prod(self._event_shape))
        self._output_event_shape = (
            self._event_shape
            if output_event_shape is None
            else (check_event_shape(output_event_shape, f"{name}: output_event_shape"))
        )
        if (
            len(self._output_event_shape) != len(self._event_shape)
            or int(np.prod(self._output_event_shape)) != self._event_size
        ):
            raise ValueError(
                f"{name}: output_event_shape {list(self._output_event_shape)} must have the rank "
                f"and the size of event_shape {list(self._event_shape)}."
            )
        self._context_size = check_integer(f"{name}: context_size", context_size, minimum=0)
        super().__init__(
            forward_min_event_ndims=len(self._event_shape),
            is_constant_jacobian=is_constant_jacobian,
            validate_args=validate_args,
            dtype=check_floating_dtype(dtype, name),
            parameters=parameters,
            name=name,
        )

    @property
    def event_shape(self) -> tuple[int, ...]:
        """Shape of the event this bijector acts on (rank >= 1)."""
        return self._event_shape

    @property
    def output_event_shape(self) -> tuple[int, ...]:
        """Shape of the event ``forward`` returns (``event_shape`` unless the layer rearranges it)."""
        return self._output_event_shape

    @property
    def event_size(self) -> int:
        """Number of entries of the event (the product of ``event_shape``)."""
        return self._event_size

    @property
    def context_size(self) -> int:
        """Width ``k`` of the context ``[..., k]`` it takes (0: unconditional)."""
        return self._context_size

    @classmethod
    def _parameter_properties(cls, dtype, num_classes=None):
        return {}

    def _batch_shape(self, x_event_ndims):
        return tf.TensorShape([])

    def _batch_shape_tensor(self, x_event_ndims):
        return tf.constant([], dtype=tf.int32)

    # -- event shapes (only a layer that rearranges its event changes them) ----------------

    def _swap_event(
        self, shape: tf.TensorShape, old: tuple[int, ...], new: tuple[int, ...]
    ) -> tf.TensorShape:
        shape = tf.TensorShape(shape)
        if old == new or shape.rank is None:
            return shape
        return shape[: shape.rank - len(old)].concatenate(new)

    def _swap_event_tensor(
        self, shape: tf.Tensor, old: tuple[int, ...], new: tuple[int, ...]
    ) -> tf.Tensor:
        if old == new:
            return shape
        return tf.concat([shape[: tf.size(shape) - len(old)], tf.constant(new, shape.dtype)], 0)

    def _forward_event_shape(self, input_shape):
        return self._swap_event(input_shape, self._event_shape, self._output_event_shape)

    def _inverse_event_shape(self, output_shape):
        return self._swap_event(output_shape, self._output_event_shape, self._event_shape)

    def _forward_event_shape_tensor(self, input_shape):
        return self._swap_event_tensor(input_shape, self._event_shape, self._output_event_shape)

    def _inverse_event_shape_tensor(self, output_shape):
        return self._swap_event_tensor(output_shape, self._output_event_shape, self._event_shape)

    # -- the author's contract: weights TensorFlow can see ---------------------------------

    def __setattr__(self, name: str, value: Any) -> None:
        layer = _keras3_layer_in(value)
        if layer is not None:
            raise TypeError(
                f"{type(self).__name__}.{name}: a Keras 3 {type(layer).__name__} is invisible to "
                "TensorFlow's variable tracking (its weights would not train or be saved); "
                "wrap it: "
                "tff.nn.TrackedConditioner(layer, input_size=..., output_size=...)."
            )
        super().__setattr__(name, value)

    # -- TFP's contract: parameters rebuild the map; equality, hashing, copies, slices ----------

    def _complete_parameters(
        self, shared_weights: SharedWeights | None, created: list[tf.Variable]
    ) -> None:
        """After the outermost ``__init__``: the final ``name`` and the layer's weights go into
        ``parameters``; a layer built from ``shared_weights`` takes their attributes."""
        if self._parameters is None:  # TFP's rule: no parameters, every instance unique
            return
        parameters = dict(self._parameters)
        if "name" in parameters:  # a generated name: copies and rebuilds keep it
            parameters["name"] = self.name
        if shared_weights is not None:
            for attribute, value in shared_weights.attributes.items():
                setattr(self, attribute, value)
        else:
            given = _given_objects(parameters)  # networks passed in: shared as parameters
            attributes = _own_weight_attributes(self, given)
            if attributes:
                shared_weights = SharedWeights(
                    type(self), attributes, [v for v in created if id(v) not in given]
                )
        if shared_weights is not None:
            parameters["shared_weights"] = shared_weights
        self._parameters = self._no_dependency(parameters)

    def __hash__(self) -> int:
        """TFP's hash of the parameters, with arrays (and constant tensors) hashed by value, as
        TFP's ``__eq__`` compares them (TFP hashes them by identity: equal layers built from
        equal arrays would hash apart)."""
        return hash(
            (type(self), *(_hashable(v) for v in tf.nest.flatten(self._get_parameterization())))
        )

    def copy(self, **override_parameters_kwargs: Any) -> FlowBijector:
        """A new layer from ``parameters`` that shares this layer's weights (TFP's ``copy``).

        It equals this layer (``copy(validate_args=...)`` differs in that parameter
        only) and computes the same map, now and after training. Only ``name`` and
        ``validate_args`` may be overridden: every other setting (sizes, dtype,
        bounds, the conditioner) is fixed by the shared weights, so an override
        would be silently ignored; it raises ``ValueError`` instead (build a new
        layer with those settings).
        """
        ignored = sorted(set(override_parameters_kwargs) - {"name", "validate_args"})
        if ignored:
            raise ValueError(
                f"{self.name}.copy() shares this layer's weights and takes only name= and "
                f"validate_args=, got {', '.join(ignored)}; build a new layer with those "
                "settings instead."
            )
        return super().copy(**override_parameters_kwargs)

    def __getitem__(self, slices: Any) -> FlowBijector:
        """``b[...]`` and ``b[()]``: the same map (TFP's batch slicing on batch shape ``[]``).

        A layer's batch shape is ``[]`` (its parameters are network weights: one map for every
        input), so there is no batch axis to index: any other slice raises ``IndexError``.
        """
        parts = slices if isinstance(slices, tuple) else (slices,)
        if any(part is not Ellipsis for part in parts):
            raise IndexError(
                f"{self.name}: this layer has batch shape [] (one map for every input, its "
                f"parameters are network weights), so it takes only b[...] or b[()], got "
                f"b[{_describe_slices(parts)}]."
            )
        return super().__getitem__(Ellipsis)

    # -- input checks that name what was expected and what came ----------------------------

    def _check_dtype(self, value: Any, what: str) -> None:
        check_tensor_dtype(value, self.dtype, self.name, what)

    def _check(self, x: tf.Tensor, what: str) -> tf.Tensor:
        """Checks the event shape (statically) and, with ``validate_args``, finiteness."""
        expected = self._output_event_shape if what == "outputs" else self._event_shape
        rank = len(expected)
        trailing = x.shape[-rank:] if x.shape.rank is not None and x.shape.rank >= rank else None
        if x.shape.rank is not None and (
            trailing is None or not trailing.is_compatible_with(expected)
        ):
            raise ValueError(
                f"{self.name}: expected {what} with event shape {list(expected)}, "
                f"got shape {x.shape.as_list()}."
            )
        if self.validate_args:
            x = tf.debugging.assert_all_finite(
                x, f"{self.name}: {what} must be finite (found NaN or inf)."
            )
        return x

    def _checked_kwargs(self, kwargs: dict[str, Any], x: Any = None) -> dict[str, Any]:
        """Checks the ``context`` keyword: present iff conditional, dtype, width, and that its
        batch shape broadcasts against that of the layer's input ``x``."""
        context = checked_context(
            kwargs.get("context"),
            self._context_size,
            self.dtype,
            self.name,
            kind="layer",
            points=x,
            event_rank=len(self._event_shape),
            at_run_time=False,
        )
        if context is None:
            return {k: v for k, v in kwargs.items() if k != "context"}
        return dict(kwargs, context=context)

    def _call_forward(self, x, name, **kwargs):
        self._check_dtype(x, "inputs")
        return super()._call_forward(x, name, **self._checked_kwargs(kwargs, x))

    def _call_inverse(self, y, name, **kwargs):
        self._check_dtype(y, "outputs")
        return super()._call_inverse(y, name, **self._checked_kwargs(kwargs, y))

    def _call_forward_log_det_jacobian(self, x, event_ndims, name, **kwargs):
        self._check_dtype(x, "inputs")
        return super()._call_forward_log_det_jacobian(
            x, event_ndims, name, **self._checked_kwargs(kwargs, x)
        )

    def _call_inverse_log_det_jacobian(self, y, event_ndims, name, **kwargs):
        self._check_dtype(y, "outputs")
        return super()._call_inverse_log_det_jacobian(
            y, event_ndims, name, **self._checked_kwargs(kwargs, y)
        )

    # -- one pass for the value and the log-det ---------------------------------------------

    def _forward_and_ildj(self, x: tf.Tensor, **kwargs: Any) -> tuple[tf.Tensor, tf.Tensor]:
        raise NotImplementedError

    def _inverse_and_ildj(self, y: tf.Tensor, **kwargs: Any) -> tuple[tf.Tensor, tf.Tensor]:
        raise NotImplementedError

    def _check_context_values(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        if self.validate_args and kwargs.get("context") is not None:
            return dict(
                kwargs,
                context=tf.debugging.assert_all_finite(
                    kwargs["context"],
                    f"{self.name}: the context must be finite (found NaN or inf).",
                ),
            )
        return kwargs

    def _checked_forward_and_ildj(self, x, **kwargs):
        return self._forward_and_ildj(
            self._check(x, "inputs"), **self._check_context_values(kwargs)
        )

    def _checked_inverse_and_ildj(self, y, **kwargs):
        return self._inverse_and_ildj(
            self._check(y, "outputs"), **self._check_context_values(kwargs)
        )

    def _forward(self, x, **kwargs):
        return self._checked_forward_and_ildj(x, **kwargs)[0]

    def _inverse(self, y, **kwargs):
        return self._checked_inverse_and_ildj(y, **kwargs)[0]

    def _inverse_log_det_jacobian(self, y, **kwargs):
        return self._checked_inverse_and_ildj(y, **kwargs)[1]

    def _forward_log_det_jacobian(self, x, **kwargs):
        return -self._checked_forward_and_ildj(x, **kwargs)[1]

    def _reduce_log_det(self, log_det: tf.Tensor, event_ndims: Any, own_rank: int) -> tf.Tensor:
        """``log_det`` (summed over this layer's event) summed over ``event_ndims - own_rank``
        more trailing dimensions, as ``*_log_det_jacobian(..., event_ndims)`` does."""
        if event_ndims is None:
            return log_det
        ndims = tf.get_static_value(tf.convert_to_tensor(event_ndims))
        if ndims is None:
            raise ValueError(f"{self.name}: event_ndims must be known statically.")
        extra = int(ndims) - own_rank
        if extra < 0:
            raise ValueError(
                f"{self.name}: event_ndims must be at least {own_rank}, got {int(ndims)}."
            )
        return tf.reduce_sum(log_det, axis=list(range(-extra, 0))) if extra else log_det

    def forward_and_log_det(
        self, x: Any, event_ndims: int | None = None, name: str = "forward_and_log_det", **kwargs
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """``(forward(x), forward_log_det_jacobian(x, event_ndims))`` from one pass of the layer.

        ``event_ndims`` defaults to the rank of ``event_shape``; ``kwargs`` (a
        ``context=``) as ``forward`` takes them. The checks are ``forward``'s.
        """
        self._check_dtype(x, "inputs")
        with self.name_scope, tf.name_scope(name):
            x = tf.convert_to_tensor(x, dtype=self.dtype, name="x")
            y, ildj = self._checked_forward_and_ildj(x, **self._checked_kwargs(kwargs, x))
            return y, -self._reduce_log_det(ildj, event_ndims, len(self._event_shape))

    def inverse_and_log_det(
        self, y: Any, event_ndims: int | None = None, name: str = "inverse_and_log_det", **kwargs
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """``(inverse(y), inverse_log_det_jacobian(y, event_ndims))`` from one pass of the layer.

        ``event_ndims`` defaults to the rank of ``output_event_shape``; ``kwargs``
        (a ``context=``) as ``inverse`` takes them. The checks are ``inverse``'s.
        """
        self._check_dtype(y, "outputs")
        with self.name_scope, tf.name_scope(name):
            y = tf.convert_to_tensor(y, dtype=self.dtype, name="y")
            x, ildj = self._checked_inverse_and_ildj(y, **self._checked_kwargs(kwargs, y))
            return x, self._reduce_log_det(ildj, event_ndims, len(self._output_event_shape))
