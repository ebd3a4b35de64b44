"""Figures of simulation-based inference: SBC rank ECDFs, parameter recovery, posterior pairs.

:func:`plot_sbc_ecdf` draws, per parameter ``j``, the difference between the
empirical CDF of the fractional SBC ranks and the uniform CDF,

```none
F_N(z) - z,    F_N(z) = (1/N) #{ i : (r_ij + 1) / (L + 1) <= z },
```

inside the simultaneous ``1 - alpha`` band of
:func:`tfp_flows.diagnostics.ecdf_band_test` (Saeilynoja et al. 2022): a
calibrated posterior's curve stays inside the band at every ``z`` with
probability ``1 - alpha``. A curve below zero in the middle and above it near
the ends (a U shape in the ranks) means an overconfident posterior; one above
zero throughout means the posterior sits too high.

:func:`plot_recovery` draws, for simulations with known true parameters, each
posterior's median (or mean) and central credible interval against the truth,
one panel per parameter, with the diagonal ``estimate = truth`` and, per
parameter, the correlation ``r`` of estimates and truths and the posterior
z-score and contraction of :func:`tfp_flows.diagnostics.recovery`,

```none
z_ij = (mean_ij - theta_ij) / std_ij,      contraction_ij = 1 - std_ij^2 / var_prior_j
```

(points on the diagonal with short bars: the data pin the parameter down;
points flattened towards the prior mean with long bars: they do not; bars that
miss the diagonal far more often than ``1 - level``: overconfidence).
:func:`plot_z_score_contraction` scatters ``z`` against the contraction
(Schad et al. 2021): a calibrated, informative posterior puts its points at
contraction near 1 and ``|z|`` mostly below 2.

:func:`plot_posterior_pairs` draws posterior samples beside reference samples
(a benchmark's exact posterior): the marginal histograms of every parameter on
the diagonal and the pairwise scatter of both sets below it.

#### Examples

>>> import numpy as np
>>> from tfp_flows.diagnostics import ecdf_band_test
>>> ranks = np.random.default_rng(0).integers(0, 100, size=(200, 2))
>>> fig = plot_sbc_ecdf(ecdf_band_test(ranks, 99), names=["a", "b"])
>>> [ax.get_title() for ax in fig.axes]
['a: inside', 'b: inside']
>>> rng = np.random.default_rng(1)
>>> fig = plot_posterior_pairs(rng.normal(size=(500, 3)), reference=rng.normal(size=(500, 3)))
>>> len(fig.axes)
6
>>> truths = rng.normal(size=(50, 2))
>>> draws = truths[:, None, :] + rng.normal(size=(50, 200, 2))   # [N, n, d]
>>> [ax.get_title() for ax in plot_recovery(truths, draws, names=["a", "b"]).axes]
['a', 'b']

#### References

[1] Teemu Saeilynoja, Paul-Christian Buerkner and Aki Vehtari. Graphical test for
    discrete uniformity and its applications in goodness-of-fit evaluation and
    multiple sample comparison. Statistics and Computing 32(32), 2022.
[2] Sean Talts, Michael Betancourt, Daniel Simpson, Aki Vehtari and Andrew Gelman.
    Validating Bayesian inference algorithms with simulation-based calibration.
    arXiv:1804.06788, 2018.
[3] Daniel J. Schad, Michael Betancourt and Shravan Vasishth. Toward a principled
    Bayesian workflow in cognitive science. Psychological Methods 26(1), 2021.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from tfp_flows.diagnostics.recovery import Recovery, recovery_from_draws
from tfp_flows.diagnostics.sbc import SBCResult
from tfp_flows.plotting.densities import _DATA_COLOR, _MODEL_COLOR, _numpy

__all__ = ["plot_posterior_pairs", "plot_recovery", "plot_sbc_ecdf", "plot_z_score_contraction"]


def _names(names: Sequence[str] | None, d: int, owner: str) -> list[str]:
    if names is None:
        return [f"$\\theta_{{{j + 1}}}$" for j in range(d)]
    names = list(names)
    if len(names) != d:
        raise ValueError(f"{owner}: expected {d} parameter names, got {len(names)}: {names!r}.")
    return names


def plot_sbc_ecdf(
    result: SBCResult,
    names: Sequence[str] | None = None,
    columns: int = 5,
    panel_size: tuple[float, float] = (3.2, 2.6),
) -> Figure:
    """The SBC rank ECDF difference ``F_N(z) - z`` of every parameter, with its simultaneous band.

    Args:
      result: an :class:`~tfp_flows.diagnostics.SBCResult` (from
        :func:`~tfp_flows.diagnostics.sbc` or
        :func:`~tfp_flows.diagnostics.ecdf_band_test`).
      names: one name per parameter (default ``theta_1, theta_2, ...``).
      columns: panels per row (at most the number of parameters).
      panel_size: inches per panel.

    Returns:
      The figure: one panel per parameter, titled ``"<name>: inside"`` or
      ``"<name>: outside"`` (of the band); the panel's first line is the ECDF
      difference, its first collection the band.

    #### Examples

    >>> import numpy as np
    >>> from tfp_flows.diagnostics import ecdf_band_test
    >>> ranks = np.random.default_rng(0).integers(40, 60, size=(300, 1))   # overconfident
    >>> plot_sbc_ecdf(ecdf_band_test(ranks, 99), names=["mu"]).axes[0].get_title()
    'mu: outside'
    """
    if not isinstance(result, SBCResult):
        raise TypeError(
            f"plot_sbc_ecdf: expected an SBCResult (tff.diagnostics.sbc or ecdf_band_test), "
            f"got {type(result).__name__}."
        )
    d = result.ecdf_difference.shape[0]
    labels = _names(names, d, "plot_sbc_ecdf")
    columns = max(1, min(int(columns), d))
    rows = math.ceil(d / columns)
    fig = Figure(figsize=(panel_size[0] * columns, panel_size[1] * rows), layout="constrained")
    for j in range(d):
        ax = fig.add_subplot(rows, columns, j + 1)
        ax.fill_between(
            result.z,
            result.lower,
            result.upper,
            color="0.85",
            step="mid",
            label="simultaneous band" if j == 0 else None,
        )
        inside = bool(result.inside[j])
        ax.plot(
            result.z,
            result.ecdf_difference[j],
            color=_MODEL_COLOR if inside else "tab:red",
            drawstyle="steps-mid",
            linewidth=1.4,
        )
        ax.axhline(0.0, color="0.4", linewidth=0.6)
        ax.set_xlim(0.0, 1.0)
        ax.set_title(f"{labels[j]}: {'inside' if inside else 'outside'}")
        if j % columns == 0:
            ax.set_ylabel("ECDF difference")
        if j >= d - columns:
            ax.set_xlabel("fractional rank")
    fig.axes[0].legend(loc="lower left", fontsize="x-small")
    fig.suptitle("SBC: rank ECDF minus the uniform CDF", size="small")
    return fig


def _check_points(values: Any, owner: str, what: str, d: int | None = None) -> np.ndarray:
    points = np.asarray(_numpy(values), np.float64)
    if points.ndim != 2 or (d is not None and points.shape[1] != d):
        wanted = "[n, d]" if d is None else f"[n, {d}]"
        raise ValueError(f"{owner}: expected {what} of shape {wanted}, got shape {points.shape}.")
    return points


def plot_posterior_pairs(
    samples: Any,
    reference: Any = None,
    names: Sequence[str] | None = None,
    truth: Any = None,
    max_points: int = 2000,
    panel_size: float = 2.4,
    labels: tuple[str, str] = ("posterior", "reference"),
) -> Figure:
    """A pairs plot of posterior samples ``[n, d]``, over reference samples when given.

    The diagonal shows each parameter's histogram (both sets, the same bins);
    below it, the scatter of every pair (at most ``max_points`` of each set,
    the first ones); ``truth`` (the parameter that made the observation) is
    marked when given.

    Args:
      samples: posterior samples ``[n, d]``.
      reference: reference posterior samples ``[m, d]`` (optional).
      names: one name per parameter.
      truth: the true parameter ``[d]`` (optional).
      max_points: points per set in each scatter.
      panel_size: inches per panel.
      labels: the legend's names of ``samples`` and ``reference``.

    Returns:
      The figure: ``d (d + 1) / 2`` panels, row by row (the diagonal's
      histogram first in each row).

    #### Examples

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> fig = plot_posterior_pairs(rng.normal(size=(300, 2)), truth=[0.0, 0.0])
    >>> len(fig.axes)
    3
    """
    points = _check_points(samples, "plot_posterior_pairs", "samples")
    d = points.shape[1]
    ref = (
        None
        if reference is None
        else _check_points(reference, "plot_posterior_pairs", "reference", d)
    )
    true = None if truth is None else np.asarray(_numpy(truth), np.float64).reshape(-1)
    if true is not None and true.shape != (d,):
        raise ValueError(
            f"plot_posterior_pairs: expected truth of shape [{d}], got shape {true.shape}."
        )
    titles = _names(names, d, "plot_posterior_pairs")
    both = points if ref is None else np.concatenate([points, ref])
    low, high = np.quantile(both, 0.002, axis=0), np.quantile(both, 0.998, axis=0)
    pad = 0.05 * np.maximum(high - low, 1e-9)
    low, high = low - pad, high + pad
    fig = Figure(figsize=(panel_size * d, panel_size * d), layout="constrained")
    shown = [(points[:max_points], _MODEL_COLOR, labels[0])]
    if ref is not None:
        shown.insert(0, (ref[:max_points], _DATA_COLOR, labels[1]))
    for i in range(d):
        for j in range(i + 1):
            ax = fig.add_subplot(d, d, i * d + j + 1)
            if i == j:
                bins = np.linspace(low[i], high[i], 41)
                sets = [(points, _MODEL_COLOR, labels[0])]
                if ref is not None:
                    sets.insert(0, (ref, _DATA_COLOR, labels[1]))
                for values, color, label in sets:
                    ax.hist(
                        values[:, i],
                        bins=bins,
                        density=True,
                        histtype="step",
                        color=color,
                        label=label,
                        linewidth=1.3,
                    )
                if true is not None:
                    ax.axvline(true[i], color="black", linewidth=0.8)
                ax.set_yticks([])
            else:
                for values, color, label in shown:
                    ax.scatter(
                        values[:, j],
                        values[:, i],
                        s=2,
                        alpha=0.35,
                        color=color,
                        linewidths=0,
                        rasterized=True,
                        label=label,
                    )
                if true is not None:
                    ax.plot(true[j], true[i], marker="*", color="black", markersize=8)
                ax.set_ylim(low[i], high[i])
            ax.set_xlim(low[j], high[j])
            if i == d - 1:
                ax.set_xlabel(titles[j])
            if j == 0 and i > 0:
                ax.set_ylabel(titles[i])
    fig.axes[0].legend(loc="upper right", fontsize="x-small")
    return fig


def _as_recovery(
    result_or_truths: Any, draws: Any, prior_variance: Any, level: float, owner: str
) -> Recovery:
    """A :class:`Recovery` with the true parameters: as given, or summarised from draws."""
    if isinstance(result_or_truths, Recovery):
        if draws is not None or prior_variance is not None:
            raise ValueError(
                f"{owner}: expected draws and prior_variance only beside true parameters "
                "[N, d]; a Recovery already summarises its draws."
            )
        if result_or_truths.theta is None or result_or_truths.median is None:
            raise ValueError(
                f"{owner}: expected a Recovery with theta, median and its interval (from "
                "tff.diagnostics.recovery or recovery_from_draws), got one without them."
            )
        return result_or_truths
    if draws is None:
        raise ValueError(
            f"{owner}: expected a Recovery, or true parameters [N, d] with posterior draws "
            f"[N, n, d]; got {type(result_or_truths).__name__} and no draws."
        )
    truths = np.asarray(_numpy(result_or_truths), np.float64)
    if truths.ndim == 1:
        truths = truths[:, None]
    samples = np.asarray(_numpy(draws), np.float64)
    if samples.ndim == 2 and truths.shape[1] == 1:
        samples = samples[..., None]
    return recovery_from_draws(truths, samples, prior_variance, level)


def _grid(d: int, columns: int, panel_size: tuple[float, float]) -> tuple[Figure, int]:
    columns = max(1, min(int(columns), d))
    rows = math.ceil(d / columns)
    figure = Figure(figsize=(panel_size[0] * columns, panel_size[1] * rows), layout="constrained")
    return figure, columns


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 2 or np.std(a) == 0 or np.std(b) == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def plot_recovery(
    result_or_truths: Recovery | Any,
    draws: Any = None,
    names: Sequence[str] | None = None,
    point: str = "median",
    prior_variance: Any = None,
    level: float = 0.9,
    columns: int = 4,
    panel_size: tuple[float, float] = (3.0, 3.0),
) -> Figure:
    """Parameter recovery: each posterior's estimate and credible interval against the truth.

    One panel per parameter ``j``: for every simulation ``i`` a point at
    ``(theta_ij, estimate_ij)`` with a bar over the central credible interval
    ``[lower_ij, upper_ij]``, the diagonal ``estimate = truth``, and a note of
    the correlation ``r`` of estimates and truths, the posterior z-score's
    mean and standard deviation over the simulations, and the mean contraction
    (when the prior variance is known).

    Args:
      result_or_truths: a :class:`~tfp_flows.diagnostics.Recovery` (from
        :func:`~tfp_flows.diagnostics.recovery`), or the true parameters
        ``[N, d]`` (``[N]`` for one parameter) with ``draws``.
      draws: posterior draws ``[N, n, d]`` of each simulation (e.g.
        :meth:`~tfp_flows.inference.AmortizedPosterior.sample_batch`), only
        beside true parameters.
      names: one name per parameter (default ``theta_1, theta_2, ...``).
      point: the estimate, ``"median"`` or ``"mean"`` of each posterior.
      prior_variance: the prior's variance per parameter (beside ``draws``;
        ``None``: no contraction in the note).
      level: the interval's level (beside ``draws``; a ``Recovery`` has its own).
      columns: panels per row (at most the number of parameters).
      panel_size: inches per panel.

    Returns:
      The figure: one panel per parameter, titled with its name. In each
      panel ``ax.lines[0]`` is the diagonal, ``ax.containers[0]`` the
      errorbar (its data line holds the points), ``ax.texts[0]`` the note;
      the x and y limits are equal and hold every truth and interval.

    #### Examples

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> truths = rng.normal(size=(400, 1))      # theta ~ N(0, 1), x ~ N(theta, 1)
    >>> x = truths + rng.normal(size=(400, 1))   # exact posterior: N(x / 2, 1 / 2)
    >>> draws = x[:, None, :] / 2 + np.sqrt(0.5) * rng.normal(size=(400, 300, 1))
    >>> fig = plot_recovery(truths, draws, names=["mu"], prior_variance=1.0)
    >>> fig.axes[0].get_title(), fig.axes[0].get_xlim() == fig.axes[0].get_ylim()
    ('mu', True)
    >>> print(fig.axes[0].texts[0].get_text())
    r = 0.734
    z = +0.01 ± 0.96
    contraction 0.50
    """
    if point not in ("median", "mean"):
        raise ValueError(f"plot_recovery: expected point 'median' or 'mean', got {point!r}.")
    result = _as_recovery(result_or_truths, draws, prior_variance, level, "plot_recovery")
    truth = result.theta
    estimate = result.median if point == "median" else result.mean
    d = truth.shape[1]
    labels = _names(names, d, "plot_recovery")
    fig, columns = _grid(d, columns, panel_size)
    for j in range(d):
        ax = fig.add_subplot(math.ceil(d / columns), columns, j + 1)
        low = min(truth[:, j].min(), result.lower[:, j].min(), estimate[:, j].min())
        high = max(truth[:, j].max(), result.upper[:, j].max(), estimate[:, j].max())
        pad = 0.05 * max(high - low, 1e-9)
        low, high = low - pad, high + pad
        ax.plot([low, high], [low, high], color="0.4", linewidth=0.8, zorder=1)
        below = np.maximum(estimate[:, j] - result.lower[:, j], 0.0)
        above = np.maximum(result.upper[:, j] - estimate[:, j], 0.0)
        ax.errorbar(
            truth[:, j],
            estimate[:, j],
            yerr=np.stack([below, above]),
            fmt="o",
            markersize=2.5,
            elinewidth=0.6,
            alpha=0.7,
            color=_MODEL_COLOR,
            zorder=2,
        )
        ax.set_xlim(low, high)
        ax.set_ylim(low, high)
        z = result.z_score[:, j]
        note = [
            f"r = {_correlation(truth[:, j], estimate[:, j]):.3f}",
            f"z = {np.mean(z):+.2f} ± {np.std(z):.2f}",
        ]
        if result.contraction is not None:
            note.append(f"contraction {np.mean(result.contraction[:, j]):.2f}")
        ax.text(
            0.04,
            0.96,
            "\n".join(note),
            transform=ax.transAxes,
            va="top",
            ha="left",
            fontsize="x-small",
            bbox=dict(boxstyle="round", facecolor="white", alpha=0.8, edgecolor="0.8"),
        )
        ax.set_title(labels[j])
        ax.set_xlabel("true value")
        if j % columns == 0:
            ax.set_ylabel(f"posterior {point}")
    interval = f"{100 * result.level:g} %" if result.level is not None else "credible"
    fig.suptitle(
        f"Parameter recovery: posterior {point} and central {interval} interval", size="small"
    )
    return fig


def plot_z_score_contraction(
    result_or_truths: Recovery | Any,
    draws: Any = None,
    names: Sequence[str] | None = None,
    prior_variance: Any = None,
    columns: int = 4,
    panel_size: tuple[float, float] = (3.0, 2.6),
) -> Figure:
    """Posterior z-score against posterior contraction, one point per simulation, per parameter.

    Args:
      result_or_truths: a :class:`~tfp_flows.diagnostics.Recovery` with
        contractions, or the true parameters ``[N, d]`` with ``draws`` and
        ``prior_variance``.
      draws: posterior draws ``[N, n, d]`` (beside true parameters).
      names: one name per parameter.
      prior_variance: the prior's variance per parameter (beside ``draws``).
      columns: panels per row.
      panel_size: inches per panel.

    Returns:
      The figure: one panel per parameter, titled with its name; the panel's
      first collection holds the points ``(contraction_ij, z_ij)``, its first
      line the ``z = 0`` level.

    #### Examples

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> truths = rng.normal(size=(30, 2))
    >>> draws = truths[:, None, :] / 2 + np.sqrt(0.5) * rng.normal(size=(30, 100, 2))
    >>> fig = plot_z_score_contraction(truths, draws, prior_variance=1.0)
    >>> fig.axes[0].collections[0].get_offsets().shape
    (30, 2)
    """
    result = _as_recovery(result_or_truths, draws, prior_variance, 0.9, "plot_z_score_contraction")
    if result.contraction is None:
        raise ValueError(
            "plot_z_score_contraction: expected contractions, got none: pass prior_variance "
            "(to tff.diagnostics.recovery or here beside the draws)."
        )
    d = result.z_score.shape[1]
    labels = _names(names, d, "plot_z_score_contraction")
    fig, columns = _grid(d, columns, panel_size)
    for j in range(d):
        ax = fig.add_subplot(math.ceil(d / columns), columns, j + 1)
        contraction, z = result.contraction[:, j], result.z_score[:, j]
        ax.scatter(contraction, z, s=8, alpha=0.6, color=_MODEL_COLOR, linewidths=0)
        ax.axhline(0.0, color="0.4", linewidth=0.8)
        ax.set_xlim(min(0.0, float(contraction.min())) - 0.05, 1.05)
        top = max(3.0, 1.05 * float(np.max(np.abs(z))))
        ax.set_ylim(-top, top)
        ax.set_title(labels[j])
        ax.set_xlabel("posterior contraction")
        if j % columns == 0:
            ax.set_ylabel("posterior z-score")
    fig.suptitle("Posterior z-score against contraction", size="small")
    return fig
