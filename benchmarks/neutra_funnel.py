"""NeuTra HMC on a 10-D Neal's funnel with a ``real_nvp`` surrogate, per log-scale parametrisation.

Issue 9, item 2: the log-scale bound of the affine coupling must not cripple inference. For
each flow configuration and seed this script

1. fits ``tff.real_nvp(10, ...)`` to the funnel with ``tfp.vi.fit_surrogate_posterior``
   (Keras 3 Adam, ``--vi-steps`` steps, ``--sample-size`` draws per step, ``jit_compile=True``)
   and reports the ELBO (on 8,192 fresh draws; the funnel is normalised, so ELBO = -KL <= 0);
2. runs NeuTra HMC: ``TransformedTransitionKernel(HamiltonianMonteCarlo, flow.bijector)`` in
   ``DualAveragingStepSizeAdaptation``, ``--chains`` chains started from the flow's samples;
3. runs plain HMC with the same adaptation, step counts and leapfrog steps (once per seed,
   started from exact funnel draws, i.e. as favourably as possible), and reports for both
   R-hat (``tfp.mcmc.potential_scale_reduction``, max over the 10 dims), cross-chain ESS
   (``tfp.mcmc.effective_sample_size``; min over dims and of ``v``), ESS of ``v`` per 1,000
   gradient evaluations of the sampling phase (chains x results x leapfrog steps), the
   pooled std of ``v`` (true value 3) and wall times.

The target (``v`` is coordinate 0; the hard coordinate)::

    v ~ N(0, 3^2),   x_i | v ~ N(0, exp(v / 2)^2),  i = 1..9

Log-scale parametrisations (prototypes by monkeypatching ``AffineCoupling._shift_and_log_scale``;
``r`` is the conditioner's raw output, ``c`` the layer's ``log_scale_bound`` variable)::

    tanh       s = c * tanh(r)                 today's (c learned, started at the bound)
    softclamp  s = c * tanh(r / c)             slope 1 at r = 0
    rational   s = r / (1 + |r| / c)           zuko's MonotonicAffineTransform (c = log 1e3)
    softplus   s = log(softplus(r + a) + eps)  flowjax / old zuko (a: identity at r = 0); no c

A configuration is ``NAME[:BOUND[:fixed|learned]]`` (default bound 2, learned for ``tanh``,
fixed for the others), crossed with ``--mixing``. ``--density`` instead trains the same
configurations on banana / moons exactly as ``benchmarks/train_quality.py`` does and prints
KL gaps; ``--finite`` checks float32 outputs stay finite for inputs of 1e4.

    python benchmarks/neutra_funnel.py --configs tanh:2 tanh:5 softclamp:8 --seeds 0 1 2
    python benchmarks/neutra_funnel.py --configs tanh:2 --mixing none
    python benchmarks/neutra_funnel.py --density --configs softclamp:8 --seeds 0 1 2
    python benchmarks/neutra_funnel.py --finite --configs tanh:2 softclamp:8 softplus
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault(
    "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
)

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_probability as tfp  # noqa: E402
from tensorflow_probability.python.internal import unnest  # noqa: E402

import tfp_flows as tff  # noqa: E402
from tfp_flows.bijectors.coupling import AffineCoupling  # noqa: E402
from tfp_flows.nn import MLPFactory

tfd = tfp.distributions
DIMS = 10

# --- log-scale parametrisations ------------------------------------------------------------

_SOFTPLUS_EPS = 1e-3
_SOFTPLUS_SHIFT = math.log(math.expm1(1.0 - _SOFTPLUS_EPS))  # softplus(a) + eps = 1


def _tanh(self, params):
    shift, raw = tf.split(params, 2, axis=-1)
    return shift, self.log_scale_bound * tf.math.tanh(raw)


def _softclamp(self, params):
    shift, raw = tf.split(params, 2, axis=-1)
    c = self.log_scale_bound
    return shift, c * tf.math.tanh(raw / c)


def _rational(self, params):
    shift, raw = tf.split(params, 2, axis=-1)
    return shift, raw / (1.0 + tf.abs(raw) / self.log_scale_bound)


def _softplus(self, params):
    shift, raw = tf.split(params, 2, axis=-1)
    return shift, tf.math.log(tf.math.softplus(raw + _SOFTPLUS_SHIFT) + _SOFTPLUS_EPS)


PARAMETRISATIONS = {
    "tanh": _tanh,
    "softclamp": _softclamp,
    "rational": _rational,
    "softplus": _softplus,
}
DEFAULT_LEARNED = {"tanh": True, "softclamp": False, "rational": False, "softplus": False}


class Config:
    """One flow configuration: parametrisation, bound, learned or fixed bound, mixing."""

    def __init__(self, spec: str, mixing: str | None):
        parts = spec.split(":")
        self.kind = parts[0]
        if self.kind not in PARAMETRISATIONS:
            raise SystemExit(
                f"unknown parametrisation {self.kind!r}; choose from {sorted(PARAMETRISATIONS)}"
            )
        self.bound = (
            float(parts[1])
            if len(parts) > 1
            else (math.log(1e3) if self.kind == "rational" else 2.0)
        )
        self.learned = (parts[2] == "learned") if len(parts) > 2 else DEFAULT_LEARNED[self.kind]
        if self.kind == "softplus":
            self.learned = False
        self.mixing = mixing

    def __str__(self) -> str:
        if self.kind == "softplus":
            core = "softplus"
        else:
            core = f"{self.kind} c={self.bound:g} {'learned' if self.learned else 'fixed'}"
        return f"{core}, mixing={self.mixing or 'none'}"

    def activate(self) -> None:
        """Installs this parametrisation on ``AffineCoupling`` (before building and tracing)."""
        AffineCoupling._shift_and_log_scale = PARAMETRISATIONS[self.kind]

    def fix_layer(self, layer: AffineCoupling) -> None:
        """Makes the layer's bound a constant (non-trainable) unless it is learned."""
        if not self.learned:
            value = layer.log_scale_bound.numpy()
            layer.log_scale_bound = tf.Variable(
                value, trainable=False, name="log_scale_bound_fixed"
            )

    def build(self, event_size: int, seed: int):
        self.activate()
        flow = tff.real_nvp(event_size, seed=seed, log_scale_bound=self.bound, mixing=self.mixing)
        for layer in coupling_layers(flow):
            self.fix_layer(layer)
        return flow


