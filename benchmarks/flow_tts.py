"""Flow-TTS against an L1 decoder and a Gaussian decoder on the eSpeak NG corpus, in one run.

All three models share the text encoder, the duration predictor and the length regulator
(``tff.tts.TextToSpeech``) and differ only in the decoder of the mel frames:

* ``flow``: ``tff.tts.FlowDecoder`` (squeeze of 2 frames, 2 levels of ``--flow-steps`` steps
  with factor-out, ActNorm,
  1x1 convolutions, affine couplings with WaveNet conditioners reading the text states),
  trained by the exact NLL of the mels;
* ``gaussian``: independent Gaussians per frame and bin, mean and scale from a WaveNet;
* ``l1``: the mels from a WaveNet, trained with an L1 loss (FastSpeech-style).

Every model trains for the same number of steps at the same batch size and learning rate on the
training split of ``tff.datasets.speech`` (plus the duration loss), and is scored on the test
split:

```none
test NLL / bin   -(1/#bins) sum log p(mels | text, true durations), nats per raw log-mel bin
MCD              mel-cepstral distortion (dB, c1..c12) of the model's mels, generated with the
                 true durations (so frames align), against the synthesiser's held-out mels;
                 the flow at temperatures 0.667, 0.3 and 0 (z = 0), the Gaussian at 0 (its mean)
duration MAE     mean |predicted - true| frames per test phoneme
train time       wall seconds of the training steps (the first step includes tracing)
RTF              seconds to synthesise the test split's mels (predicted durations, batches of
                 16, after one warm-up batch) / seconds of audio those mels stand for
```

Each model runs with ``--seeds``; the table gives medians over seeds.

    python benchmarks/flow_tts.py                                   # the default budget
    python benchmarks/flow_tts.py --sentences 200 --steps 20 --seeds 0   # smoke run
    python benchmarks/flow_tts.py --figure notebooks/figures/flow_tts.png --wav-dir notebooks
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import tfp_flows as tff  # noqa: E402
from tfp_flows.tts import (  # noqa: E402
    TextToSpeech,
    evaluate_text_to_speech,
    fit_text_to_speech,
    griffin_lim,
    mel_cepstral_distortion,
    sequence_mask,
    write_wav,
)

DECODERS = ("flow", "gaussian", "l1")
TEMPERATURES = {"flow": (0.667, 0.3, 0.0), "gaussian": (0.0,), "l1": (0.0,)}


def build(vocabulary_size: int, decoder: str, args, seed: int) -> TextToSpeech:
    return TextToSpeech(
        vocabulary_size,
        decoder=decoder,
        channels=args.channels,
        encoder_layers=3,
        decoder_hidden=args.hidden,
        decoder_layers=args.layers,
        steps_per_level=args.flow_steps,
        num_levels=2,
        seed=seed,
    )


def score(model: TextToSpeech, test, batch_size: int = 32) -> dict[str, float]:
    result = {}
    losses = evaluate_text_to_speech(model, test, batch_size=batch_size)
    if model.decoder_name != "l1":
        result["nll"] = float(model.nll_per_bin(losses["loss"]))
    errors, phonemes = 0.0, 0
    distortions = {t: [0.0, 0] for t in TEMPERATURES[model.decoder_name]}
    for begin in range(0, len(test), batch_size):
        data = model.prepare(test.batch(np.arange(begin, min(begin + batch_size, len(test)))))
        text_mask = sequence_mask(data["phoneme_lengths"], tf.shape(data["phoneme_ids"])[1])
        states = model.encoder(data["phoneme_ids"], text_mask)
        predicted = model.duration_predictor.frames(states, text_mask)
        errors += float(tf.reduce_sum(tf.abs(predicted - data["durations"])))
        phonemes += int(tf.reduce_sum(data["phoneme_lengths"]))
        for temperature in distortions:
            mels, frames = model.synthesize(
                data["phoneme_ids"],
                data["phoneme_lengths"],
                durations=data["durations"],
                temperature=temperature,
                seed=begin,
            )
            mask = sequence_mask(data["frame_lengths"], tf.shape(data["mels"])[1])
            mcd = mel_cepstral_distortion(mels, data["mels"], mask)
            count = int(tf.reduce_sum(data["frame_lengths"]))
            distortions[temperature][0] += float(mcd) * count
            distortions[temperature][1] += count
    for temperature, (total, count) in distortions.items():
        result[f"mcd@{temperature}"] = total / count
    result["duration_mae"] = errors / phonemes
    return result


def real_time_factor(model: TextToSpeech, test, config, batch_size: int = 16) -> float:
    batches = [
        test.batch(np.arange(b, min(b + batch_size, len(test))))
        for b in range(0, len(test), batch_size)
    ]
    model.synthesize(batches[0].phoneme_ids, batches[0].phoneme_lengths, seed=0)  # warm-up
    start, audio = time.perf_counter(), 0.0
    for batch in batches:
        _, frames = model.synthesize(batch.phoneme_ids, batch.phoneme_lengths, seed=0)
        audio += float(tf.reduce_sum(frames)) * config.hop / config.sample_rate
    return (time.perf_counter() - start) / audio


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sentences", type=int, default=3000)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--flow-steps", type=int, default=2)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--decoders", nargs="+", default=list(DECODERS), choices=DECODERS)
    parser.add_argument("--figure", default=None, help="write the mel figure here (png)")
    parser.add_argument("--wav-dir", default=None, help="write Griffin-Lim WAVs here")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    train = tff.datasets.speech("train", num_sentences=args.sentences)
    test = tff.datasets.speech("test", num_sentences=args.sentences)
    print(
        f"corpus: {args.sentences} sentences ({len(train)} train / {len(test)} test), "
        f"{len(train.vocabulary) - 1} phonemes, loaded in {time.perf_counter() - start:.1f} s",
        flush=True,
    )
    rows: dict[str, list[dict[str, float]]] = {d: [] for d in args.decoders}
    examples = {}
    for seed in args.seeds:
        for decoder in args.decoders:
            tf.keras.utils.set_random_seed(seed)
            model = build(len(train.vocabulary), decoder, args, seed)
            history = fit_text_to_speech(
                model,
                train,
                steps=args.steps,
                batch_size=args.batch_size,
                learning_rate=args.learning_rate,
                seed=seed,
            )
            result = score(model, test)
            result["train_s"] = history["seconds"][-1]
            result["rtf"] = real_time_factor(model, test, train.config)
            result["params"] = sum(int(np.prod(v.shape)) for v in model.trainable_variables)
            rows[decoder].append(result)
            print(f"seed {seed} {decoder}: {result}", flush=True)
            if seed == args.seeds[0]:
                examples[decoder] = model
    print()
    print(
        f"{args.steps} steps, batch {args.batch_size}, lr {args.learning_rate}, "
        f"seeds {args.seeds}: medians"
    )
    keys = ["nll", "mcd@0.667", "mcd@0.3", "mcd@0.0", "duration_mae", "train_s", "rtf", "params"]
    print("| decoder | " + " | ".join(keys) + " |")
    print("|---" * (len(keys) + 1) + "|")
    for decoder, results in rows.items():
        cells = []
        for key in keys:
            values = [r[key] for r in results if key in r]
            cells.append(f"{np.median(values):.4g}" if values else "")
        print(f"| {decoder} | " + " | ".join(cells) + " |")
    if args.figure or args.wav_dir:
        write_examples(examples, test, args)


def write_examples(models, test, args, count: int = 2) -> None:
    batch = test.batch(np.arange(count))
    config = test.config
    panels = [("target", None, None)]
    for decoder, model in models.items():
        for temperature in TEMPERATURES[decoder]:
            panels.append((f"{decoder} T={temperature}", model, temperature))
    mels = {}
    for label, model, temperature in panels:
        if model is None:
            mels[label] = batch.mels
            continue
        data = model.prepare(batch)
        generated, _ = model.synthesize(
            data["phoneme_ids"],
            data["phoneme_lengths"],
            durations=data["durations"],
            temperature=temperature,
            seed=0,
        )
        mels[label] = generated.numpy()
    if args.figure:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib.figure import Figure

        figure = Figure(figsize=(3.2 * count, 1.6 * len(panels)))
        axes = figure.subplots(len(panels), count, squeeze=False)
        for row, (label, _, _) in enumerate(panels):
            for column in range(count):
                frames = int(batch.frame_lengths[column]) // 2 * 2
                axes[row, column].imshow(
                    mels[label][column, :frames].T,
                    origin="lower",
                    aspect="auto",
                    vmin=-11.5,
                    vmax=4.0,
                )
                axes[row, column].set_xticks([])
                axes[row, column].set_yticks([])
                if column == 0:
                    axes[row, column].set_ylabel(label, fontsize=8)
            axes[0, 0].set_title(test.texts[0], fontsize=7)
            axes[0, count - 1].set_title(test.texts[count - 1], fontsize=7)
        figure.tight_layout()
        figure.savefig(args.figure, dpi=110)
        print(f"figure: {args.figure}")
    if args.wav_dir:
        os.makedirs(args.wav_dir, exist_ok=True)
        for label in mels:
            frames = int(batch.frame_lengths[0]) // 2 * 2
            audio = griffin_lim(mels[label][0, :frames], config, iterations=32)
            name = label.replace(" ", "_").replace("=", "")
            path = os.path.join(args.wav_dir, f"flow_tts_{name}.wav")
            write_wav(path, audio.numpy(), config.sample_rate)
            print(f"wav: {path}")


if __name__ == "__main__":
    sys.exit(main())
