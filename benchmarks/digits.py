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

    python benchmarks/digits.py                          # every method, both spaces (~1-2 min)
    python benchmarks/digits.py --methods kde --spaces logit
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

import tfp_flows as tff  # noqa: E402
from tfp_flows.bijectors.logit import Logit  # noqa: E402

LEVELS = tff.datasets.DIGITS_LEVELS
SHAPE = tff.datasets.DIGITS_SHAPE
D = int(np.prod(SHAPE))
ALPHA = 0.05
SPACES = ("pixels", "logit")


class Data(NamedTuple):
    """The splits: dequantised training pixels ``[n, 8, 8, 1]`` and discrete validation/test images."""

    train: np.ndarray          # v = (x + u) / 17, float64
    validation: np.ndarray     # integer levels, float32
    test: np.ndarray           # integer levels, float32
    num_samples: int           # noise draws per image when scoring


class Result(NamedTuple):
    """One row of the table."""

    name: str
    bits_per_dim: float        # test
    seconds: float             # wall time of the whole method (search, fits, scoring)
    validation_bits_per_dim: float
    details: str               # the hyperparameters chosen


def load(num_samples: int = 4, seed: int = 0) -> Data:
    train = tff.dequantization.uniform_dequantize(
        tff.datasets.digits("train"), levels=LEVELS, seed=seed, dtype=tf.float64).numpy()
    return Data(train, tff.datasets.digits("validation"), tff.datasets.digits("test"), num_samples)


def score(distribution: Any, x: np.ndarray, data: Data, split_seed: int) -> float:
    """Bits/dim of discrete images ``x`` under a density of their dequantised pixels."""
    return tff.metrics.bits_per_dim(distribution, x, levels=LEVELS,
                                    num_samples=data.num_samples, seed=split_seed)


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


def best_on_validation(candidates: Iterable[tuple[str, Callable[[], PixelDensity]]],
                       data: Data) -> tuple[str, PixelDensity, float]:
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
        started = time.perf_counter()
        result = method(data, space)
        return result._replace(seconds=time.perf_counter() - started)
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
    return Result(f"Gaussian, full covariance ({space})", test_bits(density, data), 0.0,
                  validation_bits(density, data), "")


@timed
def gaussian_mixture(data: Data, space: str) -> Result:
    """``sklearn.mixture.GaussianMixture``, chosen on validation over components x type x reg."""
    from sklearn.mixture import GaussianMixture

    rows = to_space(data.train, space)
    mean_variance = float(rows.var(0).mean())

    def build(k: int, kind: str, reg: float) -> Callable[[], PixelDensity]:
        def fit() -> PixelDensity:
            mixture = GaussianMixture(k, covariance_type=kind, reg_covar=reg * mean_variance,
                                      max_iter=200, random_state=0).fit(rows)
            return PixelDensity(mixture.score_samples, space)
        return fit

    grid = ([("full", k, reg) for k in (2, 4, 8, 16) for reg in (1e-3, 1e-2, 1e-1)]
            + [("diag", k, reg) for k in (32, 64, 128) for reg in (1e-3, 1e-2)])
    candidates = [(f"{k} components, {kind}, reg_covar {reg:g} x mean variance",
                   build(k, kind, reg)) for kind, k, reg in grid]
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

    candidates = [(f"bandwidth {factor:.3f} x {'sd of each pixel' if per_pixel else 'mean sd'}",
                   build(factor, per_pixel))
                  for per_pixel in (False, True) for factor in np.geomspace(0.05, 1.0, 25)]
    label, density, bits = best_on_validation(candidates, data)
    return Result(f"KDE, Gaussian kernel ({space})", test_bits(density, data), 0.0, bits, label)


METHODS: dict[str, Callable[[Data, str], Result]] = {
    "gaussian": gaussian,
    "gmm": gaussian_mixture,
    "kde": kde,
}


def table(results: list[Result]) -> str:
    lines = ["| model | test bits/dim | validation bits/dim | wall time (s) | chosen on validation |",
             "|---|---:|---:|---:|---|"]
    for r in results:
        lines.append(f"| {r.name} | {r.bits_per_dim:.4f} | {r.validation_bits_per_dim:.4f} | "
                     f"{r.seconds:.1f} | {r.details} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--spaces", nargs="+", default=list(SPACES), choices=list(SPACES))
    parser.add_argument("--num-samples", type=int, default=4,
                        help="uniform noise draws per validation/test image (default 4)")
    args = parser.parse_args()
    data = load(num_samples=args.num_samples)
    print(f"digits: train {len(data.train)}, validation {len(data.validation)}, test "
          f"{len(data.test)}; uniform density = log2(17) = {np.log2(LEVELS):.4f} bits/dim")
    results = []
    for name in args.methods:
        for space in args.spaces:
            result = METHODS[name](data, space)
            print(f"{result.name}: {result.bits_per_dim:.4f} bits/dim ({result.seconds:.1f} s)",
                  flush=True)
            results.append(result)
    print()
    print(table(results))


if __name__ == "__main__":
    main()
