"""The continuous flow ``tff.cnf`` on the two moons against ``nsf`` at nsf's wall time.

For each seed, side by side in one process: ``nsf`` (``tff.nsf(2, seed=s)``, ``--nsf-steps``
steps, ``fit``'s defaults), then ``tff.cnf(2, seed=s)`` trained by flow matching
(``tff.fit(flow, Moons(noise), loss=tff.training.FlowMatching(...), steps=..., batch_size=...)``,
fresh target samples every step) and, with ``--modes``, by maximum likelihood. For each: the KL
gap on 20,000 fresh samples (a cnf's as built, and with its ODE re-solved in 2x the RK4 steps:
the solver's error out), the fit's wall time and process CPU time (compilation included) and its
time per step in the steady state (wall and CPU; with one TF thread per process the CPU figures
do not depend on the other load on the machine), and the time to score 200 points and to score and to sample 10^4 points
(``tf.function(jit_compile=True)``, compiled first for each shape, median of 3 runs). The quality criterion of the flow family: cnf's KL gap below
0.010 nats (median of 3 seeds) within the wall time nsf needs for 5,000 steps.

    python benchmarks/cnf.py --seeds 0 1 2                    # the table in benchmarks/README.md
    python benchmarks/cnf.py --seeds 0 1 2 --cnf-kwargs '{"gaussian_skip": false}' '{}'
                                                              # without the Gaussian skip, side by side
    python benchmarks/cnf.py --seeds 0 1 2 --cnf-kwargs \
        '{"hidden_units": [96, 96, 96], "gaussian_skip": false}' '{"gaussian_skip": false}' \
        --cnf-steps 28000 45000                               # the third pass's comparison
    python benchmarks/cnf.py --seeds 0 --modes "maximum likelihood" --cnf-steps 300
    python benchmarks/cnf.py --modes "flow matching" --cnf-steps 20000 --learning-rate 2e-2 \
        --cnf-kwargs '{"hidden_units": [64, 64], "activation": "tanh", "time_frequencies": 4}'
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import tfp_flows as tff  # noqa: E402
from tfp_flows.flows.continuous import with_num_steps  # noqa: E402


def _median_seconds(fn, repeats: int = 3) -> float:
    fn()  # compile
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def run(
    mode: str, seed: int, args: argparse.Namespace, cnf_kwargs: str = "{}", cnf_steps: int = 0
) -> dict:
    target = tff.datasets.Moons(noise=args.noise)
    settings: dict = {}
    if mode == "nsf":
        flow, steps = tff.nsf(2, seed=seed), args.nsf_steps
    else:
        flow = tff.cnf(2, seed=seed, **json.loads(cnf_kwargs))
        steps = cnf_steps
        settings = {"batch_size": args.batch_size}
        if args.learning_rate is not None:
            settings["learning_rate"] = args.learning_rate
        if mode == "flow matching":
            settings["loss"] = tff.training.FlowMatching(seed=seed, pairing=args.pairing)
    marks: list[tuple[int, float, float]] = []
    started, cpu_started = time.perf_counter(), time.process_time()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tff.fit(
            flow,
            target,
            steps=steps,
            seed=seed,
            progress=False,
            callbacks=[
                lambda step, logs: marks.append((step, time.perf_counter(), time.process_time()))
            ],
            **settings,
        )
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    (s0, t0, c0), (s1, t1, c1) = marks[0], marks[-1]
    step = (t1 - t0) / (s1 - s0) if s1 > s0 else wall / steps
    cpu_step = (c1 - c0) / (s1 - s0) if s1 > s0 else cpu / steps
    gap = tff.metrics.kl_gap(flow, target, n=20_000, seed=10_000 + seed)
    fine_gap = gap
    if mode != "nsf":
        fine = with_num_steps(flow, 2 * flow.bijector.bijectors[-1].num_steps)
        fine_gap = tff.metrics.kl_gap(fine, target, n=20_000, seed=10_000 + seed)
    x = tf.constant(target.sample(args.points, seed=tff.stateless_seed(seed + 1)))
    few = x[: args.few_points]
    score = tf.function(flow.log_prob, jit_compile=True)
    sample = tf.function(
        lambda: flow.sample(args.points, seed=tf.constant([1, 2])), jit_compile=True
    )
    return {
        "steps": steps,
        "gap": gap,
        "fine_gap": fine_gap,
        "wall": wall,
        "cpu": cpu,
        "step": step,
        "cpu_step": cpu_step,
        "score": _median_seconds(lambda: score(x).numpy()),
        "score_few": _median_seconds(lambda: score(few).numpy()),
        "sample": _median_seconds(lambda: sample().numpy()),
        "warned": any(w.category.__name__ == "SolverErrorWarning" for w in caught),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="*", type=int, default=[0])
    parser.add_argument("--nsf-steps", type=int, default=5000)
    parser.add_argument(
        "--cnf-steps",
        nargs="+",
        type=int,
        default=[40_000],
        help="one per --cnf-kwargs (40,000 of the default cnf fit in nsf's 5,000-step time)",
    )
    parser.add_argument("--batch-size", type=int, default=256, help="of the cnf's fit")
    parser.add_argument("--learning-rate", type=float, default=None, help="of the cnf's fit")
    parser.add_argument("--pairing", default="independent", help="FlowMatching's pairing")
    parser.add_argument(
        "--cnf-kwargs",
        nargs="+",
        default=["{}"],
        help="tff.cnf settings, e.g. '{\"hidden_units\": [64, 64]}'; several: one cnf row each "
        "(side by side, with the --cnf-steps in the same order)",
    )
    parser.add_argument("--noise", type=float, default=0.05)
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument(
        "--few-points", type=int, default=200, help="also timed: scoring this many points"
    )
    parser.add_argument("--modes", nargs="*", default=["nsf", "flow matching"])
    args = parser.parse_args()
    if len(args.cnf_steps) == 1:
        args.cnf_steps = args.cnf_steps * len(args.cnf_kwargs)
    if len(args.cnf_steps) != len(args.cnf_kwargs):
        parser.error(
            f"give one --cnf-steps per --cnf-kwargs (or one for all), got {len(args.cnf_steps)} "
            f"steps for {len(args.cnf_kwargs)} settings"
        )
    print(
        f"moons(noise={args.noise}); KL gap (nats, 20,000 fresh samples; a cnf's also re-solved "
        f"with 2x its RK4 steps); times for {args.points} points (and scoring {args.few_points}); cnf: batch "
        f"{args.batch_size}, learning rate {args.learning_rate or 'default'}, pairing "
        f"{args.pairing}, tff.cnf settings {args.cnf_kwargs}\n"
    )
    print(
        "| model | seed | steps | KL gap | KL gap (2x RK4 steps) | ms/step | CPU ms/step "
        f"| fit wall s | fit CPU s | score {args.few_points} s | score s | sample s "
        "| solver warning |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for seed in args.seeds:
        for mode in args.modes:
            configs = [("{}", 0)] if mode == "nsf" else zip(args.cnf_kwargs, args.cnf_steps)
            for kwargs, steps in configs:
                r = run(mode, seed, args, kwargs, steps)
                name = mode if mode == "nsf" else f"cnf ({mode})"
                if mode != "nsf" and kwargs.strip() not in ("", "{}"):
                    name += f" {kwargs}"
                print(
                    f"| {name} | {seed} | {r['steps']} | {r['gap']} | {r['fine_gap']} | "
                    f"{1e3 * r['step']:.2f} | {1e3 * r['cpu_step']:.2f} | {r['wall']:.1f} | "
                    f"{r['cpu']:.1f} | {r['score_few']:.3f} | {r['score']:.3f} | "
                    f"{r['sample']:.3f} | {'yes' if r['warned'] else 'no'} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
