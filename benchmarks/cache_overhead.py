"""The weight-aware cache's eager cost against the number of weights (issue 12, item 6).

One ``AffineCoupling`` layer (event size 8, two hidden layers of width ``h``) as a flow;
eager ``log_prob`` of a fresh ``[16, 8]`` batch per call (no cache hit: every call runs
the conditioner, as in an eager loop over batches), in ms per call, with three ways of
computing the eager weights state that keys the cache:

```none
before   main's cache (until issue 12): blake2b digest of every weight, copied to the host
after    this package: a version per variable from the address of its buffer (no weight read)
floor    a constant state (NOT a valid cache: stale results; the cost of everything else)
```

and, per size, the cost of one eager Adam step (Keras 3) on the layer before and after
(the "after" cache makes the next write of a variable copy its buffer once: see
``tfp_flows/bijectors/cache.py``).

Run from the repository root: ``python benchmarks/cache_overhead.py`` (about 1 minute on
2 cores); ``--sizes 1e3 1e6`` to choose the weight counts, ``--seconds`` per measurement.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import time

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_flows.bijectors import AffineCoupling, cache
from tfp_flows.flows.flow import Flow

EVENT_SIZE, BATCH = 8, 16


def main_weights_state(module: tf.Module) -> tuple:
    """The eager weights state of main before issue 12 (graph mode unchanged)."""
    if not tf.executing_eagerly():
        return AFTER(module)
    digest = hashlib.blake2b(digest_size=16)
    for variable in module.variables:
        digest.update(variable.numpy().tobytes())
    return ("eager", digest.digest())


def floor_weights_state(module: tf.Module) -> tuple:
    return ("eager",) if tf.executing_eagerly() else AFTER(module)


AFTER = cache.weights_state
STATES = {"before": main_weights_state, "after": AFTER, "floor": floor_weights_state}


def width_for(weights: float) -> int:
    """Hidden width h with about ``weights`` weights: h^2 + (d/2 + 2 + 2d) h + 2d (d/2 in, 2 * d/2 out)."""
    half = EVENT_SIZE // 2
    b = half + 2 + 2 * half
    return max(1, round((-b + math.sqrt(b * b + 4 * (weights - 2 * half))) / 2))


def per_call_ms(fn, seconds: float, blocks: int = 5) -> float:
    """Median over ``blocks`` blocks of the mean time per call (robust to a busy machine)."""
    fn()  # warm up
    means = []
    for _ in range(blocks):
        calls, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds / blocks or calls < 3:
            fn()
            calls += 1
        means.append(1e3 * (time.perf_counter() - started) / calls)
    return float(np.median(means))


def measure(weights: float, seconds: float) -> dict[str, float | int]:
    layer = AffineCoupling(
        [1, 0] * (EVENT_SIZE // 2), hidden_units=(width_for(weights),) * 2, seed=0
    )
    base = tfp.distributions.Sample(tfp.distributions.Normal(0.0, 1.0), EVENT_SIZE)
    flow = Flow(base, layer)
    rng = np.random.default_rng(0)
    batches = [
        tf.constant(rng.normal(size=[BATCH, EVENT_SIZE]).astype(np.float32)) for _ in range(64)
    ]
    count = iter(range(10**9))
    optimizer = keras.optimizers.Adam(1e-4)
    optimizer.build(layer.trainable_variables)
    gradients = [tf.zeros_like(v) for v in layer.trainable_variables]
    row: dict[str, float | int] = {"weights": sum(int(np.prod(v.shape)) for v in layer.variables)}
    for name, state in STATES.items():
        cache.weights_state = state
        try:
            row[name] = per_call_ms(lambda: flow.log_prob(batches[next(count) % 64]), seconds)
            if name != "floor":

                def step():
                    optimizer.apply_gradients(zip(gradients, layer.trainable_variables))
                    flow.log_prob(batches[next(count) % 64])

                row[f"step_{name}"] = per_call_ms(step, seconds) - row[name]
        finally:
            cache.weights_state = AFTER
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[1e3, 1e4, 1e5, 1e6])
    parser.add_argument("--seconds", type=float, default=1.0)
    args = parser.parse_args()
    print(
        f"eager log_prob of one AffineCoupling (event {EVENT_SIZE}, batch {BATCH}), ms per call;"
        " Adam step = (step + log_prob) - log_prob, ms"
    )
    print(
        f"{'weights':>9} | {'before':>8} {'after':>8} {'floor':>8} | "
        f"{'Adam step before':>16} {'after':>8}"
    )
    for size in args.sizes:
        row = measure(size, args.seconds)
        print(
            f"{row['weights']:>9,d} | {row['before']:8.2f} {row['after']:8.2f} "
            f"{row['floor']:8.2f} | {row['step_before']:16.2f} {row['step_after']:8.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
