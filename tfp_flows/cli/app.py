"""The ``tfp-flows`` command: train a flow on a target, evaluate it, sample from it.

```none
tfp-flows train [TARGET]            train real_nvp on TARGET (default: moons), write a run folder
tfp-flows train digits              the multiscale Real NVP on handwritten digits (bits per dim)
tfp-flows train speech              a small Flow-TTS and its L1 / Gaussian baselines (eSpeak NG)
tfp-flows evaluate RUN_DIR          recompute the metrics from the run's checkpoint
tfp-flows sample RUN_DIR -n N -o F  write N samples to F (.npy or .csv)
tfp-flows targets                   list the targets
```

A run folder holds ``config.json`` (how to rebuild the flow), ``checkpoint/``,
``metrics.json`` (test NLL, the target's entropy, the KL gap where the target has
an exact density, steps, wall time, settings) and the figures ``loss.png``,
``density.png``, ``samples.png`` and ``trajectory.png``. A ``digits`` run
(:mod:`tfp_flows.cli.images`) reports bits per dimension instead and shows
samples, reconstructions and latent interpolations; a ``speech`` run
(:mod:`tfp_flows.cli.speech`) writes metrics, a mel figure and WAVs, and no checkpoint.

Every checkpoint records the settings it was trained with (all of
``config.json`` but ``steps``). ``train`` refuses a folder that already holds a
run unless ``--resume`` is given; ``--resume`` refuses settings that differ from
the folder's ``config.json`` (naming them; only ``--steps`` may change) and
never rewrites it. ``evaluate`` and ``sample`` refuse a ``config.json`` that no
longer matches the checkpoint. One run writes to a folder at a time (a lock
file). Every failure is one line ``tfp-flows: error: ...`` on stderr and exit
status 2.

#### Examples

>>> main(["targets"])  # doctest: +ELLIPSIS
banana ...
0
>>> main(["train", "nowhere"])  # prints "tfp-flows: error: unknown target ..." to stderr
2
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["main"]

TEST_SAMPLES = 20_000
MAX_LAYERS = 1_000
MAX_STEPS = 1_000_000_000
MAX_BATCH_SIZE = 1_000_000
MAX_SAMPLES = 10_000_000
SAMPLE_CHUNK = 100_000
MAX_TRAINING_BYTES = 4 * 2**30
EVENT_SIZE = 2
VECTOR_DEFAULTS = {"layers": 8, "hidden": [64, 64], "steps": 5000, "batch_size": 256}
# settings that may change on --resume; every other setting is recorded in the checkpoints
RESUMABLE_SETTINGS = ("steps",)


class CommandError(Exception):
    """A user error: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """``argparse`` whose usage errors are one line (``CommandError``), not a usage block."""

    def error(self, message: str):
        raise CommandError(f"{message} (see '{self.prog} --help')")


def _target_names() -> list[str]:
    from tfp_flows.cli.images import IMAGE_TARGETS
    from tfp_flows.datasets import TARGETS

    return sorted([*TARGETS, *IMAGE_TARGETS])


def _is_image(name: str) -> bool:
    from tfp_flows.cli.images import IMAGE_TARGETS

    return name in IMAGE_TARGETS


def _make_target(name: str, noise: float | None):
    from tfp_flows.cli.images import make_image_target
    from tfp_flows.datasets import get_target

    if name not in _target_names():
        raise CommandError(f"unknown target {name!r}; valid targets: {', '.join(_target_names())}")
    if _is_image(name):
        if noise is not None:
            raise CommandError(
                f"target {name!r} takes no --noise (its noise is the uniform "
                "dequantisation of the pixels)"
            )
        try:
            return make_image_target(name)
        except ImportError as error:
            raise CommandError(str(error)) from None
    kwargs = {} if noise is None else {"noise": noise}
    try:
        return get_target(name, **kwargs)
    except TypeError as error:
        raise CommandError(f"target {name!r} takes no --noise ({error})") from None
    except ValueError as error:
        raise CommandError(f"target {name!r} rejects --noise {noise}: {error}") from None


