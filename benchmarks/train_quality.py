"""KL gap to the truth after training ``real_nvp(2)`` with ``fit``'s defaults.

For each target and seed: build ``tff.real_nvp(event_size=2)``, train it with
``tff.fit(flow, target, steps=5000, batch_size=256)`` (fresh target samples every
step), then measure ``kl_gap`` on 20,000 fresh samples. Prints a markdown table
with every seed and the median.

    python benchmarks/train_quality.py                 # the full table (~3-5 min, 2 cores)
    python benchmarks/train_quality.py --steps 1000 --seeds 0
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
GOALS = {"banana": 0.003, "moons(0.05)": 0.025, "moons(0.1)": 0.02}
BUILDERS = {"real_nvp": tff.real_nvp, "nice": tff.nice, "nsf": tff.nsf}


def run(target_name: str, seed: int, steps: int, batch_size: int, builder: str = "real_nvp",
        fit_kwargs: dict | None = None, **flow_kwargs) -> dict:
    target = TARGETS[target_name]()
    flow = BUILDERS[builder](2, seed=seed, **flow_kwargs)
    started = time.perf_counter()
    tff.fit(flow, target, steps=steps, batch_size=batch_size, seed=seed, progress=False,
            **(fit_kwargs or {}))
    wall = time.perf_counter() - started
    gap = tff.metrics.kl_gap(flow, target, n=20_000, seed=10_000 + seed)
    return {"gap": gap, "wall": wall, "step": wall / steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", nargs="*", default=list(TARGETS))
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--builder", choices=sorted(BUILDERS), default="real_nvp")
    parser.add_argument("--flow-kwargs", default="{}",
                        help="JSON dict of builder arguments, e.g. '{\"bins\": 16}' (for screening)")
    parser.add_argument("--fit-kwargs", default="{}",
                        help="JSON dict of fit arguments, e.g. '{\"learning_rate\": 3e-3}'")
    args = parser.parse_args()
    flow_kwargs, fit_kwargs = json.loads(args.flow_kwargs), json.loads(args.fit_kwargs)
    if "hidden_units" in flow_kwargs:
        flow_kwargs["hidden_units"] = tuple(flow_kwargs["hidden_units"])
    shown = args.builder + (f"(2, **{flow_kwargs})" if flow_kwargs else "(2)")
    fit_shown = f"fit(**{fit_kwargs})" if fit_kwargs else "fit defaults"
    print(f"{shown} defaults, {fit_shown}, {args.steps} steps at batch {args.batch_size}; "
          "KL gap (nats) on 20,000 fresh samples, ± standard error\n")
    print("| target | " + " | ".join(f"seed {s}" for s in args.seeds)
          + " | median | goal | s/run | ms/step |")
    print("|---" * (len(args.seeds) + 5) + "|")
    for name in args.targets:
        results = [run(name, seed, args.steps, args.batch_size, args.builder, fit_kwargs,
                       **flow_kwargs)
                   for seed in args.seeds]
        gaps = [r["gap"] for r in results]
        median = float(np.median([g.mean for g in gaps]))
        wall = float(np.mean([r["wall"] for r in results]))
        step = 1000 * float(np.mean([r["step"] for r in results]))
        print(f"| {name} | " + " | ".join(str(g) for g in gaps)
              + f" | {median:.4f} | < {GOALS.get(name, float('nan'))} | {wall:.1f} | {step:.2f} |",
              flush=True)


if __name__ == "__main__":
    main()
