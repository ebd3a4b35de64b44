"""Neural spline flows: ``nsf`` (rational-quadratic spline couplings, or autoregressive splines)."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence

import tensorflow as tf
from tensorflow_probability import bijectors as tfb
from tensorflow_probability import distributions as tfd

from tfp_flows._internal.checks import check_integer, check_positive_float
from tfp_flows._internal.naming import unique_name
from tfp_flows.bijectors.coupling import Coupling
from tfp_flows.bijectors.masks import alternating_mask
from tfp_flows.bijectors.transformers import RationalQuadraticSpline
from tfp_flows.flows.autoregressive import autoregressive_layers
from tfp_flows.flows.mixing import check_mixing, mixing_layer, mixing_parameters
from tfp_flows.flows.stack import (
    MAX_PARAMETERS,
    assemble,
    check_builder_arguments,
    check_conditioned_size,
)
from tfp_flows.nn.mlp import MLPFactory

__all__ = ["nsf"]

# nsf keeps the spline's default minimum bin width and height (a fraction of 2 * bound)
_DEFAULTS = inspect.signature(RationalQuadraticSpline).parameters
_MIN_BIN_FRACTION = min(_DEFAULTS["min_bin_width"].default, _DEFAULTS["min_bin_height"].default)
_MAX_BINS = math.ceil(1.0 / _MIN_BIN_FRACTION) - 1


def nsf(
    event_size: int,
    num_layers: int = 6,
    hidden_units: Sequence[int] = (64, 64),
    *,
    bins: int = 16,
    bound: float = 8.0,
    min_derivative: float = 1e-3,
    activation: str | Callable[[tf.Tensor], tf.Tensor] = "gelu",
    mixing: str | None = "lu",
    autoregressive: bool = False,
    standardize: bool = True,
    seed: int | None = 0,
    context_size: int = 0,
    validate_args: bool = False,
    dtype: tf.DType = tf.float32,
    name: str | None = None,
    max_parameters: int | None = MAX_PARAMETERS,
) -> tfd.TransformedDistribution:
    """Neural spline flow: ``num_layers`` rational-quadratic spline couplings on ``N(0, I)``.

    Coupling ``i`` conditions on the first half of the event when ``i`` is even
    and on the second half when ``i`` is odd; the other half goes through a
    :class:`~tfp_flows.bijectors.transformers.RationalQuadraticSpline` with
    ``bins`` bins on ``[-bound, bound]`` (identity outside) whose ``3 * bins - 1``
    parameters per entry come from an MLP conditioner that starts at zero. With
    ``mixing="lu"`` (the default) a learned
    :class:`~tfp_flows.bijectors.LULinear` map follows every coupling. Every
    layer starts at the identity: a fresh flow is ``N(0, I)`` (up to the
    :class:`~tfp_flows.bijectors.Standardize` layer, identity until adapted).

    ```none
    x = S(W_L g_L(W_(L-1) g_(L-1)(... W_1 g_1(z)))),   z ~ N(0, I)
    g_i(z)_b = RQS(z_b; theta_i(z_a)),   g_i(z)_a = z_a
    log p(x) = log N(z; 0, I) - sum_i sum_b log RQS'(z_b) - sum_i log|det W_i| - log|det S|
    ```

    Args:
      event_size: dimension of the data (>= 2).
      num_layers: number of spline coupling layers.
      hidden_units: hidden widths of each conditioner MLP.
      bins: number of spline bins ``K`` (2 to 999: each bin is at least 1e-3 of the
        interval wide and high).
      bound: half-width ``B`` of the interval the splines act on (> 0); the
        data are standardized first, so ``B`` is in standard deviations. The
        default 8 covers the banana's long arm (a quadratic shift reaching
        ~6 standard deviations), which identity tails cannot model.
      min_derivative: minimum derivative of the splines at their interior knots.
      activation: conditioner activation (default ``"gelu"``).
      mixing: ``"lu"`` for learned linear maps between couplings, ``None`` for
        alternating masks only, ``"reverse"`` / ``"random"`` for permutations.
      autoregressive: ``True`` for the autoregressive variant (RQ-NSF (AR) of
        the paper): every layer is a MAF-style
        :class:`~tfp_flows.bijectors.MaskedAutoregressive` whose MADE computes
        the spline parameters of entry ``i`` from the entries before it, so
        every entry is transformed in every layer; ``log_prob`` takes one pass,
        ``sample`` ``event_size`` passes (successive layers reverse the order).
      standardize: end with a ``Standardize`` layer that ``fit`` adapts to the data.
      seed: seed of the initialisation (layer ``i`` uses ``seed + i``).
      context_size: width ``k`` of a context ``c`` (0: unconditional); with
        ``k > 0`` every conditioner also reads ``c`` and the flow is ``q(x | c)``.
      validate_args: check inputs are finite.
      dtype: ``tf.float32`` or ``tf.float64``.
      name: name of the distribution, of its chain and (as a prefix) of its layers;
        without it the flow shows the next free ``nsf``, ``nsf_1``, ...
      max_parameters: refuse (``ValueError``, before the layers are made) a flow
        of more trainable parameters (default
        :data:`~tfp_flows.flows.stack.MAX_PARAMETERS`, 10^8; ``None``: no cap).

    Returns:
      A ``tfd.TransformedDistribution``; its ``trainable_variables`` are every
      conditioner weight (and the LU factors with ``mixing="lu"``).

    #### Examples

    >>> flow = nsf(event_size=2, num_layers=2, hidden_units=(16,), bins=4)
    >>> flow.event_shape, len(flow.trainable_variables)  # 2 x 4 MLP + 2 x 2 LU variables
    (TensorShape([2]), 12)
    >>> round(float(flow.log_prob([[0.0, 0.0]])[0]), 5)  # a fresh flow is N(0, I): -log(2 pi)
    -1.83788

    #### References

    [1]: Conor Durkan, Artur Bekasov, Iain Murray, George Papamakarios. Neural
         Spline Flows. NeurIPS 2019. https://arxiv.org/abs/1906.04032
    """
    shown = name or unique_name("nsf")
    event_size, num_layers, seed, hidden_units, context_size, dtype = check_builder_arguments(
        shown, event_size, num_layers, seed, hidden_units, context_size, dtype
    )
    check_mixing(mixing)
    bins = check_integer("bins", bins, minimum=2)
    if bins >= _MAX_BINS + 1:
        raise ValueError(
            f"{shown}: bins must be an integer in [2, {_MAX_BINS}] (every bin is at least "
            f"{_MIN_BIN_FRACTION:g} of the interval [-bound, bound] wide and high, so at most "
            f"{_MAX_BINS} fit), got {bins}."
        )
    bound = check_positive_float("bound", bound)
    if autoregressive:
        layers = autoregressive_layers(
            "inverse",
            event_size,
            num_layers,
            hidden_units,
            activation,
            lambda n, dtype, name: RationalQuadraticSpline(
                bins, bound, min_derivative=min_derivative, name=name
            ),
            mixing,
            seed,
            context_size,
            validate_args,
            dtype,
            shown,
            max_parameters,
        )
        return assemble(layers, event_size, standardize, dtype, name, default_name=shown)
    check_conditioned_size(
        shown,
        event_size,
        num_layers,
        hidden_units,
        context_size,
        3 * bins - 1,
        0,
        mixing_parameters(mixing, event_size),
        max_parameters,
        dtype,
        autoregressive=False,
    )
    layers: list[tfb.Bijector] = []
    for i in range(num_layers):
        layer_name = f"{shown}_rq_spline_coupling_{i}"
        transformer = RationalQuadraticSpline(
            bins, bound, min_derivative=min_derivative, name=f"{layer_name}_spline"
        )
        layers.append(
            Coupling(
                alternating_mask(event_size, flip=i % 2 == 1),
                transformer,
                MLPFactory(hidden_units, activation, seed=None if seed is None else seed + i),
                context_size=context_size,
                validate_args=validate_args,
                dtype=dtype,
                name=layer_name,
            )
        )
        mixer = mixing_layer(mixing, event_size, i, dtype, shown, seed)
        if mixer is not None:
            layers.append(mixer)
    return assemble(layers, event_size, standardize, dtype, name, default_name=shown)
