"""Two moons: the continuous law (with a quadrature density) and scikit-learn's point set."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_flows.datasets.base import Target2D
from tfp_flows.datasets.numerics import gauss_legendre, grid_entropy

__all__ = ["Moons", "make_moons"]


def _log_arc_average(
    x: tf.Tensor,
    center: tuple[float, float],
    radius: float,
    start: float,
    span: float,
    noise: float,
    num_nodes: int = 32,
    tail: float = 40.0,
) -> tf.Tensor:
    """`log (1/span) int_start^{start+span} N(x; c + R (cos a, sin a), noise^2 I) da`.

    Peak-adaptive Gauss-Legendre rule (requires `span <= pi`).  With
    `x - c = r (cos theta, sin theta)` and `kappa = r R / noise^2`,
    `|x - c - R u(a)|^2 = (r - R)^2 + 2 r R (1 - cos(a - theta))`, so the
    integrand is `exp(-kappa (1 - cos(a - theta)))` up to a constant.  The arc is
    split at `theta` (or at its antipode) into two pieces on which the
    integrand is monotone; on each piece only the window where the exponent is
    within `tail` nats of the piece's maximum is integrated, with `num_nodes`
    Gauss-Legendre nodes.  The dropped tail is below `pi * kappa * exp(-tail)`
    relative.  The window limits depend on `x` only through `tf.stop_gradient`:
    the integrand is `exp(-tail)` of its peak there, so gradients stay exact to
    that precision.
    """
    if not 0.0 < span <= math.pi:
        raise ValueError("span must be in (0, pi].")
    dtype = x.dtype
    two_pi = 2.0 * math.pi
    unit_nodes, unit_weights = gauss_legendre(num_nodes)
    unit_nodes = tf.constant(unit_nodes, dtype)
    log_unit_weights = tf.constant(np.log(unit_weights), dtype)

    xs = tf.stop_gradient(x)
    dx = xs[..., 0] - center[0]
    dy = xs[..., 1] - center[1]
    r = tf.sqrt(dx * dx + dy * dy)
    theta = tf.math.atan2(dy, dx)
    phi0 = tf.math.floormod(theta - start, two_pi)  # peak, local coordinates
    phi1 = tf.math.floormod(phi0 + math.pi, two_pi)  # antipode (minimum)

    def dist(s: tf.Tensor | float) -> tf.Tensor:  # angular distance to the peak
        return tf.abs(tf.math.floormod(s - phi0 + math.pi, two_pi) - math.pi)

    zero = tf.zeros_like(phi0)
    half = zero + span / 2.0
    end = zero + span
    peak_inside = phi0 <= span
    trough_inside = tf.logical_and(tf.logical_not(peak_inside), phi1 <= span)
    left_closer = dist(zero) <= dist(end)

    def pick(if_peak, if_trough, if_left, if_right):
        """Selects per point by case: peak inside / trough inside / monotone."""
        monotone = tf.where(left_closer, if_left, if_right)
        return tf.where(peak_inside, if_peak, tf.where(trough_inside, if_trough, monotone))

    # Each piece is (its peak end e, direction from e into the piece, length):
    #   peak inside:   [0, phi0] from phi0 leftwards,  [phi0, span] from phi0 rightwards;
    #   trough inside: [0, phi1] from 0 rightwards,    [phi1, span] from span leftwards;
    #   monotone:      [0, span/2] and [span/2, span], both oriented away from the
    #                  endpoint closer to the peak.
    plus, minus = zero + 1.0, zero - 1.0
    pieces = [
        (
            pick(phi0, zero, zero, half),
            pick(minus, plus, plus, minus),
            pick(phi0, phi1, half, half),
        ),
        (
            pick(phi0, end, half, end),
            pick(plus, minus, plus, minus),
            pick(end - phi0, end - phi1, half, half),
        ),
    ]
    half_tail_over_kappa = tail * noise**2 / (2.0 * radius * r)  # inf at r == 0 is fine
    terms = []
    for peak_end, direction, length in pieces:
        d0 = dist(peak_end)
        sin2 = tf.minimum(tf.sin(d0 / 2.0) ** 2 + half_tail_over_kappa, 1.0)
        d_max = 2.0 * tf.asin(tf.sqrt(sin2))
        window = tf.maximum(tf.minimum(length, d_max - d0), 1e-30)
        angles = (
            start + peak_end[..., None] + (direction[..., None] * window[..., None] * unit_nodes)
        )
        px = center[0] + radius * tf.cos(angles)
        py = center[1] + radius * tf.sin(angles)
        log_w = log_unit_weights + tf.math.log(window)[..., None]
        sq = (x[..., 0:1] - px) ** 2 + (x[..., 1:2] - py) ** 2
        terms.append(log_w - sq / (2.0 * noise**2))
    log_integral = tf.reduce_logsumexp(tf.concat(terms, axis=-1), axis=-1)
    return log_integral - math.log(span) - math.log(2.0 * math.pi * noise**2)


class Moons(Target2D):
    """The two-moons law behind scikit-learn's `make_moons`, as a density.

    An angle `a ~ Uniform[0, pi]` and a fair coin pick a point on the upper arc
    `(cos a, sin a)` or on the lower arc `(1 - cos a, 1/2 - sin a)`; isotropic
    Gaussian noise of standard deviation `noise` is added:

        p(x) = 1/2 sum_{k=1,2} (1/pi) int_0^pi N(x; m_k(a), noise^2 I) da.

    `log_prob` evaluates each arc integral with a peak-adaptive Gauss-Legendre
    rule: writing `x - c = r (cos t, sin t)` relative to the arc's centre `c`,
    `|x - m(a)|^2 = (r - 1)^2 + 2 r (1 - cos(a - t))`; the arc is split at `t`
    (or its antipode) into two monotone pieces, and on each piece the window in
    which the integrand is within 40 nats of its maximum gets 32 nodes.  Against
    a brute-force composite rule with `1600 / noise` nodes per arc, in float64,
    the error is below `1e-11` nats on `[-3, 4] x [-3, 3.5]` for noise 0.02-0.3 (also
    thousands of nats out in the tails); float32 evaluation adds rounding of
    about `1e-4` nats.  Cost: 128 Gaussian evaluations per point.

    `entropy()` is the grid quadrature `-sum p log p h^2` with spacing
    `h = noise / 2` over the box that extends the arcs' bounding box by
    `10 noise`, evaluated once in float64 (0.28923 nats for noise 0.05 and
    1.00758 for noise 0.1; halving `h` and widening the box changes these by
    less than `1e-7`).

    #### Examples

    >>> target = Moons(noise=0.1)
    >>> target.sample([2, 3], seed=0).shape
    TensorShape([2, 3, 2])
    >>> target.log_prob([[0.0, 1.0], [1.0, -0.5]]).shape
    TensorShape([2])
    """

    log_prob_method = "quadrature"
    entropy_method = "grid quadrature"

    def __init__(self, noise: float = 0.05, dtype: Any = tf.float32, name: str = "Moons") -> None:
        parameters = dict(locals())
        if noise <= 0:
            raise ValueError("noise must be positive.")
        self._noise = float(noise)
        super().__init__(dtype=dtype, parameters=parameters, name=name)

    @property
    def noise(self) -> float:
        """Standard deviation of the isotropic Gaussian noise."""
        return self._noise

    def _sample_stateless(self, n, seed):
        angle_seed, coin_seed, noise_seed = tfp.random.split_seed(seed, n=3)
        angle = math.pi * self._uniform([n], angle_seed)
        upper = self._uniform([n], coin_seed) < 0.5
        cos, sin = tf.cos(angle), tf.sin(angle)
        mean = tf.where(
            upper[:, None],
            tf.stack([cos, sin], axis=-1),
            tf.stack([1.0 - cos, 0.5 - sin], axis=-1),
        )
        return mean + self._noise * self._normal([n, 2], noise_seed)

    def _log_prob_2d(self, x):
        upper = _log_arc_average(x, (0.0, 0.0), 1.0, 0.0, math.pi, self._noise)
        lower = _log_arc_average(x, (1.0, 0.5), 1.0, math.pi, math.pi, self._noise)
        return tf.reduce_logsumexp(tf.stack([upper, lower], axis=-1), axis=-1) - math.log(2.0)

    def _numerical_entropy(self):
        m = 10.0 * self._noise
        return grid_entropy(
            self._float64_twin().log_prob, (-1.0 - m, -0.5 - m), (2.0 + m, 1.0 + m), self._noise / 2
        )


def make_moons(n: int, noise: float | None = 0.05, seed: int = 0) -> np.ndarray:
    """Finite two-moons point set laid out exactly like scikit-learn's `make_moons`.

    `n_out = n // 2` points at angles `linspace(0, pi, n_out)` on the upper arc
    `(cos a, sin a)` and `n_in = n - n_out` on the lower arc
    `(1 - cos a, 1 - sin a - 0.5)`; the rows are shuffled and then
    `N(0, noise^2)` noise is added.  Randomness comes from
    `numpy.random.RandomState(seed)` in scikit-learn's order (permutation via
    `shuffle`, then `normal`), so the result is `make_moons(n, noise=noise,
    random_state=seed)[0]` rounded to float32 (scikit-learn is not imported).

    Returns a `float32` array of shape `[n, 2]`.  For the continuous law (and
    its density) see `Moons`.

    #### Examples

    >>> x = make_moons(100, noise=0.05, seed=0)
    >>> x.shape, x.dtype
    ((100, 2), dtype('float32'))
    >>> make_moons(4, noise=None)[:, 0].tolist().count(-1.0)
    1
    """
    n = int(n)
    if n < 0:
        raise ValueError("n must be non-negative.")
    n_out = n // 2
    n_in = n - n_out
    rng = np.random.RandomState(seed)
    outer = np.linspace(0.0, np.pi, n_out)
    inner = np.linspace(0.0, np.pi, n_in)
    x = np.vstack(
        [
            np.append(np.cos(outer), 1.0 - np.cos(inner)),
            np.append(np.sin(outer), 1.0 - np.sin(inner) - 0.5),
        ]
    ).T
    indices = np.arange(n)
    rng.shuffle(indices)
    x = x[indices]
    if noise is not None:
        x = x + rng.normal(scale=noise, size=x.shape)
    return x.astype(np.float32)
