"""Evaluating flows: NLL, KL gap, bits/dim (with standard errors), Monte Carlo moments.

:mod:`~tfp_flows.evaluation.metrics` (also ``tff.metrics``): :func:`nll`,
:func:`kl_gap`, :func:`conditional_kl_gap`, :func:`bits_per_dim`,
:func:`importance_weighted_bound` (:mod:`~tfp_flows.evaluation.importance_weighted`);
:mod:`~tfp_flows.evaluation.moments`: :func:`estimate_moments`. The batched
``log_prob`` they share lives in :mod:`tfp_flows.flows.log_prob` (training uses it
too) and is re-exported here.
"""

from tfp_flows.evaluation.metrics import (
    Estimate,
    ImportanceWeightedBound,
    bits_per_dim,
    conditional_kl_gap,
    importance_weighted_bound,
    kl_gap,
    nll,
)
from tfp_flows.evaluation.moments import MomentEstimates, estimate_moments
from tfp_flows.flows.log_prob import batched_log_prob, check_takes_context, context_rows, log_prob

__all__ = [
    "Estimate",
    "ImportanceWeightedBound",
    "MomentEstimates",
    "batched_log_prob",
    "bits_per_dim",
    "check_takes_context",
    "conditional_kl_gap",
    "context_rows",
    "estimate_moments",
    "importance_weighted_bound",
    "kl_gap",
    "log_prob",
    "nll",
]
