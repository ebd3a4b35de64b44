"""Two interleaved spirals (FFJORD) with a composite-quadrature density."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_flows.datasets.base import Target2D
from tfp_flows.datasets.numerics import gauss_legendre, grid_entropy, log_ndtr_diff

__all__ = ["TwoSpirals"]


class TwoSpirals(Target2D):
    """FFJORD's two interleaved spirals, with an exact quadrature density.

    With `t = 3 pi sqrt(U)` (density `2 t / (3 pi)^2` on `[0, 3 pi]`),
    `m(t) = (-t cos t, t sin t)`, `J ~ Uniform[0, jitter]^2`, a fair sign `s`
    and `e ~ N(0, I)`:

        x = s (m(t) + J) / 3 + noise * e.

    Per axis, `J_i/3 + noise e_i` has the density
    `k(z) = (3/jitter) [Phi(z/noise) - Phi((z - jitter/3)/noise)]`, so
    `p(x) = (q(x) + q(-x)) / 2` with
    `q(x) = int_0^{3 pi} (2 t/(3 pi)^2) prod_i k(x_i - m_i(t)/3) dt`, evaluated
    with a composite 32-point Gauss-Legendre rule whose panels have equal arc
    length `<= 10 noise` along `m(t)/3` (512 nodes per arm for `noise = 0.1`).
    Against a rule with 24 000+ nodes, in float64, the error is below `1e-12`
    nats wherever `log p > -50`, and below `1e-4` relative further out (e.g.
    `2e-5` nats at `log p = -1000`); float32 adds about `2e-5` nats of rounding.
    The sum over nodes is done in linear space with the native `erfc`; points
    with `log p` below -30 (float32) or -300 (float64) are recomputed in log
    space.  `jitter = 0` gives pure Gaussian noise.  Defaults are FFJORD's.

    `entropy()` is the float64 grid quadrature with spacing `noise / 2` over
    the box `|x_i| <= (3 pi + sqrt(2) jitter)/3 + 10 noise` (2.64545 nats for
    the defaults, stable to `2e-8` under a finer grid and wider box; it takes a
    few seconds, once per parameter setting).

    #### Examples

    >>> target = TwoSpirals()
    >>> target.sample(5, seed=0).shape
    TensorShape([5, 2])
    >>> target.log_prob([[1.0, 0.0]]).shape
    TensorShape([1])
    """

    log_prob_method = "quadrature"
    entropy_method = "grid quadrature"
    _T_MAX = 3.0 * math.pi
    _PANEL_NOISES = 10.0  # panel arc length, in units of `noise`
    _PANEL_NODES = 32
    _BLOCK = 256

    def __init__(
        self,
        noise: float = 0.1,
        jitter: float = 0.5,
        dtype: Any = tf.float32,
        name: str = "TwoSpirals",
    ) -> None:
        parameters = dict(locals())
        if noise <= 0:
            raise ValueError("noise must be positive.")
        if jitter < 0:
            raise ValueError("jitter must be non-negative.")
        self._noise = float(noise)
        self._jitter = float(jitter)
        super().__init__(dtype=dtype, parameters=parameters, name=name)
        t, log_w = self._quadrature_rule()
        centers = np.stack([-t * np.cos(t), t * np.sin(t)], axis=-1) / 3.0
        self._centers = tf.constant(centers, self.dtype)
        self._log_weights = tf.constant(log_w, self.dtype)

    @property
    def noise(self) -> float:
        """Standard deviation of the Gaussian noise."""
        return self._noise

    @property
    def jitter(self) -> float:
        """Side of the uniform jitter box (before the division by 3)."""
        return self._jitter

    @property
    def num_quadrature_nodes(self) -> int:
        """Number of quadrature nodes per arm used by `log_prob`."""
        return int(self._centers.shape[0])

    @staticmethod
    def _arc_length(t: np.ndarray) -> np.ndarray:
        """Arc length of `m` on `[0, t]`: `(t sqrt(1 + t^2) + asinh t) / 2`."""
        return 0.5 * (t * np.sqrt(1.0 + t * t) + np.arcsinh(t))

    def _quadrature_rule(self) -> tuple[np.ndarray, np.ndarray]:
        t_max = self._T_MAX
        total = self._arc_length(np.array(t_max))
        num_panels = int(math.ceil(total / 3.0 / (self._PANEL_NOISES * self._noise)))
        targets = np.linspace(0.0, total, num_panels + 1)
        lo, hi = np.zeros_like(targets), np.full_like(targets, t_max)
        for _ in range(80):  # bisection for the equal-arc-length panel edges
            mid = 0.5 * (lo + hi)
            above = self._arc_length(mid) > targets
            hi, lo = np.where(above, mid, hi), np.where(above, lo, mid)
        edges = 0.5 * (lo + hi)
        edges[0], edges[-1] = 0.0, t_max
        nodes, weights = gauss_legendre(self._PANEL_NODES)
        widths = np.diff(edges)
        t = (edges[:-1, None] + widths[:, None] * nodes).ravel()
        w = (widths[:, None] * weights).ravel() * 2.0 * t / t_max**2
        return t, np.log(w)

    def _sample_stateless(self, n, seed):
        t_seed, jitter_seed, sign_seed, noise_seed = tfp.random.split_seed(seed, n=4)
        t = self._T_MAX * tf.sqrt(self._uniform([n], t_seed))
        arm = tf.stack([-t * tf.cos(t), t * tf.sin(t)], axis=-1)
        arm = arm + self._jitter * self._uniform([n, 2], jitter_seed)
        sign = tf.where(self._uniform([n], sign_seed) < 0.5, 1.0, -1.0)
        sign = tf.cast(sign, self.dtype)
        return sign[:, None] * arm / 3.0 + self._noise * self._normal([n, 2], noise_seed)

    def _log_kernel(self, d):
        """`log k(d)`, the density of `J/3 + noise * e` at `d` (log space)."""
        sigma, width = self._noise, self._jitter / 3.0
        if width == 0.0:
            return -tf.reduce_sum(d**2, axis=-1) / (2 * sigma**2) - math.log(2 * math.pi * sigma**2)
        log_k = log_ndtr_diff(d / sigma, (d - width) / sigma) - math.log(width)
        return tf.reduce_sum(log_k, axis=-1)

    def _kernel(self, d):
        """`k(d)` in linear space via the native `erfc` (underflows far away)."""
        sigma, width = self._noise, self._jitter / 3.0
        a = d / sigma
        b = (d - width) / sigma
        flip = (a + b) > 0.0  # Phi(a) - Phi(b) = Phi(-b) - Phi(-a): stay in the left tail
        hi = tf.where(flip, -b, a) * -(0.5**0.5)
        lo = tf.where(flip, -a, b) * -(0.5**0.5)
        k = (0.5 / width) * (tf.math.erfc(hi) - tf.math.erfc(lo))
        return k[..., 0] * k[..., 1]

    def _blocks(self):
        num = self.num_quadrature_nodes
        for begin in range(0, num, self._BLOCK):
            yield self._centers[begin : begin + self._BLOCK], begin, begin + self._BLOCK

    def _log_arm(self, x):
        """`log q(x)` in log space, accumulated over node blocks (robust, slower)."""
        result = None
        for centers, begin, stop in self._blocks():
            log_w = self._log_weights[begin:stop]
            block = tf.reduce_logsumexp(log_w + self._log_kernel(x[..., None, :] - centers), -1)
            if result is None:
                result = block
            else:
                result = tf.reduce_logsumexp(tf.stack([result, block], axis=-1), axis=-1)
        return result

    def _arm(self, x):
        """`q(x)` in linear space, accumulated over node blocks (fast)."""
        weights = tf.exp(self._log_weights)
        total = tf.zeros(tf.shape(x)[:-1], self.dtype)
        for centers, begin, stop in self._blocks():
            kernel = self._kernel(x[..., None, :] - centers)
            total += tf.reduce_sum(weights[begin:stop] * kernel, axis=-1)
        return total

    def _log_prob_2d(self, x):
        if self._jitter == 0.0:
            both = tf.stack([self._log_arm(x), self._log_arm(-x)], axis=-1)
            return tf.reduce_logsumexp(both, axis=-1) - math.log(2.0)
        # Fast path in linear space; points whose density is tiny (where erfc
        # underflow could matter) are recomputed in log space.
        flat = tf.reshape(x, [-1, 2])
        tiny = np.finfo(self.dtype.as_numpy_dtype).tiny
        density = 0.5 * (self._arm(flat) + self._arm(-flat))
        fast = tf.math.log(tf.maximum(density, tiny))
        threshold = -30.0 if self.dtype == tf.float32 else -300.0
        redo = tf.where(fast < threshold)
        far = tf.gather_nd(flat, redo)
        both = tf.stack([self._log_arm(far), self._log_arm(-far)], axis=-1)
        slow = tf.reduce_logsumexp(both, axis=-1) - math.log(2.0)
        result = tf.tensor_scatter_nd_update(fast, redo, slow)
        return tf.reshape(result, tf.shape(x)[:-1])

    def _numerical_entropy(self):
        b = (self._T_MAX + math.sqrt(2.0) * self._jitter) / 3.0 + 10.0 * self._noise
        return grid_entropy(self._float64_twin().log_prob, (-b, -b), (b, b), self._noise / 2)
