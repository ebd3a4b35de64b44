"""Coupling layers: a mask, a transformer and a conditioner.

A coupling layer splits the event ``x`` with a binary mask into a conditioning
part ``x_a`` (mask 1), passed through unchanged, and a transformed part ``x_b``
(mask 0), transformed elementwise by a :mod:`transformer
<tfp_flows.bijectors.transformers>` whose parameters a :mod:`conditioner
<tfp_flows.nn.conditioners>` computes from ``x_a`` (and the context ``c``
of a conditional layer). The Jacobian is triangular, so the log-determinant
is a sum over the transformed entries:

```none
params = conditioner(x_a, c)                   [..., k * n_b] -> [..., n_b, k]
y_a = x_a,    y_b = tau(x_b; params)
log|det J(x)| = sum_b log|d tau(x_b; params_b) / d x_b|
```

The conditioner is any network that meets the :class:`~tfp_flows.nn.Conditioner`
protocol (or a factory that builds one for the layer's sizes): the layer holds
no network hyperparameters. Events of any shape: the mask has the event's shape
(for example a checkerboard over ``[H, W, C]``) and the layer acts on the
flattened event. On an image mask, :class:`~tfp_flows.nn.ConvResNetFactory`
computes the parameters with a convolutional residual network on the masked
image instead of an MLP on the flattened conditioning entries.

#### References

[1]: Laurent Dinh, David Krueger, Yoshua Bengio. NICE: Non-linear Independent
     Components Estimation. ICLR 2015 workshop. https://arxiv.org/abs/1410.8516
[2]: Laurent Dinh, Jascha Sohl-Dickstein, Samy Bengio. Density estimation using
     Real NVP. ICLR 2017. https://arxiv.org/abs/1605.08803
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from tfp_flows._internal.checks import check_floating_dtype, check_integer
from tfp_flows._internal.naming import unique_name
from tfp_flows.bijectors.base import FlowBijector, broadcast_batch
from tfp_flows.bijectors.masks import alternating_mask, validate_mask
from tfp_flows.bijectors.transformers import (
    Additive,
    Affine,
    Transformer,
    params_from_blocks,
)
from tfp_flows.nn.conditioners import (
    Conditioner,
    ConditionerFactory,
    ConditionerSpec,
    as_conditioner,
)
from tfp_flows.nn.mlp import MLPFactory

__all__ = ["AdditiveCoupling", "AffineCoupling", "Coupling"]

Mask = int | Sequence[int] | np.ndarray
ConditionerLike = Conditioner | ConditionerFactory | Callable[..., Any] | None


def _as_mask(mask: Mask) -> np.ndarray:
    """An event size (alternating halves) or a user mask, checked."""
    return (
        alternating_mask(int(mask)) if isinstance(mask, (int, np.integer)) else validate_mask(mask)
    )


class Coupling(FlowBijector):
    """A coupling layer from a mask, a transformer and a conditioner.

    ```none
    forward:  y_a = x_a,   y_b = tau(x_b; conditioner(x_a, c))
    inverse:  x_a = y_a,   x_b = tau^{-1}(y_b; conditioner(y_a, c))
    inverse_log_det_jacobian(y) = sum_b ildj_b        (the transformer's, summed)
    ```

    The conditioner runs once for ``inverse`` plus ``inverse_log_det_jacobian``
    of the same tensor (as ``TransformedDistribution.log_prob`` does), see
    :class:`~tfp_flows.bijectors.FlowBijector`. A conditional layer
    (``context_size = k > 0``) broadcasts the context ``[..., k]`` against the
    batch of its input.

    Args:
      mask: an event size (alternating halves, see ``alternating_mask``) or a
        0/1 array of the event's shape (1 = conditioning, 0 = transformed).
      transformer: a :class:`~tfp_flows.bijectors.transformers.Transformer`
        (``Affine``, ``Additive``, or any elementwise TFP bijector through
        ``BijectorTransformer``).
      conditioner: the network that computes the parameters, or a factory that
        builds it (:func:`~tfp_flows.nn.as_conditioner`): a
        :class:`~tfp_flows.nn.Conditioner` (declared sizes ``n_a``, ``p * n_b``,
        ``k``; called ``conditioner(x_a, context)``), any other network
        ``[batch, n_a + k] -> [batch, p * n_b]`` (conditioning entries, then the
        context; or a tuple of ``p`` tensors ``[batch, n_b]``): a Keras 3 or
        tf_keras layer or model, a ``tf.Module`` or a callable, wrapped in a
        :class:`~tfp_flows.nn.TrackedConditioner`; or a
        :class:`~tfp_flows.nn.ConditionerFactory` (:class:`~tfp_flows.nn.MLPFactory`,
        :class:`~tfp_flows.nn.ConvResNetFactory` on image masks), given the
        layer's :class:`~tfp_flows.nn.ConditionerSpec`. ``None``: ``MLPFactory()``
        (hidden units ``(64, 64)``, relu, unseeded). ``p = transformer.params_per_entry``.
      context_size: width ``k`` of the context (0: unconditional).
      validate_args: check inputs and context are finite.
      dtype: ``tf.float32`` or ``tf.float64``.
      name: layer name (unique by default, so ``tfb.Chain`` can route kwargs).

    #### Examples

    A coupling layer with a sinh-arcsinh transformer, conditioned on a context:

    >>> import tensorflow as tf
    >>> from tensorflow_probability import bijectors as tfb
    >>> from tfp_flows.bijectors.transformers import BijectorTransformer
    >>> sinh_arcsinh = BijectorTransformer(
    ...     lambda p: tfb.SinhArcsinh(p[..., 0], tf.nn.softplus(p[..., 1]) + 0.5),
    ...     params_per_entry=2)
    >>> from tfp_flows.nn import MLPFactory
    >>> layer = Coupling(mask=[1, 0, 0], transformer=sinh_arcsinh, conditioner=MLPFactory(seed=0),
    ...                  context_size=1)
    >>> x, c = tf.constant([[0.5, -1.0, 2.0]]), tf.constant([[3.0]])
    >>> y = layer.forward(x, context=c)
    >>> bool(tf.reduce_all(tf.abs(layer.inverse(y, context=c) - x) < 1e-5))
    True
    """

    def __init__(
        self,
        mask: Mask,
        transformer: Transformer,
        conditioner: ConditionerLike = None,
        *,
        context_size: int = 0,
        validate_args: bool = False,
        dtype: tf.DType = tf.float32,
        name: str | None = None,
        is_constant_jacobian: bool = False,
        parameters: dict[str, Any] | None = None,
    ):
        parameters = dict(locals()) if parameters is None else parameters
        name = name or unique_name("coupling")
        dtype = check_floating_dtype(dtype, name)
        context_size = check_integer(f"{name}: context_size", context_size, minimum=0)
        if not isinstance(transformer, Transformer):
            raise TypeError(
                f"{name}: transformer must be a tfp_flows.bijectors.transformers.Transformer "
                f"(wrap an elementwise TFP bijector in BijectorTransformer), got "
                f"{type(transformer).__name__}."
            )
        mask = _as_mask(mask)
        flat = mask.reshape(-1)
        self._mask = mask
        self._conditioning_indices = np.flatnonzero(flat == 1).astype(np.int32)
        self._transformed_indices = np.flatnonzero(flat == 0).astype(np.int32)
        order = np.concatenate([self._conditioning_indices, self._transformed_indices])
        self._merge_indices = np.argsort(order).astype(np.int32)
        # Two contiguous blocks (the alternating masks): slices instead of gathers.
        self._split_at = int(np.argmax(flat != flat[0]))
        self._is_two_blocks = bool(np.all(flat[self._split_at :] != flat[0]))
        spec = ConditionerSpec(
            input_size=len(self._conditioning_indices),
            params_per_entry=transformer.params_per_entry,
            num_transformed=len(self._transformed_indices),
            context_size=context_size,
            dtype=dtype,
            mask=mask,
        )
        with tf.name_scope(name):
            conditioner = as_conditioner(
                MLPFactory() if conditioner is None else conditioner, spec, name
            )
        self._conditioner = conditioner
        self._transformer = transformer
        parameters = dict(parameters, mask=mask, conditioner=conditioner, name=name)
        super().__init__(
            mask.shape,
            is_constant_jacobian=is_constant_jacobian,
            validate_args=validate_args,
            dtype=dtype,
            parameters=parameters,
            name=name,
            context_size=context_size,
        )

    @property
    def mask(self) -> np.ndarray:
        """The 0/1 mask of the event's shape: 1 marks conditioning entries, 0 transformed."""
        return self._mask

    @property
    def conditioner(self) -> Conditioner:
        """The network ``(x_a, context) -> params``, a :class:`~tfp_flows.nn.Conditioner`."""
        return self._conditioner

    @property
    def transformer(self) -> Transformer:
        """The elementwise map of the transformed entries."""
        return self._transformer

    # -- the coupling mechanics -------------------------------------------------------------

    def _params(self, x_a: tf.Tensor, context: tf.Tensor | None) -> tf.Tensor:
        """The transformer's parameters ``[..., n_b, k]`` for ``x_a`` of any batch shape."""
        batch_shape = tf.shape(x_a)[:-1]
        flat = tf.reshape(x_a, [-1, x_a.shape[-1]])
        if context is not None:
            context = tf.reshape(context, [-1, self.context_size])
        blocks = self._conditioner(flat, context)
        blocks = tf.reshape(blocks, tf.concat([batch_shape, [blocks.shape[-1]]], axis=0))
        return params_from_blocks(blocks, self._transformer.params_per_entry)

    def _transform(self, x: tf.Tensor, step: Callable, context: tf.Tensor | None):
        """Splits ``x`` by the mask, applies ``step`` to the transformed part, merges."""
        rank = len(self.event_shape)
        if rank > 1:
            x = tf.reshape(x, tf.concat([tf.shape(x)[:-rank], [self.event_size]], axis=0))
        if context is not None:
            x, context = broadcast_batch(x, context)
        if self._is_two_blocks:
            first, second = x[..., : self._split_at], x[..., self._split_at :]
            conditioning_first = self._mask.reshape(-1)[0] == 1
            x_a, x_b = (first, second) if conditioning_first else (second, first)
            y_b, ildj = step(x_b, self._params(x_a, context))
            y = tf.concat([x_a, y_b] if conditioning_first else [y_b, x_a], axis=-1)
        else:
            x_a = tf.gather(x, self._conditioning_indices, axis=-1)
            x_b = tf.gather(x, self._transformed_indices, axis=-1)
            y_b, ildj = step(x_b, self._params(x_a, context))
            y = tf.gather(tf.concat([x_a, y_b], axis=-1), self._merge_indices, axis=-1)
        if rank > 1:
            y = tf.reshape(y, tf.concat([tf.shape(y)[:-1], self.event_shape], axis=0))
        return y, tf.reduce_sum(ildj, axis=-1)

    def _forward_and_ildj(self, x, context=None):
        return self._transform(x, self._transformer.forward, context)

    def _inverse_and_ildj(self, y, context=None):
        return self._transform(y, self._transformer.inverse, context)


