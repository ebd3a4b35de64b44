"""``FrameAffineCoupling``: an affine coupling over the channels of a masked frame sequence.

The coupling layer of Flow-TTS's decoder. The sequence ``x`` ``[B, T, C]`` is
split by channel into ``x_a = x[..., :C/2]`` (passed through) and
``x_b = x[..., C/2:]``; a :class:`~tfp_flows.nn.WaveNet` reads ``x_a`` along time,
with the text states ``c`` ``[B, T, C_cond]``, and gives each frame the
parameters of the package's :class:`~tfp_flows.bijectors.transformers.Affine`
transformer (a shift and a bounded log-scale ``s`` per entry):

```none
params   = WaveNet(x_a, mask, c)                   [B, T, C/2, 2]
forward  (latent -> data):  y_b = x_b * exp(s) + t
inverse  (data -> latent):  x_b = (y_b - t) * exp(-s)
log|det d latent / d data| = -sum over real frames t and entries b of s_tb
```

The Jacobian of the whole sequence is block-triangular (``x_a`` is copied, the
parameters depend on ``x_a`` only), so its log-determinant is that sum,
although the conditioner looks across frames. Padded frames (``mask = 0``)
are left out of the sum, and the WaveNet never reads them.
"""

from __future__ import annotations

import tensorflow as tf

from tfp_flows._internal.checks import check_integer
from tfp_flows.bijectors.transformers import Affine, params_from_blocks
from tfp_flows.nn.wavenet import WaveNet

__all__ = ["FrameAffineCoupling"]


class FrameAffineCoupling(tf.Module):
    """Affine coupling of the second half of the channels on the first (module docstring).

    Args:
      channels: ``C`` (even).
      condition_channels: ``C_cond`` of the text states (0: none).
      hidden_channels, num_layers, kernel_size: the WaveNet's.
      log_scale_bound: the Affine transformer's initial bound on ``|s|``.
      seed: seed of the WaveNet's initialisation.
      dtype: ``tf.float32`` or ``tf.float64``.
      name: module name.

    #### Examples

    >>> layer = FrameAffineCoupling(4, condition_channels=2, hidden_channels=8, seed=0)
    >>> x, mask, c = tf.ones([1, 3, 4]), tf.ones([1, 3]), tf.ones([1, 3, 2])
    >>> z, log_det = layer.inverse(x, mask, c)             # a fresh layer is the identity
    >>> float(tf.reduce_max(tf.abs(z - x))), float(log_det[0])
    (0.0, 0.0)
    """

    def __init__(
        self,
        channels: int,
        condition_channels: int = 0,
        hidden_channels: int = 64,
        num_layers: int = 4,
        kernel_size: int = 3,
        log_scale_bound: float = 2.0,
        seed: int | None = None,
        dtype: tf.DType = tf.float32,
        name: str = "frame_affine_coupling",
    ):
        super().__init__(name=name)
        channels = check_integer(f"{name}: channels", channels, minimum=2)
        if channels % 2:
            raise ValueError(f"{name}: channels must be even, got {channels}.")
        self._half = channels // 2
        with self.name_scope:
            self.transformer = Affine(self._half, log_scale_bound=log_scale_bound, dtype=dtype)
            self.network = WaveNet(
                self._half,
                2 * self._half,
                hidden_channels=hidden_channels,
                num_layers=num_layers,
                kernel_size=kernel_size,
                condition_channels=condition_channels,
                seed=seed,
                dtype=dtype,
            )

    def _apply(self, x, mask, condition, step):
        x_a, x_b = x[..., : self._half], x[..., self._half :]
        params = params_from_blocks(self.network(x_a, mask, condition), 2)
        y_b, ildj = step(x_b, params)
        mask = tf.cast(mask, x.dtype)
        log_det = tf.reduce_sum(ildj * mask[..., None], axis=[-2, -1])
        return tf.concat([x_a, y_b * mask[..., None]], axis=-1), log_det

    def inverse(self, y, mask, condition=None) -> tuple[tf.Tensor, tf.Tensor]:
        """Data -> latent: ``(x, log|det dx/dy|)``, the log-det ``[B]`` summed over real frames."""
        return self._apply(y, mask, condition, self.transformer.inverse)

    def forward(self, x, mask, condition=None) -> tuple[tf.Tensor, tf.Tensor]:
        """Latent -> data: ``(y, log|det dx/dy|)`` (the same sign as :meth:`inverse`'s)."""
        return self._apply(x, mask, condition, self.transformer.forward)
