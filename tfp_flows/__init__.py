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
import importlib.util
from typing import Any

__version__ = "0.1.0"

# The install commands the import check below gives when TensorFlow or tf-keras is missing.
_INSTALL_WITH_TENSORFLOW = 'pip install "tfp-flows[tf]"'
_INSTALL_TF_KERAS_BESIDE_TENSORFLOW = 'pip install --no-deps "tf-keras>=2.21,<2.22"'


def _check_tensorflow_stack() -> None:
    """Refuse to import, in one line naming the command to run, without TensorFlow and tf-keras.

    TensorFlow comes from the ``tf`` extra or from the TensorFlow distribution the user already
    has (``tensorflow-cpu``, ``tensorflow[and-cuda]``, ...); TFP 0.25 needs ``tf_keras`` beside it.
    Looks the modules up without importing them, so the CLI's ``--help`` stays fast.
    """
    missing = [
        name for name in ("tensorflow", "tf_keras") if importlib.util.find_spec(name) is None
    ]
    if not missing:
        return
    if missing == ["tf_keras"]:
        advice = (
            f"beside the TensorFlow you have (tensorflow-cpu, ...) run "
            f"`{_INSTALL_TF_KERAS_BESIDE_TENSORFLOW}`"
        )
    else:
        advice = (
            f"run `{_INSTALL_WITH_TENSORFLOW}` (TensorFlow and tf-keras 2.21), or install "
            f"your TensorFlow 2.21 distribution and then `{_INSTALL_TF_KERAS_BESIDE_TENSORFLOW}`"
        )
    raise ImportError(
        f"tfp_flows needs TensorFlow 2.21 and tf-keras 2.21, but "
        f"{' and '.join(missing)} cannot be imported: {advice}"
    )


_check_tensorflow_stack()

_SUBMODULES = (
    "bijectors",
    "datasets",
    "distributions",
    "evaluation",
    "flows",
    "images",
    "inference",
    "nn",
    "plotting",
    "testing",
    "training",
)
# public module names kept for users: `tff.metrics` is tfp_flows.evaluation.metrics
_ALIASES = {"metrics": "evaluation.metrics"}
_NAMES = {
    "Flow": "flows.flow",
    "FlowModel": "training.keras_model",
    "History": "training",
    "MomentEstimates": "evaluation.moments",
    "NonFiniteLossError": "training",
    "StandardNormal": "distributions.standard_normal",
    "coupling_flow": "flows",
    "estimate_moments": "evaluation.moments",
    "fit": "training",
    "glow": "flows",
    "iaf": "flows",
    "maf": "flows",
    "nice": "flows",
    "nsf": "flows",
    "planar": "flows",
    "radial": "flows",
    "real_nvp": "flows",
    "stateless_seed": "_internal.seeds",
}
__all__ = sorted(_NAMES) + sorted(_SUBMODULES) + sorted(_ALIASES)


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"tfp_flows.{name}")
    if name in _ALIASES:
        return importlib.import_module(f"tfp_flows.{_ALIASES[name]}")
    if name in _NAMES:
        return getattr(importlib.import_module(f"tfp_flows.{_NAMES[name]}"), name)
    raise AttributeError(f"module 'tfp_flows' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
