"""Tasks of the SBI benchmark (sbibm): priors, simulators, and the published reference posteriors.

Each task is a prior ``p(theta)`` (a ``tfd.Distribution``) and a stochastic
simulator ``x ~ p(x | theta)`` written here in TensorFlow from the
definitions of Lueckmann et al. (2021), stateless-seeded so that ``npe`` can
draw fresh pairs inside its compiled loop:

```none
two_moons                theta ~ U([-1, 1]^2);  a ~ U(-pi/2, pi/2),  r ~ N(0.1, 0.01^2),
                         x = (r cos a + 0.25 - |theta_1 + theta_2| / sqrt 2,
                              r sin a + (theta_2 - theta_1) / sqrt 2)
gaussian_linear          theta ~ N(0, 0.1 I_10);      x ~ N(theta, 0.1 I_10)
gaussian_linear_uniform  theta ~ U([-1, 1]^10);       x ~ N(theta, 0.1 I_10)
gaussian_mixture         theta ~ U([-10, 10]^2);      x ~ 0.5 N(theta, I_2) + 0.5 N(theta, 0.01 I_2)
slcp                     theta ~ U([-3, 3]^5);        x = (x_1, ..., x_4), x_j i.i.d. N(m, S):
                         m = (theta_1, theta_2),  s_1 = theta_3^2,  s_2 = theta_4^2,
                         rho = tanh theta_5,  S = [[s_1^2, rho s_1 s_2], [rho s_1 s_2, s_2^2]] + 1e-6 I
bernoulli_glm            theta ~ N(0, B^-1),  B = diag(0.5, F^T F),  F = D^2 + diag(sqrt(i / 9)), i = 0..8
                         (D: first differences);  y_t ~ Bernoulli(sigmoid(X_t theta)), t = 1..100,
                         x = X^T y (spike count, then the spike-triggered sums of 9 lags)
sir                      (beta, gamma) ~ LogNormal((log 0.4, log 0.125), (0.5, 0.2));
                         S' = -beta S I / N,  I' = beta S I / N - gamma I,  R' = gamma I,
                         (S, I, R)(0) = (N - 1, 1, 0),  N = 10^6;
                         x_k ~ Binomial(1000, I(17 k) / N),  k = 0..9
lotka_volterra           (alpha, beta, gamma, delta) ~ LogNormal((-0.125, -3, -0.125, -3), 0.5);
                         u' = alpha u - beta u v,  v' = -gamma v + delta u v,  (u, v)(0) = (30, 1);
                         x ~ LogNormal(log (u(t_k), v(t_k)), 0.1),  t_k = 2.1 k,  k = 0..9
                         (x = the 10 prey values, then the 10 predator values)
```

In ``gaussian_linear*`` the benchmark's "scale" 0.1 is the noise *variance*
(its precision matrix is ``(0.1 I)^-1``). ``bernoulli_glm``'s design matrix
``X [100, 10]`` is a column of ones and 9 lagged copies of a white-noise
stimulus, ``X[t, 1 + k] = I[t - k]`` (0 before the stimulus starts), with
``I = numpy.random.RandomState(42).randn(100)`` as in sbibm; ``X^T y`` is
exactly sbibm's summary (the spike count and the stimulus correlation at lags
0-8). ``sir`` and ``lotka_volterra`` solve their ODE with fixed-step RK4
(:mod:`~tfp_flows.datasets.ode`; sbibm solves them with DifferentialEquations.jl):
steps of 0.1 day (SIR) and 0.01 time units (Lotka-Volterra) stay within 0.002
expected counts of 1000 and 0.01 in log of a 10x finer solve (2,000 and 10,000
prior draws), far below the observation noise (binomial; log-normal sd 0.1). The
populations are computed in float64; the tests check the solves against the
benchmark's own observations at their true parameters.

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
>>> slcp = sbi_task("slcp")   # 5 parameters in [-3, 3]^5; x: 4 points in 2-D, flattened
>>> slcp.prior.event_shape, slcp.x_size, float(slcp.prior.log_prob([3.5, 0, 0, 0, 0]))
(TensorShape([5]), 8, -inf)

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
from tfp_flows.datasets.ode import rk4_saves

__all__ = [
    "INSTALL_SBIBM",
    "PUBLISHED_NPE_C2ST",
    "SBI_TASKS",
    "SLCP_DRAWS",
    "SBITask",
    "bernoulli_glm_design_matrix",
    "bernoulli_glm_prior_precision",
    "sbi_task",
    "sbibm_file",
]

INSTALL_SBIBM = "pip install --no-deps sbibm"

PUBLISHED_NPE_C2ST = {
    "two_moons": {1_000: 0.725, 10_000: 0.606, 100_000: 0.542},
    "gaussian_linear": {1_000: 0.694, 10_000: 0.552, 100_000: 0.506},
    "gaussian_linear_uniform": {1_000: 0.696, 10_000: 0.553, 100_000: 0.509},
    "gaussian_mixture": {1_000: 0.716, 10_000: 0.615, 100_000: 0.548},
    "slcp": {1_000: 0.975, 10_000: 0.901, 100_000: 0.831},
    "bernoulli_glm": {1_000: 0.863, 10_000: 0.678, 100_000: 0.559},
    "sir": {1_000: 0.815, 10_000: 0.680, 100_000: 0.585},
    "lotka_volterra": {1_000: 0.999, 10_000: 0.997, 100_000: 0.981},
}
"""NPE (NSF) C2ST of Lueckmann et al. (2021), the mean over the 10 observations, per budget.