def _parameter_count(layers: int, hidden: Sequence[int], event_size: int = EVENT_SIZE) -> int:
    """Trainable parameters of ``real_nvp(event_size, layers, hidden)`` without building it.

    Per coupling: an MLP ``[d_a, *hidden, 2 d_b]`` (kernels and biases), ``d_b``
    log-scale bounds, and the LU mixing map's ``event_size**2 + event_size``
    entries (``d_a = event_size // 2``, ``d_b = event_size - d_a``).

    >>> _parameter_count(2, [8])  # 2 x (mlp 1-8-2: 34, bound 1, LU 6)
    82
    """
    d_a = event_size // 2
    d_b = event_size - d_a
    sizes = [d_a, *hidden, 2 * d_b]
    mlp = sum((fan_in + 1) * fan_out for fan_in, fan_out in zip(sizes[:-1], sizes[1:]))
    return layers * (mlp + d_b + event_size**2 + event_size)


def _training_bytes(layers: int, hidden: Sequence[int], batch_size: int) -> tuple[int, int]:
    """``(parameters, bytes)``: float32 parameters x 4 (weights, gradients, Adam's two moments)
    plus about 3 activations per hidden unit, example and layer kept for the gradient."""
    parameters = _parameter_count(layers, hidden)
    activations = 3 * batch_size * layers * (sum(hidden) + 2 * EVENT_SIZE)
    return parameters, 4 * (4 * parameters + activations)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _check_settings(config: dict[str, Any], label: Callable[[str], str] = _flag) -> None:
    """Raises ``CommandError`` naming the first setting out of range (``label(name)``)."""

    def bad(name: str, rule: str) -> CommandError:
        return CommandError(f"{label(name)} must be {rule}, got {config.get(name)!r}")

    def integer(name: str, low: int, high: int) -> None:
        value = config.get(name)
        if not _is_int(value) or not low <= value <= high:
            raise bad(
                name,
                f"a positive integer up to {high:,}"
                if low == 1
                else f"an integer from {low} to {high:,}",
            )

    if not isinstance(config.get("target"), str):
        raise bad("target", "a target name")
    noise = config.get("noise")
    if noise is not None and (not _is_number(noise) or not math.isfinite(noise) or noise < 0):
        raise bad("noise", "a finite number >= 0")
    integer("layers", 1, MAX_LAYERS)
    hidden = config.get("hidden")
    if not isinstance(hidden, list) or not hidden or not all(_is_int(h) and h >= 1 for h in hidden):
        raise bad("hidden", "one or more positive integers")
    integer("steps", 1, MAX_STEPS)
    integer("batch_size", 1, MAX_BATCH_SIZE)
    rate = config.get("learning_rate")
    if rate is not None and (not _is_number(rate) or not math.isfinite(rate) or rate <= 0):
        raise bad("learning_rate", "a finite number > 0")
    integer("seed", 0, 2**31 - 1)
    if _is_image(config["target"]):
        from tfp_flows.cli.images import image_training_bytes

        if len(hidden) != 1:
            raise bad(
                "hidden",
                f"one number for {config['target']} (the hidden channels of "
                "each convolutional conditioner)",
            )
        parameters, needed = image_training_bytes(config)
        advice = "use fewer steps per scale (--layers), fewer hidden channels or smaller batches"
    else:
        parameters, needed = _training_bytes(config["layers"], hidden, config["batch_size"])
        advice = "use fewer or narrower layers or smaller batches"
    if needed > MAX_TRAINING_BYTES:
        raise CommandError(
            f"{label('layers')} {config['layers']}, {label('hidden')} {hidden} and "
            f"{label('batch_size')} {config['batch_size']} need about {needed / 2**30:,.1f} GiB "
            "to train "
            f"({parameters:,} parameters: {4 * parameters / 2**30:,.1f} GiB as float32, x4 with "
            f"gradients and Adam's moments, plus activations); the limit is "
            f"{MAX_TRAINING_BYTES / 2**30:.0f} GiB: {advice}"
        )


def _recorded(config: dict[str, Any]) -> dict[str, Any]:
    """The settings a checkpoint records: all but those a resume may change."""
    return {k: v for k, v in config.items() if k not in RESUMABLE_SETTINGS}


