"""NeuTra HMC: Hamiltonian Monte Carlo in the base space of a trained flow.

A surrogate ``q = f_# N(0, I)`` (a flow ``f``, possibly pushed into a model's
structure and constrained support) that approximates a posterior ``p`` turns
``p`` into a nearly standard normal density in the flow's base space. Sampling
there, where one step size fits everywhere, and mapping the draws through ``f``
is NeuTra (Hoffman et al. 2019):

```none
x = f(z),  z ~ N(0, I)                          the surrogate q = f_# N(0, I)
p_f(z) = p(f(z)) |det J_f(z)|                   the target pulled back to z-space
q = p exactly  =>  p_f(z) = N(z; 0, I)          (change of variables)
z_1, z_2, ... ~ p_f  (HMC / NUTS)   =>   f(z_1), f(z_2), ... ~ p
```

The draws are exact for any invertible ``f`` (the Metropolis correction sees
``p_f``); the flow's quality only decides how fast the chains mix. Here
``tfp.mcmc.TransformedTransitionKernel(kernel, bijector=f)`` does the pull-back,
inside a ``tfp.mcmc.DualAveragingStepSizeAdaptation`` that tunes the step size
during burn-in; the chains start from the surrogate's own samples.

* :func:`neutra_bijector` -- the map ``f`` (every bijector of a nested
  ``TransformedDistribution``, innermost first) and the base distribution.
* :func:`neutra` -- run NeuTra HMC / NUTS (or, with ``plain=True``, the same
  sampler without the flow) and report draws, R-hat, ESS per gradient evaluation.

#### Examples

A correlated Gaussian and a surrogate that transports ``N(0, I)`` onto it
exactly: in base space the chains see ``N(0, I)``.

>>> import tensorflow as tf
>>> from tensorflow_probability import bijectors as tfb
>>> from tensorflow_probability import distributions as tfd
>>> scale_tril = tf.constant([[1.0, 0.0], [0.9, 0.1]])
>>> target = tfd.MultivariateNormalTriL(loc=[1.0, -1.0], scale_tril=scale_tril)
>>> surrogate = tfd.TransformedDistribution(
...     tfd.MultivariateNormalDiag(tf.zeros(2)),
...     tfb.Chain([tfb.Shift([1.0, -1.0]), tfb.ScaleMatvecTriL(scale_tril)]))
>>> result = neutra(target, surrogate, kernel="hmc", num_leapfrog_steps=3, num_results=200,
...                 num_burnin_steps=100, step_size=0.5, jit_compile=False)
>>> result.draws.shape, result.num_gradient_evaluations       # 4 chains x 200 x 3 leapfrogs
(TensorShape([200, 4, 2]), 2400)
>>> result.max_r_hat < 1.05
True

#### References

[1] Matthew Hoffman, Pavel Sountsov, Joshua V. Dillon, Ian Langmore, Dustin Tran
    and Srinivas Vasudevan. NeuTra-lizing bad geometry in Hamiltonian Monte Carlo
    using neural transport. *arXiv:1903.03704*, 2019.
[2] Matthew D. Hoffman and Andrew Gelman. The No-U-Turn sampler: adaptively
    setting path lengths in Hamiltonian Monte Carlo. *JMLR*, 15:1593-1623, 2014.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from tensorflow_probability import bijectors as tfb
from tensorflow_probability import distributions as tfd

from tfp_flows._internal.checks import (
    check_floating_dtype,
    check_integer,
    check_number,
    check_positive_float,
)
from tfp_flows._internal.seeds import stateless_seed
from tfp_flows.bijectors.chain import context_size_of
from tfp_flows.inference.diagnostics import ChainDiagnostics, chain_diagnostics
from tfp_flows.inference.fitting import check_target_matches
from tfp_flows.training.losses import target_log_prob_fn

__all__ = ["KERNELS", "NeutraResult", "Transport", "neutra", "neutra_bijector"]

KERNELS = ("nuts", "hmc")


class Transport(NamedTuple):
    """The map of a surrogate ``q = f_# base``: ``bijector`` is ``f``, ``base`` the base."""

    bijector: tfb.Bijector
    base: tfd.Distribution


