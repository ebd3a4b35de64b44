"""Bijectors of tfp_flows: coupling layers, their masks and conditioners."""

from tfp_flows.bijectors.base import VectorBijector
from tfp_flows.bijectors.chain import FlowChain
from tfp_flows.bijectors.conditioners import MLP, TrackedConditioner
from tfp_flows.bijectors.coupling import AdditiveCoupling, AffineCoupling, Coupling
from tfp_flows.bijectors.linear import LULinear
from tfp_flows.bijectors.masks import (
    alternating_mask,
    checkerboard_mask,
    random_mask,
    validate_mask,
)
from tfp_flows.bijectors.standardize import Standardize

__all__ = [
    "MLP",
    "AdditiveCoupling",
    "AffineCoupling",
    "Coupling",
    "FlowChain",
    "LULinear",
    "Standardize",
    "TrackedConditioner",
    "VectorBijector",
    "alternating_mask",
    "checkerboard_mask",
    "random_mask",
    "validate_mask",
]
