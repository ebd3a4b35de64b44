"""How far a flow is from the truth, in nats.

```none
nll(q, x)          = -(1/n) sum_i log q(x_i)
kl_gap(q, p, n)    = KL(p || q) ~= (1/n) sum_i [log p(x_i) - log q(x_i)],   x_i ~ p
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

__all__ = ["Estimate", "kl_gap", "nll"]


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
