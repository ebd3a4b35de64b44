"""Figures of simulation-based inference (headless): SBC rank ECDFs, posterior pairs plots."""

import numpy as np
import pytest

from tfp_flows.diagnostics import ecdf_band_test
from tfp_flows.plotting import plot_posterior_pairs, plot_sbc_ecdf


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
