"""Flows as posteriors (issue 11, item 5): VI with our surrogate against mean-field and TFP's IAF.

``--part vi`` (the default), ``--part speed`` (ms per VI step only, interleaved rounds against
each of TFP's IAFs below) and ``--part neutra`` (NeuTra HMC / NUTS against the same sampler
without the flow on the 10-D funnel: runs ``neutra_vs_plain.py`` in its own process, since that
pins TensorFlow to one thread before it starts, and passes it every other option, e.g. ``--part neutra --seeds 0 1 2 --kernels hmc``). ``--part vi``: for each target
and seed, every method in turn (``for seed: for method``, so machine noise hits all alike):

1. builds a surrogate posterior (its initial weights seeded by the run's seed):

   - ``mean_field``: ``tfp.experimental.vi.build_factored_surrogate_posterior`` through the
     model's default event-space bijector;
   - ``tfp_iaf``: TFP's IAF, ``Invert(MaskedAutoregressiveFlow(AutoregressiveNetwork(params=2,
     hidden_units=[64, 64], activation="relu")))`` twice with a reversal between them, on
     ``N(0, I_n)`` over the flat unconstrained vector, pushed into the model's structure and
     support by ``tff.inference.surrogate_posterior(model, flow=<that distribution>)`` (so the
     structure bijector is ours for every flow; only the flow differs); ``tfp_iaf3``: the same
     with 3 layers (the size of our default: 3 MADEs of 64-64); ``tfp_iaf_tutorial``: the IAF
     surrogate of TFP's tutorial "Variational Inference and Joint Distributions" (2 layers of
     hidden ``[256, 256]``, relu);
   - ``ours``: ``tff.inference.surrogate_posterior(model)`` with its defaults
     (``tff.inference.DEFAULT_SURROGATE``);
   - candidates from ``--candidates``: ``family:key=value,...`` -- builder keyword arguments of
     ``tff.<family>`` (``num_layers=3``, ``activation=relu``, ``hidden=64-64``), plus
     ``bound=B`` (the affine transformer's initial log-scale bound ``c``,
     ``s = c * tanh(r)``; ``bound=inf`` prototypes an unbounded ``s = r``, as TFP's), and
     three prototypes of TFP's choices: ``init=random`` (the MADEs' output kernels
     Glorot-uniform instead of zero), ``shift=inside`` (``y = (x + t) * exp(s)``, TFP's
     ``Invert(MAF)`` form, instead of ``y = x * exp(s) + t``) and ``first=reversed`` (the layer
     next to the base in reversed order: with 2 layers, TFP's ``[IAF, Permute, IAF]`` seen
     from the output's coordinates);

2. fits it with ``tfp.vi.fit_surrogate_posterior(log_prob, surrogate,
   keras.optimizers.Adam(CosineDecay(2e-3, STEPS)), num_steps=STEPS, sample_size=256,
   jit_compile=True, trainable_variables=surrogate.trainable_variables)`` -- identical for
   every method (``--learning-rate`` and ``--schedule`` change it for all) -- and
   times the whole call ("fit s", trace and XLA compile included);
3. scores it on 16,384 fresh draws: the ELBO ``E_q[log p~(z) - log q(z)]`` and its standard
   error (banana, funnel and the Gaussian are normalised: ELBO = -KL(q || p) <= 0; Eight
   Schools' is relative to its unknown log-evidence), and the largest error of the draws'
   means and standard deviations over every entry of every part, in units of the true
   standard deviation (``InferenceTarget.standardized_errors``);
4. times VI steps side by side: a ``tf.function(jit_compile=True)`` ``tf.while_loop`` of
   ``--timing-steps`` Adam steps on the same loss as ``tfp.vi``
   (``tfp.vi.monte_carlo_variational_loss``, 256 draws) is called once to compile ("compile s":
   the first call minus a steady call), then ``--timing-repeats`` times; "ms/step" is the
   median call over steps per call (the trained surrogate keeps training with a fresh
   optimizer; its scores were taken before).

Prints one table of medians over seeds, one per seed, and the issue's goals with pass / fail.

    python benchmarks/inference.py                                        # ~15-20 min, 2 cores
    python benchmarks/inference.py --targets funnel --seeds 0 --steps 2000     # a quick look
    python benchmarks/inference.py --methods tfp_iaf ours --candidates \\
        "iaf:num_layers=3,activation=relu,bound=5" "iaf:num_layers=2,init=random"
"""

