"""Ground-truth 2-D target distributions for normalizing-flow experiments.

Every target is a `tfp.distributions.Distribution` with `event_shape == [2]`,
scalar batch shape, a `dtype` argument (`tf.float32` default, `tf.float64`
supported), a deterministic sampler and an (essentially) exact `log_prob`:

| name              | class            | `log_prob`                  | `entropy()`            |
|-------------------|------------------|-----------------------------|------------------------|
| `banana`          | `Banana`         | closed form                 | closed form            |
| `moons`           | `Moons`          | peak-adaptive quadrature    | grid quadrature        |
| `eight_gaussians` | `EightGaussians` | closed form (mixture)       | grid quadrature        |
| `checkerboard`    | `Checkerboard`   | closed form                 | closed form            |
| `two_spirals`     | `TwoSpirals`     | composite quadrature        | grid quadrature        |
| `rings`           | `Rings`          | closed form (Bessel `I_0`)  | grid quadrature        |
| `pinwheel`        | `Pinwheel`       | closed form (change of var) | grid quadrature        |

"Quadrature" log-densities are one-dimensional integrals over a curve
parameter evaluated with Gauss-Legendre rules whose error is far below
`1e-6` nats wherever the density is not astronomically small (see each class).
"Grid quadrature" entropies are `-sum p log p * h**2` over a fine uniform grid
evaluated once in float64 and cached; because the densities are smooth and
decay like Gaussians, the grid (trapezoidal) rule converges spectrally; the
values are stable to about `1e-7` nats under grid refinement.

Seeds: `sample(n, seed=s)` with a Python `int` `s` is treated as the stateless
seed `[s, 0]`, so the same integer always gives the same samples (stock TFP
distributions treat integer seeds as *stateful*).  A length-2 integer tensor is
used as a stateless seed directly and `seed=None` draws fresh randomness.

#### Examples

>>> from tfp_flows import datasets
>>> target = datasets.get_target("banana")
>>> target.sample(5, seed=0).shape
TensorShape([5, 2])
>>> sorted(datasets.TARGETS)  # doctest: +NORMALIZE_WHITESPACE
['banana', 'checkerboard', 'eight_gaussians', 'moons', 'pinwheel', 'rings',
 'two_spirals']
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions

__all__ = [
    "TARGETS",
    "Banana",
    "Checkerboard",
    "EightGaussians",
    "Moons",
    "Pinwheel",
    "Rings",
    "Target2D",
    "TwoSpirals",
    "get_target",
    "has_exact_log_prob",
    "make_moons",
]

_LOG_2PI = math.log(2.0 * math.pi)
# Numerical entropies, keyed by target class and parameters (dtype excluded).
_ENTROPY_CACHE: dict[tuple, float] = {}

# ---------------------------------------------------------------------------
# Numerical helpers (private).
# ---------------------------------------------------------------------------


def _stateless_seed(seed: Any) -> tf.Tensor:
    """Maps a user seed to an `int32[2]` stateless seed (`int s -> [s, 0]`)."""
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        seed = int(seed)
        if -(2**31) <= seed < 2**31:
            return tf.constant([seed, 0], dtype=tf.int32)
        low, high = seed % 2**31, (seed // 2**31) % 2**31
        return tf.constant([low, high], dtype=tf.int32)
    if tf.is_tensor(seed) and seed.shape.rank == 0:
        return tf.stack([tf.cast(seed, tf.int32), tf.constant(0, tf.int32)])
    return tfp.random.sanitize_seed(seed)


def _log_ndtr(z: tf.Tensor) -> tf.Tensor:
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
    log_lo = -0.5 * z_lo * z_lo - tf.math.log(-z_lo) - 0.5 * _LOG_2PI + tf.math.log(series)
    return tf.where(upper, log_hi, log_lo)


def _log_ndtr_diff(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    """`log(Phi(a) - Phi(b))` for `a > b`, using `Phi(a)-Phi(b) = Phi(-b)-Phi(-a)`."""
    flip = (a + b) > 0.0
    hi = tf.where(flip, -b, a)
    lo = tf.where(flip, -a, b)
    log_hi = _log_ndtr(hi)
    return log_hi + tfp.math.log1mexp(log_hi - _log_ndtr(lo))


def _gauss_legendre(num_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on `[0, 1]` (float64 numpy)."""
    nodes, weights = np.polynomial.legendre.leggauss(num_nodes)
    return (nodes + 1.0) / 2.0, weights / 2.0


