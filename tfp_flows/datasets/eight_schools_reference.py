"""Reference posterior moments of Eight Schools from a long NUTS run, with Monte Carlo errors.

:func:`eight_schools_reference` samples the pinned model of
:func:`tfp_flows.datasets.eight_schools.eight_schools_model` with
``tfp.mcmc.NoUTurnSampler`` inside ``tfp.mcmc.TransformedTransitionKernel``
(the model's event-space bijector: NUTS moves in the unconstrained space,
``stddev = exp(u)``) inside ``tfp.mcmc.DualAveragingStepSizeAdaptation``,
several chains in one XLA-compiled ``tfp.mcmc.sample_chain``, and summarises
the draws of every part and of the centred school effects:

```none
mean_hat = average of the N = chains * draws draws x_n
sd_hat   = sqrt(average of (x_n - mean_hat)^2)
ESS[f]   = tfp.mcmc.effective_sample_size(f(x), cross_chain_dims=1,
                                          filter_beyond_positive_pairs=True)
se(mean_hat) = sd_hat / sqrt(ESS[x])
se(sd_hat)   = se(var_hat) / (2 sd_hat),   se(var_hat) = sd[(x - mean_hat)^2] / sqrt(ESS[(x - mean_hat)^2])
R-hat        = tfp.mcmc.potential_scale_reduction(x, split_chains=True)
```

The standard error of the standard deviation is the delta method applied to
the variance, itself the mean of the draws ``(x - mean_hat)^2`` with their own
effective sample size. Chains start from ``Uniform(-2, 2)`` in the
unconstrained space (Stan's default), overdispersed against the posterior of
the standardised parts, so R-hat can see a chain that has not mixed.

``python -m tfp_flows.datasets.eight_schools_reference [--draws N ...]``
prints the constants stored in :mod:`tfp_flows.datasets.eight_schools`.

#### Examples

>>> run = eight_schools_reference(num_chains=2, num_draws=20, num_burnin_steps=10, seed=1,
...                              jit_compile=False)  # tiny: tracing costs less than XLA
>>> sorted(run.mean)
['avg_effect', 'school_effects', 'school_effects_standard', 'stddev']
>>> run.stddev_standard_error["school_effects"].shape
(8,)
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_flows._internal.checks import check_floating_dtype, check_integer, check_number
from tfp_flows._internal.seeds import stateless_seed
from tfp_flows.datasets.eight_schools import (
    PARTS,
    centred_school_effects,
    eight_schools_model,
)

__all__ = ["ReferenceRun", "eight_schools_reference", "main"]

tfb = tfp.bijectors


@dataclass(frozen=True)
class ReferenceRun:
    """Moments of a NUTS run and their Monte Carlo standard errors.

    Every moment attribute is a dict ``{name: np.ndarray (float64)}`` over the
    model's parts and ``"school_effects"`` (the centred effects).

    Attributes:
      mean, stddev: posterior mean and standard deviation estimated from all draws.
      mean_standard_error, stddev_standard_error: their Monte Carlo standard errors.
      r_hat: split potential scale reduction of each entry.
      effective_sample_size: cross-chain ESS of each entry.
      num_divergences: divergent transitions after burn-in, summed over chains.
      mean_leapfrogs: leapfrog steps per draw, averaged over chains and draws.
      step_size: the adapted step size (one, shared by the chains).
      seconds: wall time of the sampling call, compilation included.
      settings: the arguments of the run.
    """

    mean: dict[str, np.ndarray]
    stddev: dict[str, np.ndarray]
    mean_standard_error: dict[str, np.ndarray]
    stddev_standard_error: dict[str, np.ndarray]
    r_hat: dict[str, np.ndarray]
    effective_sample_size: dict[str, np.ndarray]
    num_divergences: int
    mean_leapfrogs: float
    step_size: float
    seconds: float
    settings: dict = field(default_factory=dict)

    def max_relative_standard_error(self) -> float:
        """The largest standard error of any moment in units of that entry's posterior sd."""
        return float(
            max(
                np.max(
                    np.maximum(self.mean_standard_error[name], self.stddev_standard_error[name])
                    / self.stddev[name]
                )
                for name in self.mean
            )
        )

    def to_source(self) -> str:
        """The ``REFERENCE_MOMENTS`` and ``REFERENCE_RUN`` constants as Python source."""

        def number(value: float) -> str:
            return f"{float(value):.6g}"

        def entry(value: np.ndarray) -> str:
            value = np.asarray(value)
            if value.ndim == 0:
                return number(value)
            rows = [", ".join(map(number, value[i : i + 4])) for i in range(0, value.size, 4)]
            return "(\n            " + ",\n            ".join(rows) + ")"

        def literal(value: object) -> str:
            return (
                number(value)
                if isinstance(value, float)
                else (f'"{value}"' if isinstance(value, str) else repr(value))
            )

        lines = ["REFERENCE_MOMENTS = {"]
        for key in ("mean", "stddev", "mean_standard_error", "stddev_standard_error"):
            lines.append(f'    "{key}": {{')
            lines += [
                f'        "{name}": {entry(value)},' for name, value in getattr(self, key).items()
            ]
            lines.append("    },")
        lines.append("}")
        run = dict(
            self.settings,
            max_r_hat=max(float(np.max(v)) for v in self.r_hat.values()),
            min_effective_sample_size=min(
                float(np.min(v)) for v in self.effective_sample_size.values()
            ),
            max_relative_standard_error=self.max_relative_standard_error(),
            num_divergences=self.num_divergences,
            mean_leapfrogs=self.mean_leapfrogs,
            step_size=self.step_size,
            seconds=self.seconds,
        )
        lines.append("REFERENCE_RUN = {")
        lines += [f'    "{key}": {literal(value)},' for key, value in run.items()]
        lines.append("}")
        return "\n".join(lines)


