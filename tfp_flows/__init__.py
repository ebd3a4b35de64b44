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
import importlib.metadata
import importlib.util
from typing import Any

__version__ = "0.1.0"

# The install commands the import check below gives when TensorFlow or tf-keras is missing.
_INSTALL_WITH_TENSORFLOW = 'pip install "tfp-flows[tf]"'
_TENSORFLOW_DISTRIBUTIONS = ("tensorflow", "tensorflow-cpu", "tensorflow-intel", "tensorflow-macos")


def _install_tf_keras_beside_tensorflow() -> str:
    """``pip install --no-deps "tf-keras~=X.Y.0"`` for the installed TensorFlow ``X.Y``
    (tf-keras follows TensorFlow's minor releases); the supported range if none is found."""
    for distribution in _TENSORFLOW_DISTRIBUTIONS:
        try:
            version = importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            continue
        major_minor = ".".join(version.split(".")[:2])
        return f'pip install --no-deps "tf-keras~={major_minor}.0"'
    return 'pip install --no-deps "tf-keras>=2.21,<2.23"'


def _check_tensorflow_stack() -> None:
    """Refuse to import, in one line naming the command to run, without TensorFlow and tf-keras.

    TensorFlow comes from the ``tf`` extra or from the TensorFlow distribution the user already
    has (``tensorflow-cpu``, ``tensorflow[and-cuda]``, ...); TFP needs ``tf_keras`` beside it.
    Looks the modules up without importing them, so the CLI's ``--help`` stays fast.
    """
    missing = [
        name for name in ("tensorflow", "tf_keras") if importlib.util.find_spec(name) is None
    ]
    if not missing:
        return
    beside = _install_tf_keras_beside_tensorflow()
    if missing == ["tf_keras"]:
        advice = f"beside the TensorFlow you have (tensorflow-cpu, ...) run `{beside}`"
    else:
        advice = (
            f"run `{_INSTALL_WITH_TENSORFLOW}` (TensorFlow and tf-keras), or install "
            f"your TensorFlow 2.21 or 2.22 distribution and then `{beside}`"
        )
    raise ImportError(
        f"tfp_flows needs TensorFlow 2.21 or 2.22 and tf-keras of the same release, but "
        f"{' and '.join(missing)} cannot be imported: {advice}"
    )


_check_tensorflow_stack()

_SUBMODULES = (
    "bijectors",
    "datasets",
    "diagnostics",
    "distributions",
    "evaluation",
    "flows",
    "images",
    "inference",
    "nn",
    "plotting",
    "testing",
    "training",
    "tts",
    "vae",
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
    "VAE": "vae",
    "cnf": "flows",
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
