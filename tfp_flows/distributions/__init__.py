"""Base distributions of the flows: :class:`StandardNormal`."""

from tfp_flows.distributions.standard_normal import StandardNormal

__all__ = ["StandardNormal"]
