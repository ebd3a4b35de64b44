"""Conditional targets (`ConditionalBanana`, `LinearGaussianSimulator`) and the conditional KL gap.

Every closed form is checked against an independent computation: numpy formulas,
grid integration, Bayes' rule, regressions on samples, Monte-Carlo entropies.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import math  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_probability as tfp  # noqa: E402

from tfp_flows import datasets  # noqa: E402
from tfp_flows.evaluation import metrics  # noqa: E402

tfd = tfp.distributions
BANANA_ENTROPY = math.log(2 * math.pi * math.e) + math.log(4.0)  # 4.2242


def _numpy_banana_log_prob(x, b, std2=4.0):
    x1, x2 = x[..., 0], x[..., 1]
    return (
        -0.5 * (x1 - b[..., 0] * x2**2) ** 2 - 0.5 * (x2 / std2) ** 2 - math.log(2 * math.pi * std2)
    )


def _numpy_mvn_log_prob(x, mean, cov):
    d = x - mean
    sol = np.linalg.solve(cov, d[..., None])[..., 0]
    _, logdet = np.linalg.slogdet(cov)
    return -0.5 * (np.sum(d * sol, -1) + logdet + mean.shape[-1] * math.log(2 * math.pi))


# ----------------------------------------------------------------------------
# ConditionalBanana.
# ----------------------------------------------------------------------------


def test_conditional_banana_log_prob_formula_and_broadcasting():
    target = datasets.ConditionalBanana(dtype=tf.float64)
    rng = np.random.RandomState(0)
    x = rng.randn(5, 2) * [5.0, 4.0]
    b = np.array([0.05, 0.25, 0.5]).reshape(3, 1, 1)
    got = target.log_prob(x, context=b).numpy()
    assert got.shape == (3, 5)
    np.testing.assert_allclose(got, _numpy_banana_log_prob(x[None], b), rtol=1e-12)
    # One context per event, and a single context for all events.
    bb = rng.uniform(0.05, 0.5, size=(5, 1))
    np.testing.assert_allclose(
        target.log_prob(x, context=bb).numpy(), _numpy_banana_log_prob(x, bb), rtol=1e-12
    )
    assert target.log_prob(x, context=[0.3]).shape == [5]
    # p(. | b) is the unconditional Banana with curvature b.
    np.testing.assert_allclose(
        target.log_prob(x, context=[0.3]).numpy(), target.given(0.3).log_prob(x).numpy()
    )
    assert target.given([0.3]).curvature == 0.3
    # float32 agrees with float64.
    got32 = datasets.ConditionalBanana().log_prob(x.astype(np.float32), context=bb)
    assert got32.dtype == tf.float32
    np.testing.assert_allclose(got32.numpy(), _numpy_banana_log_prob(x, bb), rtol=1e-5)


@pytest.mark.parametrize("b", [0.05, 0.5])
def test_conditional_banana_density_integrates_to_one(b):
    target = datasets.ConditionalBanana(dtype=tf.float64)
    h1, h2 = 0.25, 0.5
    x1 = -7.0 + h1 * (np.arange(int((b * 26**2 + 14) / h1)) + 0.5)
    x2 = -26.0 + h2 * (np.arange(int(52 / h2)) + 0.5)
    pts = np.stack(np.meshgrid(x1, x2, indexing="ij"), -1).reshape(-1, 2)
    p = np.exp(target.log_prob(pts, context=[b]).numpy())
    assert abs(p.sum() * h1 * h2 - 1.0) < 1e-6


def test_conditional_banana_sampling_shapes_determinism_and_law():
    target = datasets.ConditionalBanana(dtype=tf.float64)
    b = np.array([[0.05], [0.25], [0.5]])
    s = target.sample(20000, seed=0, context=b)
    assert s.shape == [20000, 3, 2] and s.dtype == tf.float64
    np.testing.assert_array_equal(s.numpy(), target.sample(20000, seed=0, context=b).numpy())
    assert not np.array_equal(s.numpy(), target.sample(20000, seed=1, context=b).numpy())
    assert target.sample([2, 4], seed=0, context=np.zeros((3, 5, 1))).shape == [2, 4, 3, 5, 2]
    assert target.sample(seed=0, context=[0.1]).shape == [2]
    assert datasets.ConditionalBanana().sample(3, seed=0, context=[0.1]).dtype == tf.float32
    # The other tfd.Distribution entry points take the context, too.
    xs, lp = target.experimental_sample_and_log_prob(7, seed=5, context=b)
    assert xs.shape == [7, 3, 2] and lp.shape == [7, 3]
    np.testing.assert_allclose(lp.numpy(), _numpy_banana_log_prob(xs.numpy(), b), rtol=1e-12)
    np.testing.assert_allclose(target.prob(xs, context=b).numpy(), np.exp(lp.numpy()), rtol=1e-12)
    # Regress x1 on x2^2 per context: slope b, unit residual variance, x2 std 4.
    s = s.numpy()
    for k, bk in enumerate(b[:, 0]):
        design = np.stack([np.ones(len(s)), s[:, k, 1] ** 2], -1)
        coef, *_ = np.linalg.lstsq(design, s[:, k, 0], rcond=None)
        resid = s[:, k, 0] - design @ coef
        assert abs(coef[1] - bk) < 0.003 and abs(coef[0]) < 0.05, (bk, coef)
        assert abs(resid.var() - 1.0) < 0.05
        assert abs(s[:, k, 1].std() - 4.0) < 0.1


def test_conditional_banana_sample_pairs():
    target = datasets.ConditionalBanana(b_range=(0.05, 0.5), dtype=tf.float64)
    x, b = target.sample_pairs(50000, seed=3)
    assert x.shape == [50000, 2] and b.shape == [50000, 1]
    x2, b2 = target.sample_pairs(50000, seed=3)
    np.testing.assert_array_equal(x.numpy(), x2.numpy())
    np.testing.assert_array_equal(b.numpy(), b2.numpy())
    x, b = x.numpy(), b.numpy()[:, 0]
    # b ~ Uniform(0.05, 0.5): range, mean and variance.
    assert b.min() >= 0.05 and b.max() < 0.5
    assert abs(b.mean() - 0.275) < 0.003 and abs(b.var() - 0.45**2 / 12) < 0.0005
    # x | b: the shear residual x1 - b x2^2 is N(0, 1), independent of b; x2 ~ N(0, 16).
    u = x[:, 0] - b * x[:, 1] ** 2
    assert abs(u.mean()) < 0.02 and abs(u.var() - 1.0) < 0.03
    assert abs(np.corrcoef(u, b)[0, 1]) < 0.02
    assert abs(x[:, 1].std() - 4.0) < 0.05


@pytest.mark.parametrize("b", [0.05, 0.25, 0.5])
def test_conditional_banana_entropy_matches_monte_carlo(b):
    target = datasets.ConditionalBanana(dtype=tf.float64)
    exact = float(target.entropy(context=[b]))
    assert abs(exact - BANANA_ENTROPY) < 1e-12
    x = target.sample(20000, seed=11, context=[b])
    lp = target.log_prob(x, context=[b]).numpy()
    stderr = lp.std() / math.sqrt(len(lp))
    assert abs(-lp.mean() - exact) < 4 * stderr, (-lp.mean(), exact, stderr)


def test_conditional_banana_entropy_shape_and_dtype():
    target = datasets.ConditionalBanana()
    h = target.entropy(context=np.full((2, 3, 1), 0.2))
    assert h.shape == [2, 3] and h.dtype == tf.float32
    np.testing.assert_allclose(h.numpy(), BANANA_ENTROPY, rtol=1e-6)


def test_conditional_banana_gradients_match_formula():
    target = datasets.ConditionalBanana(dtype=tf.float64)
    x = tf.constant([[1.0, 2.0], [-3.0, 0.5], [40.0, -10.0]], tf.float64)
    b = tf.constant([[0.1], [0.3], [0.5]], tf.float64)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, b])
        lp = target.log_prob(x, context=b)
    u = x[:, 0] - b[:, 0] * x[:, 1] ** 2
    np.testing.assert_allclose(tape.gradient(lp, b).numpy()[:, 0], (u * x[:, 1] ** 2).numpy())
    np.testing.assert_allclose(tape.gradient(lp, x).numpy()[:, 0], (-u).numpy())


def test_conditional_banana_in_tf_function_and_xla():
    target = datasets.ConditionalBanana()
    x = target.sample(16, seed=0, context=[0.2])
    b = tf.random.stateless_uniform([16, 1], seed=[1, 2], minval=0.05, maxval=0.5)
    eager_lp = target.log_prob(x, context=b).numpy()
    eager_s = target.sample(8, seed=[4, 5], context=b).numpy()
    for jit in (False, True):
        log_prob = tf.function(lambda x, c: target.log_prob(x, context=c), jit_compile=jit)
        sample = tf.function(lambda c: target.sample(8, seed=[4, 5], context=c), jit_compile=jit)
        np.testing.assert_allclose(log_prob(x, b).numpy(), eager_lp, rtol=1e-6)
        got = sample(b)
        assert got.shape == [8, 16, 2]
        np.testing.assert_array_equal(got.numpy(), sample(b).numpy())
        if not jit:  # XLA's stateless RNG draws other numbers than TF's kernels
            np.testing.assert_allclose(got.numpy(), eager_s, rtol=1e-6)
        # Whatever the numbers, the shear residual x1 - b x2^2 is N(0, 1) noise.
        u = got[..., 0] - b[:, 0] * got[..., 1] ** 2
        assert np.all(np.abs(u.numpy()) < 6.0) and abs(float(tf.math.reduce_std(u)) - 1) < 0.3


def test_conditional_banana_bad_input_raises_clear_errors():
    target = datasets.ConditionalBanana()
    x = np.zeros((4, 2), np.float32)
    with pytest.raises(ValueError, match=r"pass context=\.\.\. of shape \[\.\.\., 1\]"):
        target.log_prob(x)
    with pytest.raises(ValueError, match=r"pass context"):
        target.sample(3, seed=0)
    with pytest.raises(ValueError, match=r"context of shape \[\.\.\., 1\], got shape \(4, 2\)"):
        target.log_prob(x, context=np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"context of shape \[\.\.\., 1\], got shape \(\)"):
        target.log_prob(x, context=0.25)
    for bad in (np.nan, np.inf, -np.inf):
        with pytest.raises(ValueError, match="finite context"):
            target.log_prob(x, context=[[0.1], [bad]])
        with pytest.raises(ValueError, match="finite context"):
            target.entropy(context=[bad])
    with pytest.raises(ValueError, match=r"events of shape \[\.\.\., 2\], got shape \(4, 3\)"):
        target.log_prob(np.zeros((4, 3)), context=[0.1])
    with pytest.raises(ValueError, match="b_range"):
        datasets.ConditionalBanana(b_range=(0.5, 0.05))
    with pytest.raises(ValueError, match="b_range"):
        datasets.ConditionalBanana(b_range=(0.0, np.inf))
    with pytest.raises(ValueError, match="std2"):
        datasets.ConditionalBanana(std2=0.0)
    with pytest.raises(TypeError, match="float32 or float64"):
        datasets.ConditionalBanana(dtype=tf.int32)
    with pytest.raises(ValueError):
        target.given([[0.1], [0.2]])


# ----------------------------------------------------------------------------
# LinearGaussianSimulator.
# ----------------------------------------------------------------------------


def _joint_conditioning(a, sigma, x):
    """Posterior by conditioning the joint Gaussian of (theta, x) (Kalman form)."""
    s = a @ a.T + sigma**2 * np.eye(a.shape[0])  # Cov(x)
    k = np.linalg.solve(s, a).T  # A^T S^{-1}
    return x @ k.T, np.eye(a.shape[1]) - k @ a


def test_linear_gaussian_posterior_matches_joint_gaussian_conditioning():
    sim = datasets.LinearGaussianSimulator(
        parameter_size=3, observation_size=5, noise_scale=0.3, seed=2, dtype=tf.float64
    )
    a = sim.matrix
    assert a.shape == (5, 3)
    x = np.random.RandomState(0).randn(4, 5)
    mean, cov = _joint_conditioning(a, 0.3, x)
    posterior = sim.posterior(x)
    assert isinstance(posterior, tfd.MultivariateNormalTriL)
    assert posterior.batch_shape == [4] and posterior.event_shape == [3]
    np.testing.assert_allclose(posterior.mean().numpy(), mean, atol=1e-12)
    np.testing.assert_allclose(posterior.covariance().numpy()[0], cov, atol=1e-12)
    np.testing.assert_allclose(sim.posterior_covariance, cov, atol=1e-12)
    theta = np.random.RandomState(1).randn(4, 3)
    np.testing.assert_allclose(
        sim.log_prob(theta, context=x).numpy(), _numpy_mvn_log_prob(theta, mean, cov), rtol=1e-10
    )
    # Exact entropy: (p/2) log(2 pi e) + log det(Sigma) / 2, the same for every x.
    entropy = 1.5 * math.log(2 * math.pi * math.e) + 0.5 * np.linalg.slogdet(cov)[1]
    np.testing.assert_allclose(sim.entropy(context=x).numpy(), entropy, rtol=1e-12)


def test_linear_gaussian_posterior_is_bayes_rule_and_normalized():
    sim = datasets.LinearGaussianSimulator(noise_scale=0.5, seed=0, dtype=tf.float64)
    a, sigma = sim.matrix, 0.5
    x = sim.simulate([0.7, -1.2], seed=5).numpy()
    # log p(theta | x) = log p(theta) + log p(x | theta) - log p(x), each term by numpy.
    g = np.linspace(-7.0, 7.0, 701)
    h = g[1] - g[0]
    theta = np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    log_prior = -0.5 * np.sum(theta**2, -1) - math.log(2 * math.pi)
    resid = x - theta @ a.T
    log_lik = -0.5 * np.sum(resid**2, -1) / sigma**2 - 4 * math.log(sigma * math.sqrt(2 * math.pi))
    evidence_cov = a @ a.T + sigma**2 * np.eye(4)
    log_evidence = _numpy_mvn_log_prob(x, np.zeros(4), evidence_cov)
    got = sim.log_prob(theta, context=x).numpy()
    np.testing.assert_allclose(got, log_prior + log_lik - log_evidence, rtol=1e-9, atol=1e-9)
    # Brute force: the unnormalised posterior integrates to the closed-form evidence.
    numeric_evidence = np.exp(log_prior + log_lik).sum() * h * h
    assert abs(numeric_evidence / math.exp(log_evidence) - 1.0) < 1e-6
    assert abs(np.exp(got).sum() * h * h - 1.0) < 1e-6


def test_linear_gaussian_sample_pairs_regression_recovers_the_posterior():
    sim = datasets.LinearGaussianSimulator(dtype=tf.float64)
    theta, x = sim.sample_pairs(100_000, seed=0)
    assert theta.shape == [100_000, 2] and x.shape == [100_000, 4]
    again = sim.sample_pairs(100_000, seed=0)
    np.testing.assert_array_equal(theta.numpy(), again[0].numpy())
    theta, x = theta.numpy(), x.numpy()
    # Simulator: x - A theta ~ N(0, 0.5^2 I); prior theta ~ N(0, I).
    noise = x - theta @ sim.matrix.T
    assert np.all(np.abs(noise.std(0) - 0.5) < 0.01) and np.all(np.abs(theta.std(0) - 1) < 0.01)
    # E[theta | x] is linear in x: least squares gives the gain, residuals Sigma.
    coef, *_ = np.linalg.lstsq(x, theta, rcond=None)  # theta ~ x @ coef
    mean, cov = _joint_conditioning(sim.matrix, 0.5, np.eye(4))  # rows: gain^T
    np.testing.assert_allclose(coef, mean, atol=0.01)
    resid = theta - x @ coef
    np.testing.assert_allclose(np.cov(resid.T), cov, atol=0.005)


def test_linear_gaussian_conditional_sampling_matches_posterior_moments():
    sim = datasets.LinearGaussianSimulator(dtype=tf.float64)
    x = sim.simulate(np.array([[1.0, 0.5], [-2.0, 0.0], [0.0, 0.0]]), seed=1)
    s = sim.sample(40_000, seed=2, context=x)
    assert s.shape == [40_000, 3, 2]
    posterior = sim.posterior(x)
    stderr = math.sqrt(np.max(sim.posterior_covariance) / 40_000)
    np.testing.assert_allclose(s.numpy().mean(0), posterior.mean().numpy(), atol=5 * stderr)
    np.testing.assert_allclose(np.cov(s.numpy()[:, 0].T), sim.posterior_covariance, atol=0.003)
    # Exact entropy against Monte Carlo.
    lp = sim.log_prob(s[:, 0], context=x[0]).numpy()
    assert abs(-lp.mean() - float(sim.entropy(context=x[0]))) < 4 * lp.std() / math.sqrt(len(lp))


def test_linear_gaussian_design_is_seeded_and_inputs_are_checked():
    a = datasets.LinearGaussianSimulator(seed=1).matrix
    np.testing.assert_array_equal(a, datasets.LinearGaussianSimulator(seed=1).matrix)
    assert not np.array_equal(a, datasets.LinearGaussianSimulator(seed=2).matrix)
    sim = datasets.LinearGaussianSimulator(parameter_size=2, observation_size=4)
    assert sim.event_shape == [2] and sim.context_size == 4 and sim.parameter_size == 2
    with pytest.raises(ValueError, match=r"context of shape \[\.\.\., 4\], got shape \(3, 2\)"):
        sim.log_prob(np.zeros((3, 2)), context=np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"events of shape \[\.\.\., 2\], got shape \(3, 4\)"):
        sim.log_prob(np.zeros((3, 4)), context=np.zeros((3, 4)))
    with pytest.raises(ValueError, match="finite context"):
        sim.posterior([0.0, np.nan, 0.0, 0.0])
    with pytest.raises(ValueError, match="parameter_size must be a positive integer"):
        datasets.LinearGaussianSimulator(parameter_size=0)
    with pytest.raises(ValueError, match="noise_scale"):
        datasets.LinearGaussianSimulator(noise_scale=0.0)


# ----------------------------------------------------------------------------
# Registry and the conditional KL gap.
# ----------------------------------------------------------------------------


def test_conditional_targets_stay_out_of_the_unconditional_registry():
    assert set(datasets.CONDITIONAL_TARGETS).isdisjoint(datasets.TARGETS)
    with pytest.raises(ValueError, match="conditional.*get_conditional_target"):
        datasets.get_target("conditional_banana")
    with pytest.raises(ValueError, match="get_conditional_target"):
        datasets.get_target("Linear-Gaussian")
    target = datasets.get_conditional_target("conditional-banana", b_range=(0.1, 0.2))
    assert isinstance(target, datasets.ConditionalTarget) and target.b_range == (0.1, 0.2)
    assert datasets.has_exact_log_prob(target) and datasets.has_exact_log_prob("linear_gaussian")
    with pytest.raises(ValueError, match="Unknown conditional target 'moons'"):
        datasets.get_conditional_target("moons")


class _ShiftedContext:
    """A conditional 'model' q(x | c) = p(x | c + shift)."""

    def __init__(self, target, shift, dtype=tf.float32):
        self.target, self.shift, self.dtype = target, shift, dtype

    def log_prob(self, x, context):
        return self.target.log_prob(x, context=context + self.shift)


def test_conditional_kl_gap_on_the_banana_matches_the_closed_form():
    target = datasets.ConditionalBanana()
    exact = metrics.conditional_kl_gap(target, target, context=[0.25], n=2000, seed=0)
    assert exact.mean == 0.0 and exact.stderr == 0.0
    # KL(p(.|b) || p(.|b + d)) = E[(d x2^2)^2] / 2 = 3 d^2 std2^4 / 2 = 384 d^2.
    delta = 0.02
    model = _ShiftedContext(datasets.ConditionalBanana(dtype=tf.float64), delta, tf.float64)
    gap = metrics.conditional_kl_gap(model, target, context=[0.25], n=20_000, seed=1)
    assert abs(gap.mean - 384 * delta**2) < 4 * gap.stderr, (gap, 384 * delta**2)
    assert 0 < gap.stderr < 0.02
    batched = metrics.conditional_kl_gap(model, target, [0.25], n=20_000, seed=1, batch_size=999)
    assert batched.mean == pytest.approx(gap.mean, abs=1e-6)
    with pytest.raises(ValueError, match=r"one context vector of shape \[context_size\]"):
        metrics.conditional_kl_gap(target, target, context=[[0.25]], n=10)


def test_conditional_kl_gap_on_the_simulator_matches_the_gaussian_kl():
    sim = datasets.LinearGaussianSimulator(dtype=tf.float64)
    shift = np.array([0.1, -0.05])

    class Shifted:
        dtype = tf.float64

        def log_prob(self, theta, context):
            posterior = sim.posterior(context)
            return tfd.MultivariateNormalTriL(
                posterior.loc + shift, scale_tril=posterior.scale.to_dense()
            ).log_prob(theta)

    x0 = sim.simulate([0.5, -0.5], seed=3)
    truth = sim.posterior(x0)
    exact = float(
        tfd.kl_divergence(
            truth, tfd.MultivariateNormalTriL(truth.loc + shift, truth.scale.to_dense())
        )
    )
    np.testing.assert_allclose(
        exact, 0.5 * shift @ np.linalg.solve(sim.posterior_covariance, shift), rtol=1e-10
    )
    gap = metrics.conditional_kl_gap(Shifted(), sim, context=x0, n=20_000, seed=4)
    assert abs(gap.mean - exact) < 4 * gap.stderr + 1e-9, (gap, exact)
