"""How far a flow is from the truth, in nats.

```none
nll(q, x)          = -(1/n) sum_i log q(x_i)
kl_gap(q, p, n)    = KL(p || q) ~= (1/n) sum_i [log p(x_i) - log q(x_i)],   x_i ~ p
conditional_kl_gap(q, p, c, n)
                   = KL(p(.|c) || q(.|c)) ~= (1/n) sum_i [log p(x_i|c) - log q(x_i|c)],  x_i ~ p(.|c)
```

``kl_gap`` needs a target with an exact ``log_prob`` (``tfp_flows.datasets``);
it equals the model's test NLL minus the target's entropy, estimated on the same
fresh samples, and comes with its Monte-Carlo standard error.

#### Examples

>>> import tensorflow_probability as tfp
>>> p = tfp.distributions.MultivariateNormalDiag([0.0, 0.0])
>>> gap = kl_gap(p, p, n=1000, seed=0)
>>> float(gap.mean), float(gap.stderr)
(0.0, 0.0)
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import tensorflow as tf
from tensorflow_probability import distributions as tfd

__all__ = ["Estimate", "conditional_kl_gap", "kl_gap", "nll"]


class Estimate(NamedTuple):
    """A Monte-Carlo estimate: ``mean`` with its standard error ``stderr``."""

    mean: float
    stderr: float

    def __str__(self) -> str:
        return f"{self.mean:.4f} ± {self.stderr:.4f}"


def _log_prob(distribution: tfd.Distribution, x: Any, batch_size: int) -> np.ndarray:
    x = tf.convert_to_tensor(x, dtype=distribution.dtype)
    parts = [distribution.log_prob(x[i:i + batch_size]) for i in range(0, int(x.shape[0]), batch_size)]
    return np.concatenate([np.asarray(p, np.float64) for p in parts])


def nll(distribution: tfd.Distribution, x: Any, batch_size: int = 65536) -> float:
    """Mean negative log-likelihood of the rows of ``x`` under ``distribution``, in nats.

    #### Examples

    >>> import tensorflow_probability as tfp
    >>> round(nll(tfp.distributions.MultivariateNormalDiag([0.0, 0.0]), [[0.0, 0.0]]), 4)
    1.8379
    """
    return float(-np.mean(_log_prob(distribution, x, batch_size)))


def kl_gap(
    distribution: tfd.Distribution,
    target: tfd.Distribution,
    n: int = 20_000,
    seed: int = 0,
    batch_size: int = 65536,
) -> Estimate:
    """``KL(target || distribution)`` on ``n`` fresh target samples, with its standard error."""
    x = target.sample(n, seed=seed)
    diff = _log_prob(target, x, batch_size) - _log_prob(distribution, x, batch_size)
    return Estimate(float(np.mean(diff)), float(np.std(diff) / np.sqrt(n)))


def conditional_kl_gap(
    distribution: Any,
    target: Any,
    context: Any,
    n: int = 20_000,
    seed: int = 0,
    batch_size: int = 65536,
) -> Estimate:
    """``KL(p(.|c) || q(.|c))`` at one context ``c``, on ``n`` fresh samples of ``p(.|c)``.

    ``target`` is a conditional target with an exact density
    (``tfp_flows.datasets.ConditionalBanana``, ``LinearGaussianSimulator``):
    ``target.sample(n, seed=seed, context=c)`` and ``target.log_prob(x, context=c)``;
    ``distribution`` is a conditional model with ``log_prob(x, context=c)``
    (a flow built with ``context_size``).  ``context`` is ONE context vector,
    shape ``[context_size]``; it is repeated for every sample, so both
    ``log_prob`` calls see contexts of shape ``[batch, context_size]``.  Returns
    the mean of ``log p(x_i|c) - log q(x_i|c)`` (nats) with its Monte-Carlo
    standard error; to report a gap per context, call it once per context.

    #### Examples

    >>> from tfp_flows.datasets import ConditionalBanana
    >>> p = ConditionalBanana()
    >>> gap = conditional_kl_gap(p, p, context=[0.25], n=1000, seed=0)
    >>> float(gap.mean), float(gap.stderr)
    (0.0, 0.0)
    """
    dtype = tf.as_dtype(target.dtype)
    context = tf.convert_to_tensor(np.asarray(context, dtype.as_numpy_dtype))
    if context.shape.rank != 1:
        raise ValueError(
            f"context must be one context vector of shape [context_size], got shape {context.shape}."
        )
    x = tf.convert_to_tensor(target.sample(n, seed=seed, context=context))
    if x.shape.rank != 2 or x.shape[0] != n:
        raise ValueError(f"target.sample(n, context=c) must give shape [n, event], got {x.shape}.")
    model_dtype = tf.as_dtype(getattr(distribution, "dtype", None) or dtype)
    diffs = []
    for i in range(0, n, batch_size):
        xb = x[i:i + batch_size]
        cb = tf.broadcast_to(context, [int(xb.shape[0]), int(context.shape[0])])
        log_p = target.log_prob(xb, context=cb)
        log_q = distribution.log_prob(tf.cast(xb, model_dtype), context=tf.cast(cb, model_dtype))
        diffs.append(np.asarray(log_p, np.float64) - np.asarray(log_q, np.float64))
    diff = np.concatenate(diffs)
    return Estimate(float(np.mean(diff)), float(np.std(diff) / np.sqrt(n)))
