"""``ImageSummary``: a small convolutional network on images, with global average pooling.

A summary network ``s = h(x)`` for observations that are images ``x [H, W, C]``
(``[H, W]`` means one channel), trained jointly with the posterior flow by
:func:`tfp_flows.inference.npe`:

```none
h_0 = x                                                          [B, H, W, C]
h_l = act(conv3x3_l(h_{l-1}))  ("same" padding), then           [B, H_l, W_l, f_l]
      average-pooled 2x2 (except after the last block)
p   = (1 / H_L W_L) sum_{i,j} h_L[:, i, j, :]                     [B, f_L]
s   = MLP(p)                                                     [B, output_size]
```

Each block halves the resolution and widens the receptive field; the global
average makes ``s`` independent of the image size, so one network reads images
of any size with the channels it was built for. Every weight is a Keras 3
weight that :func:`~tfp_flows.nn.summary_variables` exposes to the flow's
``trainable_variables`` and checkpoints.

#### Examples

>>> import numpy as np
>>> net = ImageSummary(5, filters=(8, 16), hidden_units=(16,), seed=0)
>>> x = np.random.default_rng(0).uniform(size=(2, 12, 12, 3)).astype("float32")
>>> net(x).shape
TensorShape([2, 5])
>>> net(x[..., 0])
Traceback (most recent call last):
...
ValueError: image_summary: expected shape [batch, height, width, 3] (3 channels), got shape (2, 12, 12).

#### References

[1] Yann LeCun, Leon Bottou, Yoshua Bengio and Patrick Haffner. Gradient-based
    learning applied to document recognition. Proceedings of the IEEE 1998.
[2] Min Lin, Qiang Chen and Shuicheng Yan. Network in network. ICLR 2014
    (global average pooling).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import tensorflow as tf

from tfp_flows._internal.checks import check_integer
from tfp_flows.nn.summary import (
    _ChannelsChecked,
    _check_units,
    _convolutions,
    _convolve,
    _dense_stack,
)

__all__ = ["ImageSummary"]


class ImageSummary(_ChannelsChecked):
    """A summary of images ``[B, H, W, C]`` (or ``[B, H, W]``): conv blocks, global average pooling, MLP.

    Args:
      output_size: width of the summary ``s`` (the posterior flow's context size).
      filters: the channels of each 3x3 convolution (one per block).
      hidden_units: widths of the hidden layers of the final MLP.
      activation: the activation of the convolutions and the MLP.
      seed: seed of the initial weights (``None``: unseeded).

    The number of channels is fixed by the first call; a later call with
    other channels, or of another rank, raises a ``ValueError`` naming the
    expected and the received shape.

    #### Examples

    >>> import numpy as np
    >>> ImageSummary(2, filters=(4,), seed=0)(np.zeros([3, 8, 8], "float32")).shape
    TensorShape([3, 2])
    """

    axes = "height, width"

    def __init__(
        self,
        output_size: int,
        filters: Sequence[int] = (16, 32, 32),
        hidden_units: Sequence[int] = (64,),
        activation: Any = "gelu",
        seed: int | None = 0,
        **kwargs: Any,
    ):
        kwargs.setdefault("name", "image_summary")
        super().__init__(**kwargs)
        self.output_size = check_integer("output_size", output_size)
        self.filters = _check_units(filters, "filters", non_empty=True)
        self.hidden_units = _check_units(hidden_units)
        self.convolutions = _convolutions(keras.layers.Conv2D, self.filters, 3, activation, seed)
        head_seed = None if seed is None else seed + 1000
        self.head = _dense_stack(self.hidden_units, self.output_size, activation, head_seed, "head")

    def call(self, x: Any) -> tf.Tensor:
        x = keras.ops.convert_to_tensor(x)
        if len(x.shape) == 3:
            x = x[..., None]
        h = _convolve(self.convolutions, x, keras.ops.average_pool)
        return self.head(keras.ops.mean(h, axis=(1, 2)))
