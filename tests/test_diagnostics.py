"""Calibration diagnostics: the benchmark's C2ST and SBC ranks with simultaneous ECDF bands."""

import numpy as np
import pytest

import tfp_flows as tff


@pytest.mark.slow
def test_c2st_is_half_for_one_distribution_and_one_for_disjoint_ones():
    rng = np.random.default_rng(0)
    reference = rng.normal(size=(1000, 2))
    assert abs(tff.diagnostics.c2st(reference, rng.normal(size=(1000, 2))) - 0.5) < 0.05
    assert tff.diagnostics.c2st(reference, rng.normal(10.0, 1.0, size=(1000, 2))) > 0.99


@pytest.mark.slow
def test_c2st_z_scores_by_the_reference():
    # z-scoring makes the score invariant to a common affine change of units
    rng = np.random.default_rng(1)
    reference, samples = rng.normal(size=(400, 2)), rng.normal(0.3, 1.2, size=(400, 2))
    scale = np.array([1000.0, 0.001])
    np.testing.assert_allclose(
        tff.diagnostics.c2st(reference * scale + 5.0, samples * scale + 5.0),
        tff.diagnostics.c2st(reference, samples),
        atol=1e-6,
    )


def test_c2st_refuses_bad_inputs():
    with pytest.raises(ValueError, match=r"same width d, got shapes \[5, 2\] and \[5, 3\]"):
        tff.diagnostics.c2st(np.zeros([5, 2]), np.zeros([5, 3]))
    with pytest.raises(ValueError, match="samples must be finite"):
        tff.diagnostics.c2st(np.ones([5, 2]), np.full([5, 2], np.nan))
    with pytest.raises(ValueError, match=r"column\(s\) \[1\] are constant"):
        tff.diagnostics.c2st(np.c_[np.arange(5.0), np.ones(5)], np.zeros([5, 2]))
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="at least 3 samples in each set for 5 folds.*got 2"):
        tff.diagnostics.c2st(rng.normal(size=(2, 2)), rng.normal(size=(2, 2)))
    with pytest.raises(ValueError, match="n_folds must be an integer of at least 2, got 1"):
        tff.diagnostics.c2st(rng.normal(size=(9, 2)), rng.normal(size=(9, 2)), n_folds=1)


def test_c2st_refuses_sets_of_unequal_sizes():
    # 200 reference samples against 20 scored 0.91 for the same distribution: the classifier's
    # chance accuracy is max(n, m) / (n + m), so 0.5 no longer means a perfect approximation
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="got 200 reference and 20 samples.*reference\\[:20\\]"):
        tff.diagnostics.c2st(rng.normal(size=(200, 2)), rng.normal(size=(20, 2)))


class _Exact:
    """A posterior that is exact: theta ~ N(0, 1), x ~ N(theta, 1) gives N(x / 2, 1 / 2)."""

    def __init__(self, scale=np.sqrt(0.5)):
        self.scale = scale

    def sample(self, n, x_obs, seed=0):
        rng = np.random.default_rng(seed)
        return np.asarray(x_obs) / 2 + self.scale * rng.normal(size=(n, 1))


def test_sbc_passes_an_exact_posterior_and_fails_an_overconfident_one():
    rng = np.random.default_rng(2)
    theta = rng.normal(size=(400, 1))
    x = theta + rng.normal(size=(400, 1))
    _, good = tff.diagnostics.sbc(_Exact(), theta, x, num_posterior_samples=99)
    assert good.passed and good.ecdf_difference.shape == (1, len(good.z))
    assert np.all(good.lower <= 0) and np.all(good.upper >= 0)
    ranks, bad = tff.diagnostics.sbc(_Exact(scale=0.3), theta, x, num_posterior_samples=99)
    assert not bad.passed
    assert ranks.min() >= 0 and ranks.max() <= 99


def test_ecdf_band_has_its_simultaneous_coverage():
    # uniform ranks fall outside the 95 % band in about 5 % of repetitions
    rng = np.random.default_rng(3)
    ranks = rng.integers(0, 50, size=(200, 100))  # 100 independent uniform parameters
    result = tff.diagnostics.ecdf_band_test(ranks, 49, alpha=0.05, seed=1)
    assert 0.01 <= 1 - result.inside.mean() <= 0.11


def test_ecdf_band_test_refuses_ranks_out_of_range():
    with pytest.raises(
        ValueError, match=r"ranks \[N, d\] in 0..9, got shape \[3, 1\] with values in \[0, 10\]"
    ):
        tff.diagnostics.ecdf_band_test(np.array([[0], [5], [10]]), 9)


