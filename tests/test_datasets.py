"""Behavioural tests for `tfp_flows.datasets` (the 2-D ground-truth targets)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import doctest  # noqa: E402
import functools  # noqa: E402
import importlib  # noqa: E402
import math  # noqa: E402
import pkgutil  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_probability as tfp  # noqa: E402

from tfp_flows import datasets  # noqa: E402

NAMES = ["banana", "moons", "eight_gaussians", "checkerboard", "two_spirals", "rings", "pinwheel"]
# two_spirals' density is a quadrature over the arm (seconds per large batch): the tests that
# evaluate it on thousands of points run in the full suite only.
DENSITY_NAMES = [
    pytest.param(name, marks=[pytest.mark.slow] if name == "two_spirals" else []) for name in NAMES
]

# Per target: a box holding all but a negligible part of the mass, and a grid
# spacing fine enough for the midpoint rule on that density.
GRIDS = {
    "banana": ((-7.0, -26.0), (176.0, 26.0), (0.25, 0.5)),
    "moons": ((-1.6, -1.1), (2.6, 1.6), (0.02, 0.02)),
    "eight_gaussians": ((-5.0, -5.0), (5.0, 5.0), (0.1, 0.1)),
    "checkerboard": ((-5.0, -5.0), (5.0, 5.0), (0.1, 0.1)),
    "two_spirals": ((-4.6, -4.6), (4.6, 4.6), (0.1, 0.1)),
    "rings": ((-4.0, -4.0), (4.0, 4.0), (0.04, 0.04)),
    "pinwheel": ((-7.0, -7.0), (7.0, 7.0), (0.025, 0.025)),
}


def _np_logsumexp(a, axis=-1):
    m = np.max(a, axis=axis, keepdims=True)
    return np.squeeze(m + np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True)), axis)


def _composite_gauss_legendre(lo, hi, num_panels, order=8):
    u, w = np.polynomial.legendre.leggauss(order)
    edges = np.linspace(lo, hi, num_panels + 1)
    h = np.diff(edges)
    nodes = (edges[:-1, None] + (u + 1.0) / 2.0 * h[:, None]).ravel()
    weights = (w * h[:, None] / 2.0).ravel()
    return nodes, weights


def _midpoints(lo, hi, h):
    n = int(round((hi - lo) / h))
    return lo + h * (np.arange(n) + 0.5)


@functools.cache
def _grid_density(name):
    """Density of the float64 target on the midpoint grid of GRIDS[name]."""
    (x0, y0), (x1, y1), (hx, hy) = GRIDS[name]
    xs, ys = _midpoints(x0, x1, hx), _midpoints(y0, y1, hy)
    pts = np.stack(np.meshgrid(xs, ys, indexing="ij"), -1).reshape(-1, 2)
    target = datasets.get_target(name, dtype=tf.float64)
    lp = np.concatenate(
        [target.log_prob(pts[i : i + 20000]).numpy() for i in range(0, len(pts), 20000)]
    )
    return xs, ys, np.exp(lp).reshape(len(xs), len(ys))


@functools.cache
def _samples_and_log_prob(name, n=20000):
    target = datasets.get_target(name, dtype=tf.float64)
    x = target.sample(n, seed=1234)
    return x.numpy(), target.log_prob(x).numpy(), float(target.entropy())


# ----------------------------------------------------------------------------
# Generic properties of every target.
# ----------------------------------------------------------------------------


def test_registry_contents():
    assert sorted(datasets.TARGETS) == sorted(NAMES)
    for name in NAMES:
        target = datasets.get_target(name)
        assert isinstance(target, tfp.distributions.Distribution)
        assert isinstance(target, datasets.Target2D)
        assert target.event_shape == [2]
        assert target.batch_shape == []
        assert target.dtype == tf.float32
        assert datasets.has_exact_log_prob(target)
        assert datasets.has_exact_log_prob(name)


def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError) as info:
        datasets.get_target("swiss_roll")
    message = str(info.value)
    assert "swiss_roll" in message
    for name in NAMES:
        assert name in message


def test_get_target_forwards_kwargs_and_normalizes_name():
    assert datasets.get_target("Moons", noise=0.1).noise == 0.1
    assert isinstance(datasets.get_target("two-spirals"), datasets.TwoSpirals)
    assert datasets.get_target("rings", dtype=tf.float64).dtype == tf.float64


def test_has_exact_log_prob_on_other_distributions():
    assert datasets.has_exact_log_prob(tfp.distributions.Normal(0.0, 1.0))

    class NoDensity(tfp.distributions.Distribution):
        def __init__(self):
            super().__init__(
                dtype=tf.float32,
                reparameterization_type=tfp.distributions.NOT_REPARAMETERIZED,
                validate_args=False,
                allow_nan_stats=True,
            )

    assert not datasets.has_exact_log_prob(NoDensity())
    with pytest.raises(ValueError):
        datasets.has_exact_log_prob("swiss_roll")


@pytest.mark.parametrize("name", NAMES)
def test_sampling_shapes_dtypes_and_determinism(name):
    target = datasets.get_target(name)
    a = target.sample(64, seed=7)
    assert a.shape == [64, 2] and a.dtype == tf.float32
    np.testing.assert_array_equal(a.numpy(), target.sample(64, seed=7).numpy())
    # A fresh instance with the same seed gives the same draws, too.
    np.testing.assert_array_equal(a.numpy(), datasets.get_target(name).sample(64, seed=7).numpy())
    assert not np.array_equal(a.numpy(), target.sample(64, seed=8).numpy())
    assert target.sample([2, 3], seed=0).shape == [2, 3, 2]
    assert target.sample(seed=0).shape == [2]
    stateless = target.sample(5, seed=tf.constant([3, 4], tf.int32)).numpy()
    np.testing.assert_array_equal(stateless, target.sample(5, seed=[3, 4]).numpy())
    assert target.sample(5).shape == [5, 2]  # seed=None still works
    assert np.all(np.isfinite(a.numpy()))

    b = datasets.get_target(name, dtype=tf.float64).sample(64, seed=7)
    assert b.dtype == tf.float64


@pytest.mark.parametrize("name", DENSITY_NAMES)
def test_log_prob_batch_shapes_and_float64_agreement(name):
    t32 = datasets.get_target(name)
    t64 = datasets.get_target(name, dtype=tf.float64)
    x = t64.sample([4, 5], seed=3).numpy()
    lp64 = t64.log_prob(x)
    lp32 = t32.log_prob(x.astype(np.float32))
    assert lp64.shape == [4, 5] and lp64.dtype == tf.float64
    assert lp32.shape == [4, 5] and lp32.dtype == tf.float32
    assert t32.log_prob(x[0, 0]).shape == []
    assert np.all(np.isfinite(lp64.numpy()))
    np.testing.assert_allclose(lp32.numpy(), lp64.numpy(), rtol=1e-4, atol=1e-4)
    assert t32.entropy().dtype == tf.float32 and t64.entropy().dtype == tf.float64
    np.testing.assert_allclose(float(t32.entropy()), float(t64.entropy()), rtol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_log_prob_gradients_are_finite(name):
    target = datasets.get_target(name, dtype=tf.float64)
    x = tf.constant(np.concatenate([target.sample(32, seed=5).numpy(), [[0.0, 0.0], [1.0, 0.5]]]))
    with tf.GradientTape() as tape:
        tape.watch(x)
        lp = target.log_prob(x)
    grad = tape.gradient(lp, x)
    assert grad is not None
    finite = np.isfinite(lp.numpy())
    assert np.all(np.isfinite(grad.numpy()[finite]))
    if name != "checkerboard":  # compare with central finite differences
        eps = 1e-6
        fd = np.stack(
            [
                (target.log_prob(x + [eps, 0.0]) - target.log_prob(x - [eps, 0.0])) / (2 * eps),
                (target.log_prob(x + [0.0, eps]) - target.log_prob(x - [0.0, eps])) / (2 * eps),
            ],
            axis=-1,
        )
        np.testing.assert_allclose(grad.numpy(), fd, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
@pytest.mark.parametrize("name", NAMES)
def test_far_away_points_stay_finite(name, dtype):
    """Outliers (as a badly initialised flow may propose) give no NaN."""
    target = datasets.get_target(name, dtype=dtype)
    x = tf.constant([[1e6, 1e6], [-1e3, 5.0], [30.0, -20.0], [0.0, 0.0]], dtype)
    with tf.GradientTape() as tape:
        tape.watch(x)
        lp = target.log_prob(x)
    grad = tape.gradient(lp, x).numpy()
    lp = lp.numpy()
    assert not np.any(np.isnan(lp)) and np.all(lp < np.inf)
    assert np.all(lp[:2] < -1e5)
    assert np.all(np.isfinite(grad))


@pytest.mark.parametrize("name", DENSITY_NAMES)
def test_density_integrates_to_one(name):
    xs, ys, p = _grid_density(name)
    (_, _), (_, _), (hx, hy) = GRIDS[name]
    assert abs(p.sum() * hx * hy - 1.0) < 1e-3


@pytest.mark.parametrize("name", DENSITY_NAMES)
def test_samples_follow_the_density(name):
    """Chi-square test of coarse-bin sample counts against the integrated density."""
    xs, ys, p = _grid_density(name)
    (x0, y0), (x1, y1), (hx, hy) = GRIDS[name]
    bins = 10
    fx, fy = len(xs) // bins, len(ys) // bins
    cell = p[: fx * bins, : fy * bins] * hx * hy
    expected_frac = cell.reshape(bins, fx, bins, fy).sum(axis=(1, 3))
    xe = x0 + hx * fx * np.arange(bins + 1)
    ye = y0 + hy * fy * np.arange(bins + 1)
    samples, _, _ = _samples_and_log_prob(name)
    n = len(samples)
    observed, _, _ = np.histogram2d(samples[:, 0], samples[:, 1], bins=[xe, ye])
    expected = n * expected_frac.ravel()
    observed = observed.ravel()
    big = expected >= 20
    rest_e = max(n - expected[big].sum(), 0.0)
    rest_o = n - observed[big].sum()
    chi2 = np.sum((observed[big] - expected[big]) ** 2 / expected[big])
    if rest_e >= 20:
        chi2 += (rest_o - rest_e) ** 2 / rest_e
        dof = int(big.sum())
    else:
        assert rest_o <= rest_e + 5 * math.sqrt(rest_e) + 5
        dof = int(big.sum()) - 1
    assert dof >= 5
    assert chi2 < dof + 6 * math.sqrt(2 * dof), (chi2, dof)


@pytest.mark.parametrize("name", DENSITY_NAMES)
def test_monte_carlo_cross_entropy_matches_entropy(name):
    """-E[log p(X)] over samples of X ~ p must equal the entropy."""
    _, lp, entropy = _samples_and_log_prob(name)
    assert np.all(np.isfinite(lp))
    stderr = lp.std() / math.sqrt(len(lp))
    assert abs(-lp.mean() - entropy) <= 4 * stderr + 1e-9, (-lp.mean(), entropy, stderr)


def test_entropy_works_inside_tf_function():
    target = datasets.Rings(noise=0.1)
    value = tf.function(target.entropy)()
    assert np.isfinite(float(value))
    assert float(value) == float(target.entropy())


# ----------------------------------------------------------------------------
# Banana.
# ----------------------------------------------------------------------------


def test_banana_entropy_closed_form():
    assert abs(float(datasets.Banana(dtype=tf.float64).entropy()) - 4.2242) < 1e-4
    target = datasets.Banana(std2=2.5, curvature=1.0, dtype=tf.float64)
    expected = math.log(2 * math.pi * math.e) + math.log(2.5)
    assert abs(float(target.entropy()) - expected) < 1e-12


def test_banana_log_prob_formula_and_conditional_moments():
    target = datasets.Banana(dtype=tf.float64)
    rng = np.random.RandomState(0)
    x = rng.randn(50, 2) * [5.0, 4.0]
    expected = (
        -0.5 * (x[:, 0] - 0.25 * x[:, 1] ** 2) ** 2
        - 0.5 * (x[:, 1] / 4.0) ** 2
        - math.log(2 * math.pi * 4.0)
    )
    np.testing.assert_allclose(target.log_prob(x).numpy(), expected, rtol=1e-12)

    # From the density: marginal of x2 and conditional mean/variance of x1.
    x1 = np.arange(-10.0, 60.0, 0.05)
    for x2 in (-3.0, 0.0, 1.5, 6.0):
        pts = np.stack([x1, np.full_like(x1, x2)], -1)
        p = np.exp(target.log_prob(pts).numpy())
        marginal = p.sum() * 0.05
        mean = (x1 * p).sum() * 0.05 / marginal
        var = ((x1 - mean) ** 2 * p).sum() * 0.05 / marginal
        assert (
            abs(marginal - math.exp(-0.5 * (x2 / 4.0) ** 2) / (4.0 * math.sqrt(2 * math.pi))) < 1e-9
        )
        assert abs(mean - 0.25 * x2**2) < 1e-8
        assert abs(var - 1.0) < 1e-8

    # From samples: regress x1 on x2^2.
    s = target.sample(20000, seed=0).numpy()
    design = np.stack([np.ones(len(s)), s[:, 1] ** 2], -1)
    coef, *_ = np.linalg.lstsq(design, s[:, 0], rcond=None)
    resid = s[:, 0] - design @ coef
    assert abs(coef[1] - 0.25) < 0.005 and abs(coef[0]) < 0.05
    assert abs(resid.var() - 1.0) < 0.05
    assert abs(s[:, 1].std() - 4.0) < 0.1


# ----------------------------------------------------------------------------
# Moons.
# ----------------------------------------------------------------------------


def _moons_reference_log_prob(x, noise, num_panels):
    """Brute-force composite Gauss-Legendre rule over the angle (numpy, float64)."""
    a, w = _composite_gauss_legendre(0.0, np.pi, num_panels)
    upper = np.stack([np.cos(a), np.sin(a)], -1)
    lower = np.stack([1.0 - np.cos(a), 0.5 - np.sin(a)], -1)
    means = np.concatenate([upper, lower])
    log_w = np.log(np.concatenate([w, w]) / (2 * np.pi))
    out = []
    for chunk in np.array_split(x, max(1, len(x) // 500)):
        sq = ((chunk[:, None, :] - means[None]) ** 2).sum(-1)
        out.append(_np_logsumexp(log_w - sq / (2 * noise**2)) - math.log(2 * math.pi * noise**2))
    return np.concatenate(out)


@pytest.mark.parametrize("noise", [0.05, 0.1])
def test_moons_quadrature_matches_much_finer_quadrature(noise):
    target = datasets.Moons(noise=noise, dtype=tf.float64)
    g1, g2 = np.linspace(-2.5, 3.5, 41), np.linspace(-2.0, 2.5, 31)
    x = np.concatenate(
        [
            np.stack(np.meshgrid(g1, g2), -1).reshape(-1, 2),
            target.sample(300, seed=0).numpy(),
            [[0.0, 0.0], [1.0, 0.5], [1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [2.0, 0.5]],
        ]
    )
    ref = _moons_reference_log_prob(x, noise, num_panels=1000)  # 16 000 nodes
    got = target.log_prob(x).numpy()
    err = np.abs(got - ref)
    assert err.max() < 1e-3  # everywhere, down to log p ~ -2500
    assert err[ref > -50].max() < 1e-8  # where the density is not negligible
    got32 = datasets.Moons(noise=noise).log_prob(x.astype(np.float32)).numpy()
    assert np.abs(got32 - ref)[ref > -50].max() < 1e-3


@pytest.mark.parametrize("noise, expected", [(0.05, 0.292), (0.1, 1.008)])
def test_moons_entropy(noise, expected):
    entropy = float(datasets.Moons(noise=noise).entropy())
    assert abs(entropy - expected) < 0.01
    # Independent numpy estimate: midpoint grid with spacing `noise` (spectrally
    # accurate for this smooth density) over the reference density.
    m = 10 * noise
    xs = _midpoints(-1.0 - m, 2.0 + m, noise)
    ys = _midpoints(-0.5 - m, 1.0 + m, noise)
    pts = np.stack(np.meshgrid(xs, ys, indexing="ij"), -1).reshape(-1, 2)
    lp = _moons_reference_log_prob(pts, noise, num_panels=200)
    reference = -np.sum(np.exp(lp) * lp) * noise**2
    assert abs(entropy - reference) < 1e-4, (entropy, reference)


def _sklearn_layout(n):
    n_out, n_in = n // 2, n - n // 2
    outer = np.linspace(0, np.pi, n_out)
    inner = np.linspace(0, np.pi, n_in)
    return np.vstack(
        [
            np.append(np.cos(outer), 1 - np.cos(inner)),
            np.append(np.sin(outer), 1 - np.sin(inner) - 0.5),
        ]
    ).T


@pytest.mark.parametrize("n", [1, 2, 7, 100, 501])
def test_make_moons_layout(n):
    clean = datasets.make_moons(n, noise=None, seed=3)
    assert clean.shape == (n, 2) and clean.dtype == np.float32
    layout = _sklearn_layout(n).astype(np.float32)
    # Same multiset of points as the formula (only shuffled).
    np.testing.assert_array_equal(np.unique(clean, axis=0), np.unique(layout, axis=0))
    on_upper = np.isclose(clean[:, 0] ** 2 + clean[:, 1] ** 2, 1.0, atol=1e-5)
    on_lower = np.isclose((clean[:, 0] - 1) ** 2 + (clean[:, 1] - 0.5) ** 2, 1.0, atol=1e-5)
    assert on_upper.sum() == n // 2 and on_lower.sum() == n - n // 2
    assert np.all(clean[on_upper, 1] >= 0) and np.all(clean[on_lower, 1] <= 0.5)


def test_make_moons_noise_shuffle_and_seed():
    n, noise = 2000, 0.05
    x = datasets.make_moons(n, noise=noise, seed=0)
    np.testing.assert_array_equal(x, datasets.make_moons(n, noise=noise, seed=0))
    assert not np.array_equal(x, datasets.make_moons(n, noise=noise, seed=1))
    # scikit-learn's recipe with numpy's legacy RandomState stream.
    rng = np.random.RandomState(0)
    idx = np.arange(n)
    rng.shuffle(idx)
    expected = _sklearn_layout(n)[idx] + rng.normal(scale=noise, size=(n, 2))
    np.testing.assert_allclose(x, expected.astype(np.float32), rtol=0, atol=0)
    # Noise level: the noise-free layout with the same shuffle is off by N(0, noise^2).
    clean = datasets.make_moons(n, noise=None, seed=0)
    residual = x - clean
    assert abs(residual.std() - noise) < 0.003 and abs(residual.mean()) < 0.005
    # Balanced and shuffled: both halves of the array mix both moons.
    upper = np.isclose(clean[:, 0] ** 2 + clean[:, 1] ** 2, 1.0, atol=1e-5)
    assert upper.sum() == n // 2
    assert 0.4 < upper[: n // 2].mean() < 0.6


# ----------------------------------------------------------------------------
# The other toys.
# ----------------------------------------------------------------------------


def test_eight_gaussians_log_prob_formula():
    target = datasets.EightGaussians(dtype=tf.float64)
    radius, std = 2 * math.sqrt(2), math.sqrt(2) / 4
    angles = np.arange(8) * np.pi / 4
    centers = radius * np.stack([np.cos(angles), np.sin(angles)], -1)
    x = np.random.RandomState(1).randn(40, 2) * 3
    sq = ((x[:, None] - centers[None]) ** 2).sum(-1)
    expected = _np_logsumexp(-sq / (2 * std**2)) - math.log(8 * 2 * math.pi * std**2)
    np.testing.assert_allclose(target.log_prob(x).numpy(), expected, rtol=1e-12)
    # Nearly separated components: entropy close to log 8 + Gaussian entropy.
    gaussian = 1 + math.log(2 * math.pi) + 2 * math.log(std)
    assert 0 < math.log(8) + gaussian - float(target.entropy()) < 0.02


def test_checkerboard_support_and_values():
    target = datasets.Checkerboard(dtype=tf.float64)
    assert abs(float(target.entropy()) - math.log(32)) < 1e-12
    x = target.sample(5000, seed=0).numpy()
    assert np.all(np.abs(x) <= 4)
    cells = np.floor(x / 2).astype(int)
    assert np.all((cells.sum(-1) % 2) == 0)
    counts = np.unique(cells, axis=0, return_counts=True)[1]
    assert len(counts) == 8 and counts.min() > 500
    lp = target.log_prob([[1.0, 1.0], [1.0, -1.0], [-3.0, -3.0], [-3.0, 3.0], [4.5, 0.5]]).numpy()
    np.testing.assert_allclose(lp[[0, 2]], -math.log(32))
    assert np.all(np.isneginf(lp[[1, 3, 4]]))


def test_rings_bessel_form_matches_angle_quadrature():
    target = datasets.Rings(dtype=tf.float64)
    x = np.concatenate([target.sample(200, seed=2).numpy(), np.random.RandomState(2).randn(50, 2)])
    angles = np.linspace(0, 2 * np.pi, 4000, endpoint=False)  # periodic: spectral accuracy
    terms = []
    for r in (3.0, 2.25, 1.5, 0.75):
        means = r * np.stack([np.cos(angles), np.sin(angles)], -1)
        sq = ((x[:, None] - means[None]) ** 2).sum(-1)
        terms.append(_np_logsumexp(-sq / (2 * 0.08**2)) - math.log(4000))
    expected = _np_logsumexp(np.stack(terms, -1)) - math.log(4 * 2 * math.pi * 0.08**2)
    np.testing.assert_allclose(target.log_prob(x).numpy(), expected, atol=1e-9)


def _spiral_reference_log_prob(x, noise, jitter, num_panels):
    """Brute-force quadrature over t, in t, for the TwoSpirals law (float64)."""
    t, w = _composite_gauss_legendre(0.0, 3 * np.pi, num_panels)
    log_w = np.log(w * 2 * t / (3 * np.pi) ** 2)
    centers = np.stack([-t * np.cos(t), t * np.sin(t)], -1) / 3

    if jitter == 0:

        def log_kernel(d):
            return -(d**2).sum(-1) / (2 * noise**2) - math.log(2 * math.pi * noise**2)

    else:
        special = pytest.importorskip("scipy.special")
        width = jitter / 3

        def log_kernel(d):
            a, b = d / noise, (d - width) / noise
            flip = a + b > 0
            hi, lo = np.where(flip, -b, a), np.where(flip, -a, b)
            lh, ll = special.log_ndtr(hi), special.log_ndtr(lo)
            return (lh + np.log(-np.expm1(ll - lh)) - math.log(width)).sum(-1)

    def log_arm(y):
        return _np_logsumexp(log_w + log_kernel(y[:, None, :] - centers[None]))

    out = []
    for chunk in np.array_split(x, max(1, len(x) // 50)):
        out.append(np.logaddexp(log_arm(chunk), log_arm(-chunk)) - math.log(2))
    return np.concatenate(out)


@pytest.mark.parametrize("jitter", [0.5, 0.0])
def test_two_spirals_quadrature_matches_much_finer_quadrature(jitter):
    target = datasets.TwoSpirals(noise=0.1, jitter=jitter, dtype=tf.float64)
    g = np.linspace(-4.5, 4.5, 7)
    x = np.concatenate(
        [np.stack(np.meshgrid(g, g), -1).reshape(-1, 2), target.sample(100, seed=0).numpy()]
    )
    ref = _spiral_reference_log_prob(x, 0.1, jitter, num_panels=3000)  # 24 000 nodes per arm
    got = target.log_prob(x).numpy()
    err = np.abs(got - ref)
    assert err[ref > -50].max() < 1e-8
    assert err.max() < 1e-3


def test_pinwheel_is_volume_preserving_swirl_of_a_mixture():
    target = datasets.Pinwheel(dtype=tf.float64)
    # log p(x) = log p_mix(g) - 2 log 2 with g = Rot(0.25 exp(|x|/2)) x / 2.
    x = target.sample(100, seed=4).numpy()
    y = x / 2
    angle = 0.25 * np.exp(np.linalg.norm(y, axis=-1))
    g = np.stack(
        [
            y[:, 0] * np.cos(angle) - y[:, 1] * np.sin(angle),
            y[:, 0] * np.sin(angle) + y[:, 1] * np.cos(angle),
        ],
        -1,
    )
    phis = 2 * np.pi * np.arange(5) / 5
    f0 = g[:, None, 0] * np.cos(phis) - g[:, None, 1] * np.sin(phis)
    f1 = g[:, None, 0] * np.sin(phis) + g[:, None, 1] * np.cos(phis)
    log_comp = -0.5 * (((f0 - 1) / 0.3) ** 2 + (f1 / 0.1) ** 2) - math.log(2 * math.pi * 0.03)
    expected = _np_logsumexp(log_comp) - math.log(5) - 2 * math.log(2)
    np.testing.assert_allclose(target.log_prob(x).numpy(), expected, rtol=1e-10)
    # Samples, pulled back through the swirl, are the Gaussian mixture: radial
    # coordinate ~ N(1, 0.3^2) around the nearest arm direction.
    nearest = np.argmax(f0, axis=-1)
    radial = f0[np.arange(len(x)), nearest]
    assert abs(radial.mean() - 1.0) < 0.1 and abs(radial.std() - 0.3) < 0.06


# ----------------------------------------------------------------------------
# Doctests.
# ----------------------------------------------------------------------------


@pytest.mark.slow
def test_docstring_examples():
    # The package and each of its modules (one per target family).
    modules = [datasets] + [
        importlib.import_module(f"{datasets.__name__}.{info.name}")
        for info in pkgutil.iter_modules(datasets.__path__)
    ]
    attempted = 0
    for module in modules:
        result = doctest.testmod(
            module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False
        )
        assert result.failed == 0, module.__name__
        attempted += result.attempted
    assert attempted > 10
