"""The command line's speech target: ``tfp-flows train speech``.

Trains a small Flow-TTS (:class:`tfp_flows.tts.TextToSpeech`, flow decoder) and its two
baselines of the same size and budget, an L1 decoder and a Gaussian decoder, on the
eSpeak NG corpus (:func:`tfp_flows.datasets.speech`; ``pip install espeakng-loader``),
and scores them on the test split (:func:`tfp_flows.tts.score_text_to_speech`). The
settings keep their names:

```none
--layers K       coupling steps per level of the flow decoder (default 2)
--hidden C       channels of the text encoder and of every WaveNet (one value; default 32)
--steps, --batch-size, --learning-rate    default 300, 16, 2e-3 (every model alike)
--sentences N    sentences in the corpus, all splits (default 3000; made once, then cached)
```

The run folder holds ``config.json``, ``metrics.json`` (per decoder: test NLL per mel
bin, MCD at each temperature, duration error, training seconds; the flow's real-time
factor), ``mels.png`` (a held-out sentence: the target, the flow at temperatures 0 and
0.667, the L1 and Gaussian decoders' mels) and one Griffin-Lim WAV per row of it. Speech
runs keep no checkpoint: ``evaluate``, ``sample`` and ``--resume`` refuse them.
"""

from __future__ import annotations

import os
import time
from typing import Any

__all__ = ["SPEECH_DEFAULTS", "SPEECH_TARGET", "speech_config", "train_speech"]

SPEECH_TARGET = "speech"
SPEECH_DEFAULTS = {
    "layers": 2,
    "hidden": [32],
    "steps": 300,
    "batch_size": 16,
    "learning_rate": 2e-3,
    "sentences": 3000,
}
FLOW_TEMPERATURES = (0.0, 0.667)
MAX_SENTENCES = 100_000


def _check(config: dict[str, Any], error) -> None:
    def integer(value: Any, low: int, high: int, flag: str) -> None:
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise error(f"{flag} must be an integer from {low} to {high:,}, got {value!r}")

    integer(config["layers"], 1, 64, "--layers")
    if len(config["hidden"]) != 1:
        raise error(
            f"--hidden must be one number for speech (the channels of the encoder and of every "
            f"WaveNet), got {config['hidden']}"
        )
    integer(config["hidden"][0], 2, 4096, "--hidden")
    integer(config["steps"], 1, 10_000_000, "--steps")
    integer(config["batch_size"], 1, 100_000, "--batch-size")
    integer(config["sentences"], 10, MAX_SENTENCES, "--sentences")
    integer(config["seed"], 0, 2**31 - 1, "--seed")
    rate = config["learning_rate"]
    if not isinstance(rate, (int, float)) or not 0 < rate < float("inf"):
        raise error(f"--learning-rate must be a finite number > 0, got {rate!r}")


def speech_config(args, error) -> dict[str, Any]:
    """The run's settings from the command line (defaults filled in), checked before anything is
    written; ``error`` builds the command's one-line error."""
    if args.noise is not None:
        raise error("target 'speech' takes no --noise")
    if args.resume:
        raise error("speech runs keep no checkpoint and cannot be resumed; train into a new --out")
    settings = {
        name: getattr(args, name) if getattr(args, name, None) is not None else default
        for name, default in SPEECH_DEFAULTS.items()
    }
    config = {"target": SPEECH_TARGET, **settings, "seed": args.seed}
    config["hidden"] = list(config["hidden"])
    _check(config, error)
    from tfp_flows.datasets import espeak

    if not espeak.espeak_available():
        raise error(
            "target 'speech' needs eSpeak NG: pip install espeakng-loader (the 'speech' extra)"
        )
    return config


def train_speech(config: dict[str, Any], out: str, write_json, *, quiet: bool = False) -> int:
    """Trains flow, L1 and Gaussian decoders into ``out`` (module docstring);
    ``write_json(path, value)`` writes JSON."""
    import matplotlib

    matplotlib.use("Agg")
    import tensorflow as tf

    import tfp_flows as tff
    from tfp_flows.tts import (
        TextToSpeech,
        example_mels,
        fit_text_to_speech,
        plot_mels,
        real_time_factor,
        score_text_to_speech,
        write_example_wavs,
    )

    train = tff.datasets.speech("train", num_sentences=config["sentences"])
    test = tff.datasets.speech("test", num_sentences=config["sentences"])
    channels = config["hidden"][0]
    metrics: dict[str, Any] = {"settings": config, "test_sentences": len(test)}
    models = {}
    for decoder in ("flow", "l1", "gaussian"):
        tf.keras.utils.set_random_seed(config["seed"])
        model = TextToSpeech(
            len(train.vocabulary),
            decoder=decoder,
            num_mels=train.config.num_mels,
            channels=channels,
            decoder_hidden=channels,
            steps_per_level=config["layers"],
            seed=config["seed"],
        )
        start = time.perf_counter()
        fit_text_to_speech(
            model,
            train,
            steps=config["steps"],
            batch_size=config["batch_size"],
            learning_rate=config["learning_rate"],
            seed=config["seed"],
            compiled=config["steps"] > 20,  # tracing costs more than a few eager steps
        )
        seconds = time.perf_counter() - start
        temperatures = FLOW_TEMPERATURES if decoder == "flow" else (0.0,)
        scores = score_text_to_speech(model, test, temperatures=temperatures)
        scores["train_s"] = seconds
        if decoder == "flow":
            scores["rtf"] = real_time_factor(model, test)
        metrics[decoder] = scores
        models[decoder] = model
        if not quiet:
            print(f"{decoder}: {scores}", flush=True)
    rows = {
        **{f"flow T={t:g}": (models["flow"], t) for t in FLOW_TEMPERATURES},
        "L1": (models["l1"], 0.0),
        "Gaussian mean": (models["gaussian"], 0.0),
    }
    mels = example_mels(rows, test, [0])
    figure = plot_mels(mels, titles=[test.texts[0]])
    figure.savefig(os.path.join(out, "mels.png"), dpi=110)
    metrics["wavs"] = [
        os.path.basename(p) for p in write_example_wavs(mels, test.config, out, index=0)
    ]
    metrics["example_text"] = test.texts[0]
    write_json(os.path.join(out, "metrics.json"), metrics)
    write_json(os.path.join(out, "config.json"), config)
    flow, l1 = metrics["flow"], metrics["l1"]
    print(
        f"flow: test NLL {flow['nll']:.4f} nats/bin (Gaussian {metrics['gaussian']['nll']:.4f}), "
        f"MCD {flow['mcd@0.0']:.2f} dB at T=0 (L1 {l1['mcd@0.0']:.2f}); results in {out}"
    )
    return 0
