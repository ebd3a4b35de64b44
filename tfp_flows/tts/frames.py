"""Frame-sequence helpers: masks, the squeeze of frames, the length regulator.

```none
sequence_mask(lengths, T)[b, t]   = 1 if t < lengths[b] else 0
squeeze_frames(x, k)              [B, T, C] -> [B, T / k, k C]   (k consecutive frames side by side)
length_regulate(h, d)[b, t]       = h[b, n]  for the phoneme n with D_{n-1} <= t < D_n,  D = cumsum(d)
```

The squeeze is a permutation of the entries (log-det 0), so it can sit anywhere
in a flow.

#### Examples

>>> h = tf.constant([[[1.0], [2.0], [3.0]]])               # 3 phonemes, 1 channel
>>> length_regulate(h, tf.constant([[2, 0, 3]]))[0, :, 0].numpy().tolist()
[1.0, 1.0, 3.0, 3.0, 3.0]
>>> squeeze_frames(tf.reshape(tf.range(8.0), [1, 4, 2]), 2)[0].numpy().tolist()
[[0.0, 1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0]]
"""

from __future__ import annotations

import tensorflow as tf

__all__ = ["length_regulate", "sequence_mask", "squeeze_frames", "unsqueeze_frames"]


def sequence_mask(lengths, max_length, dtype: tf.DType = tf.float32) -> tf.Tensor:
    """``[B, max_length]``: 1 on the first ``lengths[b]`` positions of row ``b``, else 0."""
    return tf.sequence_mask(lengths, max_length, dtype=dtype)


def squeeze_frames(x: tf.Tensor, factor: int) -> tf.Tensor:
    """``[B, T, C] -> [B, T / factor, factor * C]``; ``T`` must be a multiple of ``factor``."""
    if x.shape[1] is not None and x.shape[1] % factor:
        raise ValueError(
            f"squeeze_frames: the number of frames must be a multiple of {factor}, got "
            f"{x.shape[1]}."
        )
    shape = tf.shape(x)
    return tf.reshape(x, [shape[0], shape[1] // factor, factor * x.shape[-1]])


def unsqueeze_frames(x: tf.Tensor, factor: int) -> tf.Tensor:
    """``[B, T, factor * C] -> [B, factor * T, C]``, the inverse of :func:`squeeze_frames`."""
    shape = tf.shape(x)
    return tf.reshape(x, [shape[0], shape[1] * factor, x.shape[-1] // factor])


def length_regulate(states: tf.Tensor, durations: tf.Tensor, max_frames=None) -> tf.Tensor:
    """Repeats phoneme ``n``'s state ``durations[b, n]`` times: ``[B, N, H] -> [B, T, H]``.

    ``T = max_frames`` or the longest total duration; frames past a row's total are zero.
    """
    durations = tf.cast(durations, tf.int32)
    ends = tf.cumsum(durations, axis=-1)  # [B, N]
    total = ends[:, -1]
    if max_frames is None:
        max_frames = tf.reduce_max(total)
    frames = tf.broadcast_to(tf.range(max_frames)[None, :], [tf.shape(states)[0], max_frames])
    index = tf.searchsorted(ends, frames, side="right")  # the phoneme of each frame
    index = tf.minimum(index, tf.shape(states)[1] - 1)
    expanded = tf.gather(states, index, batch_dims=1)
    return expanded * sequence_mask(total, max_frames, states.dtype)[..., None]