@dataclass(frozen=True)
class NeutraResult(ChainDiagnostics):
    """Draws and diagnostics of a NeuTra (or plain) HMC / NUTS run.

    Attributes:
      draws: the draws of the sampling phase in the model's structure (what the
        surrogate's ``sample`` returns), each part ``[num_results, num_chains, ...]``.
      r_hat: per part, R-hat of every entry (``tfp.mcmc.potential_scale_reduction``).
      ess: per part, cross-chain effective sample size of every entry
        (``tfp.mcmc.effective_sample_size(..., cross_chain_dims=1)``).
      ess_per_gradient: ``ess / num_gradient_evaluations``, per part and entry.
      num_gradient_evaluations: gradient evaluations of the target in the
        sampling phase, summed over chains (HMC: chains x results x leapfrog
        steps; NUTS: the leapfrog steps each chain took).
      acceptance_rate: mean Metropolis acceptance probability
        ``min(1, exp(log_accept_ratio))`` over the sampling phase (the quantity
        the step-size adaptation steers to ``target_accept_prob``).
      step_size: the step size after adaptation (the one used while sampling).
      wall_time: seconds for the whole run (tracing and XLA compilation included).
      kernel: ``"nuts"`` or ``"hmc"``.
      plain: ``True`` if the run used the identity instead of the flow.
    """

    draws: Any
    ess_per_gradient: Any
    num_gradient_evaluations: int
    acceptance_rate: float
    step_size: float
    wall_time: float
    kernel: str
    plain: bool

    @property
    def min_ess_per_gradient(self) -> float:
        """The smallest ESS per gradient evaluation over every entry of every part."""
        return self.min_ess / self.num_gradient_evaluations

    def summary(self) -> str:
        """One line: sampler, R-hat, ESS, ESS per 1,000 gradients, acceptance, step, time."""
        name = ("plain " if self.plain else "NeuTra ") + self.kernel.upper()
        return (
            f"{name}: max R-hat {self.max_r_hat:.3f}, min ESS {self.min_ess:.0f}, "
            f"min ESS per 1k gradients {1000 * self.min_ess_per_gradient:.2f} "
            f"({self.num_gradient_evaluations} gradients), acceptance "
            f"{self.acceptance_rate:.2f}, step size {self.step_size:.3g}, "
            f"{self.wall_time:.1f} s"
        )


class _ContextBound(tfb.Bijector):
    """A conditional bijector with its context bound: ``f(x) = g(x; c)``, no ``context=`` per call."""

    def __init__(self, bijector: tfb.Bijector, context: tf.Tensor):
        parameters = dict(locals())
        self._bijector = bijector
        self._context = context
        super().__init__(
            forward_min_event_ndims=bijector.forward_min_event_ndims,
            inverse_min_event_ndims=bijector.inverse_min_event_ndims,
            is_constant_jacobian=bijector.is_constant_jacobian,
            validate_args=bijector.validate_args,
            dtype=bijector.dtype,
            parameters=parameters,
            name=f"{bijector.name}_given_context",
        )

    @classmethod
    def _parameter_properties(cls, dtype, num_classes=None):
        return {}

    def __eq__(self, other: Any) -> bool:
        return self is other

    def __hash__(self) -> int:
        return id(self)

    def _forward(self, x):
        return self._bijector.forward(x, context=self._context)

    def _inverse(self, y):
        return self._bijector.inverse(y, context=self._context)

    def _forward_log_det_jacobian(self, x):
        return self._bijector.forward_log_det_jacobian(
            x, self._bijector.forward_min_event_ndims, context=self._context
        )

    def _inverse_log_det_jacobian(self, y):
        return self._bijector.inverse_log_det_jacobian(
            y, self._bijector.inverse_min_event_ndims, context=self._context
        )


def _unconditional_bijector(distribution: tfd.Distribution) -> tfb.Bijector:
    """The bijector of one transformed distribution, with a conditional flow's context bound."""
    bijector = distribution.bijector
    if not context_size_of(bijector):
        return bijector
    context = getattr(distribution, "context", None)
    if context is None:
        raise ValueError(
            f"{distribution.name} is a conditional flow (context_size="
            f"{context_size_of(bijector)}) without a context: NeuTra needs one target density, "
            f"so condition the flow first, e.g. flow.condition(c) with c of shape "
            f"[{context_size_of(bijector)}]."
        )
    return _ContextBound(bijector, context)