def coupling_layers(flow) -> list[AffineCoupling]:
    return [b for b in flow.bijector.bijectors if isinstance(b, AffineCoupling)]


def bound_summary(flow) -> str:
    """max |c| over the flow's coupling layers (shows how far a learned bound moved)."""
    values = np.concatenate(
        [np.abs(layer.log_scale_bound.numpy()) for layer in coupling_layers(flow)]
    )
    return f"{values.max():.2f}"


# --- the funnel ----------------------------------------------------------------------------


def funnel_log_prob(z):
    v, x = z[..., 0], z[..., 1:]
    lp_v = tfd.Normal(tf.constant(0.0, z.dtype), 3.0).log_prob(v)
    lp_x = tf.reduce_sum(tfd.Normal(0.0, tf.exp(v / 2.0)[..., None]).log_prob(x), axis=-1)
    return lp_v + lp_x


def funnel_sample(n: int, seed: int) -> tf.Tensor:
    rng = np.random.default_rng(seed)
    v = 3.0 * rng.standard_normal(n)
    x = np.exp(v / 2.0)[:, None] * rng.standard_normal((n, DIMS - 1))
    return tf.constant(np.concatenate([v[:, None], x], axis=1), tf.float32)


def fit_vi(flow, steps: int, sample_size: int, lr: float, seed: int) -> float:
    import keras

    started = time.perf_counter()
    losses = tfp.vi.fit_surrogate_posterior(
        funnel_log_prob,
        flow,
        optimizer=keras.optimizers.Adam(lr),
        num_steps=steps,
        sample_size=sample_size,
        jit_compile=True,
        seed=tf.constant([seed, 17]),
    )
    wall = time.perf_counter() - started
    if not np.all(np.isfinite(losses.numpy())):
        print(f"  warning: {np.sum(~np.isfinite(losses.numpy()))} non-finite VI losses")
    return wall