def _check_event(x: tf.Tensor) -> None:
    if x.shape.rank is not None and x.shape.rank >= 1 and x.shape[-1] not in (None, 2):
        raise ValueError(f"Expected events of shape [..., 2], got shape {x.shape}.")


def _grid_entropy(
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
    unit_nodes, unit_weights = _gauss_legendre(num_nodes)
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


# ---------------------------------------------------------------------------
# Base class.
# ---------------------------------------------------------------------------


class Target2D(tfd.Distribution):
    """Base class of the 2-D toy targets: scalar batch, event shape `[2]`.

    Subclasses implement `_sample_stateless(n, seed)` (with an `int32[2]`
    stateless seed), `_log_prob_2d(x)` for `x` of shape `[..., 2]`, and either
    `_entropy` in closed form or `_numerical_entropy()` (a Python float computed
    once per parameter setting, in float64, and cached for all instances).
    Integer seeds are mapped to the stateless seed `[seed, 0]`, so sampling is
    reproducible.

    Class attributes: `log_prob_method` ("closed form" or "quadrature") and
    `entropy_method` ("closed form" or "grid quadrature").

    #### Examples

    >>> from tfp_flows.datasets import Banana, Target2D
    >>> isinstance(Banana(), Target2D)
    True
    >>> Banana().event_shape, Banana().batch_shape
    (TensorShape([2]), TensorShape([]))
    """

    log_prob_method: ClassVar[str] = "closed form"
    entropy_method: ClassVar[str] = "closed form"

    def __init__(self, *, dtype: Any, parameters: dict[str, Any], name: str) -> None:
        dtype = tf.as_dtype(dtype)
        if dtype not in (tf.float32, tf.float64):
            raise TypeError(f"dtype must be float32 or float64, got {dtype!r}.")
        super().__init__(
            dtype=dtype,
            reparameterization_type=tfd.NOT_REPARAMETERIZED,
            validate_args=False,
            allow_nan_stats=True,
            parameters=parameters,
            name=name,
        )

    @classmethod
    def _parameter_properties(cls, dtype, num_classes=None):
        return {}  # all parameters are fixed Python constants

    def _event_shape(self) -> tf.TensorShape:
        return tf.TensorShape([2])

    def _event_shape_tensor(self) -> tf.Tensor:
        return tf.constant([2], dtype=tf.int32)

    def _batch_shape(self) -> tf.TensorShape:
        return tf.TensorShape([])

    def _batch_shape_tensor(self) -> tf.Tensor:
        return tf.constant([], dtype=tf.int32)

    def _sample_n(self, n, seed=None):
        return self._sample_stateless(n, _stateless_seed(seed))

    def _sample_stateless(self, n: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        raise NotImplementedError(f"sampling is not implemented: {type(self).__name__}")

    def _log_prob(self, x):
        x = tf.convert_to_tensor(x, dtype=self.dtype)
        _check_event(x)
        return self._log_prob_2d(x)

    def _log_prob_2d(self, x: tf.Tensor) -> tf.Tensor:
        raise NotImplementedError(f"log_prob is not implemented: {type(self).__name__}")

    def _entropy(self):
        key = (type(self).__name__,) + tuple(
            (k, repr(v)) for k, v in sorted(self.parameters.items()) if k not in ("dtype", "name")
        )
        if key not in _ENTROPY_CACHE:
            with tf.init_scope():  # evaluate eagerly even inside tf.function
                _ENTROPY_CACHE[key] = float(self._numerical_entropy())
        return tf.constant(_ENTROPY_CACHE[key], dtype=self.dtype)

    def _numerical_entropy(self) -> float:
        raise NotImplementedError(f"entropy is not implemented: {type(self).__name__}")

    def _float64_twin(self) -> Target2D:
        return self if self.dtype == tf.float64 else self.copy(dtype=tf.float64)

    def _uniform(self, shape, seed) -> tf.Tensor:
        return tf.random.stateless_uniform(shape, seed=seed, dtype=self.dtype)

    def _normal(self, shape, seed) -> tf.Tensor:
        return tf.random.stateless_normal(shape, seed=seed, dtype=self.dtype)


# ---------------------------------------------------------------------------
# Targets.
# ---------------------------------------------------------------------------


class Banana(Target2D):
    """Banana-shaped density: a Gaussian bent by a quadratic shift.

    `x2 ~ N(0, std2^2)` and `x1 | x2 ~ N(curvature * x2^2, 1)`, i.e. the event
    is `(x1, x2)` with `x1` the curved coordinate.  Equivalently
    `x = T(z)`, `z ~ N(0, I)`, `T(z) = (z1 + curvature (std2 z2)^2, std2 z2)`,
    a map with constant Jacobian determinant `std2`.

        log p(x) = log N(x2; 0, std2^2) + log N(x1 - curvature x2^2; 0, 1)
        H = log(2 pi e) + log(std2)          (= 4.2242 nats for std2 = 4)

    #### Examples

    >>> target = Banana()
    >>> target.sample(5, seed=0).shape
    TensorShape([5, 2])
    >>> print(f"{float(target.entropy()):.4f}")
    4.2242
    >>> print(f"{float(target.log_prob([0.0, 0.0])):.4f}")
    -3.2242
    """

    def __init__(
        self,
        std2: float = 4.0,
        curvature: float = 0.25,
        dtype: Any = tf.float32,
        name: str = "Banana",
    ) -> None:
        parameters = dict(locals())
        if std2 <= 0:
            raise ValueError("std2 must be positive.")
        self._std2 = float(std2)
        self._curvature = float(curvature)
        super().__init__(dtype=dtype, parameters=parameters, name=name)

    @property
    def std2(self) -> float:
        """Standard deviation of the Gaussian coordinate `x2`."""
        return self._std2

    @property
    def curvature(self) -> float:
        """Coefficient `b` in `E[x1 | x2] = b * x2^2`."""
        return self._curvature

    def _sample_stateless(self, n, seed):
        z = self._normal([n, 2], seed)
        x2 = self._std2 * z[:, 1]
        return tf.stack([z[:, 0] + self._curvature * x2**2, x2], axis=-1)

    def _log_prob_2d(self, x):
        x1, x2 = x[..., 0], x[..., 1]
        u = x1 - self._curvature * x2**2
        return -0.5 * (u**2 + (x2 / self._std2) ** 2) - _LOG_2PI - math.log(self._std2)

    def _entropy(self):
        return tf.constant(1.0 + _LOG_2PI + math.log(self._std2), dtype=self.dtype)


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
        return _grid_entropy(
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


class EightGaussians(Target2D):
    """Equal-weight mixture of 8 isotropic Gaussians on a circle (FFJORD scale).

    `p(x) = (1/8) sum_k N(x; radius (cos(k pi/4), sin(k pi/4)), std^2 I)`.
    The defaults reproduce FFJORD's `8gaussians` toy: centres at distance 4 with
    std 0.5, everything divided by `1.414`; here `sqrt(2)` is used, giving
    `radius = 2 sqrt(2) ~ 2.828` and `std = sqrt(2)/4 ~ 0.354`.

    `log_prob` is exact (`tfd.MixtureSameFamily`); `entropy()` is the float64
    grid quadrature with spacing `std / 2` over `[-radius - 10 std,
    radius + 10 std]^2` (2.83158 nats for the defaults; `log 8 + log(2 pi e
    std^2) = 2.83788` would hold for non-overlapping components).

    #### Examples

    >>> target = EightGaussians()
    >>> target.sample(5, seed=0).shape
    TensorShape([5, 2])
    >>> target.mixture.components_distribution.batch_shape
    TensorShape([8])
    """

    entropy_method = "grid quadrature"

    def __init__(
        self,
        radius: float = 2.0 * math.sqrt(2.0),
        std: float = math.sqrt(2.0) / 4.0,
        dtype: Any = tf.float32,
        name: str = "EightGaussians",
    ) -> None:
        parameters = dict(locals())
        if std <= 0:
            raise ValueError("std must be positive.")
        self._radius = float(radius)
        self._std = float(std)
        super().__init__(dtype=dtype, parameters=parameters, name=name)
        angles = np.arange(8) * np.pi / 4.0
        centers = self._radius * np.stack([np.cos(angles), np.sin(angles)], axis=-1)
        self._mixture = tfd.MixtureSameFamily(
            mixture_distribution=tfd.Categorical(logits=tf.zeros([8], self.dtype)),
            components_distribution=tfd.MultivariateNormalDiag(
                loc=tf.constant(centers, self.dtype),
                scale_diag=tf.fill([8, 2], tf.constant(self._std, self.dtype)),
            ),
        )

    @property
    def mixture(self) -> tfd.MixtureSameFamily:
        """The underlying `tfd.MixtureSameFamily`."""
        return self._mixture

    def _sample_stateless(self, n, seed):
        return self._mixture.sample(n, seed=seed)

    def _log_prob_2d(self, x):
        return self._mixture.log_prob(x)

    def _numerical_entropy(self):
        b = self._radius + 10.0 * self._std
        return _grid_entropy(self._float64_twin().log_prob, (-b, -b), (b, b), self._std / 2)


class Checkerboard(Target2D):
    """Uniform density on the dark squares of a 4 x 4 checkerboard (FFJORD).

    The board is `[-half_width, half_width)^2` cut into 4 x 4 squares of side
    `s = half_width / 2`; square `(i, j) = (floor(x1 / s), floor(x2 / s))` is
    dark when `i + j` is even.  The 8 dark squares have total area
    `2 half_width^2`, so

        log p(x) = -log(2 half_width^2) on dark squares, -inf elsewhere,
        H = log(2 half_width^2)          (= log 32 = 3.4657 for the default 4).

    The gradient of `log_prob` is zero (returned as zeros, not `None`).  With `half_width = 4` this is FFJORD's `checkerboard` toy.

    #### Examples

    >>> target = Checkerboard()
    >>> target.sample(5, seed=0).shape
    TensorShape([5, 2])
    >>> target.log_prob([[0.5, 0.5], [0.5, -0.5]]).numpy().tolist()
    [-3.465735912322998, -inf]
    """

    def __init__(
        self, half_width: float = 4.0, dtype: Any = tf.float32, name: str = "Checkerboard"
    ) -> None:
        parameters = dict(locals())
        if half_width <= 0:
            raise ValueError("half_width must be positive.")
        self._half_width = float(half_width)
        super().__init__(dtype=dtype, parameters=parameters, name=name)

    @property
    def half_width(self) -> float:
        """The board is `[-half_width, half_width)^2`."""
        return self._half_width

    def _sample_stateless(self, n, seed):
        cell_seed, pos_seed = tfp.random.split_seed(seed)
        k = tf.random.stateless_uniform([n], seed=cell_seed, minval=0, maxval=8, dtype=tf.int32)
        i = k % 4
        j = 2 * (k // 4) + i % 2  # i + j even
        cells = tf.cast(tf.stack([i, j], axis=-1), self.dtype)
        side = self._half_width / 2.0
        return (cells + self._uniform([n, 2], pos_seed)) * side - self._half_width

    def _log_prob_2d(self, x):
        side = self._half_width / 2.0
        inside = tf.reduce_all(
            tf.logical_and(x >= -self._half_width, x < self._half_width), axis=-1
        )
        cells = tf.floor(x / side)
        dark = tf.equal(tf.math.floormod(cells[..., 0] + cells[..., 1], 2.0), 0.0)
        log_density = tf.constant(-math.log(2.0 * self._half_width**2), self.dtype)
        # `0 * x` keeps log_prob connected to `x`: its gradient is zeros, not None.
        log_density = log_density + 0.0 * tf.reduce_sum(x, axis=-1)
        return tf.where(tf.logical_and(inside, dark), log_density, -np.inf)

    def _entropy(self):
        return tf.constant(math.log(2.0 * self._half_width**2), dtype=self.dtype)


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
        nodes, weights = _gauss_legendre(self._PANEL_NODES)
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
        log_k = _log_ndtr_diff(d / sigma, (d - width) / sigma) - math.log(width)
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
        return _grid_entropy(self._float64_twin().log_prob, (-b, -b), (b, b), self._noise / 2)


class Rings(Target2D):
    """Concentric noisy rings (FFJORD's `rings`), with an exact density.

    A ring `k` is chosen uniformly among `len(radii)`, an angle
    `a ~ Uniform[0, 2 pi)`, and `x = R_k (cos a, sin a) + noise * e`,
    `e ~ N(0, I)`.  Integrating the angle out gives the von Mises/Bessel form

        p(x) = (1/K) sum_k exp(-(r^2 + R_k^2) / (2 s^2)) I_0(r R_k / s^2) / (2 pi s^2)

    with `r = |x|`, `s = noise`, computed stably as
    `-(r - R_k)^2/(2 s^2) + log i0e(r R_k / s^2) - log(2 pi s^2)`.  Defaults are
    FFJORD's: radii `3 * (1, 0.75, 0.5, 0.25)` and noise 0.08.

    `entropy()` is the float64 grid quadrature with spacing `noise / 2` over
    `[-R_max - 10 noise, R_max + 10 noise]^2` (2.62318 nats for the defaults).

    #### Examples

    >>> target = Rings()
    >>> target.sample(5, seed=0).shape
    TensorShape([5, 2])
    >>> target.radii
    (3.0, 2.25, 1.5, 0.75)
    """

    entropy_method = "grid quadrature"

    def __init__(
        self,
        radii: Sequence[float] = (3.0, 2.25, 1.5, 0.75),
        noise: float = 0.08,
        dtype: Any = tf.float32,
        name: str = "Rings",
    ) -> None:
        parameters = dict(locals())
        radii = tuple(float(r) for r in radii)
        if not radii or min(radii) < 0:
            raise ValueError("radii must be a non-empty sequence of non-negative numbers.")
        if noise <= 0:
            raise ValueError("noise must be positive.")
        self._radii = radii
        self._noise = float(noise)
        super().__init__(dtype=dtype, parameters=parameters, name=name)

    @property
    def radii(self) -> tuple[float, ...]:
        """Ring radii."""
        return self._radii

    @property
    def noise(self) -> float:
        """Standard deviation of the isotropic Gaussian noise."""
        return self._noise

    def _sample_stateless(self, n, seed):
        ring_seed, angle_seed, noise_seed = tfp.random.split_seed(seed, n=3)
        k = tf.random.stateless_uniform(
            [n], seed=ring_seed, minval=0, maxval=len(self._radii), dtype=tf.int32
        )
        radius = tf.gather(tf.constant(self._radii, self.dtype), k)
        angle = 2.0 * math.pi * self._uniform([n], angle_seed)
        ring = radius[:, None] * tf.stack([tf.cos(angle), tf.sin(angle)], axis=-1)
        return ring + self._noise * self._normal([n, 2], noise_seed)

    def _log_prob_2d(self, x):
        s2 = self._noise**2
        # sqrt(max(., tiny)) keeps the gradient finite (and zero) at the origin.
        r = tf.sqrt(tf.maximum(tf.reduce_sum(x**2, axis=-1), 1e-30))[..., None]
        radii = tf.constant(self._radii, self.dtype)
        per_ring = -((r - radii) ** 2) / (2 * s2) + tf.math.log(
            tf.math.special.bessel_i0e(r * radii / s2)
        )
        return (
            tf.reduce_logsumexp(per_ring, axis=-1)
            - math.log(len(self._radii))
            - math.log(2.0 * math.pi * s2)
        )

    def _numerical_entropy(self):
        b = max(self._radii) + 10.0 * self._noise
        return _grid_entropy(self._float64_twin().log_prob, (-b, -b), (b, b), self._noise / 2)


class Pinwheel(Target2D):
    """Pinwheel: a Gaussian mixture swirled by a radius-dependent rotation.

    Arm `k ~ Uniform{0, ..., K-1}`, `f ~ N((1, 0), diag(radial_std^2,
    tangential_std^2))`, `g = Rot(-2 pi k / K) f` and

        x = scale * Rot(-rate * exp(|g|)) g,

    where `Rot(b)` is the counter-clockwise rotation by `b`.  Rotating every
    circle `|g| = const` rigidly is a volume-preserving bijection, so with the
    inverse `g = Rot(rate exp(|x|/scale)) x / scale`

        log p(x) = log p_mix(g) - 2 log(scale),
        H = H(p_mix) + 2 log(scale),

    with `p_mix` the `K`-component Gaussian mixture of `g`.  This is FFJORD's
    (and Johnson et al.'s) `pinwheel` with one change: they swirl by
    `rate * exp(f_1)` (the radial *coordinate*) instead of `rate * exp(|f|)`,
    which is not a bijection and has no closed-form density; the two differ by
    `|f| - f_1 ~ f_2^2 / 2 ~ 0.005`, visually indistinguishable.  Defaults are
    FFJORD's.  Far out the swirl angle `rate exp(|x|/scale)` loses its digits
    mod `2 pi` (beyond `|x| ~ 15 scale` in float32, `35 scale` in float64, where
    `log p < -1000`), so `log_prob` there is only a rough magnitude; past
    `|x| = 50 scale` the angle is frozen at `rate exp(50)`, which keeps
    `log_prob` and its gradient finite.

    `entropy()` uses the float64 grid quadrature of `H(p_mix)` in `g`-space
    (spacing `min(std) / 2`, box of half-width `|(1 + 10 radial_std,
    10 tangential_std)|`), plus `2 log(scale)` (2.32059 nats for the defaults;
    the same grid rule applied directly in `x`-space agrees to `1e-7`).

    #### Examples

    >>> target = Pinwheel()
    >>> target.sample(5, seed=0).shape
    TensorShape([5, 2])
    >>> target.log_prob([[2.0, 0.0], [0.0, 0.0]]).shape
    TensorShape([2])
    """

    entropy_method = "grid quadrature"
    _MAX_SWIRL_NORM = 50.0

    def __init__(
        self,
        num_arms: int = 5,
        radial_std: float = 0.3,
        tangential_std: float = 0.1,
        rate: float = 0.25,
        scale: float = 2.0,
        dtype: Any = tf.float32,
        name: str = "Pinwheel",
    ) -> None:
        parameters = dict(locals())
        if num_arms < 1:
            raise ValueError("num_arms must be positive.")
        if radial_std <= 0 or tangential_std <= 0 or scale <= 0:
            raise ValueError("radial_std, tangential_std and scale must be positive.")
        self._num_arms = int(num_arms)
        self._radial_std = float(radial_std)
        self._tangential_std = float(tangential_std)
        self._rate = float(rate)
        self._scale = float(scale)
        super().__init__(dtype=dtype, parameters=parameters, name=name)

    @property
    def num_arms(self) -> int:
        """Number of mixture components (arms)."""
        return self._num_arms

    @staticmethod
    def _rotate(v: tf.Tensor, angle: tf.Tensor) -> tf.Tensor:
        cos, sin = tf.cos(angle), tf.sin(angle)
        return tf.stack([v[..., 0] * cos - v[..., 1] * sin, v[..., 0] * sin + v[..., 1] * cos], -1)

    def _swirl_angle(self, norm: tf.Tensor) -> tf.Tensor:
        # Capped so that absurdly distant points get a finite log_prob (and
        # gradient) instead of NaN; see the class docstring.
        return self._rate * tf.exp(tf.minimum(norm, self._MAX_SWIRL_NORM))

    def _sample_stateless(self, n, seed):
        arm_seed, feature_seed = tfp.random.split_seed(seed)
        k = tf.random.stateless_uniform(
            [n], seed=arm_seed, minval=0, maxval=self._num_arms, dtype=tf.int32
        )
        z = self._normal([n, 2], feature_seed)
        f = tf.stack([1.0 + self._radial_std * z[:, 0], self._tangential_std * z[:, 1]], -1)
        g = self._rotate(f, -2.0 * math.pi * tf.cast(k, self.dtype) / self._num_arms)
        norm = tf.norm(g, axis=-1)
        return self._scale * self._rotate(g, -self._swirl_angle(norm))

    def _log_mixture(self, g: tf.Tensor) -> tf.Tensor:
        """`log p_mix(g)` for the (unswirled) Gaussian mixture."""
        phis = tf.constant(2.0 * np.pi * np.arange(self._num_arms) / self._num_arms, self.dtype)
        f = self._rotate(g[..., None, :], phis)  # [..., K, 2]: Rot(phi_k) g
        u = (f[..., 0] - 1.0) / self._radial_std
        v = f[..., 1] / self._tangential_std
        log_comp = (
            -0.5 * (u**2 + v**2) - _LOG_2PI - math.log(self._radial_std * self._tangential_std)
        )
        return tf.reduce_logsumexp(log_comp, axis=-1) - math.log(self._num_arms)

    def _log_prob_2d(self, x):
        y = x / self._scale
        # sqrt(max(., tiny)) keeps the gradient finite at the origin.
        norm = tf.sqrt(tf.maximum(tf.reduce_sum(y**2, axis=-1), 1e-30))
        g = self._rotate(y, self._swirl_angle(norm))
        return self._log_mixture(g) - 2.0 * math.log(self._scale)

    def _numerical_entropy(self):
        twin = self._float64_twin()
        b = math.hypot(1.0 + 10.0 * self._radial_std, 10.0 * self._tangential_std)
        h = min(self._radial_std, self._tangential_std) / 2.0
        mixture_entropy = _grid_entropy(twin._log_mixture, (-b, -b), (b, b), h)
        return mixture_entropy + 2.0 * math.log(self._scale)


# ---------------------------------------------------------------------------
# Registry.
# ---------------------------------------------------------------------------

TARGETS: dict[str, Callable[..., tfd.Distribution]] = {
    "banana": Banana,
    "moons": Moons,
    "eight_gaussians": EightGaussians,
    "checkerboard": Checkerboard,
    "two_spirals": TwoSpirals,
    "rings": Rings,
    "pinwheel": Pinwheel,
}
"""Lower-case target names mapped to their constructors."""


def _registry_key(name: str) -> str:
    key = str(name).strip().lower().replace("-", "_")
    if key not in TARGETS:
        raise ValueError(f"Unknown target {name!r}; valid names: {', '.join(sorted(TARGETS))}.")
    return key


def get_target(name: str, **kwargs: Any) -> tfd.Distribution:
    """Constructs the target registered under `name` in `TARGETS`.

    `name` is matched case-insensitively with `-` treated as `_`; keyword
    arguments go to the constructor (e.g. `noise=0.1`, `dtype=tf.float64`).
    Raises `ValueError`, listing the valid names, for an unknown name.

    #### Examples

    >>> get_target("moons", noise=0.1).noise
    0.1
    >>> get_target("nope")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: Unknown target 'nope'; valid names: banana, checkerboard, ...
    """
    return TARGETS[_registry_key(name)](**kwargs)


def has_exact_log_prob(target: tfd.Distribution | str) -> bool:
    """Whether `target.log_prob` is exact (closed form or converged quadrature).

    For `Target2D` instances or registry names: whether the class implements
    `_log_prob_2d`, which every target here does (`Moons` and `TwoSpirals` by
    one-dimensional quadrature accurate to far better than `1e-6` nats, see
    `log_prob_method`); a `Target2D` subclass without it raises
    `NotImplementedError` from `log_prob`.  For other distributions: whether the
    class implements a log-density at all (`_log_prob` or `_prob`, the hooks
    `tfd.Distribution.log_prob` dispatches to).  Unknown names raise
    `ValueError`.

    #### Examples

    >>> has_exact_log_prob("moons"), has_exact_log_prob(Banana())
    (True, True)
    >>> has_exact_log_prob(tfd.Normal(0.0, 1.0))
    True
    """
    target_cls = TARGETS[_registry_key(target)] if isinstance(target, str) else type(target)
    if isinstance(target_cls, type) and issubclass(target_cls, Target2D):
        return target_cls._log_prob_2d is not Target2D._log_prob_2d
    return hasattr(target_cls, "_log_prob") or hasattr(target_cls, "_prob")
