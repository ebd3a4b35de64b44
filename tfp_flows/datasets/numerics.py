"""Shared numerics of the targets: stable normal log-CDFs, Gauss-Legendre rules, grid entropy.

Everything here works in the dtype of its input (float32 or float64) unless
stated; the quadrature helpers return float64 numpy arrays or Python floats.

#### Examples

>>> import tensorflow as tf
>>> round(float(log_ndtr(tf.constant(-20.0, tf.float64))), 6)  # log Phi(-20)
-203.917155
>>> nodes, weights = gauss_legendre(3)
>>> round(float(weights.sum()), 12)
1.0
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

__all__ = ["LOG_2PI", "gauss_legendre", "grid_entropy", "log_ndtr", "log_ndtr_diff"]

LOG_2PI = math.log(2.0 * math.pi)
"""`log(2 pi)`."""


def log_ndtr(z: tf.Tensor) -> tf.Tensor:
    """`log Phi(z)` for the standard normal CDF `Phi`, stable in both tails.

    Uses the native `erfc` for `z > -10` and, below, the asymptotic series
    `log Phi(z) = -z^2/2 - log(-z) - log(2 pi)/2 + log(1 - 1/z^2 + 3/z^4 - ...)`
    truncated after the `z^-12` term (relative error < 2e-9 at `z = -10`).
    Several times faster than `tfp.math.logerfc`, which matters for `TwoSpirals`.
    """
    cut = -10.0
    upper = z > cut
    z_hi = tf.where(upper, z, tf.zeros_like(z))
    z_lo = tf.where(upper, tf.fill(tf.shape(z), tf.constant(cut, z.dtype)), z)
    log_hi = tf.math.log(0.5 * tf.math.erfc(-z_hi / math.sqrt(2.0)))
    inv = 1.0 / (z_lo * z_lo)
    series = 1.0 + inv * (
        -1.0 + inv * (3.0 + inv * (-15.0 + inv * (105.0 + inv * (-945.0 + inv * 10395.0))))
    )
    log_lo = -0.5 * z_lo * z_lo - tf.math.log(-z_lo) - 0.5 * LOG_2PI + tf.math.log(series)
    return tf.where(upper, log_hi, log_lo)


def log_ndtr_diff(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    """`log(Phi(a) - Phi(b))` for `a > b`, using `Phi(a)-Phi(b) = Phi(-b)-Phi(-a)`."""
    flip = (a + b) > 0.0
    hi = tf.where(flip, -b, a)
    lo = tf.where(flip, -a, b)
    log_hi = log_ndtr(hi)
    return log_hi + tfp.math.log1mexp(log_hi - log_ndtr(lo))


def gauss_legendre(num_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on `[0, 1]` (float64 numpy)."""
    nodes, weights = np.polynomial.legendre.leggauss(num_nodes)
    return (nodes + 1.0) / 2.0, weights / 2.0


def grid_entropy(
    log_prob_fn: Callable[[tf.Tensor], tf.Tensor],
    lower: Sequence[float],
    upper: Sequence[float],
    spacing: float,
    chunk: int = 8192,
) -> float:
    """`-sum_ij p(x_ij) log p(x_ij) h_1 h_2` over a midpoint grid of a box (float64).

    The box is cut into an even number of cells per axis with sides at most
    `spacing`; `log_prob_fn` is traced once and evaluated on equal-size chunks.
    """
    axes = []
    for lo, hi in zip(lower, upper, strict=True):
        n = 2 * int(math.ceil((hi - lo) / spacing / 2.0))
        h = (hi - lo) / n
        axes.append((lo + h * (np.arange(n) + 0.5), h))
    (xs, hx), (ys, hy) = axes
    grid = np.stack(np.meshgrid(xs, ys, indexing="ij"), axis=-1).reshape(-1, 2)
    num = grid.shape[0]
    chunk = min(chunk, num)
    grid = np.concatenate([grid, np.repeat(grid[-1:], (-num) % chunk, axis=0)])
    # A fresh wrapper per call: traced once for the equal-size chunks below.
    compiled = tf.function(lambda x: log_prob_fn(x), autograph=False)
    lp = np.concatenate(
        [
            compiled(tf.constant(grid[i : i + chunk], tf.float64)).numpy()
            for i in range(0, num, chunk)
        ]
    )[:num]
    p = np.exp(lp)
    keep = p > 0.0
    return -float(np.sum(p[keep] * lp[keep])) * hx * hy
