"""``tfp_flows.evaluation.metrics`` against closed forms."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_flows import datasets
from tfp_flows.evaluation import metrics

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


@pytest.mark.slow
def test_nll_is_batched_without_changing_the_value():
    p = tfd.MultivariateNormalDiag(loc=[0.0, 0.0])
    x = np.random.default_rng(0).normal(size=(1000, 2))
    assert metrics.nll(p, x, batch_size=7) == pytest.approx(metrics.nll(p, x), rel=1e-6)


def _conditional_flow():
    import tfp_flows as tff
    from tfp_flows import testing

    flow = tff.real_nvp(2, num_layers=1, hidden_units=(8,), context_size=1)
    testing.perturb_weights(flow, scale=0.3, seed=2)
    return flow


@pytest.mark.parametrize("batch_size", [128, 100, 65536])
def test_nll_refuses_a_context_with_another_number_of_rows_whatever_the_batch_size(batch_size):
    flow = _conditional_flow()
    rng = np.random.default_rng(0)
    x, context = rng.normal(size=[256, 2]), rng.normal(size=[128, 1])
    with pytest.raises(
        ValueError,
        match=r"context of shape \[128, 1\] does not broadcast "
        r"against points of shape \[256, 2\]",
    ):
        metrics.nll(flow, x, context=context, batch_size=batch_size)


def test_nll_pairs_each_point_with_its_own_context_row_across_batches():
    flow = _conditional_flow()
    rng = np.random.default_rng(1)
    x, context = rng.normal(size=[50, 2]), rng.normal(size=[50, 1])
    exact = -float(np.mean(flow.log_prob(x, context=context)))
    for batch_size in (7, 50, 1000):
        assert metrics.nll(flow, x, context=context, batch_size=batch_size) == pytest.approx(
            exact, rel=1e-6
        )
    one = -float(np.mean(flow.log_prob(x, context=[0.3])))
    assert metrics.nll(flow, x, context=[[0.3]], batch_size=7) == pytest.approx(one, rel=1e-6)


def test_bits_per_dim_refuses_a_context_with_another_number_of_rows():
    flow = tfd.Sample(tfd.Uniform(0.0, 1.0), 4)
    images = np.zeros([6, 4], np.int32)
    with pytest.raises(
        ValueError,
        match=r"context of shape \[3, 1\] does not broadcast "
        r"against points of shape \[6, 4\]",
    ):
        metrics.bits_per_dim(flow, images, context=np.zeros([3, 1]), batch_size=3)


@pytest.mark.parametrize("n", [1, 0])
def test_kl_gap_needs_two_samples_for_its_standard_error(n):
    p = tfd.MultivariateNormalDiag([0.0, 0.0])
    with pytest.raises(ValueError, match=f"n must be an integer >= 2, got {n}"):
        metrics.kl_gap(p, p, n=n)
    with pytest.raises(ValueError, match=f"n must be an integer >= 2, got {n}"):
        metrics.conditional_kl_gap(
            _conditional_flow(), datasets.ConditionalBanana(), context=[0.2], n=n
        )


def test_every_seeded_metric_gives_the_same_numbers_twice_for_a_plain_tfp_target():
    from tfp_flows import estimate_moments

    target = tfd.MultivariateNormalDiag([1.0, -0.5], [1.5, 0.7])
    model = tfd.MultivariateNormalDiag([0.0, 0.0])
    for seed in (0, 7, [3, 4]):
        assert metrics.kl_gap(model, target, n=500, seed=seed) == metrics.kl_gap(
            model, target, n=500, seed=seed
        )
        first, second = (estimate_moments(target, 300, seed=seed, batch_size=100) for _ in range(2))
        np.testing.assert_array_equal(first.mean, second.mean)
    assert metrics.kl_gap(model, target, n=500, seed=0) != metrics.kl_gap(
        model, target, n=500, seed=1
    )


def test_kl_gap_scores_a_float64_model_against_a_float32_target():
    target = tfd.MultivariateNormalDiag([0.0, 0.0], [1.0, 2.0])
    loc, scale = [0.5, -1.0], [1.5, 1.0]
    model32 = tfd.MultivariateNormalDiag(loc, scale)
    model64 = tfd.MultivariateNormalDiag(np.array(loc), np.array(scale))
    gap32, gap64 = (metrics.kl_gap(m, target, n=20_000, seed=2) for m in (model32, model64))
    assert gap64.mean == pytest.approx(gap32.mean, abs=1e-5)
    exact = float(tfd.kl_divergence(target, model32))
    assert abs(gap64.mean - exact) < 4 * gap64.stderr


def test_kl_gap_explains_a_target_without_log_prob():
    class SamplesOnly:
        def sample(self, n, seed=None):
            return tf.zeros([n, 2])

    model = tfd.MultivariateNormalDiag([0.0, 0.0])
    with pytest.raises(
        TypeError,
        match="kl_gap needs a target with an exact density: sample "
        "and log_prob methods .* got SamplesOnly, which has no "
        "log_prob",
    ):
        metrics.kl_gap(model, SamplesOnly(), n=10)
