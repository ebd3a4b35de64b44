"""Property checks for any bijector: round trips, log-dets, modes, gradients, caches.

The checks live in :mod:`~tfp_flows.testing.properties`.
"""

from tfp_flows.testing.properties import (
    MODES,
    assert_all_variables_get_gradients,
    assert_cache_follows_context,
    assert_cache_follows_weights,
    assert_declared_constant_jacobian,
    assert_finite,
    assert_log_det_consistent,
    assert_log_det_matches_autodiff,
    assert_modes_agree,
    assert_normalized,
    assert_round_trip,
    check_bijector,
    default_tolerance,
    evaluate,
    output_point,
    perturb_weights,
)

__all__ = [
    "MODES",
    "assert_all_variables_get_gradients",
    "assert_cache_follows_context",
    "assert_cache_follows_weights",
    "assert_declared_constant_jacobian",
    "assert_finite",
    "assert_log_det_consistent",
    "assert_log_det_matches_autodiff",
    "assert_modes_agree",
    "assert_normalized",
    "assert_round_trip",
    "check_bijector",
    "default_tolerance",
    "evaluate",
    "output_point",
    "perturb_weights",
]
