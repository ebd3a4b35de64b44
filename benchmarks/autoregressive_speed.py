"""Speed of ``maf`` and ``iaf``: which direction runs in one MADE pass.

For event sizes 2, 8 and 32 it times ``log_prob`` of a batch of 1024 and
``sample(1024)`` of ``tff.maf`` and ``tff.iaf`` (5 layers, hidden (64, 64),
the builders' defaults), each compiled with ``tf.function`` (``--xla`` adds
``jit_compile=True``), after a warm-up call; the table gives the median of
the repeats in milliseconds, the four timings of one repetition interleaved.
MAF's ``log_prob`` and IAF's ``sample`` run each MADE once; MAF's ``sample``
and IAF's ``log_prob`` run it ``event_size`` times (a ``tf.while_loop``), so
their time grows with the event size. The machine may be shared: the load
average is printed at the start and the end.

    python benchmarks/autoregressive_speed.py              # ~1-2 min on 2 cores
    python benchmarks/autoregressive_speed.py --repeats 5 --xla
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402

import tfp_flows as tff  # noqa: E402

EVENT_SIZES = (2, 8, 32)
BATCH = 1024


def _timed(fn) -> float:
    start = time.perf_counter()
    result = fn()
    _ = result.numpy()
    return 1e3 * (time.perf_counter() - start)


def measure(event_size: int, repeats: int, jit_compile: bool) -> dict[str, float]:
    """Median milliseconds of ``log_prob`` and ``sample`` for ``maf`` and ``iaf``."""
    flows = {"maf": tff.maf(event_size, seed=0), "iaf": tff.iaf(event_size, seed=0)}
    for flow in flows.values():  # move away from the identity of a fresh flow
        for i, variable in enumerate(flow.trainable_variables):
            variable.assign_add(0.05 * tf.random.stateless_normal(variable.shape, seed=[1, i]))
    x = tf.random.stateless_normal([BATCH, event_size], seed=[2, event_size])
    calls = {}
    for kind, flow in flows.items():
        calls[f"{kind} log_prob"] = tf.function(flow.log_prob, jit_compile=jit_compile)
        calls[f"{kind} sample"] = tf.function(
            lambda flow=flow: flow.sample(BATCH, seed=[3, 4]), jit_compile=jit_compile
        )
    runs = {
        name: (lambda fn=fn: fn(tf.identity(x))) if "log_prob" in name else fn
        for name, fn in calls.items()
    }
    times: dict[str, list[float]] = {name: [] for name in runs}
    for run in runs.values():
        run()  # trace and compile
    for _ in range(repeats):
        for name, run in runs.items():
            times[name].append(_timed(run))
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--xla", action="store_true", help="compile with jit_compile=True")
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()}")
    print(
        f"batch {BATCH}, 5 layers, hidden (64, 64), tf.function"
        f"{' + XLA' if args.xla else ''}, median of {args.repeats} repeats, ms\n"
    )
    columns = ["maf log_prob", "iaf log_prob", "maf sample", "iaf sample"]
    print("| event size | " + " | ".join(columns) + " |")
    print("|---:|" + "---:|" * len(columns))
    for event_size in EVENT_SIZES:
        result = measure(event_size, args.repeats, args.xla)
        print(f"| {event_size} | " + " | ".join(f"{result[c]:.2f}" for c in columns) + " |")
    print(f"\nload average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
