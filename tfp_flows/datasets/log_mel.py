"""Log-mel spectrograms with ``tf.signal``: the acoustic features of the speech corpus.

```none
frames     x_t = w * waveform[t * hop - n_fft / 2 : t * hop + n_fft / 2]   (zero padded, Hann w)
power      P_t = |FFT(x_t)|^2                                              [n_fft / 2 + 1]
mel        M_t = P_t @ F              F = tf.signal.linear_to_mel_weight_matrix (Slaney-free, HTK mel)
log-mel    m_t = log(max(M_t, floor))                                      [num_mels]
```

Frame ``t`` is centred on sample ``t * hop``, so a waveform of ``N`` samples has
``1 + N // hop`` frames and sample ``s`` falls in frame ``round(s / hop)``
(:func:`frame_of_sample`): that is how phoneme boundaries in samples become
durations in frames. :class:`MelConfig` holds the settings (22,050 Hz, a
1024-point FFT, hop 256 (11.6 ms), 80 bands from 0 to 8 kHz by default); the
Griffin-Lim vocoder (:mod:`tfp_flows.tts.vocoder`) inverts the same map.

#### Examples

>>> import numpy as np
>>> config = MelConfig()
>>> wave = np.sin(2 * np.pi * 440 * np.arange(22050) / 22050).astype(np.float32)
>>> mel = log_mel_spectrogram(wave, config)
>>> mel.shape                                     # 1 + 22050 // 256 frames
TensorShape([87, 80])
>>> int(np.argmax(mel[40]))                       # 440 Hz lies in band 15 of 80
15
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

__all__ = ["MelConfig", "frame_of_sample", "log_mel_spectrogram", "mel_weight_matrix"]


@dataclass(frozen=True)
class MelConfig:
    """Settings of the log-mel features.

    Attributes:
      sample_rate: samples per second of the waveform.
      n_fft: FFT length and window length (a Hann window).
      hop: samples between frames.
      num_mels: number of mel bands.
      fmin, fmax: the lowest and highest frequency of the mel bands (Hz).
      floor: the smallest power kept before the log (``log(1e-5) = -11.5``: silence).
    """

    sample_rate: int = 22050
    n_fft: int = 1024
    hop: int = 256
    num_mels: int = 80
    fmin: float = 0.0
    fmax: float = 8000.0
    floor: float = 1e-5

    def __post_init__(self):
        if self.n_fft % 2 or self.hop <= 0 or self.hop > self.n_fft:
            raise ValueError(
                f"MelConfig: n_fft must be even and 0 < hop <= n_fft, got n_fft={self.n_fft}, "
                f"hop={self.hop}."
            )
        if not 0 <= self.fmin < self.fmax <= self.sample_rate / 2:
            raise ValueError(
                f"MelConfig: need 0 <= fmin < fmax <= sample_rate / 2 = {self.sample_rate / 2}, "
                f"got fmin={self.fmin}, fmax={self.fmax}."
            )

    @property
    def frames_per_second(self) -> float:
        """Mel frames per second of audio (86.1 by default)."""
        return self.sample_rate / self.hop


def mel_weight_matrix(config: MelConfig, dtype: tf.DType = tf.float32) -> tf.Tensor:
    """``[n_fft / 2 + 1, num_mels]``: the linear-to-mel matrix ``F`` of the module docstring."""
    return tf.signal.linear_to_mel_weight_matrix(
        num_mel_bins=config.num_mels,
        num_spectrogram_bins=config.n_fft // 2 + 1,
        sample_rate=config.sample_rate,
        lower_edge_hertz=config.fmin,
        upper_edge_hertz=config.fmax,
        dtype=dtype,
    )


def frame_of_sample(sample: np.ndarray | int, config: MelConfig) -> np.ndarray:
    """The frame whose centre is nearest to each sample index: ``round(sample / hop)``
    (halves round up)."""
    return (np.asarray(sample, np.int64) + config.hop // 2) // config.hop


def log_mel_spectrogram(waveform, config: MelConfig | None = None) -> tf.Tensor:
    """``[..., N]`` waveform -> ``[..., 1 + N // hop, num_mels]`` log-mel spectrogram (float32).

    Args:
      waveform: samples in ``[-1, 1]``; a batch ``[B, N]`` works too (equal lengths).
      config: the settings (``MelConfig()`` by default).
    """
    config = config or MelConfig()
    waveform = tf.convert_to_tensor(waveform, tf.float32)
    if waveform.shape.rank is None or waveform.shape.rank < 1:
        raise ValueError(
            f"log_mel_spectrogram: expected a waveform [..., N], got {waveform.shape}."
        )
    half = config.n_fft // 2
    paddings = [[0, 0]] * (waveform.shape.rank - 1) + [[half, half]]
    padded = tf.pad(waveform, paddings)
    stft = tf.signal.stft(
        padded,
        frame_length=config.n_fft,
        frame_step=config.hop,
        fft_length=config.n_fft,
        window_fn=tf.signal.hann_window,
        pad_end=False,
    )
    power = tf.math.square(tf.abs(stft))
    mel = tf.tensordot(power, mel_weight_matrix(config), 1)
    return tf.math.log(tf.maximum(mel, config.floor))
