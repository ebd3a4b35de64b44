"""Simulation-based calibration: rank statistics and the ECDF test with simultaneous bands.

For ``N`` draws ``theta_i ~ p(theta)``, ``x_i ~ p(x | theta_i)`` and ``L``
posterior samples ``theta_i^(l) ~ q(theta | x_i)`` each, the rank of every
parameter ``j``

```none
r_ij = #{ l : theta_ij^(l) < theta_ij }     in {0, ..., L}
```

is uniform on ``{0, ..., L}`` when ``q`` is the true posterior (Talts et al.
2018). The test of Saeilynoja et al. (2022) looks at the empirical CDF of the
fractional ranks ``u = (r + 1) / (L + 1)`` at points ``z_k`` where, under
uniformity, ``N F_N(z_k) ~ Binomial(N, z_k)``. Its band is *simultaneous*:
the pointwise central intervals of level ``1 - gamma``, with ``gamma`` chosen
by simulating uniform ranks so that all points of an ECDF fall inside with
probability ``1 - alpha``. A parameter passes when its ECDF lies inside the
band at every point.

#### References

[1] Sean Talts, Michael Betancourt, Daniel Simpson, Aki Vehtari and Andrew Gelman.
    Validating Bayesian inference algorithms with simulation-based calibration.
    arXiv:1804.06788, 2018.
[2] Teemu Saeilynoja, Paul-Christian Buerkner and Aki Vehtari. Graphical test for
    discrete uniformity and its applications in goodness-of-fit evaluation and
    multiple sample comparison. Statistics and Computing 32(32), 2022.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from tfp_flows._internal.checks import check_integer
from tfp_flows.diagnostics._draws import check_draws as _check_draws
from tfp_flows.diagnostics._draws import check_finite, posterior_draws

__all__ = ["SBCResult", "ecdf_band_test", "expected_coverage", "sbc", "sbc_ranks"]


def sbc_ranks(
    posterior: Any,
    theta: Any,
    x: Any,
    num_posterior_samples: int = 99,
    seed: int = 0,
    batch_size: int | None = None,
) -> np.ndarray:
    """The ranks ``r_ij`` of the true parameters among posterior samples: ``[N, d]`` in ``{0..L}``.

    Args:
      posterior: anything with ``sample(n, x_obs, seed=...) -> [n, d]`` (an
        :class:`~tfp_flows.inference.AmortizedPosterior`). If it also has
        ``sample_batch(n, x_obs [b, ...], seed=s) -> [b, n, d]`` (drawing
        observation ``i`` of the batch with seed ``s + i``, as
        :meth:`~tfp_flows.inference.AmortizedPosterior.sample_batch` does),
        the samples are drawn ``batch_size`` observations per call.
      theta: the true parameters ``[N, d]`` (draws of the prior).
      x: their simulated observations ``[N, *x_shape]``.
      num_posterior_samples: ``L``, samples per observation.
      seed: observation ``i`` is sampled with seed ``seed + i`` (batched or not:
        the ranks do not depend on ``batch_size``).
      batch_size: observations per batched call (``None``: as many as keep a
        call under 100,000 draws); ignored by a posterior without ``sample_batch``.

    #### Examples

    >>> import numpy as np
    >>> class Exact:   # theta ~ N(0, 1), x ~ N(theta, 1): posterior N(x / 2, 1 / 2)
    ...     def sample(self, n, x_obs, seed=0):
    ...         return np.asarray(x_obs) / 2 + np.sqrt(0.5) * np.random.default_rng(seed).normal(size=(n, 1))
    >>> rng = np.random.default_rng(0)
    >>> theta = rng.normal(size=(1000, 1)); x = theta + rng.normal(size=(1000, 1))
    >>> ranks = sbc_ranks(Exact(), theta, x, 9)   # uniform on 0..9 for the exact posterior
    >>> ranks.shape, int(ranks.min()), int(ranks.max())
    ((1000, 1), 0, 9)
    >>> bool(np.all(np.abs(np.bincount(ranks[:, 0]) / 1000 - 0.1) < 0.03))
    True
    """
    num_posterior_samples = check_integer("sbc_ranks: num_posterior_samples", num_posterior_samples)
    theta = np.asarray(theta)
    if theta.ndim != 2 or len(theta) != len(x):
        raise ValueError(
            f"sbc_ranks: expected theta [N, d] and x with N rows, got theta of shape "
            f"{list(theta.shape)} and {len(x)} observations."
        )
    check_finite(theta, "the true parameters theta", "row", "sbc_ranks")
    ranks = np.empty(theta.shape, np.int64)
    draws_of = posterior_draws(posterior, x, num_posterior_samples, seed, batch_size, "sbc_ranks")
    for start, draws in draws_of:
        stop = start + len(draws)
        _check_draws(draws, len(draws), num_posterior_samples, theta.shape[1], "sbc_ranks")
        # a NaN draw compares False: it would silently lower the rank
        check_finite(draws, "the posterior draws", "observation", "sbc_ranks", start)
        ranks[start:stop] = np.sum(draws < theta[start:stop, None, :], axis=1)
    return ranks


def _check_alpha(alpha: float, owner: str) -> float:
    alpha = float(alpha)
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"{owner}: expected alpha in (0, 1) (0.05 for 95 % bands), got {alpha}.")
    return alpha


def _checked_ranks(ranks: Any, num_posterior_samples: int, owner: str) -> np.ndarray:
    """``ranks`` as integers ``[N, d]`` in ``{0, ..., L}``, or an error naming expected and got."""
    total = check_integer(f"{owner}: num_posterior_samples", num_posterior_samples) + 1
    ranks = np.asarray(ranks)
    if ranks.ndim == 1:
        ranks = ranks[:, None]
    if ranks.ndim != 2 or ranks.size == 0 or ranks.dtype.kind not in "iuf":
        raise ValueError(
            f"{owner}: expected ranks [N, d] in 0..{total - 1} with N, d >= 1, got "
            f"{ranks.dtype} of shape {list(ranks.shape)}."
        )
    if ranks.min() < 0 or ranks.max() >= total:
        raise ValueError(
            f"{owner}: expected ranks [N, d] in 0..{total - 1}, got shape "
            f"{list(ranks.shape)} with values in [{ranks.min()}, {ranks.max()}]."
        )
    if ranks.dtype.kind == "f" and not np.all(ranks == np.round(ranks)):
        raise ValueError(
            f"{owner}: expected integer ranks [N, d] in 0..{total - 1} (counts of posterior "
            f"samples below the truth), got fractional values such as "
            f"{ranks[ranks != np.round(ranks)][0]}."
        )
    return ranks.astype(np.int64)


def _binomial_cdf_table(n: int, probs: np.ndarray) -> np.ndarray:
    """``P(Binomial(n, p_k) <= c)`` for ``c = 0..n``: ``[K, n + 1]`` (in float64, via log-pmf)."""
    c = np.arange(n + 1)
    log_choose = np.array(
        [math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) for k in c]
    )
    p = np.clip(probs[:, None], 1e-300, 1 - 1e-16)
    log_pmf = log_choose[None] + c[None] * np.log(p) + (n - c)[None] * np.log1p(-p)
    return np.minimum(np.cumsum(np.exp(log_pmf), axis=1), 1.0)


def _min_tail(counts: np.ndarray, cdf: np.ndarray) -> np.ndarray:
    """Smallest two-sided pointwise tail probability over the points: ``counts [M, K]`` -> ``[M]``."""
    k = np.arange(cdf.shape[0])[None, :]
    below = cdf[k, counts]
    above = 1.0 - np.where(counts > 0, cdf[k, np.maximum(counts - 1, 0)], 0.0)
    return np.min(np.minimum(1.0, 2.0 * np.minimum(below, above)), axis=1)


@dataclass(frozen=True)
class SBCResult:
    """The ECDF test of SBC ranks, per parameter.

    Attributes:
      z: the evaluation points ``[K]``.
      ecdf_difference: ``F_N(z) - z`` per parameter, ``[d, K]``.
      lower, upper: the simultaneous band of ``F_N(z) - z``, ``[K]``.
      inside: per parameter, whether its ECDF difference lies inside the band everywhere.
      gamma: the pointwise level giving simultaneous coverage ``1 - alpha``.
    """

    z: np.ndarray
    ecdf_difference: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    inside: np.ndarray
    gamma: float

    @property
    def passed(self) -> bool:
        """Whether every parameter's ECDF lies inside the band."""
        return bool(np.all(self.inside))


