"""``DurationPredictor``: the number of mel frames of each phoneme, from the text states.

```none
l_n = W relu(conv(relu(conv(stop_gradient(h)))))_n       predicted log(1 + d_n)
loss = mean over real phonemes of (l_n - log(1 + d_n))^2
d_hat_n = max(0, round(exp(l_n) - 1))                    frames at synthesis
```

The text states are read through ``stop_gradient`` (as in Glow-TTS): the duration
loss trains the predictor only, never the encoder.

#### Examples

>>> predictor = DurationPredictor(8, seed=0)
>>> predictor(tf.ones([2, 5, 8]), tf.ones([2, 5])).shape
TensorShape([2, 5])
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfp_flows._internal.checks import check_integer

__all__ = ["DurationPredictor"]


class DurationPredictor(tf.Module):
    """Text states ``[B, N, H]`` -> predicted ``log(1 + frames)`` ``[B, N]`` (module docstring).

    Args:
      in_channels: ``H``.
      hidden_channels: channels of the two convolutions.
      kernel_size: their width.
      seed: integer seed of the initialisation.
      name: module name.
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int = 64,
        kernel_size: int = 3,
        seed: int | None = None,
        name: str = "duration_predictor",
    ):
        super().__init__(name=name)
        c = check_integer(f"{name}: in_channels", in_channels)
        h = check_integer(f"{name}: hidden_channels", hidden_channels)
        k = check_integer(f"{name}: kernel_size", kernel_size)
        rng = np.random.default_rng(seed)

        def glorot(shape):
            return rng.uniform(-1, 1, size=shape) * np.sqrt(6.0 / (np.prod(shape[:-1]) + shape[-1]))

        with self.name_scope:
            self.conv1 = tf.Variable(glorot([k, c, h]), dtype=tf.float32, name="conv1")
            self.bias1 = tf.Variable(np.zeros([h]), dtype=tf.float32, name="bias1")
            self.conv2 = tf.Variable(glorot([k, h, h]), dtype=tf.float32, name="conv2")
            self.bias2 = tf.Variable(np.zeros([h]), dtype=tf.float32, name="bias2")
            self.out = tf.Variable(glorot([h, 1]), dtype=tf.float32, name="out")
            self.out_bias = tf.Variable([1.5], dtype=tf.float32, name="out_bias")  # ~3 frames

    def __call__(self, states, mask) -> tf.Tensor:
        """Predicted ``log(1 + frames)`` ``[B, N]`` (0 on padding)."""
        mask = tf.cast(mask, tf.float32)
        h = tf.stop_gradient(states) * mask[..., None]
        h = tf.nn.relu(tf.nn.convolution(h, self.conv1, padding="SAME") + self.bias1)
        h = h * mask[..., None]
        h = tf.nn.relu(tf.nn.convolution(h, self.conv2, padding="SAME") + self.bias2)
        return (tf.tensordot(h, self.out, 1)[..., 0] + self.out_bias) * mask

    def loss(self, states, mask, durations) -> tf.Tensor:
        """Mean squared error of ``log(1 + d)`` over the real phonemes."""
        mask = tf.cast(mask, tf.float32)
        target = tf.math.log1p(tf.cast(durations, tf.float32))
        error = tf.square(self(states, mask) - target) * mask
        return tf.reduce_sum(error) / tf.reduce_sum(mask)

    def frames(self, states, mask) -> tf.Tensor:
        """Predicted durations, ``int32 [B, N]``: ``max(0, round(exp(l) - 1))`` on real phonemes."""
        log_frames = self(states, mask)
        frames = tf.maximum(tf.round(tf.math.expm1(log_frames)), 0.0) * tf.cast(mask, tf.float32)
        return tf.cast(frames, tf.int32)
