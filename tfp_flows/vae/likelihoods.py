"""The VAE's likelihood ``p(x | z)``: what the decoder's output parameterises.

Each likelihood is a Keras 3 layer (tracked, saved with the model) that says how many
parameters the decoder must output per data point, scores data against them, checks the data's
values, and scales the data for the encoder:

```none
DequantizedPixels(L)  x in {0..L-1}^D   P(x | z) = prod_i softmax(a_i(z))[x_i]              (L logits a pixel)
                      as a density of the dequantised pixels v = (x + u) / L, u in [0, 1)^D:
                      p(v | z) = L^D P(floor(L v) | z)   (constant on each cell)
Bernoulli             x in {0, 1}^D     log p(x | z) = sum_i x_i a_i - softplus(a_i)           (a = logits)
Gaussian              x in R^D          log p(x | z) = sum_i log N(x_i; m_i(z), sigma_i^2)     (sigma learned, one a dimension)
```

``DequantizedPixels`` puts a VAE in the density space of the image flows: its density of
``v`` is piecewise constant, so the dequantisation bound of
:func:`tfp_flows.metrics.bits_per_dim` is exact for it, ``log p(v | z) - D log L = log P(x | z)``
for every noise ``u``, and a bound on ``log P(x)`` in nats gives bits/dim as
``-bound / (D ln 2)``, the number ``bits_per_dim`` reports for a flow on ``[0, 1]^D``.
:meth:`DequantizedPixels.pixel_distribution` is that density as a ``tfd.Distribution``.

#### Examples

>>> import numpy as np
>>> import tensorflow as tf
>>> likelihood = Bernoulli()
>>> likelihood.params_shape((3,))
(3,)
>>> round(float(likelihood.log_prob(tf.constant([[1.0, 0.0, 1.0]]), tf.zeros([1, 3]))[0]), 4)
-2.0794
>>> round(3 * float(np.log(0.5)), 4)
-2.0794
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from tensorflow_probability import distributions as tfd

from tfp_flows._internal.checks import check_integer
from tfp_flows.images.dequantization import check_discrete

__all__ = ["LIKELIHOODS", "Bernoulli", "DequantizedPixels", "Gaussian", "Likelihood", "likelihood"]


class Likelihood(keras.layers.Layer):
    """``p(x | z)`` from the decoder's output ``a``: the contract every likelihood meets.

    Subclasses implement :meth:`params_shape`, :meth:`log_prob`, :meth:`mean` and may
    override :meth:`check_values` and :meth:`encoder_input`.
    """

    def params_shape(self, event_shape: tuple[int, ...]) -> tuple[int, ...]:
        """The decoder's output per data point for events of ``event_shape``."""
        raise NotImplementedError

    def log_prob(self, x: tf.Tensor, params: tf.Tensor) -> tf.Tensor:
        """``log p(x | z)`` summed over the event: ``x`` ``[..., *event]``, ``params``
        ``[..., *params_shape]`` (batch shapes broadcast) -> ``[...]``."""
        raise NotImplementedError

    def mean(self, params: tf.Tensor) -> tf.Tensor:
        """``E[x | z]`` (in the data's units): reconstructions and samples' means."""
        raise NotImplementedError

    def check_values(self, x: np.ndarray, owner: str) -> None:
        """Raises ``ValueError`` for data outside the likelihood's support (finite data is
        checked before)."""

    def encoder_input(self, x: tf.Tensor) -> tf.Tensor:
        """The data as the encoder reads it (scaled to about ``[-1, 1]``)."""
        return x


