"""Base distributions of the flows (:class:`StandardNormal`) and the push-forward of a base
through a bijector that a flow is (:class:`PushForward`)."""

from tfp_flows.distributions.push_forward import PushForward
from tfp_flows.distributions.standard_normal import StandardNormal

__all__ = ["PushForward", "StandardNormal"]
