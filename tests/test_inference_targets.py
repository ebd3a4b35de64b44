"""Posteriors with ground truth (tff.datasets.inference): exact moments and densities."""

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_probability import distributions as tfd

from tfp_flows import datasets

N = 400_000


def _monte_carlo(target, seed):
    draws = target.model.sample(N, seed=seed)
    return (
        tf.nest.map_structure(lambda d: np.mean(d.numpy().astype(np.float64), axis=0), draws),
        tf.nest.map_structure(lambda d: np.std(d.numpy().astype(np.float64), axis=0), draws),
        draws,
    )


@pytest.mark.parametrize(
    "build",
    [
        datasets.banana_posterior,
        lambda: datasets.neals_funnel(dims=4),
        lambda: datasets.ill_conditioned_gaussian(dims=6, condition_number=1e3),
    ],
    ids=["banana", "funnel", "ill_conditioned"],
)
def test_the_stated_moments_are_those_of_the_model(build):
    """Sample moments of the model against the stated truth, within Monte Carlo error.

    The funnel's x has heavy tails (sd e^(9/4) from a mixture of scales), so its standard
    deviation is checked through E[x^2] = E[e^v] with v's own draws instead."""
    target = build()
    mean, stddev, draws = _monte_carlo(target, seed=[3, 4])
    for name in target.mean:
        true_mean, true_std = target.mean[name].numpy(), target.stddev[name].numpy()
        if target.name == "funnel" and name == "x":
            v = draws["v"].numpy().astype(np.float64)
            np.testing.assert_allclose(np.sqrt(np.mean(np.exp(v))), true_std, rtol=0.05)
            continue
        np.testing.assert_allclose(mean[name], true_mean, atol=5 * np.max(true_std) / np.sqrt(N))
        np.testing.assert_allclose(stddev[name], true_std, rtol=0.02)


def test_the_densities_are_the_stated_formulas():
    banana = datasets.banana_posterior(tf.float64)
    x1, x2 = np.array([0.3, 5.0]), np.array([-1.0, 4.0])
    expected = tfd.Normal(np.float64(0), 4.0).log_prob(x2) + tfd.Normal(x2**2 / 4, 1.0).log_prob(x1)
    np.testing.assert_allclose(banana.model.log_prob({"x1": x1, "x2": x2}), expected, rtol=1e-12)
    funnel = datasets.neals_funnel(dims=3, dtype=tf.float64)
    v, x = np.float64(1.5), np.array([0.2, -2.0])
    expected = (
        -0.5 * (v / 3) ** 2
        - np.log(3 * np.sqrt(2 * np.pi))
        + np.sum(-0.5 * x**2 / np.exp(v) - 0.5 * v - 0.5 * np.log(2 * np.pi))
    )
    np.testing.assert_allclose(funnel.model.log_prob({"v": v, "x": x}), expected, rtol=1e-12)


def test_the_ill_conditioned_gaussian_has_the_stated_spectrum():
    target = datasets.ill_conditioned_gaussian(dims=10, condition_number=1e4, dtype=tf.float64)
    x = tf.constant(np.linspace(-1.0, 2.0, 10), tf.float64)
    with tf.GradientTape() as outer:  # the log-density is quadratic: its Hessian is -Sigma^{-1}
        outer.watch(x)
        with tf.GradientTape() as inner:
            inner.watch(x)
            log_prob = target.model.log_prob({"x": x})
        gradient = inner.gradient(log_prob, x)
    covariance = np.linalg.inv(-outer.jacobian(gradient, x).numpy())
    gaussian = tfd.MultivariateNormalTriL(tf.zeros(10, tf.float64), np.linalg.cholesky(covariance))
    np.testing.assert_allclose(log_prob, gaussian.log_prob(x), rtol=1e-10)  # normalised
    # A surrogate works in the model's event space: it must be x itself, not the whitened z.
    event_space = target.model.experimental_default_event_space_bijector()
    np.testing.assert_array_equal(event_space.forward({"x": x})["x"], x)
    eigenvalues = np.sort(np.linalg.eigvalsh(covariance))
    np.testing.assert_allclose(eigenvalues, 1e4 ** (np.arange(10) / 9 - 0.5), rtol=1e-8)
    np.testing.assert_allclose(target.stddev["x"], np.sqrt(np.diag(covariance)), rtol=1e-12)
    assert not np.allclose(covariance, np.diag(np.diag(covariance)))  # rotated, not diagonal


