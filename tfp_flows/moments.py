"""Monte Carlo moments of a flow, with standard errors.

A flow's mean, standard deviation, covariance and entropy have no closed form
unless every layer is affine (then ``flow.mean()`` and ``flow.covariance()``
are exact, as TFP computes them). :func:`estimate_moments` estimates them from
``n`` samples drawn with ``experimental_sample_and_log_prob`` (one pass gives
both the sample and its log-density):

```none
mean      m = (1/n) sum_i x_i                   stderr(m) = s / sqrt(n)
stddev    s = sqrt((1/(n-1)) sum_i (x_i - m)^2) stderr(s) = sd((x - m)^2) / (2 s sqrt(n))
covariance  C = (1/(n-1)) sum_i (x_i - m)(x_i - m)^T   (over the flattened event)
entropy   H = -(1/n) sum_i log q(x_i)           stderr(H) = sd(log q(x)) / sqrt(n)
```

(the standard error of ``s`` is the delta method's.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf
from tensorflow_probability import distributions as tfd

from tfp_flows.checks import check_integer

__all__ = ["MomentEstimates", "estimate_moments"]


@dataclass(frozen=True)
class MomentEstimates:
    """Monte Carlo estimates of a distribution's moments and their standard errors."""

    mean: np.ndarray
    mean_stderr: np.ndarray
    stddev: np.ndarray
    stddev_stderr: np.ndarray
    covariance: np.ndarray
    entropy: np.ndarray
    entropy_stderr: np.ndarray
    num_samples: int


def estimate_moments(
    distribution: tfd.Distribution,
    num_samples: int = 100_000,
    *,
    seed: int = 0,
    batch_size: int = 10_000,
) -> MomentEstimates:
    """Estimates mean, stddev, covariance and entropy of ``distribution`` from samples.

    Args:
      distribution: any ``tfd.Distribution`` with ``experimental_sample_and_log_prob``.
      num_samples: number of samples ``n`` (at least 2).
      seed: integer seed; batch ``k`` is drawn with the stateless seed ``(seed, k)``.
      batch_size: samples drawn per call.

    Returns:
      :class:`MomentEstimates` in float64; ``mean``/``stddev`` have the shape
      ``batch_shape + event_shape``, ``covariance`` is over the flattened event.

    #### Examples

    >>> import tensorflow_probability as tfp
    >>> normal = tfp.distributions.MultivariateNormalDiag([1.0, -2.0], [2.0, 0.5])
    >>> moments = estimate_moments(normal, 40_000, seed=1)
    >>> bool(np.all(np.abs(moments.mean - [1.0, -2.0]) < 4 * moments.mean_stderr))
    True
    >>> bool(np.all(np.abs(moments.stddev - [2.0, 0.5]) < 4 * moments.stddev_stderr))
    True
    """
    num_samples = check_integer("num_samples", num_samples, minimum=2)
    batch_size = check_integer("batch_size", batch_size)
    samples, log_probs = [], []
    for k, start in enumerate(range(0, num_samples, batch_size)):
        count = min(batch_size, num_samples - start)
        x, log_prob = distribution.experimental_sample_and_log_prob(
            count, seed=tf.constant([seed, k], tf.int32))
        samples.append(np.asarray(x, np.float64))
        log_probs.append(np.asarray(log_prob, np.float64))
    x, log_prob = np.concatenate(samples), np.concatenate(log_probs)
    n = x.shape[0]
    event_shape = tuple(distribution.event_shape)
    mean = x.mean(axis=0)
    centred = x - mean
    variance = (centred ** 2).sum(axis=0) / (n - 1)
    stddev = np.sqrt(variance)
    flat = centred.reshape(x.shape[:x.ndim - len(event_shape)] + (-1,))
    covariance = np.einsum("n...i,n...j->...ij", flat, flat) / (n - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        stddev_stderr = (centred ** 2).std(axis=0, ddof=1) / (2.0 * stddev * np.sqrt(n))
    return MomentEstimates(
        mean=mean,
        mean_stderr=stddev / np.sqrt(n),
        stddev=stddev,
        stddev_stderr=stddev_stderr,
        covariance=covariance,
        entropy=-log_prob.mean(axis=0),
        entropy_stderr=log_prob.std(axis=0, ddof=1) / np.sqrt(n),
        num_samples=n,
    )
