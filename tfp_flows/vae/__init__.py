"""Flows inside variational autoencoders: ``tff.VAE`` with flow posteriors and flow priors.

:mod:`~tfp_flows.vae.model` (the Keras 3 model, ``tff.VAE``),
:mod:`~tfp_flows.vae.posteriors` (posteriors and priors by name),
:mod:`~tfp_flows.vae.context_affine` (the amortised Gaussian as a conditional layer),
:mod:`~tfp_flows.vae.likelihoods` (dequantised pixels, Bernoulli, Gaussian),
:mod:`~tfp_flows.vae.networks` (default encoder and decoder). Score a VAE with
:func:`tfp_flows.metrics.importance_weighted_bound`.
"""

from tfp_flows.vae.context_affine import ContextAffine
from tfp_flows.vae.likelihoods import Bernoulli, DequantizedPixels, Gaussian, Likelihood
from tfp_flows.vae.model import VAE
from tfp_flows.vae.networks import default_decoder, default_encoder
from tfp_flows.vae.posteriors import (
    POSTERIOR_FLOWS,
    PRIOR_FLOWS,
    posterior_flow,
    prior_distribution,
)

__all__ = [
    "POSTERIOR_FLOWS",
    "PRIOR_FLOWS",
    "VAE",
    "Bernoulli",
    "ContextAffine",
    "DequantizedPixels",
    "Gaussian",
    "Likelihood",
    "default_decoder",
    "default_encoder",
    "posterior_flow",
    "prior_distribution",
]
