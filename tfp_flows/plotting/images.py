"""Pictures of image flows: samples at a temperature, reconstructions, latent interpolations.

For a flow on images ``[H, W, C]`` with pixels in ``[0, 1]`` (for example
``with_logit_preprocessing(tff.real_nvp((8, 8, 1)))``, see
:mod:`tfp_flows.images.dequantization`) whose bijector ``g`` maps the base
``N(0, I)`` to the pixels (``g`` includes the inverse logit):

```none
samples at temperature T:   v = g(T z),             z ~ N(0, I)    (T < 1: the typical set shrinks)
reconstruction:             v' = g(g^{-1}(v))       (= v up to float error: the flow is invertible)
interpolation, linear:      v_t = g((1 - t) z_a + t z_b),                       z_a = g^{-1}(v_a)
interpolation, spherical:   v_t = g(sin((1-t) w)/sin(w) z_a + sin(t w)/sin(w) z_b),  cos w = <z_a, z_b>/(|z_a||z_b|)
```

Sampling with a temperature ``T < 1`` (Kingma & Dhariwal 2018, sec. 5) trades
variety for cleaner images. The spherical path keeps the latent norm near
that of typical base draws, where a straight line passes closer to 0.

Every function draws on a ``matplotlib.figure.Figure`` created without pyplot
(headless, nothing shown) and returns it; each panel is one ``imshow`` of a
mosaic of images (:func:`tile_images`), light pixels low (``gray_r``, as the
digits are usually shown). Discrete images (``tff.datasets.digits``) are
given with ``levels=``; they are shown and encoded at the centres of their
cells, ``v = (x + 1/2) / levels``.

#### Examples

>>> import tfp_flows as tff
>>> from tfp_flows.images.dequantization import with_logit_preprocessing
>>> flow = with_logit_preprocessing(tff.real_nvp((4, 4, 1), num_scales=1, steps_per_scale=1,
...                                              hidden_channels=4, num_blocks=0))
>>> fig = plot_temperature_samples(flow, temperatures=(0.7, 1.0), num_images=4, columns=2)
>>> [ax.get_title() for ax in fig.axes]
['T = 0.7', 'T = 1']

#### References

[1]: Diederik P. Kingma, Prafulla Dhariwal. Glow: Generative Flow with
     Invertible 1x1 Convolutions. NeurIPS 2018. https://arxiv.org/abs/1807.03039
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf
from matplotlib.figure import Figure
from tensorflow_probability import distributions as tfd

from tfp_flows._internal.checks import check_integer, check_number
from tfp_flows._internal.seeds import stateless_seed
from tfp_flows.images.dequantization import check_discrete

__all__ = [
    "interpolate_latents",
    "plot_latent_interpolations",
    "plot_reconstructions",
    "plot_temperature_samples",
    "reconstruct",
    "sample_at_temperature",
    "tile_images",
]

_CMAP = "gray_r"
_PANEL_INCHES = 0.45  # per image in a mosaic


def _image_flow(flow: Any, owner: str) -> tuple[int, int, int]:
    """The ``(H, W, C)`` of a flow on images with one or three channels, checked."""
    if not (
        isinstance(flow, tfd.Distribution)
        and hasattr(flow, "bijector")
        and hasattr(flow, "distribution")
    ):
        raise TypeError(
            f"{owner}: expected a flow (a transformed distribution such as "
            f"tff.real_nvp((8, 8, 1))), got {type(flow).__name__}."
        )
    shape = flow.event_shape
    if shape.rank != 3 or not shape.is_fully_defined() or shape[-1] not in (1, 3):
        raise ValueError(
            f"{owner}: expected a flow on images [H, W, C] with C = 1 or 3 "
            f"(wrap a vector flow with tfb.Reshape), got event shape {shape.as_list()}."
        )
    return tuple(int(d) for d in shape)


def _pixels(images: Any, shape: tuple[int, int, int], levels: int | None, owner: str) -> tf.Tensor:
    """``images`` ``[n, H, W, C]`` as pixels in ``[0, 1]``: discrete ones at their cells' centres."""
    values = np.asarray(images.numpy() if hasattr(images, "numpy") else images)
    if values.ndim != 4 or values.shape[1:] != shape or values.shape[0] == 0:
        raise ValueError(
            f"{owner}: expected images [n, {', '.join(map(str, shape))}] with "
            f"n >= 1, got shape {list(values.shape)}."
        )
    if levels is not None:
        check_discrete(values, levels, owner)
        values = (values + 0.5) / levels
    return tf.constant(values)


