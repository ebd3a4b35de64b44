"""The eSpeak NG speech synthesiser, driven offline through its C API (``espeakng-loader``).

The ``espeakng-loader`` wheel (``pip install espeakng-loader``, or the package's
extra ``pip install "tfp-flows[speech]"``) bundles ``libespeak-ng`` and its
voice data. eSpeak NG is licensed under the GNU GPL version 3: this package
never ships it or links it at import time; it loads the library with
``ctypes`` only when speech is synthesised, to *generate data* on the user's
machine (:mod:`tfp_flows.datasets.speech`).

The synthesiser runs in ``AUDIO_OUTPUT_SYNCHRONOUS`` mode with phoneme events
on (``espeak_Initialize(..., options=1)``). Its callback receives the 16-bit
samples in chunks and a list of events; every ``espeakEVENT_PHONEME`` event
carries the phoneme's name (eSpeak's ASCII mnemonic, such as ``'aU`` with its
stress mark) and the index of the audio sample where it starts. So one call
gives the waveform and the phoneme timing the synthesiser itself used:

```none
phoneme k spans samples [start_k, start_{k+1})     (the last one: up to the end of the audio)
```

eSpeak NG carries state from one utterance to the next (the phase of its pitch
generator, not reset by ``espeak_ng_SetRandSeed`` nor by re-initialising): the
same sentence spoken twice in one process can differ by a few samples in
length and timing. The corpus is made in one pass and cached, so its
utterances are fixed once made.

#### Examples

>>> from tfp_flows.datasets.espeak import espeak_available, synthesize
>>> if espeak_available():
...     utterance = synthesize("The cat sat.")
...     print(utterance.sample_rate, utterance.phonemes[:3])
... else:
...     print(22050, ('D', '@2', 'k'))
22050 ('D', '@2', 'k')
"""

from __future__ import annotations

import ctypes
import functools
import importlib.util
import threading
from dataclasses import dataclass

import numpy as np

__all__ = [
    "INSTALL_SPEECH",
    "Utterance",
    "espeak_available",
    "espeak_version",
    "synthesize",
]

INSTALL_SPEECH = 'pip install espeakng-loader  (or pip install "tfp-flows[speech]")'
"""The command that installs the synthesiser (eSpeak NG, GPL-3) the speech data set needs."""

# speak_lib.h
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_EVENT_LIST_TERMINATED = 0
_EVENT_PHONEME = 7
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_INIT_PHONEME_EVENTS = 1
_PARAMETER_RATE = 1


class _Event(ctypes.Structure):
    """``espeak_EVENT`` of speak_lib.h."""

    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),  # milliseconds
        ("sample", ctypes.c_int),  # index of the audio sample
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_char * 8),  # a phoneme's name (UTF-8, zero-terminated unless 8 bytes)
    ]


_Callback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


@dataclass(frozen=True)
class Utterance:
    """One synthesised sentence.

    Attributes:
      text: the sentence.
      voice: the eSpeak voice name.
      waveform: ``float32`` samples in ``[-1, 1]`` (16-bit samples / 32768).
      sample_rate: samples per second (22,050 for eSpeak NG).
      phonemes: eSpeak's phoneme names, in order (stress marks kept: ``'aU``, ``,oU``).
      starts: ``int64`` index of the first sample of each phoneme (non-decreasing).
    """

    text: str
    voice: str
    waveform: np.ndarray
    sample_rate: int
    phonemes: tuple[str, ...]
    starts: np.ndarray


def espeak_available() -> bool:
    """Whether ``espeakng-loader`` is installed (checked without importing anything)."""
    return importlib.util.find_spec("espeakng_loader") is not None


class _Synthesizer:
    """The process's one eSpeak NG instance (the library keeps global state)."""

    def __init__(self):
        try:
            import espeakng_loader
        except ImportError as error:
            raise ImportError(
                "the speech data set synthesises its sentences with eSpeak NG, which is not "
                f"installed ({error}); install it with: {INSTALL_SPEECH}"
            ) from None
        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        lib.espeak_Info.restype = ctypes.c_char_p
        lib.espeak_Info.argtypes = [ctypes.c_void_p]
        data_path = espeakng_loader.get_data_path().encode()
        self.sample_rate = lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path, _INIT_PHONEME_EVENTS
        )
        if self.sample_rate <= 0:
            raise RuntimeError(
                f"eSpeak NG failed to initialise from {data_path.decode()} "
                f"(espeak_Initialize returned {self.sample_rate})."
            )
        self.version = lib.espeak_Info(None).decode()
        self._lib = lib
        self._lock = threading.Lock()
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple[str, int]] = []
        self._callback = _Callback(self._collect)  # kept alive as long as the library may call it
        lib.espeak_SetSynthCallback(self._callback)

    def _collect(self, samples, count, events) -> int:
        if count > 0:
            self._chunks.append(np.ctypeslib.as_array(samples, shape=(count,)).copy())
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            if events[i].type == _EVENT_PHONEME:
                name = bytes(events[i].id).split(b"\0")[0].decode("utf-8", "replace")
                self._events.append((name, int(events[i].sample)))
            i += 1
        return 0  # continue

    def __call__(self, text: str, voice: str, rate: int) -> Utterance:
        with self._lock:
            if self._lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise ValueError(f"eSpeak NG has no voice named {voice!r} (try 'en-us' or 'en').")
            self._lib.espeak_SetParameter(_PARAMETER_RATE, int(rate), 0)
            self._chunks, self._events = [], []
            encoded = text.encode("utf-8")
            status = self._lib.espeak_Synth(
                encoded, len(encoded) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
            )
            if status != 0:
                raise RuntimeError(
                    f"eSpeak NG failed on {text!r} (espeak_Synth returned {status})."
                )
            chunks, events = self._chunks, self._events
        samples = np.concatenate(chunks) if chunks else np.zeros([0], np.int16)
        # Phonemes that start at the very end (the closing pause marker) have no samples.
        events = [(name, start) for name, start in events if start < len(samples)]
        return Utterance(
            text=text,
            voice=voice,
            waveform=samples.astype(np.float32) / 32768.0,
            sample_rate=self.sample_rate,
            phonemes=tuple(name for name, _ in events),
            starts=np.array([start for _, start in events], np.int64),
        )


@functools.cache
def _synthesizer() -> _Synthesizer:
    return _Synthesizer()


def espeak_version() -> str:
    """The version string of the bundled eSpeak NG library (part of the corpus's cache key)."""
    return _synthesizer().version


def synthesize(text: str, voice: str = "en-us", *, rate: int = 175) -> Utterance:
    """Synthesises ``text`` with eSpeak NG; returns the waveform and the phoneme timing.

    Args:
      text: the sentence (UTF-8).
      voice: an eSpeak voice name (``"en-us"``, ``"en"`` (British English), ...).
      rate: speaking rate in words per minute (80..450; eSpeak's default is 175).

    Raises:
      ImportError: naming ``pip install espeakng-loader`` when it is not installed.
      ValueError: for an unknown voice or an empty text.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"synthesize: text must be a non-empty string, got {text!r}.")
    if not 80 <= rate <= 450:
        raise ValueError(f"synthesize: rate must be 80..450 words per minute, got {rate!r}.")
    return _synthesizer()(text, voice, rate)
