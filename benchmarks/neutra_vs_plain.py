"""NeuTra vs plain HMC / NUTS on the 10-D Neal's funnel with ``tff.inference.neutra``.

For each seed: fit a surrogate (``--flow default``: ``tff.inference.surrogate_posterior(model)``,
the package's default VI surrogate; or a family name, e.g. ``--flow real_nvp``), in the funnel's
``{"v", "x"}`` structure, with ``tfp.vi.fit_surrogate_posterior`` (Keras 3 ``Adam(1e-3)``,
``--vi-steps`` steps, ``--sample-size`` draws per step, ``jit_compile=True``); then run
``neutra`` with the flow and with ``plain=True`` (the identity instead of the flow),
with the same kernel, dual-averaging adaptation, budget, seed and starting points, for
each kernel in ``--kernels``. Reports max R-hat, ESS of ``v`` and the minimum ESS over
all 10 entries, both per 1,000 gradient evaluations of the sampling phase, the pooled
standard deviation of ``v`` (true 3), acceptance, step size and wall time. The issue's
goal: NeuTra R-hat < 1.05 and ESS per gradient >= 10x plain HMC.

    python benchmarks/neutra_vs_plain.py                      # seed 0, HMC and NUTS
    python benchmarks/neutra_vs_plain.py --seeds 0 1 2 --kernels hmc
    python benchmarks/neutra_vs_plain.py --seeds 0 1 2 --flow real_nvp
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault(
    "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
)

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_probability as tfp  # noqa: E402
from tensorflow_probability import distributions as tfd  # noqa: E402

import tfp_flows as tff  # noqa: E402
from tfp_flows.datasets.inference import neals_funnel  # noqa: E402
from tfp_flows.inference import HMC, NUTS, neutra  # noqa: E402

DIMS = 10


def funnel_surrogate(model, flow: str, seed: int) -> tfd.Distribution:
    """The surrogate of ``--flow`` over the funnel's ``{"v", "x"}`` structure."""
    if flow == "default":
        return tff.inference.surrogate_posterior(model, seed=seed)
    return tff.inference.surrogate_posterior(model, flow, seed=seed)


def row(name: str, result, vi_elbo: float | None) -> str:
    grads = result.num_gradient_evaluations
    ess_v = float(result.ess["v"])
    v_std = float(np.std(result.draws["v"].numpy()))
    elbo = "" if vi_elbo is None else f"{vi_elbo:.3f}"
    return (
        f"| {name} | {elbo} | {result.max_r_hat:.3f} | {ess_v:.0f} | "
        f"{1000 * ess_v / grads:.2f} | {1000 * result.min_ess_per_gradient:.2f} | {grads} | "
        f"{v_std:.2f} | {result.acceptance_rate:.2f} | {result.step_size:.3g} | "
        f"{result.wall_time:.0f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="*", type=int, default=[0])
    parser.add_argument("--kernels", nargs="*", default=["hmc", "nuts"])
    parser.add_argument("--vi-steps", type=int, default=2000)
    parser.add_argument("--sample-size", type=int, default=256)
    parser.add_argument("--chains", type=int, default=16)
    parser.add_argument("--burnin", type=int, default=1000)
    parser.add_argument("--results", type=int, default=1000)
    parser.add_argument("--leapfrog", type=int, default=8)
    parser.add_argument("--max-tree-depth", type=int, default=6)
    parser.add_argument(
        "--flow",
        default="default",
        help="'default' (the package's VI surrogate) or a flow family name",
    )
    args = parser.parse_args()
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    model = neals_funnel(DIMS).model

    print(
        f"10-D funnel. VI: surrogate_posterior(model, flow={args.flow!r}), "
        f"fit_surrogate_posterior, Adam(1e-3), "
        f"{args.vi_steps} steps, sample_size {args.sample_size}, jit. MCMC: {args.chains} "
        f"chains from the flow's samples, {args.burnin} burn-in (80% dual averaging), "
        f"{args.results} draws; HMC {args.leapfrog} leapfrog steps; NUTS max depth "
        f"{args.max_tree_depth}. ESS cross-chain; per 1k gradient evaluations while sampling.\n"
    )
    print(
        "| run | ELBO | R-hat max | ESS v | ESS v / 1k grad | min ESS / 1k grad | grads | "
        "std v (3) | accept | step | s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for seed in args.seeds:
        tf.keras.utils.set_random_seed(seed)
        surrogate = funnel_surrogate(model, args.flow, seed)
        started = time.perf_counter()
        tfp.vi.fit_surrogate_posterior(
            lambda v, x: model.log_prob({"v": v, "x": x}),
            surrogate,
            optimizer=keras.optimizers.Adam(1e-3),
            num_steps=args.vi_steps,
            sample_size=args.sample_size,
            jit_compile=True,
            seed=tf.constant([seed, 17]),
            trainable_variables=surrogate.trainable_variables,
        )
        vi_wall = time.perf_counter() - started
        draws, log_q = surrogate.experimental_sample_and_log_prob(8192, seed=[seed, 99])
        elbo = float(tf.reduce_mean(model.log_prob(draws) - log_q))
        print(f"| seed {seed}: VI {vi_wall:.0f} s | {elbo:.3f} |||||||||", flush=True)
        for kernel in args.kernels:
            ratios = {}
            for plain in (False, True):
                result = neutra(
                    model,
                    surrogate,
                    kernel=(
                        HMC(num_leapfrog_steps=args.leapfrog)
                        if kernel == "hmc"
                        else NUTS(max_tree_depth=args.max_tree_depth)
                    ),
                    num_chains=args.chains,
                    num_results=args.results,
                    num_burnin_steps=args.burnin,
                    plain=plain,
                    seed=seed,
                )
                name = f"seed {seed} {'plain' if plain else 'NeuTra'} {kernel.upper()}"
                print(row(name, result, None), flush=True)
                ratios[plain] = (
                    float(result.ess["v"]) / result.num_gradient_evaluations,
                    result.min_ess_per_gradient,
                )
            print(
                f"| seed {seed} {kernel.upper()}: NeuTra / plain ESS per gradient | | | | "
                f"{ratios[False][0] / ratios[True][0]:.1f}x | "
                f"{ratios[False][1] / ratios[True][1]:.1f}x ||||||",
                flush=True,
            )


if __name__ == "__main__":
    main()
