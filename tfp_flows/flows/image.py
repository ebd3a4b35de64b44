"""Image flows: Real NVP's multiscale architecture and a Glow-style variant on ``[H, W, C]`` events.

``tff.real_nvp((8, 8, 1))`` and ``tff.glow((8, 8, 1))`` build these. Written
in the normalising direction ``f`` (data ``x`` -> latent ``z``) of Dinh et al.
(2017, sec. 3.6), one *scale* on ``[H, W, C]`` is

```none
real_nvp:  3 checkerboard couplings on [H, W, C] -> squeeze to [H/2, W/2, 4C]
           -> 3 channel couplings -> factor out half: C' = 2C channels go on to the next scale
glow:      squeeze to [H/2, W/2, 4C] -> K steps of (ActNorm, 1x1 convolution, channel coupling)
           -> factor out half
last scale: 4 checkerboard couplings (real_nvp) / squeeze and K steps (glow), nothing factored out
```

and the flow's bijector is ``f^{-1}`` (a ``TransformedDistribution`` maps the
base to the data), built from the same layers in the opposite order: a
factored-out half enters the couplings of its scale straight from the base
(:class:`~tfp_flows.bijectors.FactorOut`), so

```none
log p(x) = log N(z; 0, I) + sum over layers of log|det df_l / dx_l|
```

with the squeezes' log-det 0 and every coupling's a sum of log-scales. The
base is ``N(0, I)`` on ``[H, W, C]``; its pixels map to the scales through the
squeezes (a fixed permutation). Couplings use convolutional residual
conditioners (:class:`~tfp_flows.bijectors.ConvResNet`, zero-initialised last
layer), so a fresh flow is the identity: ``N(0, I)`` on the image.

For pixel data in ``[0, 1]``, put the flow behind the logit preprocessing of
the paper (:func:`tfp_flows.images.dequantization.with_logit_preprocessing`) and train
on dequantised pixels (:mod:`tfp_flows.images.dequantization`).

#### References

[1]: Laurent Dinh, Jascha Sohl-Dickstein, Samy Bengio. Density estimation using
     Real NVP. ICLR 2017. https://arxiv.org/abs/1605.08803
[2]: Diederik P. Kingma, Prafulla Dhariwal. Glow: Generative Flow with
     Invertible 1x1 Convolutions. NeurIPS 2018. https://arxiv.org/abs/1807.03039
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np
import tensorflow as tf
from tensorflow_probability import bijectors as tfb
from tensorflow_probability import distributions as tfd

from tfp_flows._internal.checks import check_floating_dtype, check_integer
from tfp_flows._internal.naming import unique_name
from tfp_flows.bijectors.actnorm import ActNorm
from tfp_flows.bijectors.chain import FlowChain
from tfp_flows.bijectors.conv1x1 import Conv1x1
from tfp_flows.bijectors.coupling import AffineCoupling
from tfp_flows.bijectors.factor_out import FactorOut
from tfp_flows.bijectors.masks import channel_mask, checkerboard_mask
from tfp_flows.bijectors.squeeze import Squeeze
from tfp_flows.flows.flow import Flow
from tfp_flows.flows.stack import MAX_PARAMETERS, check_flow_size
from tfp_flows.nn.image_conditioner import ConvResNetFactory

__all__ = [
    "DEFAULT_NUM_SCALES",
    "IMAGE_ARCHITECTURES",
    "ImageFlowSize",
    "glow",
    "image_flow",
    "image_flow_size",
    "image_shape",
    "largest_num_scales",
    "max_scales",
]

IMAGE_ARCHITECTURES = ("real_nvp", "glow")
DEFAULT_NUM_SCALES = 2
"""``num_scales`` of an image flow when the image allows it (else the most it allows)."""


def image_shape(event_shape: Sequence[int]) -> tuple[int, int, int]:
    """``(H, W, C)`` of an image event, checked: three positive integers.

    #### Examples

    >>> image_shape([8, 8, 1])
    (8, 8, 1)
    >>> image_shape((8, 8))
    Traceback (most recent call last):
    ...
    ValueError: an image event shape is (height, width, channels), got (8, 8).
    """
    if isinstance(event_shape, (int, np.integer, float, str)) or not hasattr(
        event_shape, "__iter__"
    ):
        raise TypeError(
            f"an image event shape is (height, width, channels), got "
            f"{event_shape!r} ({type(event_shape).__name__})."
        )
    shape = tuple(event_shape)
    if len(shape) != 3 or not all(isinstance(d, (int, np.integer)) and d >= 1 for d in shape):
        raise ValueError(f"an image event shape is (height, width, channels), got {shape}.")
    return tuple(int(d) for d in shape)


def max_scales(event_shape: Sequence[int]) -> int:
    """The most scales an image allows: each scale halves ``H`` and ``W`` (both stay even).

    #### Examples

    >>> max_scales((8, 8, 1)), max_scales((28, 28, 1)), max_scales((6, 6, 3))
    (3, 2, 1)
    """
    height, width, _ = image_shape(event_shape)
    scales = 0
    while height % 2 == 0 and width % 2 == 0:
        height, width, scales = height // 2, width // 2, scales + 1
    return scales


def largest_num_scales(event_shape: Sequence[int], architecture: str = "real_nvp") -> int | None:
    """The largest ``num_scales`` an image flow on ``event_shape`` can have (``None``: none works).

    Every scale halves ``H`` and ``W`` (both must be even). ``real_nvp``'s last
    scale couples the pixels in a checkerboard, so it needs at least 2 of them;
    ``glow`` squeezes once more at its last scale, so ``H`` and ``W`` must be
    even even with ``num_scales=0``.

    #### Examples

    >>> largest_num_scales((8, 8, 1)), largest_num_scales((4, 4, 1)), largest_num_scales((2, 2, 3))
    (2, 1, 0)
    >>> largest_num_scales((8, 8, 1), "glow"), largest_num_scales((3, 3, 1), "glow")
    (2, None)
    >>> print(largest_num_scales((1, 1, 3)))  # one pixel: no checkerboard
    None
    """
    height, width, _ = image_shape(event_shape)
    if architecture == "glow":
        return max_scales(event_shape) - 1 if max_scales(event_shape) >= 1 else None
    scales = max_scales(event_shape)
    while scales >= 0 and (height >> scales) * (width >> scales) < 2:
        scales -= 1
    return scales if scales >= 0 else None


def _check_num_scales(
    shape: tuple[int, int, int], architecture: str, num_scales: int | None
) -> int:
    """``num_scales`` (``None``: the default the image allows), or a ``ValueError`` naming the limit."""
    largest = largest_num_scales(shape, architecture)
    if largest is None and architecture == "glow":
        raise ValueError(
            f"glow squeezes the height and width by 2 at least once, so both must be even, got "
            f"images {shape}; pad or crop them to even sizes, or use real_nvp (no squeeze "
            "needed at num_scales=0)."
        )
    if largest is None:
        advice = (
            f"for one pixel of {shape[2]} channels use a vector flow, tff.real_nvp({shape[2]})"
            if shape[2] >= 2
            else "one value has nothing to couple"
        )
        raise ValueError(
            f"real_nvp on images needs at least 2 pixels (its checkerboard couplings transform "
            f"half of them), got images {shape}, whatever num_scales; {advice}."
        )
    if num_scales is None:
        return min(DEFAULT_NUM_SCALES, largest)
    num_scales = check_integer("num_scales", num_scales, minimum=0)
    if num_scales > largest:
        height, width = shape[0] >> largest, shape[1] >> largest
        why = (
            "each scale halves the height and width (both must stay even) and the last "
            "scale squeezes once more"
            if architecture == "glow"
            else "each scale halves the height and width (both must stay even) and the last "
            "scale's checkerboard couplings need at least 2 pixels"
        )
        raise ValueError(
            f"{architecture} on images {shape} works with num_scales up to {largest} (at "
            f"num_scales={largest} the last scale is {height}x{width} pixels), got "
            f"num_scales={num_scales}: {why}; use num_scales <= {largest} or pad the images."
        )
    return num_scales


class ImageFlowSize(NamedTuple):
    """What an image flow holds and computes, counted without building it."""

    parameters: int
    """Trainable parameters."""
    activations: int
    """Values a training step keeps per image for the gradient (about)."""


def image_flow_size(
    event_shape: Sequence[int],
    architecture: str = "real_nvp",
    *,
    num_scales: int | None = None,
    steps_per_scale: int = 3,
    hidden_channels: int = 32,
    num_blocks: int = 2,
    context_size: int = 0,
) -> ImageFlowSize:
    """Parameters and per-image activations of :func:`image_flow` with these arguments, uncreated.

    A coupling on a scale of ``[h, w, c]`` has a
    :class:`~tfp_flows.bijectors.ConvResNet` conditioner (3x3 convolutions
    ``c + k -> F``, ``2 num_blocks`` of ``F -> F`` and ``F -> 2c``, with biases)
    and one log-scale bound per transformed entry; an
    :class:`~tfp_flows.bijectors.ActNorm` holds ``2c`` and a
    :class:`~tfp_flows.bijectors.Conv1x1` ``c^2 + c`` parameters. A training
    step holds about ``h w (4F + 10 F num_blocks + 6c)`` values per coupling
    and image: every convolution's output and activation, the masked input and
    the parameters, and as much again for their gradients (measured: a float32
    gradient step of the digits model, ``steps_per_scale=2``, ``F = 16``,
    ``num_blocks=1``, without XLA, grows the peak memory by 0.165 MiB per image
    between batches of 2048 and 8192; this count gives 0.19 MiB).

    #### Examples

    >>> image_flow_size((8, 8, 1), num_scales=1, steps_per_scale=1, hidden_channels=4,
    ...                 num_blocks=0).parameters
    1102
    """
    shape = image_shape(event_shape)
    if architecture not in IMAGE_ARCHITECTURES:
        raise ValueError(
            f"architecture must be one of {IMAGE_ARCHITECTURES}, got {architecture!r}."
        )
    num_scales = _check_num_scales(shape, architecture, num_scales)
    steps = check_integer("steps_per_scale", steps_per_scale, minimum=1)
    hidden = check_integer("hidden_channels", hidden_channels)
    blocks = check_integer("num_blocks", num_blocks, minimum=0)
    context = check_integer("context_size", context_size, minimum=0)
    parameters = activations = 0

    def coupling(mask: np.ndarray) -> None:
        nonlocal parameters, activations
        height, width, channels = mask.shape
        parameters += (
            9 * (channels + context) * hidden
            + hidden
            + blocks * 2 * (9 * hidden * hidden + hidden)
            + 9 * hidden * 2 * channels
            + 2 * channels
            + int(np.sum(mask == 0))
        )
        activations += height * width * (4 * hidden + 10 * hidden * blocks + 6 * channels)

    height, width, channels = shape
    for scales_left in range(num_scales, -1, -1):
        squeezed = (height // 2, width // 2, 4 * channels)
        if architecture == "real_nvp":
            count = steps + 1 if scales_left == 0 else steps
            for i in range(count):
                coupling(checkerboard_mask((height, width, channels), flip=i % 2 == 1))
            if scales_left > 0:
                for i in range(steps):
                    coupling(channel_mask(squeezed, flip=i % 2 == 1))
        else:
            for i in range(steps):
                parameters += 2 * squeezed[2] + squeezed[2] ** 2 + squeezed[2]
                coupling(channel_mask(squeezed, flip=i % 2 == 1))
        height, width, channels = squeezed[0], squeezed[1], squeezed[2] // 2
    return ImageFlowSize(parameters, activations)


class _Builder:
    """Names, seeds and shared settings of one image flow's layers."""

    def __init__(
        self,
        name: str,
        seed: int | None,
        *,
        hidden_channels: int,
        num_blocks: int,
        activation: str | Callable[[tf.Tensor], tf.Tensor],
        **coupling_kwargs,
    ):
        self.name = name
        self.network_kwargs = dict(
            hidden_channels=hidden_channels, num_blocks=num_blocks, activation=activation
        )
        self.seeds: Iterator[int | None] = (
            itertools.count(seed) if seed is not None else itertools.repeat(None)
        )
        self.counter = itertools.count()
        self.coupling_kwargs = coupling_kwargs
        self.dtype = coupling_kwargs["dtype"]

    def _named(self, kind: str) -> str:
        return f"{self.name}_{kind}_{next(self.counter)}"

    def coupling(self, mask: np.ndarray) -> AffineCoupling:
        return AffineCoupling(
            mask,
            ConvResNetFactory(**self.network_kwargs, seed=next(self.seeds)),
            name=self._named("coupling"),
            **self.coupling_kwargs,
        )

    def checkerboard(self, shape, count: int) -> list[tfb.Bijector]:
        return [self.coupling(checkerboard_mask(shape, flip=i % 2 == 1)) for i in range(count)]

    def channel(self, shape, count: int) -> list[tfb.Bijector]:
        return [self.coupling(channel_mask(shape, flip=i % 2 == 1)) for i in range(count)]

    def glow_steps(self, shape, count: int) -> list[tfb.Bijector]:
        """``count`` steps, each ``(ActNorm, 1x1 conv, coupling)`` in the normalising direction."""
        layers: list[tfb.Bijector] = []
        for i in range(count):
            layers += [
                ActNorm(shape, dtype=self.dtype, name=self._named("actnorm")),
                Conv1x1(
                    shape, seed=next(self.seeds), dtype=self.dtype, name=self._named("conv1x1")
                ),
                self.coupling(channel_mask(shape, flip=i % 2 == 1)),
            ]
        return layers

    def squeeze(self, shape) -> Squeeze:
        return Squeeze(shape, dtype=self.dtype, name=self._named("squeeze"))

    def scale(self, architecture: str, shape, scales_left: int, steps: int) -> FlowChain:
        """One scale and the ones below it, ``shape -> shape``; layers listed as ``f`` applies them."""
        height, width, channels = shape
        squeezed = (height // 2, width // 2, 4 * channels)
        if architecture == "real_nvp" and scales_left == 0:
            normalising = self.checkerboard(shape, steps + 1)
        elif architecture == "real_nvp":
            normalising = [
                *self.checkerboard(shape, steps),
                tfb.Invert(self.squeeze(shape)),
                *self.channel(squeezed, steps),
            ]
        else:
            normalising = [tfb.Invert(self.squeeze(shape)), *self.glow_steps(squeezed, steps)]
        if scales_left > 0:  # half of the channels go on to the next scale
            inner = self.scale(
                architecture, (*squeezed[:2], squeezed[2] // 2), scales_left - 1, steps
            )
            normalising.append(FactorOut(inner, squeezed, name=self._named("factor_out")))
        if architecture == "glow" or scales_left > 0:
            normalising.append(self.squeeze(shape))  # back to [H, W, C] on the latent side
        # A FlowChain applies its last bijector first; the normalising direction f is the
        # chain's inverse, so f's first layer is listed first.
        return FlowChain(normalising, name=self._named("scale"))


def image_flow(
    event_shape: Sequence[int],
    architecture: str = "real_nvp",
    *,
    num_scales: int | None = None,
    steps_per_scale: int = 3,
    hidden_channels: int = 32,
    num_blocks: int = 2,
    activation: str | Callable[[tf.Tensor], tf.Tensor] = "relu",
    log_scale_bound: float = 2.0,
    seed: int | None = 0,
    context_size: int = 0,
    validate_args: bool = False,
    dtype: tf.DType = tf.float32,
    name: str | None = None,
    max_parameters: int | None = MAX_PARAMETERS,
) -> tfd.TransformedDistribution:
    """A multiscale image flow on ``N(0, I)`` over ``[H, W, C]`` (see the module docstring).

    Args:
      event_shape: ``(H, W, C)``; ``H`` and ``W`` divisible by ``2^num_scales``.
      architecture: ``"real_nvp"`` (checkerboard and channel couplings,
        Dinh et al.) or ``"glow"`` (ActNorm + 1x1 convolution + channel coupling
        per step, Kingma & Dhariwal).
      num_scales: scales that factor out half of their channels (``None``: as
        many as the image allows, at most ``DEFAULT_NUM_SCALES = 2``; see
        :func:`largest_num_scales`). ``real_nvp``'s last scale needs at least
        2 pixels (``H W / 4^num_scales >= 2``); ``glow`` squeezes once more at
        the last scale, so it needs ``H``, ``W`` divisible by
        ``2^(num_scales + 1)``. A larger value is refused with a ``ValueError``
        naming the largest that works.
      steps_per_scale: couplings of each kind per scale (``real_nvp``: 3
        checkerboard + 3 channel, the last scale ``steps + 1`` checkerboard) or
        steps per scale (``glow``).
      hidden_channels, num_blocks: width and residual blocks of each
        coupling's convolutional conditioner.
      activation: the conditioners' activation.
      log_scale_bound: initial bound of each coupling's log-scale.
      seed: seed of the initial weights (``None``: unseeded).
      context_size: width of a context every coupling reads (0: unconditional).
      validate_args: check inputs are finite.
      dtype: ``tf.float32`` or ``tf.float64``.
      name: the flow's name (default: the next free ``real_nvp`` / ``glow``).
      max_parameters: refuse (``ValueError``, before any variable is created)
        a flow of more trainable parameters (:func:`image_flow_size`); default
        :data:`~tfp_flows.flows.stack.MAX_PARAMETERS`, ``None``: no cap.

    Returns:
      A :class:`~tfp_flows.Flow` with event shape ``[H, W, C]``.

    #### Examples

    >>> flow = image_flow((4, 4, 1), num_scales=1, steps_per_scale=1, hidden_channels=8,
    ...                   num_blocks=0)
    >>> flow.event_shape, flow.sample(2, seed=0).shape
    (TensorShape([4, 4, 1]), TensorShape([2, 4, 4, 1]))
    >>> x = tf.random.stateless_normal([3, 4, 4, 1], seed=[1, 2])
    >>> base = tfd.Independent(tfd.Normal(tf.zeros([4, 4, 1]), 1.0), 3)
    >>> bool(tf.reduce_all(tf.abs(flow.log_prob(x) - base.log_prob(x)) < 1e-5))  # fresh: N(0, I)
    True
    """
    if architecture not in IMAGE_ARCHITECTURES:
        raise ValueError(
            f"architecture must be one of {IMAGE_ARCHITECTURES}, got {architecture!r}."
        )
    shape = image_shape(event_shape)
    dtype = check_floating_dtype(dtype, architecture)
    steps = check_integer("steps_per_scale", steps_per_scale, minimum=1)
    num_scales = _check_num_scales(shape, architecture, num_scales)
    size = image_flow_size(
        shape,
        architecture,
        num_scales=num_scales,
        steps_per_scale=steps,
        hidden_channels=hidden_channels,
        num_blocks=num_blocks,
        context_size=context_size,
    )
    check_flow_size(
        f"{architecture} on images {shape} with num_scales={num_scales}, "
        f"steps_per_scale={steps}, hidden_channels={hidden_channels} and "
        f"num_blocks={num_blocks}",
        size.parameters,
        max_parameters,
        dtype,
        "use smaller hidden_channels or fewer num_blocks",
    )
    shown = name or unique_name(architecture)
    builder = _Builder(
        shown,
        None if seed is None else check_integer("seed", seed, minimum=0),
        hidden_channels=hidden_channels,
        num_blocks=num_blocks,
        activation=activation,
        log_scale_bound=log_scale_bound,
        context_size=context_size,
        validate_args=validate_args,
        dtype=dtype,
    )
    chain = builder.scale(architecture, shape, num_scales, steps)
    base = tfd.Independent(
        tfd.Normal(tf.zeros(shape, dtype), tf.ones([], dtype)), 3, name=f"{shown}_base"
    )
    flow = Flow(base, FlowChain([chain], name=shown), name=name)
    if name is None:
        flow._name = shown  # as the vector builders (flows/stack.py: assemble)
    return flow


def glow(event_shape: Sequence[int], **kwargs: Any) -> tfd.TransformedDistribution:
    """Glow (Kingma & Dhariwal 2018) on images: :func:`image_flow` with ``architecture="glow"``.

    Each step is, in the normalising direction, an
    :class:`~tfp_flows.bijectors.ActNorm` (initialised on the data by ``fit``),
    an invertible 1x1 convolution (:class:`~tfp_flows.bijectors.Conv1x1`, LU
    form) and an affine channel coupling with a convolutional conditioner.

    #### Examples

    >>> flow = glow((4, 4, 1), num_scales=1, steps_per_scale=1, hidden_channels=8)
    >>> flow.sample(2, seed=0).shape
    TensorShape([2, 4, 4, 1])
    """
    if isinstance(event_shape, (int, np.integer)) and not isinstance(event_shape, bool):
        raise TypeError(
            f"glow builds image flows on an event shape (height, width, channels), got the int "
            f"{event_shape}; for vectors, Glow's steps (ActNorm, learned linear map, affine "
            f"coupling) are tff.real_nvp({event_shape}, normalization='actnorm', mixing='lu')."
        )
    return image_flow(event_shape, "glow", **kwargs)
