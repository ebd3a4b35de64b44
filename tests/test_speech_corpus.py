"""The speech corpus synthesised with eSpeak NG: timing, features, split, cache, errors."""

import importlib
import sys

import numpy as np
import pytest

from tfp_flows.datasets import espeak
from tfp_flows.datasets.log_mel import MelConfig, frame_of_sample, log_mel_spectrogram
from tfp_flows.datasets.speech_text import template_sentences

speech_module = importlib.import_module("tfp_flows.datasets.speech")  # the module, not the function

needs_espeak = pytest.mark.skipif(
    not espeak.espeak_available(),
    reason="eSpeak NG is not installed: pip install espeakng-loader (the `speech` extra)",
)


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("speech_cache")


def test_template_sentences_are_seeded_distinct_and_prefix_stable():
    first = template_sentences(30, seed=3)
    assert first == template_sentences(30, seed=3)
    assert len(set(first)) == 30
    assert template_sentences(10, seed=3) == first[:10]
    assert template_sentences(10, seed=4) != first[:10]
    with pytest.raises(ValueError, match="count must be a positive integer, got 0"):
        template_sentences(0)


def test_frames_are_centred_on_multiples_of_the_hop():
    config = MelConfig()
    wave = np.zeros(10 * config.hop + 3, np.float32)
    assert log_mel_spectrogram(wave, config).shape == (11, 80)
    np.testing.assert_array_equal(frame_of_sample([0, 127, 128, 256, 383], config), [0, 0, 1, 1, 1])
    with pytest.raises(ValueError, match="fmax"):
        MelConfig(fmax=20000.0)


def test_without_espeak_the_corpus_names_the_install_command(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "espeakng_loader", None)  # as if not installed
    espeak._synthesizer.cache_clear()
    speech_module._corpus.cache_clear()
    try:
        with pytest.raises(ImportError, match="pip install espeakng-loader"):
            speech_module.speech("train", num_sentences=10, cache_dir=tmp_path)
    finally:
        espeak._synthesizer.cache_clear()
        speech_module._corpus.cache_clear()


@needs_espeak
def test_phoneme_events_time_the_waveform():
    utterance = espeak.synthesize("The cat sat.")
    assert utterance.sample_rate == 22050
    assert utterance.phonemes[:4] == ("D", "@2", "k", "'a")
    assert np.all(np.diff(utterance.starts) >= 0)
    assert 0 <= utterance.starts[0] and utterance.starts[-1] < len(utterance.waveform)
    assert 0.3 < len(utterance.waveform) / 22050 < 2.0 and np.abs(utterance.waveform).max() > 0.1
    with pytest.raises(ValueError, match="no voice named 'zzzz-qq'"):
        espeak.synthesize("The cat sat.", "zzzz-qq")
    with pytest.raises(ValueError, match="non-empty string"):
        espeak.synthesize("  ")


@needs_espeak
def test_corpus_durations_cover_the_frames_and_follow_the_synthesiser(tmp_path, monkeypatch):
    # The utterances the corpus is made of, as the synthesiser gave them: eSpeak NG carries its
    # pitch state from one utterance to the next, so a second synthesis of a sentence moves its
    # phoneme boundaries by up to 2 frames (measured over 60 histories), and comparing with one
    # failed or passed with the order of the tests.
    spoken = {}
    synthesize = espeak.synthesize

    def recording(text, *args, **kwargs):
        spoken[text] = synthesize(text, *args, **kwargs)
        return spoken[text]

    monkeypatch.setattr(espeak, "synthesize", recording)
    splits = {
        s: speech_module.speech(s, num_sentences=20, cache_dir=tmp_path)
        for s in ("train", "validation", "test")
    }
    assert [len(splits[s]) for s in ("train", "validation", "test")] == [16, 2, 2]
    texts = [t for s in splits.values() for t in s.texts]
    assert sorted(texts) == sorted(template_sentences(20, seed=0))
    train = splits["train"]
    vocabulary = train.vocabulary
    assert vocabulary[0] == "<pad>" and len(set(vocabulary)) == len(vocabulary)
    for ids, durations, mel in zip(train.phoneme_ids, train.durations, train.mels):
        assert mel.shape[1] == 80 and mel.dtype == np.float32 and np.all(np.isfinite(mel))
        assert durations.sum() == len(mel) and np.all(durations >= 0)
        assert ids.min() >= 1 and ids.max() < len(vocabulary)
    # The durations are the synthesiser's own timing, in frames.
    utterance = spoken[train.texts[0]]
    assert tuple(vocabulary[i] for i in train.phoneme_ids[0]) == utterance.phonemes
    boundaries = np.cumsum(train.durations[0])[:-1]
    np.testing.assert_array_equal(boundaries, frame_of_sample(utterance.starts[1:], train.config))
    assert len(log_mel_spectrogram(utterance.waveform, train.config)) == len(train.mels[0])
    # The dither: silence is never one constant value.
    assert (np.concatenate(train.mels) <= np.log(train.config.floor) + 1e-6).mean() < 1e-3


@needs_espeak
def test_corpus_is_cached_on_disk_and_read_back(corpus_dir, monkeypatch):
    first = speech_module.speech("test", num_sentences=20, cache_dir=corpus_dir)
    assert len(list(corpus_dir.glob("speech-*.npz"))) == 1
    speech_module._corpus.cache_clear()

    def no_synthesis(*args, **kwargs):
        raise AssertionError("the cached corpus was synthesised again")

    monkeypatch.setattr(espeak, "synthesize", no_synthesis)
    again = speech_module.speech("test", num_sentences=20, cache_dir=corpus_dir)
    assert again.texts == first.texts
    for a, b in zip(again.mels, first.mels):
        np.testing.assert_array_equal(a, b)
    batch = again.batch([1, 0])
    assert batch.mels.shape == (2, max(len(m) for m in first.mels), 80)
    np.testing.assert_array_equal(batch.frame_lengths, batch.durations.sum(-1))


def test_corpus_arguments_are_checked(tmp_path):
    with pytest.raises(ValueError, match=r"split must be one of .*got 'training'"):
        speech_module.speech("training", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="num_sentences must be an integer >= 10, got 5"):
        speech_module.speech("train", num_sentences=5, cache_dir=tmp_path)
    with pytest.raises(ValueError, match="dither must be a number in"):
        speech_module.speech("train", dither=-1.0, cache_dir=tmp_path)
