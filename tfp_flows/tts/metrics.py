"""Mel-cepstral distortion between two log-mel spectrograms of equal length.

```none
c_t      = DCT-II (orthonormal) of 0.5 * log-mel frame t (the log *amplitude*: the log-mels are
           of power), coefficients 1 .. K (c_0, the energy, left out)
MCD      = (10 / ln 10) * sqrt(2) * mean over real frames of || c_t - c'_t ||_2      (dB)
```

The cepstra come from ``tf.signal.mfccs_from_log_mel_spectrograms``. Comparing a
synthesised utterance with the synthesiser's own needs the same frames: generate
with the reference's durations (``TextToSpeech.synthesize(..., durations=...)``).

#### Examples

>>> a = tf.zeros([1, 4, 80])
>>> float(mel_cepstral_distortion(a, a, tf.ones([1, 4])))
0.0
"""

from __future__ import annotations

import math

import tensorflow as tf

__all__ = ["mel_cepstral_distortion"]


def mel_cepstral_distortion(log_mels, reference, mask, *, num_coefficients: int = 13) -> tf.Tensor:
    """MCD in dB over the real frames (``mask`` ``[B, T]``), averaged over all of them."""
    log_mels = tf.convert_to_tensor(log_mels, tf.float32)
    reference = tf.convert_to_tensor(reference, tf.float32)
    if log_mels.shape != reference.shape:
        raise ValueError(
            f"mel_cepstral_distortion: the spectrograms differ in shape: {log_mels.shape} and "
            f"{reference.shape}."
        )
    c = tf.signal.mfccs_from_log_mel_spectrograms(0.5 * log_mels)[..., 1:num_coefficients]
    c_ref = tf.signal.mfccs_from_log_mel_spectrograms(0.5 * reference)[..., 1:num_coefficients]
    mask = tf.cast(mask, tf.float32)
    distance = tf.norm(c - c_ref, axis=-1) * mask
    return 10.0 / math.log(10.0) * math.sqrt(2.0) * tf.reduce_sum(distance) / tf.reduce_sum(mask)
