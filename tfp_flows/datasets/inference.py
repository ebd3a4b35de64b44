"""Posteriors with ground truth: targets for variational inference and MCMC.

Each function returns an :class:`InferenceTarget`: a TFP joint distribution
``model`` (its ``log_prob`` is the unnormalised posterior a sampler or a
variational fit sees; here it is exactly normalised), the true posterior mean
and standard deviation of every part, computed in closed form, and a
``describe`` line. All are generated in code; nothing is downloaded.

| function | dimension | structure | what makes it hard |
|---|---|---|---|
| :func:`banana_posterior` | 2 | ``x2 ~ N(0, 4^2)``, ``x1 ~ N(x2^2 / 4, 1)`` | curved ridge |
| :func:`neals_funnel` | 10 | ``v ~ N(0, 3^2)``, ``x_i ~ N(0, e^v)`` | scales over ~6 orders of magnitude |
| :func:`ill_conditioned_gaussian` | 100 | ``x ~ N(0, Sigma)``, condition number 1e4 | stiff, rotated |

Eight Schools, whose moments come from a long NUTS run (stated with their
Monte Carlo standard errors), lives in :mod:`tfp_flows.datasets.eight_schools`.

#### Examples

>>> target = neals_funnel()
>>> sorted(target.model.event_shape)
['v', 'x']
>>> round(float(target.stddev["v"]), 4), round(float(target.stddev["x"][0]), 4)  # 3, e^(9/4)
(3.0, 9.4877)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf
from tensorflow_probability import bijectors as tfb
from tensorflow_probability import distributions as tfd

from tfp_flows._internal.checks import check_floating_dtype, check_integer, check_number
from tfp_flows.distributions.standard_normal import StandardNormal
from tfp_flows.flows.flow import Flow

__all__ = ["InferenceTarget", "banana_posterior", "ill_conditioned_gaussian", "neals_funnel"]


@dataclass(frozen=True)
class InferenceTarget:
    """A posterior with its true (exact or reference) moments.

    Attributes:
      name: short name.
      model: a ``tfd.JointDistribution*`` whose ``log_prob`` (or, for a pinned
        model, ``unnormalized_log_prob``) is the target density.
      mean: the true posterior mean of every part, a dict ``{name: tensor}`` like
        the model's samples.
      stddev: the true posterior standard deviations, the same dict.
      mean_standard_error: the standard error of each entry of ``mean``, the same
        dict; zeros (the default) mean the moment is exact. A target whose
        moments come from a long MCMC run (``eight_schools``) states its Monte
        Carlo standard errors here.
      stddev_standard_error: the same for ``stddev``.
    """

    name: str
    model: tfd.Distribution
    mean: dict[str, tf.Tensor]
    stddev: dict[str, tf.Tensor]
    mean_standard_error: dict[str, tf.Tensor] | None = None
    stddev_standard_error: dict[str, tf.Tensor] | None = None

    def __post_init__(self) -> None:
        for field, moments in (
            ("mean_standard_error", self.mean),
            ("stddev_standard_error", self.stddev),
        ):
            if getattr(self, field) is None:
                object.__setattr__(
                    self, field, {name: tf.zeros_like(value) for name, value in moments.items()}
                )

    def standardized_errors(self, mean: dict, stddev: dict) -> dict[str, dict[str, np.ndarray]]:
        """Errors of estimated moments (dicts like ``mean``) in units of the true standard deviation.

        ```none
        mean error = |mean_hat - mean| / stddev,     stddev error = |stddev_hat - stddev| / stddev
        ```

        #### Examples

        >>> target = banana_posterior()
        >>> errors = target.standardized_errors({"x1": 4.0, "x2": 0.4}, {"x1": 33**0.5, "x2": 4.0})
        >>> round(float(errors["mean"]["x2"]), 3), round(float(errors["stddev"]["x1"]), 3)
        (0.1, 0.0)
        """

        def scaled(estimates: dict, truths: dict) -> dict[str, np.ndarray]:
            return {
                name: np.abs(
                    np.asarray(estimates[name], np.float64) - np.asarray(truths[name], np.float64)
                )
                / np.asarray(self.stddev[name], np.float64)
                for name in truths
            }

        return {"mean": scaled(mean, self.mean), "stddev": scaled(stddev, self.stddev)}


def banana_posterior(dtype: tf.DType = tf.float32) -> InferenceTarget:
    """The banana as a posterior over ``{"x2", "x1"}``, with its exact moments.

    ```none
    x2 ~ N(0, 4^2),   x1 | x2 ~ N(x2^2 / 4, 1)
    E[x1] = E[x2^2] / 4 = 4,   Var[x1] = 1 + Var[x2^2] / 16 = 1 + 2 * 4^4 / 16 = 33
    E[x2] = 0,                 sd[x2] = 4
    ```

    #### Examples

    >>> target = banana_posterior()
    >>> float(target.model.log_prob({"x2": 0.0, "x1": 0.0}))  # log N(0; 0, 16) + log N(0; 0, 1)
    -3.2241...
    """
    dtype = check_floating_dtype(dtype, "banana_posterior")
    model = tfd.JointDistributionNamed(
        dict(
            x2=tfd.Normal(tf.constant(0.0, dtype), 4.0),
            x1=lambda x2: tfd.Normal(x2**2 / 4.0, tf.constant(1.0, dtype)),
        ),
        name="banana_posterior",
    )
    cast = lambda v: tf.constant(v, dtype)  # noqa: E731
    return InferenceTarget(
        "banana",
        model,
        mean={"x1": cast(4.0), "x2": cast(0.0)},
        stddev={"x1": cast(np.sqrt(33.0)), "x2": cast(4.0)},
    )


def neals_funnel(dims: int = 10, dtype: tf.DType = tf.float32) -> InferenceTarget:
    """Neal's funnel in ``dims`` dimensions over ``{"v", "x"}``, with its exact moments.

    ```none
    v ~ N(0, 3^2),   x_i | v ~ N(0, e^v),  i = 1..dims-1
    E[v] = E[x_i] = 0,   sd[v] = 3,   sd[x_i] = sqrt(E[e^v]) = e^(9/4)
    ```

    The neck (``v`` near -6) and the mouth (``v`` near 6) differ in scale by
    ``e^6``: one step size fits neither, which is why HMC needs a
    reparametrisation (NeuTra) here (Neal 2003, "Slice sampling").

    #### Examples

    >>> target = neals_funnel(dims=3)
    >>> target.model.sample(seed=[1, 2])["x"].shape
    TensorShape([2])
    """
    dtype = check_floating_dtype(dtype, "neals_funnel")
    dims = check_integer("dims", dims, minimum=2)
    # Batched by hand (not AutoBatched: its sampling with a stateless seed is a Python loop).
    model = tfd.JointDistributionNamed(
        dict(
            v=tfd.Normal(tf.constant(0.0, dtype), 3.0),
            x=lambda v: tfd.Independent(
                tfd.Normal(tf.zeros([dims - 1], dtype), tf.exp(v / 2.0)[..., tf.newaxis]), 1
            ),
        ),
        name="neals_funnel",
    )
    return InferenceTarget(
        "funnel",
        model,
        mean={"v": tf.constant(0.0, dtype), "x": tf.zeros([dims - 1], dtype)},
        stddev={
            "v": tf.constant(3.0, dtype),
            "x": tf.fill([dims - 1], tf.constant(np.exp(9.0 / 4.0), dtype)),
        },
    )


def ill_conditioned_gaussian(
    dims: int = 100, condition_number: float = 1e4, seed: int = 0, dtype: tf.DType = tf.float32
) -> InferenceTarget:
    """A rotated Gaussian whose covariance has eigenvalues log-spaced over ``condition_number``.

    ``condition_number`` is a number from 1 to ``1 / eps`` of ``dtype`` (8.4e6 in float32,
    4.5e15 in float64); beyond, the density cannot be computed faithfully in that dtype.

    ```none
    x ~ N(0, Sigma),   Sigma = Q diag(lambda) Q^T = L L^T   (L: the Cholesky factor),
    lambda_k = condition_number^(k / (dims - 1) - 1/2),  k = 0..dims-1   (geometric mean 1)
    Q: the orthogonal factor of a seeded standard normal matrix (QR, signs fixed)
    E[x] = 0,   sd[x_i] = sqrt(Sigma_ii)
    ```

    The model's ``x`` is ``N(0, I)`` pushed through ``x = L z`` and scored through the
    precomputed ``L^{-1}`` (``Invert(ScaleMatvecTriL(L^{-1}))``, computed in float64; its
    default event-space bijector is the identity, so a surrogate meets the rotated,
    ill-conditioned geometry itself):
    ``log p(x)`` is one matrix product. TFP's ``MultivariateNormalTriL`` gives the same density,
    but under XLA it solves a triangular system per draw (30 ms for 256 draws of 100-D against
    0.5 ms here).

    #### Examples

    >>> target = ill_conditioned_gaussian(dims=4, condition_number=100.0)
    >>> target.model.sample(3, seed=[1, 2])["x"].shape
    TensorShape([3, 4])
    >>> # log N(0; 0, Sigma) with det Sigma = 1 (the eigenvalues' geometric mean is 1)
    >>> bool(np.isclose(target.model.log_prob({"x": tf.zeros(4)}), -2 * np.log(2 * np.pi)))
    True
    """
    dtype = check_floating_dtype(dtype, "ill_conditioned_gaussian")
    dims = check_integer("dims", dims, minimum=2)
    # Sigma's eigenvalues span condition_number^(+-1/2) and its Cholesky factor is computed in
    # float64; the model scores through L^{-1}, whose entries span condition_number^(1/2): beyond
    # 1 / eps of the dtype, rounding swamps the smallest directions (or overflows: 1e80).
    largest = 1.0 / float(np.finfo(dtype.as_numpy_dtype).eps)
    condition_number = check_number(
        "condition_number",
        condition_number,
        f"a number in [1, {largest:.3g}] (1 / the machine epsilon of {dtype.name}"
        + ("; dtype=tf.float64 allows up to 4.5e+15)" if dtype == tf.float32 else ")"),
        lambda v: 1.0 <= v <= largest,
    )
    rng = np.random.default_rng(check_integer("seed", seed, minimum=0))
    q, r = np.linalg.qr(rng.standard_normal([dims, dims]))
    q = q * np.sign(np.diag(r))
    eigenvalues = condition_number ** (np.arange(dims) / (dims - 1) - 0.5)
    covariance = (q * eigenvalues) @ q.T
    covariance = (covariance + covariance.T) / 2
    inverse_scale = np.linalg.inv(np.linalg.cholesky(covariance))
    inverse_scale = np.tril(inverse_scale)  # exactly lower-triangular, as L^{-1} is
    # A Flow, not a plain TransformedDistribution: TFP's default event-space bijector of the
    # latter is its own bijector, which would hand every surrogate the whitening map L.
    x = Flow(
        StandardNormal(loc=tf.zeros([dims], dtype)),
        tfb.Invert(tfb.ScaleMatvecTriL(tf.constant(inverse_scale, dtype))),
        name="multivariate_normal",
    )
    model = tfd.JointDistributionNamed(dict(x=x), name="ill_conditioned_gaussian")
    return InferenceTarget(
        "ill_conditioned_gaussian",
        model,
        mean={"x": tf.zeros([dims], dtype)},
        stddev={"x": tf.constant(np.sqrt(np.diag(covariance)), dtype)},
    )
