"""Scores of a trained :class:`~tfp_flows.tts.TextToSpeech` on a held-out split.

```none
nll / bin      -(1/#bins) sum log p(mels | text, true durations), nats per raw log-mel bin
               (flow and Gaussian decoders; the L1 decoder has no likelihood)
mcd@T          mel-cepstral distortion (dB) of the mels generated at temperature T with the
               true durations (so frames align) against the split's own mels
duration_mae   mean |predicted - true| frames per phoneme
rtf            seconds to synthesise the split (predicted durations, no vocoder) per second
               of the audio those mels stand for
```

Temperature 0 is each model's point estimate: the flow's ``decode(mu(text))``, the
Gaussian decoder's mean, the L1 decoder's output (it ignores the temperature).

#### Examples

>>> from tfp_flows.datasets.speech import SpeechSplit
>>> from tfp_flows.datasets.log_mel import MelConfig
>>> rng = np.random.default_rng(0)
>>> split = SpeechSplit(texts=("a", "b"), voices=np.zeros(2, np.int32), voice_names=("x",),
...     phoneme_ids=(np.array([1, 2], np.int32),) * 2, durations=(np.array([2, 2], np.int32),) * 2,
...     mels=tuple(rng.standard_normal([4, 4]).astype(np.float32) for _ in range(2)),
...     vocabulary=("_", "a", "b"), config=MelConfig(num_mels=4, fmax=4000.0))
>>> model = TextToSpeech(3, decoder="l1", num_mels=4, channels=4, decoder_hidden=4,
...                      decoder_layers=1, seed=0)
>>> sorted(score_text_to_speech(model, split))
['duration_mae', 'mcd@0.0']
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from tfp_flows.datasets.speech import SpeechSplit
from tfp_flows.tts.frames import sequence_mask
from tfp_flows.tts.metrics import mel_cepstral_distortion
from tfp_flows.tts.model import TextToSpeech
from tfp_flows.tts.training import evaluate_text_to_speech

__all__ = ["real_time_factor", "score_text_to_speech"]


def score_text_to_speech(
    model: TextToSpeech,
    split: SpeechSplit,
    *,
    temperatures: Sequence[float] = (0.0,),
    batch_size: int = 32,
) -> dict[str, float]:
    """``{"nll" (probabilistic decoders), "mcd@T" per temperature, "duration_mae"}``.

    The MCD is averaged over all real frames of the split; batch ``b`` of the split is
    sampled with seed ``b * batch_size`` at every temperature.
    """
    result = {}
    if model.decoder_name != "l1":
        losses = evaluate_text_to_speech(model, split, batch_size=batch_size)
        result["nll"] = float(model.nll_per_bin(losses["loss"]))
    errors, phonemes = 0.0, 0
    distortions = {float(t): [0.0, 0] for t in temperatures}
    for begin in range(0, len(split), batch_size):
        data = model.prepare(split.batch(np.arange(begin, min(begin + batch_size, len(split)))))
        text_mask = sequence_mask(data["phoneme_lengths"], tf.shape(data["phoneme_ids"])[1])
        states = model.encoder(data["phoneme_ids"], text_mask)
        predicted = model.duration_predictor.frames(states, text_mask)
        errors += float(tf.reduce_sum(tf.abs(predicted - data["durations"])))
        phonemes += int(tf.reduce_sum(data["phoneme_lengths"]))
        mask = sequence_mask(data["frame_lengths"], tf.shape(data["mels"])[1])
        count = int(tf.reduce_sum(data["frame_lengths"]))
        for temperature in distortions:
            mels, _ = model.synthesize(
                data["phoneme_ids"],
                data["phoneme_lengths"],
                durations=data["durations"],
                temperature=temperature,
                seed=begin,
            )
            mcd = mel_cepstral_distortion(mels, data["mels"], mask)
            distortions[temperature][0] += float(mcd) * count
            distortions[temperature][1] += count
    for temperature, (total, count) in distortions.items():
        result[f"mcd@{temperature}"] = total / count
    result["duration_mae"] = errors / phonemes
    return result


def real_time_factor(model: TextToSpeech, split: SpeechSplit, *, batch_size: int = 16) -> float:
    """Synthesis seconds per second of audio over ``split`` (after one warm-up batch)."""
    batches = [
        split.batch(np.arange(b, min(b + batch_size, len(split))))
        for b in range(0, len(split), batch_size)
    ]
    model.synthesize(batches[0].phoneme_ids, batches[0].phoneme_lengths, seed=0)  # warm-up
    start, audio = time.perf_counter(), 0.0
    for batch in batches:
        _, frames = model.synthesize(batch.phoneme_ids, batch.phoneme_lengths, seed=0)
        audio += float(tf.reduce_sum(frames)) * split.config.hop / split.config.sample_rate
    return (time.perf_counter() - start) / audio
