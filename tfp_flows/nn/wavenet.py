"""``WaveNet``: gated, dilated 1-D convolutions over a masked sequence, with a conditioning input.

The conditioner of Flow-TTS's (and WaveGlow's, Glow-TTS's) coupling layers, and
the baselines' decoders (:mod:`tfp_flows.tts`):

```none
h_0     = W_in x                                                   [B, T, C_in] -> [B, T, F]
a_l     = conv_{k, dilation d^l}(h_l) + V_l c                      [B, T, 2F]    (c: [B, T, C_cond])
g_l     = tanh(a_l[:F]) * sigmoid(a_l[F:])                         (gated activation)
h_{l+1} = (h_l + R_l g_l) * mask,     s += S_l g_l                 (residual, skip)
out     = W_out relu(s)                                            [B, T, C_out]  (W_out starts at 0)
```

Every layer multiplies by the frame mask ``[B, T]`` (1 on real frames), and the
input is masked too, so a real frame's output depends only on real frames: a
padded batch gives each sequence what it gives alone.

#### References

[1]: Aaron van den Oord et al. WaveNet: A Generative Model for Raw Audio. 2016.
     https://arxiv.org/abs/1609.03499
[2]: Ryan Prenger, Rafael Valle, Bryan Catanzaro. WaveGlow: A Flow-based Generative
     Network for Speech Synthesis. ICASSP 2019. https://arxiv.org/abs/1811.00002
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfp_flows._internal.checks import check_integer

__all__ = ["WaveNet"]


class WaveNet(tf.Module):
    """Gated dilated convolutions ``[B, T, C_in]`` (+ ``[B, T, C_cond]``) -> ``[B, T, C_out]``.

    Kernels start Glorot-uniform from a seeded NumPy generator, biases at zero;
    with ``zero_init_output=True`` the last layer is zero, so a fresh coupling
    layer is the identity. Plain ``tf.Variable`` s, tracked by ``tf.Module``.

    Args:
      in_channels: ``C_in``.
      out_channels: ``C_out``.
      hidden_channels: ``F``.
      num_layers: gated layers; layer ``l`` has dilation ``dilation_base ** l``.
      kernel_size: odd width of the dilated convolutions.
      condition_channels: ``C_cond`` (0: no conditioning input).
      dilation_base: growth of the dilation.
      zero_init_output: start the output layer at zero.
      seed: integer seed of the initialisation.
      dtype: ``tf.float32`` or ``tf.float64``.
      name: module name.

    #### Examples

    >>> net = WaveNet(2, 4, hidden_channels=8, num_layers=2, condition_channels=3, seed=0)
    >>> x, c, mask = tf.ones([1, 5, 2]), tf.ones([1, 5, 3]), tf.constant([[1.0, 1, 1, 0, 0]])
    >>> net(x, mask, c).shape
    TensorShape([1, 5, 4])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        hidden_channels: int = 64,
        num_layers: int = 4,
        kernel_size: int = 3,
        condition_channels: int = 0,
        dilation_base: int = 2,
        zero_init_output: bool = True,
        seed: int | None = None,
        dtype: tf.DType = tf.float32,
        name: str = "wavenet",
    ):
        super().__init__(name=name)
        c_in = check_integer(f"{name}: in_channels", in_channels)
        c_out = check_integer(f"{name}: out_channels", out_channels)
        hidden = check_integer(f"{name}: hidden_channels", hidden_channels)
        layers = check_integer(f"{name}: num_layers", num_layers)
        kernel = check_integer(f"{name}: kernel_size", kernel_size)
        if kernel % 2 == 0:
            raise ValueError(f"{name}: kernel_size must be odd, got {kernel}.")
        self._condition_channels = check_integer(
            f"{name}: condition_channels", condition_channels, minimum=0
        )
        self._in_channels, self._out_channels = c_in, c_out
        self._dilations = [
            check_integer(f"{name}: dilation_base", dilation_base) ** i for i in range(layers)
        ]
        rng = np.random.default_rng(seed)

        def weight(shape, label, zero=False):
            fan_in, fan_out = int(np.prod(shape[:-1])), int(np.prod(shape[:-2]) * shape[-1])
            limit = np.sqrt(6.0 / (fan_in + fan_out))
            value = np.zeros(shape) if zero else rng.uniform(-limit, limit, size=shape)
            return tf.Variable(value, dtype=dtype, name=label)

        def bias(size, label):
            return tf.Variable(np.zeros([size]), dtype=dtype, name=label)

        with self.name_scope:
            self.w_in = (weight([c_in, hidden], "w_in"), bias(hidden, "b_in"))
            self.dilated = [
                (
                    weight([kernel, hidden, 2 * hidden], f"w_dilated_{i}"),
                    bias(2 * hidden, f"b_dilated_{i}"),
                )
                for i in range(layers)
            ]
            self.condition = [
                weight([self._condition_channels, 2 * hidden], f"w_condition_{i}")
                for i in range(layers)
                if self._condition_channels
            ]
            self.residual = [
                (weight([hidden, hidden], f"w_residual_{i}"), bias(hidden, f"b_residual_{i}"))
                for i in range(layers - 1)
            ]
            self.skip = [
                (weight([hidden, hidden], f"w_skip_{i}"), bias(hidden, f"b_skip_{i}"))
                for i in range(layers)
            ]
            self.w_out = (
                weight([hidden, c_out], "w_out", zero=zero_init_output),
                bias(c_out, "b_out"),
            )

    @property
    def in_channels(self) -> int:
        """``C_in``."""
        return self._in_channels

    @property
    def out_channels(self) -> int:
        """``C_out``."""
        return self._out_channels

    @property
    def condition_channels(self) -> int:
        """``C_cond`` (0: none)."""
        return self._condition_channels

    def __call__(
        self, x: tf.Tensor, mask: tf.Tensor, condition: tf.Tensor | None = None
    ) -> tf.Tensor:
        """``x`` ``[B, T, C_in]``, ``mask`` ``[B, T]``, ``condition`` ``[B, T, C_cond]`` ->
        ``[B, T, C_out]`` (zero on padded frames)."""
        if x.shape[-1] != self._in_channels:
            raise ValueError(
                f"{self.name}: expected inputs [B, T, {self._in_channels}], got {x.shape}."
            )
        if self._condition_channels and (
            condition is None or condition.shape[-1] != self._condition_channels
        ):
            got = None if condition is None else condition.shape
            raise ValueError(
                f"{self.name}: expected a condition [B, T, {self._condition_channels}], got {got}."
            )
        mask = tf.cast(mask, x.dtype)[..., None]
        h = (tf.tensordot(x * mask, self.w_in[0], 1) + self.w_in[1]) * mask
        skip = 0.0
        hidden = h.shape[-1]
        for i, dilation in enumerate(self._dilations):
            kernel, b = self.dilated[i]
            # tf.nn.convolution (space-to-batch for dilations): its gradient vectorises (jacobian)
            a = tf.nn.convolution(h, kernel, padding="SAME", dilations=[dilation]) + b
            if self._condition_channels:
                a += tf.tensordot(condition, self.condition[i], 1)
            g = tf.tanh(a[..., :hidden]) * tf.sigmoid(a[..., hidden:])
            skip += tf.tensordot(g, self.skip[i][0], 1) + self.skip[i][1]
            if i < len(self.residual):
                h = (h + tf.tensordot(g, self.residual[i][0], 1) + self.residual[i][1]) * mask
        return (tf.tensordot(tf.nn.relu(skip), self.w_out[0], 1) + self.w_out[1]) * mask