def _latent(flow: tfd.TransformedDistribution, pixels: tf.Tensor) -> tf.Tensor:
    """``g^{-1}(v)`` as a new tensor: TFP's bijector cache would answer ``g`` of the returned
    tensor with ``v`` itself, without computing anything."""
    return tf.constant(flow.bijector.inverse(tf.cast(pixels, flow.dtype)).numpy())


def _shown(pixels: Any) -> np.ndarray:
    """Pixels for display: ``[n, H, W]`` (one channel) or ``[n, H, W, 3]``, clipped to ``[0, 1]``."""
    values = np.clip(
        np.asarray(pixels.numpy() if hasattr(pixels, "numpy") else pixels, np.float64), 0.0, 1.0
    )
    return values[..., 0] if values.shape[-1] == 1 else values


def tile_images(images: Any, columns: int, pad: int = 1, fill: float = 0.0) -> np.ndarray:
    """A mosaic of ``images`` ``[n, H, W]`` or ``[n, H, W, C]``, ``columns`` per row, row-major.

    ```none
    image k goes to row k // columns, column k % columns, at
    mosaic[pad + r (H + pad) : pad + r (H + pad) + H,  pad + c (W + pad) : ...]
    ```

    with ``fill`` in the ``pad``-wide borders and in the unused cells of the
    last row.

    Args:
      images: ``[n, H, W]`` or ``[n, H, W, C]`` values (``n >= 1``).
      columns: images per row (``>= 1``).
      pad: border width in pixels (``>= 0``).
      fill: value of the borders.

    Returns:
      A ``[rows (H + pad) + pad, columns (W + pad) + pad (, C)]`` array.

    #### Examples

    >>> tile_images(np.ones([3, 1, 2]), columns=2, pad=1)
    array([[0., 0., 0., 0., 0., 0., 0.],
           [0., 1., 1., 0., 1., 1., 0.],
           [0., 0., 0., 0., 0., 0., 0.],
           [0., 1., 1., 0., 0., 0., 0.],
           [0., 0., 0., 0., 0., 0., 0.]])
    """
    values = np.asarray(images, np.float64)
    if values.ndim not in (3, 4) or values.shape[0] == 0:
        raise ValueError(
            f"tile_images: expected images [n, H, W] or [n, H, W, C] with n >= 1, "
            f"got shape {list(values.shape)}."
        )
    columns = check_integer("columns", columns)
    pad = check_integer("pad", pad, minimum=0)
    n, height, width = values.shape[:3]
    rows = -(-n // columns)
    mosaic = np.full(
        (rows * (height + pad) + pad, columns * (width + pad) + pad) + values.shape[3:], float(fill)
    )
    for k in range(n):
        top = pad + (k // columns) * (height + pad)
        left = pad + (k % columns) * (width + pad)
        mosaic[top : top + height, left : left + width] = values[k]
    return mosaic


def _show(ax, pixels: np.ndarray, columns: int, title: str) -> None:
    ax.imshow(
        tile_images(pixels, columns, fill=0.0),
        cmap=_CMAP,
        vmin=0.0,
        vmax=1.0,
        interpolation="nearest",
    )
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])


