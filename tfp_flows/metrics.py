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

from tfp_flows.evaluation import batched_log_prob

__all__ = ["Estimate", "conditional_kl_gap", "kl_gap", "nll"]


class Estimate(NamedTuple):
    """A Monte-Carlo estimate: ``mean`` with its standard error ``stderr``."""

    mean: float
    stderr: float

    def __str__(self) -> str:
        return f"{self.mean:.4f} ± {self.stderr:.4f}"


def nll(distribution: tfd.Distribution, x: Any, batch_size: int = 65536, *,
        context: Any = None) -> float:
    """Mean negative log-likelihood of the rows of ``x`` under ``distribution``, in nats.

    ``-(1/n) sum_i log q(x_i | c_i)`` with a ``context`` (``[n, context_size]``,
    or one row broadcast to all); see :func:`tfp_flows.evaluation.batched_log_prob`.

    #### Examples

    >>> import tensorflow_probability as tfp
    >>> round(nll(tfp.distributions.MultivariateNormalDiag([0.0, 0.0]), [[0.0, 0.0]]), 4)
    1.8379
    """
    return float(-np.mean(batched_log_prob(distribution, x, context=context,
                                           batch_size=batch_size)))


def kl_gap(
    distribution: tfd.Distribution,
    target: tfd.Distribution,
    n: int = 20_000,
    seed: int = 0,
    batch_size: int = 65536,
) -> Estimate:
    """``KL(target || distribution)`` on ``n`` fresh target samples, with its standard error."""
    x = target.sample(n, seed=seed)
    diff = (batched_log_prob(target, x, batch_size=batch_size)
            - batched_log_prob(distribution, x, batch_size=batch_size))
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
    (``tfp_flows.datasets.ConditionalBanana``, ``LinearGaussianSimulator``) and
    ``distribution`` any conditional model with ``log_prob(x, context=c)`` (a
    flow built with ``context_size``). ``context`` is one context vector, shape
    ``[context_size]``, broadcast against every sample; call it once per
    context to report a gap per context.

    #### Examples

    >>> import tfp_flows as tff
    >>> p = tff.datasets.ConditionalBanana()
    >>> flow = tff.real_nvp(2, num_layers=2, hidden_units=(8,), context_size=1)
    >>> gap = conditional_kl_gap(flow, p, context=[0.25], n=1000, seed=0)
    >>> gap.mean > 0.5     # an untrained flow is N(0, I), far from the banana
    True
    """
    if np.ndim(context) != 1:
        raise ValueError(f"context must be one context vector of shape [context_size], got "
                         f"shape {list(np.shape(context))}.")
    x = target.sample(n, seed=seed, context=context)
    model_dtype = getattr(distribution, "dtype", None) or x.dtype
    context = tf.constant(np.asarray(context), dtype=x.dtype)
    diff = (batched_log_prob(target, x, context=context, batch_size=batch_size)
            - batched_log_prob(distribution, tf.cast(x, model_dtype),
                               context=tf.cast(context, model_dtype), batch_size=batch_size))
    return Estimate(float(np.mean(diff)), float(np.std(diff) / np.sqrt(n)))
