"""Base class of the package's bijectors on vectors of a fixed event size.

:class:`VectorBijector` gives every subclass the same contract:

- subclasses implement ``_forward_and_ildj(x) -> (y, ildj)`` and
  ``_inverse_and_ildj(y) -> (x, ildj)``, the value and the log-det-Jacobian in
  one pass (``ildj`` summed over the event); the :class:`WeightAwareCache`
  hands the log-det to ``inverse_log_det_jacobian``, so ``log_prob`` runs each
  layer once;
- inputs of the wrong event size or dtype raise errors naming what was expected
  and what came; with ``validate_args=True`` non-finite inputs raise;
- batch shape ``[]`` (the parameters are network weights, not batched);
- a layer equals only itself (``==`` and ``hash`` by identity): its weights are
  variables, not ``parameters``, and TFP keys its caches by bijector equality,
  so two layers built alike must never share a cache entry;
- ``copy(**overrides)`` shares the layer's variables, as TFP's ``copy`` of a
  bijector parametrised by ``tf.Variable`` s does (``copy.deepcopy`` gives an
  independent layer with the same current values).
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf
from tensorflow_probability import bijectors as tfb

from tfp_flows.bijectors.cache import WeightAwareCache
from tfp_flows.checks import check_floating_dtype, check_integer, check_tensor_dtype

__all__ = ["VectorBijector"]


class VectorBijector(tfb.Bijector):
    """A ``tfb.Bijector`` on the last axis, of size ``event_size``, with one-pass log-dets.

    Subclasses call ``super().__init__(event_size, ...)`` and implement
    ``_forward_and_ildj`` and ``_inverse_and_ildj``; inputs reach them checked.

    #### Examples

    >>> class Double(VectorBijector):
    ...     def __init__(self):
    ...         super().__init__(2, parameters={}, name="double", is_constant_jacobian=True)
    ...     def _forward_and_ildj(self, x):
    ...         return 2 * x, -2 * tf.math.log(2.0) * tf.ones(tf.shape(x)[:-1])
    ...     def _inverse_and_ildj(self, y):
    ...         return y / 2, -2 * tf.math.log(2.0) * tf.ones(tf.shape(y)[:-1])
    >>> Double().inverse(tf.constant([[2.0, 4.0]])).numpy().tolist()
    [[1.0, 2.0]]
    >>> Double().forward(tf.zeros([1, 3]))
    Traceback (most recent call last):
    ...
    ValueError: double: expected inputs with event size 2 in the last dimension, got shape [1, 3] (event size 3).
    """

    _cache = WeightAwareCache(forward_name="_augmented_forward", inverse_name="_augmented_inverse")

    def __init__(
        self,
        event_size: int,
        *,
        parameters: dict[str, Any],
        name: str,
        is_constant_jacobian: bool = False,
        validate_args: bool = False,
        dtype: tf.DType = tf.float32,
    ):
        self._event_size = check_integer(f"{name}: event_size", event_size, minimum=1)
        super().__init__(
            forward_min_event_ndims=1,
            is_constant_jacobian=is_constant_jacobian,
            validate_args=validate_args,
            dtype=check_floating_dtype(dtype, name),
            parameters=parameters,
            name=name,
        )

    @property
    def event_size(self) -> int:
        """Size of the (flattened) event this bijector acts on."""
        return self._event_size

    @classmethod
    def _parameter_properties(cls, dtype, num_classes=None):
        return {}

    def _batch_shape(self, x_event_ndims):
        return tf.TensorShape([])

    def _batch_shape_tensor(self, x_event_ndims):
        return tf.constant([], dtype=tf.int32)

    # -- identity: equality, hashing, copies ------------------------------------------------

    def __eq__(self, other: object) -> bool:
        return self is other

    def __hash__(self) -> int:
        return id(self)

    def copy(self, **override_parameters_kwargs: Any) -> VectorBijector:
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
                "settings instead.")
        copied = super().copy(**override_parameters_kwargs)
        for attribute, value in vars(self).items():
            if isinstance(value, tf.Variable):
                setattr(copied, attribute, value)
        return copied

    # -- input checks that name what was expected and what came ----------------------------

    def _check_dtype(self, value: Any, what: str) -> None:
        check_tensor_dtype(value, self.dtype, self.name, what)

    def _check(self, x: tf.Tensor, what: str) -> tf.Tensor:
        """Checks the event size (statically) and, with ``validate_args``, finiteness."""
        size = x.shape[-1] if x.shape.rank else None
        if x.shape.rank == 0 or (size is not None and size != self._event_size):
            raise ValueError(
                f"{self.name}: expected {what} with event size {self._event_size} in the last "
                f"dimension, got shape {x.shape.as_list()} (event size {size}).")
        if self.validate_args:
            x = tf.debugging.assert_all_finite(
                x, f"{self.name}: {what} must be finite (found NaN or inf).")
        return x

    def _call_forward(self, x, name, **kwargs):
        self._check_dtype(x, "inputs")
        return super()._call_forward(x, name, **kwargs)

    def _call_inverse(self, y, name, **kwargs):
        self._check_dtype(y, "outputs")
        return super()._call_inverse(y, name, **kwargs)

    def _call_forward_log_det_jacobian(self, x, event_ndims, name, **kwargs):
        self._check_dtype(x, "inputs")
        return super()._call_forward_log_det_jacobian(x, event_ndims, name, **kwargs)

    def _call_inverse_log_det_jacobian(self, y, event_ndims, name, **kwargs):
        self._check_dtype(y, "outputs")
        return super()._call_inverse_log_det_jacobian(y, event_ndims, name, **kwargs)

    # -- one pass for the value and the log-det ---------------------------------------------

    def _forward_and_ildj(self, x: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        raise NotImplementedError

    def _inverse_and_ildj(self, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        raise NotImplementedError

    def _augmented_forward(self, x):
        y, ildj = self._forward_and_ildj(self._check(x, "inputs"))
        return y, {"ildj": ildj}

    def _augmented_inverse(self, y):
        x, ildj = self._inverse_and_ildj(self._check(y, "outputs"))
        return x, {"ildj": ildj}

    def _forward(self, x):
        return self._augmented_forward(x)[0]

    def _inverse(self, y):
        return self._augmented_inverse(y)[0]

    def _inverse_log_det_jacobian(self, y):
        attributes = self._cache.inverse_attributes(y)
        if "ildj" not in attributes:
            attributes.update(self._augmented_inverse(y)[1])
        return attributes["ildj"]

    def _forward_log_det_jacobian(self, x):
        attributes = self._cache.forward_attributes(x)
        if "ildj" not in attributes:
            attributes.update(self._augmented_forward(x)[1])
        return -attributes["ildj"]
