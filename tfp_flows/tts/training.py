"""``fit_text_to_speech``: Adam on the decoder loss plus the duration loss, random batches.

```none
step:  batch of `batch_size` random training utterances (seeded), cropped (TextToSpeech.prepare)
       loss = decoder training loss per mel bin + duration loss;  Adam, gradients clipped to global norm 5,
       learning rate: tff.fit's schedule (linear warm-up over min(200, steps / 10), cosine decay)
```

Adam is written out here (:class:`_Adam`, the update of Kingma & Ba with bias correction)
rather than taken from Keras: tracing a Keras 3 or tf_keras optimizer's ``apply_gradients``
over the flow decoder's ~300 variables took longer (measured: 5.6 s for 150 variables) than
tracing the model and its gradient.

```none
m <- b1 m + (1 - b1) g,   v <- b2 v + (1 - b2) g^2,   w <- w - lr_t sqrt(1 - b2^t) / (1 - b1^t) m / (sqrt(v) + eps)
```

The first batch sets the standardisation and a flow's ActNorms
(:meth:`~tfp_flows.tts.TextToSpeech.adapt`) when the model has not been adapted.
"""

from __future__ import annotations

import time

import numpy as np
import tensorflow as tf

from tfp_flows._internal.checks import check_integer
from tfp_flows.datasets.speech import SpeechSplit
from tfp_flows.training.optimizers import default_schedule
from tfp_flows.tts.model import TextToSpeech

__all__ = ["evaluate_text_to_speech", "fit_text_to_speech"]


class _Adam(tf.Module):
    """Adam (module docstring) over a fixed list of variables, with a learning-rate schedule."""

    def __init__(self, variables, schedule, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
        super().__init__(name="adam")
        self._variables = list(variables)
        self._schedule = schedule
        self._b1, self._b2, self._eps = beta_1, beta_2, epsilon
        self.iterations = tf.Variable(0, dtype=tf.int64, trainable=False, name="iterations")
        self.m = [tf.Variable(tf.zeros_like(v), trainable=False) for v in self._variables]
        self.v = [tf.Variable(tf.zeros_like(v), trainable=False) for v in self._variables]

    def apply(self, gradients) -> None:
        lr = tf.cast(self._schedule(self.iterations), tf.float32)
        self.iterations.assign_add(1)
        t = tf.cast(self.iterations, tf.float32)
        step = lr * tf.sqrt(1.0 - self._b2**t) / (1.0 - self._b1**t)
        for variable, m, v, g in zip(self._variables, self.m, self.v, gradients):
            if g is None:
                continue
            g = tf.convert_to_tensor(g)  # the embedding's IndexedSlices, dense
            m.assign(self._b1 * m + (1.0 - self._b1) * g)
            v.assign(self._b2 * v + (1.0 - self._b2) * tf.square(g))
            variable.assign_sub(step * m / (tf.sqrt(v) + self._eps))


def fit_text_to_speech(
    model: TextToSpeech,
    train: SpeechSplit,
    *,
    steps: int,
    batch_size: int = 16,
    learning_rate: float = 1e-3,
    seed: int = 0,
    clip_norm: float = 5.0,
    compiled: bool = True,
) -> dict[str, list[float]]:
    """Trains ``model`` on ``train``; returns ``{"loss", "duration_loss", "seconds"}`` per step
    (``loss``: the decoder's training loss, :meth:`TextToSpeech.losses` with ``training=True``).

    ``compiled=True`` runs each step as one ``tf.function`` traced once (every batch shape
    relaxed); ``False`` runs eagerly (no tracing: faster for a few steps of a tiny model).

    Raises:
      FloatingPointError: when a loss is not finite (naming the step).
    """
    if not isinstance(model, TextToSpeech):
        raise TypeError(f"fit_text_to_speech: expected a TextToSpeech, got {type(model).__name__}.")
    if not isinstance(train, SpeechSplit):
        raise TypeError(
            f"fit_text_to_speech: expected a SpeechSplit (tff.datasets.speech(...)), got "
            f"{type(train).__name__}."
        )
    steps = check_integer("fit_text_to_speech: steps", steps)
    batch_size = check_integer("fit_text_to_speech: batch_size", batch_size)
    rng = np.random.default_rng(seed)
    batch_size = min(batch_size, len(train))
    if not bool(model.adapted.numpy()):
        model.adapt(model.prepare(train.batch(rng.choice(len(train), batch_size, replace=False))))
    variables = model.trainable_variables
    optimizer = _Adam(variables, default_schedule(steps, learning_rate))

    def step(data):
        with tf.GradientTape() as tape:
            decoder_loss, duration_loss = model.losses(data, training=True)
            total = decoder_loss + duration_loss
        gradients = tape.gradient(total, variables)
        gradients, _ = tf.clip_by_global_norm(gradients, clip_norm)
        optimizer.apply(gradients)
        return decoder_loss, duration_loss

    if compiled:
        int_spec = tf.TensorSpec([None], tf.int32)
        signature = {
            "phoneme_ids": tf.TensorSpec([None, None], tf.int32),
            "phoneme_lengths": int_spec,
            "durations": tf.TensorSpec([None, None], tf.int32),
            "mels": tf.TensorSpec([None, None, model.num_mels], tf.float32),
            "frame_lengths": int_spec,
        }
        step = tf.function(step, input_signature=[signature], autograph=False)

    history: dict[str, list[float]] = {"loss": [], "duration_loss": [], "seconds": []}
    start = time.perf_counter()
    for i in range(steps):
        data = model.prepare(train.batch(rng.choice(len(train), batch_size, replace=False)))
        decoder_loss, duration_loss = (float(v) for v in step(data))
        if not np.isfinite(decoder_loss + duration_loss):
            raise FloatingPointError(
                f"fit_text_to_speech: the loss became {decoder_loss} (decoder) + {duration_loss} "
                f"(durations) at step {i}; lower the learning_rate."
            )
        history["loss"].append(decoder_loss)
        history["duration_loss"].append(duration_loss)
        history["seconds"].append(time.perf_counter() - start)
    return history


def evaluate_text_to_speech(
    model: TextToSpeech, split: SpeechSplit, *, batch_size: int = 32
) -> dict[str, float]:
    """Decoder loss per mel bin and duration loss over a whole split (weighted by bins/phonemes)."""
    sums = {"loss": 0.0, "duration_loss": 0.0}
    bins = phonemes = 0
    for begin in range(0, len(split), batch_size):
        data = model.prepare(split.batch(np.arange(begin, min(begin + batch_size, len(split)))))
        decoder_loss, duration_loss = model.losses(data)
        b = int(tf.reduce_sum(data["frame_lengths"]))
        p = int(tf.reduce_sum(data["phoneme_lengths"]))
        sums["loss"] += float(decoder_loss) * b
        sums["duration_loss"] += float(duration_loss) * p
        bins, phonemes = bins + b, phonemes + p
    return {"loss": sums["loss"] / bins, "duration_loss": sums["duration_loss"] / phonemes}
