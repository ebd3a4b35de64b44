"""Griffin-Lim: a waveform from a log-mel spectrogram, with ``tf.signal``.

```none
S      = sqrt(max(pinv(F)^T-applied exp(log-mel), 0))      mel power -> linear magnitude
X_0    = S * exp(i * phase_0)                               phase_0 = 0
repeat:  w = ISTFT(X);   X = S * exp(i * angle(STFT(w)))   (Griffin & Lim 1984)
```

``F`` is the mel matrix of :func:`~tfp_flows.datasets.log_mel.mel_weight_matrix`;
frames are centred as in :func:`~tfp_flows.datasets.log_mel.log_mel_spectrogram`.
The result is intelligible but buzzy: a reference vocoder for listening, not a
neural one.

#### References

[1]: Daniel W. Griffin, Jae S. Lim. Signal estimation from modified short-time Fourier
     transform. IEEE Trans. ASSP 32(2), 1984.

#### Examples

>>> import numpy as np
>>> from tfp_flows.datasets.log_mel import MelConfig, log_mel_spectrogram
>>> wave = np.sin(2 * np.pi * 440 * np.arange(11025) / 22050).astype(np.float32)
>>> audio = griffin_lim(log_mel_spectrogram(wave), MelConfig(), iterations=4)
>>> audio.shape                          # (frames - 1) * hop samples
TensorShape([11008])
"""

from __future__ import annotations

import functools
import pathlib
import wave

import numpy as np
import tensorflow as tf

from tfp_flows.datasets.log_mel import MelConfig, mel_weight_matrix

__all__ = ["griffin_lim", "write_wav"]


def griffin_lim(log_mel, config: MelConfig | None = None, *, iterations: int = 32) -> tf.Tensor:
    """``[T, num_mels]`` log-mels -> ``[(T - 1) * hop]`` float32 waveform in ``[-1, 1]``.

    Runs as one ``tf.function`` per ``(config, iterations)``, traced once for every length.
    """
    config = config or MelConfig()
    log_mel = tf.convert_to_tensor(log_mel, tf.float32)
    if log_mel.shape.rank != 2 or log_mel.shape[-1] != config.num_mels:
        raise ValueError(
            f"griffin_lim: expected log-mels [T, {config.num_mels}], got {log_mel.shape}."
        )
    return _compiled_griffin_lim(config, int(iterations))(log_mel)


@functools.cache
def _compiled_griffin_lim(config: MelConfig, iterations: int):
    inverse_mel = tf.linalg.pinv(mel_weight_matrix(config))  # [num_mels, bins]
    half, n_fft, hop = config.n_fft // 2, config.n_fft, config.hop
    window = tf.signal.inverse_stft_window_fn(hop, forward_window_fn=tf.signal.hann_window)

    def to_wave(spectrum):
        audio = tf.signal.inverse_stft(spectrum, n_fft, hop, n_fft, window_fn=window)
        return audio[half : half + (tf.shape(spectrum)[0] - 1) * hop]

    def to_spectrum(audio):
        padded = tf.pad(audio, [[half, half]])
        return tf.signal.stft(padded, n_fft, hop, n_fft, window_fn=tf.signal.hann_window)

    def run(log_mel):
        power = tf.maximum(tf.matmul(tf.exp(log_mel), inverse_mel), 0.0)
        magnitude = tf.complex(tf.sqrt(power), 0.0)

        def iterate(_, spectrum):
            rebuilt = to_spectrum(to_wave(spectrum))
            phase = rebuilt / tf.complex(tf.maximum(tf.abs(rebuilt), 1e-8), 0.0)
            return _ + 1, magnitude * phase

        _, spectrum = tf.while_loop(
            lambda i, _: i < iterations, iterate, (tf.constant(0), magnitude)
        )
        audio = to_wave(spectrum)
        return audio / tf.maximum(1.0, tf.reduce_max(tf.abs(audio)))

    signature = [tf.TensorSpec([None, config.num_mels], tf.float32)]
    return tf.function(run, input_signature=signature, autograph=False)


def write_wav(path: str | pathlib.Path, audio, sample_rate: int = 22050) -> None:
    """Writes mono ``[-1, 1]`` float audio as a 16-bit PCM WAV file."""
    samples = np.clip(np.asarray(audio, np.float32), -1.0, 1.0)
    with wave.open(str(path), "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(int(sample_rate))
        file.writeframes((samples * 32767).astype("<i2").tobytes())
