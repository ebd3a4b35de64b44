"""Coupling flows: ``real_nvp`` (affine couplings) and ``nice`` (additive couplings)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import tensorflow as tf
from tensorflow_probability import bijectors as tfb
from tensorflow_probability import distributions as tfd

from tfp_flows._internal.naming import unique_name
from tfp_flows.bijectors.actnorm import ActNorm
from tfp_flows.bijectors.coupling import AdditiveCoupling, AffineCoupling, Coupling
from tfp_flows.bijectors.masks import alternating_mask
from tfp_flows.flows.image import image_flow
from tfp_flows.flows.mixing import check_mixing, mixing_layer, mixing_parameters
from tfp_flows.flows.stack import (
    MAX_PARAMETERS,
    assemble,
    check_builder_arguments,
    check_flow_size,
    mlp_parameters,
)
from tfp_flows.nn.mlp import MLPFactory

__all__ = ["coupling_parameters", "nice", "real_nvp"]


def coupling_parameters(
    event_size: int,
    num_layers: int,
    hidden_units: Sequence[int],
    *,
    context_size: int = 0,
    mixing: str | None = "lu",
    normalization: str | None = None,
    affine: bool = True,
) -> int:
    """Trainable parameters of ``real_nvp(event_size, ...)`` (``affine=False``: ``nice``), uncreated.

    Per coupling ``i`` (``d_a`` conditioning, ``d_b`` transformed entries of its
    alternating mask): an MLP ``[d_a + k, *hidden_units, p d_b]`` with ``p = 2``
    (shift and log-scale, plus ``d_b`` log-scale bounds) or ``p = 1`` (``nice``);
    the mixing layer's parameters (``event_size**2 + event_size`` for ``"lu"``)
    and ``2 event_size`` per ``ActNorm``.

    #### Examples

    >>> coupling_parameters(10_000, 8, (64, 64))  # eight 10^4 x 10^4 LU maps dominate
    807913792
    >>> coupling_parameters(2, 2, (8,), mixing=None)  # 2 x (MLP 1-8-2: 34, one bound)
    70
    """
    total = 0
    for i in range(num_layers):
        conditioning = event_size // 2 if i % 2 == 0 else event_size - event_size // 2
        transformed = event_size - conditioning
        outputs = (2 if affine else 1) * transformed
        total += mlp_parameters([conditioning + context_size, *hidden_units, outputs])
        total += transformed if affine else 0
        total += mixing_parameters(mixing, event_size)
        total += 2 * event_size if normalization == "actnorm" else 0
    return total


def _coupling_layers(
    layer_class: type[Coupling],
    event_size: int,
    num_layers: int,
    seed: int | None,
    mixing: str | None,
    name: str,
    normalization: str | None = None,
    max_parameters: int | None = MAX_PARAMETERS,
    **layer_kwargs,
) -> list[tfb.Bijector]:
    """The layers of a coupling flow named ``name``, each named ``{name}_{kind}_{i}``.

    Refuses (``ValueError``) a flow of more than ``max_parameters`` trainable
    parameters before creating any variable.
    """
    hidden_units, activation = layer_kwargs.pop("hidden_units"), layer_kwargs.pop("activation")
    event_size, num_layers, seed, *_ = checked = check_builder_arguments(
        name,
        event_size,
        num_layers,
        seed,
        hidden_units,
        layer_kwargs["context_size"],
        layer_kwargs["dtype"],
    )
    layer_kwargs.update(context_size=checked.context_size, dtype=checked.dtype)
    check_mixing(mixing)
    _check_normalization(normalization)
    parameters = coupling_parameters(
        event_size,
        num_layers,
        checked.hidden_units,
        context_size=checked.context_size,
        mixing=mixing,
        normalization=normalization,
        affine=layer_class is AffineCoupling,
    )
    mixers = num_layers * mixing_parameters(mixing, event_size)
    advice = (
        f"its {num_layers} LU mixing maps of {event_size} x {event_size} hold {mixers:,} "
        "of them; use mixing='reverse' or 'random' (no parameters) or fewer num_layers"
        if 2 * mixers >= parameters
        else "use fewer num_layers or smaller hidden_units"
    )
    check_flow_size(
        f"{name} on {event_size} entries with num_layers={num_layers} and "
        f"hidden_units={checked.hidden_units}",
        parameters,
        max_parameters,
        checked.dtype,
        advice,
    )
    kind = "affine_coupling" if layer_class is AffineCoupling else "additive_coupling"
    layers: list[tfb.Bijector] = []
    for i in range(num_layers):
        if normalization == "actnorm":
            layers.append(
                ActNorm(
                    event_size,
                    validate_args=layer_kwargs["validate_args"],
                    dtype=layer_kwargs["dtype"],
                    name=f"{name}_actnorm_{i}",
                )
            )
        layers.append(
            layer_class(
                alternating_mask(event_size, flip=i % 2 == 1),
                MLPFactory(
                    checked.hidden_units, activation, seed=None if seed is None else seed + i
                ),
                name=f"{name}_{kind}_{i}",
                **layer_kwargs,
            )
        )
        mixer = mixing_layer(mixing, event_size, i, layer_kwargs["dtype"], name, seed)
        if mixer is not None:
            layers.append(mixer)
    return layers


NORMALIZATIONS = (None, "actnorm")


def _check_normalization(normalization: str | None) -> None:
    if normalization not in NORMALIZATIONS:
        raise ValueError(
            f"normalization must be one of {list(NORMALIZATIONS)}, got {normalization!r}."
        )


def real_nvp(
    event_size: int | Sequence[int],
    num_layers: int = 8,
    hidden_units: Sequence[int] = (64, 64),
    *,
    activation: str | Callable[[tf.Tensor], tf.Tensor] = "gelu",
    log_scale_bound: float = 2.0,
    mixing: str | None = "lu",
    normalization: str | None = None,
    standardize: bool = True,
    seed: int | None = 0,
    context_size: int = 0,
    validate_args: bool = False,
    dtype: tf.DType = tf.float32,
    name: str | None = None,
    max_parameters: int | None = MAX_PARAMETERS,
    **image_kwargs,
) -> tfd.TransformedDistribution:
    """Real NVP flow: ``num_layers`` affine couplings with alternating masks on ``N(0, I)``.

    An image event shape ``(H, W, C)`` instead of an ``event_size`` builds the
    multiscale image architecture of the paper
    (:func:`~tfp_flows.flows.image.image_flow`: checkerboard and channel
    couplings with convolutional conditioners, squeezes, half of the channels
    factored out at each scale); it takes ``num_scales``, ``steps_per_scale``,
    ``hidden_channels``, ``num_blocks`` and the shared arguments (``activation``,
    ``log_scale_bound``, ``seed``, ``context_size``, ``validate_args``,
    ``dtype``, ``name``), and refuses the vector-only ones.

    Coupling ``i`` conditions on the first half of the event when ``i`` is even
    and on the second half when ``i`` is odd, so every entry is transformed.
    Each is an :class:`~tfp_flows.bijectors.AffineCoupling` with an MLP
    conditioner that starts at zero. With ``mixing="lu"`` (the default) a
    learned :class:`~tfp_flows.bijectors.LULinear` map follows every
    coupling, so the couplings transform along learned directions rather
    than the coordinate axes (Glow's invertible 1x1 convolution; it adds
    ``event_size**2`` multiply-adds per point and layer). Every layer starts at
    the identity: a fresh flow is ``N(0, I)`` (up to the
    :class:`~tfp_flows.bijectors.Standardize` layer, identity until adapted).

    ```none
    x = S(W_8 f_8(W_7 f_7(... W_1 f_1(z)))),   z ~ N(0, I)
    log p(x) = log N(z; 0, I) - sum_i log|det df_i/dz| - sum_i log|det W_i| - log|det S|
    ```

    Args:
      event_size: dimension of the data (>= 2).
      num_layers: number of coupling layers.
      hidden_units: hidden widths of each conditioner MLP.
      activation: conditioner activation (default ``"gelu"``).
      log_scale_bound: initial bound ``c`` of each layer's log-scale ``c * tanh(r)``.
      mixing: ``"lu"`` for learned linear maps between couplings, ``None`` for
        the classic alternating-mask Real NVP, ``"reverse"`` / ``"random"`` for
        fixed permutations (see :mod:`tfp_flows.flows.mixing`).
      normalization: ``"actnorm"`` puts an :class:`~tfp_flows.bijectors.ActNorm`
        before each coupling (on its base side, as in Glow's steps),
        which ``fit`` initialises on the data as it arrives there; ``None``
        (default) for none.
      standardize: end with a ``Standardize`` layer that ``fit`` adapts to the data.
      seed: seed of the initialisation (layer ``i`` uses ``seed + i``).
      context_size: width ``k`` of a context ``c`` (0: unconditional). With
        ``k > 0`` every coupling's conditioner also reads ``c``, and the flow
        is a conditional density ``q(x | c)``: ``flow.log_prob(x, context=c)``,
        ``flow.sample(n, seed=s, context=c)``, ``flow.condition(c)``.
      validate_args: check inputs are finite.
      dtype: ``tf.float32`` or ``tf.float64``.
      name: name of the distribution, of its chain and (as a prefix) of its layers;
        without it the flow shows the next free ``real_nvp``, ``real_nvp_1``, ...
        and counts as unnamed in TFP's joint distributions.
      max_parameters: refuse (``ValueError``, before any variable is created) a
        flow of more trainable parameters than this, naming the count and what
        to change (default :data:`~tfp_flows.flows.stack.MAX_PARAMETERS`,
        10^8; ``None``: no cap). ``real_nvp(10_000)`` would hold 808 M, 800 M of
        them in its LU maps: ``mixing="reverse"`` scales to large events.

    Returns:
      A ``tfd.TransformedDistribution``; its ``trainable_variables`` are every
      conditioner weight and log-scale bound.

    #### Examples

    >>> flow = real_nvp(event_size=2, num_layers=4, hidden_units=(32, 32))
    >>> flow.event_shape, len(flow.trainable_variables)  # 4 x 7 coupling + 4 x 2 LU variables
    (TensorShape([2]), 36)
    >>> float(flow.log_prob([[0.0, 0.0]])[0])  # a fresh flow is N(0, I)
    -1.8378770351409912
    >>> real_nvp((8, 8, 1), hidden_channels=8).event_shape  # the multiscale image flow
    TensorShape([8, 8, 1])
    """
    if not isinstance(event_size, (int, np.integer)):
        vector_only = dict(
            num_layers=(num_layers, 8),
            hidden_units=(tuple(hidden_units), (64, 64)),
            mixing=(mixing, "lu"),
            normalization=(normalization, None),
            standardize=(standardize, True),
        )
        given = sorted(k for k, (value, default) in vector_only.items() if value != default)
        if given:
            raise ValueError(
                f"real_nvp on the image event shape {tuple(event_size)}: {given} "
                "apply to vector events only; an image flow takes num_scales, "
                "steps_per_scale, hidden_channels and num_blocks."
            )
        return image_flow(
            event_size,
            "real_nvp",
            activation=activation,
            log_scale_bound=log_scale_bound,
            seed=seed,
            context_size=context_size,
            validate_args=validate_args,
            dtype=dtype,
            name=name,
            max_parameters=max_parameters,
            **image_kwargs,
        )
    if image_kwargs:
        raise TypeError(
            f"real_nvp on vectors got unexpected arguments {sorted(image_kwargs)} "
            "(image flows only: give an event shape (H, W, C))."
        )
    shown = name or unique_name("real_nvp")
    layers = _coupling_layers(
        AffineCoupling,
        event_size,
        num_layers,
        seed,
        mixing,
        shown,
        normalization,
        max_parameters,
        hidden_units=hidden_units,
        activation=activation,
        log_scale_bound=log_scale_bound,
        context_size=context_size,
        validate_args=validate_args,
        dtype=dtype,
    )
    return assemble(layers, event_size, standardize, dtype, name, default_name=shown)


def nice(
    event_size: int,
    num_layers: int = 8,
    hidden_units: Sequence[int] = (64, 64),
    *,
    activation: str | Callable[[tf.Tensor], tf.Tensor] = "gelu",
    mixing: str | None = "lu",
    normalization: str | None = None,
    standardize: bool = True,
    seed: int | None = 0,
    context_size: int = 0,
    validate_args: bool = False,
    dtype: tf.DType = tf.float32,
    name: str | None = None,
    max_parameters: int | None = MAX_PARAMETERS,
) -> tfd.TransformedDistribution:
    """NICE flow: ``num_layers`` additive couplings with alternating masks on ``N(0, I)``.

    Additive couplings preserve volume, so apart from the ``Standardize`` and
    ``LULinear`` layers (``mixing="lu"``, the default) the density is
    ``log p(x) = log N(f^{-1}(x); 0, I)`` (and the ``ActNorm`` layers' constant
    log-det with ``normalization="actnorm"``). Arguments as :func:`real_nvp`
    (without ``log_scale_bound``), ``max_parameters`` included.

    #### Examples

    >>> flow = nice(event_size=3, num_layers=2, hidden_units=(8,))
    >>> flow.sample(2, seed=0).shape
    TensorShape([2, 3])
    """
    shown = name or unique_name("nice")
    layers = _coupling_layers(
        AdditiveCoupling,
        event_size,
        num_layers,
        seed,
        mixing,
        shown,
        normalization,
        max_parameters,
        hidden_units=hidden_units,
        activation=activation,
        context_size=context_size,
        validate_args=validate_args,
        dtype=dtype,
    )
    return assemble(layers, event_size, standardize, dtype, name, default_name=shown)