class AffineCoupling(Coupling):
    """Real NVP affine coupling layer with a bounded log-scale.

    With ``x_a`` the entries where ``mask == 1`` and ``x_b`` the others, and
    ``(t, r) = conditioner(x_a, c)`` (the :class:`~tfp_flows.bijectors.transformers.Affine`
    transformer):

    ```none
    s(x_a)  = b * tanh(r)                      (bounded log-scale, b learned per entry)
    forward:  y_a = x_a,   y_b = x_b * exp(s(x_a)) + t(x_a)
    inverse:  x_a = y_a,   x_b = (y_b - t(y_a)) * exp(-s(y_a))
    forward_log_det_jacobian(x) =  sum_b s(x_a)
    inverse_log_det_jacobian(y) = -sum_b s(y_a)
    ```

    The bound ``b`` (``log_scale_bound``, one trainable value per transformed
    entry, started at ``log_scale_bound``) keeps every layer's scale within
    ``[exp(-|b|), exp(|b|)]``, so inputs of magnitude 1e4 still give finite
    outputs and log-densities. The shipped conditioners (``MLPFactory``,
    ``ConvResNetFactory``) start their last layer at zero: a fresh layer is the identity.

    Args:
      mask: an event size (alternating halves, see ``alternating_mask``) or a
        0/1 mask of the event's shape (1 = conditioning, 0 = transformed).
      conditioner: a network or factory, as :class:`Coupling` takes it: maps
        ``x_a`` (and the context) to ``2 * n_b`` parameters, the shifts first, the
        raw log-scales second (or a tuple ``(shift, raw_log_scale)``). ``None``:
        :class:`~tfp_flows.nn.MLPFactory` ``()``; on image masks ``[H, W, C]``
        (``checkerboard_mask``, ``channel_mask``)
        :class:`~tfp_flows.nn.ConvResNetFactory` gives a convolutional residual
        network on the masked image.
      context_size: width of the context of a conditional layer (0: unconditional).
      log_scale_bound: initial value of the learned bound ``b``.
      validate_args: check inputs are finite.
      dtype: ``tf.float32`` or ``tf.float64``.
      name: layer name (unique by default, so ``tfb.Chain`` can route kwargs).

    #### Examples

    >>> import tensorflow as tf
    >>> import tensorflow_probability as tfp
    >>> from tfp_flows.nn import ConvResNetFactory, MLPFactory
    >>> layer = AffineCoupling(mask=[1, 0], conditioner=MLPFactory(hidden_units=(16,), seed=0))
    >>> x = tf.constant([[0.5, -1.0]])
    >>> layer.forward(x).numpy().tolist()  # a fresh layer is the identity
    [[0.5, -1.0]]
    >>> flow = tfp.distributions.TransformedDistribution(
    ...     tfp.distributions.MultivariateNormalDiag(tf.zeros(2)), layer)
    >>> round(float(flow.log_prob(x)[0]), 4)
    -2.4629

    On images, a checkerboard coupling whose parameters come from 3x3 convolutions:

    >>> from tfp_flows.bijectors.masks import checkerboard_mask
    >>> image_layer = AffineCoupling(
    ...     checkerboard_mask((4, 4, 1)), ConvResNetFactory(hidden_channels=8, num_blocks=1, seed=0))
    >>> image_layer.forward(tf.ones([2, 4, 4, 1])).shape
    TensorShape([2, 4, 4, 1])

    #### References

    [1]: Laurent Dinh, Jascha Sohl-Dickstein, Samy Bengio. Density estimation
         using Real NVP. ICLR 2017. https://arxiv.org/abs/1605.08803
    """

    def __init__(
        self,
        mask: Mask,
        conditioner: ConditionerLike = None,
        *,
        context_size: int = 0,
        log_scale_bound: float = 2.0,
        validate_args: bool = False,
        dtype: tf.DType = tf.float32,
        name: str | None = None,
    ):
        parameters = dict(locals())
        name = name or unique_name("affine_coupling")
        dtype = check_floating_dtype(dtype, name)
        num_transformed = int(np.sum(_as_mask(mask) == 0))
        with tf.name_scope(name):
            transformer = Affine(
                num_transformed, log_scale_bound, dtype=dtype, name=f"{name}_affine"
            )
        super().__init__(
            mask,
            transformer,
            conditioner,
            context_size=context_size,
            validate_args=validate_args,
            dtype=dtype,
            name=name,
            parameters=parameters,
        )

    @property
    def log_scale_bound(self) -> tf.Variable:
        """The learned bounds ``b`` of the log-scales, one per transformed entry."""
        return self._transformer.log_scale_bound


