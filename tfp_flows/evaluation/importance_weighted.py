"""The importance-weighted bound of a latent-variable model (IWAE), with its diagnostics.

```none
log w_j(x)  = log p(x | z_j) + log p(z_j) - log q(z_j | x),     z_j ~ q(. | x),  j = 1..k
IWAE_k(x)   = log (1/k) sum_j w_j(x)               E[IWAE_k] <= E[IWAE_{k+1}] <= log p(x)
ELBO(x)     ~ (1/k) sum_j log w_j(x)               E[ELBO] = E[IWAE_1] <= E[IWAE_k]
gap(x)      = IWAE_k(x) - ELBO(x)                  >= 0 (Jensen): the posterior's looseness, in nats
ESS(x)      = (sum_j w_j)^2 / sum_j w_j^2          in [1, k]: k when q(z | x) is the true posterior
bits/dim    = -IWAE_k / (D ln 2)
```

(Burda, Grosse & Salakhutdinov 2016.) The bound is averaged over the data points; its standard
error is the points' standard deviation over ``sqrt(n)`` (the spread of the data dominates the
Monte Carlo noise of ``k`` draws). The ``k`` draws are taken in chunks, so ``k = 1000`` needs the
memory of one chunk; the result depends only on ``seed``, ``k`` and the chunk and batch sizes.
For a :class:`~tfp_flows.VAE` with dequantised-pixel likelihood the bound is on ``log P(x)`` of
the discrete image, and its bits/dim compare with :func:`tfp_flows.metrics.bits_per_dim` of an
image flow.

#### References

[1]: Yuri Burda, Roger Grosse, Ruslan Salakhutdinov. Importance Weighted Autoencoders.
     ICLR 2016. https://arxiv.org/abs/1509.00519
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
import tensorflow as tf

from tfp_flows._internal.checks import check_integer
from tfp_flows._internal.seeds import stateless_seed
from tfp_flows.evaluation.metrics import Estimate

__all__ = ["ImportanceWeightedBound", "importance_weighted_bound"]


class ImportanceWeightedBound(NamedTuple):
    """What :func:`importance_weighted_bound` measures (means over the data points, ± s.e.).

    Attributes:
      nats: ``IWAE_k``, the bound on ``log p(x)`` in nats per point.
      bits_per_dim: ``-IWAE_k / (D ln 2)``.
      elbo: the ELBO estimate ``(1/k) sum_j log w_j`` in nats per point.
      gap: ``IWAE_k - ELBO`` in nats (>= 0; how much the posterior loses).
      ess: the effective sample size of the importance weights, out of ``k``.
      k: the number of draws per point.
      per_point: ``IWAE_k(x_i)`` for every point (nats): paired comparisons of two models.
    """

    nats: Estimate
    bits_per_dim: Estimate
    elbo: Estimate
    gap: Estimate
    ess: Estimate
    k: int
    per_point: np.ndarray

    def __str__(self) -> str:
        return (
            f"IWAE (k={self.k}): {self.nats} nats, {self.bits_per_dim} bits/dim; "
            f"ELBO {self.elbo}; gap {self.gap}; ESS {self.ess}"
        )


def _estimate(values: np.ndarray) -> Estimate:
    n = values.shape[0]
    stderr = float(np.std(values, ddof=1) / np.sqrt(n)) if n > 1 else math.nan
    return Estimate(float(np.mean(values)), stderr)


def importance_weighted_bound(
    model: Any,
    x: Any,
    k: int = 1000,
    seed: Any = 0,
    *,
    chunk_size: int = 100,
    batch_size: int = 100,
) -> ImportanceWeightedBound:
    """``IWAE_k``, the ELBO, their gap and the importance weights' ESS, over the points ``x``.

    Args:
      model: a latent-variable model with ``log_importance_weights(x, num_samples, seed)``
        returning ``[num_samples, n]`` log-weights and ``event_size`` (a
        :class:`~tfp_flows.VAE`).
      x: the points, ``[n, *event_shape]`` (checked by the model: integer pixels for a
        dequantised-pixel likelihood).
      k: draws per point (at least 1).
      seed: a stateless seed: the same seed gives the same numbers.
      chunk_size: draws per call (memory: ``chunk_size * batch_size`` decoder passes).
      batch_size: points per call.

    Returns:
      An :class:`ImportanceWeightedBound`; its ``stderr`` s are over the data points (NaN for
      one point).

    #### Examples

    >>> import numpy as np
    >>> import tfp_flows as tff
    >>> vae = tff.VAE(3, latent_size=2, hidden_units=(8,), seed=0)
    >>> x = np.random.default_rng(0).normal(size=(20, 3)).astype("float32")
    >>> bound = importance_weighted_bound(vae, x, k=64, seed=1, chunk_size=16)
    >>> bound.nats.mean >= bound.elbo.mean, 1.0 <= bound.ess.mean <= 64
    (True, True)
    >>> bound.nats == importance_weighted_bound(vae, x, k=64, seed=1, chunk_size=16).nats
    True
    """
    k = check_integer("k", k)
    chunk_size = check_integer("chunk_size", chunk_size)
    batch_size = check_integer("batch_size", batch_size)
    for method in ("log_importance_weights", "check_data"):
        if not callable(getattr(model, method, None)):
            raise TypeError(
                f"importance_weighted_bound needs a latent-variable model with a {method} method "
                f"(a tff.VAE), got {type(model).__name__}."
            )
    x = model.check_data(x)
    seed = stateless_seed(seed)
    n = x.shape[0]
    iwae, elbo, ess = [], [], []
    for index, start in enumerate(range(0, n, batch_size)):
        rows = x[start : start + batch_size]
        log_sum = np.full(rows.shape[0], -np.inf)  # log sum_j w_j
        log_sum_squares = np.full(rows.shape[0], -np.inf)  # log sum_j w_j^2
        weight_sum = np.zeros(rows.shape[0])  # sum_j log w_j
        batch_seed = tf.random.experimental.stateless_fold_in(seed, index)
        for chunk, first in enumerate(range(0, k, chunk_size)):
            draws = min(chunk_size, k - first)
            chunk_seed = tf.random.experimental.stateless_fold_in(batch_seed, chunk)
            log_w = np.asarray(
                model.log_importance_weights(rows, draws, seed=chunk_seed), np.float64
            )
            log_sum = np.logaddexp(log_sum, _logsumexp(log_w))
            log_sum_squares = np.logaddexp(log_sum_squares, _logsumexp(2.0 * log_w))
            weight_sum += log_w.sum(axis=0)
        iwae.append(log_sum - math.log(k))
        elbo.append(weight_sum / k)
        ess.append(np.exp(2.0 * log_sum - log_sum_squares))
    iwae, elbo, ess = np.concatenate(iwae), np.concatenate(elbo), np.concatenate(ess)
    if not np.all(np.isfinite(iwae)):
        raise FloatingPointError(
            f"importance_weighted_bound: {int(np.sum(~np.isfinite(iwae)))} of {n} points have a "
            "non-finite bound (a log-weight of NaN or inf); the model's densities overflow."
        )
    to_bits = -1.0 / (model.event_size * math.log(2.0))
    bound = _estimate(iwae)
    return ImportanceWeightedBound(
        nats=bound,
        bits_per_dim=Estimate(bound.mean * to_bits, bound.stderr * abs(to_bits)),
        elbo=_estimate(elbo),
        gap=_estimate(iwae - elbo),
        ess=_estimate(ess),
        k=k,
        per_point=iwae,
    )


def _logsumexp(values: np.ndarray) -> np.ndarray:
    """``log sum_j exp(values[j])`` over axis 0, stable (``-inf`` columns stay ``-inf``)."""
    top = np.max(values, axis=0)
    safe = np.where(np.isfinite(top), top, 0.0)
    return safe + np.log(np.sum(np.exp(values - safe), axis=0))