def _is_transformed(distribution: Any) -> bool:
    """Whether ``distribution`` is a transformed distribution: a ``tfd.Distribution`` with a
    ``bijector`` and a base ``distribution``. (``tfd.TransformedDistribution(base, b)`` over a
    bijector that is not a ``CompositeTensor`` -- a flow's layers -- is not an instance of the
    public class, so the test is by what it holds.)"""
    return (
        isinstance(distribution, tfd.Distribution)
        and isinstance(getattr(distribution, "bijector", None), tfb.Bijector)
        and isinstance(getattr(distribution, "distribution", None), tfd.Distribution)
    )


def _transport_layers(surrogate: Any) -> tuple[list[tfb.Bijector], tfd.Distribution]:
    """The bijectors of a nested transformed distribution, outermost first, and its base."""
    if not _is_transformed(surrogate):
        raise TypeError(
            "expected a surrogate tfd.TransformedDistribution (a flow such as tff.real_nvp(...), "
            "possibly wrapped in a TransformedDistribution that maps it into a model's "
            f"structure), got {type(surrogate).__name__}."
        )
    layers = [_unconditional_bijector(surrogate)]
    distribution = surrogate.distribution
    while _is_transformed(distribution) and not isinstance(
        distribution, tfd.MultivariateNormalLinearOperator
    ):
        layers.append(_unconditional_bijector(distribution))
        distribution = distribution.distribution
    return layers, distribution


def neutra_bijector(surrogate: tfd.Distribution) -> Transport:
    """The transport map ``f`` of a surrogate ``q = f_# base`` and its base distribution.

    Walks ``surrogate.distribution`` while it is a transformed distribution and
    composes the bijectors met on the way, the outermost first (``tfb.Chain``
    order), so that ``surrogate`` and ``TransformedDistribution(base, f)`` are the
    same distribution. Below the surrogate itself, the walk stops at a
    multivariate normal (``StandardNormal``, ``tfd.MultivariateNormalDiag``, ...):
    TFP implements those as transformed distributions too, but under a flow they
    are its base, not part of its map. A Gaussian surrogate on its own (e.g.
    ``tfd.MultivariateNormalTriL`` from full-rank VI) is its affine map of ``N(0, I)``.

    ```none
    surrogate = T(T(T(base, f_1), f_2), f_3)   ->   f = f_3 o f_2 o f_1 = tfb.Chain([f_3, f_2, f_1])
    ```

    A conditional flow must carry its context (:meth:`tfp_flows.Flow.condition`);
    the context is then bound into the returned bijector.

    Args:
      surrogate: a ``tfd.TransformedDistribution`` (e.g. ``tff.real_nvp(d)``, a
        flow pushed into a model's structure, or one of TFP's flows).

    Returns:
      A :class:`Transport` ``(bijector, base)``; ``bijector`` is the single
      bijector if there is one, else a ``tfb.Chain``.

    Raises:
      TypeError: if ``surrogate`` is not a transformed distribution.
      ValueError: if a conditional flow has no bound context.

    #### Examples

    >>> from tensorflow_probability import bijectors as tfb
    >>> from tensorflow_probability import distributions as tfd
    >>> import tfp_flows as tff
    >>> flow = tff.real_nvp(2, num_layers=2, hidden_units=(8,), name="real_nvp")
    >>> bijector, base = neutra_bijector(tfd.TransformedDistribution(flow, tfb.Exp()))
    >>> [b.name for b in bijector.bijectors], type(base).__name__
    (['exp', 'real_nvp'], 'StandardNormal')
    >>> neutra_bijector(tfd.Normal(0.0, 1.0))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    TypeError: expected a surrogate tfd.TransformedDistribution (...), got Normal.
    """
    layers, base = _transport_layers(surrogate)
    return Transport(layers[0] if len(layers) == 1 else tfb.Chain(layers), base)


def _check_kernel(kernel: Any) -> str:
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {', '.join(map(repr, KERNELS))}, got {kernel!r}.")
    return kernel


def _structure_string(dtype: Any) -> str:
    return str(tf.nest.map_structure(lambda d: tf.as_dtype(d).name, dtype))


