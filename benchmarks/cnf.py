"""The continuous flow ``tff.cnf`` on the two moons: flow matching vs maximum likelihood.

For each training mode (and ``nsf`` for reference): build ``tff.cnf(2, seed=s)``, train it
with ``tff.fit(flow, Moons(noise), steps=..., batch_size=256)`` (fresh target samples every
step), then measure the KL gap on fresh samples (as trained, and with the ODE solved in 64
RK4 steps: the solver's error out), the time per training step in the steady
state (first to last log point of ``fit``: compilation left out), and the time to score and
to sample 10^4 points (``tf.function(jit_compile=True)``, compiled first, median of 3 runs).

    python benchmarks/cnf.py                                  # 300 steps, seed 0 (~2 min)
    python benchmarks/cnf.py --steps 2000 --num-steps 16
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import tfp_flows as tff  # noqa: E402
from tfp_flows.bijectors import ContinuousFlow, FlowChain  # noqa: E402


def _median_seconds(fn, repeats: int = 3) -> float:
    fn()  # compile
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def _rescored(flow: tff.Flow, num_steps: int) -> tff.Flow:
    """The same trained cnf, its ODE solved with ``num_steps`` RK4 steps (the solver's error
    out of the KL gap: a flow trained by maximum likelihood at few steps can exploit it)."""
    standardize, layer = flow.bijector.bijectors
    fine = ContinuousFlow(2, layer.velocity_network, num_steps=num_steps)
    return tff.Flow(flow.distribution, FlowChain([standardize, fine]))


def run(mode: str, seed: int, steps: int, num_steps: int, noise: float, points: int) -> dict:
    target = tff.datasets.Moons(noise=noise)
    if mode == "nsf":
        flow, loss = tff.nsf(2, seed=seed), {}
    else:
        flow = tff.cnf(2, num_steps=num_steps, seed=seed)
        loss = {"loss": tff.training.FlowMatching(seed=seed)} if mode == "flow matching" else {}
    marks: list[tuple[int, float]] = []
    started = time.perf_counter()
    tff.fit(
        flow,
        target,
        steps=steps,
        batch_size=256,
        seed=seed,
        progress=False,
        callbacks=[lambda step, logs: marks.append((step, time.perf_counter()))],
        **loss,
    )
    wall = time.perf_counter() - started
    (s0, t0), (s1, t1) = marks[0], marks[-1]
    step = (t1 - t0) / (s1 - s0) if s1 > s0 else wall / steps
    gap = tff.metrics.kl_gap(flow, target, n=20_000, seed=10_000 + seed)
    fine_gap = (
        tff.metrics.kl_gap(_rescored(flow, 64), target, n=20_000, seed=10_000 + seed)
        if mode != "nsf"
        else gap
    )
    x = tf.constant(target.sample(points, seed=tff.stateless_seed(seed + 1)))
    score = tf.function(flow.log_prob, jit_compile=True)
    sample = tf.function(lambda: flow.sample(points, seed=tf.constant([1, 2])), jit_compile=True)
    return {
        "gap": gap,
        "fine_gap": fine_gap,
        "wall": wall,
        "step": step,
        "score": _median_seconds(lambda: score(x).numpy()),
        "sample": _median_seconds(lambda: sample().numpy()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--num-steps", type=int, default=8, help="RK4 steps of tff.cnf")
    parser.add_argument("--seeds", nargs="*", type=int, default=[0])
    parser.add_argument("--noise", type=float, default=0.05)
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument(
        "--modes", nargs="*", default=["flow matching", "maximum likelihood", "nsf"]
    )
    args = parser.parse_args()
    print(
        f"moons(noise={args.noise}), {args.steps} steps at batch 256, cnf num_steps="
        f"{args.num_steps}; KL gap (nats, 20,000 fresh samples); times for {args.points} points\n"
    )
    print(
        "| model | seed | KL gap (as trained) | KL gap (64 RK4 steps) | ms/step | fit wall s "
        "| score s | sample s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for mode in args.modes:
        for seed in args.seeds:
            r = run(mode, seed, args.steps, args.num_steps, args.noise, args.points)
            shown = str(r["gap"])  # mean ± standard error
            name = mode if mode == "nsf" else f"cnf ({mode})"
            print(
                f"| {name} | {seed} | {shown} | {r['fine_gap']} | {1e3 * r['step']:.1f} | {r['wall']:.1f} | "
                f"{r['score']:.3f} | {r['sample']:.3f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