def sample_at_temperature(
    flow: tfd.TransformedDistribution, n: int, temperature: float, seed: Any = 0
) -> tf.Tensor:
    """``n`` images ``g(T z)``, ``z`` drawn from the flow's base ``N(0, I)`` (std ``T`` then).

    Args:
      flow: a flow on images whose base is a standard normal.
      n: number of images.
      temperature: ``T >= 0`` (``1``: the model's own samples).
      seed: a stateless seed; the same seed gives the same ``z`` at every ``T``.

    Returns:
      ``[n, H, W, C]`` pixels (of a model of pixels in ``[0, 1]``: mostly in it).

    #### Examples

    >>> import tfp_flows as tff
    >>> flow = tff.real_nvp((4, 4, 1), num_scales=1, steps_per_scale=1, hidden_channels=4)
    >>> cold, hot = (sample_at_temperature(flow, 2, t, seed=3) for t in (0.5, 1.0))
    >>> bool(tf.reduce_all(tf.abs(2 * cold - hot) < 1e-6))   # a fresh flow is the identity
    True
    """
    _image_flow(flow, "sample_at_temperature")
    n = check_integer("n", n)
    temperature = check_number(
        "temperature", temperature, "a number >= 0", lambda t: 0 <= t < np.inf
    )
    z = flow.distribution.sample(n, seed=stateless_seed(seed))
    return flow.bijector.forward(tf.constant(temperature, flow.dtype) * z)


def reconstruct(
    flow: tfd.TransformedDistribution, images: Any, levels: int | None = None
) -> tuple[tf.Tensor, tf.Tensor]:
    """``(v, g(g^{-1}(v)))``: the pixels of ``images`` and their reconstruction from the latent code.

    Args:
      flow: a flow on images ``[H, W, C]``.
      images: ``[n, H, W, C]`` pixels in ``[0, 1]``, or discrete ones with ``levels``.
      levels: grey levels of discrete images (``None``: ``images`` are pixels).

    Returns:
      Two ``[n, H, W, C]`` tensors of the flow's dtype.

    #### Examples

    >>> import tfp_flows as tff
    >>> from tfp_flows.images.dequantization import with_logit_preprocessing
    >>> flow = with_logit_preprocessing(tff.real_nvp((4, 4, 1), num_scales=1, hidden_channels=4))
    >>> v, back = reconstruct(flow, np.full([2, 4, 4, 1], 3.0), levels=17)
    >>> round(float(v[0, 0, 0, 0]), 4), bool(tf.reduce_all(tf.abs(v - back) < 1e-5))  # 3.5 / 17
    (0.2059, True)
    """
    shape = _image_flow(flow, "reconstruct")
    pixels = tf.cast(_pixels(images, shape, levels, "reconstruct"), flow.dtype)
    return pixels, flow.bijector.forward(_latent(flow, pixels))


def interpolate_latents(start: Any, end: Any, num_steps: int, method: str = "linear") -> tf.Tensor:
    """Points from ``start`` to ``end`` (``[n, ...]`` latents), ``[n, num_steps, ...]``, ends included.

    ```none
    linear:     z_t = (1 - t) z_a + t z_b
    spherical:  z_t = sin((1 - t) w) / sin(w) z_a + sin(t w) / sin(w) z_b,   cos w = <z_a, z_b> / (|z_a| |z_b|)
                (linear where w ~ 0),   t = 0, 1/(num_steps - 1), ..., 1
    ```

    #### Examples

    >>> interpolate_latents([[0.0, 2.0]], [[2.0, 0.0]], 3).numpy().tolist()
    [[[0.0, 2.0], [1.0, 1.0], [2.0, 0.0]]]
    >>> np.round(interpolate_latents([[0.0, 2.0]], [[2.0, 0.0]], 3, "spherical").numpy(), 4).tolist()
    [[[0.0, 2.0], [1.4142, 1.4142], [2.0, 0.0]]]
    """
    if method not in ("linear", "spherical"):
        raise ValueError(
            f"interpolate_latents: method must be 'linear' or 'spherical', got {method!r}."
        )
    num_steps = check_integer("num_steps", num_steps, minimum=2)
    start = tf.convert_to_tensor(start)
    end = tf.cast(tf.convert_to_tensor(end), start.dtype)
    if start.shape != end.shape or start.shape.rank < 2:
        raise ValueError(
            f"interpolate_latents: expected start and end of one shape [n, ...], "
            f"got {start.shape} and {end.shape}."
        )
    flat_start = tf.reshape(start, [start.shape[0], 1, -1])
    flat_end = tf.reshape(end, [end.shape[0], 1, -1])
    t = tf.reshape(tf.linspace(tf.constant(0.0, start.dtype), 1.0, num_steps), [1, -1, 1])
    weight_start, weight_end = 1.0 - t, t
    if method == "spherical":
        cosine = tf.reduce_sum(flat_start * flat_end, -1, keepdims=True) / (
            tf.norm(flat_start, axis=-1, keepdims=True) * tf.norm(flat_end, axis=-1, keepdims=True)
        )
        angle = tf.acos(tf.clip_by_value(cosine, -1.0, 1.0))
        sine = tf.sin(angle)
        curved = sine > 1e-6
        safe = tf.where(curved, sine, tf.ones_like(sine))
        weight_start = tf.where(curved, tf.sin((1.0 - t) * angle) / safe, weight_start)
        weight_end = tf.where(curved, tf.sin(t * angle) / safe, weight_end)
    path = weight_start * flat_start + weight_end * flat_end
    return tf.reshape(path, tf.concat([[start.shape[0], num_steps], tf.shape(start)[1:]], 0))