def _build_flow(config: dict[str, Any]):
    from tfp_flows.cli.images import build_image_flow
    from tfp_flows.flows import real_nvp

    if _is_image(config["target"]):
        return build_image_flow(config)
    return real_nvp(
        EVENT_SIZE,
        num_layers=config["layers"],
        hidden_units=tuple(config["hidden"]),
        seed=config["seed"],
    )


def _writable_folder(path: str) -> str:
    try:
        os.makedirs(path, exist_ok=True)
        probe = os.path.join(path, ".write-test")
        with open(probe, "w") as handle:
            handle.write("")
        os.remove(probe)
    except OSError as error:
        raise CommandError(f"cannot write to output folder {path!r}: {error.strerror}") from None
    return path


def _metrics(flow, target, config: dict[str, Any], seed: int) -> dict[str, Any]:
    from tfp_flows._internal.seeds import stateless_seed
    from tfp_flows.cli.images import image_metrics
    from tfp_flows.datasets import has_exact_log_prob
    from tfp_flows.evaluation.metrics import kl_gap, nll

    if _is_image(config["target"]):
        return image_metrics(flow, config)
    test = target.sample(TEST_SAMPLES, seed=stateless_seed(seed))
    result: dict[str, Any] = {"test_nll": nll(flow, test), "test_samples": TEST_SAMPLES}
    try:
        result["entropy"] = float(target.entropy())
    except NotImplementedError:
        result["entropy"] = None
    if has_exact_log_prob(target):
        gap = kl_gap(flow, target, n=TEST_SAMPLES, seed=seed)
        result["kl_gap"], result["kl_gap_stderr"] = gap.mean, gap.stderr
    else:
        result["kl_gap"] = result["kl_gap_stderr"] = None
    result["settings"] = config
    return result


def _save_figures(out: str, flow, target, history, entropy) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from tfp_flows import plotting

    data = target.sample(2000, seed=1).numpy()
    low, high = data.min(0), data.max(0)
    pad = 0.15 * (high - low)
    limits = ((low[0] - pad[0], high[0] + pad[0]), (low[1] - pad[1], high[1] + pad[1]))
    figures = {
        "loss.png": plotting.plot_training_curve(history, entropy=entropy),
        "density.png": plotting.plot_density(flow, limits=limits, target=target),
        "samples.png": plotting.plot_samples(flow, data=data),
        "trajectory.png": plotting.plot_trajectory(flow, n=2000),
    }
    for name, figure in figures.items():
        figure = figure[0] if isinstance(figure, tuple) else figure
        figure.savefig(os.path.join(out, name), dpi=110, bbox_inches="tight")


def _write_json(path: str, value: Any) -> None:
    from tfp_flows.training.run_folder import write_atomically

    write_atomically(path, json.dumps(value, indent=2))


def _read_config(run_dir: str) -> dict[str, Any]:
    """The run's ``config.json``, checked like the command line's settings."""
    path = os.path.join(run_dir, "config.json")
    try:
        with open(path) as handle:
            config = json.load(handle)
    except UnicodeDecodeError as error:
        raise CommandError(f"{path} is not a JSON file ({error.reason})") from None
    except json.JSONDecodeError as error:
        raise CommandError(
            f"{path} is not valid JSON ({error.msg} at line {error.lineno} column {error.colno})"
        ) from None
    if not isinstance(config, dict):
        raise CommandError(f"{path} must hold a JSON object, got {type(config).__name__}")
    _check_settings(config, lambda name: f"{path}: {name}")
    return config


def _settings_differences(saved: dict[str, Any], given: dict[str, Any]) -> list[str]:
    return [
        f"{key} {saved.get(key)!r} in config.json, {given.get(key)!r} given"
        for key in sorted(set(saved) | set(given))
        if key not in RESUMABLE_SETTINGS and saved.get(key) != given.get(key)
    ]


def _train_speech(args: argparse.Namespace) -> int:
    """``tfp-flows train speech`` (:mod:`tfp_flows.cli.speech`) in a new, locked run folder."""
    import shutil

    from tfp_flows.cli.speech import SPEECH_TARGET, speech_config, train_speech
    from tfp_flows.training.run_folder import RunFolderLock

    config = speech_config(args, CommandError)
    out = args.out or os.path.join("runs", SPEECH_TARGET)
    created = not os.path.exists(out)
    if os.path.exists(os.path.join(out, "config.json")):
        raise CommandError(f"{out} already holds a run; train into another --out")
    _writable_folder(out)
    try:
        with RunFolderLock(out):
            return train_speech(config, out, _write_json, quiet=args.quiet)
    except BaseException:
        if created:
            shutil.rmtree(out, ignore_errors=True)
        raise


