"""tfp_flows: normalizing flows as first-class TensorFlow Probability bijectors.

#### Examples

>>> import tfp_flows as tff
>>> flow = tff.real_nvp(event_size=2, num_layers=2, hidden_units=(8,))
>>> flow.sample(4, seed=0).shape
TensorShape([4, 2])
"""

from tfp_flows import bijectors, datasets, metrics, testing
from tfp_flows.flows import coupling_flow, nice, real_nvp
from tfp_flows.keras_model import FlowModel
from tfp_flows.training import History, NonFiniteLossError, fit

__all__ = [
    "FlowModel",
    "History",
    "NonFiniteLossError",
    "bijectors",
    "coupling_flow",
    "datasets",
    "fit",
    "metrics",
    "nice",
    "real_nvp",
    "testing",
]
__version__ = "0.1.0"
