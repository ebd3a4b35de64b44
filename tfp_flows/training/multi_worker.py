"""Training on several worker processes: ``MultiWorkerMirroredStrategy`` on localhost ports.

The path a user takes when one machine is not enough, tried on one machine first:
every worker process runs the *same* script, told its place in the cluster by the
``TF_CONFIG`` environment variable,

```none
TF_CONFIG = {"cluster": {"worker": ["localhost:P0", "localhost:P1"]},
             "task": {"type": "worker", "index": i}}            # i = 0 (the chief), 1, ...
```

builds its strategy first (:func:`multi_worker_strategy`), the flow and the
optimizer in the strategy's scope, and calls ``tff.fit(..., strategy=strategy)``
with the same data, ``seed`` and ``batch_size`` everywhere. ``batch_size`` is
the *global* batch: at every step each of the ``R`` replicas takes its
``batch_size / R`` rows of the same global batch and the gradients are summed
by an all-reduce, so every worker applies the same update and holds the same
weights, and the run follows a one-device run on the same batches (up to
floating-point summation order). Only the chief (worker 0) writes checkpoints.

:func:`launch` starts the workers of one script on free localhost ports and
waits for all of them (stopping the others when one fails: a worker left alone
waits in its all-reduce forever). From a shell::

    python -m tfp_flows.training.multi_worker --workers 2 -- python train.py --steps 1000

On CPU the collectives are TensorFlow's RING all-reduce over gRPC
(``CommunicationImplementation.RING``; NCCL needs GPUs). The multi-step loop
of ``fit`` runs under the strategy as one ``tf.function`` per
``steps_per_execution`` steps (without XLA: the all-reduce is not an XLA op).

#### Examples

>>> configs = worker_configs([12345, 12346])
>>> configs[1]["cluster"], configs[1]["task"]
({'worker': ['localhost:12345', 'localhost:12346']}, {'type': 'worker', 'index': 1})
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from typing import Any

import tensorflow as tf

__all__ = ["free_ports", "launch", "multi_worker_strategy", "task_index", "worker_configs"]


def free_ports(count: int, host: str = "localhost") -> list[int]:
    """``count`` distinct TCP ports on ``host`` that were free a moment ago.

    Raises:
      OSError: a port cannot be bound on ``host``.
    """
    sockets = []
    try:
        for _ in range(count):
            probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sockets.append(probe)
            probe.bind((host, 0))
        return [probe.getsockname()[1] for probe in sockets]
    finally:
        for probe in sockets:
            probe.close()


def worker_configs(ports: Sequence[int], host: str = "localhost") -> list[dict[str, Any]]:
    """The ``TF_CONFIG`` of each worker of a cluster on ``host:port`` for each port."""
    if len(ports) < 1 or len(set(ports)) != len(ports):
        raise ValueError(f"ports must be distinct and at least one, got {list(ports)}.")
    cluster = {"worker": [f"{host}:{port}" for port in ports]}
    return [
        {"cluster": cluster, "task": {"type": "worker", "index": index}}
        for index in range(len(ports))
    ]


def task_index() -> int:
    """This process's worker index from ``TF_CONFIG`` (0, the chief, without one)."""
    config = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
    return int(config.get("task", {}).get("index", 0))


def multi_worker_strategy() -> tf.distribute.MultiWorkerMirroredStrategy:
    """The ``MultiWorkerMirroredStrategy`` of ``TF_CONFIG``, RING all-reduce (CPU and GPU).

    Create it at the start of the worker's program, before building anything
    (the strategy reconfigures TensorFlow's runtime for the cluster); it waits
    until every worker of the cluster has started.
    """
    options = tf.distribute.experimental.CommunicationOptions(
        implementation=tf.distribute.experimental.CommunicationImplementation.RING
    )
    return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)


def launch(
    command: Sequence[str],
    workers: int = 2,
    *,
    timeout: float | None = None,
    capture_output: bool = True,
    env: Mapping[str, str] | None = None,
) -> list[subprocess.CompletedProcess]:
    """Runs ``command`` as ``workers`` worker processes of one cluster on free localhost ports.

    Each process gets its ``TF_CONFIG`` (:func:`worker_configs`) in its
    environment. If one worker fails (or ``timeout`` seconds pass), the others
    are stopped too.

    Args:
      command: the program and its arguments, e.g. ``[sys.executable, "train.py"]``.
      workers: number of worker processes (at least 1).
      timeout: seconds to wait for all of them (``None``: no limit).
      capture_output: collect each worker's stdout and stderr (else they are inherited).
      env: the environment (default ``os.environ``); ``TF_CONFIG`` is set per worker.

    Returns:
      One ``CompletedProcess`` per worker, in worker order (``returncode`` negative:
      stopped by a signal, e.g. after another worker failed).

    Raises:
      OSError: no free localhost port could be bound.
    """
    if isinstance(command, str) or not command:
        raise TypeError(f"command must be a non-empty sequence of strings, got {command!r}.")
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive integer, got {workers!r}.")
    base = dict(os.environ if env is None else env)
    outputs = [
        (tempfile.TemporaryFile(), tempfile.TemporaryFile()) if capture_output else (None, None)
        for _ in range(workers)
    ]
    processes = [
        subprocess.Popen(
            list(command), stdout=out, stderr=err, env=dict(base, TF_CONFIG=json.dumps(config))
        )
        for config, (out, err) in zip(worker_configs(free_ports(workers)), outputs)
    ]
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        while True:
            codes = [p.poll() for p in processes]  # every one, no short-circuit
            if all(code is not None for code in codes):
                break
            failed = any(code not in (None, 0) for code in codes)
            if failed or (deadline is not None and time.monotonic() > deadline):
                break
            time.sleep(0.1)
    finally:
        for process in processes:  # stop the ones still waiting (on a failed peer)
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    results = []
    for process, (out, err) in zip(processes, outputs):
        texts = []
        for stream in (out, err):
            if stream is None:
                texts.append(None)
                continue
            stream.seek(0)
            texts.append(stream.read().decode(errors="replace"))
            stream.close()
        results.append(subprocess.CompletedProcess(process.args, process.returncode, *texts))
    return results


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tfp_flows.training.multi_worker --workers 2 -- program args...``."""
    parser = argparse.ArgumentParser(
        prog="python -m tfp_flows.training.multi_worker",
        description="Run a training script as the workers of a MultiWorkerMirroredStrategy "
        "cluster on localhost.",
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=None, help="seconds (default: none)")
    parser.add_argument(
        "command",
        nargs=argparse.REMAINDER,
        help="after --: the program and its arguments (a .py file: run with this Python)",
    )
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the program to run after --")
    if command[0].endswith(".py"):
        command = [sys.executable, *command]
    started = time.perf_counter()
    results = launch(command, args.workers, timeout=args.timeout, capture_output=False)
    codes = [r.returncode for r in results]
    print(
        f"multi_worker: {args.workers} workers finished in "
        f"{time.perf_counter() - started:.1f} s, exit codes {codes}",
        file=sys.stderr,
    )
    return 0 if all(code == 0 for code in codes) else 1


if __name__ == "__main__":
    sys.exit(main())