@contextlib.contextmanager
def _tensorflow_warnings_silenced() -> Iterator[None]:
    """TFP's autocorrelation casts its (complex) FFT product to real; TF warns on every call."""
    logger = tf.get_logger()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _summarise(draws: np.ndarray) -> dict[str, np.ndarray]:
    """Moments, standard errors and diagnostics of ``draws`` shaped ``[draws, chains, ...]``."""

    def ess(values: np.ndarray) -> np.ndarray:
        with _tensorflow_warnings_silenced():
            return tfp.mcmc.effective_sample_size(
                tf.constant(values), cross_chain_dims=1, filter_beyond_positive_pairs=True
            ).numpy()

    flat = draws.reshape((-1,) + draws.shape[2:])
    mean = flat.mean(axis=0)
    squared = (draws - mean) ** 2
    variance = squared.reshape(flat.shape).mean(axis=0)
    stddev = np.sqrt(variance)
    ess_mean, ess_variance = ess(draws), ess(squared)
    variance_se = squared.reshape(flat.shape).std(axis=0) / np.sqrt(ess_variance)
    return dict(
        mean=mean,
        stddev=stddev,
        mean_standard_error=stddev / np.sqrt(ess_mean),
        stddev_standard_error=variance_se / (2 * stddev),
        r_hat=tfp.mcmc.potential_scale_reduction(
            tf.constant(draws), independent_chain_ndims=1, split_chains=True
        ).numpy(),
        effective_sample_size=ess_mean,
    )


