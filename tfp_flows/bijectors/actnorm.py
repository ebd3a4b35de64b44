"""``ActNorm``: Glow's activation normalisation, a learned per-feature affine map with data-dependent initialisation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from tfp_flows._internal.naming import unique_name
from tfp_flows.bijectors.adaptive import feature_statistics
from tfp_flows.bijectors.base import FlowBijector

__all__ = ["ActNorm"]


class ActNorm(FlowBijector):
    """Per-feature affine map with trainable ``loc`` and ``log_scale``, initialised from data.

    ```none
    forward:  y[..., c] = loc_c + exp(log_scale_c) * x[..., c]
    inverse:  x[..., c] = (y[..., c] - loc_c) * exp(-log_scale_c)
    forward_log_det_jacobian = P * sum_c log_scale_c = -inverse_log_det_jacobian
    ```

    ``c`` runs over the last axis: the ``n`` entries of a vector event ``[n]``
    (``P = 1``), or the ``C`` channels of an image event ``[H, W, C]``, one
    scale per channel shared by every pixel (``P = H * W``).

    Both variables start at 0 (the identity) and are trainable. The layer is
    adaptive (:mod:`~tfp_flows.bijectors.adaptive`): :meth:`adapt` sets them
    from samples of the layer's *outputs* so that the inverse maps those
    samples to zero mean and unit variance per feature (Glow's data-dependent
    initialisation); ``fit`` and ``FlowModel.fit`` do that on the data as it
    arrives at the layer, before the first step. After that, training moves
    ``loc`` and ``log_scale`` like any other weight.

    Args:
      event_shape: ``n`` (a vector event) or ``(H, W, C)`` (an image event).
      validate_args: check inputs are finite.
      dtype: ``tf.float32`` or ``tf.float64``.
      name: layer name (default: the next free ``actnorm``, ``actnorm_1``, ...).

    #### Examples

    >>> import numpy as np
    >>> layer = ActNorm(2)
    >>> layer.adapt(np.array([[0.0, 10.0], [2.0, 30.0]]))
    >>> layer.inverse(tf.constant([[1.0, 20.0], [2.0, 30.0]])).numpy().tolist()
    [[0.0, 0.0], [1.0, 1.0]]
    >>> image = ActNorm((4, 4, 3))  # one scale per channel
    >>> _ = image.log_scale.assign([0.5, 0.0, 0.0])
    >>> float(image.forward_log_det_jacobian(tf.zeros([1, 4, 4, 3]), event_ndims=3)[0])  # 16 * 0.5
    8.0

    #### References

    [1]: Diederik P. Kingma, Prafulla Dhariwal. Glow: Generative Flow with
         Invertible 1x1 Convolutions. NeurIPS 2018. https://arxiv.org/abs/1807.03039
    """

    def __init__(
        self,
        event_shape: int | Sequence[int],
        *,
        validate_args: bool = False,
        dtype: tf.DType = tf.float32,
        name: str | None = None,
    ):
        parameters = dict(locals())
        name = name or unique_name("actnorm")
        super().__init__(
            event_shape,
            is_constant_jacobian=True,
            validate_args=validate_args,
            dtype=dtype,
            parameters=parameters,
            name=name,
        )
        if len(self.event_shape) not in (1, 3):
            raise ValueError(
                f"{name}: expected event_shape n or (H, W, C), got {list(self.event_shape)}."
            )
        features = self.event_shape[-1]
        with tf.name_scope(name):
            self.loc = tf.Variable(tf.zeros([features], self.dtype), name="loc")
            self.log_scale = tf.Variable(tf.zeros([features], self.dtype), name="log_scale")
            self.adapted = tf.Variable(False, trainable=False, name="adapted")

    def adapt(self, outputs: Any) -> None:
        """Sets ``loc`` and ``log_scale`` to the mean and log standard deviation of ``outputs``.

        ```none
        loc_c = mean of outputs[..., c],   log_scale_c = log std of outputs[..., c]
        ```

        over the rows (and the pixels of an image event). Errors (a wrong shape,
        a non-finite value, a constant feature, fewer than 2 values) are
        raised before anything changes: :func:`~tfp_flows.bijectors.adaptive.feature_statistics`.

        Args:
          outputs: ``[n, *event_shape]`` samples in the layer's output coordinates.
        """
        loc, log_scale = feature_statistics(
            outputs,
            self.event_shape,
            self.dtype,
            "ActNorm.adapt: data",
            "build the flow without ActNorm layers (normalization=None)",
        )
        self.loc.assign(loc)
        self.log_scale.assign(log_scale)
        self.adapted.assign(True)

    def _pixels(self) -> int:
        return int(np.prod(self.event_shape[:-1]))

    def _ildj(self, x: tf.Tensor) -> tf.Tensor:
        batch_shape = tf.shape(x)[: tf.rank(x) - len(self.event_shape)]
        value = -tf.reduce_sum(self.log_scale) * tf.cast(self._pixels(), self.dtype)
        return tf.broadcast_to(value, batch_shape)

    def _forward_and_ildj(self, x):
        return self.loc + tf.exp(self.log_scale) * x, self._ildj(x)

    def _inverse_and_ildj(self, y):
        return (y - self.loc) * tf.exp(-self.log_scale), self._ildj(y)
