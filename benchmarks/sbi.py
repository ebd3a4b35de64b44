"""Neural posterior estimation on the SBI benchmark (sbibm), against its published NPE figures.

For each task and simulation budget: simulate the budget's pairs from the task's prior and
simulator (``tff.datasets.sbi_task``), train ``tff.inference.npe`` (defaults: nsf, the
prior's support, validation split, learning-rate cut and early stopping), draw 10,000 posterior
samples for each chosen benchmark observation and score them with ``tff.diagnostics.c2st``
against the benchmark's
10,000 reference posterior samples (read from the sbibm wheel's data files:
``pip install --no-deps sbibm``). Prints one row per task and budget: C2ST mean +- sd over the
observations, training wall time, and the published NPE (NSF) C2ST (Lueckmann et al. 2021).

    PYTHONPATH=. python benchmarks/sbi.py --task two_moons --budgets 1000 --observations 1-10
    (--task a,b: several tasks, any of tff.datasets.SBI_TASKS: two_moons, gaussian_linear,
    gaussian_linear_uniform, gaussian_mixture, slcp, bernoulli_glm;
    --sbc 200: also simulation-based calibration on 200 fresh simulations;
    --learning-rate 1e-3 --validate-every epoch --patience 30: npe with another peak rate,
    validating once per epoch and stopping after 30 validations without improvement;
    --lr-patience none: npe without its learning-rate cut, the default before 2026-12-07;
    --batch-size 128: npe's batch before 2026-12-08 at every budget (now 512 from
    tff.inference.LARGE_BATCH_PAIRS simulations);
    --figures DIR: the SBC rank ECDF plot, the parameter recovery plot of the SBC simulations
    (with --sbc) and the pairs plot of observation 1's posterior beside its reference samples,
    as PNGs: sbi_<task>_<budget>_{sbc,recovery,pairs}.png)

    PYTHONPATH=. python benchmarks/sbi.py --task two_moons --budgets 1000 --observations none \
        --sbc 200 --figures notebooks/figures
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

import tfp_flows as tff  # noqa: E402
from tfp_flows.training.callbacks import Validation  # noqa: E402


def observation_numbers(text: str) -> list[int]:
    """``"1-10"`` or ``"1,3,5"`` as a list of observation numbers (``"none"``: no C2ST)."""
    if text == "none":
        return []
    if "-" in text:
        first, last = (int(part) for part in text.split("-"))
        return list(range(first, last + 1))
    return [int(part) for part in text.split(",")]


def run(
    task_name: str,
    budget: int,
    observations: list[int],
    seed: int,
    sbc: int,
    figures: str | None = None,
    learning_rate: float | None = None,
    validate_every: str | None = None,
    patience: int | None = None,
    lr_patience: str | None = None,
    batch_size: int | None = None,
) -> dict:
    task = tff.datasets.sbi_task(task_name)
    theta, x = task.sample_pairs(budget, seed=seed)
    settings: dict[str, Any] = {}
    if learning_rate is not None:
        settings["learning_rate"] = learning_rate
    if batch_size is not None:  # 128: npe's batch at every budget before 2026-12-08
        settings["batch_size"] = batch_size
    if validate_every == "epoch":  # once per pass over the 90 % training split, of npe's batch
        batch = batch_size or tff.inference.default_batch_size(budget)
        settings["callbacks"] = [Validation(every=-(-int(0.9 * budget) // batch))]
    elif validate_every is not None:
        settings["callbacks"] = [Validation(every=int(validate_every))]
    if patience is not None:
        settings["patience"] = patience
    if lr_patience is not None:  # "none": never cut the rate (npe's default before 2026-12-07)
        settings["lr_patience"] = None if lr_patience == "none" else int(lr_patience)
    started = time.perf_counter()
    posterior = tff.inference.npe(theta.numpy(), x.numpy(), prior=task.prior, seed=seed, **settings)
    wall = time.perf_counter() - started
    print(f"  {task_name} n={budget} seed={seed}: trained in {wall:.0f} s", flush=True)
    scores = []
    scoring = time.perf_counter()
    for number in observations:
        samples = posterior.sample(10_000, task.observation(number), seed=seed + number).numpy()
        scores.append(tff.diagnostics.c2st(task.reference_samples(number), samples))
        print(
            f"  {task_name} n={budget} seed={seed} observation {number}: C2ST {scores[-1]:.3f}"
            f" ({time.perf_counter() - scoring:.0f} s scoring so far)",
            flush=True,
        )
    calibrated = "-"
    if sbc:
        # fresh simulations (another seed), 99 posterior samples each
        theta_test, x_test = task.sample_pairs(sbc, seed=seed + 10**6)
        theta_test, x_test = theta_test.numpy(), x_test.numpy()
        _, result = tff.diagnostics.sbc(posterior, theta_test, x_test, 99, seed=seed)
        calibrated = f"{int(result.inside.sum())}/{len(result.inside)} inside"
        print(f"  {task_name} n={budget} SBC ({sbc} simulations): {calibrated}", flush=True)
        if figures:
            save(tff.plotting.plot_sbc_ecdf(result), figures, task_name, budget, "sbc")
            variance = task.prior.variance().numpy()  # recovery: the same simulations, 200 draws
            recovered = tff.diagnostics.recovery(posterior, theta_test, x_test, variance, 200, seed)
            save(tff.plotting.plot_recovery(recovered), figures, task_name, budget, "recovery")
    if figures:
        number = observations[0] if observations else 1
        samples = posterior.sample(10_000, task.observation(number), seed=seed + number)
        pairs = tff.plotting.plot_posterior_pairs(
            samples,
            task.reference_samples(number),
            truth=task.true_parameters(number),
            labels=(f"NPE, {budget} simulations", "reference"),
        )
        pairs.suptitle(f"{task_name}, observation {number}", size="small")
        save(pairs, figures, task_name, budget, "pairs")
    return dict(scores=scores, wall=wall, steps=posterior.history.steps, sbc=calibrated)


def save(figure: Any, directory: str, task_name: str, budget: int, kind: str) -> None:
    """Writes ``figure`` as ``directory/sbi_<task>_<budget>_<kind>.png``."""
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"sbi_{task_name}_{budget}_{kind}.png")
    figure.savefig(path, dpi=110)
    print(f"  wrote {path}", flush=True)


def task_names(text: str) -> list[str]:
    """``"a,b"`` as task names, each checked against ``tff.datasets.SBI_TASKS``."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in tff.datasets.SBI_TASKS]
    if unknown or not names:
        raise SystemExit(
            f"--task: unknown task(s) {unknown or text!r}; expected a comma-separated list of "
            f"{sorted(tff.datasets.SBI_TASKS)}."
        )
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--task",
        "--tasks",
        dest="tasks",
        default="two_moons,gaussian_linear",
        help=f"comma-separated, of {', '.join(sorted(tff.datasets.SBI_TASKS))}",
    )
    parser.add_argument("--budgets", default="1000,10000")
    parser.add_argument("--observations", default="1-10")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sbc", type=int, default=0, help="simulations for an SBC check (0: none)")
    parser.add_argument(
        "--figures", default=None, help="directory for the SBC, recovery and pairs PNGs"
    )
    parser.add_argument(
        "--learning-rate", type=float, default=None, help="npe's peak learning rate (fit's default)"
    )
    parser.add_argument(
        "--validate-every",
        default=None,
        help="steps between validations, or 'epoch' (a pass over the training split); "
        "default npe's (tff.inference.VALIDATIONS_PER_RUN per run: every 20 steps of 2,000)",
    )
    parser.add_argument(
        "--patience", type=int, default=None, help="validations without improvement (npe's: 50)"
    )
    parser.add_argument(
        "--lr-patience",
        default=None,
        help="validations without improvement before the rate is cut (npe's: 10; 'none': never)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="pairs per step (npe's: 128, and 512 from tff.inference.LARGE_BATCH_PAIRS)",
    )
    args = parser.parse_args()
    observations = observation_numbers(args.observations)
    rows = []
    for task_name in task_names(args.tasks):
        for budget in (int(b) for b in args.budgets.split(",")):
            result = run(
                task_name,
                budget,
                observations,
                args.seed,
                args.sbc,
                args.figures,
                args.learning_rate,
                args.validate_every,
                args.patience,
                args.lr_patience,
                args.batch_size,
            )
            rows.append((task_name, budget, result))
    print()
    print(
        "| task | simulations | observations | C2ST mean +- sd | train wall s | steps "
        "| SBC params in 95 % band | published NPE |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for task_name, budget, result in rows:
        scores = np.asarray(result["scores"])
        c2st = f"{scores.mean():.3f} +- {scores.std():.3f}" if len(scores) else "-"
        published = tff.datasets.PUBLISHED_NPE_C2ST.get(task_name, {}).get(budget)
        shown = "-" if published is None else f"{published:.3f}"
        print(
            f"| {task_name} | {budget} | {len(scores)} | {c2st} "
            f"| {result['wall']:.0f} | {result['steps']} | {result['sbc']} | {shown} |"
        )


if __name__ == "__main__":
    main()
