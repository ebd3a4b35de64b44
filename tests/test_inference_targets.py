"""Posteriors with ground truth (tff.datasets.inference): exact moments and densities."""

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_probability import distributions as tfd

from tfp_flows import datasets

N = 400_000


def _monte_carlo(target, seed):
    draws = target.model.sample(N, seed=seed)
    return (tf.nest.map_structure(lambda d: np.mean(d.numpy().astype(np.float64), axis=0), draws),
            tf.nest.map_structure(lambda d: np.std(d.numpy().astype(np.float64), axis=0), draws),
            draws)


@pytest.mark.parametrize("build", [
    datasets.banana_posterior,
    lambda: datasets.neals_funnel(dims=4),
    lambda: datasets.ill_conditioned_gaussian(dims=6, condition_number=1e3),
], ids=["banana", "funnel", "ill_conditioned"])
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
    expected = (tfd.Normal(np.float64(0), 4.0).log_prob(x2)
                + tfd.Normal(x2 ** 2 / 4, 1.0).log_prob(x1))
    np.testing.assert_allclose(banana.model.log_prob({"x1": x1, "x2": x2}), expected, rtol=1e-12)
    funnel = datasets.neals_funnel(dims=3, dtype=tf.float64)
    v, x = np.float64(1.5), np.array([0.2, -2.0])
    expected = (-0.5 * (v / 3) ** 2 - np.log(3 * np.sqrt(2 * np.pi))
                + np.sum(-0.5 * x ** 2 / np.exp(v) - 0.5 * v - 0.5 * np.log(2 * np.pi)))
    np.testing.assert_allclose(funnel.model.log_prob({"v": v, "x": x}), expected, rtol=1e-12)


def test_the_ill_conditioned_gaussian_has_the_stated_spectrum():
    target = datasets.ill_conditioned_gaussian(dims=10, condition_number=1e4, dtype=tf.float64)
    covariance = target.model.model["x"].covariance().numpy()
    eigenvalues = np.sort(np.linalg.eigvalsh(covariance))
    np.testing.assert_allclose(eigenvalues, 1e4 ** (np.arange(10) / 9 - 0.5), rtol=1e-8)
    np.testing.assert_allclose(target.stddev["x"], np.sqrt(np.diag(covariance)), rtol=1e-12)
    assert not np.allclose(covariance, np.diag(np.diag(covariance)))  # rotated, not diagonal


def test_standardized_errors_and_bad_arguments():
    target = datasets.neals_funnel(dims=3)
    errors = target.standardized_errors({"v": 0.3, "x": [0.0, 9.4877]},
                                        {"v": 3.0, "x": [0.0, 9.4877]})
    np.testing.assert_allclose(errors["mean"]["v"], 0.1, rtol=1e-6)
    np.testing.assert_allclose(errors["mean"]["x"], [0.0, 1.0], rtol=1e-4)
    np.testing.assert_allclose(errors["stddev"]["x"], [1.0, 0.0], atol=1e-4)
    with pytest.raises(ValueError, match="dims must be"):
        datasets.neals_funnel(dims=1)
    with pytest.raises(ValueError, match="condition_number must be a finite number >= 1"):
        datasets.ill_conditioned_gaussian(condition_number=0.5)