@keras.saving.register_keras_serializable(package="tfp_flows")
class DequantizedPixels(Likelihood):
    """Pixels with ``levels`` grey levels: a categorical over the levels per pixel.

    ```none
    P(x | z) = prod_i softmax(a_i(z))[x_i],   a_i in R^L          (decoder output [*event, L])
    p(v | z) = L^D P(floor(L v) | z)    for  v = (x + u) / L,  u in [0, 1)^D
    ```

    Data are the integer pixels ``0..levels-1`` (``tff.datasets.digits(...)``), as for
    :func:`tfp_flows.metrics.bits_per_dim`; the encoder reads ``2 x / (L - 1) - 1``.

    Args:
      levels: the number of grey levels ``L`` (17 for the digits).
    """

    def __init__(self, levels: int = 17, **kwargs: Any):
        super().__init__(**kwargs)
        self.levels = check_integer("levels", levels, minimum=2)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "levels": self.levels}

    def params_shape(self, event_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (*event_shape, self.levels)

    def log_prob(self, x: tf.Tensor, params: tf.Tensor) -> tf.Tensor:
        log_probs = tf.nn.log_softmax(params, axis=-1)
        chosen = tf.one_hot(tf.cast(tf.round(x), tf.int32), self.levels, dtype=params.dtype)
        per_pixel = tf.reduce_sum(chosen * log_probs, axis=-1)  # x's batch broadcasts
        return tf.reduce_sum(per_pixel, axis=list(range(-(x.shape.rank - 1), 0)))

    def mean(self, params: tf.Tensor) -> tf.Tensor:
        levels = tf.range(self.levels, dtype=params.dtype)
        return tf.reduce_sum(tf.nn.softmax(params, axis=-1) * levels, axis=-1)

    def check_values(self, x: np.ndarray, owner: str) -> None:
        check_discrete(x, self.levels, owner)

    def encoder_input(self, x: tf.Tensor) -> tf.Tensor:
        return 2.0 * x / (self.levels - 1) - 1.0

    def pixel_distribution(self, params: Any, event_rank: int) -> tfd.Distribution:
        """``p(v | z)``, the piecewise-constant density of the dequantised pixels ``v in [0, 1)^D``.

        A mixture, per pixel, of the uniform densities on the cells ``[k / L, (k + 1) / L)``
        weighted by ``softmax(a)``; ``event_rank`` trailing axes of ``params[..., 0]`` form
        the event. Its :func:`tfp_flows.metrics.bits_per_dim` of ``x`` is
        ``-log P(x | z) / (D ln 2)`` exactly.

        #### Examples

        >>> import tensorflow as tf
        >>> pixels = DequantizedPixels(levels=4).pixel_distribution(tf.zeros([2, 4]), 1)
        >>> pixels.event_shape, round(float(pixels.log_prob([0.1, 0.9])), 4)   # 2 log(4 * 1/4)
        (TensorShape([2]), 0.0)
        """
        params = tf.convert_to_tensor(params)
        levels = tf.range(self.levels, dtype=params.dtype)
        cells = tfd.Uniform(low=levels / self.levels, high=(levels + 1.0) / self.levels)
        per_pixel = tfd.MixtureSameFamily(tfd.Categorical(logits=params), cells)
        return tfd.Independent(per_pixel, reinterpreted_batch_ndims=event_rank)


@keras.saving.register_keras_serializable(package="tfp_flows")
class Bernoulli(Likelihood):
    """Binary data: ``log p(x | z) = sum_i x_i a_i - softplus(a_i)`` with logits ``a(z)``.

    Data must be 0 or 1 everywhere; the encoder reads ``2 x - 1``.
    """

    def params_shape(self, event_shape: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(event_shape)

    def log_prob(self, x: tf.Tensor, params: tf.Tensor) -> tf.Tensor:
        terms = x * params - tf.math.softplus(params)
        return tf.reduce_sum(terms, axis=list(range(-(x.shape.rank - 1), 0)))

    def mean(self, params: tf.Tensor) -> tf.Tensor:
        return tf.sigmoid(params)

    def check_values(self, x: np.ndarray, owner: str) -> None:
        binary = (x == 0) | (x == 1)
        if not np.all(binary):
            bad = np.asarray(x)[~binary]
            raise ValueError(
                f"{owner}: a Bernoulli likelihood needs binary data (every value 0 or 1), got "
                f"{bad.size} other values, e.g. {bad.ravel()[0]:.4g}; binarise the data "
                "(x > 0.5), or use likelihood='gaussian'."
            )

    def encoder_input(self, x: tf.Tensor) -> tf.Tensor:
        return 2.0 * x - 1.0


@keras.saving.register_keras_serializable(package="tfp_flows")
class Gaussian(Likelihood):
    """Real data: ``x_i ~ N(m_i(z), sigma_i^2)``, the decoder giving ``m``, one learned
    ``sigma_i`` per entry of the event.

    Args:
      scale: the initial ``sigma`` (every entry).
      trainable_scale: learn ``log sigma`` (``False``: keep it fixed).
    """

    def __init__(self, scale: float = 1.0, trainable_scale: bool = True, **kwargs: Any):
        super().__init__(**kwargs)
        if isinstance(scale, bool) or not (
            isinstance(scale, (int, float)) and 0 < scale < math.inf
        ):
            raise ValueError(f"scale must be a positive finite number, got {scale!r}.")
        self.scale = float(scale)
        self.trainable_scale = bool(trainable_scale)
        self.log_scale = None

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "scale": self.scale,
            "trainable_scale": self.trainable_scale,
        }

    def build(self, event_shape: tuple[int, ...]) -> None:
        self.log_scale = self.add_weight(
            shape=tuple(event_shape),
            initializer=keras.initializers.Constant(math.log(self.scale)),
            trainable=self.trainable_scale,
            name="log_scale",
        )

    def params_shape(self, event_shape: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(event_shape)

    def log_prob(self, x: tf.Tensor, params: tf.Tensor) -> tf.Tensor:
        log_scale = tf.convert_to_tensor(self.log_scale)
        z = (x - params) * tf.exp(-log_scale)
        terms = -0.5 * tf.square(z) - log_scale - 0.5 * math.log(2.0 * math.pi)
        return tf.reduce_sum(terms, axis=list(range(-(x.shape.rank - 1), 0)))

    def mean(self, params: tf.Tensor) -> tf.Tensor:
        return params


LIKELIHOODS = {"dequantized": DequantizedPixels, "bernoulli": Bernoulli, "gaussian": Gaussian}
"""The likelihoods a :class:`~tfp_flows.VAE` knows by name."""


def likelihood(spec: str | Likelihood) -> Likelihood:
    """A :class:`Likelihood` from its name (default settings) or as given.

    #### Examples

    >>> type(likelihood("bernoulli")).__name__
    'Bernoulli'
    >>> likelihood("poisson")
    Traceback (most recent call last):
    ...
    ValueError: likelihood must be 'dequantized', 'bernoulli', 'gaussian' or a tfp_flows.vae.Likelihood, got 'poisson'.
    """
    if isinstance(spec, Likelihood):
        return spec
    if isinstance(spec, str) and spec in LIKELIHOODS:
        return LIKELIHOODS[spec]()
    known = ", ".join(repr(k) for k in LIKELIHOODS)
    raise ValueError(
        f"likelihood must be {known.rsplit(', ', 1)[0]}, {known.rsplit(', ', 1)[1]} or a "
        f"tfp_flows.vae.Likelihood, got {spec!r}."
    )