def elbo(flow, n: int, seed: int) -> float:
    z, lq = flow.experimental_sample_and_log_prob(n, seed=tf.constant([seed, 99]))
    return float(tf.reduce_mean(funnel_log_prob(z) - lq))


def run_hmc(init: tf.Tensor, bijector, args, seed: int) -> dict:
    """DualAveraging-adapted HMC (through ``bijector`` if given); diagnostics of the draws."""
    adapt = int(0.8 * args.burnin)

    def kernel():
        inner = tfp.mcmc.HamiltonianMonteCarlo(
            funnel_log_prob, step_size=args.step_size, num_leapfrog_steps=args.leapfrog
        )
        if bijector is not None:
            inner = tfp.mcmc.TransformedTransitionKernel(inner, bijector=bijector)
        return tfp.mcmc.DualAveragingStepSizeAdaptation(inner, num_adaptation_steps=adapt)

    @tf.function(jit_compile=True)
    def sample(init, seed):
        return tfp.mcmc.sample_chain(
            args.results,
            current_state=init,
            kernel=kernel(),
            num_burnin_steps=args.burnin,
            trace_fn=lambda _, r: unnest.get_innermost(r, "is_accepted"),
            seed=seed,
        )

    started = time.perf_counter()
    draws, accepted = sample(init, tf.constant([seed, 5]))
    draws = draws.numpy()
    wall = time.perf_counter() - started
    finite = np.all(np.isfinite(draws))
    rhat = tfp.mcmc.potential_scale_reduction(draws, independent_chain_ndims=1).numpy()
    ess = tfp.mcmc.effective_sample_size(draws, cross_chain_dims=1).numpy()
    grads = args.chains * args.results * args.leapfrog
    return {
        "rhat": float(np.max(rhat)) if finite else float("nan"),
        "ess_min": float(np.min(ess)) if finite else float("nan"),
        "ess_v": float(ess[0]) if finite else float("nan"),
        "ess_v_per_1k": 1000.0 * float(ess[0]) / grads if finite else float("nan"),
        "v_std": float(np.std(draws[..., 0])),
        "v_min": float(np.min(draws[..., 0])),
        "accept": float(np.mean(accepted.numpy())),
        "wall": wall,
    }