def ecdf_band_test(
    ranks: Any,
    num_posterior_samples: int,
    alpha: float = 0.05,
    num_points: int = 100,
    simulations: int = 2000,
    seed: int = 0,
) -> SBCResult:
    """Tests ranks ``[N, d]`` in ``{0, ..., L}`` for uniformity with simultaneous ECDF bands.

    #### Examples

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> ecdf_band_test(rng.integers(0, 100, size=(500, 2)), 99).passed   # uniform ranks
    True
    >>> ecdf_band_test(rng.integers(20, 80, size=(500, 2)), 99).passed   # too narrow a posterior
    False
    """
    ranks = _checked_ranks(ranks, num_posterior_samples, "ecdf_band_test")
    alpha = _check_alpha(alpha, "ecdf_band_test")
    total = int(num_posterior_samples) + 1
    n = ranks.shape[0]
    # points on the rank grid: P(u <= j / (L + 1)) = j / (L + 1) exactly under uniformity
    grid = np.unique(np.round(np.linspace(0, total, min(num_points, total) + 1)[1:-1]).astype(int))
    z = grid / total
    cdf = _binomial_cdf_table(n, z)
    rng = np.random.default_rng(seed)
    null = rng.integers(0, total, size=(simulations, n))
    null_counts = np.stack([np.sum(null + 1 <= j, axis=1) for j in grid], axis=1)
    gamma = float(np.quantile(_min_tail(null_counts, cdf), alpha))
    counts = np.stack([np.sum(ranks + 1 <= j, axis=0) for j in grid], axis=1)  # [d, K]
    inside = _min_tail(counts, cdf) > gamma
    lower = np.argmax(cdf >= gamma / 2, axis=1) / n - z
    upper = np.argmax(cdf >= 1 - gamma / 2, axis=1) / n - z
    return SBCResult(z, counts / n - z, lower, upper, inside, gamma)


