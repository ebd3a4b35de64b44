"""Flow-TTS against an L1 decoder and a Gaussian decoder on the eSpeak NG corpus, in one run.

All three models share the text encoder, the duration predictor and the length regulator
(``tff.tts.TextToSpeech``) and differ only in the decoder of the mel frames:

* ``flow``: ``tff.tts.FlowDecoder`` (squeeze of 2 frames, 2 levels of ``--flow-steps`` steps
  with factor-out, ActNorm,
  1x1 convolutions, affine couplings with WaveNet conditioners reading the text states),
  trained by the exact NLL of the mels plus ``--point-l1`` (default 1) times the L1 error of its
  point estimate ``decode(mu(text))`` (``FlowDecoder(point_l1=...)``; the NLL reported is the
  exact NLL alone);
* ``gaussian``: independent Gaussians per frame and bin, mean and scale from a WaveNet;
* ``l1``: the mels from a WaveNet, trained with an L1 loss (FastSpeech-style).

Every model trains for the same number of steps at the same batch size and learning rate on the
training split of ``tff.datasets.speech`` (plus the duration loss), and is scored on the test
split:

```none
test NLL / bin   -(1/#bins) sum log p(mels | text, true durations), nats per raw log-mel bin
MCD              mel-cepstral distortion (dB, c1..c12) of the model's mels, generated with the
                 true durations (so frames align), against the synthesiser's held-out mels;
                 the flow at temperatures 0.667, 0.3 and 0, the Gaussian at 0 (its mean).
                 Temperature 0 is each model's point estimate: the flow's decode(mu(text)),
                 the mean of its text prior pushed through the flow (tff.tts.TextPrior)
duration MAE     mean |predicted - true| frames per test phoneme
train time       wall seconds of the training steps (the first step includes tracing)
RTF              seconds to synthesise the test split's mels (predicted durations, batches of
                 16, after one warm-up batch) / seconds of audio those mels stand for
```

Each model runs with ``--seeds``; the table gives medians over seeds.

    python benchmarks/flow_tts.py                                   # the default budget
    python benchmarks/flow_tts.py --sentences 200 --steps 20 --seeds 0   # smoke run
    python benchmarks/flow_tts.py --seeds 0 --steps 300 --decoders flow l1 --test-sentences 64
                                                                    # a screening run
    python benchmarks/flow_tts.py --figure notebooks/figures/flow_tts.png --wav-dir notebooks
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import tfp_flows as tff  # noqa: E402
from tfp_flows.tts import (  # noqa: E402
    TextToSpeech,
    example_mels,
    fit_text_to_speech,
    plot_mels,
    real_time_factor,
    score_text_to_speech,
    write_example_wavs,
)

DECODERS = ("flow", "gaussian", "l1")
_PER_SENTENCE = ("texts", "voices", "phoneme_ids", "durations", "mels")
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
        point_l1=args.point_l1,
        seed=seed,
    )


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
    parser.add_argument(
        "--point-l1",
        type=float,
        default=1.0,
        help="flow only: weight of the L1 term on decode(mu(text)) in its training loss "
        "(0: the exact NLL alone)",
    )
    parser.add_argument(
        "--test-sentences",
        type=int,
        default=None,
        help="score on the first N test sentences only (screening; default: all)",
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--decoders", nargs="+", default=list(DECODERS), choices=DECODERS)
    parser.add_argument("--figure", default=None, help="write the mel figure here (png)")
    parser.add_argument("--wav-dir", default=None, help="write Griffin-Lim WAVs here")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    train = tff.datasets.speech("train", num_sentences=args.sentences)
    test = tff.datasets.speech("test", num_sentences=args.sentences)
    if args.test_sentences is not None:
        test = dataclasses.replace(
            test, **{f: getattr(test, f)[: args.test_sentences] for f in _PER_SENTENCE}
        )
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
            result = score_text_to_speech(model, test, temperatures=TEMPERATURES[decoder])
            result["train_s"] = history["seconds"][-1]
            result["rtf"] = real_time_factor(model, test)
            result["params"] = sum(int(np.prod(v.shape)) for v in model.trainable_variables)
            rows[decoder].append(result)
            print(f"seed {seed} {decoder}: {result}", flush=True)
            if seed == args.seeds[0]:
                examples[decoder] = model
    print()
    print(
        f"{args.steps} steps, batch {args.batch_size}, lr {args.learning_rate}, "
        f"point_l1 {args.point_l1}, seeds {args.seeds}: medians"
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
    rows = {
        f"{decoder} T={temperature:g}": (model, temperature)
        for decoder, model in models.items()
        for temperature in TEMPERATURES[decoder]
    }
    mels = example_mels(rows, test, list(range(count)))
    if args.figure:
        import matplotlib

        matplotlib.use("Agg")
        figure = plot_mels(mels, titles=test.texts[:count])
        os.makedirs(os.path.dirname(os.path.abspath(args.figure)), exist_ok=True)
        figure.savefig(args.figure, dpi=110)
        print(f"figure: {args.figure}")
    if args.wav_dir:
        for path in write_example_wavs(mels, test.config, args.wav_dir, prefix="flow_tts_"):
            print(f"wav: {path}")


if __name__ == "__main__":
    sys.exit(main())
