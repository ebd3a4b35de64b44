"""Base classes of the targets (`Target2D`, `ConditionalTarget`) and their seed convention.

Seeds: `sample(n, seed=s)` with a Python `int` `s` is treated as the stateless
seed `[s, 0]` (see `stateless_seed`), so the same integer always gives the same
samples (stock TFP distributions treat integer seeds as *stateful*).  A length-2
integer tensor is used as a stateless seed directly and `seed=None` draws fresh
randomness.

#### Examples

>>> from tfp_flows.datasets import Banana
>>> Banana().sample(2, seed=7).numpy().tolist() == Banana().sample(2, seed=7).numpy().tolist()
True
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_flows._internal.seeds import stateless_seed

tfd = tfp.distributions

__all__ = ["ConditionalTarget", "FixedTarget", "Target2D", "check_event"]

# Numerical entropies, keyed by target class and parameters (dtype excluded).
_ENTROPY_CACHE: dict[tuple, float] = {}


def check_event(x: tf.Tensor, size: int = 2) -> None:
    """Raises `ValueError` unless the static last dimension of `x` is `size` (or unknown)."""
    if x.shape.rank is not None and x.shape.rank >= 1 and x.shape[-1] not in (None, size):
        raise ValueError(f"Expected events of shape [..., {size}], got shape {x.shape}.")


class FixedTarget(tfd.Distribution):
    """A target whose parameters are fixed Python constants (no batch, no trainable state)."""

    def __init__(self, *, dtype: Any, parameters: dict[str, Any], name: str) -> None:
        dtype = tf.as_dtype(dtype)
        if dtype not in (tf.float32, tf.float64):
            raise TypeError(f"dtype must be float32 or float64, got {dtype!r}.")
        super().__init__(
            dtype=dtype,
            reparameterization_type=tfd.NOT_REPARAMETERIZED,
            validate_args=False,
            allow_nan_stats=True,
            parameters=parameters,
            name=name,
        )

    @classmethod
    def _parameter_properties(cls, dtype, num_classes=None):
        return {}  # all parameters are fixed Python constants


class Target2D(FixedTarget):
    """Base class of the 2-D toy targets: scalar batch, event shape `[2]`.

    Subclasses implement `_sample_stateless(n, seed)` (with an `int32[2]`
    stateless seed), `_log_prob_2d(x)` for `x` of shape `[..., 2]`, and either
    `_entropy` in closed form or `_numerical_entropy()` (a Python float computed
    once per parameter setting, in float64, and cached for all instances).
    Integer seeds are mapped to the stateless seed `[seed, 0]`, so sampling is
    reproducible.

    Class attributes: `log_prob_method` ("closed form" or "quadrature") and
    `entropy_method` ("closed form" or "grid quadrature").

    #### Examples

    >>> from tfp_flows.datasets import Banana, Target2D
    >>> isinstance(Banana(), Target2D)
    True
    >>> Banana().event_shape, Banana().batch_shape
    (TensorShape([2]), TensorShape([]))
    """

    log_prob_method: ClassVar[str] = "closed form"
    entropy_method: ClassVar[str] = "closed form"

    def _event_shape(self) -> tf.TensorShape:
        return tf.TensorShape([2])

    def _event_shape_tensor(self) -> tf.Tensor:
        return tf.constant([2], dtype=tf.int32)

    def _batch_shape(self) -> tf.TensorShape:
        return tf.TensorShape([])

    def _batch_shape_tensor(self) -> tf.Tensor:
        return tf.constant([], dtype=tf.int32)

    def _sample_n(self, n, seed=None):
        return self._sample_stateless(n, stateless_seed(seed))

    def _sample_stateless(self, n: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        raise NotImplementedError(f"sampling is not implemented: {type(self).__name__}")

    def _log_prob(self, x):
        x = tf.convert_to_tensor(x, dtype=self.dtype)
        check_event(x)
        return self._log_prob_2d(x)

    def _log_prob_2d(self, x: tf.Tensor) -> tf.Tensor:
        raise NotImplementedError(f"log_prob is not implemented: {type(self).__name__}")

    def _entropy(self):
        key = (type(self).__name__,) + tuple(
            (k, repr(v)) for k, v in sorted(self.parameters.items()) if k not in ("dtype", "name")
        )
        if key not in _ENTROPY_CACHE:
            with tf.init_scope():  # evaluate eagerly even inside tf.function
                _ENTROPY_CACHE[key] = float(self._numerical_entropy())
        return tf.constant(_ENTROPY_CACHE[key], dtype=self.dtype)

    def _numerical_entropy(self) -> float:
        raise NotImplementedError(f"entropy is not implemented: {type(self).__name__}")

    def _float64_twin(self) -> Target2D:
        return self if self.dtype == tf.float64 else self.copy(dtype=tf.float64)

    def _uniform(self, shape, seed) -> tf.Tensor:
        return tf.random.stateless_uniform(shape, seed=seed, dtype=self.dtype)

    def _normal(self, shape, seed) -> tf.Tensor:
        return tf.random.stateless_normal(shape, seed=seed, dtype=self.dtype)


class ConditionalTarget(FixedTarget):
    """Base class of the conditional targets `p(x | c)`: scalar batch, event `[event_size]`.

    Every method that depends on the context takes it as the keyword
    `context`, a tensor of shape `[..., context_size]` whose batch dimensions
    broadcast against those of the events (the convention of the conditional
    flows, `flow.log_prob(x, context=c)`):

        sample(n, seed=s, context=c)   -> [n, *c.shape[:-1], event_size]
        log_prob(x, context=c)         -> broadcast(x.shape[:-1], c.shape[:-1])
        entropy(context=c)             -> c.shape[:-1]
        sample_pairs(n, seed=s)        -> (x [n, event_size], c [n, context_size])

    `sample_pairs` draws *training pairs*: a context from the target's context
    law and one event from `p(x | c)` per context (event first, context second,
    the order `fit` takes them in).  `given(c)` binds a context and returns a
    plain (unconditional) `tfd.Distribution` of `p(x | c)`.

    The context is required (`ValueError` without it), its last dimension must
    be `context_size` (`ValueError` naming expected and received shapes) and,
    when its value is known (eager execution), every entry must be finite.
    Integer seeds follow `stateless_seed`.

    Subclasses implement `_sample_given(n, seed, context)` (stateless
    `int32[2]` seed, validated context), `_log_prob_given(x, context)`,
    `_entropy_given(context)`, `given(context)` and either `_sample_context(n,
    seed)` or `sample_pairs` itself.

    #### Examples

    >>> from tfp_flows.datasets import ConditionalBanana, ConditionalTarget
    >>> target = ConditionalBanana()
    >>> isinstance(target, ConditionalTarget), target.context_size
    (True, 1)
    >>> target.sample(4, seed=0, context=[[0.1], [0.2], [0.3]]).shape
    TensorShape([4, 3, 2])
    """

    event_size: int = 2
    context_size: int = 1

    def _event_shape(self) -> tf.TensorShape:
        return tf.TensorShape([self.event_size])

    def _event_shape_tensor(self) -> tf.Tensor:
        return tf.constant([self.event_size], dtype=tf.int32)

    def _batch_shape(self) -> tf.TensorShape:
        return tf.TensorShape([])

    def _batch_shape_tensor(self) -> tf.Tensor:
        return tf.constant([], dtype=tf.int32)

    def validate_context(self, context: Any) -> tf.Tensor:
        """Returns `context` as a tensor of this dtype after checking shape and values.

        Raises `ValueError` when `context` is `None`, when its last dimension
        is not `context_size`, or (for a concrete value) when an entry is not
        finite; subclasses add their own value checks in `_check_context`.
        """
        if context is None:
            raise ValueError(
                f"{type(self).__name__} is conditional: pass context=... of shape "
                f"[..., {self.context_size}] (got no context)."
            )
        if tf.is_tensor(context):
            context = tf.cast(context, self.dtype)
        else:
            context = tf.convert_to_tensor(np.asarray(context, self.dtype.as_numpy_dtype))
        shape = context.shape
        if shape.rank is not None and (
            shape.rank == 0 or shape[-1] not in (None, self.context_size)
        ):
            raise ValueError(
                f"{type(self).__name__} expects a context of shape [..., {self.context_size}], "
                f"got shape {shape}."
            )
        values = tf.get_static_value(context)
        if values is not None:
            if not np.all(np.isfinite(values)):
                raise ValueError(
                    f"{type(self).__name__} expects a finite context, got "
                    f"{values[~np.isfinite(values)][:5].tolist()} among its values."
                )
            self._check_context(values)
        return context

    def _check_context(self, values: np.ndarray) -> None:
        """Hook: raise `ValueError` for context values the target does not accept."""

    def _sample_n(self, n, seed=None, context=None):
        return self._sample_given(n, stateless_seed(seed), self.validate_context(context))

    def _set_sample_static_shape(self, x, sample_shape, **kwargs):
        # The batch shape of a sample is the context's, not the (scalar) batch
        # shape of the target; the tensors built by `_sample_given` already
        # carry their static shapes.
        return x

    def _log_prob(self, x, context=None):
        x = tf.convert_to_tensor(x, dtype=self.dtype)
        check_event(x, self.event_size)
        return self._log_prob_given(x, self.validate_context(context))

    def _entropy(self, context=None):
        return self._entropy_given(self.validate_context(context))

    def sample_pairs(self, n: int, seed: Any = None) -> tuple[tf.Tensor, tf.Tensor]:
        """`n` training pairs `(x, c)`: `c` from the context law, then `x ~ p(x | c)`.

        Returns `x` of shape `[n, event_size]` and `c` of shape `[n, context_size]`.
        """
        context_seed, event_seed = tfp.random.split_seed(stateless_seed(seed))
        context = self._sample_context(n, context_seed)
        return self._sample_given(1, event_seed, context)[0], context

    def given(self, context: Any) -> tfd.Distribution:
        """The unconditional distribution `p(x | context)`."""
        raise NotImplementedError(f"given is not implemented: {type(self).__name__}")

    def _sample_context(self, n: int, seed: tf.Tensor) -> tf.Tensor:
        raise NotImplementedError(f"sample_pairs is not implemented: {type(self).__name__}")

    def _sample_given(self, n: tf.Tensor, seed: tf.Tensor, context: tf.Tensor) -> tf.Tensor:
        raise NotImplementedError(f"sampling is not implemented: {type(self).__name__}")

    def _log_prob_given(self, x: tf.Tensor, context: tf.Tensor) -> tf.Tensor:
        raise NotImplementedError(f"log_prob is not implemented: {type(self).__name__}")

    def _entropy_given(self, context: tf.Tensor) -> tf.Tensor:
        raise NotImplementedError(f"entropy is not implemented: {type(self).__name__}")