def _target_log_prob(target: Any, surrogate: tfd.Distribution) -> Callable[[Any], tf.Tensor]:
    """``value -> log p(value)`` for a (pinned) joint distribution or a callable, checked."""
    if hasattr(target, "unnormalized_log_prob") and hasattr(target, "dtype"):
        try:
            tf.nest.assert_same_structure(target.dtype, surrogate.dtype, check_types=False)
            same = all(
                tf.as_dtype(a) == tf.as_dtype(b)
                for a, b in zip(tf.nest.flatten(target.dtype), tf.nest.flatten(surrogate.dtype))
            )
        except (TypeError, ValueError):
            same = False
        if not same:
            raise TypeError(
                f"neutra: the surrogate's samples have dtypes {_structure_string(surrogate.dtype)}"
                f", but the target {target.name} takes {_structure_string(target.dtype)}; build "
                f"the surrogate over the model's structure and dtype."
            )
    if hasattr(target, "unnormalized_log_prob") or callable(target):
        check_target_matches(surrogate, target, check_dtype=False)  # part names and shapes
        return target_log_prob_fn(target)
    raise TypeError(
        "neutra: target must be a (pinned) tfd.JointDistribution or another distribution with "
        "unnormalized_log_prob, or a callable returning log p of the surrogate's sample parts, "
        f"got {type(target).__name__}."
    )


def _parts_bijector(structure: Any, transport: list[tfb.Bijector]) -> tfb.Bijector:
    """``[z] -> [parts of f(z)]``: ``f`` between lists, as TransformedTransitionKernel needs.

    The kernel accepts multi-part states only as lists of tensors, so the chain state is
    ``[z]`` and the target sees the flat list of the model's parts (``tf.nest`` order).
    """
    positions = tf.nest.pack_sequence_as(structure, list(range(len(tf.nest.flatten(structure)))))
    to_parts = tfb.Restructure(
        output_structure=list(range(len(tf.nest.flatten(structure)))),
        input_structure=positions,
        name="to_parts",
    )
    from_single = tfb.Restructure(output_structure=0, input_structure=[0], name="from_single")
    return tfb.Chain([to_parts, *transport, from_single], name="neutra_transport")


def _trace(results: Any, kernel: str) -> dict[str, tf.Tensor]:
    """What a chain records per draw, read from the results of
    ``TransformedTransitionKernel(DualAveragingStepSizeAdaptation(HMC or NUTS))``."""
    adaptation = results.inner_results
    sampler = adaptation.inner_results
    traced = {
        "log_accept_ratio": sampler.log_accept_ratio,
        "step_size": adaptation.new_step_size,
    }
    if kernel == "nuts":
        traced["leapfrogs"] = sampler.leapfrogs_taken
    return traced