def eight_schools_reference(
    num_chains: int = 8,
    num_draws: int = 100_000,
    num_burnin_steps: int = 5_000,
    target_accept_prob: float = 0.9,
    seed: int = 0,
    dtype: tf.DType = tf.float64,
    jit_compile: bool = True,
) -> ReferenceRun:
    """Run NUTS on Eight Schools and return the moments with their Monte Carlo errors.

    The first 80% of the ``num_burnin_steps`` adapt the step size (dual
    averaging, initial step 0.1); the rest let the adaptation settle before
    ``num_draws`` draws per chain are kept. See the module doc for the
    estimators.

    Args:
      num_chains: independent chains (at least 2, for R-hat).
      num_draws: draws kept per chain (at least 4, for split R-hat).
      num_burnin_steps: steps discarded per chain (at least 1).
      target_accept_prob: the acceptance probability the step size is adapted to.
      seed: an integer seed; the run is deterministic given it.
      dtype: ``tf.float64`` (default) or ``tf.float32``.
      jit_compile: compile the sampler with XLA.

    Returns:
      A :class:`ReferenceRun`.
    """
    num_chains = check_integer("num_chains", num_chains, minimum=2)
    num_draws = check_integer("num_draws", num_draws, minimum=4)
    num_burnin_steps = check_integer("num_burnin_steps", num_burnin_steps, minimum=1)
    target_accept_prob = check_number(
        "target_accept_prob", target_accept_prob, "a number in (0, 1)", lambda v: 0 < v < 1
    )
    dtype = check_floating_dtype(dtype, "eight_schools_reference")
    settings = dict(
        num_chains=num_chains,
        num_draws=num_draws,
        num_burnin_steps=num_burnin_steps,
        target_accept_prob=target_accept_prob,
        seed=seed,
        dtype=dtype.name,
        jit_compile=jit_compile,
    )
    model = eight_schools_model(dtype)
    # TransformedTransitionKernel takes a list of state parts: the model's (dict) event-space
    # bijector between two restructurings, list -> dict -> constrained dict -> list.
    to_dict = tfb.Restructure({name: i for i, name in enumerate(PARTS)}, list(range(len(PARTS))))
    bijector = tfb.Chain(
        [tfb.Invert(to_dict), model.experimental_default_event_space_bijector(), to_dict]
    )

    def target_log_prob(*parts: tf.Tensor) -> tf.Tensor:
        return model.unnormalized_log_prob(dict(zip(PARTS, parts)))

    def sample(seed: tf.Tensor):
        init_seed, chain_seed = tfp.random.split_seed(seed)
        unconstrained = [
            tf.random.stateless_uniform(
                [num_chains] + model.event_shape[name].as_list(),
                seed=part_seed,
                minval=-2.0,
                maxval=2.0,
                dtype=dtype,
            )
            for name, part_seed in zip(PARTS, tfp.random.split_seed(init_seed, len(PARTS)))
        ]
        kernel = tfp.mcmc.DualAveragingStepSizeAdaptation(
            tfp.mcmc.TransformedTransitionKernel(
                tfp.mcmc.NoUTurnSampler(target_log_prob, step_size=tf.constant(0.1, dtype)),
                bijector,
            ),
            num_adaptation_steps=int(0.8 * num_burnin_steps),
            target_accept_prob=tf.constant(target_accept_prob, dtype),
        )
        return tfp.mcmc.sample_chain(
            num_draws,
            bijector.forward(unconstrained),
            kernel=kernel,
            num_burnin_steps=num_burnin_steps,
            seed=chain_seed,
            trace_fn=lambda _, results: (
                results.inner_results.inner_results.leapfrogs_taken,
                results.inner_results.inner_results.has_divergence,
                results.new_step_size,
            ),
        )

    start = time.perf_counter()
    parts, (leapfrogs, divergences, step_size) = tf.function(sample, jit_compile=jit_compile)(
        stateless_seed(seed)
    )
    draws = {name: part.numpy().astype(np.float64) for name, part in zip(PARTS, parts)}
    seconds = time.perf_counter() - start
    draws["school_effects"] = centred_school_effects(draws).numpy()
    summaries = {name: _summarise(value) for name, value in draws.items()}
    by_statistic = {
        key: {name: summary[key] for name, summary in summaries.items()}
        for key in next(iter(summaries.values()))
    }
    return ReferenceRun(
        **by_statistic,
        num_divergences=int(np.sum(divergences)),
        mean_leapfrogs=float(np.mean(leapfrogs)),
        step_size=float(step_size[-1]),
        seconds=seconds,
        settings=settings,
    )


def main(argv: Sequence[str] | None = None) -> ReferenceRun:
    """Command line: run :func:`eight_schools_reference` and print the constants to paste."""
    parser = argparse.ArgumentParser(
        prog="python -m tfp_flows.datasets.eight_schools_reference",
        description="Reference posterior moments of Eight Schools from a long NUTS run.",
    )
    parser.add_argument("--chains", type=int, default=8)
    parser.add_argument("--draws", type=int, default=100_000)
    parser.add_argument("--burnin", type=int, default=5_000)
    parser.add_argument("--target-accept", type=float, default=0.9)
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args(argv)
    run = eight_schools_reference(
        num_chains=arguments.chains,
        num_draws=arguments.draws,
        num_burnin_steps=arguments.burnin,
        target_accept_prob=arguments.target_accept,
        seed=arguments.seed,
    )
    print(run.to_source())
    return run


if __name__ == "__main__":
    main()