From the benchmark's published runs (github.com/sbi-benchmark/results,
``benchmarking_sbi/results/main_paper.csv``, algorithm ``NPE``); ``gaussian_mixture``
from the rerun after sbibm 1.1.0 fixed that task (``gaussian_mixture_rerun``; the paper's
figures were 0.731 / 0.661 / 0.555)."""


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

    def __post_init__(self) -> None:
        # the simulators index columns: a theta of another width would be simulated silently
        object.__setattr__(self, "simulator", _checked_simulator(self))

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


def _checked_simulator(task: SBITask) -> Callable[[tf.Tensor, Any], tf.Tensor]:
    """``task.simulator`` that refuses a ``theta`` not of shape ``[n, theta_size]`` and takes
    any seed :func:`~tfp_flows.stateless_seed` does (an ``int``, or a ``[2]`` tensor)."""
    simulator = task.simulator
    if getattr(simulator, "_checked_for", None) == (task.name, task.theta_size):
        return simulator

    def checked(theta: Any, seed: Any) -> tf.Tensor:
        theta = theta if tf.is_tensor(theta) else np.asarray(theta, np.float32)
        if theta.dtype != tf.float32:
            theta = tf.cast(theta, tf.float32)
        shape = tf.TensorShape(theta.shape)
        if shape.rank != 2 or shape[1] not in (None, task.theta_size):
            raise ValueError(
                f"{task.name} simulator: expected theta of shape [n, {task.theta_size}], got "
                f"shape {shape.as_list() if shape.rank is not None else shape}"
                f"{'; one parameter vector: pass theta[None]' if shape.rank == 1 else ''}."
            )
        return simulator(theta, stateless_seed(seed))

    checked._checked_for = (task.name, task.theta_size)  # type: ignore[attr-defined]
    checked.__name__ = checked.__qualname__ = f"{task.name}_simulator"
    checked.__doc__ = simulator.__doc__
    return checked


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


def _gaussian_linear_uniform_simulator(theta: tf.Tensor, seed: Any) -> tf.Tensor:
    return _gaussian_linear_simulator(theta, seed)


def _gaussian_mixture_simulator(theta: tf.Tensor, seed: Any) -> tf.Tensor:
    theta = tf.convert_to_tensor(theta, tf.float32)
    component_seed, noise_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    n = tf.shape(theta)[0]
    # one component per simulation, shared by both coordinates: scale 1 or 0.1, each w.p. 1/2
    broad = tf.random.stateless_uniform([n, 1], component_seed) < 0.5
    scale = tf.where(broad, 1.0, 0.1)
    return theta + scale * tf.random.stateless_normal(tf.shape(theta), noise_seed)


SLCP_DRAWS = 4
"""The number of i.i.d. 2-D points in one ``slcp`` observation (``x`` is ``[8]``, point-major)."""


def _slcp_simulator(theta: tf.Tensor, seed: Any) -> tf.Tensor:
    theta = tf.convert_to_tensor(theta, tf.float32)
    n = tf.shape(theta)[0]
    s1, s2 = tf.square(theta[:, 2]), tf.square(theta[:, 3])
    rho = tf.tanh(theta[:, 4])
    # the Cholesky factor of S = [[s1^2 + eps, rho s1 s2], [rho s1 s2, s2^2 + eps]], in closed form
    eps = 1e-6
    l11 = tf.sqrt(tf.square(s1) + eps)
    l21 = rho * s1 * s2 / l11
    l22 = tf.sqrt(tf.maximum(tf.square(s2) + eps - tf.square(l21), 0.0))
    z = tf.random.stateless_normal([n, SLCP_DRAWS, 2], seed)
    first = theta[:, None, 0] + l11[:, None] * z[..., 0]
    second = theta[:, None, 1] + l21[:, None] * z[..., 0] + l22[:, None] * z[..., 1]
    return tf.reshape(tf.stack([first, second], axis=-1), [n, 2 * SLCP_DRAWS])


def bernoulli_glm_design_matrix() -> np.ndarray:
    """``bernoulli_glm``'s design matrix ``X [100, 10]``: ones, then the stimulus at lags 0-8.

    ``X[t, 0] = 1`` and ``X[t, 1 + k] = I[t - k]`` for ``t >= k`` (else 0), with the
    white-noise stimulus ``I = numpy.random.RandomState(42).randn(100)`` (float32), the
    definition the benchmark's data files were made with.
    """
    stimulus = np.random.RandomState(42).randn(100).astype(np.float32)
    design = np.zeros((100, 10), np.float32)
    design[:, 0] = 1.0
    for lag in range(9):
        design[lag:, 1 + lag] = stimulus[: 100 - lag]
    return design


def bernoulli_glm_prior_precision() -> np.ndarray:
    """``bernoulli_glm``'s prior precision ``B [10, 10]`` (float64): offset 0.5, smooth filter.

    ``B = diag(0.5, F^T F)`` with ``F = D D + diag(sqrt(i / 9))``, ``i = 0..8``, and ``D`` the
    first-difference matrix (ones on the diagonal, -1 below it): the filter's second
    differences are penalised.
    """
    m = 9
    difference = np.eye(m) - np.eye(m, k=-1)
    f = difference @ difference + np.diag(np.sqrt(np.arange(m) / m))
    precision = np.zeros((m + 1, m + 1))
    precision[0, 0] = 0.5
    precision[1:, 1:] = f.T @ f
    return precision


def _bernoulli_glm_simulator(design: tf.Tensor) -> Callable[[tf.Tensor, Any], tf.Tensor]:
    def simulator(theta: tf.Tensor, seed: Any) -> tf.Tensor:
        theta = tf.convert_to_tensor(theta, tf.float32)
        rate = tf.sigmoid(tf.matmul(theta, design, transpose_b=True))  # [n, 100]
        spikes = tf.cast(tf.random.stateless_uniform(tf.shape(rate), seed) < rate, tf.float32)
        return tf.matmul(spikes, design)  # X^T y per row: [n, 10]

    return simulator


SIR_POPULATION = 1e6


@tf.function(autograph=False, reduce_retracing=True)  # eagerly, the 1530 steps' ops take 18 s
def _sir_simulator(theta: tf.Tensor, seed: Any) -> tf.Tensor:
    theta = tf.cast(theta, tf.float64)
    beta, gamma = theta[:, 0], theta[:, 1]

    def field(u):
        infections = beta * u[0] * u[1] / SIR_POPULATION
        return tf.stack([-infections, infections - gamma * u[1], gamma * u[1]])

    n = tf.shape(theta)[0]
    start = tf.stack(
        [
            tf.fill([n], tf.constant(SIR_POPULATION - 1.0, tf.float64)),
            tf.ones([n], tf.float64),
            tf.zeros([n], tf.float64),
        ]
    )
    # days 0, 17, ..., 153 (sbibm saves daily and keeps every 17th day): 170 steps of 0.1 day
    states = rk4_saves(field, start, 0.1, 170, 10)  # [10, 3, n]
    infected = tf.clip_by_value(tf.transpose(states[:, 1]) / SIR_POPULATION, 0.0, 1.0)
    # TFP's binomial sampler (stateless, XLA-compatible; TF's own has no XLA kernel)
    counts = tfd.Binomial(tf.constant(1000.0, tf.float64), probs=infected).sample(seed=seed)
    return tf.cast(counts, tf.float32)


@tf.function(autograph=False, reduce_retracing=True)
def _lotka_volterra_simulator(theta: tf.Tensor, seed: Any) -> tf.Tensor:
    theta = tf.cast(theta, tf.float64)
    alpha, beta, gamma, delta = tf.unstack(theta, axis=1)

    def field(u):
        prey, predators = u[0], u[1]
        return tf.stack(
            [alpha * prey - beta * prey * predators, -gamma * predators + delta * prey * predators]
        )

    n = tf.shape(theta)[0]
    start = tf.stack([tf.fill([n], tf.constant(30.0, tf.float64)), tf.ones([n], tf.float64)])
    # times 0, 2.1, ..., 18.9 (sbibm saves every 0.1 and keeps every 21st): 210 steps of 0.01
    states = rk4_saves(field, start, 0.01, 210, 10)  # [10, 2, n]
    log_populations = tf.math.log(tf.clip_by_value(states, 1e-10, 1e4))
    means = tf.reshape(tf.transpose(log_populations, [2, 1, 0]), [n, 20])  # prey, then predators
    noise = tf.random.stateless_normal(tf.shape(means), seed, dtype=tf.float64)
    return tf.cast(tf.exp(means + 0.1 * noise), tf.float32)


def _box(name: str, size: int, bound: float) -> tfd.Distribution:
    return tfd.Independent(
        tfd.Uniform(tf.fill([size], -bound), tf.fill([size], bound)), 1, name=f"{name}_prior"
    )


def _two_moons() -> SBITask:
    prior = tfd.Independent(tfd.Uniform([-1.0, -1.0], [1.0, 1.0]), 1, name="two_moons_prior")
    return SBITask("two_moons", prior, _two_moons_simulator, 2, 2)


def _gaussian_linear() -> SBITask:
    prior = tfd.MultivariateNormalDiag(
        tf.zeros([10]), tf.fill([10], math.sqrt(0.1)), name="gaussian_linear_prior"
    )
    return SBITask("gaussian_linear", prior, _gaussian_linear_simulator, 10, 10)


def _gaussian_linear_uniform() -> SBITask:
    prior = _box("gaussian_linear_uniform", 10, 1.0)
    return SBITask("gaussian_linear_uniform", prior, _gaussian_linear_uniform_simulator, 10, 10)


def _gaussian_mixture() -> SBITask:
    prior = _box("gaussian_mixture", 2, 10.0)
    return SBITask("gaussian_mixture", prior, _gaussian_mixture_simulator, 2, 2)


def _slcp() -> SBITask:
    return SBITask("slcp", _box("slcp", 5, 3.0), _slcp_simulator, 5, 2 * SLCP_DRAWS)


def _bernoulli_glm() -> SBITask:
    covariance = np.linalg.inv(bernoulli_glm_prior_precision())
    prior = tfd.MultivariateNormalTriL(
        tf.zeros([10]),
        tf.constant(np.linalg.cholesky(covariance), tf.float32),
        name="bernoulli_glm_prior",
    )
    design = tf.constant(bernoulli_glm_design_matrix())
    return SBITask("bernoulli_glm", prior, _bernoulli_glm_simulator(design), 10, 10)


def _sir() -> SBITask:
    prior = tfd.Independent(
        tfd.LogNormal([math.log(0.4), math.log(0.125)], [0.5, 0.2]), 1, name="sir_prior"
    )
    return SBITask("sir", prior, _sir_simulator, 2, 10)


def _lotka_volterra() -> SBITask:
    prior = tfd.Independent(
        tfd.LogNormal([-0.125, -3.0, -0.125, -3.0], tf.fill([4], 0.5)),
        1,
        name="lotka_volterra_prior",
    )
    return SBITask("lotka_volterra", prior, _lotka_volterra_simulator, 4, 20)


SBI_TASKS: dict[str, Callable[[], SBITask]] = {
    "two_moons": _two_moons,
    "gaussian_linear": _gaussian_linear,
    "gaussian_linear_uniform": _gaussian_linear_uniform,
    "gaussian_mixture": _gaussian_mixture,
    "slcp": _slcp,
    "bernoulli_glm": _bernoulli_glm,
    "sir": _sir,
    "lotka_volterra": _lotka_volterra,
}


def sbi_task(name: str) -> SBITask:
    """The benchmark task ``name`` (one of :data:`SBI_TASKS`)."""
    if name not in SBI_TASKS:
        raise ValueError(f"unknown SBI task {name!r}; expected one of {sorted(SBI_TASKS)}.")
    return SBI_TASKS[name]()
