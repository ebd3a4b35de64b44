"""``tfp_flows.metrics`` against closed forms."""

import numpy as np
import pytest
import tensorflow_probability as tfp

from tfp_flows import datasets, metrics

tfd = tfp.distributions


def test_kl_gap_matches_the_closed_form_kl_of_two_gaussians():
    p = tfd.MultivariateNormalDiag(loc=[0.0, 0.0], scale_diag=[1.0, 2.0])
    q = tfd.MultivariateNormalDiag(loc=[0.5, -1.0], scale_diag=[1.5, 1.0])
    exact = float(tfd.kl_divergence(p, q))
    gap = metrics.kl_gap(q, p, n=50_000, seed=1)
    assert abs(gap.mean - exact) < 4 * gap.stderr + 1e-3
    assert 0 < gap.stderr < 0.05


def test_kl_gap_equals_test_nll_minus_entropy_on_the_same_samples():
    target = datasets.Banana()
    model = tfd.MultivariateNormalDiag(loc=[4.0, 0.0], scale_diag=[6.0, 4.0])
    x = target.sample(20_000, seed=3)
    gap = metrics.kl_gap(model, target, n=20_000, seed=3)
    nll_model = metrics.nll(model, x)
    nll_target = metrics.nll(target, x)
    assert gap.mean == pytest.approx(nll_model - nll_target, abs=1e-4)
    assert nll_target == pytest.approx(float(target.entropy()), abs=4 * 1.4 / np.sqrt(20_000))


def test_nll_is_batched_without_changing_the_value():
    p = tfd.MultivariateNormalDiag(loc=[0.0, 0.0])
    x = np.random.default_rng(0).normal(size=(1000, 2))
    assert metrics.nll(p, x, batch_size=7) == pytest.approx(metrics.nll(p, x), rel=1e-6)
