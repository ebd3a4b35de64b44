"""What the package's layers cost per call, eager and compiled: the cache's price or saving.

Until this version the layers cached their results in TFP's tensor-identity cache, keyed
also by a version of every weight (read from the device-buffer address of each variable,
and, while tracing, from the variable writes traced so far). Now nothing is cached and the
flow calls each layer's one-pass ``(value, log-det)`` hook itself. This script measures a
``real_nvp`` flow (event 8, 4 coupling layers, hidden units ``(h, h)``, batch 256, a fresh
batch per call so that no call is a cache hit, as in a training loop):

```none
eager log_prob            flow.log_prob(x)
eager sample+log_prob     flow.experimental_sample_and_log_prob(256)   (tfp.vi's call)
eager Adam step           tape, -mean log_prob, Keras 3 Adam apply
XLA log_prob              tf.function(flow.log_prob, jit_compile=True)
XLA Adam step             the step above under tf.function(jit_compile=True)
```

in ms per call (median over blocks). Run it once on each version of the package and
compare the two result files:

```bash
PYTHONPATH=/path/to/old/checkout python benchmarks/cache_overhead.py --json before.json
PYTHONPATH=. python benchmarks/cache_overhead.py --json after.json
python benchmarks/cache_overhead.py --compare before.json after.json
```

(about 1 minute per run on 2 cores; ``--hidden 64 512`` chooses the widths, ``--seconds``
the time per measurement).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

EVENT_SIZE, LAYERS, BATCH = 8, 4, 256
CALLS = (
    "eager log_prob",
    "eager sample+log_prob",
    "eager Adam step",
    "XLA log_prob",
    "XLA Adam step",
)


def per_call_ms(fn, seconds: float, blocks: int = 5) -> float:
    """Median over ``blocks`` blocks of the mean time per call (robust to a busy machine)."""
    fn()  # warm up (and compile)
    means = []
    for _ in range(blocks):
        calls, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds / blocks or calls < 3:
            fn()
            calls += 1
        means.append(1e3 * (time.perf_counter() - started) / calls)
    return float(np.median(means))


def measure(hidden: int, seconds: float) -> dict[str, float]:
    import keras  # here: --compare runs without TensorFlow
    import tensorflow as tf

    import tfp_flows as tff

    flow = tff.real_nvp(EVENT_SIZE, num_layers=LAYERS, hidden_units=(hidden, hidden), seed=0)
    rng = np.random.default_rng(0)
    batches = [
        tf.constant(rng.normal(size=[BATCH, EVENT_SIZE]).astype(np.float32)) for _ in range(32)
    ]
    count = iter(range(10**9))

    def batch():
        return batches[next(count) % len(batches)]

    optimizer = keras.optimizers.Adam(1e-5)
    optimizer.build(flow.trainable_variables)

    def step(x):
        with tf.GradientTape() as tape:
            loss = -tf.reduce_mean(flow.log_prob(x))
        gradients = tape.gradient(loss, flow.trainable_variables)
        optimizer.apply_gradients(zip(gradients, flow.trainable_variables))
        return loss

    xla_log_prob = tf.function(flow.log_prob, jit_compile=True)
    xla_step = tf.function(step, jit_compile=True)
    seeds = iter(range(10**9))
    fns = {
        "eager log_prob": lambda: flow.log_prob(batch()),
        "eager sample+log_prob": lambda: flow.experimental_sample_and_log_prob(
            BATCH, seed=[next(seeds), 0]
        ),
        "eager Adam step": lambda: step(batch()),
        "XLA log_prob": lambda: xla_log_prob(batch()).numpy(),
        "XLA Adam step": lambda: xla_step(batch()).numpy(),
    }
    weights = sum(int(np.prod(v.shape)) for v in flow.trainable_variables)
    return {"weights": weights, **{name: per_call_ms(fn, seconds) for name, fn in fns.items()}}


def compare(before_path: str, after_path: str) -> None:
    with open(before_path) as f:
        before = json.load(f)
    with open(after_path) as f:
        after = json.load(f)
    print(f"ms per call, before -> after (ratio); real_nvp event {EVENT_SIZE}, {LAYERS} layers")
    print(f"{'hidden':>6} {'weights':>9} | " + " | ".join(f"{c:>24}" for c in CALLS))
    for hidden, row in after.items():
        old = before[hidden]
        cells = [f"{old[c]:7.2f} -> {row[c]:7.2f} ({row[c] / old[c]:4.2f})" for c in CALLS]
        print(f"{hidden:>6} {row['weights']:>9,d} | " + " | ".join(f"{c:>24}" for c in cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hidden", type=int, nargs="+", default=[64, 512])
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--json", help="write the measurements to this file")
    parser.add_argument("--compare", nargs=2, metavar=("BEFORE", "AFTER"))
    args = parser.parse_args()
    if args.compare:
        compare(*args.compare)
        return
    rows = {}
    for hidden in args.hidden:
        rows[str(hidden)] = measure(hidden, args.seconds)
        print(hidden, json.dumps(rows[str(hidden)]), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
