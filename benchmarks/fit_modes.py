"""``tff.fit`` with XLA on and off: compile time and training steps per second, per kind of flow.

``tff.fit``'s default ``jit_compile=None`` picks a mode per flow (XLA for
vector flows, none for image flows); this script measures both modes on one
vector and one image flow so the choice can be checked on any machine:

* ``real_nvp(2)`` on the banana (2,000 rows, batch 256);
* ``real_nvp((8, 8, 1))`` on the digits' training split (dequantised to
  ``[0, 1]``, batch 64).

Each run is one ``tff.fit`` call of ``chunks`` compiled calls of
``steps_per_execution`` steps (fit's default 100); a callback records the wall
time at every chunk boundary. The first chunk pays the tracing and
compilation; ``compile s`` is its time minus that of a steady chunk, and
``steps/s`` the median over the later chunks. The machine may be shared: the
load average is printed.

    python benchmarks/fit_modes.py                 # minutes: the image flow's XLA compilation
    python benchmarks/fit_modes.py --only image --chunks 3 --steps-per-execution 20

The XLA compilation of the ``tf.while_loop`` chunk does not depend on the
number of steps in it, so a small ``--steps-per-execution`` measures the same
compile time sooner.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import tfp_flows as tff


def _cases() -> list[tuple[str, str, Callable[[], Any], np.ndarray, int]]:
    banana = tff.datasets.Banana().sample(2000, seed=0).numpy()
    images = tff.datasets.digits("train")
    rng = np.random.default_rng(0)
    images = ((images + rng.uniform(size=images.shape)) / 17.0).astype(np.float32)
    return [
        ("vector", "real_nvp(2), banana", lambda: tff.real_nvp(2, seed=0), banana, 256),
        (
            "image",
            "real_nvp((8, 8, 1)), digits",
            lambda: tff.real_nvp((8, 8, 1), seed=0),
            images,
            64,
        ),
    ]


def measure(
    make_flow,
    data: np.ndarray,
    batch_size: int,
    jit_compile: bool,
    chunks: int,
    steps_per_execution: int,
) -> tuple[float, float]:
    """``(compile seconds, steps per second)`` of one ``tff.fit`` run."""
    flow = make_flow()
    marks = []

    def record(step, logs):
        marks.append(time.perf_counter())

    start = time.perf_counter()
    tff.fit(
        flow,
        data,
        steps=chunks * steps_per_execution,
        batch_size=batch_size,
        steps_per_execution=steps_per_execution,
        jit_compile=jit_compile,
        callbacks=[tff.training.LambdaCallback(record, every=steps_per_execution)],
        progress=False,
    )
    times = np.diff([start, *marks])
    steady = statistics.median(times[1:])
    return max(0.0, times[0] - steady), steps_per_execution / steady


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=4)
    parser.add_argument("--steps-per-execution", type=int, default=100)
    parser.add_argument("--only", choices=["vector", "image"], default=None)
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    print(f"{'flow':30s} {'jit_compile':>11s} {'compile s':>10s} {'steps/s':>9s}")
    for kind, name, make_flow, data, batch_size in _cases():
        if args.only not in (None, kind):
            continue
        for jit_compile in (False, True):
            compile_s, rate = measure(
                make_flow, data, batch_size, jit_compile, args.chunks, args.steps_per_execution
            )
            print(f"{name:30s} {str(jit_compile):>11s} {compile_s:10.1f} {rate:9.1f}", flush=True)
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
