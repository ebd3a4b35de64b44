"""Networks that compute a layer's parameters, and the protocol they meet.

A layer of :mod:`tfp_flows.bijectors` routes its inputs (mask, autoregressive
order) and transforms them; a network here computes the parameters from the
conditioning part and the context. Any network meets the :class:`Conditioner`
protocol (:mod:`tfp_flows.nn.conditioners`: declared sizes, ``network(x_a,
context)``, tracked variables), directly or through :class:`TrackedConditioner`
(any Keras 3 / tf_keras / ``tf.Module`` network). Shipped: :class:`MLP` for
vectors, :class:`VelocityMLP` (the velocity of a continuous flow), :class:`MADE` for autoregressive layers, :class:`ConvResNet` and
:class:`ImageConditioner` for images, each with a factory that holds its
hyperparameters (:class:`MLPFactory`, :class:`MADEFactory`,
:class:`ConvResNetFactory`). Summary networks for amortized posteriors
(:mod:`tfp_flows.nn.summary` and next to it): :class:`MLPSummary`, :class:`DeepSet`,
:class:`TimeSeriesSummary`, :class:`ImageSummary`. ``tff.bijectors.MLP`` etc. keep working (re-exported there).
"""

from tfp_flows.nn.conditioners import (
    AutoregressiveConditioner,
    Conditioner,
    ConditionerFactory,
    ConditionerModule,
    ConditionerSpec,
    TrackedConditioner,
    as_autoregressive_conditioner,
    as_conditioner,
    autoregressive_connectivity,
    check_autoregressive,
    check_input_order,
)
from tfp_flows.nn.conv_resnet import ConvResNet
from tfp_flows.nn.image_conditioner import ConvResNetFactory, ImageConditioner
from tfp_flows.nn.image_summary import ImageSummary
from tfp_flows.nn.made import MADE, MADEFactory
from tfp_flows.nn.mlp import (
    MLP,
    MLPFactory,
    amortised_network,
    amortised_parameters,
    check_hidden_units,
    get_activation,
)
from tfp_flows.nn.summary import DeepSet, MLPSummary, summary_variables
from tfp_flows.nn.time_series_summary import TimeSeriesSummary
from tfp_flows.nn.velocity import VelocityMLP, time_features
from tfp_flows.nn.wavenet import WaveNet

__all__ = [
    "MADE",
    "MLP",
    "AutoregressiveConditioner",
    "Conditioner",
    "ConditionerFactory",
    "ConditionerModule",
    "ConditionerSpec",
    "ConvResNet",
    "ConvResNetFactory",
    "DeepSet",
    "ImageConditioner",
    "ImageSummary",
    "MADEFactory",
    "MLPFactory",
    "MLPSummary",
    "TimeSeriesSummary",
    "TrackedConditioner",
    "VelocityMLP",
    "WaveNet",
    "amortised_network",
    "amortised_parameters",
    "as_autoregressive_conditioner",
    "as_conditioner",
    "autoregressive_connectivity",
    "check_autoregressive",
    "check_hidden_units",
    "check_input_order",
    "get_activation",
    "summary_variables",
    "time_features",
]
