"""Tasks of the SBI benchmark (sbibm): priors, simulators, and the published reference posteriors.

Each task is a prior ``p(theta)`` (a ``tfd.Distribution``) and a stochastic
simulator ``x ~ p(x | theta)`` written here in TensorFlow from the
definitions of Lueckmann et al. (2021), stateless-seeded so that ``npe`` can
draw fresh pairs inside its compiled loop:

```none
two_moons         theta ~ U([-1, 1]^2);  a ~ U(-pi/2, pi/2),  r ~ N(0.1, 0.01^2),
                  x = (r cos a + 0.25 - |theta_1 + theta_2| / sqrt 2,  r sin a + (theta_2 - theta_1) / sqrt 2)
gaussian_linear   theta ~ N(0, 0.1 I_10);  x ~ N(theta, 0.1 I_10)
```

The benchmark's 10 observations per task and their 10,000 reference posterior
samples are data files in the ``sbibm`` wheel (MIT licence). They are read
as files, never regenerated: install the wheel without its dependencies
(``pip install --no-deps sbibm``; importing ``sbibm`` would import torch,
so it is never imported). Without it, :meth:`SBITask.observation` and
:meth:`SBITask.reference_samples` raise an ``ImportError`` naming that command.

#### Examples

>>> task = sbi_task("two_moons")
>>> theta, x = task.sample_pairs(3, seed=0)
>>> theta.shape, x.shape
(TensorShape([3, 2]), TensorShape([3, 2]))

#### References

[1] Jan-Matthis Lueckmann, Jan Boelts, David Greenberg, Pedro Goncalves and Jakob
    Macke. Benchmarking simulation-based inference. AISTATS 2021.
"""

from __future__ import annotations

import bz2
import importlib.metadata
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf
from tensorflow_probability import distributions as tfd

from tfp_flows._internal.seeds import stateless_seed

__all__ = ["INSTALL_SBIBM", "SBI_TASKS", "PUBLISHED_NPE_C2ST", "SBITask", "sbi_task", "sbibm_file"]

INSTALL_SBIBM = "pip install --no-deps sbibm"

PUBLISHED_NPE_C2ST = {
    "two_moons": {1_000: 0.725, 10_000: 0.606, 100_000: 0.542},
    "gaussian_linear": {1_000: 0.694, 10_000: 0.552, 100_000: 0.506},
}
"""NPE (NSF) C2ST of Lueckmann et al. (2021), the mean over the 10 observations, per budget."""


def sbibm_file(task: str, relative: str) -> Path:
    """The path of a data file of the installed ``sbibm`` wheel (``sbibm/tasks/<task>/files/...``).

    Found through the distribution's metadata (``importlib.metadata``), without importing
    ``sbibm``. Raises ``ImportError`` naming the install command when the wheel is absent,
    and ``FileNotFoundError`` when the file is not in it.
    """
    try:
        distribution = importlib.metadata.distribution("sbibm")
    except importlib.metadata.PackageNotFoundError:
        raise ImportError(
            f"the SBI benchmark's observations and reference posteriors are data files of the "
            f"sbibm wheel, which is not installed: run `{INSTALL_SBIBM}` (its data files only; "
            "tfp_flows never imports sbibm, which would import torch)."
        ) from None
    path = Path(str(distribution.locate_file(f"sbibm/tasks/{task}/files/{relative}")))
    if not path.is_file():
        raise FileNotFoundError(f"sbibm {distribution.version} has no file {path}.")
    return path


def _read_csv(path: Path) -> np.ndarray:
    opener = bz2.open if path.suffix == ".bz2" else open
    with opener(path, "rt") as handle:
        return np.loadtxt(handle, delimiter=",", skiprows=1, ndmin=2, dtype=np.float32)


