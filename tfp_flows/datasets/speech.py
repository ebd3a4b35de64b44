"""A text-to-speech corpus synthesised on this machine with eSpeak NG.

:func:`speech` returns phoneme ids, per-phoneme durations in mel frames and
80-band log-mel spectrograms of ``num_sentences`` (3,000 by default) short
English sentences made from templates and the word list of
:mod:`~tfp_flows.datasets.speech_text`, spoken by one or more eSpeak NG voices
(:mod:`~tfp_flows.datasets.espeak`; ``pip install espeakng-loader``, GPL-3,
used to generate the data and never shipped). Nothing is downloaded.

```none
sentence i    = template_sentences(num_sentences, seed)[i], voice voices[i % len(voices)]
waveform      = eSpeak NG at 22,050 Hz, `rate` words per minute, + dither * N(0, 1) noise
phonemes      = eSpeak's phoneme events (names with stress marks, e.g. 'aU), in order
boundary_k    = round(first sample of phoneme k / hop)   (boundary_0 = 0, boundary_K = T)
duration_k    = boundary_{k+1} - boundary_k   frames    (0 for a phoneme shorter than half a hop)
mel           = log_mel_spectrogram(waveform)  [T, 80],  T = 1 + num_samples // hop,  sum_k duration_k = T
split         = test: i % 10 == 9,  validation: i % 10 == 8,  train: the rest  (80 / 10 / 10 %)
```

The dither (seeded by ``(seed, i)``; 1e-3 by default, -60 dB of full scale)
keeps the synthesiser's digital silence from becoming frames of one constant
value, on which any density model could gain unbounded likelihood.

The phoneme vocabulary is the sorted set of phoneme names in the whole corpus,
after ``"<pad>"`` (id 0), so ids are ``1 .. len(vocabulary) - 1``. The corpus is
made once (about 9 ms per sentence: 6 ms of synthesis, then the mel features) and
cached as an ``.npz`` file under ``cache_dir`` (default: ``$TFP_FLOWS_DATA``,
else ``~/.cache/tfp_flows``), keyed by every setting and the eSpeak NG version.
eSpeak NG carries its pitch state from one utterance to the next
(:mod:`~tfp_flows.datasets.espeak`), so a corpus made in a process that spoke
before can differ by a few samples per phoneme from one made in a fresh
process; the texts, phonemes and split never differ, and the cache fixes the rest.

#### Examples

>>> import tempfile
>>> from tfp_flows.datasets.espeak import espeak_available
>>> if espeak_available():
...     test = speech("test", num_sentences=20, cache_dir=tempfile.mkdtemp())
...     print(len(test), test.mels[0].shape[1], int(test.durations[0].sum()) == len(test.mels[0]))
... else:
...     print(2, 80, True)
2 80 True
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import pathlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import NamedTuple

import numpy as np
import tensorflow as tf

from tfp_flows._internal.checks import check_integer
from tfp_flows.datasets import espeak
from tfp_flows.datasets.log_mel import MelConfig, frame_of_sample, log_mel_spectrogram
from tfp_flows.datasets.speech_text import template_sentences

__all__ = ["SPEECH_SPLITS", "SpeechBatch", "SpeechSplit", "speech", "speech_split_of"]

SPEECH_SPLITS = ("train", "validation", "test")
_FORMAT_VERSION = 1
PAD = "<pad>"


def speech_split_of(index: int) -> str:
    """The split of sentence ``index``: ``test`` if ``index % 10 == 9``, ``validation`` if
    ``index % 10 == 8``, else ``train``."""
    return {9: "test", 8: "validation"}.get(index % 10, "train")


class SpeechBatch(NamedTuple):
    """A padded batch of utterances (what a text-to-speech model trains on).

    Attributes:
      phoneme_ids: ``int32 [B, N]``, padded with 0.
      phoneme_lengths: ``int32 [B]``.
      durations: ``int32 [B, N]`` frames per phoneme, 0 on padding.
      mels: ``float32 [B, T, num_mels]``, padded with ``log(floor)`` (silence).
      frame_lengths: ``int32 [B]`` (``= durations.sum(-1)``).
    """

    phoneme_ids: np.ndarray
    phoneme_lengths: np.ndarray
    durations: np.ndarray
    mels: np.ndarray
    frame_lengths: np.ndarray


@dataclass(frozen=True)
class SpeechSplit:
    """One split of the corpus (module docstring); ragged lists, one entry per sentence.

    Attributes:
      texts: the sentences.
      voices: ``int`` index of each sentence's voice in ``voice_names``.
      voice_names: the eSpeak voices.
      phoneme_ids: ``int32 [N_i]`` ids into ``vocabulary``.
      durations: ``int32 [N_i]`` frames of each phoneme.
      mels: ``float32 [T_i, num_mels]`` log-mel spectrograms.
      vocabulary: phoneme names by id (``vocabulary[0] == "<pad>"``).
      config: the mel settings.
    """

    texts: tuple[str, ...]
    voices: np.ndarray
    voice_names: tuple[str, ...]
    phoneme_ids: tuple[np.ndarray, ...]
    durations: tuple[np.ndarray, ...]
    mels: tuple[np.ndarray, ...]
    vocabulary: tuple[str, ...]
    config: MelConfig

    def __len__(self) -> int:
        return len(self.texts)

    def batch(self, indices: Sequence[int] | np.ndarray | None = None) -> SpeechBatch:
        """The utterances ``indices`` (default: all) as a padded :class:`SpeechBatch`."""
        indices = np.arange(len(self)) if indices is None else np.asarray(indices, np.int64)
        if indices.ndim != 1 or len(indices) == 0:
            raise ValueError(
                f"SpeechSplit.batch: expected a non-empty list of indices, got shape "
                f"{indices.shape}."
            )
        if indices.min() < 0 or indices.max() >= len(self):
            raise IndexError(
                f"SpeechSplit.batch: indices must be in [0, {len(self)}), got "
                f"{indices.min()}..{indices.max()}."
            )
        n = max(len(self.phoneme_ids[i]) for i in indices)
        t = max(len(self.mels[i]) for i in indices)
        ids = np.zeros([len(indices), n], np.int32)
        durations = np.zeros([len(indices), n], np.int32)
        mels = np.full(
            [len(indices), t, self.config.num_mels], np.log(self.config.floor), np.float32
        )
        for row, i in enumerate(indices):
            ids[row, : len(self.phoneme_ids[i])] = self.phoneme_ids[i]
            durations[row, : len(self.durations[i])] = self.durations[i]
            mels[row, : len(self.mels[i])] = self.mels[i]
        return SpeechBatch(
            phoneme_ids=ids,
            phoneme_lengths=np.array([len(self.phoneme_ids[i]) for i in indices], np.int32),
            durations=durations,
            mels=mels,
            frame_lengths=np.array([len(self.mels[i]) for i in indices], np.int32),
        )


def _cache_dir(cache_dir: str | os.PathLike | None) -> pathlib.Path:
    if cache_dir is not None:
        return pathlib.Path(cache_dir)
    root = os.environ.get("TFP_FLOWS_DATA")
    return pathlib.Path(root) if root else pathlib.Path.home() / ".cache" / "tfp_flows"


@functools.cache
def _mel_function(config: MelConfig):
    return tf.function(
        lambda wave: log_mel_spectrogram(wave, config),
        input_signature=[tf.TensorSpec([None], tf.float32)],
    )


def _durations(starts: np.ndarray, num_frames: int, config: MelConfig) -> np.ndarray:
    boundaries = np.clip(frame_of_sample(starts, config), 0, num_frames)
    boundaries[0] = 0
    return np.diff(np.append(boundaries, num_frames)).astype(np.int32)


def _synthesise(
    num_sentences: int,
    voices: tuple[str, ...],
    seed: int,
    rate: int,
    dither: float,
    config: MelConfig,
) -> dict[str, np.ndarray]:
    """The whole corpus as flat arrays with offsets (the cache file's contents)."""
    texts = template_sentences(num_sentences, seed)
    mel_of = _mel_function(config)
    names, durations, mels, voice_ids = [], [], [], []
    for i, text in enumerate(texts):
        voice = i % len(voices)
        utterance = espeak.synthesize(text, voices[voice], rate=rate)
        if utterance.sample_rate != config.sample_rate:
            raise ValueError(
                f"speech: eSpeak NG speaks at {utterance.sample_rate} Hz but the MelConfig "
                f"expects {config.sample_rate} Hz."
            )
        if not utterance.phonemes:
            raise RuntimeError(f"speech: eSpeak NG gave no phoneme events for {text!r}.")
        noise = np.random.default_rng([seed, i]).standard_normal(len(utterance.waveform))
        wave = utterance.waveform + np.float32(dither) * noise.astype(np.float32)
        mel = mel_of(tf.constant(wave)).numpy()
        names.append(utterance.phonemes)
        durations.append(_durations(utterance.starts, len(mel), config))
        mels.append(mel)
        voice_ids.append(voice)
    vocabulary = [PAD, *sorted({name for phonemes in names for name in phonemes})]
    index = {name: i for i, name in enumerate(vocabulary)}
    return {
        "texts": np.array(texts),
        "voices": np.array(voice_ids, np.int32),
        "vocabulary": np.array(vocabulary),
        "phoneme_ids": np.concatenate([[index[n] for n in p] for p in names]).astype(np.int32),
        "phoneme_offsets": np.cumsum([0] + [len(p) for p in names]).astype(np.int64),
        "durations": np.concatenate(durations),
        "mels": np.concatenate(mels).astype(np.float32),
        "mel_offsets": np.cumsum([0] + [len(m) for m in mels]).astype(np.int64),
    }


@functools.lru_cache(maxsize=4)
def _corpus(
    num_sentences: int,
    voices: tuple[str, ...],
    seed: int,
    rate: int,
    dither: float,
    config: MelConfig,
    cache_dir: str,
) -> dict[str, np.ndarray]:
    key = {
        "format": _FORMAT_VERSION,
        "num_sentences": num_sentences,
        "voices": list(voices),
        "seed": seed,
        "rate": rate,
        "dither": dither,
        "mel": asdict(config),
        "espeak": espeak.espeak_version(),
    }
    digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    path = pathlib.Path(cache_dir) / f"speech-{digest}.npz"
    if path.exists():
        with np.load(path) as stored:
            return {name: stored[name] for name in stored.files}
    corpus = _synthesise(num_sentences, voices, seed, rate, dither, config)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez(partial, **corpus)
    os.replace(partial, path)  # atomic: a concurrent reader never sees half a file
    return corpus


def speech(
    split: str,
    *,
    num_sentences: int = 3000,
    voices: Sequence[str] = ("en-us",),
    seed: int = 0,
    rate: int = 175,
    dither: float = 1e-3,
    config: MelConfig | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> SpeechSplit:
    """One split of the synthesised speech corpus (module docstring).

    Args:
      split: ``"train"``, ``"validation"`` or ``"test"``.
      num_sentences: sentences in the whole corpus (all splits; at least 10).
      voices: eSpeak NG voice names, used in turn (``"en-us"``, ``"en"``, ...).
      seed: seed of the sentences.
      rate: speaking rate, words per minute.
      dither: standard deviation of the noise added to the waveform (0: none).
      config: the log-mel settings (``MelConfig()``: 22,050 Hz, 80 bands, hop 256).
      cache_dir: where the corpus is cached (default ``$TFP_FLOWS_DATA`` or
        ``~/.cache/tfp_flows``).

    Raises:
      ImportError: naming ``pip install espeakng-loader`` when eSpeak NG is not installed.
      ValueError: for an unknown split or voice.
    """
    if split not in SPEECH_SPLITS:
        raise ValueError(f"speech: split must be one of {SPEECH_SPLITS}, got {split!r}.")
    num_sentences = check_integer("speech: num_sentences", num_sentences, minimum=10)
    seed = check_integer("speech: seed", seed, minimum=0)
    voices = (voices,) if isinstance(voices, str) else tuple(voices)
    if not voices or not all(isinstance(v, str) and v for v in voices):
        raise ValueError(f"speech: voices must be non-empty voice names, got {voices!r}.")
    if not (isinstance(dither, (int, float)) and 0 <= dither < 0.1):
        raise ValueError(f"speech: dither must be a number in [0, 0.1), got {dither!r}.")
    config = config or MelConfig()
    corpus = _corpus(
        num_sentences,
        voices,
        seed,
        int(rate),
        float(dither),
        config,
        str(_cache_dir(cache_dir).resolve()),
    )
    rows = [i for i in range(len(corpus["texts"])) if speech_split_of(i) == split]
    p_off, m_off = corpus["phoneme_offsets"], corpus["mel_offsets"]
    return SpeechSplit(
        texts=tuple(str(corpus["texts"][i]) for i in rows),
        voices=corpus["voices"][rows],
        voice_names=voices,
        phoneme_ids=tuple(corpus["phoneme_ids"][p_off[i] : p_off[i + 1]] for i in rows),
        durations=tuple(corpus["durations"][p_off[i] : p_off[i + 1]] for i in rows),
        mels=tuple(corpus["mels"][m_off[i] : m_off[i + 1]] for i in rows),
        vocabulary=tuple(str(v) for v in corpus["vocabulary"]),
        config=config,
    )
