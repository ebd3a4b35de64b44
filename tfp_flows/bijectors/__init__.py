"""Bijectors of tfp_flows: layers, and the parts they are built from.

A coupling layer (:mod:`~tfp_flows.bijectors.coupling`) is a mask
(:mod:`~tfp_flows.bijectors.masks`), a transformer
(:mod:`~tfp_flows.bijectors.transformers`) and a conditioner
(:mod:`~tfp_flows.nn.conditioners`; on images
:mod:`~tfp_flows.nn.conv_resnet`); every layer is a
:class:`~tfp_flows.bijectors.base.FlowBijector`. Image layers on events
``[H, W, C]``: :class:`Squeeze`, :class:`FactorOut` (the multiscale
architecture), :class:`Conv1x1`, :class:`ActNorm`, :class:`BatchNorm`, and
couplings on :func:`checkerboard_mask` / :func:`channel_mask`.
"""

from tfp_flows.bijectors import transformers
from tfp_flows.bijectors._numpy_compat import let_tfp_pad_accept_newshape
from tfp_flows.bijectors.actnorm import ActNorm
from tfp_flows.bijectors.adaptive import Adaptive, is_adaptive
from tfp_flows.bijectors.autoregressive import MaskedAutoregressive
from tfp_flows.bijectors.base import FlowBijector
from tfp_flows.bijectors.batch_norm import BatchNorm, training_mode
from tfp_flows.bijectors.chain import FlowChain, context_size_of, takes_context
from tfp_flows.bijectors.continuous import ContinuousFlow
from tfp_flows.bijectors.conv1x1 import Conv1x1
from tfp_flows.bijectors.coupling import AdditiveCoupling, AffineCoupling, Coupling
from tfp_flows.bijectors.factor_out import FactorOut
from tfp_flows.bijectors.linear import LULinear
from tfp_flows.bijectors.logit import Logit
from tfp_flows.bijectors.masks import (
    alternating_mask,
    channel_mask,
    checkerboard_mask,
    random_mask,
    validate_mask,
)
from tfp_flows.bijectors.permutation import Permute
from tfp_flows.bijectors.planar import Planar
from tfp_flows.bijectors.radial import Radial
from tfp_flows.bijectors.squeeze import Squeeze
from tfp_flows.bijectors.standardize import Standardize
from tfp_flows.bijectors.transformers import Additive, Affine, BijectorTransformer, Transformer
from tfp_flows.nn.conditioners import TrackedConditioner
from tfp_flows.nn.conv_resnet import ConvResNet
from tfp_flows.nn.image_conditioner import ImageConditioner
from tfp_flows.nn.made import MADE
from tfp_flows.nn.mlp import MLP

# TFP 0.25's tfb.Pad (Dirichlet's and VonMisesFisher's event spaces) on NumPy >= 2.4
let_tfp_pad_accept_newshape()

__all__ = [
    "MADE",
    "MLP",
    "ActNorm",
    "Adaptive",
    "Additive",
    "AdditiveCoupling",
    "Affine",
    "AffineCoupling",
    "BatchNorm",
    "BijectorTransformer",
    "ContinuousFlow",
    "Conv1x1",
    "ConvResNet",
    "Coupling",
    "FactorOut",
    "FlowBijector",
    "FlowChain",
    "ImageConditioner",
    "LULinear",
    "Logit",
    "MaskedAutoregressive",
    "Permute",
    "Planar",
    "Radial",
    "Squeeze",
    "Standardize",
    "TrackedConditioner",
    "Transformer",
    "alternating_mask",
    "channel_mask",
    "checkerboard_mask",
    "context_size_of",
    "is_adaptive",
    "random_mask",
    "takes_context",
    "training_mode",
    "transformers",
    "validate_mask",
]
