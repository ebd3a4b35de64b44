"""The ``tfp-flows`` command: train a flow on a target, evaluate it, sample from it.

```none
tfp-flows train [TARGET]            train real_nvp on TARGET (default: moons), write a run folder
tfp-flows evaluate RUN_DIR          recompute the metrics from the run's checkpoint
tfp-flows sample RUN_DIR -n N -o F  write N samples to F (.npy or .csv)
tfp-flows targets                   list the targets
```

A run folder holds ``config.json`` (how to rebuild the flow), ``checkpoint/``,
``metrics.json`` (test NLL, the target's entropy, the KL gap where the target has
an exact density, steps, wall time, settings) and the figures ``loss.png``,
``density.png``, ``samples.png`` and ``trajectory.png``.

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
import os
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["main"]

TEST_SAMPLES = 20_000


class CommandError(Exception):
    """A user error: printed as one line, exit status 2."""


def _target_names() -> list[str]:
    from tfp_flows.datasets import TARGETS

    return sorted(TARGETS)


def _make_target(name: str, noise: float | None):
    from tfp_flows.datasets import get_target

    if name not in _target_names():
        raise CommandError(f"unknown target {name!r}; valid targets: {', '.join(_target_names())}")
    kwargs = {} if noise is None else {"noise": noise}
    try:
        return get_target(name, **kwargs)
    except TypeError as error:
        raise CommandError(f"target {name!r} takes no --noise ({error})") from None


def _build_flow(config: dict[str, Any]):
    from tfp_flows.flows import real_nvp

    return real_nvp(2, num_layers=config["layers"], hidden_units=tuple(config["hidden"]),
                    seed=config["seed"])


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
    from tfp_flows.datasets import has_exact_log_prob
    from tfp_flows.metrics import kl_gap, nll

    test = target.sample(TEST_SAMPLES, seed=seed)
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
    from tfp_flows.checkpoints import write_atomically

    write_atomically(path, json.dumps(value, indent=2))


def train(args: argparse.Namespace) -> int:
    """``tfp-flows train``: fit, then write the checkpoint, metrics and figures."""
    if args.steps <= 0:
        raise CommandError(f"--steps must be positive, got {args.steps}")
    if args.batch_size <= 0:
        raise CommandError(f"--batch-size must be positive, got {args.batch_size}")
    if args.layers <= 0:
        raise CommandError(f"--layers must be positive, got {args.layers}")
    target = _make_target(args.target, args.noise)
    out = _writable_folder(args.out or os.path.join("runs", args.target))
    config = {"target": args.target, "noise": args.noise, "layers": args.layers,
              "hidden": list(args.hidden), "steps": args.steps, "batch_size": args.batch_size,
              "learning_rate": args.learning_rate, "seed": args.seed}
    _write_json(os.path.join(out, "config.json"), config)

    from tfp_flows.training import fit

    flow = _build_flow(config)
    history = fit(flow, target, steps=args.steps, batch_size=args.batch_size,
                  learning_rate=args.learning_rate, seed=args.seed,
                  checkpoint_dir=os.path.join(out, "checkpoint"), resume=args.resume,
                  progress=not args.quiet)
    metrics = _metrics(flow, target, config, seed=10_000 + args.seed)
    metrics.update(steps=history.steps, wall_time_s=history.wall_time)
    _write_json(os.path.join(out, "metrics.json"), metrics)
    _save_figures(out, flow, target, history, metrics["entropy"])
    gap = "" if metrics["kl_gap"] is None else f", KL gap {metrics['kl_gap']:.4f} nats"
    print(f"test NLL {metrics['test_nll']:.4f} nats{gap}; results in {out}")
    return 0


def _restore(run_dir: str):
    import tensorflow as tf

    config_path = os.path.join(run_dir, "config.json")
    checkpoint = tf.train.latest_checkpoint(os.path.join(run_dir, "checkpoint"))
    if not os.path.exists(config_path) or checkpoint is None:
        raise CommandError(f"{run_dir!r} holds no trained run (no config.json and checkpoint/); "
                           "create one with 'tfp-flows train --out RUN_DIR'")
    with open(config_path) as handle:
        config = json.load(handle)
    flow = _build_flow(config)
    tf.train.Checkpoint(flow=flow).restore(checkpoint).expect_partial()
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

    if args.n <= 0:
        raise CommandError(f"-n must be positive, got {args.n}")
    if not args.output.endswith((".npy", ".csv")):
        raise CommandError(f"the output file must end in .npy or .csv, got {args.output!r}")
    flow, _ = _restore(args.run_dir)
    samples = flow.sample(args.n, seed=args.seed).numpy()
    _writable_folder(os.path.dirname(os.path.abspath(args.output)))
    if args.output.endswith(".npy"):
        np.save(args.output, samples)
    else:
        np.savetxt(args.output, samples, delimiter=",", header="x1,x2", comments="")
    print(f"wrote {args.n} samples to {args.output}")
    return 0


def targets(args: argparse.Namespace) -> int:
    """``tfp-flows targets``: every target, whether its density is exact, its entropy."""
    from tfp_flows.datasets import get_target, has_exact_log_prob

    for name in _target_names():
        target = get_target(name)
        try:
            entropy = f"entropy {float(target.entropy()):.4f} nats"
        except NotImplementedError:
            entropy = "entropy unknown"
        density = "exact log_prob" if has_exact_log_prob(target) else "samples only"
        print(f"{name:16s} {density:15s} {entropy}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tfp-flows", description="Normalizing flows for TensorFlow Probability.")
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("train", help="train a Real NVP flow on a target")
    p.add_argument("target", nargs="?", default="moons", help="target name (default: moons)")
    p.add_argument("--noise", type=float, default=None, help="noise of the target, where it has one")
    p.add_argument("--layers", type=int, default=8, help="coupling layers (default 8)")
    p.add_argument("--hidden", type=int, nargs="+", default=[64, 64],
                   help="hidden units per conditioner layer (default 64 64)")
    p.add_argument("--steps", type=int, default=5000, help="optimizer steps (default 5000)")
    p.add_argument("--batch-size", type=int, default=256, help="batch size (default 256)")
    p.add_argument("--learning-rate", type=float, default=None,
                   help="peak learning rate (default: fit's default)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="output folder (default runs/TARGET)")
    p.add_argument("--resume", action="store_true", help="continue from the folder's checkpoint")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=train)
    p = commands.add_parser("evaluate", help="recompute a run's metrics from its checkpoint")
    p.add_argument("run_dir")
    p.set_defaults(run=evaluate)
    p = commands.add_parser("sample", help="write samples of a trained run")
    p.add_argument("run_dir")
    p.add_argument("-n", type=int, default=1000, help="number of samples")
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
    args = _parser().parse_args(argv)
    _import_tensorflow_quietly()
    try:
        return args.run(args)
    except CommandError as error:
        print(f"tfp-flows: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
