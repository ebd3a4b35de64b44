"""Convergence and efficiency of Markov chains: R-hat and cross-chain effective sample size.

For draws ``x[t, c]`` of ``m`` chains (``c``) with ``n`` steps each (``t``), per
entry of the state (Gelman & Rubin 1992; Vehtari et al. 2021, without splitting chains):

```none
B = n / (m - 1) sum_c (mean_c - mean)^2          between-chain variance
W = 1 / m sum_c var_c                            within-chain variance (1/(n-1) normalised)
R-hat = sqrt(((n - 1) / n W + B / n) / W)        -> 1 as the chains mix; < 1.05 is the usual bar
ESS = n m / (1 + 2 sum_k rho_k)                  rho_k: autocorrelation at lag k, estimated
                                                 across chains (tfp's cross_chain_dims)
```

``tfp.mcmc.potential_scale_reduction`` and ``tfp.mcmc.effective_sample_size``
compute them; :func:`chain_diagnostics` applies both to every part of a
structured state (a dict, list or tuple of tensors ``[n, m, ...]``) and adds the
summaries a comparison needs (the worst R-hat, the smallest ESS).

#### Examples

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> mixed = chain_diagnostics({"x": rng.normal(size=[500, 4, 2])})  # 2,000 independent draws
>>> mixed.max_r_hat < 1.01, mixed.min_ess > 1000
(True, True)
>>> stuck = rng.normal(size=[500, 4]) + np.array([0.0, 0.0, 0.0, 3.0])  # one chain elsewhere
>>> chain_diagnostics(stuck).max_r_hat > 1.5
True

#### References

[1] Andrew Gelman and Donald B. Rubin. Inference from iterative simulation using
    multiple sequences. *Statistical Science*, 7(4):457-472, 1992.
[2] Aki Vehtari, Andrew Gelman, Daniel Simpson, Bob Carpenter and Paul-Christian
    Buerkner. Rank-normalization, folding, and localization: an improved R-hat for
    assessing convergence of MCMC. *Bayesian Analysis*, 16(2):667-718, 2021.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

__all__ = ["ChainDiagnostics", "chain_diagnostics"]


@dataclass(frozen=True)
class ChainDiagnostics:
    """R-hat and cross-chain ESS of every entry of every part of a state.

    Attributes:
      r_hat: per part (same structure as the draws), an array of the part's
        event shape: ``tfp.mcmc.potential_scale_reduction``.
      ess: the same structure: effective sample size pooled over the chains
        (``tfp.mcmc.effective_sample_size(..., cross_chain_dims=1)``).
    """

    r_hat: Any
    ess: Any

    @property
    def max_r_hat(self) -> float:
        """The worst (largest) R-hat over every entry of every part."""
        return float(max(np.max(r) for r in tf.nest.flatten(self.r_hat)))

    @property
    def min_ess(self) -> float:
        """The smallest ESS over every entry of every part."""
        return float(min(np.min(e) for e in tf.nest.flatten(self.ess)))


def chain_diagnostics(draws: Any) -> ChainDiagnostics:
    """R-hat and cross-chain ESS of draws ``[num_results, num_chains, ...]`` (any structure).

    Args:
      draws: a tensor or array, or a dict / list / tuple of them, each of shape
        ``[num_results, num_chains, *event_shape]`` with ``num_results >= 4``
        and ``num_chains >= 2``.

    Returns:
      A :class:`ChainDiagnostics` whose ``r_hat`` and ``ess`` have the structure of
      ``draws`` and the event shape of each part (NumPy ``float64`` arrays).

    Raises:
      ValueError: if a part has fewer than two axes, two chains or four draws.

    #### Examples

    >>> import numpy as np
    >>> draws = np.random.default_rng(1).normal(size=[200, 3, 5])
    >>> result = chain_diagnostics([draws])
    >>> result.r_hat[0].shape, result.ess[0].shape
    ((5,), (5,))
    >>> chain_diagnostics(np.zeros([10]))
    Traceback (most recent call last):
    ...
    ValueError: chain_diagnostics: expected draws of shape [num_results >= 4, num_chains >= 2, ...], got shape (10,).
    """
    parts = [np.asarray(part, np.float64) for part in tf.nest.flatten(draws)]
    for part in parts:
        if part.ndim < 2 or part.shape[0] < 4 or part.shape[1] < 2:
            raise ValueError(
                "chain_diagnostics: expected draws of shape [num_results >= 4, num_chains >= 2, "
                f"...], got shape {part.shape}."
            )
    r_hat = [
        tfp.mcmc.potential_scale_reduction(part, independent_chain_ndims=1).numpy()
        for part in parts
    ]
    logger = tf.get_logger()
    level = logger.level
    logger.setLevel("ERROR")  # TFP's FFT autocorrelation warns about its own complex -> real cast
    try:
        ess = [tfp.mcmc.effective_sample_size(part, cross_chain_dims=1).numpy() for part in parts]
    finally:
        logger.setLevel(level)
    return ChainDiagnostics(
        r_hat=tf.nest.pack_sequence_as(draws, r_hat), ess=tf.nest.pack_sequence_as(draws, ess)
    )
