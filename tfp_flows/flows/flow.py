"""``Flow``: the distribution the builders return, ``f_# base`` (the law of ``f(z)``, ``z ~ base``).

A ``Flow`` is a :class:`~tfp_flows.distributions.PushForward` -- what
``tfd.TransformedDistribution(base, bijector)`` computes, on TFP's public API, and not
a ``CompositeTensor``, so that a ``tf.Module``, a ``tfd.Mixture`` or a surrogate holding a
flow sees its layers' variables -- with what a user of a flow needs:

- values of the wrong dtype get an error naming both dtypes and the fix, not
  TFP's generic tensor-conversion message;
- a *conditional* flow (layers with ``context_size = k > 0``) takes
  ``context=c`` of shape ``[..., k]`` in ``log_prob``, ``prob``, ``sample``
  and ``experimental_sample_and_log_prob``, broadcast against the batch: ``c``
  of shape ``[m, k]`` acts as a batch of ``m`` distributions, so
  ``sample(n, context=c)`` has shape ``[n, m, *event]``. Every conditional
  layer receives the same ``c``; :meth:`Flow.condition` binds a context and
  returns an unconditional distribution (for ``tfp.vi``, ``tfp.mcmc``, or a
  joint distribution);
- the context broadcasting rule: in ``log_prob(x, context=c)`` and ``prob``
  (and with a bound context) the batch shapes ``c.shape[:-1]`` and
  ``x.shape[:-event_rank]`` broadcast by NumPy's rules (``[n, k]`` with
  ``[n, d]`` pairs row ``i`` with point ``i``; ``[k]`` or ``[1, k]`` serves every
  point); any other pair raises a ``ValueError`` naming both shapes (sizes
  unknown while tracing: an ``InvalidArgumentError`` when the function runs);
- one dtype rule for contexts (as for values): NumPy arrays and Python lists
  are converted to the flow's dtype, a tensor of another dtype raises a
  ``TypeError`` naming both dtypes and the cast; a context whose width is
  unknown while tracing is checked when the function runs;
- ``log_prob``, ``prob``, ``sample`` and ``experimental_sample_and_log_prob``
  run every layer once: the flow walks its chain and calls each layer's one-pass
  hook (:func:`~tfp_flows.bijectors.walk.inverse_and_log_det`; a foreign TFP
  bijector gets ``inverse`` and ``inverse_log_det_jacobian``), and nothing is
  cached (:mod:`tfp_flows.bijectors.cache`), so no call ever returns a result
  computed with other weights, or one a gradient tape did not record;
- ``Flow(..., draw_groups=g)`` runs the layers of ``experimental_sample_and_log_prob``
  (the call of ``tfp.vi``) on ``g`` independent groups of the same draws, which XLA
  computes on separate cores (``surrogate_posterior`` sets ``g = 2``);
- ``mean``/``mode``/``stddev``/``variance``/``covariance``/``entropy`` are TFP's
  closed forms when every layer is affine (``is_constant_jacobian``), and
  otherwise raise ``NotImplementedError`` pointing at
  :func:`tfp_flows.estimate_moments` (Monte Carlo, with standard errors) —
  never a closed form that does not hold.

```none
x = f(z; c),  z ~ base       log q(x | c) = log base(f^{-1}(x; c)) + log|det J_{f^{-1}}(x; c)|
```

#### Examples

>>> import tensorflow as tf
>>> import tfp_flows as tff
>>> flow = tff.real_nvp(2, num_layers=2, hidden_units=(8,))
>>> isinstance(flow, Flow), flow.log_prob(tf.zeros([1, 2])).dtype.name
(True, 'float32')
>>> flow.log_prob(tf.zeros([1, 2], tf.float64))  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
TypeError: real_nvp...: expected values of dtype float32, got float64; ...
>>> flow.mean()  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
NotImplementedError: real_nvp...: the mean of a flow with non-affine layers has no closed form; ...
>>> conditional = tff.real_nvp(2, num_layers=2, hidden_units=(8,), context_size=1)
>>> conditional.sample(5, seed=0, context=[[0.1], [0.2], [0.3]]).shape
TensorShape([5, 3, 2])
>>> given = conditional.condition([0.2])      # a plain distribution over x
>>> given.log_prob(tf.zeros([4, 2])).shape, given.batch_shape
(TensorShape([4]), TensorShape([]))
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf
from tensorflow_probability import bijectors as tfb
from tensorflow_probability import distributions as tfd

from tfp_flows._internal.checks import (
    check_context,
    check_integer,
    check_tensor_dtype,
)
from tfp_flows._internal.context import checked_context
from tfp_flows.bijectors.chain import context_size_of
from tfp_flows.bijectors.walk import forward_and_log_det, inverse_and_log_det
from tfp_flows.distributions.push_forward import KwargsSplitFn, PushForward

__all__ = ["Flow"]


def _static_shape(sample_shape: Any) -> list[int] | None:
    """``sample_shape`` as a list of ints (a scalar is one dimension), ``None`` if not static."""
    if isinstance(sample_shape, tf.TensorShape):
        return sample_shape.as_list() if sample_shape.is_fully_defined() else None
    static = tf.get_static_value(tf.convert_to_tensor(sample_shape))
    return None if static is None else [int(d) for d in np.reshape(static, [-1])]


class Flow(PushForward):
    """A push-forward ``f_# base`` with dtype checks, a context and honest moments.

    Args:
      distribution: the base distribution.
      bijector: the flow's bijector (a :class:`~tfp_flows.bijectors.FlowChain`).
      kwargs_split_fn, validate_args, parameters, name: as
        :class:`~tfp_flows.distributions.PushForward` (and ``tfd.TransformedDistribution``).
      context: a context bound to every call (see :meth:`condition`); ``None``
        for a flow that takes ``context=`` per call (or needs none).
      draw_groups: ``experimental_sample_and_log_prob`` (the call of ``tfp.vi``) pushes its
        ``N`` base draws through the layers as this many independent groups of ``N / g``
        (when ``g`` divides ``N`` and ``N >= 2 g``; an unconditional flow with no batch
        shape). The draws and densities are the same; the groups are independent chains
        of small operations, which XLA runs on separate cores (on 2 cores a VI step of
        the default surrogate took 0.62-0.64x the time with 2 groups:
        ``benchmarks/README.md``). 1: one batch.
    """

    def __init__(
        self,
        distribution: tfd.Distribution,
        bijector: tfb.Bijector,
        kwargs_split_fn: KwargsSplitFn | None = None,
        validate_args: bool = False,
        parameters: dict[str, Any] | None = None,
        name: str | None = None,
        context: Any = None,
        draw_groups: int = 1,
    ):
        parameters = dict(locals()) if parameters is None else parameters
        self._context_size = context_size_of(bijector)
        self._draw_groups = check_integer("draw_groups", draw_groups, minimum=1)
        super().__init__(
            distribution,
            bijector,
            kwargs_split_fn=kwargs_split_fn,
            validate_args=validate_args,
            parameters=parameters,
            name=name,
        )
        self._context = None
        if context is not None:
            if not self._context_size:
                raise ValueError(
                    f"{self.name}: this flow is unconditional (context_size=0); "
                    f"there is no context to bind."
                )
            self._context = check_context(context, self._context_size, self.dtype, self.name)

    @classmethod
    def _parameter_properties(cls, dtype, num_classes=None):
        # `context` is not a batch parameter: a bound context's batch shape is added by
        # `_batch_shape`.
        return PushForward._parameter_properties(dtype, num_classes=num_classes)

    @property
    def context_size(self) -> int:
        """Width ``k`` of the context ``[..., k]`` the flow takes (0: unconditional)."""
        return self._context_size

    @property
    def context(self) -> tf.Tensor | None:
        """The context bound by :meth:`condition`, or ``None``."""
        return self._context

    @property
    def draw_groups(self) -> int:
        """How many independent groups ``experimental_sample_and_log_prob`` splits draws into."""
        return self._draw_groups

    def condition(self, context: Any, name: str | None = None) -> Flow:
        """This flow with ``context`` bound: an unconditional ``tfd.Distribution`` of ``x``.

        Shares every layer (and variable) with this flow. A context of shape
        ``[m, k]`` gives a batch of ``m`` distributions (``batch_shape == [m]``).

        #### Examples

        >>> import tfp_flows as tff
        >>> flow = tff.real_nvp(2, num_layers=2, hidden_units=(8,), context_size=1)
        >>> posterior = flow.condition([0.5])
        >>> posterior.sample(3, seed=1).shape, posterior.context_size
        (TensorShape([3, 2]), 1)
        """
        if self._context is not None:
            raise ValueError(f"{self.name} already has a bound context.")
        conditioned = Flow(
            self.distribution,
            self.bijector,
            validate_args=self.validate_args,
            name=name or self.parameters.get("name"),
            context=context,
            draw_groups=self._draw_groups,
        )
        if name is None and self.parameters.get("name") is None:
            conditioned._name = self._name
        return conditioned

    def _context_kwargs(self, kwargs: dict[str, Any], value: Any = None) -> dict[str, Any]:
        """Moves ``context`` (checked, or the bound one) into ``bijector_kwargs``.

        With ``value`` (the points of ``log_prob``/``prob``), the context's batch
        shape must broadcast against theirs (:func:`~tfp_flows._internal.checks.check_context_batch`).
        """
        context = kwargs.pop("context", None)
        if self._context is not None:
            if context is not None:
                raise ValueError(
                    f"{self.name}: this flow has a bound context (condition()); "
                    f"it takes no context= per call."
                )
            context = self._context
        context = checked_context(
            context,
            self._context_size,
            self.dtype,
            self.name,
            kind="flow",
            hint=", or bind one with flow.condition(c)",
            points=value,
            event_rank=self.event_shape.rank,
        )
        if context is None:
            return kwargs
        bijector_kwargs = dict(kwargs.get("bijector_kwargs", {}), context=context)
        return dict(kwargs, bijector_kwargs=bijector_kwargs)

    def _per_call_context(self, kwargs: dict[str, Any]) -> tf.Tensor | None:
        """The context passed to this call (``None`` if none, or if it is the bound one)."""
        if self._context is not None:
            return None
        return kwargs.get("bijector_kwargs", {}).get("context")

    def _with_context_batch(self, sample_shape: Any, kwargs: dict[str, Any]) -> Any:
        """``sample_shape`` extended by the batch shape of a per-call context.

        (A bound context is part of ``batch_shape``: the base is broadcast to it.)
        """
        context = self._per_call_context(kwargs)
        if context is None:
            return sample_shape
        sample = _static_shape(sample_shape)
        if sample is not None and context.shape[:-1].is_fully_defined():
            return np.array(sample + context.shape[:-1].as_list(), dtype=np.int32)
        sample_shape = tf.reshape(tf.cast(sample_shape, tf.int32), [-1])
        return tf.concat([sample_shape, tf.shape(context)[:-1]], axis=0)

    # -- the public calls: check values, route the context ----------------------------------
    # (TFP converts values and calls the `_log_prob` / `_sample_n` / `_sample_and_log_prob`
    # hooks from these; the checks and the context come first, on the arguments as given.)

    def log_prob(self, value: Any, name: str = "log_prob", **kwargs: Any) -> tf.Tensor:
        """``log q(value)``; ``context=c`` for a conditional flow (see the module docstring)."""
        check_tensor_dtype(value, self.dtype, self.name, "values")
        return super().log_prob(value, name=name, **self._context_kwargs(kwargs, value))

    def prob(self, value: Any, name: str = "prob", **kwargs: Any) -> tf.Tensor:
        """``q(value)``; ``context=c`` for a conditional flow (see the module docstring)."""
        check_tensor_dtype(value, self.dtype, self.name, "values")
        return super().prob(value, name=name, **self._context_kwargs(kwargs, value))

    def sample(
        self, sample_shape: Any = (), seed: Any = None, name: str = "sample", **kwargs: Any
    ) -> tf.Tensor:
        """Draws of shape ``sample_shape + batch_shape (+ the context's batch) + event_shape``."""
        kwargs = self._context_kwargs(kwargs)
        return super().sample(
            self._with_context_batch(sample_shape, kwargs), seed=seed, name=name, **kwargs
        )

    def experimental_sample_and_log_prob(
        self,
        sample_shape: Any = (),
        seed: Any = None,
        name: str = "sample_and_log_prob",
        **kwargs: Any,
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """``(x, log q(x))`` for draws ``x`` as :meth:`sample` gives them, one pass of the layers."""
        kwargs = self._context_kwargs(kwargs)
        return super().experimental_sample_and_log_prob(
            self._with_context_batch(sample_shape, kwargs), seed=seed, name=name, **kwargs
        )

    def unnormalized_log_prob(
        self, value: Any, name: str = "unnormalized_log_prob", **kwargs: Any
    ) -> tf.Tensor:
        """:meth:`log_prob`: a flow's density is normalised."""
        return self.log_prob(value, name=name, **kwargs)

    # -- one pass of every layer ------------------------------------------------------------

    def _log_prob(self, y, **kwargs):
        distribution_kwargs, bijector_kwargs = self._kwargs_split_fn(kwargs)
        x, ildj = inverse_and_log_det(self.bijector, y, self.event_shape.rank, **bijector_kwargs)
        base_log_prob = self.distribution.log_prob(x, **distribution_kwargs)
        return base_log_prob + tf.cast(ildj, base_log_prob.dtype)

    def _prob(self, y, **kwargs):
        return tf.exp(self._log_prob(y, **kwargs))

    def _sample_n(self, n, seed=None, **kwargs):
        context = self._per_call_context(kwargs)
        if context is None:
            return super()._sample_n(n, seed=seed, **kwargs)
        # `sample` appended the context's batch shape to the sample shape, so the `n` draws
        # are `[n / m, *context_batch]` with `m` the context's batch size: the layers see them
        # in that shape, broadcast against the context, and TFP reshapes the result.
        distribution_kwargs, bijector_kwargs = self._kwargs_split_fn(kwargs)
        x = self._base_at_batch_shape().sample(n, seed=seed, **distribution_kwargs)
        x = tf.reshape(x, tf.concat([[-1], tf.shape(context)[:-1], tf.shape(x)[1:]], axis=0))
        y = self.bijector.forward(x, **bijector_kwargs)
        rank = context.shape.rank
        context_batch_rank = tf.rank(context) - 1 if rank is None else rank - 1
        return tf.reshape(y, tf.concat([[-1], tf.shape(y)[1 + context_batch_rank :]], axis=0))

    def _sample_and_log_prob(self, sample_shape, seed, **kwargs):
        grouped = self._sample_and_log_prob_in_groups(sample_shape, seed, kwargs)
        if grouped is not None:
            return grouped
        distribution_kwargs, bijector_kwargs = self._kwargs_split_fn(kwargs)
        x, base_log_prob = self._base_at_batch_shape().experimental_sample_and_log_prob(
            sample_shape, seed, **distribution_kwargs
        )
        y, fldj = forward_and_log_det(self.bijector, x, self._base_event_ndims(), **bijector_kwargs)
        return y, base_log_prob - tf.cast(fldj, base_log_prob.dtype)

    def _sample_and_log_prob_in_groups(self, sample_shape, seed, kwargs):
        """``(x, log q(x))`` with the layers run on ``draw_groups`` independent groups of the
        base draws, or ``None`` where that does not apply (one group, a context, a batch
        shape, a dynamic or indivisible number of draws)."""
        groups = self._draw_groups
        shape = _static_shape(sample_shape)
        if (
            groups == 1
            or kwargs.get("bijector_kwargs")
            or self._context is not None
            or shape is None
            or self.batch_shape != tf.TensorShape([])
        ):
            return None
        draws = int(np.prod(shape))
        if draws < 2 * groups or draws % groups:
            return None
        z, base_log_prob = self.distribution.experimental_sample_and_log_prob(draws, seed=seed)
        event_ndims = self.distribution.event_shape.rank
        xs, fldjs = [], []
        for z_group in tf.split(z, groups, axis=0):
            x_group, fldj = forward_and_log_det(self.bijector, z_group, event_ndims)
            xs.append(x_group)
            fldjs.append(fldj)
        x = tf.concat(xs, axis=0)
        log_prob = base_log_prob - tf.concat(fldjs, axis=0)
        return (tf.reshape(x, shape + x.shape[1:].as_list()), tf.reshape(log_prob, shape))

    def _batch_shape(self):
        shape = super()._batch_shape()
        if self._context is None:
            return shape
        return tf.broadcast_static_shape(shape, self._context.shape[:-1])

    def _batch_shape_tensor(self):
        shape = super()._batch_shape_tensor()
        if self._context is None:
            return shape
        return tf.broadcast_dynamic_shape(shape, tf.shape(self._context, out_type=shape.dtype)[:-1])

    def copy(self, **override_parameters_kwargs: Any) -> Flow:
        """TFP's ``copy``; an unnamed flow's copy keeps the name the builder showed."""
        copied = super().copy(**override_parameters_kwargs)
        if "name" not in override_parameters_kwargs and self.parameters.get("name") is None:
            copied._name = self._name
        return copied

    def _default_event_space_bijector(self):
        # The layers map R^n onto R^n: on a base supported on all of R^n (the standard normal)
        # the flow is too, and its event space needs no bijector. PushForward's default would
        # put the flow's own layers there, so that a flow prior inside a model hands its
        # weights to anything fitted in the model's unconstrained space (a surrogate posterior).
        base = self.distribution.experimental_default_event_space_bijector()
        if isinstance(base, tfb.Identity):
            return base
        return super()._default_event_space_bijector()

    def _pushes_the_same_map_as(self, other: PushForward) -> bool:
        # Conditioned flows share their layers: the map is the same only with the same context.
        return super()._pushes_the_same_map_as(other) and self._context is getattr(
            other, "_context", None
        )

    def _no_closed_form(self, what: str) -> None:
        if self._context_size or not self.bijector.is_constant_jacobian:
            raise NotImplementedError(
                f"{self.name}: the {what} of a flow with non-affine layers has no closed form; "
                f"estimate it with tfp_flows.estimate_moments(flow) (Monte Carlo, with standard "
                f"errors)."
            )

    def _mean(self, **kwargs):
        self._no_closed_form("mean")
        return super()._mean(**kwargs)

    def _mode(self, **kwargs):
        self._no_closed_form("mode")
        return super()._mode(**kwargs)

    def _stddev(self, **kwargs):
        self._no_closed_form("standard deviation")
        return super()._stddev(**kwargs)

    def _covariance(self, **kwargs):
        self._no_closed_form("covariance")
        return super()._covariance(**kwargs)

    def _entropy(self, **kwargs):
        self._no_closed_form("entropy")
        return super()._entropy(**kwargs)
