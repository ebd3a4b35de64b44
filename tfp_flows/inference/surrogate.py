"""A flow as the surrogate posterior of any TFP model: ``surrogate_posterior(model)``.

A flow lives on ``R^n``; a model's posterior lives on its support, in its
structure (a dict, list or namedtuple of parts: locations, positive scales,
simplices, correlation matrices, ...). The surrogate pushes a flow through a
fixed *structure bijector* ``g`` built from the model:

```none
z ~ N(0, I_n)  --flow f-->  u in R^n  --split, reshape, restructure-->  (u_1, ..., u_k)
              --event-space bijector b = (b_1, ..., b_k)-->  theta = (b_1(u_1), ..., b_k(u_k))

log q(theta) = log q_flow(u) - sum_j log|det J_{b_j}(u_j)|,     u = g^{-1}(theta)
```

``b_j`` is the part's ``experimental_default_event_space_bijector()`` (``Exp``
for a positive scale, ``SoftmaxCentered`` for a simplex, ``CorrelationCholesky``
for a Cholesky factor, ...), ``n`` the total size of the unconstrained parts.
One flow over all parts (rather than one per part, as TFP's
``build_split_flow_surrogate_posterior`` does) lets the surrogate capture
dependence between parts -- the funnel's ``x`` depends on ``v``.

``u`` lists the parts in the order the model draws them (its graph's
topological order, as its ``sample`` resolves it), not in ``tf.nest``'s
sorted dict keys. An autoregressive layer in natural order then conditions
each part on the parts the model draws before it, as the prior does: the
banana's ``x1 | x2 ~ N(x2^2 / 4, 1)`` is one affine step in that direction,
while ``x2 | x1`` is bimodal and out of an affine layer's reach. With the
banana's dict keys sorted (``x1`` first), the default surrogate missed the
0.1-sd moment goal on 6 of 20 seeds; in the draw order, on 1 of 20
(``benchmarks/README.md``). The surrogate's ``trainable_variables`` are the flow's only, never a model's own
(a flow used as a prior, say). ``tfp.vi.fit_surrogate_posterior`` trains
every variable its loss touches unless given
``trainable_variables=surrogate.trainable_variables`` -- including the
model's (variational EM); so does :func:`~tfp_flows.inference.fit_surrogate`,
unless given ``train_target=False``.

#### Examples

>>> import tensorflow as tf
>>> import tensorflow_probability as tfp
>>> tfd = tfp.distributions
>>> model = tfd.JointDistributionNamed(dict(
...     loc=tfd.Normal(0.0, 1.0),
...     scale=tfd.LogNormal(0.0, 1.0),
...     y=lambda scale, loc: tfd.Sample(tfd.Normal(loc, scale), 3)))
>>> pinned = model.experimental_pin(y=[0.5, -1.0, 2.0])
>>> surrogate = surrogate_posterior(pinned, num_layers=2, hidden_units=(8,))
>>> draws = surrogate.sample(4, seed=0)
>>> sorted(draws), draws["scale"].shape, bool(tf.reduce_all(draws["scale"] > 0))
(['loc', 'scale'], TensorShape([4]), True)
>>> losses = tfp.vi.fit_surrogate_posterior(
...     pinned.unnormalized_log_prob, surrogate, tf.keras.optimizers.Adam(1e-3), num_steps=5,
...     sample_size=8, seed=[1, 2])
>>> losses.shape
TensorShape([5])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tensorflow as tf
from tensorflow_probability import bijectors as tfb
from tensorflow_probability import distributions as tfd

from tfp_flows._internal.checks import SUPPORTED_DTYPES
from tfp_flows.distributions.push_forward import PushForward
from tfp_flows.flows import iaf, maf, nice, nsf, planar, radial, real_nvp
from tfp_flows.flows.flow import Flow

__all__ = [
    "DEFAULT_DRAW_GROUPS",
    "DEFAULT_SURROGATE",
    "SURROGATE_BUILDERS",
    "SurrogatePosterior",
    "surrogate_posterior",
]

SURROGATE_BUILDERS: dict[str, Callable[..., tfd.Distribution]] = {
    "iaf": iaf,
    "maf": maf,
    "nice": nice,
    "nsf": nsf,
    "planar": planar,
    "radial": radial,
    "real_nvp": real_nvp,
}
"""The flow families a surrogate can be built from, by name."""

DEFAULT_SURROGATE: dict[str, Any] = dict(
    flow="iaf",
    num_layers=3,
    hidden_units=(64, 64),
    activation="gelu_tanh",
    transformer="unbounded_affine",
)
"""The default surrogate: an IAF (one network pass to sample *and* score its own draws) of
three layers of MADEs with hidden units 64-64 and tanh-approximated gelu, in TFP's affine form
``(x + t) e^s`` with an unbounded log-scale. Side by side with TFP's IAF surrogates on the
banana, the 10-D funnel and Eight Schools (``benchmarks/README.md``, ``inference.py``: 2000
steps of Adam from 2e-3, cosine-decayed; seeds 0-5): its ELBO was higher than that of TFP's
2-layer 64-64 IAF in 18 of 18 (target, seed) pairs, than TFP's 3-layer one in 17 (the other
lower by less than 2 standard errors) and than the 2-layer 256-256 IAF of TFP's VI tutorial in
13 (3 of the other 5 lower by less than 2 standard errors); its means and standard deviations were within 0.04 true standard deviations
on the banana and Eight Schools; and a VI step (with :data:`DEFAULT_DRAW_GROUPS`) took
0.87-0.96x, 0.61-0.68x and 0.12-0.17x their time. The package's bounded ``"affine"`` lost the
funnel in 3 of 3; the exact gelu fits alike (the same ELBO to 4 decimals in 8 of 9 pairs) and
costs 10% more time."""


DEFAULT_DRAW_GROUPS = 2
"""``surrogate_posterior``'s default ``draw_groups``: on 2 cores, a VI step of the default
surrogate took 0.62-0.64x the time of one group on the funnel and Eight Schools
(``benchmarks/README.md``); 4 groups were slower than 2 there."""


class SurrogatePosterior(PushForward):
    """A flow (``distribution``) pushed through a model's structure ``bijector``; trains the flow only.

    A :class:`~tfp_flows.distributions.PushForward` (not a ``CompositeTensor``): a module
    holding the surrogate sees the flow's variables.

    Attributes:
      flow: the flow on the unconstrained vector ``u`` in ``R^n``.
      event_space_bijector: the model's default event-space bijector (structured).
      unconstrained_event_shape: the structure of the parts' unconstrained shapes.
    """

    def __init__(
        self,
        distribution: tfd.Distribution,
        bijector: tfb.Bijector,
        event_space_bijector: tfb.Bijector,
        unconstrained_event_shape: Any,
        name: str = "surrogate_posterior",
    ):
        parameters = dict(locals())
        self._flow = distribution
        self._event_space_bijector = event_space_bijector
        self._unconstrained_event_shape = unconstrained_event_shape
        super().__init__(distribution, bijector, parameters=parameters, name=name)

    @classmethod
    def _parameter_properties(cls, dtype, num_classes=None):
        return PushForward._parameter_properties(dtype, num_classes=num_classes)

    @property
    def flow(self) -> tfd.Distribution:
        return self._flow

    @property
    def event_space_bijector(self) -> tfb.Bijector:
        return self._event_space_bijector

    @property
    def unconstrained_event_shape(self) -> Any:
        return self._unconstrained_event_shape

    @property
    def trainable_variables(self) -> tuple[tf.Variable, ...]:
        # The structure bijector holds the model's bijectors; their variables are the model's.
        return self._flow.trainable_variables


def surrogate_posterior(
    model: Any,
    flow: str | Callable[..., tfd.Distribution] | tfd.Distribution = DEFAULT_SURROGATE["flow"],
    *,
    seed: int | None = 0,
    draw_groups: int | None = None,
    name: str = "surrogate_posterior",
    **flow_kwargs: Any,
) -> SurrogatePosterior:
    """A flow surrogate posterior for ``model``, in the model's structure and support.

    Args:
      model: a pinned joint distribution (``model.experimental_pin(y=...)``), or
        any ``tfd.JointDistribution*`` / ``tfd.Distribution`` whose density is
        the target; its parts must have scalar batch shapes and known event
        shapes, all of one floating dtype (float32 or float64).
      flow: a flow family by name (``"iaf"`` (default, with the settings of
        :data:`DEFAULT_SURROGATE` unless overridden), ``"maf"``, ``"real_nvp"``,
        ``"nsf"``, ``"nice"``, ``"planar"``, ``"radial"``: their builders'
        defaults);
        or a callable ``flow(event_size, dtype=..., **flow_kwargs)`` returning a
        distribution on ``[event_size]`` vectors; or a built unconditional
        distribution on ``[n]`` vectors of the model's dtype.
      seed: seed of the flow's initial weights (named families).
      draw_groups: for the package's flows (:class:`~tfp_flows.Flow`), the number of
        independent groups ``experimental_sample_and_log_prob`` -- the call of ``tfp.vi`` --
        runs the layers on (``Flow(draw_groups=...)``: the same draws, computed as groups
        that XLA runs on separate cores). ``None``: 2 (:data:`DEFAULT_DRAW_GROUPS`); 1:
        one batch. Other distributions are used as they are.
      name: the surrogate's name.
      **flow_kwargs: passed to the builder (``num_layers``, ``hidden_units``,
        ...). Named families are built without their ``Standardize`` layer
        (there is no data to adapt it to) unless ``standardize=True`` is given.

    Returns:
      A :class:`SurrogatePosterior`: ``sample`` gives the model's structure in
      its support; ``log_prob`` and ``experimental_sample_and_log_prob`` score
      it; ``trainable_variables`` are the flow's. Fit it with
      ``tfp.vi.fit_surrogate_posterior`` or :func:`tfp_flows.inference.fit_surrogate`.

    Raises:
      TypeError: ``model`` is not a distribution, mixes dtypes or is not
        floating; ``flow`` is of the wrong kind or dtype.
      ValueError: a part has a batch shape or an unknown event shape; a built
        flow's event shape is not ``[n]``; a conditional flow.
    """
    if not hasattr(model, "experimental_default_event_space_bijector"):
        raise TypeError(
            "model must be a TFP distribution, a joint distribution or a pinned joint "
            f"distribution (model.experimental_pin(...)), got {type(model).__name__}."
        )
    dtype = _model_dtype(model)
    event_space, unconstrained = _event_space(model)
    shapes = tf.nest.flatten(unconstrained)
    sizes = [int(shape.num_elements()) for shape in shapes]
    event_size = sum(sizes)
    if event_size < 2:
        raise ValueError(
            f"{model.name} has {event_size} unconstrained dimension(s); a flow surrogate needs at "
            "least 2. For one parameter, a Gaussian through the event-space bijector is exact "
            "enough: tfp.experimental.vi.build_affine_surrogate_posterior."
        )
    flow = _build_flow(flow, event_size, dtype, seed, flow_kwargs)
    if isinstance(flow, Flow):
        groups = DEFAULT_DRAW_GROUPS if draw_groups is None else draw_groups
        if groups != flow.draw_groups:
            flow = flow.copy(draw_groups=groups)
    elif draw_groups is not None:
        raise TypeError(
            f"draw_groups applies to the package's flows (tfp_flows.Flow), not to "
            f"{type(flow).__name__} {flow.name!r}; leave it out."
        )
    to_parts: list[tfb.Bijector]
    if tf.nest.is_nested(unconstrained):
        order = _generative_order(model, unconstrained)
        position = {part: at for at, part in enumerate(order)}  # nest index -> place in u
        to_parts = [
            tfb.Restructure(
                tf.nest.pack_sequence_as(
                    unconstrained, [position[part] for part in range(len(shapes))]
                )
            ),
            tfb.JointMap(
                [tfb.Reshape(shapes[part], event_shape_in=[sizes[part]]) for part in order]
            ),
            tfb.Split([sizes[part] for part in order]),
        ]
    else:
        to_parts = [tfb.Reshape(unconstrained, event_shape_in=[event_size])]
    structure = tfb.Chain([event_space, *to_parts], name=f"{name}_structure")
    return SurrogatePosterior(flow, structure, event_space, unconstrained, name=name)


def _event_space(model: Any) -> tuple[tfb.Bijector, Any]:
    """The model's event-space bijector and its parts' unconstrained event shapes."""
    batch_shapes = model.batch_shape
    flat_batch = tf.nest.flatten(batch_shapes)
    if not all(tf.TensorShape(shape).rank == 0 for shape in flat_batch):
        raise ValueError(
            f"{model.name}: every part must have a scalar batch shape, got {batch_shapes}; wrap "
            "vector parts in tfd.Independent / tfd.Sample, or use a JointDistribution*AutoBatched."
        )
    event_shape = model.event_shape
    if not all(tf.TensorShape(shape).is_fully_defined() for shape in tf.nest.flatten(event_shape)):
        raise ValueError(f"{model.name}: every part needs a known event shape, got {event_shape}.")
    try:
        event_space = model.experimental_default_event_space_bijector()
    except AttributeError:  # TFP's joint bijector meets a part without one
        event_space = None
    if event_space is None:
        raise ValueError(
            f"{model.name}: a part has no event-space bijector, so it has no unconstrained "
            "space for a flow: a discrete part (Poisson, Bernoulli, ...)? Pin it to observed "
            "values or marginalise it out."
        )
    return event_space, event_space.inverse_event_shape(event_shape)


def _generative_order(model: Any, unconstrained: Any) -> list[int]:
    """The parts' indices in ``tf.nest.flatten`` order, listed in the order the model draws them.

    A joint distribution draws its parts in a topological order of its graph
    (``JointDistributionNamed`` resolves its dict's dependencies; a
    ``JointDistributionSequential`` draws its list in order); ``tf.nest`` sorts a
    dict's keys. Other distributions keep the ``tf.nest`` order.
    """
    nest_order = list(range(len(tf.nest.flatten(unconstrained))))
    flatten = getattr(model, "_model_flatten", None)  # TFP's joint distributions (and pinned)
    if flatten is None:
        return nest_order
    try:
        order = [int(part) for part in flatten(tf.nest.pack_sequence_as(unconstrained, nest_order))]
    except (TypeError, ValueError, KeyError, AttributeError):
        return nest_order
    return order if sorted(order) == nest_order else nest_order


def _model_dtype(model: Any) -> tf.DType:
    dtypes = {tf.as_dtype(d) for d in tf.nest.flatten(model.dtype)}
    if len(dtypes) != 1 or next(iter(dtypes)) not in SUPPORTED_DTYPES:
        raise TypeError(
            f"{model.name}: a surrogate needs every part of one floating dtype (float32 or "
            f"float64), got {tf.nest.map_structure(lambda d: tf.as_dtype(d).name, model.dtype)}."
        )
    return dtypes.pop()


def _build_flow(
    flow: Any, event_size: int, dtype: tf.DType, seed: int | None, flow_kwargs: dict[str, Any]
) -> tfd.Distribution:
    """The flow on ``[event_size]`` vectors of ``dtype``, built or checked."""
    if isinstance(flow, str):
        if flow not in SURROGATE_BUILDERS:
            raise ValueError(
                f"flow must be one of {sorted(SURROGATE_BUILDERS)}, a callable "
                f"flow(event_size, dtype=...) or a distribution, got {flow!r}."
            )
        defaults = (
            {k: v for k, v in DEFAULT_SURROGATE.items() if k != "flow"}
            if flow == DEFAULT_SURROGATE["flow"]
            else {}
        )
        flow_kwargs = {"standardize": False, "seed": seed, **defaults, **flow_kwargs}
        flow = SURROGATE_BUILDERS[flow](event_size, dtype=dtype, **flow_kwargs)
    elif callable(flow) and not isinstance(flow, tfd.Distribution):
        flow = flow(event_size, dtype=dtype, **flow_kwargs)
    elif flow_kwargs:
        raise TypeError(
            f"flow keyword arguments {sorted(flow_kwargs)} need a flow family or "
            "builder, not a built distribution."
        )
    if not isinstance(flow, tfd.Distribution):
        raise TypeError(
            f"flow must be a flow family name, a builder or a tfd.Distribution, got "
            f"{type(flow).__name__}."
        )
    if getattr(flow, "context_size", 0) and getattr(flow, "context", None) is None:
        raise ValueError(
            f"{flow.name} is a conditional flow (context_size={flow.context_size}); "
            "bind a context first: flow.condition(c)."
        )
    if flow.event_shape != tf.TensorShape([event_size]) or flow.batch_shape.rank != 0:
        raise ValueError(
            f"{flow.name}: the model's unconstrained parts make vectors of size "
            f"{event_size}: the flow must have event shape [{event_size}] and no "
            f"batch shape, got event shape {flow.event_shape} and batch shape "
            f"{flow.batch_shape}."
        )
    if flow.dtype != dtype:
        raise TypeError(
            f"{flow.name} has dtype {tf.as_dtype(flow.dtype).name}; the model's "
            f"parts are {dtype.name}: build the flow with dtype={dtype.name}."
        )
    return flow
