"""Flows as posteriors: surrogate posteriors for TFP models, fitting by reverse KL, NeuTra HMC.

| name | what it is |
|---|---|
| :func:`surrogate_posterior` | a flow over a (pinned) model's unconstrained space, pushed into the model's structure and support; for ``tfp.vi.fit_surrogate_posterior`` |
| :func:`fit_surrogate` | fits it by reverse KL (maximum ELBO) through :func:`tfp_flows.fit`'s compiled loop |
| :func:`neutra` | NeuTra HMC / NUTS in a trained surrogate's base space (and ``plain=True``: the same sampler without the flow); R-hat, ESS per gradient evaluation |
| :class:`HMC`, :class:`NUTS` | the sampler settings :func:`neutra` runs with (``kernel=HMC(num_leapfrog_steps=4)``) |
| :func:`neutra_bijector` | a surrogate's transport ``f`` and base distribution |
| :func:`npe` | neural posterior estimation: an amortized posterior ``q(theta | x)`` trained on simulated pairs (:class:`AmortizedPosterior`) |
| :func:`chain_diagnostics` | R-hat and cross-chain ESS of draws in any structure |

#### Examples

>>> import tensorflow_probability as tfp
>>> import tfp_flows as tff
>>> tfd = tfp.distributions
>>> model = tfd.JointDistributionNamed(dict(scale=tfd.HalfNormal(1.0), loc=tfd.Normal(0.0, 1.0),
...                                         y=lambda scale, loc: tfd.Normal(loc, scale)))
>>> surrogate = tff.inference.surrogate_posterior(model.experimental_pin(y=0.3))
>>> float(surrogate.sample(seed=0)["scale"]) > 0
True
"""

from __future__ import annotations

from tfp_flows.inference.amortized import AmortizedPosterior, PosteriorFlow
from tfp_flows.inference.diagnostics import ChainDiagnostics, chain_diagnostics
from tfp_flows.inference.fitting import DEFAULT_VI_LEARNING_RATE, fit_surrogate
from tfp_flows.inference.mcmc_kernels import HMC, NUTS
from tfp_flows.inference.neutra import NeutraResult, Transport, neutra, neutra_bijector
from tfp_flows.inference.npe import (
    DEFAULT_NPE_FLOW,
    LARGE_BATCH_PAIRS,
    VALIDATIONS_PER_RUN,
    default_batch_size,
    npe,
)
from tfp_flows.inference.support import FlatSupport
from tfp_flows.inference.surrogate import (
    DEFAULT_DRAW_GROUPS,
    DEFAULT_SURROGATE,
    SURROGATE_BUILDERS,
    SurrogatePosterior,
    surrogate_posterior,
)

__all__ = [
    "DEFAULT_DRAW_GROUPS",
    "DEFAULT_NPE_FLOW",
    "DEFAULT_SURROGATE",
    "DEFAULT_VI_LEARNING_RATE",
    "HMC",
    "LARGE_BATCH_PAIRS",
    "NUTS",
    "SURROGATE_BUILDERS",
    "VALIDATIONS_PER_RUN",
    "AmortizedPosterior",
    "ChainDiagnostics",
    "FlatSupport",
    "NeutraResult",
    "PosteriorFlow",
    "SurrogatePosterior",
    "Transport",
    "chain_diagnostics",
    "default_batch_size",
    "fit_surrogate",
    "neutra",
    "neutra_bijector",
    "npe",
    "surrogate_posterior",
]
