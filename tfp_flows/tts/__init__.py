"""Flow-TTS: text to speech with a normalizing-flow decoder over mel frames.

:mod:`~tfp_flows.tts.model` (``TextToSpeech``: encoder, durations, decoder),
:mod:`~tfp_flows.tts.flow_decoder` (the Glow over mel frames, built from the
package's ``ActNorm`` and ``Conv1x1``), :mod:`~tfp_flows.tts.frame_coupling`
(affine coupling over channels with a WaveNet conditioner),
:mod:`~tfp_flows.tts.baseline_decoders` (L1 and Gaussian decoders),
:mod:`~tfp_flows.tts.text_encoder`, :mod:`~tfp_flows.tts.duration_predictor`,
:mod:`~tfp_flows.tts.frames` (masks, squeeze of frames, length regulator),
:mod:`~tfp_flows.tts.training`, :mod:`~tfp_flows.tts.vocoder` (Griffin-Lim),
:mod:`~tfp_flows.tts.metrics` (mel-cepstral distortion), :mod:`~tfp_flows.tts.text_prior`
(the flow's latent prior, read from the text), :mod:`~tfp_flows.tts.evaluation` (NLL, MCD,
duration error, real-time factor), :mod:`~tfp_flows.tts.examples` (figure and WAVs). The data:
``tff.datasets.speech`` (needs ``pip install espeakng-loader``); nothing here needs it.
"""

from tfp_flows.tts.baseline_decoders import GaussianDecoder, L1Decoder
from tfp_flows.tts.duration_predictor import DurationPredictor
from tfp_flows.tts.evaluation import real_time_factor, score_text_to_speech
from tfp_flows.tts.examples import example_mels, plot_mels, write_example_wavs
from tfp_flows.tts.flow_decoder import FlowDecoder
from tfp_flows.tts.frame_coupling import FrameAffineCoupling
from tfp_flows.tts.frames import length_regulate, sequence_mask, squeeze_frames, unsqueeze_frames
from tfp_flows.tts.metrics import mel_cepstral_distortion
from tfp_flows.tts.model import DECODERS, TextToSpeech
from tfp_flows.tts.text_encoder import TextEncoder
from tfp_flows.tts.text_prior import TextPrior
from tfp_flows.tts.training import evaluate_text_to_speech, fit_text_to_speech
from tfp_flows.tts.vocoder import griffin_lim, write_wav

__all__ = [
    "DECODERS",
    "DurationPredictor",
    "FlowDecoder",
    "FrameAffineCoupling",
    "GaussianDecoder",
    "L1Decoder",
    "TextEncoder",
    "TextPrior",
    "TextToSpeech",
    "evaluate_text_to_speech",
    "example_mels",
    "fit_text_to_speech",
    "griffin_lim",
    "length_regulate",
    "mel_cepstral_distortion",
    "plot_mels",
    "real_time_factor",
    "score_text_to_speech",
    "sequence_mask",
    "squeeze_frames",
    "unsqueeze_frames",
    "write_example_wavs",
    "write_wav",
]
