"""Networks that compute a layer's parameters: MLP, MADE, conv ResNet, image conditioner.

A layer of :mod:`tfp_flows.bijectors` routes its inputs (mask, autoregressive
order) and transforms them; the network here computes the parameters from the
conditioning part and the context. :class:`MLP` and :class:`TrackedConditioner`
(any Keras 3 / tf_keras / ``tf.Module`` network) for vectors, :class:`MADE` for
autoregressive layers, :class:`ConvResNet` and :class:`ImageConditioner` for images.
``tff.bijectors.MLP`` etc. keep working (re-exported there).
"""

from tfp_flows.nn.conditioners import (
    MLP,
    TrackedConditioner,
    amortised_network,
    amortised_parameters,
    check_hidden_units,
    get_activation,
)
from tfp_flows.nn.conv_resnet import ConvResNet
from tfp_flows.nn.image_conditioner import ImageConditioner
from tfp_flows.nn.made import MADE, check_input_order

__all__ = [
    "MADE",
    "MLP",
    "ConvResNet",
    "ImageConditioner",
    "TrackedConditioner",
    "amortised_network",
    "amortised_parameters",
    "check_hidden_units",
    "check_input_order",
    "get_activation",
]
