"""A prior's support as one bijector on flat vectors: ``theta = T(u)``, ``u`` in ``R^n``.

A posterior flow over parameters with bounded support (a ``Uniform`` prior, a
``LogNormal`` scale, a ``JointDistribution`` of several) is a flow ``q(u | x)``
on the unconstrained vector ``u`` pushed through the prior's default
event-space bijector ``T`` (TFP's ``experimental_default_event_space_bijector``),
with the change of variables:

```none
theta = T(u)        log q(theta | x) = log q_u(T^{-1}(theta) | x) + log|det J_{T^{-1}}(theta)|
```

so every sample lies in the support and the density is exact. Outside the
support ``T^{-1}`` is not finite and the density is 0 (``log q = -inf``).
:class:`FlatSupport` puts a prior's parts (in ``tf.nest.flatten`` order, each
flattened) into one vector ``theta`` ``[n_theta]`` and its unconstrained parts
into ``u`` ``[n_u]``, so the flow sees vectors.

#### Examples

>>> import tensorflow_probability as tfp
>>> tfd = tfp.distributions
>>> support = FlatSupport(tfd.JointDistributionNamed(
...     dict(scale=tfd.LogNormal(0.0, 1.0), loc=tfd.Sample(tfd.Uniform(-1.0, 1.0), 2))))
>>> support.names, support.theta_size, support.u_size
(['loc', 'scale'], 3, 3)
>>> theta = support.bijector.forward([[0.0, 0.0, 0.0]])   # loc in (-1, 1), scale > 0
>>> theta.numpy().tolist()
[[0.0, 0.0, 1.0]]
>>> support.unflatten(theta)["scale"].numpy().tolist()
[1.0]
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf
from tensorflow_probability import bijectors as tfb
from tensorflow_probability import distributions as tfd

__all__ = ["FlatSupport"]


def _split_parts(shapes: list[tf.TensorShape], structure: Any, name: str) -> tfb.Bijector:
    """The bijector from one flat vector to the parts ``structure`` of ``shapes`` (nest order)."""
    sizes = [int(shape.num_elements()) for shape in shapes]
    if not tf.nest.is_nested(structure):
        return tfb.Reshape(shapes[0], event_shape_in=[sizes[0]], name=f"{name}_reshape")
    return tfb.Chain(
        [
            tfb.Restructure(tf.nest.pack_sequence_as(structure, list(range(len(shapes))))),
            tfb.JointMap([tfb.Reshape(s, event_shape_in=[n]) for s, n in zip(shapes, sizes)]),
            tfb.Split(sizes),
        ],
        name=f"{name}_split",
    )


class _FlatMap(tfb.Bijector):
    """``inner`` (a chain that may pass through structured parts) as one layer on flat vectors.

    A flow's chain walker (:mod:`~tfp_flows.bijectors.walk`) sees one layer with
    ``event_ndims = 1`` on both sides, not the structured steps inside.
    """

    def __init__(self, inner: tfb.Bijector, u_size: int, theta_size: int):
        parameters = dict(locals())
        self._inner, self._u_size, self._theta_size = inner, u_size, theta_size
        super().__init__(
            forward_min_event_ndims=1,
            is_constant_jacobian=inner.is_constant_jacobian,
            parameters=parameters,
            name="prior_support",
        )

    def _forward(self, u):
        return self._inner.forward(u)

    def _inverse(self, theta):
        return self._inner.inverse(theta)

    def _forward_log_det_jacobian(self, u):
        return self._inner.forward_log_det_jacobian(u, event_ndims=1)

    def _inverse_log_det_jacobian(self, theta):
        return self._inner.inverse_log_det_jacobian(theta, event_ndims=1)

    def _forward_event_shape(self, shape):
        return shape[:-1].concatenate([self._theta_size])

    def _inverse_event_shape(self, shape):
        return shape[:-1].concatenate([self._u_size])

    def _forward_event_shape_tensor(self, shape):
        return tf.concat([shape[:-1], [self._theta_size]], axis=0)

    def _inverse_event_shape_tensor(self, shape):
        return tf.concat([shape[:-1], [self._u_size]], axis=0)


class FlatSupport:
    """A prior's event-space bijector as a map between flat vectors ``u [n_u] -> theta [n_theta]``.

    Args:
      prior: a ``tfd.Distribution`` (its batch dimensions, if any, are read as
        parameters: ``Uniform(low=[-1, -1], high=[1, 1])`` is a prior on 2
        parameters) or a ``tfd.JointDistribution*`` whose parts have scalar
        batch shapes; every part continuous (with an event-space bijector).

    Attributes:
      prior: the prior, its batch dimensions reinterpreted as event dimensions.
      bijector: ``T`` on flat vectors: ``u [..., n_u] -> theta [..., n_theta]``.
      theta_size, u_size: ``n_theta`` and ``n_u``.
      names: the parts' names in the order of ``theta`` (``None`` for a single part).
      dtype: the prior's dtype.
    """

    def __init__(self, prior: tfd.Distribution):
        if not isinstance(prior, tfd.Distribution):
            raise TypeError(
                f"prior must be a tfd.Distribution (or a tfd.JointDistribution), got "
                f"{type(prior).__name__}."
            )
        structured = tf.nest.is_nested(prior.event_shape)
        if not structured and prior.batch_shape.rank:
            prior = tfd.Independent(prior, reinterpreted_batch_ndims=prior.batch_shape.rank)
        if not all(tf.TensorShape(s).rank == 0 for s in tf.nest.flatten(prior.batch_shape)):
            raise ValueError(
                f"prior {prior.name}: every part must have a scalar batch shape, got "
                f"{prior.batch_shape}; wrap vector parts in tfd.Independent or tfd.Sample."
            )
        dtypes = {tf.as_dtype(d) for d in tf.nest.flatten(prior.dtype)}
        if len(dtypes) != 1 or not next(iter(dtypes)).is_floating:
            raise TypeError(
                f"prior {prior.name}: every part must be of one floating dtype, got "
                f"{tf.nest.map_structure(lambda d: tf.as_dtype(d).name, prior.dtype)}."
            )
        try:
            event_space = prior.experimental_default_event_space_bijector()
        except (AttributeError, NotImplementedError):
            event_space = None
        if event_space is None:
            raise ValueError(
                f"prior {prior.name}: a part has no event-space bijector (a discrete part?); "
                "a posterior flow needs continuous parameters."
            )
        self.prior = prior
        self.dtype = dtypes.pop()
        event_shape = prior.event_shape
        unconstrained = event_space.inverse_event_shape(event_shape)
        theta_shapes = [tf.TensorShape(s) for s in tf.nest.flatten(event_shape)]
        u_shapes = [tf.TensorShape(s) for s in tf.nest.flatten(unconstrained)]
        self._structure = event_shape
        self._theta_split = _split_parts(theta_shapes, event_shape, "theta")
        self._u_split = _split_parts(u_shapes, unconstrained, "u")
        self._theta_sizes = [int(s.num_elements()) for s in theta_shapes]
        self.theta_size = sum(self._theta_sizes)
        self.u_size = sum(int(s.num_elements()) for s in u_shapes)
        self.names = _part_names(prior, event_shape) if structured else None
        self.bijector = _FlatMap(
            tfb.Chain([tfb.Invert(self._theta_split), event_space, self._u_split]),
            self.u_size,
            self.theta_size,
        )

    def flatten(self, parts: Any) -> tf.Tensor:
        """A value in the prior's structure as flat vectors ``[..., n_theta]``."""
        return self._theta_split.inverse(parts)

    def unflatten(self, theta: Any) -> Any:
        """Flat vectors ``[..., n_theta]`` in the prior's structure (a dict, list, or a tensor)."""
        return self._theta_split.forward(tf.convert_to_tensor(theta, self.dtype))

    def sample(self, n: int, seed: Any) -> tf.Tensor:
        """``n`` draws of the prior as flat vectors ``[n, n_theta]``."""
        return self.flatten(self.prior.sample(n, seed=seed))

    def inside(self, theta: tf.Tensor) -> tf.Tensor:
        """Whether each vector ``theta [..., n_theta]`` is in the support (``T^{-1}`` finite)."""
        u = self.bijector.inverse(theta)
        return tf.reduce_all(tf.math.is_finite(u), axis=-1)


def _part_names(prior: tfd.Distribution, event_shape: Any) -> list[str] | None:
    """The parts' names in ``tf.nest.flatten`` order (dict keys; ``None`` for a list)."""
    if isinstance(event_shape, dict):
        return [str(key) for key in sorted(event_shape)]
    names = getattr(prior, "_flat_resolve_names", None)
    if callable(names):
        try:
            return [str(n) for n in np.asarray(names()).tolist()]
        except (TypeError, ValueError):
            return None
    return None