from __future__ import annotations

import argparse
import os
import pathlib
import platform
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_probability as tfp  # noqa: E402
import tf_keras  # noqa: E402

import tfp_flows as tff  # noqa: E402
from tfp_flows.bijectors.transformers.affine import Affine  # noqa: E402
from tfp_flows.bijectors.transformers.base import Transformer  # noqa: E402
from tfp_flows.datasets.eight_schools import eight_schools  # noqa: E402
from tfp_flows.datasets.inference import (  # noqa: E402
    banana_posterior,
    ill_conditioned_gaussian,
    neals_funnel,
)
from tfp_flows.nn.made import MADE  # noqa: E402

tfb, tfd = tfp.bijectors, tfp.distributions

TARGETS = {
    "banana": banana_posterior,
    "funnel": lambda: neals_funnel(10),
    "eight_schools": eight_schools,
    "ill_conditioned": lambda: ill_conditioned_gaussian(100, 1e4),
}
TFP_IAFS = {
    "tfp_iaf": (2, (64, 64)),
    "tfp_iaf3": (3, (64, 64)),
    "tfp_iaf_tutorial": (2, (256, 256)),
}
"""TFP's IAF surrogates by name: (number of IAF layers, hidden units of each MADE), relu."""
BASELINES = ("mean_field", *TFP_IAFS, "ours")
LEARNING_RATE = tff.inference.DEFAULT_VI_LEARNING_RATE  # Adam's (initial) rate for every method
SAMPLE_SIZE = 256
EVAL_DRAWS = 16_384
GOAL_ELBO_TARGETS = ("funnel", "banana", "eight_schools")  # ours >= TFP IAF
GOAL_MOMENT_TARGETS = ("banana", "eight_schools")  # errors <= 0.1 true sd
GOAL_MOMENT_ERROR = 0.1


# --- surrogates --------------------------------------------------------------------------------


def target_log_prob_fn(model):
    """The unnormalised log-density ``tfp.vi`` sees: a pinned model's or the model's own."""
    return getattr(model, "unnormalized_log_prob", model.log_prob)


def event_size(model) -> int:
    event_space = model.experimental_default_event_space_bijector()
    shapes = tf.nest.flatten(event_space.inverse_event_shape(model.event_shape))
    return sum(int(tf.TensorShape(s).num_elements()) for s in shapes)


def mean_field(model, seed: int):
    return tfp.experimental.vi.build_factored_surrogate_posterior(
        event_shape=model.event_shape,
        bijector=model.experimental_default_event_space_bijector(),
        seed=seed,
    )


def tfp_iaf(model, seed: int, num_layers: int = 2, hidden_units=(64, 64)):
    """TFP's IAF surrogate: ``num_layers`` x Invert(MAF(MADE)), reversals between them."""
    n = event_size(model)
    keras.utils.set_random_seed(seed)
    tf_keras.utils.set_random_seed(seed)
    layers = []
    for i in range(num_layers):
        if i:
            layers.append(tfb.Permute(np.arange(n)[::-1].copy()))
        made = tfb.AutoregressiveNetwork(
            params=2, event_shape=[n], hidden_units=list(hidden_units), activation="relu"
        )
        layers.append(tfb.Invert(tfb.MaskedAutoregressiveFlow(shift_and_log_scale_fn=made)))
    flow = tfd.TransformedDistribution(
        tfd.Sample(tfd.Normal(0.0, 1.0), n), tfb.Chain(layers[::-1]), name="tfp_iaf"
    )
    flow.sample(seed=seed)  # builds the Keras layers' variables
    return tff.inference.surrogate_posterior(model, flow=flow)


