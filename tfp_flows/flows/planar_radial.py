"""Planar and radial flows: ``planar`` and ``radial`` (Rezende & Mohamed, 2015)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import tensorflow as tf
from tensorflow_probability import bijectors as tfb
from tensorflow_probability import distributions as tfd

from tfp_flows._internal.naming import unique_name
from tfp_flows.bijectors.planar import Planar
from tfp_flows.bijectors.radial import Radial
from tfp_flows.flows.stack import assemble, check_builder_arguments

__all__ = ["planar", "radial"]

Activation = str | Callable[[tf.Tensor], tf.Tensor]


def _layers(
    layer_class: type[Planar] | type[Radial],
    kind: str,
    event_size: int,
    num_layers: int,
    seed: int | None,
    name: str,
    **layer_kwargs,
) -> list[tfb.Bijector]:
    """The layers of the flow ``name``, each named ``{name}_{kind}_{i}`` and seeded ``seed + i``."""
    event_size, num_layers, seed, *_ = checked = check_builder_arguments(
        name,
        event_size,
        num_layers,
        seed,
        layer_kwargs["hidden_units"],
        layer_kwargs["context_size"],
        layer_kwargs["dtype"],
        min_event_size=1,
    )
    layer_kwargs.update(
        hidden_units=checked.hidden_units, context_size=checked.context_size, dtype=checked.dtype
    )
    return [
        layer_class(
            event_size,
            seed=None if seed is None else seed + i,
            name=f"{name}_{kind}_{i}",
            **layer_kwargs,
        )
        for i in range(num_layers)
    ]


def planar(
    event_size: int,
    num_layers: int = 16,
    *,
    hidden_units: Sequence[int] = (32, 32),
    activation: Activation = "tanh",
    standardize: bool = True,
    seed: int | None = 0,
    context_size: int = 0,
    validate_args: bool = False,
    dtype: tf.DType = tf.float32,
    name: str | None = None,
) -> tfd.TransformedDistribution:
    """Planar flow: ``num_layers`` :class:`~tfp_flows.bijectors.Planar` layers on ``N(0, I)``.

    ```none
    x = S(f_L(... f_1(z))),   f_l(z) = z + u_hat_l tanh(w_l^T z + b_l),   z ~ N(0, I)
    log p(x) = log N(z; 0, I) - sum_l log|1 + w_l^T u_hat_l sech^2(w_l^T z_{l-1} + b_l)| - log|det S|
    ```

    Each layer bends the density along one learned direction ``w_l``, so a
    planar flow needs many layers for a complex density; it is cheap (``O(n)``
    per layer) and classic for variational inference. Its inverse is a 1-D
    root solve per layer (see :class:`~tfp_flows.bijectors.Planar`), so the
    flow scores any point, not only its own samples. Every layer starts at the
    identity: a fresh flow is ``N(0, I)`` (up to the
    :class:`~tfp_flows.bijectors.Standardize` layer, identity until adapted).

    Args:
      event_size: dimension of the data (>= 1).
      num_layers: number of planar layers.
      hidden_units, activation: of each layer's context MLP (only with ``context_size > 0``).
      standardize: end with a ``Standardize`` layer that ``fit`` adapts to the data.
      seed: seed of the initialisation (layer ``i`` uses ``seed + i``).
      context_size: width ``k`` of a context ``c`` (0: unconditional). With
        ``k > 0`` every layer's ``(u, w, b)`` is shifted by an MLP of ``c``
        (amortised): ``flow.log_prob(x, context=c)``, ``flow.sample(n, seed=s, context=c)``.
      validate_args: check inputs are finite.
      dtype: ``tf.float32`` or ``tf.float64``.
      name: name of the distribution, of its chain and (as a prefix) of its layers;
        without it the flow shows the next free ``planar``, ``planar_1``, ...

    Returns:
      A ``tfd.TransformedDistribution``.

    #### Examples

    >>> flow = planar(2, num_layers=4)
    >>> flow.event_shape, len(flow.trainable_variables)  # u, w, b per layer
    (TensorShape([2]), 12)
    >>> float(flow.log_prob([[0.0, 0.0]])[0])  # a fresh flow is N(0, I)
    -1.8378770351409912

    #### References

    [1]: Danilo Jimenez Rezende, Shakir Mohamed. Variational Inference with
         Normalizing Flows. ICML 2015. https://arxiv.org/abs/1505.05770
    """
    shown = name or unique_name("planar")
    layers = _layers(
        Planar,
        "planar",
        event_size,
        num_layers,
        seed,
        shown,
        hidden_units=hidden_units,
        activation=activation,
        context_size=context_size,
        validate_args=validate_args,
        dtype=dtype,
    )
    return assemble(layers, event_size, standardize, dtype, name, default_name=shown)


def radial(
    event_size: int,
    num_layers: int = 16,
    *,
    hidden_units: Sequence[int] = (32, 32),
    activation: Activation = "tanh",
    standardize: bool = True,
    seed: int | None = 0,
    context_size: int = 0,
    validate_args: bool = False,
    dtype: tf.DType = tf.float32,
    name: str | None = None,
) -> tfd.TransformedDistribution:
    """Radial flow: ``num_layers`` :class:`~tfp_flows.bijectors.Radial` layers on ``N(0, I)``.

    ```none
    x = S(f_L(... f_1(z))),   f_l(z) = z + beta_l (z - x0_l) / (alpha_l + ||z - x0_l||),   z ~ N(0, I)
    ```

    Each layer contracts (``beta < 0``) or expands (``beta > 0``) the density
    around a learned centre ``x0_l``; the inverse is in closed form. Every
    layer starts at the identity (``beta = 0``) with its centre drawn from
    ``N(0, I)``. Arguments as :func:`planar`.

    #### Examples

    >>> flow = radial(3, num_layers=2, seed=1)
    >>> flow.sample(2, seed=0).shape
    TensorShape([2, 3])
    """
    shown = name or unique_name("radial")
    layers = _layers(
        Radial,
        "radial",
        event_size,
        num_layers,
        seed,
        shown,
        hidden_units=hidden_units,
        activation=activation,
        context_size=context_size,
        validate_args=validate_args,
        dtype=dtype,
    )
    return assemble(layers, event_size, standardize, dtype, name, default_name=shown)
