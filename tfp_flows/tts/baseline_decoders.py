"""The baselines' decoders: a deterministic L1 decoder and a Gaussian output decoder.

Both read the same frame-rate text states as the flow decoder, through a
:class:`~tfp_flows.nn.WaveNet` over time (no flow):

```none
L1Decoder:        mel_hat = WaveNet(c)                    loss = mean |mel - mel_hat|   (FastSpeech-style)
GaussianDecoder:  (mu, log sigma) = WaveNet(c)            loss = -mean log N(mel; mu, sigma^2)
                  sample: mu + temperature * sigma * eps  (frames and bins independent given the text)
```

Every loss is a mean over the real frames and mel bins.

#### Examples

>>> decoder = GaussianDecoder(4, condition_channels=2, hidden_channels=8, num_layers=2, seed=0)
>>> c, mask = tf.ones([1, 3, 2]), tf.ones([1, 3])
>>> round(float(decoder.loss(tf.zeros([1, 3, 4]), mask, c)), 4)   # N(0, 1) at 0: 0.5 log(2 pi)
0.9189
"""

from __future__ import annotations

import math

import tensorflow as tf

from tfp_flows.nn.wavenet import WaveNet

__all__ = ["GaussianDecoder", "L1Decoder"]


def _masked_mean(values, mask):
    mask = tf.cast(mask, values.dtype)[..., None]
    return tf.reduce_sum(values * mask) / (tf.reduce_sum(mask) * values.shape[-1])


class L1Decoder(tf.Module):
    """Mels as a deterministic function of the text states, trained with an L1 loss.

    Args:
      num_mels: ``M``.
      condition_channels: channels of the text states.
      hidden_channels, num_layers, kernel_size: the WaveNet's.
      seed: integer seed.
      name: module name.
    """

    def __init__(
        self,
        num_mels: int = 80,
        condition_channels: int = 64,
        *,
        hidden_channels: int = 64,
        num_layers: int = 4,
        kernel_size: int = 3,
        seed: int = 0,
        name: str = "l1_decoder",
    ):
        super().__init__(name=name)
        self.num_mels = num_mels
        with self.name_scope:
            self.network = WaveNet(
                condition_channels,
                num_mels,
                hidden_channels=hidden_channels,
                num_layers=num_layers,
                kernel_size=kernel_size,
                seed=seed,
            )

    def loss(self, mels, mask, condition, *, training: bool = False) -> tf.Tensor:
        """Mean absolute error per real mel bin (``training``: the same loss)."""
        del training
        return _masked_mean(tf.abs(mels - self.network(condition, mask)), mask)

    def generate(self, condition, mask, *, temperature: float = 1.0, seed=None) -> tf.Tensor:
        """The predicted mels (deterministic: ``temperature`` and ``seed`` are ignored)."""
        del temperature, seed
        return self.network(condition, mask)


class GaussianDecoder(tf.Module):
    """Independent Gaussians per frame and bin, mean and scale from the text states.

    Args: as :class:`L1Decoder`'s, and ``dtype`` (``tf.float32`` or ``tf.float64``).
    """

    def __init__(
        self,
        num_mels: int = 80,
        condition_channels: int = 64,
        *,
        hidden_channels: int = 64,
        num_layers: int = 4,
        kernel_size: int = 3,
        seed: int = 0,
        dtype: tf.DType = tf.float32,
        name: str = "gaussian_decoder",
    ):
        super().__init__(name=name)
        self.num_mels = num_mels
        with self.name_scope:
            self.network = WaveNet(
                condition_channels,
                2 * num_mels,
                hidden_channels=hidden_channels,
                num_layers=num_layers,
                kernel_size=kernel_size,
                seed=seed,
                dtype=dtype,
            )

    def mean_and_log_scale(self, condition, mask) -> tuple[tf.Tensor, tf.Tensor]:
        """``(mu, log sigma)``, each ``[B, T, M]``."""
        out = self.network(condition, mask)
        return out[..., : self.num_mels], out[..., self.num_mels :]

    def log_prob(self, mels, mask, condition) -> tf.Tensor:
        """``log p(mels | text)`` ``[B]`` in nats, summed over the real frames and bins."""
        mean, log_scale = self.mean_and_log_scale(condition, mask)
        log_density = -0.5 * tf.square((mels - mean) * tf.exp(-log_scale)) - log_scale
        mask = tf.cast(mask, mels.dtype)[..., None]
        return tf.reduce_sum((log_density - 0.5 * math.log(2 * math.pi)) * mask, axis=[1, 2])

    def loss(self, mels, mask, condition, *, training: bool = False) -> tf.Tensor:
        """Negative log-likelihood per real mel bin (nats; ``training``: the same loss)."""
        del training
        bins = tf.reduce_sum(tf.cast(mask, mels.dtype)) * self.num_mels
        return -tf.reduce_sum(self.log_prob(mels, mask, condition)) / bins

    def generate(self, condition, mask, *, temperature: float = 1.0, seed=None) -> tf.Tensor:
        """``mu + temperature * sigma * eps`` (zero on padded frames)."""
        mean, log_scale = self.mean_and_log_scale(condition, mask)
        if seed is None:
            eps = tf.random.normal(tf.shape(mean), dtype=mean.dtype)
        else:
            eps = tf.random.stateless_normal(tf.shape(mean), seed=[int(seed), 0], dtype=mean.dtype)
        mels = mean + temperature * tf.exp(log_scale) * eps
        return mels * tf.cast(mask, mels.dtype)[..., None]