def test_coverage_and_recovery_tell_calibrated_from_overconfident():
    rng = np.random.default_rng(4)
    theta = rng.normal(size=(600, 1))
    x = theta + rng.normal(size=(600, 1))
    good = tff.diagnostics.sbc_ranks(_Exact(), theta, x, 99)
    bad = tff.diagnostics.sbc_ranks(_Exact(scale=0.3), theta, x, 99)
    levels = [0.5, 0.9]
    np.testing.assert_allclose(
        tff.diagnostics.expected_coverage(good, 99, levels)[:, 0], levels, atol=0.05
    )
    assert np.all(
        tff.diagnostics.expected_coverage(bad, 99, levels)[:, 0] < np.array(levels) - 0.15
    )
    calibrated = tff.diagnostics.recovery(_Exact(), theta, x, prior_variance=1.0, num_samples=200)
    overconfident = tff.diagnostics.recovery(_Exact(0.3), theta, x, 1.0, num_samples=200)
    assert abs(calibrated.z_score.std() - 1.0) < 0.1 and overconfident.z_score.std() > 1.8
    np.testing.assert_allclose(calibrated.contraction.mean(), 0.5, atol=0.03)


class _ExactBatched(_Exact):
    """The same posterior, also drawing for a batch of observations (observation i: seed s + i)."""

    def __init__(self, scale=np.sqrt(0.5)):
        super().__init__(scale)
        self.batch_sizes = []

    def sample_batch(self, n, x_obs, seed=0):
        self.batch_sizes.append(len(x_obs))
        return np.stack([self.sample(n, x, seed + i) for i, x in enumerate(x_obs)])


def test_batched_draws_give_the_per_observation_results_for_any_batch_size():
    rng = np.random.default_rng(5)
    theta = rng.normal(size=(23, 1))
    x = theta + rng.normal(size=(23, 1))
    expected_ranks = tff.diagnostics.sbc_ranks(_Exact(), theta, x, 19, seed=4)
    expected = tff.diagnostics.recovery(_Exact(), theta, x, 1.0, num_samples=30, seed=4)
    for batch_size, calls in [(None, [23]), (7, [7, 7, 7, 2]), (1, [1] * 23)]:
        posterior = _ExactBatched()
        ranks = tff.diagnostics.sbc_ranks(posterior, theta, x, 19, seed=4, batch_size=batch_size)
        np.testing.assert_array_equal(ranks, expected_ranks)
        assert posterior.batch_sizes == calls
        result = tff.diagnostics.recovery(
            posterior, theta, x, 1.0, num_samples=30, seed=4, batch_size=batch_size
        )
        for field in ("mean", "std", "z_score", "contraction", "median", "lower", "upper"):
            np.testing.assert_array_equal(getattr(result, field), getattr(expected, field))
    # without batch_size, a call draws at most 100,000 points: 1000 samples -> 100 observations
    posterior = _ExactBatched()
    tff.diagnostics.recovery(posterior, np.zeros([150, 1]), np.zeros([150, 1]), 1.0, 1000)
    assert posterior.batch_sizes == [100, 50]


def test_recovery_records_truths_medians_and_intervals():
    rng = np.random.default_rng(6)
    theta = rng.normal(size=(50, 2))
    x = theta + rng.normal(size=(50, 2))
    result = tff.diagnostics.recovery(_Exact(), theta, x, [1.0, 2.0], num_samples=40, level=0.8)
    draws = np.stack([_Exact().sample(40, x[i], seed=i) for i in range(50)])
    np.testing.assert_array_equal(result.theta, theta)
    np.testing.assert_allclose(result.median, np.median(draws, axis=1))
    np.testing.assert_allclose(result.lower, np.quantile(draws, 0.1, axis=1))
    np.testing.assert_allclose(result.upper, np.quantile(draws, 0.9, axis=1))
    np.testing.assert_allclose(result.contraction[:, 1], 1 - draws.var(axis=1, ddof=1)[:, 1] / 2.0)
    assert result.level == 0.8


def test_diagnostics_refuse_bad_batches_and_draws():
    theta, x = np.zeros([4, 2]), np.zeros([4, 1])  # the posteriors draw one parameter, not 2
    with pytest.raises(ValueError, match="expected batch_size a positive int or None, got 0"):
        tff.diagnostics.sbc_ranks(_ExactBatched(), theta, x, 9, batch_size=0)
    with pytest.raises(
        ValueError, match=r"expected posterior draws of shape \[4, 9, 2\].*got shape \[4, 9, 1\]"
    ):
        tff.diagnostics.sbc_ranks(_ExactBatched(), theta, x, 9)
    with pytest.raises(
        ValueError, match=r"expected posterior draws of shape \[1, 9, 2\].*got shape \[1, 9, 1\]"
    ):
        tff.diagnostics.recovery(_Exact(), theta, x, 1.0, num_samples=9)
    with pytest.raises(
        ValueError, match=r"expected prior_variance a scalar or of shape \[1\], got shape \[3\]"
    ):
        tff.diagnostics.recovery(_Exact(), np.zeros([4, 1]), x, [1.0, 1.0, 1.0], num_samples=9)


class _NaNDraws(_Exact):
    """A posterior whose draws for observation 2 are NaN (a diverged flow)."""

    def sample(self, n, x_obs, seed=0):
        draws = super().sample(n, x_obs, seed)
        return np.full_like(draws, np.nan) if seed == 2 else draws


