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

A structured distribution (a ``tfd.JointDistribution*``, or a flow surrogate
whose samples are a dict or a list of parts) gets the moments of each part, in
the structure of its samples (``moments.mean["scale"]``), and one entropy of
the joint.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf
from tensorflow_probability import distributions as tfd

from tfp_flows._internal.checks import check_integer
from tfp_flows._internal.seeds import stateless_seed

__all__ = ["MomentEstimates", "estimate_moments"]


@dataclass(frozen=True)
class MomentEstimates:
    """Monte Carlo estimates of a distribution's moments and their standard errors.

    ``mean`` to ``covariance`` are arrays, or, for a distribution with structured
    samples, the same structure (dict, list, tuple) of arrays, one per part;
    ``entropy`` is that of the whole distribution.
    """

    mean: np.ndarray | Any
    mean_stderr: np.ndarray | Any
    stddev: np.ndarray | Any
    stddev_stderr: np.ndarray | Any
    covariance: np.ndarray | Any
    entropy: np.ndarray
    entropy_stderr: np.ndarray
    num_samples: int


def estimate_moments(
    distribution: tfd.Distribution,
    num_samples: int = 100_000,
    *,
    seed: Any = 0,
    batch_size: int = 10_000,
) -> MomentEstimates:
    """Estimates mean, stddev, covariance and entropy of ``distribution`` from samples.

    Args:
      distribution: any ``tfd.Distribution`` with ``experimental_sample_and_log_prob``
        (also one with structured samples: a dict or list of parts).
      num_samples: number of samples ``n`` (at least 2).
      seed: an integer ``s`` (batch ``k`` is drawn with the stateless seed ``(s, k)``)
        or a stateless ``[2]`` seed (batch ``k``: the seed folded with ``k``); the
        same seed gives the same estimates.
      batch_size: samples drawn per call.

    Returns:
      :class:`MomentEstimates` in float64; ``mean``/``stddev`` have the shape
      ``batch_shape + event_shape``, ``covariance`` is over the flattened event;
      for structured samples, each of them is the samples' structure of such arrays.

    #### Examples

    >>> import tensorflow_probability as tfp
    >>> normal = tfp.distributions.MultivariateNormalDiag([1.0, -2.0], [2.0, 0.5])
    >>> moments = estimate_moments(normal, 40_000, seed=1)
    >>> bool(np.all(np.abs(moments.mean - [1.0, -2.0]) < 4 * moments.mean_stderr))
    True
    >>> bool(np.all(np.abs(moments.stddev - [2.0, 0.5]) < 4 * moments.stddev_stderr))
    True
    >>> joint = tfp.distributions.JointDistributionNamed(
    ...     {"a": tfp.distributions.Normal(3.0, 1.0), "b": tfp.distributions.Normal(-1.0, 2.0)})
    >>> sorted(estimate_moments(joint, 1000, seed=0).mean)
    ['a', 'b']
    """
    num_samples = check_integer("num_samples", num_samples, minimum=2)
    batch_size = check_integer("batch_size", batch_size)
    integer_seed = isinstance(seed, (int, np.integer)) and not isinstance(seed, (bool, np.bool_))
    base_seed = None if integer_seed else stateless_seed(seed)
    samples, log_probs = [], []
    for k, start in enumerate(range(0, num_samples, batch_size)):
        count = min(batch_size, num_samples - start)
        batch_seed = (
            tf.constant([int(seed), k], tf.int32)
            if integer_seed
            else tf.random.experimental.stateless_fold_in(base_seed, k)
        )
        x, log_prob = distribution.experimental_sample_and_log_prob(count, seed=batch_seed)
        samples.append([np.asarray(part, np.float64) for part in tf.nest.flatten(x)])
        log_probs.append(np.asarray(log_prob, np.float64))
        structure = x
    log_prob = np.concatenate(log_probs)
    n = log_prob.shape[0]
    event_shapes = distribution.event_shape
    flat_event_shapes = (
        tf.nest.flatten(event_shapes) if tf.nest.is_nested(structure) else [event_shapes]
    )
    parts = [
        _part_moments(
            np.concatenate([batch[i] for batch in samples]),
            tuple(tf.TensorShape(flat_event_shapes[i])),
        )
        for i in range(len(samples[0]))
    ]

    def field(name: str) -> Any:
        values = [part[name] for part in parts]
        if not tf.nest.is_nested(structure):
            return values[0]
        return tf.nest.pack_sequence_as(structure, values)

    return MomentEstimates(
        mean=field("mean"),
        mean_stderr=field("mean_stderr"),
        stddev=field("stddev"),
        stddev_stderr=field("stddev_stderr"),
        covariance=field("covariance"),
        entropy=-log_prob.mean(axis=0),
        entropy_stderr=log_prob.std(axis=0, ddof=1) / np.sqrt(n),
        num_samples=n,
    )


def _part_moments(x: np.ndarray, event_shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    """Mean, stddev (with standard errors) and covariance of samples ``x`` ``[n, ...]``."""
    n = x.shape[0]
    mean = x.mean(axis=0)
    centred = x - mean
    variance = (centred**2).sum(axis=0) / (n - 1)
    stddev = np.sqrt(variance)
    flat = centred.reshape(x.shape[: x.ndim - len(event_shape)] + (-1,))
    covariance = np.einsum("n...i,n...j->...ij", flat, flat) / (n - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        stddev_stderr = (centred**2).std(axis=0, ddof=1) / (2.0 * stddev * np.sqrt(n))
    return {
        "mean": mean,
        "mean_stderr": stddev / np.sqrt(n),
        "stddev": stddev,
        "stddev_stderr": stddev_stderr,
        "covariance": covariance,
    }
