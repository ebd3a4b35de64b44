"""tfp_flows: normalizing flows as first-class TensorFlow Probability bijectors.

Names load on first use, so ``tfp-flows --help`` and its error messages do not
wait for TensorFlow.

#### Examples

>>> import tfp_flows as tff
>>> flow = tff.real_nvp(event_size=2, num_layers=2, hidden_units=(8,))
>>> flow.sample(4, seed=0).shape
TensorShape([4, 2])
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_SUBMODULES = (
    "bijectors", "checkpoints", "datasets", "dequantization", "evaluation", "flow", "flows",
    "image_plots",
    "inference", "keras_model", "metrics",
    "moments", "plotting", "seeds", "standard_normal", "testing", "training", "trajectory",
)
_NAMES = {
    "Flow": "flow",
    "FlowModel": "keras_model",
    "History": "training",
    "MomentEstimates": "moments",
    "NonFiniteLossError": "training",
    "StandardNormal": "standard_normal",
    "coupling_flow": "flows",
    "estimate_moments": "moments",
    "fit": "training",
    "iaf": "flows",
    "maf": "flows",
    "nice": "flows",
    "nsf": "flows",
    "planar": "flows",
    "radial": "flows",
    "real_nvp": "flows",
    "glow": "flows",
}
__all__ = sorted(_NAMES) + sorted(_SUBMODULES)


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"tfp_flows.{name}")
    if name in _NAMES:
        return getattr(importlib.import_module(f"tfp_flows.{_NAMES[name]}"), name)
    raise AttributeError(f"module 'tfp_flows' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
