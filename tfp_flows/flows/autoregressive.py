"""Autoregressive flows: ``maf`` (density in one pass) and ``iaf`` (sampling in one pass)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import tensorflow as tf
from tensorflow_probability import bijectors as tfb
from tensorflow_probability import distributions as tfd

from tfp_flows._internal.naming import unique_name
from tfp_flows.bijectors.autoregressive import MaskedAutoregressive
from tfp_flows.bijectors.transformers import Additive, Affine, RationalQuadraticSpline, Transformer
from tfp_flows.flows.mixing import check_mixing, mixing_layer, mixing_parameters
from tfp_flows.flows.stack import (
    MAX_PARAMETERS,
    assemble,
    check_builder_arguments,
    check_conditioned_size,
)
from tfp_flows.nn.made import MADEFactory

__all__ = ["TRANSFORMERS", "autoregressive_layers", "iaf", "maf", "make_transformer"]

TransformerFactory = Callable[[int, tf.DType, str], Transformer]

TRANSFORMERS: dict[str, TransformerFactory] = {
    "affine": lambda num_entries, dtype, name: Affine(num_entries, dtype=dtype, name=name),
    # TFP's MAF / IAF form, (x + t) e^s with s unbounded: the VI surrogates' default
    "unbounded_affine": lambda num_entries, dtype, name: Affine(
        num_entries, log_scale_bound=None, shift_inside=True, dtype=dtype, name=name
    ),
    "additive": lambda num_entries, dtype, name: Additive(name=name),
    "spline": lambda num_entries, dtype, name: RationalQuadraticSpline(name=name),
}
"""The transformers a builder knows by name: ``(num_entries, dtype, name) -> Transformer``."""


def make_transformer(
    transformer: str | TransformerFactory, num_entries: int, dtype: tf.DType, name: str
) -> Transformer:
    """The transformer named ``transformer`` (a key of ``TRANSFORMERS``) or made by the callable.

    #### Examples

    >>> make_transformer("affine", 3, tf.float32, "t").params_per_entry
    2
    >>> make_transformer("quadratic", 3, tf.float32, "t")
    Traceback (most recent call last):
    ...
    ValueError: transformer must be 'affine', 'unbounded_affine', 'additive', 'spline' or a callable (num_entries, dtype, name) -> Transformer, got 'quadratic'.
    """
    expected = (
        f"{', '.join(repr(k) for k in TRANSFORMERS)} or a callable "
        "(num_entries, dtype, name) -> Transformer"
    )
    if isinstance(transformer, str):
        if transformer not in TRANSFORMERS:
            raise ValueError(f"transformer must be {expected}, got {transformer!r}.")
        factory = TRANSFORMERS[transformer]
    elif callable(transformer):
        factory = transformer
    else:
        raise TypeError(f"transformer must be {expected}, got {type(transformer).__name__}.")
    made = factory(num_entries, dtype, name)
    if not isinstance(made, Transformer):
        raise TypeError(
            f"the transformer factory must return a tfp_flows.bijectors.transformers.Transformer, "
            f"got {type(made).__name__}."
        )
    return made


def autoregressive_layers(
    one_pass: str,
    event_size: int,
    num_layers: int,
    hidden_units: Sequence[int],
    activation: str | Callable[[tf.Tensor], tf.Tensor],
    transformer: str | TransformerFactory,
    mixing: str | None,
    seed: int | None,
    context_size: int,
    validate_args: bool,
    dtype: tf.DType,
    name: str,
    max_parameters: int | None = MAX_PARAMETERS,
) -> list[tfb.Bijector]:
    """The layers of an autoregressive flow ``name``, each ``{name}_{kind}_{i}``.

    Refuses a flow of more than ``max_parameters`` trainable parameters
    (``ValueError``) before creating its MADEs and mixing layers.
    """
    event_size, num_layers, seed, hidden_units, context_size, dtype = check_builder_arguments(
        name, event_size, num_layers, seed, hidden_units, context_size, dtype
    )
    check_mixing(mixing)
    probe = make_transformer(transformer, event_size, dtype, f"{name}_transformer_size")
    check_conditioned_size(
        name,
        event_size,
        num_layers,
        hidden_units,
        context_size,
        probe.params_per_entry,
        sum(int(np.prod(v.shape)) for v in probe.trainable_variables),
        mixing_parameters(mixing, event_size),
        max_parameters,
        dtype,
        autoregressive=True,
    )
    kind = "maf" if one_pass == "inverse" else "iaf"
    layers: list[tfb.Bijector] = []
    for i in range(num_layers):
        layer_name = f"{name}_{kind}_{i}"
        order = np.arange(event_size)
        layers.append(
            MaskedAutoregressive(
                event_size,
                make_transformer(transformer, event_size, dtype, f"{layer_name}_transformer"),
                MADEFactory(hidden_units, activation, seed=None if seed is None else seed + i),
                one_pass=one_pass,
                input_order=order if i % 2 == 0 else order[::-1].copy(),
                context_size=context_size,
                validate_args=validate_args,
                dtype=dtype,
                name=layer_name,
            )
        )
        mixer = mixing_layer(mixing, event_size, i, dtype, name, seed)
        if mixer is not None:
            layers.append(mixer)
    return layers


def maf(
    event_size: int,
    num_layers: int = 5,
    hidden_units: Sequence[int] = (64, 64),
    *,
    activation: str | Callable[[tf.Tensor], tf.Tensor] = "gelu",
    transformer: str | TransformerFactory = "affine",
    mixing: str | None = None,
    standardize: bool = True,
    seed: int | None = 0,
    context_size: int = 0,
    validate_args: bool = False,
    dtype: tf.DType = tf.float32,
    name: str | None = None,
    max_parameters: int | None = MAX_PARAMETERS,
) -> tfd.TransformedDistribution:
    """Masked autoregressive flow: ``num_layers`` MAF layers on ``N(0, I)``, density in one pass.

    Layer ``i`` is a :class:`~tfp_flows.bijectors.MaskedAutoregressive` with
    ``one_pass="inverse"``: ``x_j = tau(z_j; p_j(x_<j, c))``, so ``log_prob``
    runs each layer's :class:`~tfp_flows.bijectors.MADE` once and ``sample``
    runs it ``event_size`` times (in a compiled loop). Successive layers
    reverse the autoregressive order (layer ``i`` uses ``0..n-1`` when ``i`` is
    even, ``n-1..0`` when odd), so the entry that depends on nothing in one
    layer depends on everything in the next; ``mixing="lu"`` adds a learned
    :class:`~tfp_flows.bijectors.LULinear` map after every layer as well.
    Every layer starts at the identity: a fresh flow is ``N(0, I)`` (up to the
    :class:`~tfp_flows.bijectors.Standardize` layer, identity until adapted).

    ```none
    x = S(f_L(... f_1(z))),   z ~ N(0, I),   f_l autoregressive with triangular Jacobian
    log p(x) = log N(z; 0, I) + sum_l sum_j ildj_{l,j} - log|det S|
    ```

    Args:
      event_size: dimension of the data (>= 2).
      num_layers: number of autoregressive layers.
      hidden_units: hidden widths of each MADE (at least ``event_size - 1``
        units per layer let every entry depend on all the entries before it).
      activation: MADE activation (default ``"gelu"``).
      transformer: ``"affine"`` (bounded log-scale, the default),
        ``"unbounded_affine"`` (TFP's ``(x + t) e^s``, unbounded ``s``; for
        variational surrogates), ``"additive"`` (volume preserving), ``"spline"`` (a default
        :class:`~tfp_flows.bijectors.transformers.RationalQuadraticSpline`; for
        other bins and bounds use ``tff.nsf(..., autoregressive=True)``), or a
        callable ``(num_entries, dtype, name) -> Transformer``.
      mixing: ``None`` (the default: order reversal only), ``"lu"``, ``"reverse"``
        or ``"random"`` (see :mod:`tfp_flows.flows.mixing`).
      standardize: end with a ``Standardize`` layer that ``fit`` adapts to the data.
      seed: seed of the initialisation (layer ``i`` uses ``seed + i``).
      context_size: width ``k`` of a context ``c`` (0: unconditional); with
        ``k > 0`` every MADE reads ``c`` and the flow is ``q(x | c)``.
      validate_args: check inputs are finite.
      dtype: ``tf.float32`` or ``tf.float64``.
      name: name of the distribution, of its chain and (as a prefix) of its layers;
        without it the flow shows the next free ``maf``, ``maf_1``, ...
      max_parameters: refuse (``ValueError``, before the layers are made) a flow
        of more trainable parameters (default
        :data:`~tfp_flows.flows.stack.MAX_PARAMETERS`, 10^8; ``None``: no cap).

    Returns:
      A ``tfd.TransformedDistribution``.

    #### Examples

    >>> flow = maf(event_size=3, num_layers=2, hidden_units=(16,))
    >>> round(float(flow.log_prob([[0.0, 0.0, 0.0]])[0]), 4)  # a fresh flow is N(0, I): -1.5 log(2 pi)
    -2.7568
    >>> flow.sample(4, seed=0).shape
    TensorShape([4, 3])

    #### References

    [1]: George Papamakarios, Theo Pavlakou, Iain Murray. Masked Autoregressive
         Flow for Density Estimation. NeurIPS 2017. https://arxiv.org/abs/1705.07057
    """
    shown = name or unique_name("maf")
    layers = autoregressive_layers(
        "inverse",
        event_size,
        num_layers,
        hidden_units,
        activation,
        transformer,
        mixing,
        seed,
        context_size,
        validate_args,
        dtype,
        shown,
        max_parameters,
    )
    return assemble(layers, event_size, standardize, dtype, name, default_name=shown)


def iaf(
    event_size: int,
    num_layers: int = 5,
    hidden_units: Sequence[int] = (64, 64),
    *,
    activation: str | Callable[[tf.Tensor], tf.Tensor] = "gelu",
    transformer: str | TransformerFactory = "affine",
    mixing: str | None = None,
    standardize: bool = True,
    seed: int | None = 0,
    context_size: int = 0,
    validate_args: bool = False,
    dtype: tf.DType = tf.float32,
    name: str | None = None,
    max_parameters: int | None = MAX_PARAMETERS,
) -> tfd.TransformedDistribution:
    """Inverse autoregressive flow: ``num_layers`` IAF layers on ``N(0, I)``, sampling in one pass.

    Layer ``i`` is a :class:`~tfp_flows.bijectors.MaskedAutoregressive` with
    ``one_pass="forward"``: ``x_j = tau(z_j; p_j(z_<j, c))``, so ``sample`` (and
    ``experimental_sample_and_log_prob``, the path of ``tfp.vi``) runs each
    layer's MADE once, while ``log_prob`` of given data runs it
    ``event_size`` times. The choice for variational posteriors; arguments and
    order reversal as :func:`maf`.

    ```none
    x = S(f_L(... f_1(z))),   z ~ N(0, I),   f_l(z)_j = tau(z_j; p_j(z_<j, c))
    ```

    #### Examples

    >>> flow = iaf(event_size=2, num_layers=2, hidden_units=(8,))
    >>> x, log_prob = flow.experimental_sample_and_log_prob(3, seed=0)
    >>> x.shape, log_prob.shape
    (TensorShape([3, 2]), TensorShape([3]))

    #### References

    [1]: Diederik P. Kingma, Tim Salimans, Rafal Jozefowicz, Xi Chen, Ilya
         Sutskever, Max Welling. Improving Variational Inference with Inverse
         Autoregressive Flow. NeurIPS 2016. https://arxiv.org/abs/1606.04934
    """
    shown = name or unique_name("iaf")
    layers = autoregressive_layers(
        "forward",
        event_size,
        num_layers,
        hidden_units,
        activation,
        transformer,
        mixing,
        seed,
        context_size,
        validate_args,
        dtype,
        shown,
        max_parameters,
    )
    return assemble(layers, event_size, standardize, dtype, name, default_name=shown)
