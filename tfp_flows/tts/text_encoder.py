"""``TextEncoder``: phoneme embeddings and masked residual convolutions.

```none
h_0     = E[ids]                                       [B, N] -> [B, N, H]
h_{l+1} = (h_l + W2_l relu(conv_{k}(h_l))) * mask      l = 0 .. num_layers - 1
```

#### Examples

>>> encoder = TextEncoder(vocabulary_size=10, channels=8, seed=0)
>>> encoder(tf.constant([[3, 4, 0]]), tf.constant([[1.0, 1.0, 0.0]])).shape
TensorShape([1, 3, 8])
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfp_flows._internal.checks import check_integer

__all__ = ["TextEncoder"]


class TextEncoder(tf.Module):
    """Phoneme ids ``[B, N]`` -> text states ``[B, N, H]`` (module docstring).

    Args:
      vocabulary_size: number of phoneme ids (id 0 is padding).
      channels: ``H``.
      num_layers: residual convolution layers.
      kernel_size: odd width of the convolutions.
      seed: integer seed of the initialisation.
      name: module name.
    """

    def __init__(
        self,
        vocabulary_size: int,
        channels: int = 64,
        num_layers: int = 3,
        kernel_size: int = 5,
        seed: int | None = None,
        name: str = "text_encoder",
    ):
        super().__init__(name=name)
        self.vocabulary_size = check_integer(f"{name}: vocabulary_size", vocabulary_size, 2)
        self.channels = check_integer(f"{name}: channels", channels)
        layers = check_integer(f"{name}: num_layers", num_layers, minimum=0)
        kernel = check_integer(f"{name}: kernel_size", kernel_size)
        rng = np.random.default_rng(seed)
        h = self.channels

        def glorot(shape):
            fan = np.prod(shape[:-1]) + shape[-1]
            return rng.uniform(-1, 1, size=shape) * np.sqrt(6.0 / fan)

        with self.name_scope:
            self.embedding = tf.Variable(
                rng.normal(size=[self.vocabulary_size, h]) / np.sqrt(h),
                dtype=tf.float32,
                name="embedding",
            )
            self.convs = [
                (
                    tf.Variable(glorot([kernel, h, h]), dtype=tf.float32, name=f"conv_{i}"),
                    tf.Variable(np.zeros([h]), dtype=tf.float32, name=f"conv_bias_{i}"),
                    tf.Variable(glorot([h, h]), dtype=tf.float32, name=f"proj_{i}"),
                )
                for i in range(layers)
            ]

    def __call__(self, phoneme_ids, mask) -> tf.Tensor:
        """``phoneme_ids`` ``int [B, N]``, ``mask`` ``[B, N]`` -> ``[B, N, H]`` (0 on padding)."""
        phoneme_ids = tf.convert_to_tensor(phoneme_ids)
        if not phoneme_ids.dtype.is_integer or phoneme_ids.shape.rank != 2:
            raise ValueError(
                f"{self.name}: expected integer phoneme ids [B, N], got {phoneme_ids.dtype.name} "
                f"of shape {phoneme_ids.shape}."
            )
        tf.debugging.assert_less(
            phoneme_ids,
            tf.cast(self.vocabulary_size, phoneme_ids.dtype),
            message=f"{self.name}: phoneme ids must be < vocabulary_size={self.vocabulary_size}",
        )
        mask = tf.cast(mask, tf.float32)[..., None]
        h = tf.gather(self.embedding, phoneme_ids) * mask
        for kernel, bias, proj in self.convs:
            a = tf.nn.relu(tf.nn.convolution(h, kernel, padding="SAME") + bias)
            h = (h + tf.tensordot(a, proj, 1)) * mask
        return h
