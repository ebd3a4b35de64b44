"""Coupling bijectors: Real NVP (affine) and NICE (additive) coupling layers.

A coupling layer splits the event ``x`` with a binary mask into a conditioning
part ``x_a`` (mask 1), passed through unchanged, and a transformed part ``x_b``
(mask 0), transformed elementwise with parameters computed from ``x_a`` by a
conditioner network. Its Jacobian is triangular, so the log-determinant is a
sum over the transformed entries.

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

from tfp_flows.bijectors.base import VectorBijector
from tfp_flows.bijectors.conditioners import MLP, TrackedConditioner
from tfp_flows.bijectors.masks import alternating_mask, validate_mask
from tfp_flows.checks import check_floating_dtype, check_positive_float
from tfp_flows.naming import unique_name

__all__ = ["AdditiveCoupling", "AffineCoupling", "Coupling"]

class Coupling(VectorBijector):
    """Base class of coupling layers: masking, conditioner, caching and checks.

    Subclasses set ``params_per_entry`` (conditioner outputs per transformed
    entry) and implement ``_couple(x_b, params) -> (y_b, fldj)`` and
    ``_uncouple(y_b, params) -> (x_b, ildj)``, where ``fldj`` / ``ildj`` are
    already summed over the event (shape = batch shape).

    The conditioner runs once for ``inverse`` plus ``inverse_log_det_jacobian``
    of the same tensor (as ``TransformedDistribution.log_prob`` does), see
    :class:`~tfp_flows.bijectors.base.VectorBijector`.
    """

    params_per_entry: int = 1

    def __init__(
        self,
        mask: int | Sequence[int] | np.ndarray,
        conditioner: Callable[[tf.Tensor], Any] | None,
        hidden_units: Sequence[int],
        activation: str | Callable[[tf.Tensor], tf.Tensor],
        seed: int | None,
        is_constant_jacobian: bool,
        validate_args: bool,
        dtype: tf.DType,
        name: str,
        parameters: dict[str, Any],
    ):
        dtype = check_floating_dtype(dtype, name)
        mask = alternating_mask(mask) if isinstance(mask, (int, np.integer)) else validate_mask(mask)
        self._mask = mask
        self._conditioning_indices = np.flatnonzero(mask == 1).astype(np.int32)
        self._transformed_indices = np.flatnonzero(mask == 0).astype(np.int32)
        order = np.concatenate([self._conditioning_indices, self._transformed_indices])
        self._merge_indices = np.argsort(order).astype(np.int32)
        # Two contiguous blocks (the alternating masks): slices instead of gathers.
        self._split_at = int(np.argmax(mask != mask[0]))
        self._is_two_blocks = bool(np.all(mask[self._split_at:] != mask[0]))
        n_a, n_b = len(self._conditioning_indices), len(self._transformed_indices)
        with tf.name_scope(name):
            if conditioner is None:
                conditioner = MLP(
                    n_a, self.params_per_entry * n_b, hidden_units=hidden_units,
                    activation=activation, seed=seed, dtype=dtype, name="mlp")
            elif isinstance(conditioner, (MLP, TrackedConditioner)):
                conditioner.check_sizes(n_a, self.params_per_entry * n_b, owner=name)
            else:
                conditioner = TrackedConditioner(
                    conditioner, n_a, self.params_per_entry * n_b, dtype=dtype)
        self._conditioner = conditioner
        parameters = dict(parameters, mask=mask, conditioner=conditioner, name=name)
        super().__init__(
            len(mask),
            is_constant_jacobian=is_constant_jacobian,
            validate_args=validate_args,
            dtype=dtype,
            parameters=parameters,
            name=name,
        )

    @property
    def mask(self) -> np.ndarray:
        """The 0/1 mask: 1 marks conditioning entries, 0 transformed entries."""
        return self._mask

    @property
    def conditioner(self) -> Callable[[tf.Tensor], tf.Tensor]:
        """The network ``x_a -> params`` (an :class:`MLP` or a :class:`TrackedConditioner`)."""
        return self._conditioner

    # -- the coupling mechanics -------------------------------------------------------------

    def _params(self, x_a: tf.Tensor) -> tf.Tensor:
        """Runs the conditioner on ``x_a`` of any batch shape."""
        batch_shape = tf.shape(x_a)[:-1]
        flat = tf.reshape(x_a, [-1, x_a.shape[-1]])
        params = self._conditioner(flat)
        return tf.reshape(params, tf.concat([batch_shape, [params.shape[-1]]], axis=0))

    def _transform(self, x: tf.Tensor, step) -> tuple[tf.Tensor, tf.Tensor]:
        """Splits ``x`` by the mask, applies ``step`` to the transformed part, merges."""
        if self._is_two_blocks:
            first, second = x[..., :self._split_at], x[..., self._split_at:]
            conditioning_first = self._mask[0] == 1
            x_a, x_b = (first, second) if conditioning_first else (second, first)
            y_b, ldj = step(x_b, self._params(x_a))
            return tf.concat([x_a, y_b] if conditioning_first else [y_b, x_a], axis=-1), ldj
        x_a = tf.gather(x, self._conditioning_indices, axis=-1)
        x_b = tf.gather(x, self._transformed_indices, axis=-1)
        y_b, ldj = step(x_b, self._params(x_a))
        return tf.gather(tf.concat([x_a, y_b], axis=-1), self._merge_indices, axis=-1), ldj

    def _forward_and_ildj(self, x):
        y, fldj = self._transform(x, self._couple)
        return y, -fldj

    def _inverse_and_ildj(self, y):
        return self._transform(y, self._uncouple)

    def _couple(self, x_b, params):
        raise NotImplementedError

    def _uncouple(self, y_b, params):
        raise NotImplementedError


class AffineCoupling(Coupling):
    """Real NVP affine coupling layer with a bounded log-scale.

    With ``x_a`` the entries where ``mask == 1`` and ``x_b`` the others, and
    ``(t, r) = conditioner(x_a)``:

    ```none
    s(x_a)  = c * tanh(r)                      (bounded log-scale, c learned per entry)
    forward:  y_a = x_a,   y_b = x_b * exp(s(x_a)) + t(x_a)
    inverse:  x_a = y_a,   x_b = (y_b - t(y_a)) * exp(-s(y_a))
    forward_log_det_jacobian(x) =  sum_b s(x_a)
    inverse_log_det_jacobian(y) = -sum_b s(y_a)
    ```

    The bound ``c`` (``log_scale_bound``, one trainable value per transformed
    entry, started at ``log_scale_bound`` ) keeps every layer's scale within
    ``[exp(-|c|), exp(|c|)]``, so inputs of magnitude 1e4 still give finite
    outputs and log-densities. The default conditioner is an :class:`MLP` whose
    last layer starts at zero: a fresh layer is the identity.

    Args:
      mask: an event size (alternating halves, see ``alternating_mask``) or a
        0/1 mask over the event (1 = conditioning, 0 = transformed).
      conditioner: ``None`` for the default MLP, or a network mapping
        ``[batch, n_a] -> [batch, 2 * n_b]`` (shift first, raw log-scale
        second; or a tuple ``(shift, raw_log_scale)``): a Keras 3 layer or
        model, a tf_keras layer or model, a ``tf.Module``, or a callable.
      hidden_units: hidden widths of the default MLP.
      activation: activation of the default MLP.
      log_scale_bound: initial value of the learned bound ``c``.
      seed: seed of the default MLP's initialisation.
      validate_args: check inputs are finite.
      dtype: ``tf.float32`` or ``tf.float64``.
      name: layer name (unique by default, so ``tfb.Chain`` can route kwargs).

    #### Examples

    >>> import tensorflow as tf
    >>> import tensorflow_probability as tfp
    >>> layer = AffineCoupling(mask=[1, 0], hidden_units=(16,), seed=0)
    >>> x = tf.constant([[0.5, -1.0]])
    >>> layer.forward(x).numpy().tolist()  # a fresh layer is the identity
    [[0.5, -1.0]]
    >>> flow = tfp.distributions.TransformedDistribution(
    ...     tfp.distributions.MultivariateNormalDiag(tf.zeros(2)), layer)
    >>> round(float(flow.log_prob(x)[0]), 4)
    -2.4629

    #### References

    [1]: Laurent Dinh, Jascha Sohl-Dickstein, Samy Bengio. Density estimation
         using Real NVP. ICLR 2017. https://arxiv.org/abs/1605.08803
    """

    params_per_entry = 2

    def __init__(
        self,
        mask: int | Sequence[int] | np.ndarray,
        conditioner: Callable[[tf.Tensor], Any] | None = None,
        *,
        hidden_units: Sequence[int] = (64, 64),
        activation: str | Callable[[tf.Tensor], tf.Tensor] = "relu",
        log_scale_bound: float = 2.0,
        seed: int | None = None,
        validate_args: bool = False,
        dtype: tf.DType = tf.float32,
        name: str | None = None,
    ):
        parameters = dict(locals())
        name = name or unique_name("affine_coupling")
        check_positive_float(f"{name}: log_scale_bound", log_scale_bound)
        super().__init__(
            mask, conditioner, hidden_units, activation, seed,
            is_constant_jacobian=False, validate_args=validate_args, dtype=dtype,
            name=name, parameters=parameters)
        with tf.name_scope(self.name):
            self.log_scale_bound = tf.Variable(
                tf.fill([len(self._transformed_indices)], tf.cast(log_scale_bound, self.dtype)),
                name="log_scale_bound")

    def _shift_and_log_scale(self, params):
        shift, raw = tf.split(params, 2, axis=-1)
        return shift, self.log_scale_bound * tf.math.tanh(raw)

    def _couple(self, x_b, params):
        shift, log_scale = self._shift_and_log_scale(params)
        return x_b * tf.exp(log_scale) + shift, tf.reduce_sum(log_scale, axis=-1)

    def _uncouple(self, y_b, params):
        shift, log_scale = self._shift_and_log_scale(params)
        return (y_b - shift) * tf.exp(-log_scale), -tf.reduce_sum(log_scale, axis=-1)


class AdditiveCoupling(Coupling):
    """NICE additive coupling layer: volume preserving.

    With ``t = conditioner(x_a)``:

    ```none
    forward:  y_a = x_a,   y_b = x_b + t(x_a)
    inverse:  x_a = y_a,   x_b = y_b - t(y_a)
    forward_log_det_jacobian = inverse_log_det_jacobian = 0   (volume preserving)
    ```

    The Jacobian *determinant* is 1 everywhere, but the Jacobian *matrix*
    depends on ``x_a`` (the map is not affine), so ``is_constant_jacobian`` is
    ``False``: TFP's closed-form ``mean()``/``covariance()`` of affine maps do
    not apply; estimate moments with :func:`tfp_flows.estimate_moments`.

    Args: as :class:`AffineCoupling`, but the conditioner maps
    ``[batch, n_a] -> [batch, n_b]`` and there is no log-scale.

    #### Examples

    >>> import tensorflow as tf
    >>> layer = AdditiveCoupling(mask=3, seed=0)
    >>> layer.is_constant_jacobian  # volume preserving, but not affine
    False
    >>> layer.inverse_log_det_jacobian(tf.ones([4, 3]), event_ndims=1).numpy().tolist()
    [0.0, 0.0, 0.0, 0.0]

    #### References

    [1]: Laurent Dinh, David Krueger, Yoshua Bengio. NICE: Non-linear
         Independent Components Estimation. https://arxiv.org/abs/1410.8516
    """

    params_per_entry = 1

    def __init__(
        self,
        mask: int | Sequence[int] | np.ndarray,
        conditioner: Callable[[tf.Tensor], Any] | None = None,
        *,
        hidden_units: Sequence[int] = (64, 64),
        activation: str | Callable[[tf.Tensor], tf.Tensor] = "relu",
        seed: int | None = None,
        validate_args: bool = False,
        dtype: tf.DType = tf.float32,
        name: str | None = None,
    ):
        parameters = dict(locals())
        name = name or unique_name("additive_coupling")
        super().__init__(
            mask, conditioner, hidden_units, activation, seed,
            is_constant_jacobian=False, validate_args=validate_args, dtype=dtype,
            name=name, parameters=parameters)

    def _couple(self, x_b, params):
        return x_b + params, tf.zeros(tf.shape(x_b)[:-1], dtype=x_b.dtype)

    def _uncouple(self, y_b, params):
        return y_b - params, tf.zeros(tf.shape(y_b)[:-1], dtype=y_b.dtype)
