"""Flows against VAEs on the digits (8x8, 17 grey levels): test bits/dim, in one run.

Every model is a density of the dequantised pixels ``v = (x + u) / 17`` and is scored on the
test split of ``tff.datasets.digits`` in bits/dim of the discrete images:

* the multiscale Real NVP (``tff.real_nvp((8, 8, 1))``, the setting of ``benchmarks/digits.py``,
  trained on fresh dequantisation noise, early-stopped on validation): its exact density,
  through the uniform dequantisation bound (``tff.metrics.bits_per_dim``, 4 noise draws);
* ``tff.VAE`` s with a dequantised-pixel likelihood (a categorical over the 17 levels per
  pixel: a piecewise-constant density of ``v``, for which the dequantisation bound is exact)
  and a Gaussian, IAF, Real NVP or spline (NSF) posterior, and an IAF posterior with a MAF
  prior: the importance-weighted bound ``IWAE_k`` with ``k = 1000``
  (``tff.metrics.importance_weighted_bound``).

```none
flow:  bits/dim = -(1/n) sum_i E_u[ log p((x_i + u) / 17) - 64 log 17 ] / (64 ln 2)
VAE:   bits/dim = -(1/n) sum_i IWAE_k(x_i) / (64 ln 2),   IWAE_k <= log P(x_i)
```

Every VAE trains for the same number of optimizer steps (``--steps``, batch 64, Adam from
``--learning-rate`` 1e-3 with a cosine decay to 0, KL warm-up over the first ``--warmup`` 0.2
of the steps), keeps the weights of its best validation ELBO (checked every epoch), and differs
from the others only in its posterior or prior: the encoder and the decoder (the VAE's
convolutional default, or ``--decoder-units``: dense layers, none for a linear decoder) and the
flow posteriors' builder arguments (``--posterior-kwargs``) are the same for every model. Each
model runs with ``--seeds`` (default 0 1 2; the multiscale flow with ``--flow-seeds`` if given);
the table gives medians over seeds. A flow posterior's
difference to the Gaussian posterior is paired over the test images (the same images, seed by
seed): ``d_i = IWAE(flow, x_i) - IWAE(gaussian, x_i)``, with standard error ``sd(d) / sqrt(n)``;
the criterion is ``median(mean d) > 3 median(s.e.)``.

    python benchmarks/vae.py --workers 2                      # everything (about 25 min on 2 cores)
    python benchmarks/vae.py --steps 1000 --flow-seeds 0 --models gaussian iaf iaf_maf_prior real_nvp_image nsf
    python benchmarks/vae.py --models gaussian iaf --seeds 0 --steps 200 --k 50   # smoke run
    python benchmarks/vae.py --workers 2 --figures notebooks/figures     # and the samples
    python benchmarks/vae.py --seeds 0 --json s0.json; python benchmarks/vae.py --seeds 1 2 --json s12.json
    python benchmarks/vae.py --from-json s0.json s12.json     # their table, as one run's
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import multiprocessing
import os
import sys
import time
from typing import Any, NamedTuple

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras  # noqa: E402
import numpy as np  # noqa: E402
from digits import FLOWS, fit_on_dequantized, load, test_bits  # noqa: E402

import tfp_flows as tff  # noqa: E402
from tfp_flows.images.dequantization import with_logit_preprocessing  # noqa: E402

D = 64
LEVELS = tff.datasets.DIGITS_LEVELS

# name: (label, VAE keyword arguments)
VAES: dict[str, tuple[str, dict[str, Any]]] = {
    "gaussian": ("VAE, Gaussian posterior", {"posterior": "gaussian"}),
    "iaf": ("VAE, IAF posterior", {"posterior": "iaf"}),
    "real_nvp": ("VAE, Real NVP posterior", {"posterior": "real_nvp"}),
    "nsf": ("VAE, NSF (spline) posterior", {"posterior": "nsf"}),
    "iaf_maf_prior": ("VAE, IAF posterior + MAF prior", {"posterior": "iaf", "prior": "maf"}),
}
FLOW = "real_nvp_image"
CONTEXT_UNITS = 32


class Run(NamedTuple):
    model: str
    seed: int
    bits_per_dim: float
    nats: float  # the bound on log P(x) per image (IWAE for a VAE)
    stderr: float  # over the test images
    elbo: float
    gap: float
    ess: float
    train_seconds: float
    score_seconds: float
    per_point: Any  # IWAE per test image (VAEs), for paired differences
    details: str


def train_flow(seed: int, steps: int | None, data: Any) -> tuple[Run, Any]:
    """The multiscale Real NVP of ``benchmarks/digits.py``, with ``seed`` for its weights and draws."""
    setting = FLOWS[FLOW]
    started = time.perf_counter()
    model = with_logit_preprocessing(
        tff.real_nvp(
            (8, 8, 1), num_scales=2, steps_per_scale=2, hidden_channels=32, num_blocks=1, seed=seed
        ),
        alpha=0.05,
    )
    steps = steps or setting.steps
    history = fit_on_dequantized(model, setting, data, steps, seed=seed)
    trained = time.perf_counter()
    bits = test_bits(model, data)
    nats = -bits * D * np.log(2.0)
    run = Run(
        FLOW,
        seed,
        bits,
        nats,
        float("nan"),
        float("nan"),
        float("nan"),
        float("nan"),
        trained - started,
        time.perf_counter() - trained,
        None,
        f"{setting.details}; best validation at step {history.best_step} of {len(history.loss)}",
    )
    return run, model


def vae_decoder(units: list[int] | None, latent_size: int, seed: int) -> keras.Layer | None:
    """The decoder of ``--decoder-units``: ``None`` (the VAE's default, its ``hidden_units``
    reversed, then the transposed convolutions), ``[]`` (linear: one dense layer from ``z`` to
    the 64 x 17 logits), or dense widths before that layer (no convolutions)."""
    if units is None:
        return None
    layers: list[keras.Layer] = [keras.Input(shape=(latent_size,))]
    for i, width in enumerate(units):
        layers.append(
            keras.layers.Dense(
                width, "relu", kernel_initializer=keras.initializers.GlorotUniform(seed + 1000 + i)
            )
        )
    layers += [
        keras.layers.Dense(
            D * LEVELS, kernel_initializer=keras.initializers.GlorotUniform(seed + 1100)
        ),
        keras.layers.Reshape((8, 8, 1, LEVELS)),
    ]
    return keras.Sequential(layers, name="decoder")


def train_vae(
    name: str,
    seed: int,
    steps: int,
    k: int,
    data: Any,
    latent_size: int,
    learning_rate: float,
    *,
    decoder_units: list[int] | None = None,
    posterior_kwargs: dict[str, Any] | None = None,
    warmup: float = 0.2,
) -> tuple[Run, Any]:
    """A ``tff.VAE`` trained for ``steps`` optimizer steps, scored by IWAE with ``k`` draws.

    Every posterior reads an encoder output of the same width (``context_units=32`` past the
    Gaussian's ``2 d``), so all the VAEs of one seed start from the same encoder and decoder
    weights, and, the flow layers starting at the identity, from the same function.
    ``decoder_units`` (see :func:`vae_decoder`), ``posterior_kwargs`` (the flow posterior's
    builder arguments; the flow prior keeps its defaults) and the KL warm-up's fraction of the
    steps are the same for every posterior.
    """
    _, kwargs = VAES[name]
    kwargs = dict(kwargs)
    if posterior_kwargs and kwargs["posterior"] != "gaussian":
        kwargs["posterior_kwargs"] = posterior_kwargs
    keras.utils.set_random_seed(seed)  # Keras's shuffling of the batches
    started = time.perf_counter()
    vae = tff.VAE(
        (8, 8, 1),
        latent_size,
        seed=seed,
        kl_warmup_steps=int(steps * warmup),
        context_units=CONTEXT_UNITS,
        decoder=vae_decoder(decoder_units, latent_size, seed),
        **kwargs,
    )
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=steps)
    vae.compile(optimizer=keras.optimizers.Adam(schedule))
    train = data.train_images
    steps_per_epoch = int(np.ceil(len(train) / 64))
    epochs = max(1, steps // steps_per_epoch)
    best = keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=epochs, restore_best_weights=True, start_from_epoch=epochs // 3
    )
    history = vae.fit(
        train,
        epochs=epochs,
        batch_size=64,
        validation_data=data.validation,
        callbacks=[best, keras.callbacks.TerminateOnNaN()],
        verbose=0,
    )
    trained = time.perf_counter()
    bound = tff.metrics.importance_weighted_bound(vae, data.test, k=k, seed=1000 + seed)
    best_epoch = int(np.argmin(history.history["val_loss"][epochs // 3 :])) + epochs // 3
    run = Run(
        name,
        seed,
        bound.bits_per_dim.mean,
        bound.nats.mean,
        bound.nats.stderr,
        bound.elbo.mean,
        bound.gap.mean,
        bound.ess.mean,
        trained - started,
        time.perf_counter() - trained,
        bound.per_point,
        f"best validation ELBO at epoch {best_epoch + 1} of {epochs}",
    )
    return run, vae


def run_job(job: tuple[str, int], args: argparse.Namespace) -> Run:
    name, seed = job
    data = load(num_samples=4)
    if name == FLOW:
        run, model = train_flow(seed, args.flow_steps, data)
    else:
        run, model = train_vae(
            name,
            seed,
            args.steps,
            args.k,
            data,
            args.latent_size,
            args.learning_rate,
            decoder_units=args.decoder_units,
            posterior_kwargs=json.loads(args.posterior_kwargs) if args.posterior_kwargs else None,
            warmup=args.warmup,
        )
    if args.figures and seed == args.seeds[0]:
        write_figure(name, model, data, args.figures)
    return run


def write_figure(name: str, model: Any, data: Any, directory: str) -> None:
    """``vae_<name>.png``: 20 samples (a VAE's decoder means at ``z ~ p(z)``; the flow's draws,
    in grey levels), and a VAE's reconstructions (decoder means at the posterior mean of
    ``z``) under the first test image of each digit."""
    from matplotlib.figure import Figure

    os.makedirs(directory, exist_ok=True)
    if name == FLOW:
        samples = np.asarray(model.sample(20, seed=0)) * LEVELS
        rows = [samples[:10], samples[10:]]
    else:
        test, labels = tff.datasets.digits("test", return_labels=True)
        firsts = test[[int(np.flatnonzero(labels == d)[0]) for d in range(10)]]
        z = np.asarray(model.encode(firsts).sample(64, seed=0)).mean(axis=0)
        samples = np.asarray(model.sample(10, seed=0))
        rows = [samples, firsts, np.asarray(model.decode(z))]
    figure = Figure(figsize=(10, 1.1 * len(rows)))
    axes = figure.subplots(len(rows), 10)
    for row, images in zip(axes, rows):
        for axis, image in zip(row, images):
            axis.imshow(np.clip(image[..., 0], 0, LEVELS - 1), cmap="gray_r", vmin=0, vmax=16)
            axis.set_axis_off()
    label = (
        "multiscale real_nvp: samples"
        if name == FLOW
        else f"{VAES[name][0]}: samples / test images / reconstructions"
    )
    figure.suptitle(label, fontsize=9)
    figure.savefig(os.path.join(directory, f"vae_{name}.png"), dpi=90)


def _one_thread() -> None:
    """A worker process: TensorFlow on one core (the workers share the machine's cores)."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)


def write_json(runs: list[Run], path: str | None) -> None:
    """Every run so far (rewritten after each one, so a stopped run keeps what it finished)."""
    if not path:
        return
    with open(path, "w") as handle:
        json.dump(
            [
                {**r._asdict(), "per_point": None if r.per_point is None else r.per_point.tolist()}
                for r in runs
            ],
            handle,
        )


def read_json(paths: list[str]) -> list[Run]:
    """The runs of one or more files of ``--json``, in order (the per-image bounds as arrays),
    to put runs of one setting made at different times (e.g. a screen's seed 0 and a later
    run's seeds 1 and 2) in one table. A (model, seed) in two runs is an error: the medians
    would count it twice."""
    runs = []
    for path in paths:
        with open(path) as handle:
            for entry in json.load(handle):
                if entry["per_point"] is not None:
                    entry["per_point"] = np.asarray(entry["per_point"])
                runs.append(Run(**entry))
    seen = [(r.model, r.seed) for r in runs]
    repeated = sorted({key for key in seen if seen.count(key) > 1})
    if repeated:
        raise ValueError(
            f"each (model, seed) must be in one run of the files given, got {repeated} more "
            f"than once in {paths}."
        )
    return runs


def report(run: Run) -> None:
    print(
        f"{run.model} seed {run.seed}: {run.bits_per_dim:.4f} bits/dim, bound {run.nats:.2f} "
        f"nats, ELBO {run.elbo:.2f}, gap {run.gap:.2f}, ESS {run.ess:.0f}; train "
        f"{run.train_seconds:.0f} s, score {run.score_seconds:.0f} s ({run.details})",
        flush=True,
    )


def paired_difference(
    runs: list[Run], name: str, against: str
) -> tuple[float, float, int, list[tuple[float, float]]] | None:
    """Medians over seeds of the mean paired difference ``IWAE(name) - IWAE(against)`` over the
    test images and of its standard error, the number of seeds, and each seed's pair."""
    base = {r.seed: r for r in runs if r.model == against and r.per_point is not None}
    paired = [r for r in runs if r.model == name and r.seed in base and r.per_point is not None]
    if not paired:
        return None
    per_seed = []
    for r in sorted(paired, key=lambda r: r.seed):
        d = r.per_point - base[r.seed].per_point
        per_seed.append((float(np.mean(d)), float(np.std(d, ddof=1) / np.sqrt(len(d)))))
    mean = float(np.median([m for m, _ in per_seed]))
    se = float(np.median([e for _, e in per_seed]))
    return mean, se, len(paired), per_seed


def table(runs: list[Run], models: list[str], k: int) -> str:
    """Medians over seeds; paired differences to the Gaussian posterior."""
    labels = {FLOW: "multiscale `real_nvp((8, 8, 1))` (exact density)"}
    labels.update({name: label for name, (label, _) in VAES.items()})
    lines = [
        f"| model | test bits/dim | bound (nats) ± s.e. | ELBO (nats) | IWAE - ELBO | ESS (of {k}) "
        "| vs Gaussian posterior (nats) ± s.e. | train (s) | score (s) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in models:
        mine = [r for r in runs if r.model == name]
        if not mine:
            continue

        def median(field: str, of: list[Run] = mine) -> float:
            return float(np.median([getattr(r, field) for r in of]))

        versus = ""
        compared = paired_difference(runs, name, "gaussian") if name != "gaussian" else None
        if compared is not None:
            mean, se, _, _ = compared
            versus = f"{mean:+.2f} ± {se:.2f} ({mean / se:+.1f} s.e.)"
        bound = f"{median('nats'):.2f}" + (
            f" ± {median('stderr'):.2f}" if np.isfinite(median("stderr")) else ""
        )
        extra = (
            ["", "", ""]
            if name == FLOW
            else [f"{median('elbo'):.2f}", f"{median('gap'):.2f}", f"{median('ess'):.0f}"]
        )
        lines.append(
            f"| {labels[name]} | {median('bits_per_dim'):.4f} | {bound} | "
            + " | ".join(extra)
            + f" | {versus} | {median('train_seconds'):.0f} | {median('score_seconds'):.0f} |"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (``argv=None``: ``sys.argv``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    choices = [FLOW, *VAES]
    parser.add_argument("--models", nargs="+", default=choices, choices=choices)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=3000, help="optimizer steps of every VAE")
    parser.add_argument(
        "--flow-seeds",
        nargs="+",
        type=int,
        default=None,
        help="the multiscale flow's seeds (default: --seeds)",
    )
    parser.add_argument(
        "--flow-steps", type=int, default=None, help="at most (default: benchmarks/digits.py's)"
    )
    parser.add_argument("--k", type=int, default=1000, help="IWAE draws per test image")
    parser.add_argument("--latent-size", type=int, default=8)
    parser.add_argument(
        "--learning-rate", type=float, default=1e-3, help="Adam's, cosine-decayed to 0"
    )
    parser.add_argument(
        "--decoder-units",
        nargs="*",
        type=int,
        default=None,
        help="dense decoder widths before the logits, no convolutions (none given: linear); "
        "default: the VAE's convolutional decoder",
    )
    parser.add_argument(
        "--posterior-kwargs",
        default=None,
        help="the flow posteriors' builder arguments as JSON, e.g. '{\"num_layers\": 8}'",
    )
    parser.add_argument(
        "--warmup", type=float, default=0.2, help="KL warm-up, a fraction of the steps"
    )
    parser.add_argument("--json", default=None, help="also write every run to this JSON file")
    parser.add_argument(
        "--from-json",
        nargs="+",
        metavar="FILE",
        default=None,
        help="train nothing: the table of the runs in these --json files (give --k if not 1000)",
    )
    parser.add_argument(
        "--figures", metavar="DIR", default=None, help="write each model's samples (first seed)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes running the (model, seed) jobs side by side, one CPU thread each",
    )
    return parser.parse_args(argv)


def summarize(runs: list[Run], k: int) -> None:
    """Print the table of ``runs`` and each flow's paired difference to its baseline."""
    print()
    print(table(runs, [m for m in [FLOW, *VAES] if any(r.model == m for r in runs)], k))
    for name, against in [
        ("iaf", "gaussian"),
        ("real_nvp", "gaussian"),
        ("nsf", "gaussian"),
        ("iaf_maf_prior", "gaussian"),
        ("iaf_maf_prior", "iaf"),
    ]:
        compared = paired_difference(runs, name, against)
        if compared is not None:
            mean, se, seeds, per_seed = compared
            verdict = "met" if mean > 3 * se else "NOT met"
            print(
                f"{name} - {against} (IWAE per test image, paired; medians of {seeds} seeds): "
                f"{mean:+.2f} ± {se:.2f} nats; > 3 s.e.: {verdict}; per seed: "
                + ", ".join(f"{d:+.2f} ± {e:.2f}" for d, e in per_seed)
            )


def main() -> None:
    started = time.perf_counter()
    args = parse_args()
    if args.from_json:
        summarize(read_json(args.from_json), args.k)
        return
    data = load(num_samples=4)
    print(
        f"digits: train {len(data.train_images)}, validation {len(data.validation)}, test "
        f"{len(data.test)}; VAEs: {args.steps} steps, latent size {args.latent_size}, "
        f"learning rate {args.learning_rate}, warm-up {args.warmup}, decoder "
        f"{'default' if args.decoder_units is None else args.decoder_units or 'linear'}, "
        f"posterior kwargs {args.posterior_kwargs or 'default'}, "
        f"IWAE k = {args.k}; seeds {args.seeds}",
        flush=True,
    )
    jobs = [
        (name, seed)
        for name in args.models
        for seed in ((args.flow_seeds or args.seeds) if name == FLOW else args.seeds)
    ]  # in the order of --models
    runs: list[Run] = []
    if args.workers == 1:
        for job in jobs:
            runs.append(run_job(job, args))
            report(runs[-1])
            write_json(runs, args.json)
    else:
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(
            args.workers, mp_context=context, initializer=_one_thread
        ) as pool:
            futures = [pool.submit(run_job, job, args) for job in jobs]
            for future in concurrent.futures.as_completed(futures):
                runs.append(future.result())
                report(runs[-1])
                write_json(runs, args.json)
    summarize(runs, args.k)
    print(
        f"\ntotal wall time: {time.perf_counter() - started:.0f} s, CPU time: "
        f"{time.process_time():.0f} s, load average at the end: "
        f"{', '.join(f'{v:.1f}' for v in os.getloadavg())}"
    )


if __name__ == "__main__":
    main()