@dataclass(frozen=True)
class SBITask:
    """A benchmark task: ``prior``, ``simulator(theta, seed)``, and the benchmark's files.

    Attributes:
      name: the task's name in sbibm.
      prior: ``p(theta)``, a ``tfd.Distribution`` over ``[theta_size]``.
      simulator: ``simulator(theta [n, theta_size], seed) -> x [n, x_size]`` (TensorFlow ops,
        stateless ``seed``).
      theta_size, x_size: the dimensions.
    """

    name: str
    prior: tfd.Distribution
    simulator: Callable[[tf.Tensor, Any], tf.Tensor]
    theta_size: int
    x_size: int

    def sample_pairs(self, n: int, seed: Any) -> tuple[tf.Tensor, tf.Tensor]:
        """``n`` simulations ``(theta ~ prior, x ~ simulator(theta))``, reproducible for ``seed``."""
        prior_seed, simulator_seed = tf.unstack(
            tf.random.experimental.stateless_split(stateless_seed(seed), 2)
        )
        theta = self.prior.sample(n, seed=prior_seed)
        return theta, self.simulator(theta, simulator_seed)

    def observation(self, number: int) -> np.ndarray:
        """Observation ``number`` (1..10) of the benchmark: ``[x_size]`` (needs the sbibm wheel)."""
        return _read_csv(sbibm_file(self.name, f"{_observation(number)}/observation.csv"))[0]

    def true_parameters(self, number: int) -> np.ndarray:
        """The parameters observation ``number`` was simulated with: ``[theta_size]``."""
        return _read_csv(sbibm_file(self.name, f"{_observation(number)}/true_parameters.csv"))[0]

    def reference_samples(self, number: int) -> np.ndarray:
        """The 10,000 reference posterior samples of observation ``number``: ``[10000, theta_size]``."""
        relative = f"{_observation(number)}/reference_posterior_samples.csv.bz2"
        return _read_csv(sbibm_file(self.name, relative))


def _observation(number: int) -> str:
    if (
        isinstance(number, bool)
        or not isinstance(number, (int, np.integer))
        or not 1 <= number <= 10
    ):
        raise ValueError(f"the benchmark's observations are numbered 1 to 10, got {number!r}.")
    return f"num_observation_{int(number)}"


def _two_moons_simulator(theta: tf.Tensor, seed: Any) -> tf.Tensor:
    theta = tf.convert_to_tensor(theta, tf.float32)
    angle_seed, radius_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    n = tf.shape(theta)[0]
    a = tf.random.stateless_uniform([n], angle_seed, -math.pi / 2, math.pi / 2)
    r = 0.1 + 0.01 * tf.random.stateless_normal([n], radius_seed)
    sum_, difference = theta[:, 0] + theta[:, 1], theta[:, 1] - theta[:, 0]
    return tf.stack(
        [
            r * tf.cos(a) + 0.25 - tf.abs(sum_) / math.sqrt(2.0),
            r * tf.sin(a) + difference / math.sqrt(2.0),
        ],
        axis=1,
    )


def _gaussian_linear_simulator(theta: tf.Tensor, seed: Any) -> tf.Tensor:
    theta = tf.convert_to_tensor(theta, tf.float32)
    return theta + math.sqrt(0.1) * tf.random.stateless_normal(tf.shape(theta), seed)


def _two_moons() -> SBITask:
    prior = tfd.Independent(tfd.Uniform([-1.0, -1.0], [1.0, 1.0]), 1, name="two_moons_prior")
    return SBITask("two_moons", prior, _two_moons_simulator, 2, 2)


def _gaussian_linear() -> SBITask:
    prior = tfd.MultivariateNormalDiag(
        tf.zeros([10]), tf.fill([10], math.sqrt(0.1)), name="gaussian_linear_prior"
    )
    return SBITask("gaussian_linear", prior, _gaussian_linear_simulator, 10, 10)


SBI_TASKS: dict[str, Callable[[], SBITask]] = {
    "two_moons": _two_moons,
    "gaussian_linear": _gaussian_linear,
}


def sbi_task(name: str) -> SBITask:
    """The benchmark task ``name`` (one of :data:`SBI_TASKS`)."""
    if name not in SBI_TASKS:
        raise ValueError(f"unknown SBI task {name!r}; expected one of {sorted(SBI_TASKS)}.")
    return SBI_TASKS[name]()
