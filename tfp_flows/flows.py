"""Flow builders: small factories that return a ``tfd.TransformedDistribution``."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import tensorflow as tf
from tensorflow_probability import bijectors as tfb
from tensorflow_probability import distributions as tfd

from tfp_flows.bijectors.coupling import AdditiveCoupling, AffineCoupling, Coupling
from tfp_flows.bijectors.linear import LULinear
from tfp_flows.bijectors.masks import alternating_mask
from tfp_flows.bijectors.standardize import Standardize
from tfp_flows.standard_normal import StandardNormal

__all__ = ["coupling_flow", "nice", "real_nvp"]


def coupling_flow(
    layers: Sequence[tfb.Bijector],
    event_size: int,
    *,
    standardize: bool = True,
    dtype: tf.DType = tf.float32,
    name: str = "flow",
) -> tfd.TransformedDistribution:
    """Stacks ``layers`` on a standard normal base: ``x = S(f_L(... f_1(z)))``, ``z ~ N(0, I)``.

    ``layers[0]`` is applied first to the base sample. With ``standardize``, a
    :class:`~tfp_flows.bijectors.Standardize` layer ``S`` comes last, so
    ``fit`` can match the data's mean and scale exactly. The log-density is

    ```none
    log p(x) = log N(z; 0, I) + sum_l inverse_log_det_jacobian_l
    ```

    #### Examples

    >>> layers = [AffineCoupling(2, seed=0), AffineCoupling([0, 1], seed=1)]
    >>> flow = coupling_flow(layers, event_size=2)
    >>> flow.sample(3, seed=0).shape
    TensorShape([3, 2])
    """
    dtype = tf.as_dtype(dtype)
    bijectors = list(reversed(layers))
    if standardize:
        bijectors.insert(0, Standardize(event_size, dtype=dtype, name="standardize"))
    base = StandardNormal(loc=tf.zeros([event_size], dtype), name="base")
    return tfd.TransformedDistribution(base, tfb.Chain(bijectors, name=name), name=name)


def _coupling_layers(
    layer_class: type[Coupling],
    event_size: int,
    num_layers: int,
    seed: int | None,
    mixing: str | None,
    **layer_kwargs,
) -> list[tfb.Bijector]:
    if event_size < 2:
        raise ValueError(f"a coupling flow needs an event size of at least 2, got {event_size}.")
    if num_layers < 1:
        raise ValueError(f"num_layers must be at least 1, got {num_layers}.")
    if mixing not in (None, "lu"):
        raise ValueError(f"mixing must be 'lu' or None, got {mixing!r}.")
    prefix = "affine_coupling" if layer_class is AffineCoupling else "additive_coupling"
    layers: list[tfb.Bijector] = []
    for i in range(num_layers):
        layers.append(layer_class(
            alternating_mask(event_size, flip=i % 2 == 1),
            seed=None if seed is None else seed + i,
            name=f"{prefix}_{i}",
            **layer_kwargs))
        if mixing == "lu":
            layers.append(LULinear(event_size, dtype=layer_kwargs["dtype"], name=f"lu_linear_{i}"))
    return layers


def real_nvp(
    event_size: int,
    num_layers: int = 8,
    hidden_units: Sequence[int] = (64, 64),
    *,
    activation: str | Callable[[tf.Tensor], tf.Tensor] = "gelu",
    log_scale_bound: float = 2.0,
    mixing: str | None = "lu",
    standardize: bool = True,
    seed: int | None = 0,
    validate_args: bool = False,
    dtype: tf.DType = tf.float32,
    name: str = "real_nvp",
) -> tfd.TransformedDistribution:
    """Real NVP flow: ``num_layers`` affine couplings with alternating masks on ``N(0, I)``.

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
        the classic alternating-mask Real NVP.
      standardize: end with a ``Standardize`` layer that ``fit`` adapts to the data.
      seed: seed of the initialisation (layer ``i`` uses ``seed + i``).
      validate_args: check inputs are finite.
      dtype: ``tf.float32`` or ``tf.float64``.
      name: name of the distribution and of its ``tfb.Chain``.

    Returns:
      A ``tfd.TransformedDistribution``; its ``trainable_variables`` are every
      conditioner weight and log-scale bound.

    #### Examples

    >>> flow = real_nvp(event_size=2, num_layers=4, hidden_units=(32, 32))
    >>> flow.event_shape, len(flow.trainable_variables)  # 4 x 7 coupling + 4 x 2 LU variables
    (TensorShape([2]), 36)
    >>> float(flow.log_prob([[0.0, 0.0]])[0])  # a fresh flow is N(0, I)
    -1.8378770351409912
    """
    layers = _coupling_layers(
        AffineCoupling, event_size, num_layers, seed, mixing, hidden_units=hidden_units,
        activation=activation, log_scale_bound=log_scale_bound, validate_args=validate_args,
        dtype=dtype)
    return coupling_flow(layers, event_size, standardize=standardize, dtype=dtype, name=name)


def nice(
    event_size: int,
    num_layers: int = 8,
    hidden_units: Sequence[int] = (64, 64),
    *,
    activation: str | Callable[[tf.Tensor], tf.Tensor] = "gelu",
    mixing: str | None = "lu",
    standardize: bool = True,
    seed: int | None = 0,
    validate_args: bool = False,
    dtype: tf.DType = tf.float32,
    name: str = "nice",
) -> tfd.TransformedDistribution:
    """NICE flow: ``num_layers`` additive couplings with alternating masks on ``N(0, I)``.

    Additive couplings preserve volume, so apart from the ``Standardize`` and
    ``LULinear`` layers (``mixing="lu"``, the default) the density is
    ``log p(x) = log N(f^{-1}(x); 0, I)``.

    #### Examples

    >>> flow = nice(event_size=3, num_layers=2, hidden_units=(8,))
    >>> flow.sample(2, seed=0).shape
    TensorShape([2, 3])
    """
    layers = _coupling_layers(
        AdditiveCoupling, event_size, num_layers, seed, mixing, hidden_units=hidden_units,
        activation=activation, validate_args=validate_args, dtype=dtype)
    return coupling_flow(layers, event_size, standardize=standardize, dtype=dtype, name=name)
