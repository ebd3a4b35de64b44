"""``PushForward``: a base distribution pushed through a bijector, on TFP's public API only.

The distribution of ``y = f(x)`` with ``x ~ p`` and ``f`` a bijection (a ``tfb.Bijector``):

```none
sample:       y = f(x),  x ~ p
log_prob:     log q(y) = log p(x) - log|det J_f(x)|,     x = f^{-1}(y)
event shape:  f.forward_event_shape(p.event_shape)       (a structure for a multipart f)
batch shape:  p.batch_shape broadcast with f's batch shape
```

It is what ``tfd.TransformedDistribution`` computes, without being a ``CompositeTensor``:
TFP's public class makes every subclass one, and ``tf.Module.variables`` of anything that
holds such a distribution (a ``tf.Module``, a ``tfd.Mixture``) expands it into its tensor
components -- which leave out the variables of layers that are not composite tensors
themselves (a flow's networks). A ``PushForward`` is a plain ``tf.Module``: whatever holds
it sees the variables of its ``distribution`` and ``bijector``.

Closed forms hold only for an *affine* ``f`` (``f.is_constant_jacobian``: ``J_f`` is one
matrix ``A`` everywhere, ``f(x) = A x + b``):

```none
mean = f(E[x]),   mode = f(mode x),   Cov[y] = A Cov[x] A^T   (vector events),
H[y] = H[x] + log|det A|,   sd[y] = |f(sd[x]) - f(0)|       (scalar events)
```

Otherwise they raise ``NotImplementedError``. ``f`` must be injective (every bijector of
the package is); TFP's inverse-image sums for a many-to-one map are out of scope.

#### Examples

>>> import tensorflow as tf
>>> from tensorflow_probability import bijectors as tfb
>>> from tensorflow_probability import distributions as tfd
>>> log_normal = PushForward(tfd.Normal(0.0, 1.0), tfb.Exp())   # y = e^x
>>> round(float(log_normal.log_prob(1.0)), 4)                  # log N(0; 0, 1) - 0
-0.9189
>>> shifted = PushForward(tfd.MultivariateNormalDiag(tf.zeros(2)), tfb.Shift([1.0, -1.0]))
>>> shifted.mean().numpy().tolist(), shifted.covariance().numpy().tolist()
([1.0, -1.0], [[1.0, 0.0], [0.0, 1.0]])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tensorflow as tf
import tensorflow_probability as tfp
from tensorflow_probability import bijectors as tfb
from tensorflow_probability import distributions as tfd

__all__ = ["PushForward", "split_kwargs"]

KwargsSplitFn = Callable[[dict[str, Any]], tuple[dict[str, Any], dict[str, Any]]]


def split_kwargs(kwargs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(distribution_kwargs, bijector_kwargs)`` of a call: the entries of those names."""
    return kwargs.get("distribution_kwargs", {}), kwargs.get("bijector_kwargs", {})


def _rank(shape: tf.TensorShape) -> int | None:
    return tf.TensorShape(shape).rank