def train(args: argparse.Namespace) -> int:
    """``tfp-flows train``: fit, then write the checkpoint, metrics and figures."""
    from tfp_flows.cli.images import IMAGE_DEFAULTS
    from tfp_flows.cli.speech import SPEECH_TARGET

    if args.target == SPEECH_TARGET:
        return _train_speech(args)
    if args.sentences is not None:
        raise CommandError(f"--sentences is for the speech target only, not {args.target!r}")

    defaults = IMAGE_DEFAULTS if _is_image(args.target) else VECTOR_DEFAULTS
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    config = {
        "target": args.target,
        "noise": args.noise,
        "layers": args.layers,
        "hidden": list(args.hidden),
        "steps": args.steps,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "seed": args.seed,
    }
    _check_settings(config)  # before anything is built or written: sizes included
    target = _make_target(args.target, args.noise)
    out = args.out or os.path.join("runs", args.target)
    created = not os.path.exists(out)
    _writable_folder(out)

    from tfp_flows.training import NonFiniteLossError
    from tfp_flows.training.run_folder import CheckpointError, RunFolderLock

    written: list[str] = []
    try:
        try:
            with RunFolderLock(out):
                return _train_in(out, config, target, args, written)
        except (CheckpointError, NonFiniteLossError) as error:
            raise CommandError(str(error)) from None
    except BaseException:
        _remove_unstarted_run(out, created, written)
        raise


def _remove_unstarted_run(out: str, created: bool, written: list[str]) -> None:
    """After a failure before the first checkpoint, removes what this run made in ``out``.

    The folder goes if this run created it; otherwise only what it wrote there
    (``config.json``, a ``checkpoint/`` folder it created). A run that saved a
    checkpoint keeps everything (``--resume`` continues it).
    """
    import shutil

    from tfp_flows.training.run_folder import list_checkpoints

    checkpoint_dir = os.path.join(out, "checkpoint")
    if os.path.isdir(checkpoint_dir) and list_checkpoints(checkpoint_dir):
        return
    if created:
        shutil.rmtree(out, ignore_errors=True)
        return
    for path in written:
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
        elif os.path.exists(path):
            os.remove(path)


def _train_in(
    out: str, config: dict[str, Any], target, args: argparse.Namespace, written: list[str]
) -> int:
    """``train`` inside the locked run folder ``out`` (files it creates are added to ``written``)."""
    from tfp_flows.training import Checkpointing, fit
    from tfp_flows.training.run_folder import list_checkpoints

    checkpoint_dir = os.path.join(out, "checkpoint")
    config_path = os.path.join(out, "config.json")
    write_config = not (args.resume and os.path.exists(config_path))
    if not write_config:
        differences = _settings_differences(_read_config(out), config)
        if differences:
            raise CommandError(
                f"--resume with settings that differ from {config_path}: "
                + "; ".join(differences)
                + " (only --steps may change on --resume)"
            )
    elif list_checkpoints(checkpoint_dir):
        if not args.resume:
            raise CommandError(
                f"{out} already holds a run; continue it with --resume (and a "
                "larger --steps) or train into another --out"
            )
        raise CommandError(
            f"{out} holds checkpoints but no config.json; cannot resume them: "
            "train into another --out"
        )
    flow = _build_flow(config)
    if write_config:
        _write_json(config_path, config)
        written.append(config_path)
    if not os.path.exists(checkpoint_dir):
        written.append(checkpoint_dir)
    history = fit(
        flow,
        target,
        steps=args.steps,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        seed=args.seed,
        callbacks=[Checkpointing(checkpoint_dir, resume=args.resume, metadata=_recorded(config))],
        progress=not args.quiet,
    )
    metrics = _metrics(flow, target, config, seed=10_000 + args.seed)
    metrics.update(steps=history.steps, wall_time_s=history.wall_time)
    _write_json(os.path.join(out, "metrics.json"), metrics)
    if _is_image(config["target"]):
        from tfp_flows.cli.images import save_image_figures

        save_image_figures(out, flow, history)
        print(
            f"test {metrics['test_bits_per_dim']:.4f} bits/dim (validation "
            f"{metrics['validation_bits_per_dim']:.4f}); results in {out}"
        )
        return 0
    _save_figures(out, flow, target, history, metrics["entropy"])
    gap = "" if metrics["kl_gap"] is None else f", KL gap {metrics['kl_gap']:.4f} nats"
    print(f"test NLL {metrics['test_nll']:.4f} nats{gap}; results in {out}")
    return 0


