"""npe's training settings ranked by the held-out loss on fresh simulations of the SBI benchmark's tasks.

For each task and budget: the budget's simulated pairs (seed 0, as ``benchmarks/sbi.py``), and
20,000 fresh pairs of the same simulator (seed 12345). Each setting trains
``tff.inference.npe`` (seed 0) and is scored by the mean of ``-log q(theta_i | x_i)`` over the
fresh pairs (``AmortizedPosterior.log_prob_batch``). That mean is

    E_x KL(p(theta | x) || q(theta | x)) + H(theta | x),

the expected KL divergence to the true posterior plus a constant of the task: the difference
between two settings, paired over the same fresh pairs, is the difference of their expected KL
divergences, with no reference samples and no classifier (a C2ST of one 10-D observation costs
about 5 minutes of a core; this costs one training run). For gaussian_linear, whose posterior
is N(x / 2, 0.05 I) exactly, the KL itself is printed too.

    PYTHONPATH=. python benchmarks/npe_heldout.py --tasks two_moons,gaussian_linear \
        --budgets 1000,10000 --settings default,no_lr_cut
    (settings: default (npe's: lr_patience=10), no_lr_cut (lr_patience=None, the default
    before 2026-12-07), lr_patience5, lr_patience20, lr1e-3, batch512; for 10^5 simulations,
    where npe's batch is 512: batch128 (the default before 2026-12-08), batch128_no_lr_cut,
    batch128_steps31250, batch128_lr_patience20_patience100, batch512_20_passes)
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

import tfp_flows as tff  # noqa: E402

SETTINGS = {
    "default": dict(),
    "no_lr_cut": dict(lr_patience=None),
    "lr_patience5": dict(lr_patience=5),
    "lr_patience20": dict(lr_patience=20),
    "lr1e-3": dict(learning_rate=1e-3, lr_patience=None),
    "batch512": dict(batch_size=512, lr_patience=None),
    # At 10^5 simulations (npe's default there is batch 512 for max(2000, 20 n / 128) steps):
    "batch128": dict(batch_size=128),  # the default before 2026-12-08
    "batch128_no_lr_cut": dict(batch_size=128, lr_patience=None),
    "batch128_steps31250": dict(batch_size=128, steps=31250),
    "batch128_lr_patience20_patience100": dict(batch_size=128, lr_patience=20, patience=100),
    "batch512_20_passes": dict(batch_size=512),  # 20 passes of your batch: 3,906 steps at 10^5
}
FRESH_PAIRS = 20_000


def gaussian_linear_log_posterior(theta: np.ndarray, x: np.ndarray) -> np.ndarray:
    """log p(theta | x) of sbibm's gaussian_linear: N(x / 2, 0.05 I_10)."""
    return -0.5 * np.sum((theta - x / 2) ** 2, -1) / 0.05 - 5 * np.log(2 * np.pi * 0.05)


def held_out_nll(posterior: tff.inference.AmortizedPosterior, theta, x) -> np.ndarray:
    """``-log q(theta_i | x_i)`` per fresh pair, in batches of 5,000."""
    parts = [
        -posterior.log_prob_batch(theta[i : i + 5000], x[i : i + 5000]).numpy()
        for i in range(0, len(theta), 5000)
    ]
    return np.concatenate(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="two_moons,gaussian_linear")
    parser.add_argument("--budgets", default="1000,10000")
    parser.add_argument("--settings", default="default,no_lr_cut", help=", ".join(SETTINGS))
    args = parser.parse_args()
    names = args.settings.split(",")
    unknown = [name for name in names if name not in SETTINGS]
    if unknown:
        raise SystemExit(f"--settings: unknown {unknown}; expected some of {list(SETTINGS)}.")
    print(
        f"| task | simulations | setting | steps | best step | rate scale | train s "
        f"| held-out NLL +- se | minus {names[0]}'s (paired) +- se | KL to the truth |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for task_name in args.tasks.split(","):
        task = tff.datasets.sbi_task(task_name)
        theta_fresh, x_fresh = (t.numpy() for t in task.sample_pairs(FRESH_PAIRS, seed=12345))
        for budget in (int(b) for b in args.budgets.split(",")):
            theta, x = (t.numpy() for t in task.sample_pairs(budget, seed=0))
            first = None
            for name in names:
                started = time.perf_counter()
                posterior = tff.inference.npe(theta, x, prior=task.prior, seed=0, **SETTINGS[name])
                wall = time.perf_counter() - started
                nll = held_out_nll(posterior, theta_fresh, x_fresh)
                first = nll if first is None else first
                difference = nll - first
                kl = "-"
                if task_name == "gaussian_linear":
                    log_p = gaussian_linear_log_posterior(theta_fresh, x_fresh)
                    kl = f"{np.mean(log_p + nll):.4f}"
                history = posterior.history
                print(
                    f"| {task_name} | {budget} | {name} | {history.steps} | {history.best_step} "
                    f"| {history.learning_rate_scale:.4f} | {wall:.0f} "
                    f"| {nll.mean():.4f} +- {nll.std() / np.sqrt(len(nll)):.4f} "
                    f"| {difference.mean():+.4f} +- {difference.std() / np.sqrt(len(nll)):.4f} "
                    f"| {kl} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
