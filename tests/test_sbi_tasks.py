"""The SBI benchmark's tasks: simulators against the benchmark's own observations, file reader."""

import importlib.metadata
import math

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

import tfp_flows as tff
from tfp_flows.datasets.sbi_tasks import bernoulli_glm_design_matrix

tfd = tfp.distributions

try:
    importlib.metadata.distribution("sbibm")
    HAVE_SBIBM = True
except importlib.metadata.PackageNotFoundError:
    HAVE_SBIBM = False
needs_sbibm = pytest.mark.skipif(
    not HAVE_SBIBM,
    reason="the benchmark's observations are data files of the sbibm wheel: "
    "pip install --no-deps sbibm",
)


def test_two_moons_pairs_lie_on_a_moon_of_radius_one_tenth():
    theta, x = tff.datasets.sbi_task("two_moons").sample_pairs(2000, seed=0)
    theta, x = theta.numpy(), x.numpy()
    assert np.all(np.abs(theta) <= 1)
    center = np.c_[
        0.25 - np.abs(theta.sum(1)) / math.sqrt(2), (theta[:, 1] - theta[:, 0]) / math.sqrt(2)
    ]
    radius = np.linalg.norm(x - center, axis=1)
    assert abs(radius.mean() - 0.1) < 1e-3 and abs(radius.std() - 0.01) < 1e-3
    assert np.all(x[:, 0] - center[:, 0] >= 0)  # a in (-pi/2, pi/2): the right half-circle


def test_gaussian_linear_pairs_have_the_benchmark_variances():
    theta, x = tff.datasets.sbi_task("gaussian_linear").sample_pairs(20000, seed=1)
    np.testing.assert_allclose(np.var(theta.numpy(), axis=0), 0.1, rtol=0.05)
    np.testing.assert_allclose(np.var((x - theta).numpy(), axis=0), 0.1, rtol=0.05)


def test_pairs_are_reproducible_and_unknown_tasks_refused():
    task = tff.datasets.sbi_task("two_moons")
    np.testing.assert_array_equal(task.sample_pairs(5, seed=3)[1], task.sample_pairs(5, seed=3)[1])
    with pytest.raises(ValueError, match="unknown SBI task 'slcp_distractors'; expected") as error:
        tff.datasets.sbi_task("slcp_distractors")
    for name in ("bernoulli_glm", "gaussian_mixture", "lotka_volterra", "sir", "slcp"):
        assert repr(name) in str(error.value)
    with pytest.raises(ValueError, match="numbered 1 to 10, got 0"):
        task.observation(0)