def funnel_rows(configs: list[Config], args) -> None:
    print(
        f"10-D Neal's funnel. VI: real_nvp(10) via fit_surrogate_posterior, Keras Adam("
        f"{args.lr}), {args.vi_steps} steps, sample_size {args.sample_size}, jit. HMC: "
        f"{args.chains} chains, {args.burnin} burn-in ({int(0.8 * args.burnin)} dual-averaging"
        f" adaptation) + {args.results} draws, {args.leapfrog} leapfrog steps; ESS cross-chain;"
        f" ESS_v/1k = ESS of v per 1,000 gradient evaluations while sampling; true std(v) = 3."
        "\n"
    )
    header = (
        "| flow | seed | ELBO | max c | R-hat max | ESS min | ESS v | ESS_v/1k grad | "
        "std v | min v | accept | lp(1e4) finite | VI s | HMC s |"
    )
    print(header)
    print("|---" * (header.count("|") - 1) + "|")
    plain_cache: dict[int, dict] = {}
    summary: dict[str, list[dict]] = {}
    for seed in args.seeds:
        if args.plain:
            init = funnel_sample(args.chains, seed=1000 + seed)
            res = run_hmc(init, None, args, seed)
            plain_cache[seed] = res
            summary.setdefault("plain HMC", []).append(res)
            print(_row("plain HMC (exact inits)", seed, None, None, res, None), flush=True)
    for config in configs:
        for seed in args.seeds:
            tf.keras.utils.set_random_seed(seed)
            flow = config.build(DIMS, seed)
            vi_wall = fit_vi(flow, args.vi_steps, args.sample_size, args.lr, seed)
            value = elbo(flow, 8192, seed)
            init = flow.sample(args.chains, seed=tf.constant([seed, 3]))
            res = run_hmc(init, flow.bijector, args, seed)
            res["elbo"] = value
            big = tf.constant(
                np.random.default_rng(seed).choice([-1e4, 1e4], (64, DIMS)), tf.float32
            )
            res["finite_1e4"] = bool(np.all(np.isfinite(flow.log_prob(big).numpy())))
            summary.setdefault(str(config), []).append(res)
            print(_row(str(config), seed, value, bound_summary(flow), res, vi_wall), flush=True)
    if len(args.seeds) > 1:
        print("\nMedians over seeds:\n")
        print("| flow | ELBO | R-hat max (worst seed) | ESS v | ESS_v/1k grad | std v |")
        print("|---|---|---|---|---|---|")
        for name, rows in summary.items():
            med = {
                k: float(np.median([r.get(k, np.nan) for r in rows]))
                for k in ("elbo", "rhat", "ess_v", "ess_v_per_1k", "v_std")
            }
            worst = float(np.max([r["rhat"] for r in rows]))
            print(
                f"| {name} | {med['elbo']:.3f} | {med['rhat']:.3f} ({worst:.3f}) | "
                f"{med['ess_v']:.0f} | {med['ess_v_per_1k']:.2f} | {med['v_std']:.2f} |"
            )


def _row(name, seed, value, cmax, r, vi_wall) -> str:
    elbo_s = "" if value is None else f"{value:.3f}"
    vi_s = "" if vi_wall is None else f"{vi_wall:.1f}"
    return (
        f"| {name} | {seed} | {elbo_s} | {cmax or ''} | {r['rhat']:.3f} | {r['ess_min']:.0f} |"
        f" {r['ess_v']:.0f} | {r['ess_v_per_1k']:.2f} | {r['v_std']:.2f} | {r['v_min']:.1f} |"
        f" {r['accept']:.2f} | {r.get('finite_1e4', '')} | {vi_s} | {r['wall']:.1f} |"
    )


# --- density estimation (exactly as benchmarks/train_quality.py) ----------------------------


def density_rows(configs: list[Config], args) -> None:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import train_quality

    print(
        f"real_nvp(2), fit defaults, {args.density_steps} steps at batch 256; KL gap (nats) on"
        " 20,000 fresh samples, ± standard error (as benchmarks/train_quality.py)\n"
    )
    print(
        "| flow | target | "
        + " | ".join(f"seed {s}" for s in args.seeds)
        + " | median | max | max c | s/run |"
    )
    print("|---" * (len(args.seeds) + 6) + "|")
    for config in configs:
        for name in args.targets:
            gaps, walls, cmax = [], [], []
            for seed in args.seeds:
                target = train_quality.TARGETS[name]()
                flow = config.build(2, seed)
                started = time.perf_counter()
                tff.fit(
                    flow,
                    target,
                    steps=args.density_steps,
                    batch_size=256,
                    seed=seed,
                    progress=False,
                )
                walls.append(time.perf_counter() - started)
                gaps.append(tff.metrics.kl_gap(flow, target, n=20_000, seed=10_000 + seed))
                cmax.append(float(bound_summary(flow)))
            means = [g.mean for g in gaps]
            print(
                f"| {config} | {name} | "
                + " | ".join(str(g) for g in gaps)
                + f" | {np.median(means):.4f} | {np.max(means):.4f} | {max(cmax):.2f} |"
                f" {np.mean(walls):.1f} |",
                flush=True,
            )


