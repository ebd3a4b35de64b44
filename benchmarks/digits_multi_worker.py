"""Digits on two workers: the multiscale flow trained once in one process and once on two workers.

The same training budget (steps, global batch, seed, learning rate, flow) runs

* ``one process``: ``tff.fit`` without a strategy, one process, the same
  non-XLA ``tf.function`` loop the distributed run uses (``jit_compile=False``);
* ``one process, MirroredStrategy (1 replica)`` (``--mirrored``): the distributed
  training chunk (split, ``strategy.run``, all-reduce) with a single replica;
* ``two workers``: ``MultiWorkerMirroredStrategy`` with two worker processes on
  localhost ports, started by :func:`tfp_flows.training.multi_worker.launch`;
  the global batch is split between them (``batch / 2`` rows each) and the
  gradients summed by a RING all-reduce over gRPC.

Every run trains ``with_logit_preprocessing(tff.real_nvp((8, 8, 1), ...))``
on ``DequantizedImages(tff.datasets.digits("train"))`` (fresh uniform
dequantisation noise at every step, the stateless seed ``[seed, step]``, the
same global batches in every run) with ``fit``'s default optimizer (Adam,
warm-up then cosine decay from ``--learning-rate``, gradient norm clipped at
1), and scores the test split with the same call,

```none
tff.metrics.bits_per_dim(flow, tff.datasets.digits("test"), num_samples=8, seed=0)
```

(in every worker: the two workers hold the same weights, so they report the
same number). The table's ``difference`` is a run's test bits/dim minus the
one-process run's; the goal of issue 12 is ``|difference| <= 0.05`` for the
two-worker run. ``--other-seeds 1 2`` adds one-process runs with other seeds
(other initial weights, batches and noise): how far apart two equally good runs
land, the noise the two-worker difference is judged against. Wall times:
``ms per step`` is the steady state (after the first, traced chunk of
``--steps-per-execution`` steps), ``fit`` the training call (tracing
included), ``process`` the worker process from start to exit (imports,
strategy set-up, the cluster's start-up, scoring); the runs follow each other,
never overlapping.

    python benchmarks/digits_multi_worker.py                  # ~8 min on 2 shared cores
    python benchmarks/digits_multi_worker.py --mirrored --other-seeds 1 2     # ~20 min
    python benchmarks/digits_multi_worker.py --steps 40 --hidden-channels 8   # smoke run
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any, NamedTuple

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

RUNS = {
    "single": "one process, no strategy",
    "mirrored": "one process, MirroredStrategy (1 replica)",
    "multi": "two workers, MultiWorkerMirroredStrategy",
}


class Row(NamedTuple):
    """One run of the table: its label, role, seed and each worker's result."""

    label: str
    role: str
    seed: int
    results: list[dict[str, Any]]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--batch-size", type=int, default=64, help="global batch (default 64)")
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0, help="fit's seed and the flow's weights")
    parser.add_argument("--steps-per-execution", type=int, default=50)
    parser.add_argument("--num-scales", type=int, default=2)
    parser.add_argument("--steps-per-scale", type=int, default=2)
    parser.add_argument("--hidden-channels", type=int, default=16)
    parser.add_argument("--num-blocks", type=int, default=1)
    parser.add_argument(
        "--num-samples",
        type=int,
        default=8,
        help="dequantisation noise draws per test image (default 8)",
    )
    parser.add_argument(
        "--mirrored",
        action="store_true",
        help="also run MirroredStrategy with one replica in one process",
    )
    parser.add_argument(
        "--other-seeds",
        type=int,
        nargs="*",
        default=[],
        metavar="SEED",
        help="also run one process with each of these seeds (other initial "
        "weights and batches): the seed-to-seed noise the difference "
        "is judged against",
    )
    parser.add_argument(
        "--timeout", type=float, default=1800.0, help="seconds for each run (default 1800)"
    )
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--role", choices=list(RUNS), help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def budget(args: argparse.Namespace) -> dict[str, Any]:
    """The settings every run shares."""
    return {
        name: getattr(args, name)
        for name in (
            "steps",
            "batch_size",
            "learning_rate",
            "seed",
            "steps_per_execution",
            "num_scales",
            "steps_per_scale",
            "hidden_channels",
            "num_blocks",
            "num_samples",
        )
    }


