"""Images for flows: dequantization (uniform, variational), the logit preprocessing."""

from tfp_flows.images.dequantization import (
    DequantizedImages,
    Logit,
    VariationalDequantizer,
    as_pixels,
    check_discrete,
    dequantization_bound,
    uniform_dequantize,
    with_logit_preprocessing,
)

__all__ = [
    "DequantizedImages",
    "Logit",
    "VariationalDequantizer",
    "as_pixels",
    "check_discrete",
    "dequantization_bound",
    "uniform_dequantize",
    "with_logit_preprocessing",
]
