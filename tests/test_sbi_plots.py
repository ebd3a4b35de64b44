"""Figures of simulation-based inference (headless): SBC rank ECDFs, recovery, posterior pairs."""

import numpy as np
import pytest

from tfp_flows.diagnostics import Recovery, ecdf_band_test, recovery_from_draws
from tfp_flows.plotting import (
    plot_posterior_pairs,
    plot_recovery,
    plot_sbc_ecdf,
    plot_z_score_contraction,
)


def test_sbc_ecdf_plot_draws_each_parameter_against_its_band():
    rng = np.random.default_rng(0)
    ranks = np.stack([rng.integers(0, 100, 300), rng.integers(40, 60, 300)], axis=1)
    result = ecdf_band_test(ranks, 99)
    fig = plot_sbc_ecdf(result, names=["calibrated", "overconfident"])
    assert [ax.get_title() for ax in fig.axes] == ["calibrated: inside", "overconfident: outside"]
    for j, ax in enumerate(fig.axes):
        np.testing.assert_array_equal(ax.lines[0].get_ydata(), result.ecdf_difference[j])
        band = ax.collections[0].get_paths()[0].vertices[:, 1]
        assert band.min() == pytest.approx(result.lower.min())
        assert band.max() == pytest.approx(result.upper.max())
    with pytest.raises(ValueError, match="expected 2 parameter names, got 1"):
        plot_sbc_ecdf(result, names=["only one"])


def test_pairs_plot_scatters_samples_over_the_reference():
    rng = np.random.default_rng(1)
    samples, reference = rng.normal(size=(50, 2)), rng.normal(3.0, 1.0, size=(80, 2))
    fig = plot_posterior_pairs(samples, reference, truth=[3.0, 3.0], max_points=40)
    assert len(fig.axes) == 3  # theta_1 histogram; (theta_2, theta_1) scatter; theta_2 histogram
    reference_dots, sample_dots = fig.axes[1].collections
    np.testing.assert_array_equal(sample_dots.get_offsets(), samples[:40])
    np.testing.assert_array_equal(reference_dots.get_offsets(), reference[:40])
    with pytest.raises(
        ValueError, match=r"expected reference of shape \[n, 2\], got shape \(5, 3\)"
    ):
        plot_posterior_pairs(samples, np.zeros([5, 3]))
    with pytest.raises(ValueError, match=r"expected truth of shape \[2\], got shape \(3,\)"):
        plot_posterior_pairs(samples, truth=[0.0, 0.0, 0.0])


def _known_draws(truths, shifts, spreads):
    """Five draws per simulation, ``truth + shift + spread * (-2, -1, 0, 1, 2)``: the median is
    ``truth + shift`` and (level 0.5) the interval ``truth + shift -+ spread``."""
    offsets = np.arange(-2.0, 3.0)[None, :, None]
    return (truths + shifts)[:, None, :] + spreads[:, None, :] * offsets


def test_recovery_plot_draws_estimates_intervals_and_the_diagonal():
    rng = np.random.default_rng(2)
    truths = rng.uniform(-1, 1, size=(6, 2))
    shifts = rng.normal(0.0, 0.1, size=(6, 2))
    spreads = rng.uniform(0.05, 0.3, size=(6, 2))
    draws = _known_draws(truths, shifts, spreads)
    fig = plot_recovery(truths, draws, names=["a", "b"], prior_variance=[1.0, 0.5], level=0.5)
    assert [ax.get_title() for ax in fig.axes] == ["a", "b"]
    assert fig.axes[0].get_ylabel() == "posterior median"
    assert "central 50 % interval" in fig.get_suptitle()
    for j, ax in enumerate(fig.axes):
        estimate = truths[:, j] + shifts[:, j]
        points = ax.containers[0].lines[0]
        np.testing.assert_allclose(points.get_xdata(), truths[:, j])
        np.testing.assert_allclose(points.get_ydata(), estimate)
        bars = ax.containers[0].lines[2][0].get_segments()  # one vertical segment per point
        np.testing.assert_allclose([bar[0, 1] for bar in bars], estimate - spreads[:, j])
        np.testing.assert_allclose([bar[1, 1] for bar in bars], estimate + spreads[:, j])
        assert ax.get_xlim() == ax.get_ylim()
        low, high = ax.get_xlim()
        assert low < min(truths[:, j].min(), (estimate - spreads[:, j]).min())
        assert high > max(truths[:, j].max(), (estimate + spreads[:, j]).max())
        np.testing.assert_allclose(ax.lines[0].get_xdata(), [low, high])
        np.testing.assert_allclose(ax.lines[0].get_ydata(), [low, high])
        std = spreads[:, j] * np.sqrt(2.5)  # the sample sd (ddof 1) of -2..2 is sqrt(2.5)
        z = shifts[:, j] / std
        contraction = 1 - std**2 / [1.0, 0.5][j]
        r = np.corrcoef(truths[:, j], estimate)[0, 1]
        assert ax.texts[0].get_text() == (
            f"r = {r:.3f}\nz = {z.mean():+.2f} ± {z.std():.2f}\ncontraction {contraction.mean():.2f}"
        )


