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
- batch shape ``[]`` (the parameters are network weights, not batched);
- a layer equals only itself (``==`` and ``hash`` by identity): its weights are
  variables, not ``parameters``, and TFP treats equal bijectors as one map (its
  closed-form KL divergences, its caches of other bijectors), so two layers
  built alike must never be taken for each other;
- ``copy(**overrides)`` shares the layer's variables, as TFP's ``copy`` of a
  bijector parametrised by ``tf.Variable`` s does (``copy.deepcopy`` gives an
  independent layer with the same current values).

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
4. ``copy()`` shares every attribute that holds weights (directly or in a list, tuple or
   dict), so a copy computes the same map now and after training.
5. Check the layer with ``tff.testing.check_bijector`` after ``tff.testing.perturb_weights``.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
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

__all__ = ["FlowBijector", "broadcast_batch"]


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


def _holds_weights(value: Any) -> bool:
    """Whether ``value`` is, or holds in a list/tuple/dict, a ``tf.Variable`` or ``tf.Module``."""
    return any(isinstance(v, (tf.Variable, tf.Module)) for v in _nested(value))


def _keras3_layer_in(value: Any) -> Any:
    """The first Keras 3 layer in ``value`` (or its lists/tuples/dicts), else ``None``."""
    keras = sys.modules.get("keras")  # not imported: no Keras 3 object can exist
    if keras is None:
        return None
    for v in _nested(value):
        if isinstance(v, keras.layers.Layer) and not isinstance(v, tf.Module):
            return v
    return None


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

    # -- identity: equality, hashing, copies ------------------------------------------------

    def __eq__(self, other: object) -> bool:
        return self is other

    def __hash__(self) -> int:
        return id(self)

    def copy(self, **override_parameters_kwargs: Any) -> FlowBijector:
        """A new layer from ``parameters`` that shares this layer's variables (its weights).

        Only ``name`` and ``validate_args`` may be overridden: every other
        setting (sizes, dtype, bounds, the conditioner) is fixed by the shared
        weights, so an override would be silently ignored; it raises
        ``ValueError`` instead (build a new layer with those settings).
        """
        ignored = sorted(set(override_parameters_kwargs) - {"name", "validate_args"})
        if ignored:
            raise ValueError(
                f"{self.name}.copy() shares this layer's weights and takes only name= and "
                f"validate_args=, got {', '.join(ignored)}; build a new layer with those "
                "settings instead."
            )
        copied = super().copy(**override_parameters_kwargs)
        # The weights: variables and the modules holding them (conditioner, transformer, MADE),
        # also inside lists, tuples and dicts.
        for attribute, value in vars(self).items():
            if _holds_weights(value):
                setattr(copied, attribute, value)
        return copied

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
