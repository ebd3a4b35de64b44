"""``ConvResNet``: a convolutional residual network on images, on plain ``tf.Variable`` s.

The conditioner network of Real NVP's image coupling layers: 3x3 convolutions
("same" padding, so the output has the input's height and width), residual
blocks, and a last convolution that starts at zero.

```none
h_0     = conv_in([x, c])                              [B, H, W, C_in (+ k)] -> [B, H, W, F]
h_{l+1} = h_l + conv_l2(act(conv_l1(act(h_l))))        l = 0 .. num_blocks - 1
out     = conv_out(act(h_L))                           [B, H, W, F] -> [B, H, W, C_out]
```

A context ``c`` ``[B, k]`` is broadcast to every pixel and read as ``k``
extra input channels.

#### References

[1]: Laurent Dinh, Jascha Sohl-Dickstein, Samy Bengio. Density estimation using
     Real NVP. ICLR 2017. https://arxiv.org/abs/1605.08803
[2]: Kaiming He, Xiangyu Zhang, Shaoqing Ren, Jian Sun. Identity Mappings in
     Deep Residual Networks. ECCV 2016. https://arxiv.org/abs/1603.05027
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import tensorflow as tf

from tfp_flows._internal.checks import check_integer
from tfp_flows.nn.mlp import get_activation

__all__ = ["ConvResNet"]


class ConvResNet(tf.Module):
    """Residual network of 3x3 convolutions ``[B, H, W, C_in] -> [B, H, W, C_out]`` (module docstring).

    Kernels start Glorot-uniform (``fan = 9 * channels``) from a seeded
    ``numpy`` generator, biases at zero; with ``zero_init_output=True`` (the
    default) the last convolution is zero, so the network outputs zeros until
    trained and a fresh coupling layer is the identity. Every weight is a plain
    ``tf.Variable``, tracked by ``tf.Module``, checkpoints and SavedModel.

    Args:
      in_channels: channels ``C_in`` of the input image.
      out_channels: channels ``C_out`` of the output.
      hidden_channels: channels ``F`` of the hidden layers.
      num_blocks: number of residual blocks (two convolutions each).
      activation: name (``"relu"``, ``"elu"``, ...) or callable.
      context_size: width ``k`` of the context (0: unconditional).
      zero_init_output: start the last convolution at zero.
      seed: integer seed for a deterministic initialisation.
      dtype: ``tf.float32`` or ``tf.float64``.
      name: module name.

    #### Examples

    >>> net = ConvResNet(1, 2, hidden_channels=8, num_blocks=1, seed=0)
    >>> net(tf.ones([3, 4, 4, 1])).shape
    TensorShape([3, 4, 4, 2])
    >>> float(tf.reduce_max(tf.abs(net(tf.ones([3, 4, 4, 1])))))    # zero last layer
    0.0
    >>> conditional = ConvResNet(1, 2, hidden_channels=8, context_size=3, seed=0)
    >>> conditional(tf.ones([3, 4, 4, 1]), tf.ones([3, 3])).shape
    TensorShape([3, 4, 4, 2])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        hidden_channels: int = 32,
        num_blocks: int = 2,
        activation: str | Callable[[tf.Tensor], tf.Tensor] = "relu",
        context_size: int = 0,
        zero_init_output: bool = True,
        seed: int | None = None,
        dtype: tf.DType = tf.float32,
        name: str = "conv_resnet",
    ):
        super().__init__(name=name)
        self._in_channels = check_integer(f"{name}: in_channels", in_channels)
        self._out_channels = check_integer(f"{name}: out_channels", out_channels)
        hidden = check_integer(f"{name}: hidden_channels", hidden_channels)
        blocks = check_integer(f"{name}: num_blocks", num_blocks, minimum=0)
        self._context_size = check_integer(f"{name}: context_size", context_size, minimum=0)
        self._activation = get_activation(activation)
        rng = np.random.default_rng(seed)

        def conv(fan_in: int, fan_out: int, label: str, zero: bool = False):
            limit = np.sqrt(6.0 / (9 * (fan_in + fan_out)))
            kernel = (
                np.zeros([3, 3, fan_in, fan_out])
                if zero
                else rng.uniform(-limit, limit, size=[3, 3, fan_in, fan_out])
            )
            return (
                tf.Variable(kernel, dtype=dtype, name=f"kernel_{label}"),
                tf.Variable(np.zeros([fan_out]), dtype=dtype, name=f"bias_{label}"),
            )

        with self.name_scope:
            self.conv_in = conv(self._in_channels + self._context_size, hidden, "in")
            self.blocks = [
                (conv(hidden, hidden, f"{i}a"), conv(hidden, hidden, f"{i}b"))
                for i in range(blocks)
            ]
            self.conv_out = conv(hidden, self._out_channels, "out", zero=zero_init_output)

    @property
    def in_channels(self) -> int:
        """Channels of the input image (the context's are added to these)."""
        return self._in_channels

    @property
    def out_channels(self) -> int:
        """Channels of the output image."""
        return self._out_channels

    @property
    def context_size(self) -> int:
        """Width of the context it reads (0: none)."""
        return self._context_size

    @staticmethod
    def _conv(h: tf.Tensor, weights: tuple[tf.Variable, tf.Variable]) -> tf.Tensor:
        kernel, bias = weights
        return tf.nn.conv2d(h, kernel, strides=1, padding="SAME") + bias

    def __call__(self, x: tf.Tensor, context: tf.Tensor | None = None) -> tf.Tensor:
        """``x`` ``[B, H, W, C_in]``, ``context`` ``[B, k]`` (or ``None``) -> ``[B, H, W, C_out]``."""
        if self._context_size:
            if context is None:
                raise ValueError(
                    f"{self.name}: this network needs a context of size {self._context_size}."
                )
            pixels = tf.concat([tf.shape(x)[:-1], [self._context_size]], axis=0)
            x = tf.concat([x, tf.broadcast_to(context[:, None, None, :], pixels)], axis=-1)
        elif context is not None:
            raise ValueError(
                f"{self.name}: this network takes no context, got one of shape "
                f"{context.shape.as_list()}."
            )
        h = self._conv(x, self.conv_in)
        for first, second in self.blocks:
            h = h + self._conv(self._activation(self._conv(self._activation(h), first)), second)
        return self._conv(self._activation(h), self.conv_out)