def sbc(
    posterior: Any,
    theta: Any,
    x: Any,
    num_posterior_samples: int = 99,
    alpha: float = 0.05,
    seed: int = 0,
    batch_size: int | None = None,
) -> tuple[np.ndarray, SBCResult]:
    """Ranks (:func:`sbc_ranks`) and their ECDF test (:func:`ecdf_band_test`) in one call.

    ``seed`` seeds both (observation ``i`` is sampled with ``seed + i``);
    ``batch_size`` is :func:`sbc_ranks`'s (observations per batched call).
    """
    _check_alpha(alpha, "sbc")  # before the sampling
    ranks = sbc_ranks(posterior, theta, x, num_posterior_samples, seed, batch_size)
    return ranks, ecdf_band_test(ranks, num_posterior_samples, alpha=alpha, seed=seed)


def expected_coverage(
    ranks: Any, num_posterior_samples: int, levels: Any = (0.5, 0.8, 0.9, 0.95)
) -> np.ndarray:
    """How often the central credible interval of each level holds the true parameter: ``[K, d]``.

    The true value lies in the central ``c`` interval of ``L`` posterior samples
    when its fractional rank ``u = (r + 1/2) / (L + 1)`` is within ``c / 2`` of
    ``1/2``; a calibrated posterior covers it with probability ``c`` (up to the
    rank grid), an overconfident one less often.

    #### Examples

    >>> import numpy as np
    >>> ranks = np.random.default_rng(0).integers(0, 100, size=(4000, 1))
    >>> np.round(expected_coverage(ranks, 99, levels=[0.5, 0.9])[:, 0], 2).tolist()
    [0.5, 0.9]
    """
    ranks = _checked_ranks(ranks, num_posterior_samples, "expected_coverage")
    u = (ranks + 0.5) / (int(num_posterior_samples) + 1)
    levels = np.asarray(levels, np.float64)
    if levels.ndim > 1 or not np.all((levels > 0) & (levels < 1)):
        raise ValueError(
            f"expected_coverage: expected levels in (0, 1) (e.g. 0.9, not 90), got "
            f"{levels.tolist()}."
        )
    levels = levels.reshape(-1)
    return np.stack([np.mean(np.abs(u - 0.5) <= level / 2, axis=0) for level in levels])