def _recorded_target(run_dir: str) -> Any:
    """The ``target`` of the run's ``config.json`` (``None`` when it cannot be read)."""
    try:
        with open(os.path.join(run_dir, "config.json")) as handle:
            config = json.load(handle)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return config.get("target") if isinstance(config, dict) else None


def _restore(run_dir: str):
    """The run's flow restored from its newest checkpoint, verified against ``config.json``."""
    from tfp_flows.cli.speech import SPEECH_TARGET
    from tfp_flows.training.checkpoints import (
        CheckpointError,
        CheckpointMismatchError,
        restore_flow,
    )
    from tfp_flows.training.run_folder import list_checkpoints

    checkpoint_dir = os.path.join(run_dir, "checkpoint")
    if _recorded_target(run_dir) == SPEECH_TARGET:
        raise CommandError(
            f"{run_dir!r} is a speech run: it keeps no checkpoint to evaluate or sample "
            "(its scores are in metrics.json, its sound in the WAV files)"
        )
    if not os.path.exists(os.path.join(run_dir, "config.json")) or not list_checkpoints(
        checkpoint_dir
    ):
        raise CommandError(
            f"{run_dir!r} holds no trained run (no config.json and checkpoint/); "
            "create one with 'tfp-flows train --out RUN_DIR'"
        )
    config = _read_config(run_dir)
    flow = _build_flow(config)
    try:
        restore_flow(checkpoint_dir, flow, metadata=_recorded(config))
    except CheckpointMismatchError as error:
        raise CommandError(f"{error} (is {os.path.join(run_dir, 'config.json')} edited?)") from None
    except CheckpointError as error:
        raise CommandError(str(error)) from None
    return flow, config


def evaluate(args: argparse.Namespace) -> int:
    """``tfp-flows evaluate``: the metrics of the run's checkpoint, printed as JSON."""
    flow, config = _restore(args.run_dir)
    target = _make_target(config["target"], config["noise"])
    print(json.dumps(_metrics(flow, target, config, seed=10_000 + config["seed"]), indent=2))
    return 0


