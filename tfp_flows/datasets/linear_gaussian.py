"""A linear-Gaussian simulator: simulation-based inference with an exact Gaussian posterior."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_flows._internal.seeds import stateless_seed
from tfp_flows.datasets.base import ConditionalTarget

tfd = tfp.distributions

__all__ = ["LinearGaussianSimulator"]


class LinearGaussianSimulator(ConditionalTarget):
    """Posterior `p(theta | x)` of a linear-Gaussian simulator, as a conditional target.

    With a fixed design matrix `A` (`[observation_size, parameter_size]`,
    entries `N(0, 1 / parameter_size)` drawn once from `numpy`'s
    `default_rng(seed)`) and noise scale `sigma`:

        theta ~ N(0, I_p),        x | theta ~ N(A theta, sigma^2 I_m).

    The parameters `theta` are the event and the observations `x` the context
    (`event_size = parameter_size`, `context_size = observation_size`), so a
    conditional flow `q(theta | x)` trained on `sample_pairs(n, seed) ->
    (theta, x)` (draws of the joint: prior, then simulator) approximates the
    posterior, which conjugacy gives exactly:

        Sigma = (I_p + A^T A / sigma^2)^{-1},     mu(x) = Sigma A^T x / sigma^2,
        p(theta | x) = N(theta; mu(x), Sigma),
        H = (p / 2) log(2 pi e) + (1 / 2) log det Sigma     (the same for every x).

    `posterior(x)` (= `given(x)`) returns it as a `tfd.MultivariateNormalTriL`
    batched over the leading dimensions of `x`; `log_prob(theta, context=x)`,
    `sample(n, seed=s, context=x)` and `entropy(context=x)` are its
    log-density, sampler and entropy, with the batch dimensions of `theta` and
    `x` broadcast.  `Sigma`, `chol(Sigma)` and the gain `Sigma A^T / sigma^2`
    are computed once, in float64 numpy.  `simulate(theta, seed)` runs the
    simulator; `prior` and `likelihood(theta)` are its two distributions.

    #### Examples

    >>> sim = LinearGaussianSimulator(parameter_size=2, observation_size=4, noise_scale=0.5)
    >>> theta, x = sim.sample_pairs(1000, seed=0)
    >>> theta.shape, x.shape
    (TensorShape([1000, 2]), TensorShape([1000, 4]))
    >>> sim.posterior(x[:3]).batch_shape, sim.posterior(x[:3]).event_shape
    (TensorShape([3]), TensorShape([2]))
    >>> sim.log_prob(theta[:5], context=x[:5]).shape
    TensorShape([5])
    """

    def __init__(
        self,
        parameter_size: int = 2,
        observation_size: int = 4,
        noise_scale: float = 0.5,
        seed: int = 0,
        dtype: Any = tf.float32,
        name: str = "LinearGaussianSimulator",
    ) -> None:
        parameters = dict(locals())
        for label, value in (
            ("parameter_size", parameter_size),
            ("observation_size", observation_size),
        ):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{label} must be a positive integer, got {value!r}.")
        if not (math.isfinite(noise_scale) and noise_scale > 0):
            raise ValueError(f"noise_scale must be positive and finite, got {noise_scale!r}.")
        self.event_size = int(parameter_size)
        self.context_size = int(observation_size)
        self._noise_scale = float(noise_scale)
        p = self.event_size
        design = np.random.default_rng(seed).standard_normal((self.context_size, p)) / math.sqrt(p)
        precision = np.eye(p) + design.T @ design / self._noise_scale**2
        covariance = np.linalg.inv(precision)
        covariance = 0.5 * (covariance + covariance.T)
        self._matrix = design
        self._posterior_covariance = covariance
        self._posterior_scale_tril = np.linalg.cholesky(covariance)
        self._gain = covariance @ design.T / self._noise_scale**2  # [p, m]
        super().__init__(dtype=dtype, parameters=parameters, name=name)

    @property
    def parameter_size(self) -> int:
        """Dimension `p` of `theta` (the event)."""
        return self.event_size

    @property
    def observation_size(self) -> int:
        """Dimension `m` of `x` (the context)."""
        return self.context_size

    @property
    def noise_scale(self) -> float:
        """Standard deviation `sigma` of the observation noise."""
        return self._noise_scale

    @property
    def matrix(self) -> np.ndarray:
        """The design matrix `A`, `[observation_size, parameter_size]`, float64 (a copy)."""
        return self._matrix.copy()

    @property
    def posterior_covariance(self) -> np.ndarray:
        """`Sigma = (I + A^T A / sigma^2)^{-1}`, float64 (a copy)."""
        return self._posterior_covariance.copy()

    @property
    def prior(self) -> tfd.Distribution:
        """`N(0, I_p)`, the prior of `theta`."""
        return tfd.MultivariateNormalDiag(loc=tf.zeros([self.event_size], self.dtype))

    def likelihood(self, theta: Any) -> tfd.Distribution:
        """`N(A theta, sigma^2 I_m)`, the simulator's law of `x` given `theta` (batched)."""
        theta = tf.convert_to_tensor(theta, self.dtype)
        loc = tf.linalg.matvec(tf.constant(self._matrix, self.dtype), theta)
        scale = tf.fill([self.context_size], tf.constant(self._noise_scale, self.dtype))
        return tfd.MultivariateNormalDiag(loc=loc, scale_diag=scale)

    def simulate(self, theta: Any, seed: Any = None) -> tf.Tensor:
        """Runs the simulator: one draw `x ~ N(A theta, sigma^2 I)` per row of `theta`."""
        theta = tf.convert_to_tensor(theta, self.dtype)
        noise = tf.random.stateless_normal(
            tf.concat([tf.shape(theta)[:-1], [self.context_size]], 0),
            seed=stateless_seed(seed),
            dtype=self.dtype,
        )
        return tf.linalg.matvec(tf.constant(self._matrix, self.dtype), theta) + (
            self._noise_scale * noise
        )

    def posterior(self, x: Any) -> tfd.MultivariateNormalTriL:
        """The exact posterior `N(mu(x), Sigma)`, batched over `x.shape[:-1]`."""
        return self._posterior_of_valid(self.validate_context(x))

    def given(self, context: Any) -> tfd.MultivariateNormalTriL:
        """The same as `posterior(context)`."""
        return self.posterior(context)

    def sample_pairs(self, n: int, seed: Any = None) -> tuple[tf.Tensor, tf.Tensor]:
        """`n` draws of the joint: `theta ~ prior`, then `x = simulate(theta)`.

        Returns `(theta, x)` of shapes `[n, parameter_size]` and `[n, observation_size]`.
        """
        theta_seed, noise_seed = tfp.random.split_seed(stateless_seed(seed))
        theta = tf.random.stateless_normal([n, self.event_size], seed=theta_seed, dtype=self.dtype)
        return theta, self.simulate(theta, seed=noise_seed)

    def _posterior_of_valid(self, x):
        loc = tf.linalg.matvec(tf.constant(self._gain, self.dtype), x)
        return tfd.MultivariateNormalTriL(
            loc=loc, scale_tril=tf.constant(self._posterior_scale_tril, self.dtype)
        )

    def _sample_given(self, n, seed, context):
        return self._posterior_of_valid(context).sample(n, seed=seed)

    def _log_prob_given(self, x, context):
        return self._posterior_of_valid(context).log_prob(x)

    def _entropy_given(self, context):
        return self._posterior_of_valid(context).entropy()