def test_standardized_errors_and_bad_arguments():
    target = datasets.neals_funnel(dims=3)
    errors = target.standardized_errors(
        {"v": 0.3, "x": [0.0, 9.4877]}, {"v": 3.0, "x": [0.0, 9.4877]}
    )
    np.testing.assert_allclose(errors["mean"]["v"], 0.1, rtol=1e-6)
    np.testing.assert_allclose(errors["mean"]["x"], [0.0, 1.0], rtol=1e-4)
    np.testing.assert_allclose(errors["stddev"]["x"], [1.0, 0.0], atol=1e-4)
    with pytest.raises(ValueError, match="dims must be"):
        datasets.neals_funnel(dims=1)
    with pytest.raises(ValueError, match=r"condition_number must be a number in \[1, 8.39e\+06\]"):
        datasets.ill_conditioned_gaussian(condition_number=0.5)


def test_a_condition_number_that_is_no_number_or_beyond_the_dtype_is_refused_naming_the_range():
    with pytest.raises(TypeError, match=r"condition_number must be a number in \[1, .*got '1e4'"):
        datasets.ill_conditioned_gaussian(dims=4, condition_number="1e4")
    with pytest.raises(
        ValueError, match=r"\[1, 8.39e\+06\].*float64 allows up to 4.5e\+15.*1e\+80"
    ):
        datasets.ill_conditioned_gaussian(dims=4, condition_number=1e80)
    with pytest.raises(ValueError, match=r"\[1, 4.5e\+15\].*got 1e\+20"):
        datasets.ill_conditioned_gaussian(dims=4, condition_number=1e20, dtype=tf.float64)
    with pytest.raises(ValueError, match="condition_number"):
        datasets.ill_conditioned_gaussian(dims=4, condition_number=float("nan"))
    # a value within the float64 range still gives a finite density
    target = datasets.ill_conditioned_gaussian(dims=4, condition_number=1e12, dtype=tf.float64)
    assert np.isfinite(float(target.model.log_prob({"x": tf.ones(4, tf.float64)})))


# --- Eight Schools ----------------------------------------------------------------------------

EIGHT_SCHOOLS_PARTS = ["avg_effect", "school_effects_standard", "stddev"]


def _log_normal_density(x, loc, scale):
    return -0.5 * ((x - loc) / scale) ** 2 - np.log(scale) - 0.5 * np.log(2 * np.pi)


