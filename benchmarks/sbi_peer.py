"""sbi's NPE on the same two_moons simulations as ``benchmarks/sbi.py``, scored the same way.

Issue 22 asks for sbi's neural posterior estimation (NPE) side by side with ours at the same
simulation budgets. sbi needs its own PyTorch environment, so this script runs in three steps
with two interpreters (the sbi step never imports ``tfp_flows``; the other two never import
torch):

1. ``--export FILE`` with the project's Python: writes the exact simulations
   ``benchmarks/sbi.py`` trains on, ``tff.datasets.sbi_task("two_moons").sample_pairs(budget,
   seed=0)`` for each budget (``theta_<budget>``, ``x_<budget>``), and the benchmark's 10
   observations (``observations`` ``[10, 2]``; from the sbibm wheel's data files).
2. ``--sbi FILE --out OUT`` in a virtualenv with sbi 0.27 and torch: for each budget, sbi's
   ``NPE(prior=BoxUniform(-1, 1) x 2, density_estimator="nsf")`` (the prior of sbibm's
   two_moons) with ``append_simulations(theta, x).train()`` at sbi's default training settings
   (batch 200, Adam at 5e-4, 10 % validation, stop after 20 epochs without improvement), then
   ``posterior.sample((10000,), x=x_obs)`` for each observation. Training wall and process CPU
   time (``time.process_time``, ``torch.set_num_threads(1)``) are recorded. ``OUT`` holds
   ``samples_<budget>`` ``[10, 10000, 2]`` and the times. ``--train-kwargs JSON`` passes other
   ``train`` arguments, e.g. ``'{"training_batch_size": 10000}'``, the batch of sbibm's own NPE
   runs (its ``algorithms/sbi/snpe.py``, capped at the number of simulations: full batch).
   sbi writes TensorBoard logs to ``./sbi-logs`` (delete them afterwards).
3. ``--score OUT [OUT ...]`` with the project's Python: ``tff.diagnostics.c2st`` (sbibm's
   definition, the function ``benchmarks/sbi.py`` uses) of sbi's samples against the 10,000
   reference posterior samples of each observation; prints a table beside our ``npe`` figures
   (``benchmarks/README.md``) and the published NPE (Lueckmann et al. 2021).

``--time-ours FILE`` (project's Python) trains ``tff.inference.npe`` on the same exported pairs
as ``benchmarks/sbi.py`` does (the task's prior, seed 0) and prints its training wall and CPU
time, for the same comparison of cost (``tff.fit``'s threads as the environment sets them).

    # with the project's Python (the sbibm wheel installed: pip install --no-deps sbibm):
    PYTHONPATH=. python benchmarks/sbi_peer.py --export /tmp/two_moons_pairs.npz
    # in sbi's virtualenv (python3 -m venv /tmp/sbi-venv && /tmp/sbi-venv/bin/pip install
    #   torch==2.13.0 && /tmp/sbi-venv/bin/pip install "sbi==0.27.*"):
    /tmp/sbi-venv/bin/python benchmarks/sbi_peer.py --sbi /tmp/two_moons_pairs.npz \\
        --budgets 1000 --out /tmp/sbi_npe_1000.npz
    # with the project's Python again:
    PYTHONPATH=. python benchmarks/sbi_peer.py --score /tmp/sbi_npe_1000.npz
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

TASK = "two_moons"
BUDGETS = (1_000, 10_000)
OBSERVATIONS = tuple(range(1, 11))
# our tff.inference.npe (defaults, training seed 0) on the same simulations: benchmarks/README.md,
# "`sbi.py`" section (10^3: its first table; 10^4: "10^4 simulations, and bernoulli_glm")
OURS = {1_000: (0.660, 0.058), 10_000: (0.580, 0.060)}


def export(path: str, budgets: list[int], seed: int) -> None:
    """Writes ``sample_pairs(budget, seed)`` of two_moons for each budget and the 10 observations."""
    import tfp_flows as tff

    task = tff.datasets.sbi_task(TASK)
    arrays: dict[str, np.ndarray] = {}
    for budget in budgets:
        theta, x = task.sample_pairs(budget, seed=seed)
        arrays[f"theta_{budget}"] = theta.numpy()
        arrays[f"x_{budget}"] = x.numpy()
    arrays["observations"] = np.stack([task.observation(n) for n in OBSERVATIONS])
    np.savez(path, budgets=np.asarray(budgets), seed=seed, **arrays)
    print(f"wrote {TASK}'s pairs for budgets {budgets} (seed {seed}) and 10 observations to {path}")


def time_ours(path: str, budgets: list[int] | None, seed: int) -> None:
    """Trains ``tff.inference.npe`` as ``benchmarks/sbi.py`` does on the exported pairs; its times."""
    import tfp_flows as tff

    task = tff.datasets.sbi_task(TASK)
    data = np.load(path)
    for budget in budgets or [int(b) for b in data["budgets"]]:
        load = os.getloadavg()[0]
        started, cpu_started = time.perf_counter(), time.process_time()
        posterior = tff.inference.npe(
            data[f"theta_{budget}"], data[f"x_{budget}"], prior=task.prior, seed=seed
        )
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        print(
            f"tff.inference.npe on {budget} simulations trained in {wall:.1f} s wall, {cpu:.1f} s "
            f"CPU, {posterior.history.steps} steps (load {load:.1f})",
            flush=True,
        )


def run_sbi(
    path: str, out: str, budgets: list[int] | None, seed: int, train_kwargs: dict | None = None
) -> None:
    """sbi's NPE (nsf) per budget; 10,000 posterior samples per observation.

    ``train_kwargs`` go to ``NPE.train`` (none: sbi's default training settings).
    """
    # this script's folder holds benchmarks/sbi.py, which would shadow the sbi package
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    import sbi
    import torch
    from sbi.inference import NPE
    from sbi.utils import BoxUniform

    torch.set_num_threads(1)
    data = np.load(path)
    budgets = budgets or [int(b) for b in data["budgets"]]
    observations = torch.as_tensor(data["observations"], dtype=torch.float32)
    results: dict[str, np.ndarray] = {}
    for budget in budgets:
        theta = torch.as_tensor(data[f"theta_{budget}"], dtype=torch.float32)
        x = torch.as_tensor(data[f"x_{budget}"], dtype=torch.float32)
        torch.manual_seed(seed)
        prior = BoxUniform(low=-torch.ones(2), high=torch.ones(2))  # sbibm's two_moons prior
        load = os.getloadavg()[0]
        started, cpu_started = time.perf_counter(), time.process_time()
        inference = NPE(prior=prior, density_estimator="nsf", show_progress_bars=False)
        estimator = inference.append_simulations(theta, x).train(**(train_kwargs or {}))
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        posterior = inference.build_posterior(estimator)
        epochs = int(inference.summary["epochs_trained"][-1])
        weights = sum(p.numel() for p in estimator.parameters())
        print(
            f"\nsbi {sbi.__version__}, torch {torch.__version__}: NPE nsf ({weights} weights) on "
            f"{budget} simulations trained in {wall:.1f} s wall, {cpu:.1f} s CPU, {epochs} "
            f"epochs (load {load:.1f})",
            flush=True,
        )
        samples = []
        sampling, sampling_cpu = time.perf_counter(), time.process_time()
        for x_obs in observations:
            drawn = posterior.sample((10_000,), x=x_obs[None], show_progress_bars=False)
            samples.append(drawn.numpy())
        sample_wall = time.perf_counter() - sampling
        sample_cpu = time.process_time() - sampling_cpu
        print(
            f"  10 x 10,000 posterior samples in {sample_wall:.1f} s wall, {sample_cpu:.1f} s CPU",
            flush=True,
        )
        results.update(
            {
                f"samples_{budget}": np.stack(samples),
                f"wall_{budget}": wall,
                f"cpu_{budget}": cpu,
                f"epochs_{budget}": epochs,
                f"sample_wall_{budget}": sample_wall,
                f"sample_cpu_{budget}": sample_cpu,
                f"load_{budget}": load,
            }
        )
        np.savez(  # after each budget, so that a finished budget survives a stopped run
            out,
            budgets=np.asarray(budgets[: budgets.index(budget) + 1]),
            seed=seed,
            weights=weights,
            sbi_version=sbi.__version__,
            torch_version=torch.__version__,
            train_kwargs=json.dumps(train_kwargs or {}),
            **results,
        )
    print(f"wrote {out}")


def score(paths: list[str]) -> None:
    """C2ST of sbi's samples against the reference, per observation; the table."""
    import tfp_flows as tff

    task = tff.datasets.sbi_task(TASK)
    rows = []
    for path in paths:
        data = np.load(path)
        versions = f"sbi {data['sbi_version']}, torch {data['torch_version']}"
        if "train_kwargs" in data.files and json.loads(str(data["train_kwargs"])):
            versions += f", train(**{data['train_kwargs']})"
        for budget in (int(b) for b in data["budgets"]):
            samples = data[f"samples_{budget}"]
            scores = []
            started, cpu_started = time.perf_counter(), time.process_time()
            for number, drawn in zip(OBSERVATIONS, samples, strict=True):
                scores.append(tff.diagnostics.c2st(task.reference_samples(number), drawn))
                print(
                    f"  sbi NPE n={budget} observation {number}: C2ST {scores[-1]:.3f} "
                    f"({time.perf_counter() - started:.0f} s wall, "
                    f"{time.process_time() - cpu_started:.0f} s CPU scoring so far, "
                    f"load {os.getloadavg()[0]:.1f})",
                    flush=True,
                )
            rows.append((budget, versions, np.asarray(scores), data))
    print()
    print(
        "| simulations | model | C2ST mean +- sd | per observation 1-10 | train wall s "
        "| train CPU s | epochs | published NPE (NSF) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for budget, versions, scores, data in rows:
        published = tff.datasets.PUBLISHED_NPE_C2ST[TASK][budget]
        per = ", ".join(f"{s:.3f}" for s in scores)
        print(
            f"| {budget} | sbi NPE ({versions}) | {scores.mean():.3f} +- {scores.std():.3f} "
            f"| {per} | {float(data[f'wall_{budget}']):.0f} | {float(data[f'cpu_{budget}']):.0f} "
            f"| {int(data[f'epochs_{budget}'])} | {published:.3f} |"
        )
        if budget in OURS:
            mean, sd = OURS[budget]
            print(
                f"| {budget} | tff.inference.npe (benchmarks/README.md) | {mean:.3f} +- {sd:.3f} "
                f"| | | | | {published:.3f} |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    step = parser.add_mutually_exclusive_group(required=True)
    step.add_argument("--export", metavar="FILE", help="project's Python: write the pairs here")
    step.add_argument("--sbi", metavar="FILE", help="sbi's Python: train on the exported pairs")
    step.add_argument("--score", metavar="OUT", nargs="+", help="project's Python: C2ST, table")
    step.add_argument(
        "--time-ours", metavar="FILE", help="project's Python: train our npe on FILE, its times"
    )
    parser.add_argument("--out", help="with --sbi: where to write sbi's posterior samples")
    parser.add_argument(
        "--budgets",
        default=None,
        help="comma-separated (--export default 1000,10000; --sbi default: all exported)",
    )
    parser.add_argument("--seed", type=int, default=0, help="simulations (--export), torch (--sbi)")
    parser.add_argument(
        "--train-kwargs",
        default="{}",
        help="with --sbi: JSON of NPE.train arguments (default {}: sbi's defaults), e.g. "
        "'{\"training_batch_size\": 10000}' as sbibm's NPE runs",
    )
    args = parser.parse_args()
    budgets = [int(b) for b in args.budgets.split(",")] if args.budgets else None
    if args.export:
        export(args.export, budgets or list(BUDGETS), args.seed)
    elif args.sbi:
        if not args.out:
            parser.error("--sbi needs --out OUT.npz")
        run_sbi(args.sbi, args.out, budgets, args.seed, json.loads(args.train_kwargs))
    elif args.time_ours:
        time_ours(args.time_ours, budgets, args.seed)
    else:
        score(args.score)


if __name__ == "__main__":
    main()