def train_and_score(args: argparse.Namespace) -> dict[str, Any]:
    """One run (``args.role``) in this process: train, score the test split, time both."""
    import tensorflow as tf

    from tfp_flows.training import multi_worker

    strategy = None  # first, before anything else touches TensorFlow's runtime
    if args.role == "multi":
        strategy = multi_worker.multi_worker_strategy()
    elif args.role == "mirrored":
        strategy = tf.distribute.MirroredStrategy(["/cpu:0"])

    import tfp_flows as tff
    from tfp_flows.images.dequantization import DequantizedImages, with_logit_preprocessing

    train, test = tff.datasets.digits("train"), tff.datasets.digits("test")
    scope = strategy.scope() if strategy is not None else contextlib.nullcontext()
    with scope:
        flow = with_logit_preprocessing(
            tff.real_nvp(
                tff.datasets.DIGITS_SHAPE,
                num_scales=args.num_scales,
                steps_per_scale=args.steps_per_scale,
                hidden_channels=args.hidden_channels,
                num_blocks=args.num_blocks,
                seed=args.seed,
            )
        )
    clock: list[tuple[int, float]] = []  # (step, time) at the end of every chunk
    history = tff.fit(
        flow,
        DequantizedImages(train),
        steps=args.steps,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        steps_per_execution=args.steps_per_execution,
        jit_compile=False,
        strategy=strategy,
        seed=args.seed,
        progress=False,
        callbacks=[
            tff.training.LambdaCallback(
                lambda step, logs: clock.append((step, time.perf_counter())),
                every=args.steps_per_execution,
            )
        ],
    )
    # steady state: from the end of the first chunk (traced by then) to the end
    (first_step, first_time), (last_step, last_time) = clock[0], clock[-1]
    ms_per_step = 1000 * (last_time - first_time) / max(1, last_step - first_step)
    bits = tff.metrics.bits_per_dim(flow, test, num_samples=args.num_samples, seed=0)
    return {
        "role": args.role,
        "task": multi_worker.task_index(),
        "replicas": 1 if strategy is None else strategy.num_replicas_in_sync,
        "steps": history.steps,
        "fit_seconds": history.wall_time,
        "ms_per_step": ms_per_step,
        "loss_first": history.loss[0],
        "loss_last_100": sum(history.loss[-100:]) / len(history.loss[-100:]),
        "test_bits_per_dim": bits,
    }


def worker(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    result = train_and_score(args)
    result["process_seconds"] = time.perf_counter() - started
    path = args.out if args.role != "multi" else f"{args.out}.worker{result['task']}"
    with open(path, "w") as f:
        json.dump(result, f)


def run(role: str, args: argparse.Namespace, folder: str, seed: int | None = None) -> Row:
    """Runs ``role`` in fresh processes (two workers for ``multi``) with ``seed`` (default
    ``--seed``); its label and each worker's result."""
    from tfp_flows.training import multi_worker

    settings = dict(budget(args), **({} if seed is None else {"seed": seed}))
    label = RUNS[role] + ("" if seed is None else f", seed {seed}")
    out = os.path.join(folder, f"{role}{'' if seed is None else seed}")
    command = [
        sys.executable,
        os.path.abspath(__file__),
        "--role",
        role,
        "--out",
        out,
        *(f"--{name.replace('_', '-')}={value}" for name, value in settings.items()),
    ]
    started = time.perf_counter()
    if role == "multi":
        completed = multi_worker.launch(command, workers=2, timeout=args.timeout)
        paths = [f"{out}.worker{index}" for index in range(2)]
    else:
        completed = [
            subprocess.run(
                command, capture_output=True, text=True, timeout=args.timeout, check=False
            )
        ]
        paths = [out]
    for index, process in enumerate(completed):
        if process.returncode != 0:
            raise RuntimeError(
                f"{label}: process {index} exited with {process.returncode}:"
                f"\n{process.stderr[-4000:]}"
            )
    results = []
    for path in paths:
        with open(path) as f:
            results.append(json.load(f))
    print(
        f"{label}: test bits/dim {results[0]['test_bits_per_dim']:.4f} "
        f"({time.perf_counter() - started:.0f} s)",
        flush=True,
    )
    return Row(label, role, settings["seed"], results)


def table(rows: list[Row], args: argparse.Namespace) -> str:
    reference = rows[0].results[0]["test_bits_per_dim"]
    lines = [
        "| run | workers | replicas | seed | steps | global batch | ms per step | "
        "fit wall time (s) | process wall time (s) | test bits/dim | difference |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        chief = row.results[0]
        lines.append(
            f"| {row.label} | {len(row.results)} | {chief['replicas']} | {row.seed} | "
            f"{chief['steps']} | {args.batch_size} | "
            f"{max(r['ms_per_step'] for r in row.results):.0f} | "
            f"{max(r['fit_seconds'] for r in row.results):.1f} | "
            f"{max(r['process_seconds'] for r in row.results):.1f} | "
            f"{chief['test_bits_per_dim']:.4f} | {chief['test_bits_per_dim'] - reference:+.4f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.role is not None:
        worker(args)
        return 0
    if args.batch_size % 2:
        raise SystemExit(
            f"--batch-size must be even (split between two workers), got {args.batch_size}."
        )
    print("budget: " + ", ".join(f"{k}={v}" for k, v in budget(args).items()), flush=True)
    print(f"load average at start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        rows = [run("single", args, folder)]
        if args.mirrored:
            rows.append(run("mirrored", args, folder))
        rows.append(run("multi", args, folder))
        rows.extend(run("single", args, folder, seed) for seed in args.other_seeds)
    multi = next(row for row in rows if row.role == "multi").results
    if multi[0]["test_bits_per_dim"] != multi[1]["test_bits_per_dim"]:
        print(f"note: the workers' test bits/dim differ: {[r['test_bits_per_dim'] for r in multi]}")
    print()
    print(table(rows, args))
    difference = multi[0]["test_bits_per_dim"] - rows[0].results[0]["test_bits_per_dim"]
    print(
        f"\ntwo workers - one process: {difference:+.6f} bits/dim "
        f"({'within' if abs(difference) <= 0.05 else 'NOT within'} 0.05)"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {"budget": budget(args), "runs": [row._asdict() for row in rows]}, f, indent=1
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