def _eight_schools_quadrature_moments():
    """Posterior moments of Eight Schools by quadrature over u = log(stddev), written from scratch.

    Given tau = stddev, the model is linear-Gaussian: with v_i = sigma_i^2 + tau^2,
    avg_effect | tau, y ~ N(m, 1/P), P = 1/100 + sum 1/v_i, m = sum(y_i / v_i) / P, and
    p(y | tau) ~ prod v_i^(-1/2) P^(-1/2) exp(-(sum y_i^2 / v_i - P m^2) / 2). Given (avg, tau),
    z_i = school_effects_standard_i ~ N(tau (y_i - avg) / v_i, sigma_i^2 / v_i) and the centred
    theta_i ~ N((tau^2 y_i + sigma_i^2 avg) / v_i, sigma_i^2 tau^2 / v_i). The posterior of u is
    p(y | e^u) N(u; 5, 1) (the LogNormal prior with its Jacobian); a uniform grid on u (trapezoid
    rule, spectrally accurate for this smooth, Gaussian-tailed integrand) averages the conditional
    moments."""
    y = np.array([28, 8, -3, 7, -1, 1, 18, 12], np.float64)
    sigma = np.array([15, 10, 16, 11, 9, 11, 10, 18], np.float64)
    u = np.linspace(-12.0, 12.0, 20001)
    tau = np.exp(u)[:, None]
    v = sigma**2 + tau**2
    precision = 1 / 100 + np.sum(1 / v, axis=1)
    m = np.sum(y / v, axis=1) / precision
    log_weight = (
        -0.5 * np.sum(np.log(v), axis=1)
        - 0.5 * np.log(precision)
        - 0.5 * (np.sum(y**2 / v, axis=1) - precision * m**2)
        - 0.5 * (u - 5) ** 2
    )
    weight = np.exp(log_weight - log_weight.max())
    weight /= weight.sum()

    def expect(value):
        return np.tensordot(weight, value, axes=1)

    def moments(first, second):  # E[x] and sd[x] from E[x | tau] and E[x^2 | tau]
        mean = expect(first)
        return mean, np.sqrt(expect(second) - mean**2)

    residual = y - m[:, None]
    theta = (tau**2 * y + sigma**2 * m[:, None]) / v
    return {
        "avg_effect": moments(m, 1 / precision + m**2),
        "stddev": moments(tau[:, 0], tau[:, 0] ** 2),
        "school_effects_standard": moments(
            tau * residual / v,
            sigma**2 / v + tau**2 * (1 / precision[:, None] + residual**2) / v**2,
        ),
        "school_effects": moments(
            theta, sigma**2 * tau**2 / v + (sigma**2 / v) ** 2 / precision[:, None] + theta**2
        ),
    }


def test_eight_schools_log_prob_is_the_stated_formula():
    model = datasets.eight_schools(tf.float64).model
    y = np.array([28, 8, -3, 7, -1, 1, 18, 12], np.float64)
    sigma = np.array([15, 10, 16, 11, 9, 11, 10, 18], np.float64)
    avg, tau = np.array([5.0, -3.0]), np.array([10.0, 0.7])
    z = np.random.default_rng(0).standard_normal([2, 8])
    expected = (
        _log_normal_density(avg, 0.0, 10.0)
        + _log_normal_density(np.log(tau), 5.0, 1.0)
        - np.log(tau)
        + np.sum(_log_normal_density(z, 0.0, 1.0), axis=1)
        + np.sum(_log_normal_density(y, avg[:, None] + tau[:, None] * z, sigma), axis=1)
    )
    point = {"avg_effect": avg, "stddev": tau, "school_effects_standard": z}
    np.testing.assert_allclose(model.unnormalized_log_prob(point), expected, rtol=1e-12)


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
def test_eight_schools_structure_dtypes_and_support(dtype):
    target = datasets.eight_schools(dtype)
    assert target.name == "eight_schools"
    assert sorted(target.model.event_shape) == EIGHT_SCHOOLS_PARTS
    assert target.model.event_shape["school_effects_standard"] == [8]
    for moments in (
        target.mean,
        target.stddev,
        target.mean_standard_error,
        target.stddev_standard_error,
    ):
        assert sorted(moments) == EIGHT_SCHOOLS_PARTS
        assert all(value.dtype == dtype for value in moments.values())
        assert moments["school_effects_standard"].shape == [8] and moments["stddev"].shape == []
    draw = target.model.sample_unpinned(3, seed=[5, 6])
    assert all(draw[name].dtype == dtype for name in EIGHT_SCHOOLS_PARTS)
    bijector = target.model.experimental_default_event_space_bijector()
    unconstrained = {
        "avg_effect": tf.constant([0.0, 1.0], dtype),
        "stddev": tf.constant([-40.0, 3.0], dtype),
        "school_effects_standard": tf.zeros([2, 8], dtype),
    }
    constrained = bijector(unconstrained)
    assert np.all(constrained["stddev"].numpy() > 0)
    np.testing.assert_allclose(constrained["stddev"], np.exp([-40.0, 3.0]), rtol=1e-6)
    np.testing.assert_allclose(bijector.inverse(constrained)["stddev"], [-40.0, 3.0], rtol=1e-6)
    assert np.all(np.isfinite(target.model.unnormalized_log_prob(constrained)))
    with pytest.raises(TypeError, match="eight_schools supports dtypes float32 and float64"):
        datasets.eight_schools(tf.float16)