class AdditiveCoupling(Coupling):
    """NICE additive coupling layer: volume preserving.

    With ``t = conditioner(x_a, c)`` (the :class:`~tfp_flows.bijectors.transformers.Additive`
    transformer):

    ```none
    forward:  y_a = x_a,   y_b = x_b + t(x_a)
    inverse:  x_a = y_a,   x_b = y_b - t(y_a)
    forward_log_det_jacobian = inverse_log_det_jacobian = 0   (volume preserving)
    ```

    The Jacobian *determinant* is 1 everywhere, but the Jacobian *matrix*
    depends on ``x_a`` (the map is not affine), so ``is_constant_jacobian`` is
    ``False``: TFP's closed-form ``mean()``/``covariance()`` of affine maps do
    not apply; estimate moments with :func:`tfp_flows.estimate_moments`.

    Args: as :class:`AffineCoupling`, but the conditioner computes ``n_b``
    shifts and there is no log-scale.

    #### Examples

    >>> import tensorflow as tf
    >>> layer = AdditiveCoupling(mask=3)
    >>> layer.is_constant_jacobian  # volume preserving, but not affine
    False
    >>> layer.inverse_log_det_jacobian(tf.ones([4, 3]), event_ndims=1).numpy().tolist()
    [0.0, 0.0, 0.0, 0.0]

    #### References

    [1]: Laurent Dinh, David Krueger, Yoshua Bengio. NICE: Non-linear
         Independent Components Estimation. https://arxiv.org/abs/1410.8516
    """

    def __init__(
        self,
        mask: Mask,
        conditioner: ConditionerLike = None,
        *,
        context_size: int = 0,
        validate_args: bool = False,
        dtype: tf.DType = tf.float32,
        name: str | None = None,
    ):
        parameters = dict(locals())
        name = name or unique_name("additive_coupling")
        super().__init__(
            mask,
            Additive(name=f"{name}_additive"),
            conditioner,
            context_size=context_size,
            validate_args=validate_args,
            dtype=dtype,
            name=name,
            parameters=parameters,
        )
