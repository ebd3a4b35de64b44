"""The SBI benchmark's tasks: simulators against the benchmark's own observations, file reader."""

import importlib.metadata
import math

import numpy as np
import pytest

import tfp_flows as tff

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
    with pytest.raises(ValueError, match="unknown SBI task 'slcp'; expected one of"):
        tff.datasets.sbi_task("slcp")
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
