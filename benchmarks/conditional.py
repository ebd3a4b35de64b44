"""KL gap of conditional flows to the exact conditional densities, per context value.

Two conditional targets with an exact density (``tfp_flows.datasets``):

* **Conditional banana** ``p(x | b)``: ``x2 ~ N(0, 4^2)``, ``x1 | x2 ~ N(b x2^2, 1)``,
  the curvature ``b`` the context. One ``real_nvp(2, context_size=1)`` is trained
  ONCE on fresh pairs ``(x, b)``, ``b ~ Uniform(0.05, 0.5)`` (``tff.fit(flow,
  target, ...)`` draws ``target.sample_pairs(batch_size, seed)`` at every step),
  then ``KL(p(.|b) || q(.|b))`` is measured at fixed ``b`` (default 0.05, 0.25,
  0.5: both ends of the training range and its middle).
* **Simulation-based inference** (``LinearGaussianSimulator``: ``theta ~ N(0, I_2)``,
  ``x | theta ~ N(A theta, 0.5^2 I_4)``): ``q(theta | x) = real_nvp(2,
  context_size=4)`` is trained once on draws of the joint ``(theta, x)``, then
  compared with the exact Gaussian posterior ``p(theta | x_obs)`` at a few fixed
  observations ``x_obs`` (drawn from the joint with a fixed seed).

Every gap is ``conditional_kl_gap`` on 20,000 fresh samples of ``p(.|c)``, in nats,
± its Monte-Carlo standard error; tables give every seed and the median per context.

    python benchmarks/conditional.py                      # the full tables (~13 min, 2 cores)
    python benchmarks/conditional.py --steps 2000 --seeds 0 --no-sbi   # a quick look
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

import tfp_flows as tff  # noqa: E402

GOAL = 0.01  # nats, median of 3 seeds at every b (issue 9)


def train(target, context_size: int, seed: int, args: argparse.Namespace, steps: int):
    """A conditional ``real_nvp`` trained on fresh ``target.sample_pairs`` every step."""
    flow = tff.real_nvp(
        target.event_size,
        num_layers=args.num_layers,
        hidden_units=tuple(args.hidden_units),
        context_size=context_size,
        seed=seed,
    )
    kwargs = {} if args.learning_rate is None else {"learning_rate": args.learning_rate}
    history = tff.fit(
        flow, target, steps=steps, batch_size=args.batch_size, seed=seed, progress=False, **kwargs
    )
    return flow, history.wall_time


def table(
    title: str,
    labels: list[str],
    rows: dict[str, list],
    walls: list[float],
    seeds: list[int],
    goal: float | None,
) -> None:
    print(f"\n{title}\n")
    header = "| context | " + " | ".join(f"seed {s}" for s in seeds) + " | median |"
    print(header + (" goal |" if goal is not None else ""))
    print("|---" * (len(seeds) + 2 + (goal is not None)) + "|")
    for label in labels:
        gaps = rows[label]
        median = float(np.median([g.mean for g in gaps]))
        line = f"| {label} | " + " | ".join(str(g) for g in gaps) + f" | {median:.4f} |"
        if goal is not None:
            line += f" < {goal} {'yes' if median < goal else 'NO'} |"
        print(line)
    print("\ntraining wall time per seed (s): " + ", ".join(f"{w:.0f}" for w in walls))


def banana(args: argparse.Namespace) -> None:
    target = tff.datasets.ConditionalBanana(b_range=(args.b_low, args.b_high))
    rows: dict[str, list] = {f"b = {b:g}": [] for b in args.b}
    walls = []
    for seed in args.seeds:
        flow, wall = train(target, 1, seed, args, args.steps)
        walls.append(wall)
        for b in args.b:
            rows[f"b = {b:g}"].append(
                tff.metrics.conditional_kl_gap(
                    flow, target, context=[b], n=args.n, seed=10_000 + seed
                )
            )
        print(f"  banana seed {seed}: trained in {wall:.0f} s", flush=True)
    table(
        f"### Conditional banana: real_nvp(2, context_size=1) trained once on b ~ "
        f"U({args.b_low:g}, {args.b_high:g}); KL(p(.|b) || q(.|b)) in nats, "
        f"{args.n:,} samples, ± standard error",
        list(rows),
        rows,
        walls,
        args.seeds,
        GOAL,
    )


def sbi(args: argparse.Namespace) -> None:
    simulator = tff.datasets.LinearGaussianSimulator()
    _, observations = simulator.sample_pairs(args.observations, seed=args.observation_seed)
    observations = observations.numpy()
    labels = [
        f"x_obs[{i}] = ({', '.join(f'{v:.2f}' for v in x)})" for i, x in enumerate(observations)
    ]
    rows: dict[str, list] = {label: [] for label in labels}
    walls = []
    for seed in args.seeds:
        flow, wall = train(simulator, simulator.context_size, seed, args, args.sbi_steps)
        walls.append(wall)
        for label, x in zip(labels, observations):
            rows[label].append(
                tff.metrics.conditional_kl_gap(
                    flow, simulator, context=x, n=args.n, seed=20_000 + seed
                )
            )
        print(f"  simulator seed {seed}: trained in {wall:.0f} s", flush=True)
    table(
        f"### Simulation-based inference: q(theta | x) = real_nvp(2, context_size=4) trained "
        f"once on the joint of LinearGaussianSimulator() (theta ~ N(0, I_2), x ~ N(A theta, "
        f"0.5^2 I_4)); KL(p(theta|x_obs) || q(theta|x_obs)) in nats, {args.n:,} samples, "
        f"± standard error; x_obs from sample_pairs({args.observations}, "
        f"seed={args.observation_seed})",
        labels,
        rows,
        walls,
        args.seeds,
        None,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    parser.add_argument(
        "--steps", type=int, default=10_000, help="training steps on the conditional banana"
    )
    parser.add_argument(
        "--sbi-steps", type=int, default=5_000, help="training steps on the simulator"
    )
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--num-layers", type=int, default=8)
    parser.add_argument("--hidden-units", nargs="*", type=int, default=[64, 64])
    parser.add_argument(
        "--learning-rate",
        type=float,
        default=None,
        help="peak learning rate of fit's default optimizer (default: fit's)",
    )
    parser.add_argument(
        "--b",
        nargs="*",
        type=float,
        default=[0.05, 0.25, 0.5],
        help="curvatures to measure the gap at",
    )
    parser.add_argument("--b-low", type=float, default=0.05)
    parser.add_argument("--b-high", type=float, default=0.5)
    parser.add_argument("--observations", type=int, default=3)
    parser.add_argument("--observation-seed", type=int, default=2024)
    parser.add_argument("--n", type=int, default=20_000, help="samples per KL estimate")
    parser.add_argument("--no-banana", action="store_true")
    parser.add_argument("--no-sbi", action="store_true")
    args = parser.parse_args()

    started = time.perf_counter()
    print(
        f"conditional real_nvp: {args.num_layers} layers, hidden {tuple(args.hidden_units)}, "
        f"batch {args.batch_size}, fit's default optimizer"
        + ("" if args.learning_rate is None else f" (peak lr {args.learning_rate:g})")
        + f"; banana {args.steps} steps, simulator {args.sbi_steps} steps; "
        f"seeds {args.seeds}",
        flush=True,
    )
    if not args.no_banana:
        banana(args)
    if not args.no_sbi:
        sbi(args)
    print(f"\nwall time: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