def test_eight_schools_reference_moments_agree_with_quadrature():
    """The stored NUTS moments against an exact quadrature, within 4.5 Monte Carlo standard errors;
    the standard errors are small enough (<= 0.02 posterior sd) to judge a 0.1-sd error."""
    from tfp_flows.datasets.eight_schools import REFERENCE_MOMENTS, REFERENCE_RUN

    truth = _eight_schools_quadrature_moments()
    for name, (mean, stddev) in truth.items():
        for key, exact in (("mean", mean), ("stddev", stddev)):
            stored = np.asarray(REFERENCE_MOMENTS[key][name])
            error = np.asarray(REFERENCE_MOMENTS[f"{key}_standard_error"][name])
            assert np.all(error > 0) and np.all(error <= 0.02 * stddev), (name, key, error)
            np.testing.assert_array_less(np.abs(stored - exact), 4.5 * error, err_msg=name + key)
    assert REFERENCE_RUN["max_r_hat"] < 1.01
    target = datasets.eight_schools(tf.float64)
    for key in ("mean", "stddev", "mean_standard_error", "stddev_standard_error"):
        for name in EIGHT_SCHOOLS_PARTS:
            np.testing.assert_array_equal(getattr(target, key)[name], REFERENCE_MOMENTS[key][name])


@pytest.mark.slow
def test_eight_schools_reference_runs_at_tiny_size():
    from tfp_flows.datasets.eight_schools_reference import eight_schools_reference

    run = eight_schools_reference(num_chains=2, num_draws=30, num_burnin_steps=20, seed=3)
    names = sorted(EIGHT_SCHOOLS_PARTS + ["school_effects"])
    for key in (
        "mean",
        "stddev",
        "mean_standard_error",
        "stddev_standard_error",
        "r_hat",
        "effective_sample_size",
    ):
        values = getattr(run, key)
        assert sorted(values) == names, key
        assert values["stddev"].shape == () and values["school_effects"].shape == (8,)
        assert all(np.all(np.isfinite(value)) for value in values.values()), key
    assert run.mean["stddev"] > 0 and run.step_size > 0 and run.mean_leapfrogs >= 1
    namespace = {}
    exec(run.to_source(), namespace)  # the printed constants are valid Python with every moment
    np.testing.assert_allclose(
        namespace["REFERENCE_MOMENTS"]["mean"]["school_effects"],
        run.mean["school_effects"],
        rtol=1e-5,
    )
    assert namespace["REFERENCE_RUN"]["num_draws"] == 30
    with pytest.raises(ValueError, match="num_chains must be an integer >= 2, got 1"):
        eight_schools_reference(num_chains=1)


def test_centred_school_effects_and_default_standard_errors():
    from tfp_flows.datasets.eight_schools import centred_school_effects

    sample = {
        "avg_effect": np.array([1.0, -2.0]),
        "stddev": np.array([2.0, 0.5]),
        "school_effects_standard": np.arange(16.0).reshape(2, 8),
    }
    np.testing.assert_allclose(
        centred_school_effects(sample),
        [1.0 + 2.0 * np.arange(8.0), -2.0 + 0.5 * np.arange(8.0, 16.0)],
    )
    with pytest.raises(KeyError, match="missing \\['stddev'\\]"):
        centred_school_effects({"avg_effect": 0.0, "school_effects_standard": np.zeros(8)})
    banana = datasets.banana_posterior()  # exact targets: standard errors default to zero
    assert sorted(banana.mean_standard_error) == ["x1", "x2"]
    assert all(float(value) == 0.0 for value in banana.stddev_standard_error.values())
