"""Parameter recovery: posterior z-scores and contraction (Schad, Betancourt & Vasishth 2021).

For simulations ``(theta_i, x_i)`` and posterior samples of each ``x_i``, per parameter ``j``:

```none
z_ij         = (mean_ij - theta_ij) / std_ij          how far the truth is from the posterior mean
contraction  = 1 - var_ij / var_prior_j                0: the data taught nothing, 1: certainty
```

Calibrated posteriors give ``z`` of mean 0 and standard deviation about 1; an
informative experiment gives contraction near 1. For the recovery plot
(:func:`tfp_flows.plotting.plot_recovery`) each posterior is also summarised by
its median and its central credible interval of level ``c``, the sample
quantiles ``(1 - c) / 2`` and ``(1 + c) / 2``.

:func:`recovery` draws the posterior samples itself (batched for a posterior
with ``sample_batch``); :func:`recovery_from_draws` summarises draws you have.

#### References

[1] Daniel J. Schad, Michael Betancourt and Shravan Vasishth. Toward a principled
    Bayesian workflow in cognitive science. Psychological Methods 26(1), 2021.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tfp_flows.diagnostics._draws import check_draws, check_finite, posterior_draws

__all__ = ["Recovery", "recovery", "recovery_from_draws"]


@dataclass(frozen=True)
class Recovery:
    """Per simulation ``i`` and parameter ``j`` (each ``[N, d]``): the posterior's summaries.

    Attributes:
      mean, std: the posterior mean and standard deviation (``ddof=1``).
      z_score: ``(mean - theta) / std``.
      contraction: ``1 - std**2 / prior_variance`` (``None`` without a prior variance).
      theta: the true parameters (``None`` if not recorded).
      median, lower, upper: the posterior median and the central credible
        interval of level ``level`` (``None`` if not recorded).
      level: that interval's level.
    """

    mean: np.ndarray
    std: np.ndarray
    z_score: np.ndarray
    contraction: np.ndarray | None
    theta: np.ndarray | None = None
    median: np.ndarray | None = None
    lower: np.ndarray | None = None
    upper: np.ndarray | None = None
    level: float | None = None


def _check_level(level: float, owner: str) -> float:
    level = float(level)
    if not 0.0 < level < 1.0:
        raise ValueError(f"{owner}: expected level in (0, 1), got {level}.")
    return level


def _summaries(draws: np.ndarray, level: float) -> tuple[np.ndarray, ...]:
    """``draws [b, n, d]`` -> mean, std, median, lower, upper, each ``[b, d]``."""
    quantiles = np.quantile(draws, [0.5, (1 - level) / 2, (1 + level) / 2], axis=1)
    return (draws.mean(axis=1), draws.std(axis=1, ddof=1), *quantiles)


def _recovery(
    theta: np.ndarray, summaries: list[np.ndarray], prior_variance: Any, level: float, owner: str
) -> Recovery:
    mean, std, median, lower, upper = summaries
    contraction = None
    if prior_variance is not None:
        variance = np.asarray(prior_variance, np.float64)
        try:
            variance = np.broadcast_to(variance, theta.shape[1:])
        except ValueError:
            raise ValueError(
                f"{owner}: expected prior_variance a scalar or of shape [{theta.shape[1]}], got "
                f"shape {list(variance.shape)}."
            ) from None
        if not np.all(np.isfinite(variance) & (variance > 0)):
            raise ValueError(
                f"{owner}: expected prior_variance positive and finite (the prior's variance "
                f"per parameter), got {variance.tolist()}."
            )
        contraction = 1.0 - std**2 / variance
    return Recovery(
        mean, std, (mean - theta) / std, contraction, theta, median, lower, upper, level
    )


def recovery_from_draws(
    theta: Any, draws: Any, prior_variance: Any = None, level: float = 0.9
) -> Recovery:
    """Summaries of posterior draws ``[N, n, d]`` of simulations with true parameters ``theta [N, d]``.

    Args:
      theta: the true parameters ``[N, d]``.
      draws: ``n >= 2`` posterior draws for each simulation, ``[N, n, d]`` (e.g.
        :meth:`~tfp_flows.inference.AmortizedPosterior.sample_batch`).
      prior_variance: the prior's variance per parameter ``[d]`` or a scalar
        (``None``: no contraction).
      level: the central credible interval's level.

    #### Examples

    >>> import numpy as np
    >>> draws = np.arange(1.0, 6.0).reshape(1, 5, 1)   # one simulation: draws 1, 2, 3, 4, 5
    >>> result = recovery_from_draws([[2.0]], draws, prior_variance=10.0, level=0.5)
    >>> result.median.item(), result.lower.item(), result.upper.item(), result.mean.item()
    (3.0, 2.0, 4.0, 3.0)
    >>> round(result.z_score.item(), 3), round(result.contraction.item(), 3)   # std = sqrt(2.5)
    (0.632, 0.75)
    """
    level = _check_level(level, "recovery_from_draws")
    theta = np.asarray(theta, np.float64)
    draws = np.asarray(draws, np.float64)
    if theta.ndim != 2:
        raise ValueError(
            f"recovery_from_draws: expected theta of shape [N, d], got shape {list(theta.shape)}."
        )
    if draws.ndim != 3 or draws.shape[0] != theta.shape[0] or draws.shape[2] != theta.shape[1]:
        raise ValueError(
            f"recovery_from_draws: expected draws of shape [{theta.shape[0]}, n, {theta.shape[1]}] "
            f"(simulations, draws, parameters), got shape {list(draws.shape)}."
        )
    if draws.shape[1] < 2:
        raise ValueError(
            f"recovery_from_draws: expected at least 2 draws per simulation, got {draws.shape[1]}."
        )
    check_finite(theta, "the true parameters theta", "row", "recovery_from_draws")
    check_finite(draws, "the posterior draws", "simulation", "recovery_from_draws")
    return _recovery(
        theta, list(_summaries(draws, level)), prior_variance, level, "recovery_from_draws"
    )


def recovery(
    posterior: Any,
    theta: Any,
    x: Any,
    prior_variance: Any,
    num_samples: int = 1000,
    seed: int = 0,
    level: float = 0.9,
    batch_size: int | None = None,
) -> Recovery:
    """Posterior z-scores and contractions of simulations ``(theta [N, d], x [N, ...])``.

    Args:
      posterior: anything with ``sample(n, x_obs, seed=...) -> [n, d]``; with
        ``sample_batch(n, x_obs [b, ...], seed=s) -> [b, n, d]`` too (an
        :class:`~tfp_flows.inference.AmortizedPosterior`), the samples are
        drawn ``batch_size`` observations per call.
      theta: the true parameters ``[N, d]``.
      x: their observations.
      prior_variance: the prior's variance per parameter ``[d]`` (or a scalar; ``None``: no
        contraction).
      num_samples: posterior samples per observation.
      seed: observation ``i`` is sampled with seed ``seed + i`` (batched or not:
        the result does not depend on ``batch_size``).
      level: the level of the central credible interval (``lower``, ``upper``).
      batch_size: observations per batched call (``None``: as many as keep a
        call under 100,000 draws); ignored by a posterior without ``sample_batch``.

    Returns:
      A :class:`Recovery`, with ``theta`` and the medians and intervals for
      :func:`~tfp_flows.plotting.plot_recovery`.

    #### Examples

    >>> import numpy as np
    >>> class Exact:   # theta ~ N(0, 1), x ~ N(theta, 1): posterior N(x / 2, 1 / 2)
    ...     def sample(self, n, x_obs, seed=0):
    ...         return np.asarray(x_obs) / 2 + np.sqrt(0.5) * np.random.default_rng(seed).normal(size=(n, 1))
    >>> rng = np.random.default_rng(0)
    >>> theta = rng.normal(size=(300, 1)); x = theta + rng.normal(size=(300, 1))
    >>> result = recovery(Exact(), theta, x, prior_variance=1.0)
    >>> round(float(result.contraction.mean()), 1), round(float(result.z_score.std()), 1)
    (0.5, 1.0)
    """
    level = _check_level(level, "recovery")
    theta = np.asarray(theta, np.float64)
    if theta.ndim != 2 or len(theta) != len(x):
        raise ValueError(
            f"recovery: expected theta [N, d] and x with N rows, got theta of shape "
            f"{list(theta.shape)} and {len(x)} observations."
        )
    if int(num_samples) < 2:
        raise ValueError(f"recovery: expected num_samples >= 2, got {num_samples}.")
    check_finite(theta, "the true parameters theta", "row", "recovery")
    parts: list[tuple[np.ndarray, ...]] = []
    for start, draws in posterior_draws(posterior, x, num_samples, seed, batch_size, "recovery"):
        check_draws(draws, len(draws), num_samples, theta.shape[1], "recovery")
        check_finite(draws, "the posterior draws", "observation", "recovery", start)
        parts.append(_summaries(np.asarray(draws, np.float64), level))
    summaries = [np.concatenate(column) for column in zip(*parts)]
    return _recovery(theta, summaries, prior_variance, level, "recovery")
