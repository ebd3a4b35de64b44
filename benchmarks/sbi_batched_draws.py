"""CPU time of the SBC and recovery diagnostics: per-observation draws against batched draws.

Trains a small NPE on two moons, then computes ``tff.diagnostics.sbc_ranks`` and
``tff.diagnostics.recovery`` twice on the same fresh simulations: through a
wrapper that only has ``sample`` (one observation per call, the diagnostics'
path before ``AmortizedPosterior.sample_batch``) and through the posterior
itself (``sample_batch``, up to 100,000 draws per call). Both use seed
``seed + i`` for observation ``i``, so the results must agree.

Usage:
    PYTHONPATH=. python benchmarks/sbi_batched_draws.py [--observations 200] [--sbc-draws 99]
        [--recovery-draws 1000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import tfp_flows as tff


def timed(function, *args, **kwargs):
    wall, cpu = time.perf_counter(), time.process_time()
    result = function(*args, **kwargs)
    return result, time.process_time() - cpu, time.perf_counter() - wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--observations", type=int, default=200)
    parser.add_argument("--sbc-draws", type=int, default=99)
    parser.add_argument("--recovery-draws", type=int, default=1000)
    args = parser.parse_args()
    task = tff.datasets.sbi_task("two_moons")
    theta, x = task.sample_pairs(1000, seed=0)
    small = lambda event_size, context_size: tff.nsf(  # noqa: E731
        event_size, num_layers=2, hidden_units=(32, 32), bins=8, context_size=context_size
    )
    posterior = tff.inference.npe(
        theta.numpy(), x.numpy(), prior=task.prior, flow=small, steps=300, seed=0
    )
    theta_test, x_test = task.sample_pairs(args.observations, seed=10**6)
    theta_test, x_test = theta_test.numpy(), x_test.numpy()

    class OneByOne:  # the per-observation path: no sample_batch
        sample = posterior.sample

    variance = task.prior.variance().numpy()
    rows = []
    for name, run in [
        (
            f"sbc_ranks, {args.observations} x {args.sbc_draws}",
            lambda p: tff.diagnostics.sbc_ranks(p, theta_test, x_test, args.sbc_draws, seed=2),
        ),
        (
            f"recovery, {args.observations} x {args.recovery_draws}",
            lambda p: tff.diagnostics.recovery(
                p, theta_test, x_test, variance, num_samples=args.recovery_draws, seed=3
            ),
        ),
    ]:
        before, cpu_before, wall_before = timed(run, OneByOne())
        after, cpu_after, wall_after = timed(run, posterior)
        if isinstance(before, np.ndarray):
            same = f"ranks equal: {np.array_equal(before, after)}"
        else:
            gap = np.max(np.abs(before.median - after.median))
            same = f"medians differ by at most {gap:.1e}"
        rows.append((name, cpu_before, cpu_after, wall_before, wall_after, same))
        print(
            f"{name}: per observation {cpu_before:.2f} s CPU ({wall_before:.2f} s wall), batched "
            f"{cpu_after:.2f} s CPU ({wall_after:.2f} s wall): {cpu_before / cpu_after:.1f}x; {same}",
            flush=True,
        )
    print("\n| diagnostic | per observation (CPU s) | batched (CPU s) | speed-up | results |")
    print("|---|---|---|---|---|")
    for name, cpu_before, cpu_after, _, _, same in rows:
        print(
            f"| {name} | {cpu_before:.2f} | {cpu_after:.2f} | {cpu_before / cpu_after:.1f}x | {same} |"
        )


if __name__ == "__main__":
    main()
