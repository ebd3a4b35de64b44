"""Parameter recovery: posterior z-scores and contraction (Schad, Betancourt & Vasishth 2021).

For simulations ``(theta_i, x_i)`` and posterior samples of each ``x_i``, per parameter ``j``:

```none
z_ij         = (mean_ij - theta_ij) / std_ij          how far the truth is from the posterior mean
contraction  = 1 - var_ij / var_prior_j                0: the data taught nothing, 1: certainty
```

Calibrated posteriors give ``z`` of mean 0 and standard deviation about 1; an
informative experiment gives contraction near 1.

#### References

[1] Daniel J. Schad, Michael Betancourt and Shravan Vasishth. Toward a principled
    Bayesian workflow in cognitive science. Psychological Methods 26(1), 2021.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Recovery", "recovery"]


@dataclass(frozen=True)
class Recovery:
    """Posterior means, standard deviations, z-scores and contractions, each ``[N, d]``."""

    mean: np.ndarray
    std: np.ndarray
    z_score: np.ndarray
    contraction: np.ndarray


def recovery(
    posterior: Any, theta: Any, x: Any, prior_variance: Any, num_samples: int = 1000, seed: int = 0
) -> Recovery:
    """Posterior z-scores and contractions of simulations ``(theta [N, d], x [N, ...])``.

    Args:
      posterior: anything with ``sample(n, x_obs, seed=...) -> [n, d]``.
      theta: the true parameters ``[N, d]``.
      x: their observations.
      prior_variance: the prior's variance per parameter ``[d]`` (or a scalar).
      num_samples: posterior samples per observation.
      seed: observation ``i`` is sampled with seed ``seed + i``.

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
    theta = np.asarray(theta, np.float64)
    if theta.ndim != 2 or len(theta) != len(x):
        raise ValueError(
            f"recovery: expected theta [N, d] and x with N rows, got theta of shape "
            f"{list(theta.shape)} and {len(x)} observations."
        )
    draws = [
        np.asarray(posterior.sample(num_samples, x[i], seed=seed + i), np.float64)
        for i in range(len(theta))
    ]
    mean = np.stack([d.mean(axis=0) for d in draws])
    std = np.stack([d.std(axis=0, ddof=1) for d in draws])
    prior_variance = np.broadcast_to(np.asarray(prior_variance, np.float64), theta.shape[1:])
    return Recovery(mean, std, (mean - theta) / std, 1.0 - std**2 / prior_variance)
