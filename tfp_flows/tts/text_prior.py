"""``TextPrior``: the flow decoder's latent prior, a Gaussian whose mean and scale read the text.

Glow-TTS's prior (Kim et al. 2020), on frame-rate text states ``c`` ``[B, T, C]``:

```none
(mu, log sigma) = WaveNet(c)                          [B, T, M] each (output layer starts at 0:
                                                       a fresh prior is N(0, I))
log p(z | c)    = sum over real frames t, bins m of  log N(z_tm; mu_tm, sigma_tm^2)
sample          z = mu + temperature * sigma * eps,   eps ~ N(0, I)
```

Why it is there: eSpeak NG's mels are almost a deterministic function of the text.
With a standard-normal prior, a flow conditioned on the text only through its
couplings first learns how neighbouring frames and bins move together (most of the
likelihood) and the text-to-mel mapping slowly, so ``z = 0`` decoded to mels far
from the target (measured: MCD 34 dB against an L1 decoder's 18 dB after 300 steps).
The text prior gives the text a direct path to the latent's mean, so the decoded
mean ``decode(mu)`` (temperature 0) is the model's point estimate.

#### Examples

>>> prior = TextPrior(4, condition_channels=2, hidden_channels=8, num_layers=2, seed=0)
>>> c, mask = tf.ones([1, 3, 2]), tf.ones([1, 3])
>>> round(float(prior.log_prob(tf.zeros([1, 3, 4]), mask, c)[0]), 4)   # 12 bins of N(0; 0, 1)
-11.0273
"""

from __future__ import annotations

import tensorflow as tf

from tfp_flows.tts.baseline_decoders import GaussianDecoder

__all__ = ["TextPrior"]


class TextPrior(GaussianDecoder):
    """A diagonal Gaussian over latent frames, mean and log-scale from the text states.

    The same map as the Gaussian baseline's decoder (:class:`GaussianDecoder`), over the
    flow's latent instead of the mels.

    Args:
      num_mels: ``M``, latent channels per frame.
      condition_channels: ``C`` of the text states.
      hidden_channels, num_layers, kernel_size: the WaveNet's.
      seed: integer seed of the WaveNet's initialisation.
      dtype: ``tf.float32`` or ``tf.float64``.
      name: module name.
    """

    def __init__(
        self,
        num_mels: int,
        condition_channels: int,
        *,
        hidden_channels: int = 64,
        num_layers: int = 4,
        kernel_size: int = 3,
        seed: int = 0,
        dtype: tf.DType = tf.float32,
        name: str = "text_prior",
    ):
        super().__init__(
            num_mels,
            condition_channels,
            hidden_channels=hidden_channels,
            num_layers=num_layers,
            kernel_size=kernel_size,
            seed=seed,
            dtype=dtype,
            name=name,
        )

    def sample(self, condition, mask, *, temperature: float = 1.0, seed=None) -> tf.Tensor:
        """``mu + temperature * sigma * eps`` ``[B, T, M]`` (zero on padded frames)."""
        return self.generate(condition, mask, temperature=temperature, seed=seed)
