"""Calibration and accuracy checks of posterior approximations.

| name | what it is |
|---|---|
| :func:`c2st` | the classifier two-sample test exactly as the SBI benchmark (sbibm) computes it |
| :func:`sbc_ranks` | simulation-based calibration: ranks of true parameters among posterior samples |
| :func:`ecdf_band_test` | uniformity of ranks: ECDF difference inside a simultaneous band |
| :func:`sbc` | both in one call |
| :func:`expected_coverage` | how often central credible intervals hold the truth, from SBC ranks |
| :func:`recovery` | posterior z-scores and contraction, medians and credible intervals (parameter recovery) |
| :func:`recovery_from_draws` | the same summaries of posterior draws you already have |

``c2st`` needs scikit-learn (``pip install "tfp-flows[sbi]"``).
"""

from tfp_flows.diagnostics.c2st import c2st
from tfp_flows.diagnostics.recovery import Recovery, recovery, recovery_from_draws
from tfp_flows.diagnostics.sbc import SBCResult, ecdf_band_test, expected_coverage, sbc, sbc_ranks

__all__ = [
    "Recovery",
    "SBCResult",
    "c2st",
    "ecdf_band_test",
    "expected_coverage",
    "recovery",
    "recovery_from_draws",
    "sbc",
    "sbc_ranks",
]