def neutra(
    target: Any,
    surrogate: tfd.Distribution,
    *,
    num_chains: int = 4,
    num_results: int = 1000,
    num_burnin_steps: int = 500,
    num_adaptation_steps: int | None = None,
    kernel: str = "hmc",
    num_leapfrog_steps: int = 8,
    max_tree_depth: int = 6,
    target_accept_prob: float = 0.75,
    step_size: float = 0.1,
    plain: bool = False,
    seed: Any = 0,
    jit_compile: bool = True,
) -> NeutraResult:
    """NeuTra HMC / NUTS: sample ``target`` in the base space of the trained ``surrogate``.

    With ``f`` the surrogate's transport (:func:`neutra_bijector`), the inner
    kernel samples the pulled-back density ``p_f(z) = p(f(z)) |det J_f(z)|``
    through ``tfp.mcmc.TransformedTransitionKernel`` and reports ``x = f(z)``:

    ```none
    kernel = TransformedTransitionKernel(DualAveragingStepSizeAdaptation(HMC | NUTS), f)
    z_0 ~ base (num_chains draws)          chains start at the surrogate's samples f(z_0)
    burn-in: num_burnin_steps steps, the step size adapted over the first
             num_adaptation_steps (default 0.8 x burn-in) towards target_accept_prob
    sampling: num_results steps with the final step size
    gradient evaluations = num_chains x num_results x num_leapfrog_steps   (HMC)
                         = sum over chains and steps of leapfrogs taken     (NUTS)
    ```

    With ``plain=True`` the bijector of the innermost transformed distribution
    (the flow) is replaced by the identity: the same sampler, adaptation and
    budget, started from the same points, runs in the flow's output space, still
    through the outer bijectors (a model's structure and constraining bijectors),
    i.e. plain HMC / NUTS on the model's unconstrained space -- the comparison
    NeuTra is measured against. (A surrogate that is one transformed
    distribution whose bijector holds both the flow and the structure, as TFP's
    ``build_split_flow_surrogate_posterior`` builds, has no separate flow to drop.)

    Args:
      target: a (pinned) ``tfd.JointDistribution*`` (or any distribution; its
        ``unnormalized_log_prob`` is used) over the surrogate's structure, or a
        callable ``log p`` called like ``tfp.vi`` calls it: with a dict sample
        as keyword arguments, with a list / tuple as positional arguments, else
        with the sample itself.
      surrogate: the trained approximation ``q = f_# base``, a
        ``tfd.TransformedDistribution`` (nested ones allowed) with a scalar batch.
      num_chains: independent chains (>= 2, for R-hat and cross-chain ESS).
      num_results: draws kept per chain (>= 4).
      num_burnin_steps: steps discarded before the draws.
      num_adaptation_steps: burn-in steps that adapt the step size (dual
        averaging); default ``int(0.8 * num_burnin_steps)``.
      kernel: ``"hmc"`` (``tfp.mcmc.HamiltonianMonteCarlo``, the paper's) or
        ``"nuts"`` (``tfp.mcmc.NoUTurnSampler``).
      num_leapfrog_steps: leapfrog steps per HMC step.
      max_tree_depth: NUTS's maximum tree depth (at most ``2^depth - 1``
        leapfrogs). 6 (TFP's default is 10): in a good flow's base space the
        target is near ``N(0, I)`` and short trajectories suffice; on the 10-D
        funnel (16 chains, 3 seeds) depth 10 let one chain of one seed run into
        the flow's light tails and stick (R-hat 19.7), depth 6 mixed on all
        three (R-hat <= 1.017).
      target_accept_prob: the acceptance probability dual averaging aims for.
      step_size: the initial step size.
      plain: run without the flow (see above).
      seed: an ``int`` or a stateless seed; the same seed gives the same draws.
      jit_compile: compile the sampler with XLA.

    Returns:
      A :class:`NeutraResult`.

    Raises:
      TypeError: for a surrogate that is not a transformed distribution, a target
        that is neither a distribution nor a callable, dtypes or structures of
        target and surrogate that differ, or a log-density of another dtype.
      ValueError: for a kernel name other than ``"nuts"``/``"hmc"``, a
        conditional flow without a context, a surrogate with a batch shape, or
        counts out of range.

    #### Examples

    A constrained, structured model: a positive ``scale`` and ``x | scale``. The
    surrogate maps a flow over ``R^3`` to ``{"scale", "x"}`` (``exp`` makes the
    scale positive); the draws come back in that structure and support.

    >>> import tensorflow as tf
    >>> from tensorflow_probability import bijectors as tfb
    >>> from tensorflow_probability import distributions as tfd
    >>> import tfp_flows as tff
    >>> model = tfd.JointDistributionNamedAutoBatched(dict(
    ...     scale=tfd.LogNormal(0.0, 1.0), x=lambda scale: tfd.Normal(tf.zeros(2), scale)))
    >>> to_model = tfb.Chain([
    ...     tfb.JointMap({"scale": tfb.Chain([tfb.Exp(), tfb.Reshape([], [1])]),
    ...                   "x": tfb.Identity()}),
    ...     tfb.Restructure({"scale": 0, "x": 1}), tfb.Split([1, 2])])
    >>> surrogate = tfd.TransformedDistribution(
    ...     tff.real_nvp(3, num_layers=2, hidden_units=(8,)), to_model)
    >>> result = neutra(model, surrogate, kernel="hmc", num_leapfrog_steps=4,
    ...                 num_results=50, num_burnin_steps=50, jit_compile=False)
    >>> result.draws["x"].shape, bool(tf.reduce_all(result.draws["scale"] > 0))
    (TensorShape([50, 4, 2]), True)
    >>> neutra(model, surrogate, kernel="mala")
    Traceback (most recent call last):
    ...
    ValueError: kernel must be one of 'nuts', 'hmc', got 'mala'.
    """
    kernel = _check_kernel(kernel)
    num_chains = check_integer("num_chains", num_chains, minimum=2)
    num_results = check_integer("num_results", num_results, minimum=4)
    num_burnin_steps = check_integer("num_burnin_steps", num_burnin_steps, minimum=0)
    if num_adaptation_steps is None:
        num_adaptation_steps = int(0.8 * num_burnin_steps)
    num_adaptation_steps = check_integer("num_adaptation_steps", num_adaptation_steps, minimum=0)
    if num_adaptation_steps > num_burnin_steps:
        raise ValueError(
            f"num_adaptation_steps ({num_adaptation_steps}) must not exceed "
            f"num_burnin_steps ({num_burnin_steps}): adaptation happens in burn-in."
        )
    num_leapfrog_steps = check_integer("num_leapfrog_steps", num_leapfrog_steps, minimum=1)
    max_tree_depth = check_integer("max_tree_depth", max_tree_depth, minimum=1)
    target_accept_prob = check_number(
        "target_accept_prob", target_accept_prob, "a number in (0, 1)", lambda v: 0 < v < 1
    )
    step_size = check_positive_float("step_size", step_size)
    seed = stateless_seed(seed)

    layers, base = _transport_layers(surrogate)
    for batch_shape in (surrogate.batch_shape, base.batch_shape):
        if any(tf.TensorShape(s).rank != 0 for s in tf.nest.flatten(batch_shape)):
            raise ValueError(
                f"neutra: the surrogate must be one distribution (batch shape []), got batch shape"
                f" {batch_shape}; condition a conditional flow on a single context of shape "
                f"[context_size]."
            )
    dtype = check_floating_dtype(base.dtype, "neutra (the surrogate's base distribution)")
    log_prob = _target_log_prob(target, surrogate)
    structure = surrogate.dtype

    def target_log_prob(*parts: tf.Tensor) -> tf.Tensor:
        value = log_prob(tf.nest.pack_sequence_as(structure, list(parts)))
        if tf.as_dtype(value.dtype) != dtype:
            raise TypeError(
                f"neutra: the target's log-density has dtype {tf.as_dtype(value.dtype).name}, "
                f"but the surrogate samples {dtype.name}; build both in one dtype."
            )
        return value

    # plain: drop the innermost bijector (the flow) and start from its output f_1(z_0).
    start_map = layers[-1] if plain else None
    bijector = _parts_bijector(structure, layers[:-1] if plain else layers)
    if kernel == "hmc":
        sampler = tfp.mcmc.HamiltonianMonteCarlo(
            target_log_prob,
            step_size=tf.constant(step_size, dtype),
            num_leapfrog_steps=num_leapfrog_steps,
        )
    else:
        sampler = tfp.mcmc.NoUTurnSampler(
            target_log_prob, step_size=tf.constant(step_size, dtype), max_tree_depth=max_tree_depth
        )
    adaptive = tfp.mcmc.DualAveragingStepSizeAdaptation(
        sampler,
        num_adaptation_steps=num_adaptation_steps,
        target_accept_prob=tf.constant(target_accept_prob, dtype),
    )
    transformed = tfp.mcmc.TransformedTransitionKernel(adaptive, bijector)

    def trace(_, results):
        return _trace(results, kernel)

    @tf.function(jit_compile=jit_compile, autograph=False)
    def run(seed):
        init_seed, chain_seed = tfp.random.split_seed(seed, n=2)
        z = base.sample(num_chains, seed=init_seed)
        inner = [z if start_map is None else start_map.forward(z)]
        return tfp.mcmc.sample_chain(
            num_results,
            current_state=bijector.forward(inner),
            kernel=transformed,
            previous_kernel_results=transformed.bootstrap_results(transformed_init_state=inner),
            num_burnin_steps=num_burnin_steps,
            trace_fn=trace,
            seed=chain_seed,
        )

    # A fresh function per call (its kernel is a closure); TF's warning about functions traced
    # again and again does not apply, as Keras does for its own train functions.
    run._omit_frequent_tracing_warning = True
    started = time.perf_counter()
    parts, traced = run(seed)
    parts = [part.numpy() for part in parts]
    traced = {name: value.numpy() for name, value in traced.items()}
    wall_time = time.perf_counter() - started

    draws = tf.nest.pack_sequence_as(structure, [tf.constant(part) for part in parts])
    diagnostics = chain_diagnostics(tf.nest.pack_sequence_as(structure, parts))
    if kernel == "hmc":
        gradients = num_chains * num_results * num_leapfrog_steps
    else:
        gradients = int(np.sum(traced["leapfrogs"], dtype=np.int64))
    accept = np.exp(np.minimum(np.nan_to_num(traced["log_accept_ratio"], nan=-np.inf), 0.0))
    return NeutraResult(
        draws=draws,
        r_hat=diagnostics.r_hat,
        ess=diagnostics.ess,
        ess_per_gradient=tf.nest.map_structure(lambda e: e / gradients, diagnostics.ess),
        num_gradient_evaluations=gradients,
        acceptance_rate=float(np.mean(accept)),
        step_size=float(traced["step_size"][-1]),
        wall_time=wall_time,
        kernel=kernel,
        plain=bool(plain),
    )
