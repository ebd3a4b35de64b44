"""Digits (8x8, 17 grey levels): test bits/dim of density models fitted to the same dequantised images.

Every model is fitted to the same dequantised training images
(``v = (x + u) / 17``, ``u ~ U[0, 1)^64`` drawn once with seed 0, from
``tff.datasets.digits("train")``), has its hyperparameters chosen on the
validation split, and is scored on the test split with
``tff.metrics.bits_per_dim`` (uniform dequantisation bound, the same noise
seeds for every model):

```none
bits/dim = -(1/n) sum_i E_u[ log p((x_i + u) / 17) - 64 log 17 ] / (64 ln 2)
```

Two spaces for the baselines (one row each):

* ``pixels``: the density ``p`` is fitted to ``v`` in ``[0, 1]^64`` directly;
* ``logit``: a density ``q`` is fitted to ``y = logit(alpha + (1 - 2 alpha) v)``
  (Real NVP's preprocessing, ``alpha = 0.05``), and ``v`` is scored with the
  exact change of variables ``log p(v) = log q(y(v)) + log|det dy/dv|``
  (``tfp_flows.bijectors.logit.Logit`` and its log-det).

Both are densities of ``v`` (mass a model puts outside ``[0, 1]^64`` is lost,
which can only make its bits/dim worse), so their bits/dim compare directly.

Methods (one function each, ``(data, space) -> Result(name, bits_per_dim, seconds, ...)``;
a flow is one more function in ``METHODS``): a full-covariance Gaussian (the
maximum-likelihood fit), a Gaussian mixture (scikit-learn; number of
components, covariance type and covariance regularisation chosen on
validation) and a Gaussian kernel density estimate (scikit-learn; bandwidth
chosen on validation). ``seconds`` is the wall time of the whole method:
every fit of the hyperparameter search, the validation and the test scoring.

Flows (``FLOWS``, logit space only, ``train_flow``): ``tff.real_nvp`` and
``tff.nsf`` on the flattened 64-D images (a ``tfb.Reshape`` in front, so the
density of ``[8, 8, 1]`` is the vector flow's, log-det 0), the multiscale
``tff.real_nvp((8, 8, 1))`` and ``tff.glow((8, 8, 1))``, each as
``with_logit_preprocessing(flow)`` trained by ``tff.fit`` on
``DequantizedImages(train)`` (fresh noise at every step, unlike the
baselines' single draw) and stopped early on the validation split (the
weights of the best validation NLL are kept). Their architecture and budget
were chosen on validation bits/dim in separate runs (benchmarks/README.md).
``--figures DIR`` writes the multiscale flow's samples at temperatures 0.7 /
0.8 / 1, test reconstructions and latent interpolations
(:mod:`tfp_flows.plotting.images`).

    python benchmarks/digits.py                          # everything (4-10 min on 2 cores)
    python benchmarks/digits.py --methods kde --spaces logit
    python benchmarks/digits.py --methods real_nvp_image --steps 50 --figures /tmp/digits
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow_probability import bijectors as tfb  # noqa: E402
from tensorflow_probability import distributions as tfd  # noqa: E402

import tfp_flows as tff  # noqa: E402
from tfp_flows.bijectors.chain import FlowChain  # noqa: E402
from tfp_flows.bijectors.logit import Logit  # noqa: E402
from tfp_flows.images.dequantization import DequantizedImages, with_logit_preprocessing  # noqa: E402

LEVELS = tff.datasets.DIGITS_LEVELS
SHAPE = tff.datasets.DIGITS_SHAPE
D = int(np.prod(SHAPE))
ALPHA = 0.05
SPACES = ("pixels", "logit")


class Data(NamedTuple):
    """The splits: dequantised training pixels ``[n, 8, 8, 1]`` and discrete validation/test images."""

    train: np.ndarray  # v = (x + u) / 17, float64
    train_images: np.ndarray  # integer levels, float32 (the flows draw fresh noise from these)
    validation: np.ndarray  # integer levels, float32
    test: np.ndarray  # integer levels, float32
    num_samples: int  # noise draws per image when scoring


class Result(NamedTuple):
    """One row of the table."""

    name: str
    bits_per_dim: float  # test
    seconds: float  # wall time of the whole method (search, fits, scoring)
    validation_bits_per_dim: float
    details: str  # the hyperparameters chosen
    model: Any = None  # the trained density of the pixels (flows)
    cpu_seconds: float = 0.0  # CPU time of the process during the method (all threads)


def load(num_samples: int = 4, seed: int = 0) -> Data:
    images = tff.datasets.digits("train")
    train = tff.images.uniform_dequantize(
        images, levels=LEVELS, seed=seed, dtype=tf.float64
    ).numpy()
    return Data(
        train, images, tff.datasets.digits("validation"), tff.datasets.digits("test"), num_samples
    )


def score(distribution: Any, x: np.ndarray, data: Data, split_seed: int) -> float:
    """Bits/dim of discrete images ``x`` under a density of their dequantised pixels."""
    return tff.metrics.bits_per_dim(
        distribution, x, levels=LEVELS, num_samples=data.num_samples, seed=split_seed
    )


def validation_bits(distribution: Any, data: Data) -> float:
    return score(distribution, data.validation, data, split_seed=1)


def test_bits(distribution: Any, data: Data) -> float:
    return score(distribution, data.test, data, split_seed=2)


# -- densities of the pixels from scikit-learn-style models on 64-D vectors -----------------------


def to_space(v: np.ndarray, space: str) -> np.ndarray:
    """Pixels ``[..., 8, 8, 1]`` -> the rows ``[..., 64]`` a model of ``space`` sees."""
    if space == "logit":
        v = Logit(SHAPE, alpha=ALPHA, dtype=tf.float64).forward(tf.constant(v, tf.float64)).numpy()
    return np.reshape(v, np.shape(v)[:-3] + (D,))


class PixelDensity:
    """``log p(v)`` of pixels ``v`` from ``log_density`` of rows in ``space`` (with the Jacobian).

    ```none
    pixels:  log p(v) = log_density(v)
    logit:   log p(v) = log_density(y(v)) + sum_i [log(1 - 2 alpha) - log s_i - log(1 - s_i)]
    ```

    Quacks like a ``tfd.Distribution`` for ``tff.metrics.bits_per_dim``.
    """

    dtype = tf.float64
    event_shape = tf.TensorShape(SHAPE)

    def __init__(self, log_density: Callable[[np.ndarray], np.ndarray], space: str):
        self.log_density = log_density
        self.space = space
        self.logit = Logit(SHAPE, alpha=ALPHA, dtype=tf.float64)

    def log_prob(self, v: Any) -> tf.Tensor:
        v = tf.convert_to_tensor(v, tf.float64)
        batch = v.shape[:-3]
        rows = to_space(v.numpy(), self.space).reshape(-1, D)
        log_p = self.log_density(rows).reshape(batch)
        if self.space == "logit":
            log_p = log_p + self.logit.forward_log_det_jacobian(v, event_ndims=3).numpy()
        return tf.constant(log_p, tf.float64)


def best_on_validation(
    candidates: Iterable[tuple[str, Callable[[], PixelDensity]]], data: Data
) -> tuple[str, PixelDensity, float]:
    """The candidate with the lowest validation bits/dim: ``(label, density, bits/dim)``."""
    best = None
    for label, build in candidates:
        try:
            density = build()
            bits = validation_bits(density, data)
        except (ValueError, np.linalg.LinAlgError) as error:  # a singular fit: skip it
            print(f"  skipped {label}: {error}")
            continue
        if best is None or bits < best[2]:
            best = (label, density, bits)
    if best is None:
        raise RuntimeError("every candidate failed")
    return best


def timed(method: Callable[[Data, str], Result]) -> Callable[[Data, str], Result]:
    def run(data: Data, space: str) -> Result:
        started, cpu = time.perf_counter(), time.process_time()
        result = method(data, space)
        return result._replace(
            seconds=time.perf_counter() - started, cpu_seconds=time.process_time() - cpu
        )

    run.__name__ = method.__name__
    return run


# -- the methods ---------------------------------------------------------------------------------


@timed
def gaussian(data: Data, space: str) -> Result:
    """The maximum-likelihood full-covariance Gaussian (no hyperparameters)."""
    from scipy import stats

    rows = to_space(data.train, space)
    normal = stats.multivariate_normal(rows.mean(0), np.cov(rows, rowvar=False, bias=True))
    density = PixelDensity(normal.logpdf, space)
    return Result(
        f"Gaussian, full covariance ({space})",
        test_bits(density, data),
        0.0,
        validation_bits(density, data),
        "",
    )


@timed
def gaussian_mixture(data: Data, space: str) -> Result:
    """``sklearn.mixture.GaussianMixture``, chosen on validation over components x type x reg."""
    from sklearn.mixture import GaussianMixture

    rows = to_space(data.train, space)
    mean_variance = float(rows.var(0).mean())

    def build(k: int, kind: str, reg: float) -> Callable[[], PixelDensity]:
        def fit() -> PixelDensity:
            mixture = GaussianMixture(
                k, covariance_type=kind, reg_covar=reg * mean_variance, max_iter=200, random_state=0
            ).fit(rows)
            return PixelDensity(mixture.score_samples, space)

        return fit

    grid = [("full", k, reg) for k in (2, 4, 8, 16) for reg in (1e-3, 1e-2, 1e-1)] + [
        ("diag", k, reg) for k in (32, 64, 128) for reg in (1e-3, 1e-2)
    ]
    candidates = [
        (f"{k} components, {kind}, reg_covar {reg:g} x mean variance", build(k, kind, reg))
        for kind, k, reg in grid
    ]
    label, density, bits = best_on_validation(candidates, data)
    return Result(f"Gaussian mixture ({space})", test_bits(density, data), 0.0, bits, label)


@timed
def kde(data: Data, space: str) -> Result:
    """``sklearn.neighbors.KernelDensity`` (Gaussian kernel), bandwidth chosen on validation.

    Two bandwidth shapes, both searched: isotropic ``h * mean sd`` (scikit-learn's
    own), and per pixel ``h * sd_i`` (the KDE of the rows divided by their
    standard deviations ``sd_i``, with the Jacobian ``-sum_i log sd_i``).
    """
    from sklearn.neighbors import KernelDensity

    rows = to_space(data.train, space)
    sd = rows.std(0)

    def build(factor: float, per_pixel: bool) -> Callable[[], PixelDensity]:
        scale = sd if per_pixel else np.full_like(sd, sd.mean())
        estimator = KernelDensity(bandwidth=factor).fit(rows / scale)

        def log_density(points: np.ndarray) -> np.ndarray:
            return estimator.score_samples(points / scale) - np.log(scale).sum()

        return lambda: PixelDensity(log_density, space)

    candidates = [
        (
            f"bandwidth {factor:.3f} x {'sd of each pixel' if per_pixel else 'mean sd'}",
            build(factor, per_pixel),
        )
        for per_pixel in (False, True)
        for factor in np.geomspace(0.05, 1.0, 25)
    ]
    label, density, bits = best_on_validation(candidates, data)
    return Result(f"KDE, Gaussian kernel ({space})", test_bits(density, data), 0.0, bits, label)


# -- flows ---------------------------------------------------------------------------------------


def flattened(vector_flow: tff.Flow) -> tff.Flow:
    """A flow on ``R^64`` as a flow on ``[8, 8, 1]``: its samples reshaped, the density unchanged.

    ```none
    p_image(y) = p_vector(reshape(y, [64]))      (a reshape is a permutation-free relabelling:
                                                  log|det| = 0, tfb.Reshape)
    ```
    """
    return tff.Flow(
        vector_flow.distribution,
        FlowChain(
            [tfb.Reshape(SHAPE, [D]), vector_flow.bijector], name=f"{vector_flow.name}_images"
        ),
        name=f"{vector_flow.name}_images",
    )


class FlowSetting(NamedTuple):
    """A flow row: the flow on logit space (event ``[8, 8, 1]``) and its training budget."""

    label: str
    build: Callable[[], tfd.Distribution]
    steps: int  # at most; early stopping on validation ends most runs sooner
    batch_size: int
    learning_rate: float
    details: str
    validation_every: int = 100
    patience: int = 3  # validations without a new best before stopping
    jit_compile: bool = True  # XLA; the image flows use the plain tf.function loop


# Chosen on the validation split (separate runs, see benchmarks/README.md "Digits"); each is
# trained once here with fit's default optimizer (Adam, warm-up then cosine decay from the
# learning rate, gradient norm clipped at 1) and fit's seed 0.
FLOWS: dict[str, FlowSetting] = {
    "real_nvp_vector": FlowSetting(
        "real_nvp, vector (64-D, logit)",
        lambda: flattened(tff.real_nvp(D, num_layers=6, hidden_units=(64, 64), seed=0)),
        steps=3000,
        batch_size=128,
        learning_rate=1e-3,
        details="6 couplings, MLP 64-64, LU mixing; batch 128, lr 1e-3",
    ),
    "nsf_vector": FlowSetting(
        "nsf, vector (64-D, logit)",
        lambda: flattened(tff.nsf(D, num_layers=4, hidden_units=(64, 64), bins=8, seed=0)),
        steps=2000,
        batch_size=128,
        learning_rate=1e-3,
        details="4 spline couplings, 8 bins, MLP 64-64, LU mixing; batch 128, lr 1e-3",
    ),
    "real_nvp_image": FlowSetting(
        "real_nvp, multiscale ((8, 8, 1), logit)",
        lambda: tff.real_nvp(
            SHAPE, num_scales=2, steps_per_scale=2, hidden_channels=32, num_blocks=1, seed=0
        ),
        steps=2500,
        batch_size=64,
        learning_rate=1e-3,
        validation_every=250,
        patience=4,
        jit_compile=False,
        details="2 scales x 2 steps, conv 32 channels, 1 residual block; batch 64, lr 1e-3",
    ),
    "glow": FlowSetting(
        "glow ((8, 8, 1), logit)",
        lambda: tff.glow(
            SHAPE, num_scales=2, steps_per_scale=3, hidden_channels=32, num_blocks=1, seed=0
        ),
        steps=2500,
        batch_size=64,
        learning_rate=1e-3,
        validation_every=250,
        patience=4,
        jit_compile=False,
        details="2 scales x 3 steps, conv 32 channels, 1 residual block; batch 64, lr 1e-3",
    ),
}


def fit_on_dequantized(
    model: tfd.Distribution, setting: FlowSetting, data: Data, steps: int, seed: int = 0
) -> Any:
    """``tff.fit`` of ``model`` with ``setting``'s budget on fresh dequantisation noise each step,
    early-stopped on the validation rows (best weights restored); returns the history."""
    return tff.fit(
        model,
        DequantizedImages(data.train_images, levels=LEVELS),
        steps=steps,
        batch_size=setting.batch_size,
        learning_rate=setting.learning_rate,
        validation_data=early_stopping_rows(data),
        callbacks=[
            tff.training.Validation(every=min(setting.validation_every, steps)),
            tff.training.EarlyStopping(patience=setting.patience, restore_best_weights=True),
        ],
        jit_compile=setting.jit_compile,
        progress=False,
        seed=seed,
    )


def train_flow(setting: FlowSetting, data: Data, steps: int | None = None) -> Result:
    """Fits ``with_logit_preprocessing(flow)`` on fresh dequantisation noise; scores it like the rest.

    Every step draws a new batch of dequantised training images
    (:class:`~tfp_flows.images.dequantization.DequantizedImages`: an image picked
    uniformly, ``v = (x + u) / 17`` with fresh ``u``); the model is the density
    of ``v`` of the module docstring's ``logit`` space (its ``log_prob``
    includes the logit's log-det), scored with the same ``bits_per_dim`` calls.
    ``seconds`` counts building, training (tracing and XLA compilation
    included) and scoring.
    """
    started, cpu = time.perf_counter(), time.process_time()
    model = with_logit_preprocessing(setting.build(), alpha=ALPHA)
    steps = setting.steps if steps is None else steps
    history = fit_on_dequantized(model, setting, data, steps)
    details = (
        f"{setting.details}; best validation at step {history.best_step} of "
        f"{len(history.loss)} run (max {steps})"
    )
    result = Result(
        setting.label, test_bits(model, data), 0.0, validation_bits(model, data), details, model
    )
    return result._replace(
        seconds=time.perf_counter() - started, cpu_seconds=time.process_time() - cpu
    )


def early_stopping_rows(data: Data, draws: int = 4) -> np.ndarray:
    """The validation images dequantised ``draws`` times (seed 1): the rows ``fit`` validates on.

    ``fit`` keeps the weights of its best validation NLL of these rows (a
    density of ``v``; its mean NLL is the validation bits/dim up to
    ``D ln 2`` and the constant ``D log 17``), checked every
    ``validation_every`` steps; it stops after ``patience`` checks without a
    new best.
    """
    rows = tff.images.uniform_dequantize(data.validation, levels=LEVELS, seed=1, num_samples=draws)
    return np.reshape(rows.numpy(), (-1, *SHAPE))


# -- figures -------------------------------------------------------------------------------------


def write_figures(model: tfd.Distribution, data: Data, directory: str) -> list[str]:
    """Samples at temperatures, reconstructions and interpolations of test digits, as PNGs."""
    from tfp_flows.plotting import images as image_plots

    os.makedirs(directory, exist_ok=True)
    test, labels = tff.datasets.digits("test", return_labels=True)
    firsts = [int(np.flatnonzero(labels == digit)[0]) for digit in range(10)]
    seconds = [int(np.flatnonzero(labels == digit)[1]) for digit in range(10)]
    figures = {
        "digits_samples.png": image_plots.plot_temperature_samples(
            model, temperatures=(0.7, 0.8, 1.0), num_images=40, columns=8, seed=0
        ),
        "digits_reconstructions.png": image_plots.plot_reconstructions(
            model, test[firsts + seconds], levels=LEVELS, columns=10
        ),
        "digits_interpolations.png": image_plots.plot_latent_interpolations(
            model, test[firsts[:5]], test[firsts[5:]], levels=LEVELS, num_steps=9
        ),
    }
    paths = []
    for name, figure in figures.items():
        paths.append(os.path.join(directory, name))
        figure.savefig(paths[-1], dpi=110)
    return paths


METHODS: dict[str, Callable[[Data, str], Result]] = {
    "gaussian": gaussian,
    "gmm": gaussian_mixture,
    "kde": kde,
}


def table(results: list[Result]) -> str:
    lines = [
        "| model | test bits/dim | validation bits/dim | wall time (s) | CPU time (s) "
        "| chosen on validation |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.name} | {r.bits_per_dim:.4f} | {r.validation_bits_per_dim:.4f} | "
            f"{r.seconds:.1f} | {r.cpu_seconds:.1f} | {r.details} |"
        )
    return "\n".join(lines)


def main() -> None:
    started = time.perf_counter()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--methods", nargs="+", default=[*METHODS, *FLOWS], choices=[*METHODS, *FLOWS]
    )
    parser.add_argument(
        "--spaces",
        nargs="+",
        default=list(SPACES),
        choices=list(SPACES),
        help="spaces of the baselines (the flows work in logit space)",
    )
    parser.add_argument(
        "--num-samples",
        type=int,
        default=4,
        help="uniform noise draws per validation/test image (default 4)",
    )
    parser.add_argument(
        "--steps",
        type=int,
        default=None,
        help="train every flow this many steps (smoke runs; default: its own)",
    )
    parser.add_argument(
        "--figures",
        metavar="DIR",
        default=None,
        help="write the figures of the multiscale real_nvp to DIR",
    )
    args = parser.parse_args()
    if args.figures and "real_nvp_image" not in args.methods:
        parser.error("--figures draws the multiscale flow: add real_nvp_image to --methods")
    data = load(num_samples=args.num_samples)
    print(
        f"digits: train {len(data.train)}, validation {len(data.validation)}, test "
        f"{len(data.test)}; uniform density = log2(17) = {np.log2(LEVELS):.4f} bits/dim"
    )
    results = []
    for name in args.methods:
        runs = (
            [train_flow(FLOWS[name], data, args.steps)]
            if name in FLOWS
            else (METHODS[name](data, space) for space in args.spaces)
        )
        for result in runs:
            print(
                f"{result.name}: {result.bits_per_dim:.4f} bits/dim ({result.seconds:.1f} s)",
                flush=True,
            )
            results.append(result)
            if args.figures and name == "real_nvp_image":
                for path in write_figures(result.model, data, args.figures):
                    print(f"  wrote {path}")
    print()
    print(table(results))
    print(
        f"\ntotal wall time: {time.perf_counter() - started:.0f} s, CPU time: "
        f"{time.process_time():.0f} s (all threads; 2 cores give at most 2 CPU s per s), "
        f"load average at the end: {', '.join(f'{v:.1f}' for v in os.getloadavg())}"
    )


if __name__ == "__main__":
    main()
