"""KL gap to the truth after training every builder with its and ``fit``'s defaults.

For each builder, target and seed: build the flow (``tff.real_nvp(2, seed=s)``,
``tff.nsf(2, seed=s)``, ...), train it with ``tff.fit(flow, target, steps=5000,
batch_size=256)`` (fresh target samples every step), then measure ``kl_gap`` on
20,000 fresh samples. Prints one markdown table: every seed, the median, the
issue's goal for the best flow, and the time per training step in the steady
state (between the first and the last log point of ``fit``, so the one-time
compilation is left out; validation evaluations are included), all measured in
the same run.

    python benchmarks/train_quality.py                        # every builder (~45 min, 2 cores)
    python benchmarks/train_quality.py --builders real_nvp nsf --seeds 0 --steps 1000
    python benchmarks/train_quality.py --builders nsf --flow-kwargs '{"bins": 8}'   # screening
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

import tfp_flows as tff  # noqa: E402

TARGETS = {
    "banana": lambda: tff.datasets.Banana(),
    "moons(0.05)": lambda: tff.datasets.Moons(noise=0.05),
    "moons(0.1)": lambda: tff.datasets.Moons(noise=0.1),
}
GOALS = {"banana": 0.001, "moons(0.05)": 0.010, "moons(0.1)": 0.008}  # issue 10, best flow
BUILDERS = {
    "real_nvp": tff.real_nvp,
    "nice": tff.nice,
    "nsf": tff.nsf,
    "nsf(autoregressive)": lambda n, **kwargs: tff.nsf(n, autoregressive=True, **kwargs),
    "maf": tff.maf,
    "iaf": tff.iaf,
    "planar": tff.planar,
    "radial": tff.radial,
}


def run(
    target_name: str,
    seed: int,
    steps: int,
    batch_size: int,
    builder: str = "real_nvp",
    fit_kwargs: dict | None = None,
    **flow_kwargs,
) -> dict:
    target = TARGETS[target_name]()
    flow = BUILDERS[builder](2, seed=seed, **flow_kwargs)
    marks: list[tuple[int, float]] = []  # (step, time) at every log point

    def clock(step: int, logs: dict) -> None:
        marks.append((step, time.perf_counter()))

    started = time.perf_counter()
    tff.fit(
        flow,
        target,
        steps=steps,
        batch_size=batch_size,
        seed=seed,
        progress=False,
        callbacks=[clock],
        **(fit_kwargs or {}),
    )
    wall = time.perf_counter() - started
    gap = tff.metrics.kl_gap(flow, target, n=20_000, seed=10_000 + seed)
    (first_step, first_time), (last_step, last_time) = marks[0], marks[-1]
    step = (
        (last_time - first_time) / (last_step - first_step)
        if last_step > first_step
        else wall / steps
    )
    return {"gap": gap, "wall": wall, "step": step}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--builders", nargs="*", choices=list(BUILDERS), default=list(BUILDERS))
    parser.add_argument("--targets", nargs="*", choices=list(TARGETS), default=list(TARGETS))
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument(
        "--flow-kwargs",
        default="{}",
        help="JSON dict of builder arguments, e.g. '{\"bins\": 16}' (for screening)",
    )
    parser.add_argument(
        "--fit-kwargs",
        default="{}",
        help="JSON dict of fit arguments, e.g. '{\"learning_rate\": 3e-3}'",
    )
    args = parser.parse_args()
    flow_kwargs, fit_kwargs = json.loads(args.flow_kwargs), json.loads(args.fit_kwargs)
    if "hidden_units" in flow_kwargs:
        flow_kwargs["hidden_units"] = tuple(flow_kwargs["hidden_units"])
    shown = f"builder(2, **{flow_kwargs})" if flow_kwargs else "builder defaults"
    fit_shown = f"fit(**{fit_kwargs})" if fit_kwargs else "fit defaults"
    print(
        f"{shown}, {fit_shown}, {args.steps} steps at batch {args.batch_size}; KL gap (nats) "
        "on 20,000 fresh samples, ± standard error; ms/step in the steady state\n"
    )
    print(
        "| builder | target | "
        + " | ".join(f"seed {s}" for s in args.seeds)
        + " | median | goal (best flow) | ms/step |"
    )
    print("|---" * (len(args.seeds) + 5) + "|")
    for builder in args.builders:
        for name in args.targets:
            results = [
                run(name, seed, args.steps, args.batch_size, builder, fit_kwargs, **flow_kwargs)
                for seed in args.seeds
            ]
            gaps = [r["gap"] for r in results]
            median = float(np.median([g.mean for g in gaps]))
            step = 1000 * float(np.median([r["step"] for r in results]))
            print(
                f"| {builder} | {name} | "
                + " | ".join(str(g) for g in gaps)
                + f" | {median:.4f} | < {GOALS[name]} | {step:.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