def sample(args: argparse.Namespace) -> int:
    """``tfp-flows sample``: ``n`` samples of the trained flow to ``.npy`` or ``.csv``."""
    import numpy as np
    from tensorflow_probability import random as tfp_random

    from tfp_flows._internal.seeds import stateless_seed

    if not 1 <= args.n <= MAX_SAMPLES:
        raise CommandError(f"-n must be an integer from 1 to {MAX_SAMPLES:,}, got {args.n}")
    if not args.output.endswith((".npy", ".csv")):
        raise CommandError(f"the output file must end in .npy or .csv, got {args.output!r}")
    if os.path.isdir(args.output):
        raise CommandError(f"the output {args.output!r} is a folder; give a file name")
    flow, _ = _restore(args.run_dir)
    chunks = -(-args.n // SAMPLE_CHUNK)
    seed = stateless_seed(args.seed)  # an int seed would be stateful in TFP: not reproducible
    seeds = tfp_random.split_seed(seed, n=chunks) if chunks > 1 else [seed]
    samples = np.concatenate(
        [
            flow.sample(min(SAMPLE_CHUNK, args.n - i * SAMPLE_CHUNK), seed=seeds[i]).numpy()
            for i in range(chunks)
        ]
    )
    _writable_folder(os.path.dirname(os.path.abspath(args.output)))
    try:
        if args.output.endswith(".npy"):
            np.save(args.output, samples)
        else:
            rows = samples.reshape(samples.shape[0], -1)  # an image per row: its pixels
            header = ",".join(f"x{i + 1}" for i in range(rows.shape[1]))
            np.savetxt(args.output, rows, delimiter=",", header=header, comments="")
    except OSError as error:
        raise CommandError(f"cannot write {args.output!r}: {error.strerror or error}") from None
    print(f"wrote {args.n} samples to {args.output}")
    return 0


def targets(args: argparse.Namespace) -> int:
    """``tfp-flows targets``: every target, whether its density is exact, its entropy."""
    from tfp_flows.datasets import get_target, has_exact_log_prob

    for name in _target_names():
        if _is_image(name):
            print(f"{name:16s} {'images 8x8x1':15s} test bits/dim (scikit-learn's digits)")
            continue
        target = get_target(name)
        try:
            entropy = f"entropy {float(target.entropy()):.4f} nats"
        except NotImplementedError:
            entropy = "entropy unknown"
        density = "exact log_prob" if has_exact_log_prob(target) else "samples only"
        print(f"{name:16s} {density:15s} {entropy}")
    print(f"{'speech':16s} {'text -> mels':15s} Flow-TTS vs L1 / Gaussian decoders (eSpeak NG)")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tfp-flows", description="Normalizing flows for TensorFlow Probability.")
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("train", help="train a Real NVP flow on a target")
    p.add_argument("target", nargs="?", default="moons", help="target name (default: moons)")
    p.add_argument(
        "--noise",
        type=float,
        default=None,
        help="noise of the target, where it has one (finite, >= 0)",
    )
    p.add_argument(
        "--layers",
        type=int,
        default=None,
        help=f"coupling layers, 1 to {MAX_LAYERS} (default 8; digits: coupling "
        "steps per scale, default 2; speech: coupling steps per level, default 2)",
    )
    p.add_argument(
        "--hidden",
        type=int,
        nargs="+",
        default=None,
        help="hidden units per conditioner layer (default 64 64; digits: the "
        "conditioners' hidden channels, default 16; speech: channels, default 32)",
    )
    p.add_argument(
        "--steps",
        type=int,
        default=None,
        help="optimizer steps (default 5000; digits 3000; speech 300)",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="batch size (default 256; digits 64; speech 16)",
    )
    p.add_argument(
        "--learning-rate",
        type=float,
        default=None,
        help="peak learning rate (default: fit's default)",
    )
    p.add_argument(
        "--sentences",
        type=int,
        default=None,
        help="speech only: sentences in the synthesised corpus (default 3000)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="output folder (default runs/TARGET)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the folder's run (same settings; only --steps may change)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=train)
    p = commands.add_parser("evaluate", help="recompute a run's metrics from its checkpoint")
    p.add_argument("run_dir")
    p.set_defaults(run=evaluate)
    p = commands.add_parser("sample", help="write samples of a trained run")
    p.add_argument("run_dir")
    p.add_argument(
        "-n", type=int, default=1000, help=f"number of samples, 1 to {MAX_SAMPLES:,} (default 1000)"
    )
    p.add_argument("-o", "--output", required=True, help="output file, .npy or .csv")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=sample)
    p = commands.add_parser("targets", help="list the targets")
    p.set_defaults(run=targets)
    return parser


def _import_tensorflow_quietly() -> None:
    """Imports TensorFlow and initialises its devices with C++ start-up logging muted.

    TensorFlow prints start-up lines (oneDNN, CUDA probing) to file descriptor 2
    before ``TF_CPP_MIN_LOG_LEVEL`` takes effect; a command's errors should be
    the only lines on stderr.
    """
    if "tensorflow" in sys.modules or int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0")) < 2:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow as tf

        tf.config.list_logical_devices()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def main(argv: Sequence[str] | None = None) -> int:
    """Runs ``tfp-flows`` with ``argv``; returns the exit status (errors: one line, status 2)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        args = _parser().parse_args(argv)
        _import_tensorflow_quietly()
        return args.run(args)
    except CommandError as error:
        message = str(error)
    except OSError as error:  # the environment (disk full, permissions), not a bug
        message = f"{error.strerror or error}: {error.filename!r}" if error.filename else str(error)
    print(f"tfp-flows: error: {' '.join(message.split())}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