def test_recovery_plot_takes_a_recovery_result_and_the_mean():
    rng = np.random.default_rng(3)
    truths = rng.normal(size=(8, 1))
    draws = truths[:, None, :] + rng.normal(size=(8, 50, 1)) ** 3  # skewed: mean != median
    result = recovery_from_draws(truths, draws, prior_variance=None, level=0.8)
    fig = plot_recovery(result, point="mean")
    ax = fig.axes[0]
    assert ax.get_title() == "$\\theta_{1}$" and ax.get_ylabel() == "posterior mean"
    np.testing.assert_allclose(ax.containers[0].lines[0].get_ydata(), draws.mean(axis=1)[:, 0])
    assert "contraction" not in ax.texts[0].get_text()  # no prior variance, no contraction
    bars = ax.containers[0].lines[2][0].get_segments()
    # a mean outside its interval gets a bar from the interval's nearer end, not a negative one
    lower, upper = np.quantile(draws[:, :, 0], [0.1, 0.9], axis=1)
    np.testing.assert_allclose([b[0, 1] for b in bars], np.minimum(lower, result.mean[:, 0]))
    np.testing.assert_allclose([b[1, 1] for b in bars], np.maximum(upper, result.mean[:, 0]))


def test_recovery_plots_refuse_bad_inputs_naming_expected_and_got():
    truths, draws = np.zeros([4, 2]), np.random.default_rng(5).normal(size=(4, 10, 2))
    with pytest.raises(
        ValueError, match=r"expected draws of shape \[4, n, 2\].*got shape \[4, 10, 3\]"
    ):
        plot_recovery(truths, np.ones([4, 10, 3]))
    with pytest.raises(
        ValueError, match=r"expected draws of shape \[4, n, 2\].*got shape \[3, 10, 2\]"
    ):
        plot_recovery(truths, np.ones([3, 10, 2]))
    with pytest.raises(ValueError, match="true parameters \\[N, d\\] with posterior draws"):
        plot_recovery(truths)
    with pytest.raises(ValueError, match="expected 2 parameter names, got 1"):
        plot_recovery(truths, draws, names=["a"])
    with pytest.raises(ValueError, match="expected point 'median' or 'mean', got 'mode'"):
        plot_recovery(truths, draws, point="mode")
    with pytest.raises(ValueError, match=r"expected level in \(0, 1\), got 1.5"):
        plot_recovery(truths, draws, level=1.5)
    bare = Recovery(*(np.zeros([4, 2]) for _ in range(4)))  # made by hand, without theta
    with pytest.raises(ValueError, match="expected a Recovery with theta, median"):
        plot_recovery(bare)
    with pytest.raises(ValueError, match="expected contractions, got none: pass prior_variance"):
        plot_z_score_contraction(truths, draws)


def test_z_score_contraction_plot_scatters_each_simulation():
    rng = np.random.default_rng(4)
    truths = rng.uniform(-1, 1, size=(7, 2))
    shifts = rng.normal(0.0, 0.2, size=(7, 2))
    spreads = rng.uniform(0.05, 0.3, size=(7, 2))
    fig = plot_z_score_contraction(
        truths, _known_draws(truths, shifts, spreads), names=["a", "b"], prior_variance=0.4
    )
    assert [ax.get_title() for ax in fig.axes] == ["a", "b"]
    for j, ax in enumerate(fig.axes):
        std = spreads[:, j] * np.sqrt(2.5)
        np.testing.assert_allclose(
            ax.collections[0].get_offsets(), np.stack([1 - std**2 / 0.4, shifts[:, j] / std], 1)
        )
        assert ax.lines[0].get_ydata()[0] == 0.0  # the z = 0 level
        assert ax.get_xlim()[1] == pytest.approx(1.05)
