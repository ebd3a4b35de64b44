"""Stacking layers into a flow: ``coupling_flow`` and the assembly every builder shares."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import tensorflow as tf
from tensorflow_probability import bijectors as tfb
from tensorflow_probability import distributions as tfd

from tfp_flows._internal.checks import check_floating_dtype, check_integer
from tfp_flows._internal.naming import unique_name
from tfp_flows.bijectors.chain import FlowChain
from tfp_flows.bijectors.standardize import Standardize
from tfp_flows.distributions.standard_normal import StandardNormal
from tfp_flows.flows.flow import Flow
from tfp_flows.nn.mlp import check_hidden_units

__all__ = [
    "MAX_PARAMETERS",
    "BuilderArguments",
    "assemble",
    "check_builder_arguments",
    "check_conditioned_size",
    "check_flow_size",
    "coupling_flow",
    "mlp_parameters",
]

MAX_PARAMETERS = 100_000_000
"""The builders' default cap on a flow's trainable parameters (``max_parameters=``).

10^8 parameters are 0.37 GiB as float32, and about four times that while
training (weights, gradients and Adam's two moments). A builder counts its
parameters before it creates a variable and refuses a flow above the cap,
naming the count and the argument to change; ``max_parameters=None`` (or a
larger cap) builds it anyway.
"""


class BuilderArguments(NamedTuple):
    """The arguments every builder takes, checked (see :func:`check_builder_arguments`)."""

    event_size: int
    num_layers: int
    seed: int | None
    hidden_units: tuple[int, ...]
    context_size: int
    dtype: tf.DType


def check_builder_arguments(
    name: str,
    event_size: int,
    num_layers: int,
    seed: int | None,
    hidden_units: Sequence[int],
    context_size: int,
    dtype: tf.DType,
    min_event_size: int = 2,
) -> BuilderArguments:
    """Checks the arguments every builder shares; errors name what was expected and what came.

    #### Examples

    >>> check_builder_arguments("flow", 2, 4, 0, [8], 0, tf.float32).hidden_units
    (8,)
    >>> check_builder_arguments("flow", 1, 4, 0, [8], 0, tf.float32)
    Traceback (most recent call last):
    ...
    ValueError: event_size must be an integer >= 2, got 1.
    """
    return BuilderArguments(
        event_size=check_integer("event_size", event_size, minimum=min_event_size),
        num_layers=check_integer("num_layers", num_layers, minimum=1),
        seed=None if seed is None else check_integer("seed", seed, minimum=0),
        hidden_units=check_hidden_units(hidden_units),
        context_size=check_integer("context_size", context_size, minimum=0),
        dtype=check_floating_dtype(dtype, name),
    )


def mlp_parameters(sizes: Sequence[int]) -> int:
    """Weights and biases of a dense network with layer widths ``sizes`` (input first).

    #### Examples

    >>> mlp_parameters([2, 8, 4])  # (2 + 1) * 8 + (8 + 1) * 4
    60
    """
    return sum((fan_in + 1) * fan_out for fan_in, fan_out in zip(sizes[:-1], sizes[1:]))


def check_flow_size(
    owner: str,
    parameters: int,
    max_parameters: int | None,
    dtype: tf.DType,
    advice: str,
) -> int:
    """``parameters`` if within ``max_parameters`` (``None``: no cap), else a ``ValueError``.

    Builders call it with their count before they create any variable; the
    error gives the count, its memory in ``dtype`` and ``advice`` (which
    argument to change).

    #### Examples

    >>> check_flow_size("flow", 10, 100, tf.float32, "use fewer layers")
    10
    >>> check_flow_size("flow", 10**9, 10**8, tf.float32, "use fewer layers")
    Traceback (most recent call last):
    ...
    ValueError: flow would have 1,000,000,000 trainable parameters (3.7 GiB as float32, about 4x that to train with Adam), more than max_parameters=100,000,000: use fewer layers, or pass max_parameters=None (or a larger cap) to build it anyway.
    """
    if max_parameters is None:
        return parameters
    max_parameters = check_integer("max_parameters", max_parameters, minimum=1)
    if parameters > max_parameters:
        gib = parameters * tf.as_dtype(dtype).size / 2**30
        raise ValueError(
            f"{owner} would have {parameters:,} trainable parameters ({gib:,.1f} GiB as "
            f"{tf.as_dtype(dtype).name}, about 4x that to train with Adam), more than "
            f"max_parameters={max_parameters:,}: {advice}, or pass max_parameters=None (or a "
            "larger cap) to build it anyway."
        )
    return parameters


def check_conditioned_size(
    owner: str,
    event_size: int,
    num_layers: int,
    hidden_units: Sequence[int],
    context_size: int,
    params_per_entry: int,
    transformer_parameters: int,
    mixing_parameters: int,
    max_parameters: int | None,
    dtype: tf.DType,
    autoregressive: bool,
) -> int:
    """Counts a flow of ``num_layers`` conditioned transforms and checks it (:func:`check_flow_size`).

    Layer ``i`` has a dense conditioner ``[d_a + k, *hidden_units, p d_b]``
    (coupling: its alternating mask's ``d_a`` conditioning and ``d_b``
    transformed entries; autoregressive: a MADE, ``d_a = d_b = event_size``),
    ``transformer_parameters`` in its transformer and ``mixing_parameters`` in
    the mixing layer after it.

    #### Examples

    >>> check_conditioned_size("flow", 4, 2, (8,), 0, 2, 0, 20, None, tf.float32, True)
    264
    """
    total = 0
    for i in range(num_layers):
        conditioning = (
            event_size
            if autoregressive
            else (event_size // 2 if i % 2 == 0 else event_size - event_size // 2)
        )
        transformed = event_size if autoregressive else event_size - conditioning
        total += mlp_parameters(
            [conditioning + context_size, *hidden_units, params_per_entry * transformed]
        )
        total += transformer_parameters + mixing_parameters
    mixers = num_layers * mixing_parameters
    advice = (
        f"its {num_layers} LU mixing maps of {event_size} x {event_size} hold {mixers:,} "
        "of them; use mixing='reverse' or 'random' (no parameters) or fewer num_layers"
        if 2 * mixers >= total
        else "use fewer num_layers or smaller hidden_units"
    )
    return check_flow_size(
        f"{owner} on {event_size} entries with num_layers={num_layers} and "
        f"hidden_units={tuple(hidden_units)}",
        total,
        max_parameters,
        dtype,
        advice,
    )


def coupling_flow(
    layers: Sequence[tfb.Bijector],
    event_size: int,
    *,
    standardize: bool = True,
    dtype: tf.DType = tf.float32,
    name: str | None = None,
) -> tfd.TransformedDistribution:
    """Stacks ``layers`` on a standard normal base: ``x = S(f_L(... f_1(z)))``, ``z ~ N(0, I)``.

    ``layers[0]`` is applied first to the base sample. Conditional layers make a
    conditional flow (they must agree on ``context_size``). With ``standardize``, a
    :class:`~tfp_flows.bijectors.Standardize` layer ``S`` comes last, so
    ``fit`` can match the data's mean and scale exactly. The layers are chained
    in a :class:`~tfp_flows.bijectors.FlowChain`, whose cache never returns a
    result computed with other weights. Without ``name``, the flow shows the
    next free name ``flow``, ``flow_1``, ... but counts as unnamed in TFP's
    joint distributions (they name it by position or by the argument that
    refers to it, as for any unnamed distribution). The log-density is

    ```none
    log p(x) = log N(z; 0, I) + sum_l inverse_log_det_jacobian_l
    ```

    #### Examples

    >>> from tfp_flows.bijectors import AffineCoupling
    >>> from tfp_flows.nn import MLPFactory
    >>> layers = [AffineCoupling(2, MLPFactory(seed=0)), AffineCoupling([0, 1], MLPFactory(seed=1))]
    >>> flow = coupling_flow(layers, event_size=2)
    >>> flow.sample(3, seed=0).shape
    TensorShape([3, 2])
    """
    return assemble(
        layers, event_size, standardize, dtype, name, default_name=name or unique_name("flow")
    )


def assemble(
    layers: Sequence[tfb.Bijector],
    event_size: int,
    standardize: bool,
    dtype: tf.DType,
    name: str | None,
    default_name: str,
) -> tfd.TransformedDistribution:
    """The flow ``Standardize(FlowChain(layers))(N(0, I))``, named ``name or default_name``."""
    dtype = check_floating_dtype(dtype, name or default_name)
    event_size = check_integer("event_size", event_size, minimum=1)
    shown = name or default_name
    bijectors = list(reversed(layers))
    if standardize:
        bijectors.insert(0, Standardize(event_size, dtype=dtype, name=f"{shown}_standardize"))
    base = StandardNormal(loc=tf.zeros([event_size], dtype), name=f"{shown}_base")
    flow = Flow(base, FlowChain(bijectors, name=shown), name=name)
    if name is None:
        # TFP's joint distributions treat `parameters["name"] is None` as unnamed (two such
        # flows never clash, and a lambda may call the flow by any argument name); show the
        # builder's name instead of TFP's default "<bijector><base>".
        flow._name = shown
    return flow
