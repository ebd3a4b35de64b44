"""Transformers: elementwise invertible maps parametrised by a conditioner's output.

See :mod:`tfp_flows.bijectors.transformers.base` for the parameter layout and
the sign convention of the log-determinants.
"""

from tfp_flows.bijectors.transformers.additive import Additive
from tfp_flows.bijectors.transformers.affine import Affine
from tfp_flows.bijectors.transformers.base import Transformer, params_from_blocks
from tfp_flows.bijectors.transformers.from_bijector import BijectorTransformer
from tfp_flows.bijectors.transformers.spline import RationalQuadraticSpline

__all__ = [
    "Additive",
    "Affine",
    "BijectorTransformer",
    "RationalQuadraticSpline",
    "Transformer",
    "params_from_blocks",
]
