"""``ImageConditioner``: a coupling layer's conditioner that sees the image, not a flat vector.

A :class:`~tfp_flows.bijectors.Coupling` hands its conditioner the conditioning
entries ``x_a`` ``[batch, n_a]`` of the flattened event and expects the
transformer's parameters ``[batch, p * n_b]`` in ``p`` blocks of ``n_b`` (see
:mod:`~tfp_flows.nn.conditioners`). On an image mask ``[H, W, C]``
(checkerboard or channel-wise) this adapter puts ``x_a`` back in its pixels,
with zeros at the transformed entries (Real NVP's ``b * x``), runs an image
network (a :class:`~tfp_flows.bijectors.ConvResNet` by default) and reads the
parameters of the transformed entries off its output:

```none
image  = mask * x                                   [B, H, W, C]      (x_b set to 0)
out    = network(image, c)                          [B, H, W, p * C]
params[j, b] = out[h_b, w_b, j * C + c_b]           parameter j of transformed entry b
```

It meets the :class:`~tfp_flows.nn.Conditioner` protocol; :class:`ConvResNetFactory`
builds one around a :class:`~tfp_flows.nn.ConvResNet` for the mask a coupling layer gives.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from tfp_flows._internal.checks import check_integer
from tfp_flows.nn.conditioners import ConditionerSpec
from tfp_flows.nn.conv_resnet import ConvResNet
from tfp_flows.nn.mlp import get_activation

__all__ = ["ConvResNetFactory", "ImageConditioner"]


class ImageConditioner(tf.Module):
    """Adapts an image network ``[B, H, W, C] -> [B, H, W, p C]`` to a coupling mask (module docstring).

    Args:
      network: callable ``(image [B, H, W, C], context [B, k] or None) -> [B, H, W, p * C]``
        (channel ``j * C + c`` holds parameter ``j`` of channel ``c``); a
        ``tf.Module`` such as :class:`~tfp_flows.bijectors.ConvResNet`, so its
        variables are tracked.
      mask: the coupling's 0/1 mask ``[H, W, C]`` (1 = conditioning).
      params_per_entry: ``p``, the transformer's parameters per entry.
      context_size: width ``k`` of the context (0: unconditional).
      name: module name.

    #### Examples

    >>> from tfp_flows.bijectors import ConvResNet, checkerboard_mask
    >>> mask = checkerboard_mask((4, 4, 1))
    >>> conditioner = ImageConditioner(ConvResNet(1, 2, hidden_channels=8, seed=0), mask, 2)
    >>> conditioner(tf.ones([5, 8])).shape      # 8 conditioning -> 2 x 8 transformed entries
    TensorShape([5, 16])
    """

    def __init__(
        self,
        network: Callable[..., tf.Tensor],
        mask: np.ndarray,
        params_per_entry: int,
        context_size: int = 0,
        name: str = "image_conditioner",
    ):
        super().__init__(name=name)
        mask = np.asarray(mask)
        if mask.ndim != 3:
            raise ValueError(
                f"{name}: needs an image mask [H, W, C], got shape {list(mask.shape)}."
            )
        flat = mask.reshape(-1)
        conditioning, transformed = np.flatnonzero(flat == 1), np.flatnonzero(flat == 0)
        self._image_shape = tuple(int(s) for s in mask.shape)
        self._merge = np.argsort(np.concatenate([conditioning, transformed])).astype(np.int32)
        self._transformed = transformed.astype(np.int32)
        self._params_per_entry = int(params_per_entry)
        self._sizes = (
            len(conditioning),
            self._params_per_entry * len(transformed),
            int(context_size),
        )
        self.network = network

    @property
    def input_size(self) -> int:
        """``n_a``: the mask's conditioning entries."""
        return self._sizes[0]

    @property
    def output_size(self) -> int:
        """``p * n_b``: the parameters of the mask's transformed entries."""
        return self._sizes[1]

    @property
    def context_size(self) -> int:
        """Width of the context (0: unconditional)."""
        return self._sizes[2]

    def __call__(self, x_a: tf.Tensor, context: tf.Tensor | None = None) -> tf.Tensor:
        """``x_a`` ``[B, n_a]`` (and ``context`` ``[B, k]``) -> parameters ``[B, p * n_b]``."""
        height, width, channels = self._image_shape
        p = self._params_per_entry
        zeros = tf.zeros(tf.stack([tf.shape(x_a)[0], len(self._transformed)]), x_a.dtype)
        image = tf.reshape(
            tf.gather(tf.concat([x_a, zeros], axis=-1), self._merge, axis=-1),
            [-1, height, width, channels],
        )
        out = self.network(image, context)
        out = tf.reshape(out, [-1, height * width, p, channels])  # channel j * C + c
        out = tf.reshape(tf.transpose(out, [0, 2, 1, 3]), [-1, p, height * width * channels])
        return tf.reshape(tf.gather(out, self._transformed, axis=-1), [-1, self._sizes[1]])


@dataclass(frozen=True)
class ConvResNetFactory:
    """Builds a :class:`ConvResNet` on the masked image for a coupling layer (a ``ConditionerFactory``).

    Needs the layer's image mask ``[H, W, C]`` (``checkerboard_mask``,
    ``channel_mask``): the network maps ``C`` channels (plus the context) to
    ``p C`` and an :class:`ImageConditioner` reads the transformed entries' parameters off it.

    Args:
      hidden_channels: channels of the hidden layers.
      num_blocks: residual blocks (two 3x3 convolutions each).
      activation: name (``"relu"``, ``"elu"``, ...) or callable.
      seed: integer seed of the initialisation.

    #### Examples

    >>> from tfp_flows.bijectors import checkerboard_mask
    >>> mask = checkerboard_mask((4, 4, 1))
    >>> spec = ConditionerSpec(input_size=8, params_per_entry=2, num_transformed=8, mask=mask)
    >>> ConvResNetFactory(hidden_channels=8, num_blocks=1, seed=0).make_conditioner(spec).output_size
    16
    """

    hidden_channels: int = 32
    num_blocks: int = 2
    activation: str | Callable[[tf.Tensor], tf.Tensor] = "relu"
    seed: int | None = None

    def __post_init__(self) -> None:
        check_integer("hidden_channels", self.hidden_channels)
        check_integer("num_blocks", self.num_blocks, minimum=0)
        get_activation(self.activation)

    def make_conditioner(self, spec: ConditionerSpec) -> ImageConditioner:
        """An :class:`ImageConditioner` around a :class:`ConvResNet` ``C -> p C`` channels."""
        mask = None if spec.mask is None else np.asarray(spec.mask)
        if mask is None or mask.ndim != 3:
            shape = "none" if mask is None else f"a mask of shape {list(mask.shape)}"
            raise ValueError(
                "ConvResNetFactory needs an image mask of shape [H, W, C] "
                f"(checkerboard_mask or channel_mask), got {shape}."
            )
        channels = mask.shape[-1]
        network = ConvResNet(
            channels,
            spec.params_per_entry * channels,
            hidden_channels=self.hidden_channels,
            num_blocks=self.num_blocks,
            activation=self.activation,
            context_size=spec.context_size,
            seed=self.seed,
            dtype=spec.dtype,
        )
        return ImageConditioner(
            network, mask, spec.params_per_entry, context_size=spec.context_size
        )