def test_missing_sbibm_names_the_install_command(monkeypatch):
    def absent(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", absent)
    with pytest.raises(ImportError, match="pip install --no-deps sbibm"):
        tff.datasets.sbi_task("two_moons").observation(1)


@needs_sbibm
def test_benchmark_observations_fit_our_simulators():
    moons = tff.datasets.sbi_task("two_moons")
    for number in range(1, 11):
        theta, x = moons.true_parameters(number), moons.observation(number)
        center = [0.25 - abs(theta.sum()) / math.sqrt(2), (theta[1] - theta[0]) / math.sqrt(2)]
        assert 0.06 < np.linalg.norm(x - center) < 0.14
    linear = tff.datasets.sbi_task("gaussian_linear")
    noise = np.concatenate(
        [linear.observation(i) - linear.true_parameters(i) for i in range(1, 11)]
    )
    assert 0.06 < noise.var() < 0.15  # 100 draws of N(0, 0.1)


@needs_sbibm
def test_reference_posterior_samples_are_read():
    samples = tff.datasets.sbi_task("two_moons").reference_samples(1)
    assert samples.shape == (10000, 2) and np.all(np.abs(samples) <= 1)
    # gaussian_linear's posterior is N(x / 2, 0.05 I): the files agree
    linear = tff.datasets.sbi_task("gaussian_linear")
    reference = linear.reference_samples(3)
    np.testing.assert_allclose(reference.mean(0), linear.observation(3) / 2, atol=0.01)
    np.testing.assert_allclose(reference.var(0), 0.05, rtol=0.1)


BOXES = {"two_moons": 1.0, "gaussian_linear_uniform": 1.0, "gaussian_mixture": 10.0, "slcp": 3.0}


@pytest.mark.parametrize("name", sorted(tff.datasets.SBI_TASKS))
def test_every_task_simulates_its_shapes_in_a_compiled_function(name):
    task = tff.datasets.sbi_task(name)
    # XLA for all but sir, whose binomial sampler takes 7 s to compile (it does compile)
    sample_pairs = tf.function(lambda seed: task.sample_pairs(64, seed), jit_compile=name != "sir")
    theta, x = sample_pairs(tf.constant([4, 2]))
    assert theta.shape == (64, task.theta_size) and x.shape == (64, task.x_size)
    assert np.all(np.isfinite(x.numpy()))
    np.testing.assert_array_equal(x, sample_pairs(tf.constant([4, 2]))[1])
    if name in BOXES:  # a box prior, as the benchmark's: U([-b, b]^d), -inf outside
        bound = BOXES[name]
        assert np.all(np.abs(theta.numpy()) <= bound)
        outside = np.full([1, task.theta_size], 1.01 * bound, np.float32)
        assert task.prior.log_prob(outside).numpy()[0] == -np.inf
        inside = np.full([1, task.theta_size], 0.5 * bound, np.float32)
        expected = -task.theta_size * math.log(2 * bound)
        np.testing.assert_allclose(task.prior.log_prob(inside), [expected], rtol=1e-6)


def fixed_theta_draws(name, theta, n, seed=0):
    task = tff.datasets.sbi_task(name)
    rows = np.tile(np.asarray(theta, np.float32), [n, 1])
    return task.simulator(rows, tf.constant([seed, 7])).numpy()


def test_gaussian_linear_uniform_noise_has_variance_one_tenth():
    # sbibm's "simulator_scale" 0.1 enters as the covariance (precision (0.1 I)^-1), not the std
    theta = np.linspace(-0.9, 0.9, 10)
    x = fixed_theta_draws("gaussian_linear_uniform", theta, 20000)
    np.testing.assert_allclose(x.mean(0), theta, atol=4 * math.sqrt(0.1 / 20000))
    np.testing.assert_allclose(x.var(0), 0.1, rtol=0.04)  # 4 s.e. of a variance of 20000 draws
    assert abs(np.corrcoef(x.T)[0, 1]) < 0.03
    # under the prior U(-1, 1): Var x = 1/3 + 0.1
    _, x = tff.datasets.sbi_task("gaussian_linear_uniform").sample_pairs(20000, seed=2)
    np.testing.assert_allclose(np.var(x.numpy(), axis=0), 1 / 3 + 0.1, rtol=0.04)


def test_gaussian_mixture_shares_one_component_between_coordinates():
    theta = [3.0, -2.0]
    x = fixed_theta_draws("gaussian_mixture", theta, 20000)
    np.testing.assert_allclose(x.mean(0), theta, atol=0.03)
    np.testing.assert_allclose(x.var(0), 0.5 * 1.0 + 0.5 * 0.01, rtol=0.04)
    # |x - theta| < 0.3: 1 - exp(-4.5) of the narrow component, 1 - exp(-0.045) of the broad one
    near = np.linalg.norm(x - theta, axis=1) < 0.3
    expected = 0.5 * (1 - math.exp(-4.5)) + 0.5 * (1 - math.exp(-0.045))
    assert abs(near.mean() - expected) < 4 * math.sqrt(expected * (1 - expected) / 20000)
    # one component for both coordinates: r_i = s^2 z_i^2 correlate with corr
    # (E s^4 - (E s^2)^2) / (3 E s^4 - (E s^2)^2) = 0.197 (0 for a component per coordinate)
    s2, s4 = 0.5 * (1 + 0.01), 0.5 * (1 + 0.01**2)
    residual = np.square(x - theta)
    assert abs(np.corrcoef(residual.T)[0, 1] - (s4 - s2**2) / (3 * s4 - s2**2)) < 0.04
    # under the prior U(-10, 10): Var x = 100/3 + 0.505
    _, x = tff.datasets.sbi_task("gaussian_mixture").sample_pairs(20000, seed=2)
    np.testing.assert_allclose(np.var(x.numpy(), axis=0), 100 / 3 + s2, rtol=0.03)


def test_slcp_points_have_the_parametrised_mean_scales_and_correlation():
    theta = [0.7, -1.5, 1.2, -0.8, 0.6]  # m = (0.7, -1.5), sd (1.44, 0.64), rho = tanh(0.6)
    x = fixed_theta_draws("slcp", theta, 5000)
    points = x.reshape(-1, 2)  # point-major: (x_11, x_12, x_21, x_22, ...)
    np.testing.assert_allclose(points.mean(0), theta[:2], atol=0.03)
    np.testing.assert_allclose(points.std(0), [1.2**2, 0.8**2], rtol=0.02)
    assert abs(np.corrcoef(points.T)[0, 1] - math.tanh(0.6)) < 0.01
    # the 4 points of one simulation are independent draws
    assert abs(np.corrcoef(x[:, 0], x[:, 2])[0, 1]) < 0.05


def test_bernoulli_glm_summaries_are_spike_counts_and_stimulus_correlations():
    design = bernoulli_glm_design_matrix()
    assert design.shape == (100, 10) and np.all(design[:, 0] == 1)
    np.testing.assert_array_equal(design[1:, 2], design[:-1, 1])  # lag 1 is lag 0 shifted
    assert np.all(np.triu(design[:9, 1:], k=1) == 0)  # nothing before the stimulus starts
    theta = np.array([-0.5, 1.0, 0.5, 0, 0, 0, 0, 0, 0, -0.5], np.float32)
    x = fixed_theta_draws("bernoulli_glm", theta, 20000)
    counts = x[:, 0]
    assert np.all(counts == np.round(counts)) and counts.min() >= 0 and counts.max() <= 100
    rate = 1 / (1 + np.exp(-(design @ theta)))
    np.testing.assert_allclose(counts.mean(), rate.sum(), rtol=0.01)
    np.testing.assert_allclose(counts.var(), (rate * (1 - rate)).sum(), rtol=0.04)
    np.testing.assert_allclose(x.mean(0), design.T @ rate, atol=0.1)


def test_bernoulli_glm_prior_penalises_second_differences_of_the_filter():
    prior = tff.datasets.sbi_task("bernoulli_glm").prior
    second = np.eye(9) - 2 * np.eye(9, k=-1) + np.eye(9, k=-2)  # D^2, the second differences
    f = second + np.diag(np.sqrt(np.arange(9) / 9))
    theta = np.random.default_rng(0).normal(size=(5, 10))
    quadratic = 0.5 * theta[:, 0] ** 2 + np.square(theta[:, 1:] @ f.T).sum(1)
    log_prob = prior.log_prob(theta.astype(np.float32)).numpy()
    at_zero = prior.log_prob(np.zeros([1, 10], np.float32)).numpy()
    np.testing.assert_allclose(log_prob - at_zero, -0.5 * quadratic, rtol=1e-4)


def test_ode_task_priors_are_the_benchmark_lognormals():
    for name, loc, scale in [
        ("sir", [math.log(0.4), math.log(0.125)], [0.5, 0.2]),
        ("lotka_volterra", [-0.125, -3.0, -0.125, -3.0], [0.5] * 4),
    ]:
        theta = tff.datasets.sbi_task(name).prior.sample(20000, seed=tff.stateless_seed(0))
        log_theta = np.log(theta.numpy())
        np.testing.assert_allclose(log_theta.mean(0), loc, atol=4 * max(scale) / math.sqrt(20000))
        np.testing.assert_allclose(log_theta.std(0), scale, rtol=0.03)


def test_sir_counts_follow_the_epidemic_curve():
    # beta = 0.5, gamma = 0.1 (R0 = 5): one wave, sampled on days 0, 17, ..., 153
    x = fixed_theta_draws("sir", [0.5, 0.1], 2000)
    assert np.all(x == np.round(x)) and x.min() >= 0 and x.max() <= 1000
    expected = x.mean(0)
    assert expected[0] < 0.01 and expected[1] < expected[2]  # I(0) / N = 1e-6, then growth
    assert np.all(np.diff(expected[2:8]) < 0)  # past the peak the wave only recedes
    # the exact SIR peak of I / N is 1 - (1 + log R0) / R0 = 0.478: no sampled day above it
    assert expected.max() / 1000 <= 1 - (1 + math.log(5)) / 5
    p = expected / 1000
    np.testing.assert_allclose(x.var(0)[2:5], (1000 * p * (1 - p))[2:5], rtol=0.15)


def test_lotka_volterra_conserves_its_invariant_between_the_noise():
    # V = delta u - gamma log u + beta v - alpha log v is constant along the exact solution
    alpha, beta, gamma, delta = 0.8, 0.05, 0.9, 0.06
    x = fixed_theta_draws("lotka_volterra", [alpha, beta, gamma, delta], 2000)
    u, v = np.exp(np.log(x).mean(0)).reshape(2, 10)  # the noise is symmetric in log: the solve
    invariant = delta * u - gamma * np.log(u) + beta * v - alpha * np.log(v)
    np.testing.assert_allclose(invariant, invariant[0], atol=0.04)  # log-mean s.e. 0.002
    np.testing.assert_allclose([u[0], v[0]], [30.0, 1.0], rtol=0.01)
    np.testing.assert_allclose(np.log(x).std(0), 0.1, rtol=0.08)


NEW_TASKS = [
    "gaussian_linear_uniform",
    "gaussian_mixture",
    "slcp",
    "bernoulli_glm",
    "sir",
    "lotka_volterra",
]


@needs_sbibm
@pytest.mark.parametrize("name", NEW_TASKS)
def test_benchmark_files_load_with_the_task_shapes_inside_the_prior(name):
    task = tff.datasets.sbi_task(name)
    for number in (1, 10):
        assert task.observation(number).shape == (task.x_size,)
        theta = task.true_parameters(number)
        assert theta.shape == (task.theta_size,)
        reference = task.reference_samples(number)
        assert reference.shape == (10000, task.theta_size)
        assert np.all(np.isfinite(task.prior.log_prob(reference).numpy()))
        assert np.isfinite(task.prior.log_prob(theta[None]).numpy()[0])
        if name in BOXES:
            assert np.all(np.abs(reference) <= BOXES[name])


@needs_sbibm
def test_benchmark_files_agree_with_the_new_simulators():
    # gaussian_linear_uniform: the posterior is N(x, 0.1 I) truncated to the box
    linear = tff.datasets.sbi_task("gaussian_linear_uniform")
    observation = linear.observation(3).astype(np.float64)
    exact = tfd.TruncatedNormal(observation, math.sqrt(0.1), -1.0, 1.0)
    reference = linear.reference_samples(3)
    np.testing.assert_allclose(reference.mean(0), exact.mean(), atol=0.015)
    np.testing.assert_allclose(reference.var(0), exact.variance(), atol=0.005)
    # gaussian_mixture: half the posterior mass within 0.3 of x (observation 6, far from edges)
    mixture = tff.datasets.sbi_task("gaussian_mixture")
    near = np.linalg.norm(mixture.reference_samples(6) - mixture.observation(6), axis=1) < 0.3
    assert abs(near.mean() - 0.5 * (2 - math.exp(-4.5) - math.exp(-0.045))) < 0.02
    # slcp: the 40 observed points' Mahalanobis distances under the true parameters ~ chi^2_2
    slcp = tff.datasets.sbi_task("slcp")
    distances = []
    for number in range(1, 11):
        theta = slcp.true_parameters(number).astype(np.float64)
        s1, s2, rho = theta[2] ** 2, theta[3] ** 2, np.tanh(theta[4])
        covariance = [[s1**2, rho * s1 * s2], [rho * s1 * s2, s2**2]] + 1e-6 * np.eye(2)
        residual = slcp.observation(number).reshape(4, 2) - theta[:2]
        distances += list(np.einsum("ij,jk,ik->i", residual, np.linalg.inv(covariance), residual))
    assert 1.3 < np.mean(distances) < 2.7  # mean 2, s.e. 0.32
    # bernoulli_glm: each observation is X^T y of its recorded spike train
    glm = tff.datasets.sbi_task("bernoulli_glm")
    design = bernoulli_glm_design_matrix()
    for number in range(1, 11):
        relative = f"num_observation_{number}/observation_raw.csv"
        spikes = np.loadtxt(
            tff.datasets.sbibm_file("bernoulli_glm", relative), delimiter=",", skiprows=1
        )
        np.testing.assert_allclose(glm.observation(number), design.T @ spikes, atol=1e-4)


@needs_sbibm
@pytest.mark.slow
def test_ode_solves_agree_with_the_benchmark_observations():
    # sbibm solved these ODEs with DifferentialEquations.jl: our solve at the true parameters
    # leaves the observations' own noise, log-normal sd 0.1 (LV) and binomial (SIR)
    volterra = tff.datasets.sbi_task("lotka_volterra")
    sir = tff.datasets.sbi_task("sir")
    residuals, z = [], []
    for number in range(1, 11):
        draws = fixed_theta_draws("lotka_volterra", volterra.true_parameters(number), 500, number)
        residuals.append(np.log(volterra.observation(number)) - np.log(draws).mean(0))
        expected = fixed_theta_draws("sir", sir.true_parameters(number), 500, number).mean(0)
        counts, kept = sir.observation(number), expected >= 5
        p = expected[kept] / 1000
        z.extend((counts[kept] - expected[kept]) / np.sqrt(1000 * p * (1 - p)))
    residuals = np.concatenate(residuals)
    assert abs(residuals.std() - 0.1) < 0.015 and abs(residuals.mean()) < 0.02  # 200 values
    assert len(z) > 30 and 0.7 < np.std(z) < 1.4 and abs(np.mean(z)) < 0.4


@needs_sbibm
def test_bernoulli_glm_design_matrix_is_the_benchmark_file():
    # a legacy torch file: pickled header, then the float32 storage of the 100 x 10 matrix last
    payload = tff.datasets.sbibm_file("bernoulli_glm", "design_matrix.pt").read_bytes()
    stored = np.frombuffer(payload[-4000:], "<f4").reshape(100, 10)
    np.testing.assert_array_equal(stored, bernoulli_glm_design_matrix())


@pytest.mark.slow  # a training run: 9-15 s on 2 shared cores
def test_npe_on_a_box_prior_task_never_samples_outside_the_box():
    task = tff.datasets.sbi_task("gaussian_linear_uniform")
    theta, x = task.sample_pairs(1000, seed=0)

    def flow(event_size, context_size):
        return tff.nsf(
            event_size, num_layers=2, hidden_units=(32,), bins=4, context_size=context_size
        )

    # all 300 steps at the full rate (no early stopping and no cut back to the best weights: on
    # these 900 pairs the validation optimum is near step 45, before the walls show in every
    # coordinate)
    posterior = tff.inference.npe(
        theta,
        x,
        prior=task.prior,
        flow=flow,
        steps=300,
        patience=None,
        lr_patience=None,
        seed=0,
        jit_compile=False,
    )
    # x at the walls: the exact posterior N(x, 0.1 I) cut to the box has a mean of +-0.71 and
    # would put 44 % of each coordinate beyond the box without the cut
    x_obs = np.array([0.95, -0.95] * 5, np.float32)
    draws = posterior.sample(20000, x_obs, seed=1).numpy()
    assert np.all(np.abs(draws) <= 1.0) and np.all(np.isfinite(draws))
    assert np.all(np.mean(draws * np.sign(x_obs), axis=0) > 0.3)  # learned: pushed to the walls
    assert np.mean(np.abs(draws) > 0.8) > 0.25  # the prior's share there is 0.2
    assert np.all(np.isfinite(posterior.log_prob(draws[:100], x_obs).numpy()))


def test_rk4_is_fourth_order_and_refuses_empty_grids():
    from tfp_flows.datasets.ode import rk4_saves

    def error(step):
        saves = rk4_saves(lambda u: -u, tf.constant([1.0], tf.float64), step, round(1 / step), 2)
        return abs(float(saves[1, 0]) - math.exp(-1))

    assert 14 < error(0.1) / error(0.05) < 18  # 2^4 = 16
    with pytest.raises(ValueError, match="steps_per_save >= 1 and num_saves >= 1, got 0 and 3"):
        rk4_saves(lambda u: -u, tf.constant([1.0]), 0.1, 0, 3)


@pytest.mark.parametrize("name", ["two_moons", "gaussian_linear", "gaussian_mixture", "slcp"])
def test_simulators_refuse_theta_of_another_width_instead_of_simulating_it(name):
    # the simulators index theta's columns: a wider theta was simulated from its first columns,
    # a narrower one (gaussian_*) gave x of its own width, a vector without a batch axis gave rows
    task = tff.datasets.sbi_task(name)
    d = task.theta_size
    for width in (d + 1, d - 1):
        shape = rf"\[3, {width}\]"
        with pytest.raises(
            ValueError, match=rf"expected theta of shape \[n, {d}\], got shape {shape}"
        ):
            task.simulator(np.zeros([3, width]), tf.constant([1, 2]))
    with pytest.raises(
        ValueError, match=rf"got shape \[{d}\]; one parameter vector: pass theta\[None\]"
    ):
        task.simulator(np.zeros([d]), tf.constant([1, 2]))
    # an int seed and a float64 theta are what the stateless [2] seed and float32 would give
    theta = tf.zeros([4, d], tf.float64)
    np.testing.assert_array_equal(
        task.simulator(theta, 3), task.simulator(tf.zeros([4, d]), tff.stateless_seed(3))
    )
