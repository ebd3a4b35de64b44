"""Pictures of flows: training curves, densities, samples, layer-by-layer trajectories.

Everything here draws on ``matplotlib.figure.Figure`` objects created without
pyplot, so it works headless (no GUI backend is chosen or needed, nothing is
shown); every function returns its ``Figure``. Save with ``fig.savefig(path)``
or display it in a notebook by leaving it as the last expression of a cell.

Two functions are small lessons rather than diagnostics:
:func:`plot_change_of_variables` shows why the Jacobian factor is needed in

```none
p_X(x) = p_Z(f^{-1}(x)) |det d f^{-1}(x) / dx|,
```

and :func:`plot_bijector_chain_1d` follows a density through a chain of
one-dimensional bijectors (sigmoid, a rational-quadratic spline, logit).

#### Examples

>>> import tfp_flows as tff
>>> flow = tff.real_nvp(2, num_layers=2, hidden_units=(8,))
>>> fig = plot_samples(flow, n=100)
>>> len(fig.axes)
1
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import tensorflow as tf
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from tensorflow_probability import bijectors as tfb
from tensorflow_probability import distributions as tfd

from tfp_flows._internal.seeds import stateless_seed
from tfp_flows.datasets import has_exact_log_prob
from tfp_flows.flows.log_prob import batched_log_prob
from tfp_flows.plotting.trajectory import chain_trajectory

__all__ = [
    "density_grid",
    "plot_bijector_chain_1d",
    "plot_change_of_variables",
    "plot_densities",
    "plot_density",
    "plot_samples",
    "plot_training_curve",
    "plot_trajectory",
]

Limits = tuple[tuple[float, float], tuple[float, float]]

_MODEL_COLOR = "tab:blue"
_DATA_COLOR = "tab:orange"


# -- helpers -------------------------------------------------------------------------------------


def _numpy(x: Any) -> np.ndarray:
    return np.asarray(x.numpy() if hasattr(x, "numpy") else x)


def _new_figure(
    nrows: int = 1,
    ncols: int = 1,
    panel_size: tuple[float, float] = (4.5, 4.0),
) -> tuple[Figure, list[Axes]]:
    fig = Figure(figsize=(panel_size[0] * ncols, panel_size[1] * nrows), layout="constrained")
    axes = [fig.add_subplot(nrows, ncols, i + 1) for i in range(nrows * ncols)]
    return fig, axes


def _figure_of(ax: Axes) -> Figure:
    try:
        return ax.get_figure(root=True)  # matplotlib >= 3.10: the Figure, not a SubFigure
    except TypeError:
        return ax.figure


def _as_points(data: Any, n: int, seed: int) -> np.ndarray:
    """``data`` rows as a ``[m, 2]`` array; a distribution is sampled ``n`` times."""
    if isinstance(data, tfd.Distribution):
        data = data.sample(n, seed=stateless_seed(seed))
    points = _numpy(data)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"expected points of shape [n, 2], got shape {points.shape}.")
    return points


def _robust_limits(
    points: np.ndarray,
    quantile: float = 0.005,
    margin: float = 0.1,
) -> tuple[tuple[float, float], tuple[float, float]]:
    """Axis limits holding all but the ``quantile`` tails of ``points``, widened by ``margin``."""
    finite = points[np.all(np.isfinite(points), axis=1)]
    if finite.shape[0] == 0:
        return (-1.0, 1.0), (-1.0, 1.0)
    lo = np.quantile(finite, quantile, axis=0)
    hi = np.quantile(finite, 1.0 - quantile, axis=0)
    width = np.maximum(hi - lo, 1e-6)
    lo, hi = lo - margin * width, hi + margin * width
    return (float(lo[0]), float(hi[0])), (float(lo[1]), float(hi[1]))


def _moving_average(values: np.ndarray, window: int) -> np.ndarray:
    cumsum = np.cumsum(np.insert(values, 0, 0.0))
    return (cumsum[window:] - cumsum[:-window]) / window


# -- training curve ------------------------------------------------------------------------------


def plot_training_curve(
    history: Any,
    entropy: float | tf.Tensor | None = None,
    ax: Axes | None = None,
    smoothing: int | None = None,
) -> Figure:
    """Training NLL per step, its moving average, validation NLL and the entropy floor.

    The training loss is the minibatch NLL ``-(1/B) sum_i log q(x_i)``; its
    expectation is the cross-entropy ``H(p, q) = H(p) + KL(p || q) >= H(p)``,
    so the target's entropy ``H(p)`` (when known) is drawn as the floor no
    model can beat; the gap to it is ``KL(p || q)``.

    Args:
      history: a :class:`~tfp_flows.History` (``loss``, ``val_steps``,
        ``val_loss``) or a plain sequence of per-step losses.
      entropy: the target's entropy in nats, e.g. ``target.entropy()``.
      ax: axes to draw on; a new figure is made when omitted.
      smoothing: moving-average window in steps (default ``max(1, steps // 50)``).

    Returns:
      The figure holding ``ax``.

    #### Examples

    >>> from tfp_flows import History
    >>> history = History(loss=[3.0, 2.5, 2.2, 2.1], val_steps=[2, 4], val_loss=[2.6, 2.2])
    >>> fig = plot_training_curve(history, entropy=2.0)
    >>> ax = fig.axes[0]
    >>> ax.get_ylabel(), len(ax.lines)
    ('NLL (nats)', 4)
    """
    if ax is None:
        fig, (ax,) = _new_figure(panel_size=(7.0, 4.0))
    else:
        fig = _figure_of(ax)
    loss = np.asarray(getattr(history, "loss", history), dtype=np.float64).reshape(-1)
    val_steps = np.asarray(getattr(history, "val_steps", []) or [], dtype=np.float64)
    val_loss = np.asarray(getattr(history, "val_loss", []) or [], dtype=np.float64)
    steps = np.arange(1, loss.size + 1)

    if loss.size:
        ax.plot(
            steps, loss, color=_MODEL_COLOR, alpha=0.25, linewidth=0.8, label="train (per step)"
        )
        window = smoothing if smoothing is not None else max(1, loss.size // 50)
        window = int(min(max(window, 1), loss.size))
        smooth = _moving_average(loss, window)
        centres = steps[window - 1 :] - (window - 1) / 2.0
        ax.plot(
            centres,
            smooth,
            color=_MODEL_COLOR,
            linewidth=2.0,
            label=f"train ({window}-step moving average)",
        )
    if val_loss.size:
        ax.plot(
            val_steps,
            val_loss,
            "o-",
            color="tab:red",
            markersize=4,
            linewidth=1.5,
            label="validation",
        )
    if entropy is not None:
        entropy = float(_numpy(entropy))
        ax.axhline(
            entropy,
            color="black",
            linestyle="--",
            linewidth=1.2,
            label="entropy (best possible NLL)",
        )

    # Keep the early transient from squashing the interesting part of the curve.
    finite = np.concatenate([loss[np.isfinite(loss)], val_loss[np.isfinite(val_loss)]])
    if finite.size:
        low = float(np.min(finite))
        if entropy is not None:
            low = min(low, entropy)
        high = float(np.quantile(finite, 0.99)) if finite.size > 20 else float(np.max(finite))
        if high > low:
            pad = 0.05 * (high - low)
            ax.set_ylim(low - pad, high + pad)
    ax.set_xlabel("step")
    ax.set_ylabel("NLL (nats)")
    ax.set_title("training curve")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper right", fontsize="small")
    return fig


# -- densities -----------------------------------------------------------------------------------


def density_grid(limits: Limits, grid_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pixel centres of a ``grid_size x grid_size`` image of the box ``limits``.

    Returns ``xs``, ``ys`` (``x0 + (i + 1/2) (x1 - x0) / grid_size``, likewise
    for ``y``) and the ``[grid_size**2, 2]`` points in ``indexing="ij"`` order,
    so ``values.reshape(grid_size, grid_size)[i, j]`` belongs to
    ``(xs[i], ys[j])``.

    #### Examples

    >>> xs, ys, points = density_grid(((0.0, 1.0), (0.0, 2.0)), 2)
    >>> xs.tolist(), ys.tolist(), points.shape
    ([0.25, 0.75], [0.5, 1.5], (4, 2))
    """
    (x0, x1), (y0, y1) = limits
    centres = (np.arange(grid_size) + 0.5) / grid_size
    xs = x0 + (x1 - x0) * centres
    ys = y0 + (y1 - y0) * centres
    points = np.stack(np.meshgrid(xs, ys, indexing="ij"), axis=-1).reshape(-1, 2)
    return xs, ys, points


def plot_density(
    distribution: tfd.Distribution,
    limits: Limits | None = None,
    target: tfd.Distribution | None = None,
    grid_size: int = 200,
    batch_size: int = 16384,
    fig: Figure | None = None,
) -> Figure:
    """Heat map of the model density ``exp(log q(x))`` (and of the target's ``p(x)``).

    The density is evaluated at the centres of a ``grid_size x grid_size``
    pixel grid over ``limits`` (see :func:`density_grid`), ``batch_size``
    points at a time, and drawn with ``imshow(density.T, origin="lower",
    extent=(x0, x1, y0, y1))`` so the image's ``x``/``y`` match the data's.
    When ``target`` has an exact ``log_prob``
    (:func:`~tfp_flows.datasets.has_exact_log_prob`) a second panel shows
    ``p(x)`` on the same colour scale (one shared colourbar), so the two
    pictures are directly comparable.

    Args:
      distribution: the model, a 2-D distribution.
      limits: ``((x0, x1), (y0, y1))``; by default the central 99% of 2000
        samples of ``target`` (or of the model), widened by 10%.
      target: the true distribution, optional.
      grid_size: pixels per axis.
      batch_size: points per ``log_prob`` call.
      fig: figure to draw into (must be empty); a new one is made when omitted.

    Returns:
      The figure: panels ``"model"`` (and ``"target"``) plus one colourbar axes,
      i.e. ``len(fig.axes)`` is 2 or 3; ``fig.axes[0].images[0]`` holds the
      model density.

    #### Examples

    >>> import tfp_flows as tff
    >>> flow = tff.real_nvp(2, num_layers=2, hidden_units=(8,))
    >>> fig = plot_density(flow, limits=((-3, 3), (-3, 3)), target=tff.datasets.Banana(),
    ...                    grid_size=20)
    >>> [ax.get_title() for ax in fig.axes[:2]], fig.axes[0].images[0].get_array().shape
    (['model', 'target'], (20, 20))
    """
    show_target = target is not None and has_exact_log_prob(target)
    if limits is None:
        source = target if target is not None else distribution
        limits = _robust_limits(_as_points(source, 2000, 0))
    limits = (
        (float(limits[0][0]), float(limits[0][1])),
        (float(limits[1][0]), float(limits[1][1])),
    )
    _, _, points = density_grid(limits, grid_size)

    panels = [("model", distribution)] + ([("target", target)] if show_target else [])
    densities = [
        np.exp(batched_log_prob(d, points, batch_size=batch_size)).reshape(grid_size, grid_size)
        for _, d in panels
    ]
    finite_max = [np.max(d[np.isfinite(d)], initial=0.0) for d in densities]
    vmax = max(finite_max) if max(finite_max) > 0 else 1.0

    if fig is None:
        fig = Figure(figsize=(4.6 * len(panels) + 0.8, 4.2), layout="constrained")
    axes = [fig.add_subplot(1, len(panels), i + 1) for i in range(len(panels))]
    (x0, x1), (y0, y1) = limits
    image = None
    for ax, (title, _), density in zip(axes, panels, densities):
        image = ax.imshow(
            density.T,
            origin="lower",
            extent=(x0, x1, y0, y1),
            aspect="auto",
            cmap="viridis",
            vmin=0.0,
            vmax=vmax,
            interpolation="nearest",
        )
        ax.set_title(title)
        ax.set_xlabel("$x_1$")
        ax.set_ylabel("$x_2$")
    fig.colorbar(image, ax=axes, label="density", shrink=0.9)
    return fig


def plot_densities(
    models: Mapping[str, tfd.Distribution],
    target: tfd.Distribution | None = None,
    limits: Limits | None = None,
    grid_size: int = 150,
    log_scale: bool = False,
    ncols: int = 4,
    floor: float = 1e-4,
) -> Figure:
    """Density heat maps of several 2-D models side by side (and of the target), one colour scale.

    Each panel shows ``q(x)`` (or ``log10 q(x)`` with ``log_scale``, clipped
    below at ``floor`` times the largest density shown) at the pixel centres of
    :func:`density_grid`. The log scale shows what a linear one hides: the thin
    bridges of low but non-zero density that a continuous flow stretches
    between separate modes.

    Args:
      models: panel title -> 2-D distribution, drawn in this order.
      target: the true distribution, drawn last when it has an exact ``log_prob``.
      limits: ``((x0, x1), (y0, y1))``; by default from 2000 samples of the
        target (or of the first model), as in :func:`plot_density`.
      grid_size: pixels per axis.
      log_scale: colour by ``log10`` density instead of density.
      ncols: panels per row.
      floor: lowest density shown on the log scale, relative to the largest.

    Returns:
      The figure: one axes per panel (titles are the keys of ``models``, then
      ``"target"``), then one colourbar axes.

    #### Examples

    >>> import tfp_flows as tff
    >>> models = {"two layers": tff.real_nvp(2, num_layers=2, hidden_units=(8,))}
    >>> fig = plot_densities(models, target=tff.datasets.Banana(), grid_size=16, log_scale=True)
    >>> [ax.get_title() for ax in fig.axes[:2]]
    ['two layers', 'target']
    """
    panels = list(models.items())
    if target is not None and has_exact_log_prob(target):
        panels.append(("target", target))
    if not panels:
        raise ValueError("plot_densities needs at least one model or a target with a density.")
    if limits is None:
        source = target if target is not None else panels[0][1]
        limits = _robust_limits(_as_points(source, 2000, 0))
    (x0, x1), (y0, y1) = limits
    _, _, points = density_grid(limits, grid_size)
    log_densities = [batched_log_prob(d, points).reshape(grid_size, grid_size) for _, d in panels]
    top = max(float(np.max(v[np.isfinite(v)], initial=-np.inf)) for v in log_densities)
    ncols = max(1, min(int(ncols), len(panels)))
    nrows = math.ceil(len(panels) / ncols)
    fig = Figure(figsize=(3.6 * ncols + 0.8, 3.3 * nrows), layout="constrained")
    image = None
    for i, ((title, _), values) in enumerate(zip(panels, log_densities)):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        if log_scale:
            shown = np.maximum(values, top + np.log(floor)) / np.log(10.0)
            low, high = (top + np.log(floor)) / np.log(10.0), top / np.log(10.0)
        else:
            shown, low, high = np.exp(values), 0.0, float(np.exp(top))
        image = ax.imshow(
            shown.T,
            origin="lower",
            extent=(x0, x1, y0, y1),
            aspect="auto",
            cmap="viridis",
            vmin=low,
            vmax=high,
            interpolation="nearest",
        )
        ax.set_title(title)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(image, ax=fig.axes, shrink=0.9, label="log10 density" if log_scale else "density")
    return fig


# -- samples -------------------------------------------------------------------------------------


def plot_samples(
    distribution: tfd.Distribution,
    data: Any = None,
    n: int = 2000,
    seed: int = 0,
    ax: Axes | None = None,
) -> Figure:
    """``n`` model samples scattered over data samples.

    Args:
      distribution: the model; sampled with the stateless seed ``[seed, 0]``.
      data: a ``[m, 2]`` array, or a distribution to draw ``n`` points from
        (seed ``[seed + 1, 0]``), optional.
      n: number of model (and target) samples.
      seed: sampling seed (reproducible).
      ax: axes to draw on; a new figure is made when omitted.

    Returns:
      The figure. ``ax.collections[-1]`` holds the model samples (drawn on
      top), ``ax.collections[0]`` the data when given.

    #### Examples

    >>> import tfp_flows as tff
    >>> flow = tff.real_nvp(2, num_layers=2, hidden_units=(8,))
    >>> fig = plot_samples(flow, data=tff.datasets.Moons(), n=200)
    >>> len(fig.axes), len(fig.axes[0].collections)
    (1, 2)
    """
    if ax is None:
        fig, (ax,) = _new_figure(panel_size=(5.0, 4.6))
    else:
        fig = _figure_of(ax)
    samples = _as_points(distribution.sample(n, seed=stateless_seed(seed)), n, seed)
    points = [samples]
    if data is not None:
        data_points = _as_points(data, n, seed + 1)
        points.append(data_points)
        ax.scatter(
            data_points[:, 0],
            data_points[:, 1],
            s=3,
            alpha=0.4,
            color=_DATA_COLOR,
            label=f"data ({data_points.shape[0]})",
            linewidths=0,
            rasterized=True,
        )
    ax.scatter(
        samples[:, 0],
        samples[:, 1],
        s=3,
        alpha=0.4,
        color=_MODEL_COLOR,
        label=f"model ({samples.shape[0]})",
        linewidths=0,
        rasterized=True,
    )
    (x0, x1), (y0, y1) = _robust_limits(np.concatenate(points), quantile=0.002)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_title("samples")
    legend = ax.legend(loc="upper right", markerscale=4, fontsize="small")
    for handle in legend.legend_handles:
        handle.set_alpha(1.0)
    return fig


# -- trajectories --------------------------------------------------------------------------------


def plot_trajectory(
    flow: tfd.TransformedDistribution,
    n: int = 2000,
    seed: int = 0,
    direction: str = "forward",
    data: Any = None,
    max_panels: int | None = None,
    ncols: int = 5,
) -> Figure:
    """Samples followed through every layer of a flow, one panel per layer.

    ``direction="forward"``: ``z ~ N(0, I)`` (``flow.distribution.sample(n,
    seed=[seed, 0])``) pushed through ``f_1, ..., f_L`` (see
    :func:`~tfp_flows.plotting.trajectory.chain_trajectory`); the last panel shows
    ``f(z)``, i.e. exactly what ``flow.sample`` returns. ``data``, if given, is
    drawn in grey behind the last panel.

    ``direction="inverse"``: ``data`` (required) pulled back through
    ``f_L^{-1}, ..., f_1^{-1}``; the last panel shows ``f^{-1}(x)``, which for a
    good flow looks like ``N(0, I)``.

    Points keep their colour in every panel, so one can see where each part of
    the input ends up: the colour is the angle (cyclic ``hsv`` colormap) of a
    point of the first panel around the centre of that panel's points, measured
    after replacing each coordinate by its rank (so heavy tails, e.g. the
    banana's arms, don't squash the colours); for the base ``N(0, I)`` this is
    essentially ``atan2(z_2, z_1)``.

    Args:
      flow: a ``tfd.TransformedDistribution`` (e.g. from :func:`~tfp_flows.real_nvp`).
      n: number of points (base samples, or data samples when ``data`` is a
        distribution).
      seed: sampling seed.
      direction: ``"forward"`` or ``"inverse"``.
      data: a ``[m, 2]`` array or a distribution to sample from.
      max_panels: show at most this many panels (the first and the last
        always, the others evenly spaced); all by default.
      ncols: panels per row.

    Returns:
      The figure, one axes per panel (``len(fig.axes)`` is the number of
      layers plus one, or ``max_panels``); panel ``k`` has the points in
      ``ax.collections[-1].get_offsets()``.

    #### Examples

    >>> import tfp_flows as tff
    >>> flow = tff.real_nvp(2, num_layers=2, hidden_units=(8,))
    >>> fig = plot_trajectory(flow, n=100)
    >>> [ax.get_title() for ax in fig.axes]
    ['base N(0, I)', '1: affine_coupling_0', '2: lu_linear_0', '3: affine_coupling_1', '4: lu_linear_1', '5: standardize']
    >>> fig = plot_trajectory(flow, direction="inverse", data=tff.datasets.Moons(), n=100)
    >>> fig.axes[-1].get_title()
    '5: affine_coupling_0$^{-1}$'
    """
    if direction == "forward":
        start = _numpy(flow.distribution.sample(n, seed=stateless_seed(seed)))
        background = None if data is None else _as_points(data, n, seed + 1)
    elif direction == "inverse":
        if data is None:
            raise ValueError('direction="inverse" needs data to pull back to the latent space.')
        start = _as_points(data, n, seed + 1)
        background = None
    else:
        raise ValueError(f'direction must be "forward" or "inverse", got {direction!r}.')
    if start.ndim != 2 or start.shape[1] != 2:
        raise ValueError(f"plot_trajectory draws 2-D flows; got points of shape {start.shape}.")

    steps = chain_trajectory(flow, start, direction=direction)
    labels = []
    for k, (name, _) in enumerate(steps):
        if k == 0:
            labels.append("base N(0, I)" if direction == "forward" else "data")
        else:
            name = name.removeprefix(f"{getattr(flow, 'name', '')}_")  # the title names the flow
            labels.append(f"{k}: {name}" + ("$^{-1}$" if direction == "inverse" else ""))
    indices = list(range(len(steps)))
    if max_panels is not None and max_panels < len(steps):
        if max_panels < 2:
            raise ValueError(f"max_panels must be at least 2, got {max_panels}.")
        chosen = np.round(np.linspace(0, len(steps) - 1, max_panels)).astype(int)
        indices = sorted(set(chosen.tolist()))

    colour_values = _rank_angle(start)

    cols = max(1, min(ncols, len(indices)))
    rows = math.ceil(len(indices) / cols)
    fig = Figure(figsize=(3.2 * cols, 3.1 * rows), layout="constrained")
    for panel, index in enumerate(indices):
        ax = fig.add_subplot(rows, cols, panel + 1)
        points = _numpy(steps[index][1])
        if background is not None and index == len(steps) - 1:
            ax.scatter(
                background[:, 0], background[:, 1], s=2, color="0.75", linewidths=0, rasterized=True
            )
        ax.scatter(
            points[:, 0],
            points[:, 1],
            c=colour_values,
            cmap="hsv",
            vmin=-math.pi,
            vmax=math.pi,
            s=2,
            alpha=0.7,
            linewidths=0,
            rasterized=True,
        )
        shown = (
            points
            if background is None or index != len(steps) - 1
            else np.concatenate([points, background])
        )
        (x0, x1), (y0, y1) = _robust_limits(shown, quantile=0.002)
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)
        ax.set_title(labels[index], fontsize="medium")
        ax.tick_params(labelsize="small")
    what = "base -> data" if direction == "forward" else "data -> latent"
    fig.suptitle(f"{getattr(flow, 'name', 'flow')}: layer by layer ({what})")
    return fig


# -- 1-D lessons ---------------------------------------------------------------------------------


def _rank_angle(points: np.ndarray) -> np.ndarray:
    """Angle in ``[-pi, pi]`` of each point around the centre, in rank (copula) coordinates."""
    n = points.shape[0]
    ranks = np.argsort(np.argsort(points, axis=0), axis=0)
    centred = (ranks + 0.5) / max(n, 1) - 0.5
    return np.arctan2(centred[:, 1], centred[:, 0])


def _trapezoid(y: np.ndarray, x: np.ndarray) -> float:
    return float(np.sum(0.5 * (y[1:] + y[:-1]) * np.diff(x)))


def plot_change_of_variables(
    scale: float = 2.0,
    shift: float = 1.0,
    n: int = 20000,
    seed: int = 0,
    grid_size: int = 400001,
) -> tuple[Figure, dict[str, float]]:
    """The 1-D change of variables, with and without its Jacobian factor.

    ``Z`` is ``Uniform(0, 1)`` (left panel) or ``N(0, 1)`` (right panel) and
    ``X = f(Z) = s Z + t``, so ``f^{-1}(x) = (x - t) / s`` and

    ```none
    naive:      p_Z(f^{-1}(x))                               integral = |s|
    correct:    p_X(x) = p_Z(f^{-1}(x)) |d f^{-1}/dx|
                       = p_Z((x - t) / s) / |s|              integral = 1
    ```

    (substituting ``x = s z + t``, ``dx = |s| dz``: the naive curve has the
    right shape but the area ``|s|``; stretching by ``s`` must lower the
    density by ``1 / |s|``). Each panel draws ``p_Z``, the naive and the
    corrected curve (their numeric integrals in the legend) and a histogram
    of ``n`` transformed samples, which follows the corrected curve.

    The integrals are trapezoid sums over ``grid_size`` points spanning the
    whole support (``t + s [-0.25, 1.25]`` for the uniform, ``t +- 12 |s|``
    for the normal).

    Args:
      scale: ``s`` (non-zero; negative flips).
      shift: ``t``.
      n: number of samples for the histograms.
      seed: sampling seed.
      grid_size: points of the integration grid.

    Returns:
      ``(fig, integrals)`` with ``integrals`` keys ``"uniform_naive"``,
      ``"uniform_corrected"``, ``"normal_naive"``, ``"normal_corrected"``.

    #### Examples

    >>> fig, integrals = plot_change_of_variables(scale=2.0, shift=1.0, n=1000)
    >>> len(fig.axes), round(integrals["normal_naive"], 3), round(integrals["normal_corrected"], 3)
    (2, 2.0, 1.0)
    """
    s, t = float(scale), float(shift)
    if s == 0.0 or not math.isfinite(s) or not math.isfinite(t):
        raise ValueError(
            f"scale must be finite and non-zero (and shift finite), got {scale}, {shift}."
        )
    bases = {
        "uniform": (tfd.Uniform(np.float64(0.0), np.float64(1.0)), "Uniform(0, 1)", (-0.25, 1.25)),
        "normal": (tfd.Normal(np.float64(0.0), np.float64(1.0)), "N(0, 1)", (-12.0, 12.0)),
    }
    fig, axes = _new_figure(1, 2, panel_size=(6.0, 4.3))
    integrals: dict[str, float] = {}
    for i, (ax, (key, (base, base_label, support))) in enumerate(zip(axes, bases.items())):
        z_lo, z_hi = support
        ends = sorted([t + s * z_lo, t + s * z_hi])
        x = np.linspace(ends[0], ends[1], grid_size)
        naive = _numpy(base.prob((x - t) / s))
        corrected = naive / abs(s)
        integrals[f"{key}_naive"] = _trapezoid(naive, x)
        integrals[f"{key}_corrected"] = _trapezoid(corrected, x)

        samples = t + s * _numpy(base.sample(n, seed=stateless_seed(seed + i)))
        view = sorted(
            [
                t + s * (-0.5 if key == "uniform" else -4.0),
                t + s * (1.5 if key == "uniform" else 4.0),
            ]
        )
        view = [
            min(view[0], -0.5 if key == "uniform" else -4.0),
            max(view[1], 1.5 if key == "uniform" else 4.0),
        ]
        xv = np.linspace(view[0], view[1], 2001)
        ax.hist(
            samples,
            bins=60,
            density=True,
            color="0.8",
            edgecolor="0.6",
            linewidth=0.5,
            label=f"histogram of {n} samples of X",
        )
        ax.plot(
            xv,
            _numpy(base.prob(xv)),
            color="0.35",
            linestyle=":",
            linewidth=1.5,
            label=f"$p_Z(x)$, Z ~ {base_label}",
        )
        naive_v = _numpy(base.prob((xv - t) / s))
        ax.plot(
            xv,
            naive_v,
            color="tab:red",
            linestyle="--",
            linewidth=2.0,
            label=f"naive $p_Z(f^{{-1}}(x))$: integral {integrals[f'{key}_naive']:.4f}",
        )
        ax.plot(
            xv,
            naive_v / abs(s),
            color="tab:blue",
            linewidth=2.0,
            label="$p_X(x) = p_Z(f^{-1}(x))\\,|df^{-1}/dx|$: "
            f"integral {integrals[f'{key}_corrected']:.4f}",
        )
        ax.set_xlim(view[0], view[1])
        ax.set_ylim(
            0.0,
            1.45 * max(1.0, float(np.max(naive_v)), 1.0 / abs(s))
            if key == "uniform"
            else 1.45 * max(float(np.max(naive_v)), float(_numpy(base.prob(0.0)))),
        )
        ax.set_xlabel("x")
        ax.set_ylabel("density")
        ax.set_title(f"Z ~ {base_label},  X = f(Z) = {s:g} Z + {t:g}")
        ax.legend(loc="upper left", fontsize="small")
    fig.suptitle(
        "change of variables: the Jacobian factor $|df^{-1}/dx| = 1/|s|$ "
        "keeps the density normalised"
    )
    return fig, integrals


#: Hand-picked spline of :func:`plot_bijector_chain_1d` on ``[0, 1]`` (4 bins).
SPLINE_BIN_WIDTHS = (0.2, 0.3, 0.3, 0.2)
SPLINE_BIN_HEIGHTS = (0.4, 0.12, 0.23, 0.25)
SPLINE_KNOT_SLOPES = (0.7, 0.5, 1.6)


def _chain_1d_stages() -> list[tuple[str, str, tfb.Bijector | None]]:
    spline = tfb.RationalQuadraticSpline(
        bin_widths=np.array(SPLINE_BIN_WIDTHS, np.float64),
        bin_heights=np.array(SPLINE_BIN_HEIGHTS, np.float64),
        knot_slopes=np.array(SPLINE_KNOT_SLOPES, np.float64),
        range_min=np.float64(0.0),
    )
    return [
        ("normal", "z ~ N(0, 1)", None),
        ("sigmoid", "u = sigmoid(z)", tfb.Sigmoid()),
        ("spline", "v = spline(u)", spline),
        ("logit", "x = logit(v)", tfb.Invert(tfb.Sigmoid())),
    ]


def plot_bijector_chain_1d(
    seed: int = 0,
    n: int = 20000,
    grid_size: int = 200001,
) -> tuple[Figure, dict[str, float]]:
    """A standard normal pushed through sigmoid, a rational-quadratic spline and logit.

    ```none
    z ~ N(0, 1)  ->  u = sigmoid(z) in (0, 1)  ->  v = g(u) in (0, 1)  ->  x = logit(v) in R
    ```

    ``g`` is ``tfb.RationalQuadraticSpline`` on ``[0, 1]`` with the fixed bin
    widths :data:`SPLINE_BIN_WIDTHS`, heights :data:`SPLINE_BIN_HEIGHTS` and
    interior knot slopes :data:`SPLINE_KNOT_SLOPES` (boundary slopes 1). The
    density after ``k`` stages is exact: ``tfd.TransformedDistribution`` of
    ``N(0, 1)`` and the partial chain ``b_k o ... o b_1``,

    ```none
    p_k(y) = p_{k-1}(b_k^{-1}(y)) |d b_k^{-1}(y) / dy|,
    ```

    drawn over a histogram of ``n`` samples pushed through the same stages.
    The top row shows the densities, the bottom row the maps: the whole
    composition ``z -> x`` and each stage's ``b_k`` (the spline with its knots).
    Integrals are trapezoid sums over ``grid_size`` points (``(0, 1)`` for the
    middle stages, ``[-12, 12]`` otherwise) and should all be ~1.

    Args:
      seed: sampling seed.
      n: number of samples for the histograms.
      grid_size: points of the integration grids.

    Returns:
      ``(fig, integrals)``; ``integrals`` maps each stage name (``"normal"``,
      ``"sigmoid"``, ``"spline"``, ``"logit"``) to the integral of its density.
      ``fig`` has 8 axes: 4 densities, then 4 maps.

    #### Examples

    >>> fig, integrals = plot_bijector_chain_1d(n=500, grid_size=2001)
    >>> len(fig.axes), sorted(integrals)
    (8, ['logit', 'normal', 'sigmoid', 'spline'])
    >>> all(abs(v - 1.0) < 1e-2 for v in integrals.values())
    True
    """
    stages = _chain_1d_stages()
    base = tfd.Normal(np.float64(0.0), np.float64(1.0))
    z = base.sample(n, seed=stateless_seed(seed))
    fig, axes = _new_figure(2, len(stages), panel_size=(3.9, 3.3))
    density_axes, map_axes = axes[: len(stages)], axes[len(stages) :]

    integrals: dict[str, float] = {}
    applied: list[tfb.Bijector] = []
    samples = z
    eps = 1e-9
    for ax, (key, label, bijector) in zip(density_axes, stages):
        if bijector is not None:
            applied.append(bijector)
            samples = bijector.forward(samples)
        distribution = tfd.TransformedDistribution(base, tfb.Chain(list(reversed(applied))))
        unit = key in ("sigmoid", "spline")
        grid = np.linspace(eps, 1.0 - eps, grid_size) if unit else np.linspace(-12, 12, grid_size)
        density = _numpy(distribution.prob(grid))
        integrals[key] = _trapezoid(density, grid)

        view = np.linspace(eps, 1.0 - eps, 2001) if unit else np.linspace(-4.5, 4.5, 2001)
        ax.hist(
            _numpy(samples),
            bins=np.linspace(view[0], view[-1], 61),
            density=True,
            color="0.8",
            edgecolor="0.6",
            linewidth=0.5,
            label="samples",
        )
        curve = _numpy(distribution.prob(view))
        ax.plot(
            view,
            curve,
            color="tab:blue",
            linewidth=2.0,
            label=f"exact density (integral {integrals[key]:.4f})",
        )
        ax.set_xlim(view[0], view[-1])
        ax.set_ylim(0.0, 1.3 * float(np.max(curve)))
        ax.set_title(label)
        ax.set_xlabel(label.split(" ")[0])
        ax.set_ylabel("density")
        ax.legend(loc="upper left", fontsize="x-small")

    # Bottom row: the composite map, then each stage's map.
    z_grid = np.linspace(-4.5, 4.5, 1001)
    full = tfb.Chain(list(reversed(applied)))
    map_axes[0].plot(z_grid, _numpy(full.forward(z_grid)), color="tab:purple", linewidth=2.0)
    map_axes[0].plot(z_grid, z_grid, color="0.6", linestyle=":", linewidth=1.0)
    map_axes[0].set_title("whole chain: z -> x")
    map_axes[0].set_xlabel("z")
    map_axes[0].set_ylabel("x")
    inputs = {
        "sigmoid": z_grid,
        "spline": np.linspace(0.0, 1.0, 1001),
        "logit": np.linspace(1e-4, 1.0 - 1e-4, 1001),
    }
    names = {"sigmoid": ("z", "u"), "spline": ("u", "v"), "logit": ("v", "x")}
    for ax, (key, _, bijector) in zip(map_axes[1:], stages[1:]):
        grid = inputs[key]
        ax.plot(grid, _numpy(bijector.forward(grid)), color="tab:green", linewidth=2.0)
        if key == "spline":
            knots_x = np.concatenate([[0.0], np.cumsum(SPLINE_BIN_WIDTHS)])
            knots_y = np.concatenate([[0.0], np.cumsum(SPLINE_BIN_HEIGHTS)])
            ax.plot(knots_x, knots_y, "o", color="black", markersize=4, label="knots")
            ax.plot([0, 1], [0, 1], color="0.6", linestyle=":", linewidth=1.0)
            ax.legend(loc="upper left", fontsize="x-small")
        ax.set_title(f"{key}: {names[key][0]} -> {names[key][1]}")
        ax.set_xlabel(names[key][0])
        ax.set_ylabel(names[key][1])
    fig.suptitle("N(0, 1) through sigmoid, a rational-quadratic spline and logit")
    return fig, integrals
