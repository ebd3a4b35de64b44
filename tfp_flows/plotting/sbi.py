"""Figures of simulation-based inference: SBC rank ECDFs with their band, posterior pairs plots.

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

#### References

[1] Teemu Saeilynoja, Paul-Christian Buerkner and Aki Vehtari. Graphical test for
    discrete uniformity and its applications in goodness-of-fit evaluation and
    multiple sample comparison. Statistics and Computing 32(32), 2022.
[2] Sean Talts, Michael Betancourt, Daniel Simpson, Aki Vehtari and Andrew Gelman.
    Validating Bayesian inference algorithms with simulation-based calibration.
    arXiv:1804.06788, 2018.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from tfp_flows.diagnostics.sbc import SBCResult
from tfp_flows.plotting.densities import _DATA_COLOR, _MODEL_COLOR, _numpy

__all__ = ["plot_posterior_pairs", "plot_sbc_ecdf"]


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
