"""FusedAdam (the default optimizer) against keras.optimizers.Adam inside ``tff.fit``, side by side.

For each builder and compile mode, ``tff.fit`` on the moons with the default schedule and
``clipnorm=1``, once for ``short`` and once for ``long`` steps, optimizers interleaved:

- fixed cost = CPU of the short fit minus its steps at the per-step cost (tracing, XLA),
- per step = (CPU of the long fit - CPU of the short fit) / (long - short),
- traced ops = operations in one training step's graph,
- test NLL = the long fit's NLL on 20,000 fresh moons (the same seed for both optimizers).

    python benchmarks/fused_adam.py                       # real_nvp, nsf, maf; XLA and not; ~25 min
    python benchmarks/fused_adam.py --builders real_nvp --modes xla --repeats 1
    python benchmarks/fused_adam.py --quality-seeds 0 1 2 3 4   # test NLL of real_nvp after 1,500
                                                                # XLA steps per seed, ~6 min

One long fit per row gives its test NLL from one seed; training is chaotic at the last digits
(the two optimizers round differently), so compare the optimizers' quality with
``--quality-seeds``.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import tfp_flows as tff  # noqa: E402
from tfp_flows.training.optimizers import default_schedule  # noqa: E402

OPTIMIZERS = {"FusedAdam": tff.training.FusedAdam, "keras Adam": keras.optimizers.Adam}


def _fit_cpu(builder: str, optimizer: str, steps: int, jit_compile: bool) -> tuple[float, float]:
    flow = getattr(tff, builder)(2, seed=0)
    make = OPTIMIZERS[optimizer]
    start = time.process_time()
    history = tff.fit(
        flow,
        tff.datasets.Moons(noise=0.05),
        steps=steps,
        optimizer=make(default_schedule(steps), clipnorm=1.0),
        jit_compile=jit_compile,
        progress=False,
        seed=0,
    )
    cpu = time.process_time() - start
    test = tff.datasets.Moons(noise=0.05).sample(20_000, seed=1)
    return cpu, float(tff.metrics.nll(flow, test)) if history.steps else float("nan")


def _traced_ops(builder: str, optimizer: str) -> int:
    flow = getattr(tff, builder)(2, seed=0)
    variables = flow.trainable_variables
    opt = OPTIMIZERS[optimizer](default_schedule(100), clipnorm=1.0)
    opt.build(variables)
    x = tf.constant(np.asarray(tff.datasets.Moons(noise=0.05).sample(256, seed=0)), tf.float32)

    def step(x):
        with tf.GradientTape() as tape:
            loss = -tf.reduce_mean(flow.log_prob(x))
        opt.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    return len(tf.function(step).get_concrete_function(x).graph.get_operations())


def _quality(seeds: list[int], steps: int = 1500) -> None:
    """Test NLL of ``real_nvp(2)`` after ``steps`` XLA steps on the moons, per seed and optimizer."""
    target = tff.datasets.Moons(noise=0.05)
    test = target.sample(20_000, seed=1)
    nll = {name: [] for name in OPTIMIZERS}
    for seed in seeds:
        for name, make in OPTIMIZERS.items():
            flow = tff.real_nvp(2, seed=seed)
            optimizer = make(default_schedule(steps), clipnorm=1.0)
            tff.fit(flow, target, steps=steps, optimizer=optimizer, progress=False, seed=seed)
            nll[name].append(float(tff.metrics.nll(flow, test)))
    print("| optimizer | " + " | ".join(f"seed {s}" for s in seeds) + " | median |")
    print("|---|" + "---:|" * (len(seeds) + 1))
    for name, values in nll.items():
        cells = " | ".join(f"{v:.4f}" for v in values)
        print(f"| {name} | {cells} | {np.median(values):.4f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--builders", nargs="+", default=["real_nvp", "nsf", "maf"])
    parser.add_argument("--modes", nargs="+", default=["xla", "graph"], choices=["xla", "graph"])
    parser.add_argument("--short", type=int, default=100)
    parser.add_argument("--long", type=int, default=600)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--quality-seeds", nargs="+", type=int, default=None)
    args = parser.parse_args()
    if args.quality_seeds is not None:
        _quality(args.quality_seeds)
        return
    _fit_cpu("maf", "keras Adam", 10, False)  # imports and first-use costs out of the table
    print(
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; CPU seconds of the process"
    )
    print(
        "| builder | mode | optimizer | traced ops per step | fixed cost (CPU s) | "
        "per step (CPU ms) | test NLL after the long fit |"
    )
    print("|---|---|---|---:|---:|---:|---:|")
    for builder in args.builders:
        ops = {name: _traced_ops(builder, name) for name in OPTIMIZERS}
        for mode in args.modes:
            rows = {name: [] for name in OPTIMIZERS}
            for _ in range(args.repeats):  # interleaved: both see the same machine
                for name in OPTIMIZERS:
                    short, _ = _fit_cpu(builder, name, args.short, mode == "xla")
                    long, nll = _fit_cpu(builder, name, args.long, mode == "xla")
                    per_step = (long - short) / (args.long - args.short)
                    rows[name].append((short - args.short * per_step, per_step, nll))
            for name, values in rows.items():
                fixed, per_step, nll = np.median(np.asarray(values), axis=0)
                print(
                    f"| {builder} | {mode} | {name} | {ops[name]} | {fixed:.2f} | "
                    f"{1000 * per_step:.2f} | {nll:.4f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
