"""``TextToSpeech``: text encoder, duration predictor, length regulator and a mel decoder.

```none
h     = TextEncoder(phoneme ids)                              [B, N, H]
c     = length_regulate(h, durations)                         [B, T, H]  (true durations in training,
                                                                          predicted ones at synthesis)
x     = (mels - mean) / std                                   per-bin standardisation (from data)
loss  = decoder.loss(x, frame mask, c) + DurationPredictor.loss(h, durations)
        (the flow's training loss may add an L1 term on its point estimate, ``point_l1``;
         the loss scored on held-out data is always the exact NLL)
```

``decoder="flow"`` is Flow-TTS (:class:`~tfp_flows.tts.FlowDecoder`: exact NLL,
sampled in one pass at a temperature); ``"gaussian"`` and ``"l1"`` are the
baselines (:mod:`~tfp_flows.tts.baseline_decoders`). For the probabilistic
decoders, :meth:`TextToSpeech.nll_per_bin` converts the loss back to nats per
bin of the *raw* log-mels (adds ``mean(log std)``, the standardisation's log-det).

#### Examples

>>> model = TextToSpeech(vocabulary_size=6, num_mels=4, channels=8, decoder_hidden=8,
...                      decoder_layers=2, steps_per_level=1, seed=0)
>>> ids, lengths = tf.constant([[1, 2, 3]]), tf.constant([3])
>>> mels, frames = model.synthesize(ids, lengths, seed=0)
>>> mels.shape[-1], int(frames[0]) % 2
(4, 0)
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfp_flows._internal.checks import check_integer
from tfp_flows.datasets.speech import SpeechBatch
from tfp_flows.tts.baseline_decoders import GaussianDecoder, L1Decoder
from tfp_flows.tts.duration_predictor import DurationPredictor
from tfp_flows.tts.flow_decoder import FlowDecoder
from tfp_flows.tts.frames import length_regulate, sequence_mask
from tfp_flows.tts.text_encoder import TextEncoder

__all__ = ["DECODERS", "TextToSpeech"]

DECODERS = ("flow", "gaussian", "l1")


class TextToSpeech(tf.Module):
    """Phoneme ids -> log-mel frames (module docstring).

    Args:
      vocabulary_size: number of phoneme ids (``len(split.vocabulary)``).
      decoder: ``"flow"``, ``"gaussian"`` or ``"l1"``.
      num_mels: mel bands.
      channels: width of the text states.
      encoder_layers: residual convolutions of the text encoder.
      decoder_hidden, decoder_layers: width and depth of each WaveNet in the decoder.
      steps_per_level, num_levels, squeeze, text_prior, point_l1: the flow decoder's (the other
        decoders ignore them; ``text_prior``: the latent prior's mean and scale read the text, as
        in Glow-TTS, :class:`~tfp_flows.tts.TextPrior`; ``point_l1``: weight of an L1 term on
        ``decode(mu(text))`` in the training loss, :class:`~tfp_flows.tts.FlowDecoder`).
      seed: integer seed of every initialisation.
      name: module name.
    """

    def __init__(
        self,
        vocabulary_size: int,
        *,
        decoder: str = "flow",
        num_mels: int = 80,
        channels: int = 64,
        encoder_layers: int = 3,
        decoder_hidden: int = 64,
        decoder_layers: int = 4,
        steps_per_level: int = 4,
        num_levels: int = 2,
        squeeze: int = 2,
        text_prior: bool = True,
        point_l1: float = 0.0,
        seed: int = 0,
        name: str = "text_to_speech",
    ):
        super().__init__(name=name)
        if decoder not in DECODERS:
            raise ValueError(f"TextToSpeech: decoder must be one of {DECODERS}, got {decoder!r}.")
        seed = check_integer("TextToSpeech: seed", seed, minimum=0)
        self.decoder_name = decoder
        self.num_mels = check_integer("TextToSpeech: num_mels", num_mels)
        self.squeeze = squeeze if decoder == "flow" else 1
        with self.name_scope:
            self.encoder = TextEncoder(
                vocabulary_size, channels, num_layers=encoder_layers, seed=seed
            )
            self.duration_predictor = DurationPredictor(channels, channels, seed=seed + 1)
            common = dict(hidden_channels=decoder_hidden, num_layers=decoder_layers, seed=seed + 2)
            if decoder == "flow":
                self.decoder = FlowDecoder(
                    num_mels,
                    channels,
                    squeeze=squeeze,
                    num_levels=num_levels,
                    steps_per_level=steps_per_level,
                    text_prior=text_prior,
                    point_l1=point_l1,
                    **common,
                )
            elif decoder == "gaussian":
                self.decoder = GaussianDecoder(num_mels, channels, **common)
            else:
                self.decoder = L1Decoder(num_mels, channels, **common)
            self.mel_mean = tf.Variable(tf.zeros([num_mels]), trainable=False, name="mel_mean")
            self.mel_log_std = tf.Variable(
                tf.zeros([num_mels]), trainable=False, name="mel_log_std"
            )
            self.adapted = tf.Variable(False, trainable=False, name="adapted")

    # -- data ------------------------------------------------------------------------------

    def prepare(self, batch: SpeechBatch) -> dict[str, tf.Tensor]:
        """A :class:`~tfp_flows.datasets.SpeechBatch` as tensors, every utterance cropped to a
        multiple of the squeeze factor of frames (the frames cut are taken off the last
        phonemes' durations, as Glow-TTS does)."""
        if not isinstance(batch, SpeechBatch):
            raise TypeError(
                f"TextToSpeech.prepare: expected a SpeechBatch (split.batch(indices)), got "
                f"{type(batch).__name__}."
            )
        if batch.mels.shape[-1] != self.num_mels:
            raise ValueError(
                f"TextToSpeech.prepare: the model has {self.num_mels} mel bands, the batch "
                f"{batch.mels.shape[-1]}."
            )
        k = self.squeeze
        durations = batch.durations.copy()
        frame_lengths = batch.frame_lengths - batch.frame_lengths % k
        for row, cut in enumerate(batch.frame_lengths % k):
            n = batch.phoneme_lengths[row] - 1
            while cut > 0:
                take = min(cut, durations[row, n])
                durations[row, n] -= take
                cut -= take
                n -= 1
        max_frames = int(frame_lengths.max())
        return {
            "phoneme_ids": tf.constant(batch.phoneme_ids),
            "phoneme_lengths": tf.constant(batch.phoneme_lengths),
            "durations": tf.constant(durations),
            "mels": tf.constant(batch.mels[:, :max_frames]),
            "frame_lengths": tf.constant(frame_lengths),
        }

    def adapt(self, data: dict[str, tf.Tensor]) -> None:
        """Sets the per-bin standardisation (and a flow's ActNorms) from a prepared batch."""
        mask = sequence_mask(data["frame_lengths"], tf.shape(data["mels"])[1])
        frames = tf.boolean_mask(data["mels"], mask > 0).numpy()
        self.mel_mean.assign(frames.mean(0))
        self.mel_log_std.assign(np.log(np.maximum(frames.std(0), 1e-3)))
        if self.decoder_name == "flow":
            x, mask, condition = self._decoder_inputs(data)
            self.decoder.encode(x, mask, condition, adapt=True)
        self.adapted.assign(True)

    # -- training --------------------------------------------------------------------------

    def _decoder_inputs(self, data):
        text_mask = sequence_mask(data["phoneme_lengths"], tf.shape(data["phoneme_ids"])[1])
        states = self.encoder(data["phoneme_ids"], text_mask)
        frames = tf.shape(data["mels"])[1]
        condition = length_regulate(states, data["durations"], frames)
        mask = sequence_mask(data["frame_lengths"], frames)
        x = (data["mels"] - self.mel_mean) * tf.exp(-self.mel_log_std) * mask[..., None]
        return x, mask, condition

    def losses(
        self, data: dict[str, tf.Tensor], *, training: bool = False
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """``(decoder loss per real mel bin, duration loss)`` of a prepared batch.

        ``training=False``: the decoder's exact loss (the NLL of a probabilistic decoder);
        ``True``: its training loss (the flow's may add its ``point_l1`` term).
        """
        text_mask = sequence_mask(data["phoneme_lengths"], tf.shape(data["phoneme_ids"])[1])
        states = self.encoder(data["phoneme_ids"], text_mask)
        duration_loss = self.duration_predictor.loss(states, text_mask, data["durations"])
        frames = tf.shape(data["mels"])[1]
        condition = length_regulate(states, data["durations"], frames)
        mask = sequence_mask(data["frame_lengths"], frames)
        x = (data["mels"] - self.mel_mean) * tf.exp(-self.mel_log_std) * mask[..., None]
        return self.decoder.loss(x, mask, condition, training=training), duration_loss

    def nll_per_bin(self, decoder_loss: tf.Tensor) -> tf.Tensor:
        """A probabilistic decoder's loss as nats per bin of the raw log-mels."""
        if self.decoder_name == "l1":
            raise ValueError("TextToSpeech.nll_per_bin: the l1 decoder has no likelihood.")
        return decoder_loss + tf.reduce_mean(self.mel_log_std)

    # -- synthesis -------------------------------------------------------------------------

    def synthesize(
        self,
        phoneme_ids,
        phoneme_lengths,
        *,
        temperature: float = 0.667,
        seed: int | None = None,
        durations=None,
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """Log-mels ``[B, T, M]`` and frame counts ``[B]`` for phoneme ids, in one pass.

        Durations are predicted (or given, ``int [B, N]``), and the last real phoneme of each
        utterance is lengthened to a multiple of the squeeze factor of frames.
        """
        phoneme_ids = tf.convert_to_tensor(phoneme_ids)
        phoneme_lengths = tf.convert_to_tensor(phoneme_lengths, tf.int32)
        if phoneme_ids.shape.rank != 2 or phoneme_lengths.shape.rank != 1:
            raise ValueError(
                f"TextToSpeech.synthesize: expected phoneme_ids [B, N] and phoneme_lengths [B], "
                f"got {phoneme_ids.shape} and {phoneme_lengths.shape}."
            )
        text_mask = sequence_mask(phoneme_lengths, tf.shape(phoneme_ids)[1])
        states = self.encoder(phoneme_ids, text_mask)
        if durations is None:
            durations = self.duration_predictor.frames(states, text_mask)
        durations = tf.cast(durations, tf.int32) * tf.cast(text_mask, tf.int32)
        total = tf.reduce_sum(durations, axis=-1)
        extra = (-total) % self.squeeze + tf.where(total == 0, self.squeeze, 0)
        durations += (
            tf.one_hot(phoneme_lengths - 1, tf.shape(durations)[1], dtype=tf.int32)
            * (extra[:, None])
        )
        frame_lengths = tf.reduce_sum(durations, axis=-1)
        frames = tf.reduce_max(frame_lengths)
        condition = length_regulate(states, durations, frames)
        mask = sequence_mask(frame_lengths, frames)
        x = self.decoder.generate(condition, mask, temperature=temperature, seed=seed)
        mels = (x * tf.exp(self.mel_log_std) + self.mel_mean) * mask[..., None]
        return mels, frame_lengths
