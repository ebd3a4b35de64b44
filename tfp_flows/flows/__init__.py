"""Flow builders: small factories that return a ``tfd.TransformedDistribution``.

One module per family; each builder stacks layers on a standard normal base
through :func:`~tfp_flows.flows.stack.assemble`.

#### Examples

>>> from tfp_flows.flows import real_nvp
>>> real_nvp(2, num_layers=2, hidden_units=(8,)).event_shape
TensorShape([2])
"""

from tfp_flows.flows.autoregressive import iaf, maf
from tfp_flows.flows.continuous import cnf
from tfp_flows.flows.coupling import nice, real_nvp
from tfp_flows.flows.image import glow
from tfp_flows.flows.planar_radial import planar, radial
from tfp_flows.flows.spline import nsf
from tfp_flows.flows.stack import coupling_flow

__all__ = [
    "cnf",
    "coupling_flow",
    "glow",
    "iaf",
    "maf",
    "nice",
    "nsf",
    "planar",
    "radial",
    "real_nvp",
]