def tfp_iaf_of_size(name: str):
    """``(model, seed) -> surrogate``: TFP's IAF of the size ``TFP_IAFS[name]``."""
    num_layers, hidden_units = TFP_IAFS[name]
    return lambda model, seed: tfp_iaf(model, seed, num_layers, hidden_units)


class UnboundedAffine(Transformer):
    """Prototype: ``y = x * exp(r) + t``, no bound on the log-scale (as TFP's MAF / IAF)."""

    params_per_entry = 2

    def forward(self, x, params):
        return x * tf.exp(params[..., 1]) + params[..., 0], -params[..., 1]

    def inverse(self, y, params):
        return (y - params[..., 0]) * tf.exp(-params[..., 1]), -params[..., 1]


class ShiftFirstAffine(Affine):
    """Prototype: ``y = (x + t) * exp(s)``, the shift applied before the scale (as TFP's IAF,
    ``Invert(MAF)``: ``x = (z - t) * exp(-s)``); ``s = c * tanh(r)``, or ``s = r`` if unbounded."""

    def __init__(self, *args, unbounded: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self._unbounded = unbounded

    def shift_and_log_scale(self, params):
        if self._unbounded:  # the unused bound gets a zero gradient (None would stop tfp.vi)
            return params[..., 0], params[..., 1] + 0.0 * self.log_scale_bound
        return super().shift_and_log_scale(params)

    def forward(self, x, params):
        shift, log_scale = self.shift_and_log_scale(params)
        return (x + shift) * tf.exp(log_scale), -log_scale

    def inverse(self, y, params):
        shift, log_scale = self.shift_and_log_scale(params)
        return y * tf.exp(-log_scale) - shift, -log_scale


def parse_value(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_candidate(spec: str) -> tuple[str, dict]:
    """``"iaf:num_layers=3,activation=relu,bound=5"`` -> ``("iaf", {...})``."""
    family, _, rest = spec.partition(":")
    if family not in tff.inference.SURROGATE_BUILDERS:
        raise SystemExit(
            f"candidate {spec!r}: family must be one of "
            f"{sorted(tff.inference.SURROGATE_BUILDERS)}, got {family!r}"
        )
    kwargs: dict = {}
    for item in filter(None, rest.split(",")):
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"candidate {spec!r}: expected key=value, got {item!r}")
        if key in ("hidden", "hidden_units"):
            kwargs["hidden_units"] = tuple(int(v) for v in value.split("-"))
        else:
            kwargs[key] = parse_value(value)
    return family, kwargs


def ours(model, seed: int, family: str | None = None, **kwargs):
    """``surrogate_posterior(model)``: the defaults, or a candidate (``bound=``, ``init=``)."""
    bound = kwargs.pop("bound", None)
    init = kwargs.pop("init", "zero")
    shift = kwargs.pop("shift", "outside")
    first = kwargs.pop("first", "natural")
    if shift == "inside":
        b = 2.0 if bound is None else float(bound)
        kwargs["transformer"] = lambda k, dt, name: ShiftFirstAffine(
            k,
            dtype=dt,
            name=name,
            unbounded=bool(np.isinf(b)),
            log_scale_bound=1.0 if np.isinf(b) else b,
        )
    elif shift != "outside":
        raise SystemExit(f"shift must be 'outside' or 'inside', got {shift!r}")
    elif bound is not None:
        bound = float(bound)
        if np.isinf(bound):
            kwargs["transformer"] = lambda k, dt, name: UnboundedAffine(name=name)
        else:
            kwargs["transformer"] = lambda k, dt, name: Affine(
                k, dtype=dt, name=name, log_scale_bound=bound
            )
    if family is not None:
        kwargs["flow"] = family
    if first == "reversed":  # prototype: the layers in the opposite order (iaf / maf only)
        kwargs["flow"] = reversed_first(kwargs.get("flow", "iaf"), seed)
    elif first != "natural":
        raise SystemExit(f"first must be 'natural' or 'reversed', got {first!r}")
    surrogate = tff.inference.surrogate_posterior(model, seed=seed, **kwargs)
    if init == "random":  # Glorot-uniform output kernels, as tf_keras' Dense
        rng = np.random.default_rng(1000 + seed)
        for made in (m for m in surrogate.flow.submodules if isinstance(m, MADE)):
            kernel = made.kernels[-1]
            fan_in, fan_out = kernel.shape
            limit = np.sqrt(6.0 / (fan_in + fan_out))
            kernel.assign(
                rng.uniform(-limit, limit, size=kernel.shape).astype(kernel.dtype.as_numpy_dtype)
            )
    elif init != "zero":
        raise SystemExit(f"init must be 'zero' or 'random', got {init!r}")
    return surrogate


def reversed_first(family: str, seed: int):
    """A builder like ``tff.iaf`` / ``tff.maf`` whose first layer (next to the base) runs in
    reversed order and whose last in natural order when ``num_layers`` is even (TFP's
    ``[MAF, Permute, MAF]`` pattern, seen from the output's coordinates)."""
    from tfp_flows.flows.autoregressive import autoregressive_layers
    from tfp_flows.flows.stack import assemble

    def build(
        n, dtype, num_layers=5, hidden_units=(64, 64), activation="gelu", transformer="affine"
    ):
        layers = autoregressive_layers(
            "forward" if family == "iaf" else "inverse",
            n,
            num_layers,
            hidden_units,
            activation,
            transformer,
            None,
            seed,
            0,
            False,
            dtype,
            f"{family}_rev",
        )
        return assemble(layers[::-1], n, False, dtype, None, default_name=f"{family}_rev")

    return build


def make_methods(names, candidates) -> dict:
    methods = {}
    for name in names:
        if name in TFP_IAFS:
            methods[name] = tfp_iaf_of_size(name)
        else:
            methods[name] = {"mean_field": mean_field, "ours": ours}[name]
    for spec in candidates:
        family, kwargs = parse_candidate(spec)
        methods[spec] = (lambda f, kw: lambda model, seed: ours(model, seed, f, **dict(kw)))(
            family, kwargs
        )
    return methods


# --- measurements ------------------------------------------------------------------------------


def evaluate(target, surrogate, seed: int) -> dict:
    """ELBO (and its standard error) and the largest standardized moment errors, on fresh draws."""
    log_prob = target_log_prob_fn(target.model)

    @tf.function(jit_compile=True, autograph=False)
    def draws_and_ratio():
        draws, log_q = surrogate.experimental_sample_and_log_prob(
            EVAL_DRAWS, seed=tf.constant([seed, 987654], tf.int32)
        )
        return draws, log_prob(draws) - log_q

    draws, ratio = draws_and_ratio()
    ratio = ratio.numpy().astype(np.float64)
    finite = np.isfinite(ratio)
    mean = {k: tf.reduce_mean(tf.cast(v, tf.float64), 0) for k, v in draws.items()}
    std = {k: tf.math.reduce_std(tf.cast(v, tf.float64), 0) for k, v in draws.items()}
    errors = target.standardized_errors(mean, std)
    return dict(
        elbo=float(np.mean(ratio)) if finite.all() else float("nan"),
        elbo_se=float(np.std(ratio) / np.sqrt(ratio.size)),
        mean_error=max(float(np.max(e)) for e in errors["mean"].values()),
        std_error=max(float(np.max(e)) for e in errors["stddev"].values()),
    )


def learning_rate(schedule: str, steps: int, rate: float):
    """Adam's learning rate: ``rate`` throughout, or cosine-decayed from it to 0."""
    if schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(rate, steps)
    return rate


def fit(target, surrogate, steps: int, seed: int, schedule: str, rate: float) -> float:
    """``tfp.vi.fit_surrogate_posterior``, identical for every method; returns the wall time."""
    started = time.perf_counter()
    losses = tfp.vi.fit_surrogate_posterior(
        target_log_prob_fn(target.model),
        surrogate,
        keras.optimizers.Adam(learning_rate(schedule, steps, rate)),
        num_steps=steps,
        sample_size=SAMPLE_SIZE,
        jit_compile=True,
        seed=tf.constant([seed, 12345], tf.int32),
        trainable_variables=surrogate.trainable_variables,
    )
    losses.numpy()
    return time.perf_counter() - started


def time_steps(
    target, surrogate, steps_per_call: int, repeats: int, seed: int
) -> tuple[float, float]:
    """(ms per VI step in the steady state, compile seconds) of a compiled multi-step loop."""
    log_prob = target_log_prob_fn(target.model)
    variables = list(surrogate.trainable_variables)
    optimizer = keras.optimizers.Adam(LEARNING_RATE)
    optimizer.build(variables)

    @tf.function(jit_compile=True, autograph=False)
    def run(call_seed):
        def body(i, _):
            with tf.GradientTape() as tape:
                loss = tfp.vi.monte_carlo_variational_loss(
                    log_prob,
                    surrogate,
                    sample_size=SAMPLE_SIZE,
                    seed=tf.random.experimental.stateless_fold_in(call_seed, i),
                )
            optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
            return i + 1, loss

        return tf.while_loop(
            lambda i, _: i < steps_per_call,
            body,
            (tf.constant(0), tf.constant(0.0, loss_dtype(surrogate))),
        )[1]

    def call(k: int) -> float:
        started = time.perf_counter()
        run(tf.constant([seed, k], tf.int32)).numpy()
        return time.perf_counter() - started

    first = call(0)
    times = [call(k + 1) for k in range(repeats)]
    steady = float(np.median(times))
    return 1e3 * steady / steps_per_call, max(first - steady, 0.0)


def loss_dtype(surrogate) -> tf.DType:
    return tf.nest.flatten(surrogate.dtype)[0]


# --- reporting ---------------------------------------------------------------------------------

COLUMNS = [
    ("ELBO", "elbo", "{:.4f}"),
    ("ELBO s.e.", "elbo_se", "{:.4f}"),
    ("max mean err (sd)", "mean_error", "{:.3f}"),
    ("max sd err (sd)", "std_error", "{:.3f}"),
    ("fit s", "fit_s", "{:.1f}"),
    ("ms/step", "ms_step", "{:.2f}"),
    ("compile s", "compile_s", "{:.1f}"),
]


def table(rows: list[dict], with_seed: bool) -> str:
    head = ["target", "method"] + (["seed"] if with_seed else []) + [c[0] for c in COLUMNS]
    lines = [
        "| " + " | ".join(head) + " |",
        "|" + "|".join(["---"] * (2 + with_seed)) + "|" + "---:|" * len(COLUMNS),
    ]
    for row in rows:
        cells = [row["target"], f"`{row['method']}`"] + ([str(row["seed"])] if with_seed else [])
        cells += [fmt.format(row[key]) for _, key, fmt in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def medians(rows: list[dict]) -> list[dict]:
    out = []
    keys = list(dict.fromkeys((r["target"], r["method"]) for r in rows))
    for target, method in keys:
        group = [r for r in rows if (r["target"], r["method"]) == (target, method)]
        out.append(
            dict(
                target=target,
                method=method,
                **{key: float(np.median([r[key] for r in group])) for _, key, _ in COLUMNS},
            )
        )
    return out


def goals(
    rows: list[dict], seeds: list[int], ours_name: str = "ours", reference: str = "tfp_iaf"
) -> list[str]:
    """The issue's goals for ``ours_name`` against TFP's IAF ``reference``, per target over every
    seed (and on the median)."""
    lines = []

    def get(target, method, seed):
        found = [r for r in rows if (r["target"], r["method"], r["seed"]) == (target, method, seed)]
        return found[0] if found else None

    targets = list(dict.fromkeys(r["target"] for r in rows))
    for target in targets:
        pairs = [(get(target, ours_name, s), get(target, reference, s)) for s in seeds]
        pairs = [(a, b) for a, b in pairs if a and b]
        if target in GOAL_ELBO_TARGETS and pairs:
            wins = sum(a["elbo"] >= b["elbo"] for a, b in pairs)
            # lower, but by less than twice the standard error of the difference of the estimates
            ties = sum(
                0 < b["elbo"] - a["elbo"] < 2 * np.hypot(a["elbo_se"], b["elbo_se"])
                for a, b in pairs
            )
            ok = wins == len(pairs)
            lines.append(
                f"- {'PASS' if ok else 'FAIL'}: {target}: ELBO of `{ours_name}` >= "
                f"`{reference}` in {wins}/{len(pairs)} seeds"
                + (f", lower within 2 s.e. in {ties}" if ties else "")
                + " ("
                + ", ".join(f"{a['elbo']:.4f} vs {b['elbo']:.4f}" for a, b in pairs)
                + ")"
            )
        mine = [get(target, ours_name, s) for s in seeds]
        mine = [m for m in mine if m]
        if target in GOAL_MOMENT_TARGETS and mine:
            worst = max(max(m["mean_error"], m["std_error"]) for m in mine)
            ok = worst <= GOAL_MOMENT_ERROR
            lines.append(
                f"- {'PASS' if ok else 'FAIL'}: {target}: mean/sd errors of `{ours_name}`"
                f" <= {GOAL_MOMENT_ERROR} true sd in every seed (worst {worst:.3f})"
            )
        if pairs:
            ratios = [a["ms_step"] / b["ms_step"] for a, b in pairs]
            ok = float(np.median(ratios)) <= 1.0
            lines.append(
                f"- {'PASS' if ok else 'FAIL'}: {target}: ms/VI-step of `{ours_name}` <= "
                f"`{reference}` (median ratio {np.median(ratios):.2f}; per seed "
                + ", ".join(f"{r:.2f}" for r in ratios)
                + ")"
            )
    return lines


# --- parts -------------------------------------------------------------------------------------


def run_vi(args) -> None:
    methods = make_methods(args.methods, args.candidates)
    print(
        f"- date: {time.strftime('%Y-%m-%dT%H:%M:%S%z')}; TF {tf.__version__}, TFP "
        f"{tfp.__version__}, Keras {keras.__version__}, Python {platform.python_version()}; "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    print(
        f"- steps {args.steps}, Adam({args.learning_rate}, {args.schedule}), sample_size {SAMPLE_SIZE}, ELBO on "
        f"{EVAL_DRAWS} draws; ms/step: {args.timing_steps} steps per compiled call, median of "
        f"{args.timing_repeats} calls; ours = surrogate_posterior(model) = "
        f"{tff.inference.DEFAULT_SURROGATE}",
        flush=True,
    )
    rows = []
    targets = {name: TARGETS[name]() for name in args.targets}
    for target_name, target in targets.items():
        for seed in args.seeds:
            for method, build in methods.items():
                surrogate = build(target.model, seed)
                fit_s = fit(target, surrogate, args.steps, seed, args.schedule, args.learning_rate)
                scores = evaluate(target, surrogate, seed)
                ms_step, compile_s = time_steps(
                    target, surrogate, args.timing_steps, args.timing_repeats, seed
                )
                row = dict(
                    target=target_name,
                    method=method,
                    seed=seed,
                    fit_s=fit_s,
                    ms_step=ms_step,
                    compile_s=compile_s,
                    **scores,
                )
                rows.append(row)
                if args.verbose:
                    print(
                        f"  {target_name} {method} seed {seed}: "
                        + ", ".join(
                            f"{label} {fmt.format(row[key])}" for label, key, fmt in COLUMNS
                        ),
                        flush=True,
                    )
    print("\n### Medians over seeds " + " ".join(map(str, args.seeds)) + "\n")
    print(table(medians(rows), with_seed=False))
    print("\n### Per seed\n")
    print(table(rows, with_seed=True))
    for reference in [m for m in methods if m in TFP_IAFS]:
        for name in [m for m in methods if m not in ("mean_field", *TFP_IAFS)]:
            print(f"\n### Goals (issue 11) for `{name}` against `{reference}`\n")
            print("\n".join(goals(rows, args.seeds, name, reference)))


def run_speed(args) -> None:
    """ms per VI step only, in interleaved rounds (each TFP IAF, ours, the candidates, ...
    again): each round times every surrogate once, so a busy machine slows all of them alike.
    Candidates may set ``surrogate_posterior``'s ``draw_groups`` (``"iaf:draw_groups=1"``)."""
    print(
        f"- ms per VI step: {args.timing_steps} steps per compiled call, median of "
        f"{args.timing_repeats} calls per round, median over {args.rounds} interleaved rounds; "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        flush=True,
    )
    builders = {name: tfp_iaf_of_size(name) for name in TFP_IAFS}
    builders.update(make_methods(["ours"], args.candidates))
    print(
        "\n| target | surrogate | ms/step | "
        + " | ".join(f"ratio to `{name}`" for name in TFP_IAFS)
        + " |"
    )
    print("|---|---|---:|" + "---:|" * len(TFP_IAFS))
    for target_name in args.targets:
        target = TARGETS[target_name]()
        surrogates = {name: build(target.model, 0) for name, build in builders.items()}
        times: dict[str, list[float]] = {name: [] for name in surrogates}
        for _ in range(args.rounds):
            for name, surrogate in surrogates.items():
                times[name].append(
                    time_steps(target, surrogate, args.timing_steps, args.timing_repeats, 0)[0]
                )
        ms = {name: float(np.median(t)) for name, t in times.items()}
        for name, value in ms.items():
            print(
                f"| {target_name} | `{name}` | {value:.3f} | "
                + " | ".join(f"{value / ms[reference]:.2f}" for reference in TFP_IAFS)
                + " |",
                flush=True,
            )


def run_neutra(options: list[str]) -> None:
    """``neutra_vs_plain.py`` with ``options``, in its own process (it pins TF's threads first)."""
    script = pathlib.Path(__file__).with_name("neutra_vs_plain.py")
    raise SystemExit(subprocess.call([sys.executable, str(script), *options]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--part",
        choices=["vi", "speed", "neutra"],
        default="vi",
        help="vi: surrogates by ELBO, moment errors and speed; speed: ms per VI "
        "step only, interleaved rounds; neutra: benchmarks/neutra_vs_plain.py "
        "with every other option",
    )
    parser.add_argument("--rounds", type=int, default=6, help="--part speed: interleaved rounds")
    parser.add_argument("--targets", nargs="+", choices=list(TARGETS), default=list(TARGETS))
    parser.add_argument("--methods", nargs="*", choices=list(BASELINES), default=list(BASELINES))
    parser.add_argument(
        "--candidates",
        nargs="*",
        default=[],
        help='extra surrogates of ours: "family:key=value,..." (e.g. '
        '"iaf:num_layers=3,activation=relu,bound=5", "iaf:init=random")',
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument(
        "--schedule",
        choices=["constant", "cosine"],
        default="cosine",
        help="Adam's learning rate for every method: cosine decay to 0 (as "
        "tff.inference.fit_surrogate), or constant",
    )
    parser.add_argument(
        "--learning-rate",
        type=float,
        default=LEARNING_RATE,
        help="Adam's (initial) learning rate for every method (default: "
        "tff.inference.DEFAULT_VI_LEARNING_RATE)",
    )
    parser.add_argument("--timing-steps", type=int, default=200)
    parser.add_argument("--timing-repeats", type=int, default=5)
    parser.add_argument("--verbose", action="store_true", help="print each fit as it finishes")
    args, unknown = parser.parse_known_args()
    if args.part == "neutra":
        options = sys.argv[1:]
        at = options.index("--part") if "--part" in options else None
        run_neutra(
            options[:at] + options[at + 2 :]
            if at is not None
            else [o for o in options if o != "--part=neutra"]
        )
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    {"vi": run_vi, "speed": run_speed}[args.part](args)


if __name__ == "__main__":
    main()