# --- finiteness at |x| = 1e4 ----------------------------------------------------------------


def finite_rows(configs: list[Config], args) -> None:
    """A 'trained' layer: random conditioner weights (last layer too) scaled up, c doubled."""
    print(
        "float32, inputs +-1e4 (and 0) through one coupling layer with random conditioner "
        "weights x10 (last layer non-zero) and c doubled if learned; and through a whole "
        "real_nvp(10) with every trainable weight perturbed by N(0, 0.1^2).\n"
    )
    print(
        "| flow | layer fwd/inv/ldj finite | layer max abs s | flow log_prob finite | "
        "flow max abs inverse | flow sample finite |"
    )
    print("|---|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    x = tf.constant(
        np.concatenate([rng.choice([-1e4, 1e4], size=(64, DIMS)), np.zeros((1, DIMS))]), tf.float32
    )
    for config in configs:
        config.activate()
        layer = AffineCoupling(DIMS, MLPFactory(seed=0), log_scale_bound=config.bound)
        config.fix_layer(layer)
        for kernel in layer.conditioner.kernels:
            kernel.assign(10.0 * rng.normal(size=kernel.shape) / np.sqrt(kernel.shape[0]))
        if config.learned:
            layer.log_scale_bound.assign(2.0 * layer.log_scale_bound)
        outs = [
            layer.forward(x),
            layer.inverse(x),
            layer.forward_log_det_jacobian(x, event_ndims=1),
            layer.inverse_log_det_jacobian(x, event_ndims=1),
        ]
        ok = all(bool(np.all(np.isfinite(o.numpy()))) for o in outs)
        _, s = layer._shift_and_log_scale(layer.conditioner(x[:, : DIMS // 2]))
        flow = config.build(DIMS, 0)
        for variable in flow.trainable_variables:
            variable.assign(variable + 0.1 * rng.normal(size=variable.shape))
        lp = flow.log_prob(x).numpy()
        z = flow.bijector.inverse(x).numpy()
        sample = flow.sample(1000, seed=tf.constant([0, 1])).numpy()
        print(
            f"| {config} | {ok} | {float(np.max(np.abs(s.numpy()))):.3g} | "
            f"{bool(np.all(np.isfinite(lp)))} | {np.max(np.abs(z)):.3g} | "
            f"{bool(np.all(np.isfinite(sample)))} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="*", default=["tanh:2"])
    parser.add_argument("--mixing", nargs="*", default=["lu"], choices=["lu", "none"])
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    parser.add_argument("--vi-steps", type=int, default=2000)
    parser.add_argument("--sample-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--chains", type=int, default=16)
    parser.add_argument("--burnin", type=int, default=1000)
    parser.add_argument("--results", type=int, default=1000)
    parser.add_argument("--leapfrog", type=int, default=8)
    parser.add_argument("--step-size", type=float, default=0.1)
    parser.add_argument(
        "--plain",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also run plain HMC (once per seed)",
    )
    parser.add_argument(
        "--density", action="store_true", help="KL gaps on banana / moons instead of the funnel"
    )
    parser.add_argument("--targets", nargs="*", default=["banana", "moons(0.05)", "moons(0.1)"])
    parser.add_argument("--density-steps", type=int, default=5000)
    parser.add_argument("--finite", action="store_true", help="finiteness check at |x| = 1e4")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    configs = [
        Config(spec, None if m == "none" else m) for m in args.mixing for spec in args.configs
    ]
    started = time.perf_counter()
    if args.finite:
        finite_rows(configs, args)
    elif args.density:
        density_rows(configs, args)
    else:
        funnel_rows(configs, args)
    print(f"\ntotal wall time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