def test_sbc_ranks_refuse_nan_truths_and_nan_draws_instead_of_ranking_them_zero():
    # NaN compares False: unchecked, a NaN truth or NaN draws gave rank 0 or a too-low rank
    theta, x = np.zeros([4, 1]), np.zeros([4, 1])
    with pytest.raises(ValueError, match="finite values in the true parameters theta.*row 1"):
        tff.diagnostics.sbc_ranks(_Exact(), np.array([[0.0], [np.nan], [0.0], [0.0]]), x, 9)
    with pytest.raises(ValueError, match="finite values in the posterior draws.*observation 2"):
        tff.diagnostics.sbc_ranks(_NaNDraws(), theta, x, 9)
    with pytest.raises(ValueError, match="num_posterior_samples must be a positive integer"):
        tff.diagnostics.sbc_ranks(_Exact(), theta, x, 0)  # every rank 0: no test at all


def test_rank_tests_refuse_fractional_ranks_wrong_levels_and_ranks_beyond_l():
    fractional = (np.arange(10)[:, None] + 1) / 10  # fractional ranks u, not counts r
    with pytest.raises(ValueError, match="expected integer ranks.*got fractional values"):
        tff.diagnostics.ecdf_band_test(fractional, 9)
    with pytest.raises(ValueError, match=r"N, d >= 1, got int64 of shape \[0, 1\]"):
        tff.diagnostics.ecdf_band_test(np.zeros([0, 1], np.int64), 9)
    ranks = np.random.default_rng(0).integers(0, 100, size=(50, 1))
    with pytest.raises(ValueError, match=r"ranks \[N, d\] in 0..9, got shape \[50, 1\]"):
        tff.diagnostics.expected_coverage(ranks, 9)  # ranks of L = 99 read with L = 9
    with pytest.raises(ValueError, match=r"levels in \(0, 1\) \(e.g. 0.9, not 90\)"):
        tff.diagnostics.expected_coverage(ranks, 99, levels=[50, 90])  # was 1.0 for both
    with pytest.raises(ValueError, match=r"ranks \[N, d\] in 0..99 with N, d >= 1"):
        tff.diagnostics.expected_coverage(ranks[:, :, None], 99)
    np.testing.assert_array_equal(
        tff.diagnostics.expected_coverage(ranks.astype(float), 99, levels=0.5),
        tff.diagnostics.expected_coverage(ranks, 99, levels=[0.5]),
    )


def test_recovery_refuses_a_non_positive_prior_variance():
    # a variance of 0 gave contraction -inf, a negative one a contraction above 1
    theta, x = np.zeros([4, 1]), np.zeros([4, 1])
    for variance in (0.0, -1.0, np.nan):
        with pytest.raises(ValueError, match="expected prior_variance positive and finite"):
            tff.diagnostics.recovery(_Exact(), theta, x, variance, num_samples=9)
    draws = np.random.default_rng(0).normal(size=(4, 9, 1))
    with pytest.raises(ValueError, match=r"prior_variance positive and finite.*got \[-1.0\]"):
        tff.diagnostics.recovery_from_draws(theta, draws, prior_variance=[-1.0])


def test_recovery_refuses_nan_truths_and_nan_draws_instead_of_nan_z_scores():
    # unchecked, a NaN draw or truth made that simulation's z-score and contraction NaN, and a
    # recovery plot dropped the point without a word
    theta, x = np.zeros([4, 1]), np.zeros([4, 1])
    with pytest.raises(
        ValueError, match="recovery: expected finite values in the posterior draws.*observation 2"
    ):
        tff.diagnostics.recovery(_NaNDraws(), theta, x, 1.0, num_samples=9)
    with pytest.raises(ValueError, match="finite values in the true parameters theta.*row 1"):
        tff.diagnostics.recovery(_Exact(), np.array([[0.0], [np.nan], [0.0], [0.0]]), x, 1.0)
    draws = np.random.default_rng(0).normal(size=(4, 9, 1))
    draws[3, 5, 0] = np.inf
    with pytest.raises(ValueError, match="recovery_from_draws: .*posterior draws.*simulation 3"):
        tff.diagnostics.recovery_from_draws(theta, draws)


def test_sbc_refuses_an_alpha_outside_zero_one_before_sampling():
    # alpha=0 gave a band holding every ECDF: every parameter "inside", whatever the ranks
    ranks = np.zeros([50, 1], np.int64)  # every truth below every draw: far outside any band
    for alpha in (0.0, 1.0, 5.0):
        with pytest.raises(ValueError, match=r"ecdf_band_test: expected alpha in \(0, 1\)"):
            tff.diagnostics.ecdf_band_test(ranks, 9, alpha=alpha)
    with pytest.raises(ValueError, match=r"sbc: expected alpha in \(0, 1\)"):
        tff.diagnostics.sbc(_NaNDraws(), np.zeros([4, 1]), np.zeros([4, 1]), 9, alpha=0.0)
