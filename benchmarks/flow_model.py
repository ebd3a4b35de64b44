"""``FlowModel`` (the Keras 3 training path) against ``tff.fit`` on the two moons: KL gap and wall time.

Every method trains the same flow (``tff.real_nvp(2, seed=s)``, the builder's
defaults) on the same array of two-moons samples (``tff.datasets.Moons(noise=0.05)``,
``--rows`` rows) for the same number of optimizer steps at the same batch size
(``epochs = steps * batch / rows``), then the KL gap to the exact density is
measured on 20,000 fresh samples. Rows of the table:

* ``tff.fit defaults``: ``tff.fit(flow, x, steps=..., batch_size=...)``;
* ``FlowModel defaults``: ``model = tff.FlowModel(flow); model.fit(x, epochs=..., batch_size=...)``
  (no ``compile`` call: ``fit``'s own optimizer and compiled multi-step execution);
* ``FlowModel + compile(Adam(1e-3))``: the same after
  ``model.compile(optimizer=keras.optimizers.Adam(1e-3))`` (Keras's constant rate);
* ``--keras-io``: also keras.io's "Density estimation using Real NVP" settings
  (``Adam(1e-4)``, 300 epochs of batch 256 over 70% of 3000 points ~ 2,500 steps),
  here ``Adam(1e-4)`` on the same budget.

The KL gap is the mean over seeds ± its standard error over seeds (each seed's
own Monte Carlo standard error is < 0.002 at n=20,000); wall time is the
``fit`` call including its compilation (median over seeds).

    python benchmarks/flow_model.py                         # 2000 steps, 3 seeds (~3 min, 2 cores)
    python benchmarks/flow_model.py --steps 5000 --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import tfp_flows as tff  # noqa: E402


def train(method: str, x: np.ndarray, seed: int, steps: int, batch_size: int):
    """Trains a fresh ``real_nvp(2, seed=seed)`` on ``x`` by ``method``; returns (flow, seconds)."""
    flow = tff.real_nvp(2, seed=seed)
    epochs = steps * batch_size // x.shape[0]
    keras.utils.set_random_seed(seed)  # Keras shuffles the batches
    started = time.perf_counter()
    if method == "tff.fit defaults":
        tff.fit(flow, x, steps=steps, batch_size=batch_size, seed=seed, progress=False)
    else:
        model = tff.FlowModel(flow)
        if method != "FlowModel defaults":
            rate = {
                "FlowModel + compile(Adam(1e-3))": 1e-3,
                "FlowModel + compile(Adam(1e-4)) (keras.io)": 1e-4,
            }[method]
            model.compile(optimizer=keras.optimizers.Adam(rate))
        model.fit(x, epochs=epochs, batch_size=batch_size, verbose=0)
    return flow, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument(
        "--rows",
        type=int,
        default=25_600,
        help="training rows (steps * batch / rows epochs; a whole number)",
    )
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    parser.add_argument(
        "--keras-io",
        action="store_true",
        help="add a row with keras.io's Real NVP example's Adam(1e-4)",
    )
    args = parser.parse_args()
    if (args.steps * args.batch_size) % args.rows:
        parser.error(
            f"steps * batch_size must be a multiple of --rows, got {args.steps} * "
            f"{args.batch_size} and {args.rows}."
        )
    target = tff.datasets.Moons(noise=0.05)
    methods = ["tff.fit defaults", "FlowModel defaults", "FlowModel + compile(Adam(1e-3))"]
    if args.keras_io:
        methods.append("FlowModel + compile(Adam(1e-4)) (keras.io)")
    print(
        f"real_nvp(2) on Moons(noise=0.05): {args.rows} training rows, {args.steps} steps at "
        f"batch {args.batch_size} ({args.steps * args.batch_size // args.rows} epochs); KL gap "
        f"(nats, 20,000 fresh samples) mean over seeds {args.seeds} ± s.e. over seeds; "
        "wall time of the fit call (with compilation), median over seeds\n"
    )
    gaps = {method: [] for method in methods}
    times = {method: [] for method in methods}
    for seed in args.seeds:  # every method on a seed before the next: the machine's load is shared
        x = target.sample(args.rows, seed=seed).numpy()
        for method in methods:
            flow, seconds = train(method, x, seed, args.steps, args.batch_size)
            gaps[method].append(tff.metrics.kl_gap(flow, target, n=20_000, seed=10_000 + seed).mean)
            times[method].append(seconds)
    print("| method | steps | KL gap | per seed | wall time (s) |")
    print("|---|---|---|---|---|")
    for method in methods:
        mean = float(np.mean(gaps[method]))
        stderr = (
            float(np.std(gaps[method], ddof=1) / np.sqrt(len(args.seeds)))
            if len(args.seeds) > 1
            else float("nan")
        )
        print(
            f"| {method} | {args.steps} | {mean:.4f} ± {stderr:.4f} | "
            + ", ".join(f"{g:.4f}" for g in gaps[method])
            + f" | {np.median(times[method]):.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