def plot_temperature_samples(
    flow: tfd.TransformedDistribution,
    temperatures: Sequence[float] = (0.7, 0.8, 1.0),
    num_images: int = 32,
    columns: int = 8,
    seed: Any = 0,
) -> Figure:
    """A panel of samples per temperature (:func:`sample_at_temperature`, one ``z`` for all).

    The same base draws ``z`` are scaled by each ``T``, so the panels show the
    same images getting cleaner as ``T`` drops.

    Args:
      flow: a flow on images ``[H, W, C]`` (``C`` 1 or 3) of pixels in ``[0, 1]``.
      temperatures: one panel each.
      num_images: images per panel.
      columns: images per row of a panel.
      seed: the stateless seed of ``z``.

    Returns:
      The figure: ``fig.axes[i]`` shows temperature ``temperatures[i]`` (its
      ``images[0]`` holds the mosaic, pixels clipped to ``[0, 1]``).

    #### Examples

    >>> import tfp_flows as tff
    >>> flow = tff.glow((4, 4, 1), num_scales=1, steps_per_scale=1, hidden_channels=4)
    >>> fig = plot_temperature_samples(flow, temperatures=(0.8,), num_images=6, columns=3)
    >>> fig.axes[0].images[0].get_array().shape           # 2 rows x 3 columns of 4x4, 1 px apart
    (11, 16)
    """
    _image_flow(flow, "plot_temperature_samples")
    temperatures = list(temperatures)
    if not temperatures:
        raise ValueError("plot_temperature_samples: expected at least one temperature, got none.")
    columns = check_integer("columns", columns)
    rows = -(-check_integer("num_images", num_images) // columns)
    fig = Figure(
        figsize=(len(temperatures) * columns * _PANEL_INCHES + 0.3, rows * _PANEL_INCHES + 0.5),
        layout="constrained",
    )
    for i, temperature in enumerate(temperatures):
        samples = sample_at_temperature(flow, num_images, temperature, seed=seed)
        _show(
            fig.add_subplot(1, len(temperatures), i + 1),
            _shown(samples),
            columns,
            f"T = {temperature:g}",
        )
    return fig


def plot_reconstructions(
    flow: tfd.TransformedDistribution,
    images: Any,
    levels: int | None = None,
    columns: int = 8,
) -> Figure:
    """Images (left) next to their reconstructions ``g(g^{-1}(v))`` (right), :func:`reconstruct`.

    The title of the right panel gives the largest absolute pixel error,
    which shows how invertible the trained flow is numerically.

    Args:
      flow: a flow on images ``[H, W, C]`` (``C`` 1 or 3).
      images: ``[n, H, W, C]`` pixels in ``[0, 1]``, or discrete ones with ``levels``.
      levels: grey levels of discrete images (``None``: ``images`` are pixels).
      columns: images per row of each panel.

    Returns:
      The figure, two axes: the images and their reconstructions.

    #### Examples

    >>> import tfp_flows as tff
    >>> flow = tff.real_nvp((4, 4, 1), num_scales=1, steps_per_scale=1, hidden_channels=4)
    >>> fig = plot_reconstructions(flow, np.full([3, 4, 4, 1], 0.5), columns=3)
    >>> [ax.get_title() for ax in fig.axes]
    ['images', 'reconstructions (max |error| 0)']
    """
    pixels, back = reconstruct(flow, images, levels)
    error = float(tf.reduce_max(tf.abs(tf.cast(back, pixels.dtype) - pixels)))
    columns = min(check_integer("columns", columns), int(pixels.shape[0]))
    rows = -(-int(pixels.shape[0]) // columns)
    fig = Figure(
        figsize=(2 * columns * _PANEL_INCHES + 0.3, rows * _PANEL_INCHES + 0.5),
        layout="constrained",
    )
    _show(fig.add_subplot(1, 2, 1), _shown(pixels), columns, "images")
    _show(
        fig.add_subplot(1, 2, 2),
        _shown(back),
        columns,
        f"reconstructions (max |error| {error:.2g})",
    )
    return fig


def plot_latent_interpolations(
    flow: tfd.TransformedDistribution,
    starts: Any,
    ends: Any,
    levels: int | None = None,
    num_steps: int = 8,
    method: str = "spherical",
) -> Figure:
    """One row per pair: ``g(z_t)`` along a latent path from ``g^{-1}(start)`` to ``g^{-1}(end)``.

    See :func:`interpolate_latents` for the paths; the first and last image of
    a row are the reconstructions of its two ends.

    Args:
      flow: a flow on images ``[H, W, C]`` (``C`` 1 or 3).
      starts, ends: ``[n, H, W, C]`` images (pixels, or discrete with ``levels``).
      levels: grey levels of discrete images (``None``: pixels).
      num_steps: images per row, ends included (``>= 2``).
      method: ``"spherical"`` or ``"linear"``.

    Returns:
      The figure, one axes whose mosaic has ``n`` rows of ``num_steps`` images.

    #### Examples

    >>> import tfp_flows as tff
    >>> flow = tff.real_nvp((4, 4, 1), num_scales=1, steps_per_scale=1, hidden_channels=4)
    >>> black, white = np.zeros([1, 4, 4, 1]), np.full([1, 4, 4, 1], 16.0)
    >>> fig = plot_latent_interpolations(flow, black, white, levels=17, num_steps=5,
    ...                                  method="linear")
    >>> np.round(fig.axes[0].images[0].get_array()[1, 1::5], 3).tolist()   # a fresh flow
    [0.029, 0.265, 0.5, 0.735, 0.971]
    """
    shape = _image_flow(flow, "plot_latent_interpolations")
    start_pixels = _pixels(starts, shape, levels, "plot_latent_interpolations")
    end_pixels = _pixels(ends, shape, levels, "plot_latent_interpolations")
    if start_pixels.shape != end_pixels.shape:
        raise ValueError(
            f"plot_latent_interpolations: expected as many starts as ends, got "
            f"shapes {start_pixels.shape} and {end_pixels.shape}."
        )
    path = interpolate_latents(
        _latent(flow, start_pixels), _latent(flow, end_pixels), num_steps, method
    )
    count = int(start_pixels.shape[0])
    images = flow.bijector.forward(tf.reshape(path, [count * num_steps, *shape]))
    fig = Figure(
        figsize=(num_steps * _PANEL_INCHES + 0.3, count * _PANEL_INCHES + 0.5), layout="constrained"
    )
    _show(
        fig.add_subplot(1, 1, 1),
        _shown(images),
        num_steps,
        f"{method} interpolation in latent space",
    )
    return fig