class PushForward(tfd.Distribution):
    """The distribution of ``bijector.forward(x)``, ``x ~ distribution``; not a ``CompositeTensor``.

    Args:
      distribution: the base distribution ``p``.
      bijector: the injective map ``f`` (a ``tfb.Bijector``, multipart allowed).
      kwargs_split_fn: splits a call's keyword arguments into those of ``distribution`` and
        those of ``bijector``; ``None``: the entries ``distribution_kwargs`` and
        ``bijector_kwargs`` (:func:`split_kwargs`), as ``tfd.TransformedDistribution``.
      validate_args: as every ``tfd.Distribution``.
      parameters: the constructor's arguments, for ``copy()`` (a subclass passes its own).
      name: the distribution's name; ``None``: ``bijector.name + distribution.name``.
    """

    def __init__(
        self,
        distribution: tfd.Distribution,
        bijector: tfb.Bijector,
        kwargs_split_fn: KwargsSplitFn | None = None,
        validate_args: bool = False,
        parameters: dict[str, Any] | None = None,
        name: str | None = None,
    ):
        parameters = dict(locals()) if parameters is None else parameters
        name = name or (bijector.name + (distribution.name or ""))
        with tf.name_scope(name) as name:
            self._distribution = distribution
            self._bijector = bijector
            self._kwargs_split_fn = split_kwargs if kwargs_split_fn is None else kwargs_split_fn
            super().__init__(
                dtype=bijector.forward_dtype(distribution.dtype),
                reparameterization_type=distribution.reparameterization_type,
                validate_args=validate_args,
                allow_nan_stats=distribution.allow_nan_stats,
                parameters=parameters,
                name=name,
            )

    @property
    def distribution(self) -> tfd.Distribution:
        """The base distribution ``p``."""
        return self._distribution

    @property
    def bijector(self) -> tfb.Bijector:
        """The map ``f``: ``y = f(x)``."""
        return self._bijector

    @classmethod
    def _parameter_properties(cls, dtype, num_classes=None):
        # Both are batched components: the batch shape broadcasts the base's with the map's
        # (read at the base's event rank), and slicing slices both.
        return dict(
            distribution=tfp.util.BatchedComponentProperties(),
            bijector=tfp.util.BatchedComponentProperties(
                event_ndims=lambda self: tf.nest.map_structure(
                    _rank, self.distribution.event_shape
                ),
                # (static where known: TFP's bijectors key a cache on it)
                event_ndims_tensor=lambda self: self._base_event_ndims(),
            ),
        )

    # -- shapes ----------------------------------------------------------------------------

    def _event_shape(self):
        return self.bijector.forward_event_shape(self.distribution.event_shape)

    def _event_shape_tensor(self):
        return self.bijector.forward_event_shape_tensor(self.distribution.event_shape_tensor())

    def _base_event_ndims(self) -> Any:
        """The base's event rank(s), static where known: the map's ``event_ndims`` on ``x``."""
        static = tf.nest.map_structure(_rank, self.distribution.event_shape)
        if None not in tf.nest.flatten(static):
            return static
        return tf.nest.map_structure(tf.size, self.distribution.event_shape_tensor())

    def _base_at_batch_shape(self) -> tfd.Distribution:
        """The base distribution broadcast to this distribution's batch shape."""
        base = self.distribution
        if tf.nest.is_nested(base.batch_shape) or tf.nest.is_nested(base.dtype):
            return base
        batch_shape = self.batch_shape
        if batch_shape.is_fully_defined() and base.batch_shape == batch_shape:
            return base
        if not batch_shape.is_fully_defined():
            batch_shape = self.batch_shape_tensor()
        return tfd.BatchBroadcast(base, with_shape=batch_shape)

    # -- sampling and densities ------------------------------------------------------------

    def _sample_n(self, n, seed=None, **kwargs):
        distribution_kwargs, bijector_kwargs = self._kwargs_split_fn(kwargs)
        x = self._base_at_batch_shape().sample(n, seed=seed, **distribution_kwargs)
        return self.bijector.forward(x, **bijector_kwargs)

    def _log_prob(self, y, **kwargs):
        # log q(y) = log p(x) - log|det J_f(x)| at x = f^{-1}(y); the log-det on the x side is
        # the one TFP's transformed distribution takes, so the two agree to the last bit.
        distribution_kwargs, bijector_kwargs = self._kwargs_split_fn(kwargs)
        x = self.bijector.inverse(y, **bijector_kwargs)
        base_log_prob = self.distribution.log_prob(x, **distribution_kwargs)
        fldj = self.bijector.forward_log_det_jacobian(
            x, event_ndims=self._base_event_ndims(), **bijector_kwargs
        )
        return base_log_prob - tf.cast(fldj, base_log_prob.dtype)

    def _prob(self, y, **kwargs):
        return tf.exp(self._log_prob(y, **kwargs))

    def _sample_and_log_prob(self, sample_shape, seed, **kwargs):
        distribution_kwargs, bijector_kwargs = self._kwargs_split_fn(kwargs)
        x, base_log_prob = self._base_at_batch_shape().experimental_sample_and_log_prob(
            sample_shape, seed, **distribution_kwargs
        )
        y = self.bijector.forward(x, **bijector_kwargs)
        fldj = self.bijector.forward_log_det_jacobian(
            x, event_ndims=self._base_event_ndims(), **bijector_kwargs
        )
        return y, base_log_prob - tf.cast(fldj, base_log_prob.dtype)

    def _default_event_space_bijector(self):
        # The base's unconstrained space, mapped on through f.
        base = self.distribution.experimental_default_event_space_bijector()
        return None if base is None else tfb.Chain([self.bijector, base])

    # -- closed forms of an affine map -----------------------------------------------------

    def _affine_only(self, what: str) -> None:
        if not self.bijector.is_constant_jacobian:
            raise NotImplementedError(
                f"{self.name}: the {what} has a closed form only for an affine map "
                f"(is_constant_jacobian); {self.bijector.name} is not one."
            )

    def _vector_to_vector(self, what: str) -> None:
        ndims = self.bijector.forward_min_event_ndims
        if tf.nest.is_nested(ndims) or self.bijector.forward_event_ndims(1) != 1:
            raise NotImplementedError(
                f"{self.name}: the {what} has a closed form for a map of vectors to vectors; "
                f"{self.bijector.name} has forward_min_event_ndims {ndims}."
            )

    def _mean(self, **kwargs):
        self._affine_only("mean")
        distribution_kwargs, bijector_kwargs = self._kwargs_split_fn(kwargs)
        return self.bijector.forward(
            self.distribution.mean(**distribution_kwargs), **bijector_kwargs
        )

    def _mode(self, **kwargs):
        self._affine_only("mode")
        distribution_kwargs, bijector_kwargs = self._kwargs_split_fn(kwargs)
        return self.bijector.forward(
            self.distribution.mode(**distribution_kwargs), **bijector_kwargs
        )

    def _covariance(self, **kwargs):
        # Cov[y] = A Cov[x] A^T with column i of A = f(e_i) - f(0), e_i the i-th basis vector.
        self._affine_only("covariance")
        self._vector_to_vector("covariance")
        batch_rank = self.batch_shape.rank
        size = self.distribution.event_shape[-1] if self.distribution.event_shape.rank else None
        if batch_rank is None or size is None:
            raise NotImplementedError(
                f"{self.name}: the covariance needs a static batch rank and event size, got "
                f"batch shape {self.batch_shape} and base event shape "
                f"{self.distribution.event_shape}."
            )
        distribution_kwargs, bijector_kwargs = self._kwargs_split_fn(kwargs)
        base_covariance = self.distribution.covariance(**distribution_kwargs)
        basis = tf.reshape(
            tf.eye(size, dtype=base_covariance.dtype), [size] + [1] * batch_rank + [size]
        )
        columns = self.bijector.forward(basis, **bijector_kwargs) - self.bijector.forward(
            tf.zeros_like(basis), **bijector_kwargs
        )  # [i, *batch, j] = A_ji
        jacobian = tf.transpose(columns, list(range(1, batch_rank + 2)) + [0])
        return tf.matmul(tf.matmul(jacobian, base_covariance), jacobian, transpose_b=True)

    def _stddev(self, **kwargs):
        # Scalar events: f(x) = a x + b, so sd[y] = |a| sd[x] = |f(sd[x]) - f(0)|.
        self._affine_only("standard deviation")
        scalar = (
            not tf.nest.is_nested(self.bijector.forward_min_event_ndims)
            and self.distribution.event_shape.rank == 0
            and self.bijector.forward_event_ndims(0) == 0
        )
        if not scalar:
            raise NotImplementedError(
                f"{self.name}: the standard deviation has a closed form here for scalar events "
                f"only; for vectors take the square root of the diagonal of covariance()."
            )
        distribution_kwargs, bijector_kwargs = self._kwargs_split_fn(kwargs)
        stddev = self.distribution.stddev(**distribution_kwargs)
        shift = self.bijector.forward(tf.zeros_like(stddev), **bijector_kwargs)
        return tf.abs(self.bijector.forward(stddev, **bijector_kwargs) - shift)

    def _entropy(self, **kwargs):
        # H[y] = H[x] + E log|det J_f(x)| = H[x] - log|det J_{f^{-1}}(y)| at any y (A constant).
        self._affine_only("entropy")
        distribution_kwargs, bijector_kwargs = self._kwargs_split_fn(kwargs)
        entropy = self.distribution.entropy(**distribution_kwargs)
        anywhere = tf.nest.map_structure(
            lambda shape, dtype: tf.zeros(shape, dtype), self.event_shape_tensor(), self.dtype
        )
        event_ndims = tf.nest.map_structure(_rank, self.event_shape)
        ildj = self.bijector.inverse_log_det_jacobian(
            anywhere, event_ndims=event_ndims, **bijector_kwargs
        )
        return entropy - tf.cast(ildj, entropy.dtype)

    # -- divergences -----------------------------------------------------------------------

    def _pushes_the_same_map_as(self, other: PushForward) -> bool:
        """Whether ``other`` applies the very same map (object identity: two layers whose
        variables are not in their ``parameters`` compare equal with ``==``)."""
        return self.bijector is other.bijector and self._kwargs_split_fn is other._kwargs_split_fn


@tfd.RegisterKL(PushForward, PushForward)
def _kl_push_forward_push_forward(a: PushForward, b: PushForward, name: str | None = None):
    """``KL(f_# p || f_# q) = KL(p || q)`` for one bijection ``f``; other pairs have no closed form."""
    if a._pushes_the_same_map_as(b) and b._pushes_the_same_map_as(a):
        with tf.name_scope(name or "kl_push_forward_push_forward"):
            return tfd.kl_divergence(a.distribution, b.distribution)
    raise NotImplementedError(
        f"KL({a.name} || {b.name}) has a closed form only when both push their bases through the "
        f"very same map (one bijector object, and for flows one bound context); got "
        f"{a.bijector.name} and {b.bijector.name}."
    )
