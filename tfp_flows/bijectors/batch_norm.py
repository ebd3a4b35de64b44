"""``BatchNorm``: Real NVP's batch normalisation as a bijector on plain variables (works with Keras 3).

TFP's ``tfb.BatchNormalization`` wraps a tf_keras layer and refuses Keras 3
layers; this layer holds its own ``tf.Variable`` s. It has two modes:

```none
evaluation (always, unless a training step is being traced or run):
    inverse:  u = beta + exp(log_gamma) * (y - m) / sqrt(v + eps)       m, v: moving mean, variance
    forward:  y = m + sqrt(v + eps) * exp(-log_gamma) * (u - beta)
    inverse_log_det_jacobian = P * sum_c [log_gamma_c - log(v_c + eps) / 2]
training (inside training_mode(), which tfp_flows' gradient step enters):
    inverse:  as above with the batch's mean and variance (mu_B, s2_B) in place of (m, v),
              and the log-det with s2_B; the step then moves
              m <- momentum * m + (1 - momentum) * mu_B,   v <- momentum * v + (1 - momentum) * s2_B
    forward:  as in evaluation (moving statistics)
```

In evaluation the layer is a fixed affine map, so ``log_prob`` is an exact,
normalised density. In training the inverse normalises each batch by its own
statistics and the log-det uses them too (Dinh et al. 2017, section 3.7):
the loss is then the log-likelihood of the batch under the map the batch
itself defines, and its gradient flows through ``mu_B`` and ``s2_B``, which
is what makes batch normalisation condition the optimisation. The moving
averages are updated after the optimizer step, from the statistics the loss
saw (recorded by :func:`training_mode`, not assigned inside the loss, so one
step updates each layer once however often the loss reads it). ``tff.fit`` (its compiled
loop) and ``tff.FlowModel.fit`` train through
:func:`tfp_flows.training.gradient_step`, which does this; validation losses,
``evaluate``, ``predict`` and any call outside a training step use the moving
statistics. Batches are normalised over the rows (and ``H``, ``W`` for image
events ``[H, W, C]``: ``P = H * W`` then, one statistic per channel); a batch
needs several rows for its variance to mean anything, and a training batch of
one row (static shape) is refused with a ``ValueError``.

The layer is adaptive (:mod:`~tfp_flows.bijectors.adaptive`): ``adapt(outputs)``
sets the moving mean and variance to the mean and variance of samples of its
outputs, so training starts from the data's statistics rather than (0, 1).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from tfp_flows._internal.checks import check_number
from tfp_flows._internal.naming import unique_name
from tfp_flows.bijectors.adaptive import feature_statistics
from tfp_flows.bijectors.base import FlowBijector

__all__ = ["BatchNorm", "BatchStatistics", "training_mode"]


class BatchStatistics:
    """The batch statistics the ``BatchNorm`` layers saw during one training step's loss.

    #### Examples

    >>> layer = BatchNorm(2, momentum=0.5)
    >>> with training_mode() as statistics:
    ...     _ = layer.inverse(tf.constant([[0.0, 2.0], [2.0, 6.0]]))
    >>> _ = statistics.apply()
    >>> layer.moving_mean.numpy().tolist(), layer.moving_variance.numpy().tolist()
    ([0.5, 2.0], [1.0, 2.5])
    """

    def __init__(self) -> None:
        self._seen: dict[int, tuple[BatchNorm, tf.Tensor, tf.Tensor]] = {}

    def record(self, layer: BatchNorm, mean: tf.Tensor, variance: tf.Tensor) -> None:
        """Keeps ``layer``'s batch ``mean`` and ``variance`` (the last ones seen win)."""
        self._seen[id(layer)] = (layer, mean, variance)

    def apply(self) -> list[tf.Variable]:
        """Moves every layer's moving averages towards its batch statistics; returns them."""
        moved = []
        for layer, mean, variance in self._seen.values():
            layer.update_moving_statistics(mean, variance)
            moved += [layer.moving_mean, layer.moving_variance]
        return moved


_recording: contextvars.ContextVar[BatchStatistics | None] = contextvars.ContextVar(
    "tfp_flows_batch_norm_training", default=None
)


@contextlib.contextmanager
def training_mode() -> Iterator[BatchStatistics]:
    """While active, ``BatchNorm`` inverses use and record batch statistics (see the module).

    A Python (trace-time) switch: a ``tf.function`` traced inside it is a
    training graph, one traced outside an evaluation graph. Call ``apply()`` on
    the yielded :class:`BatchStatistics` after the optimizer step.
    """
    statistics = BatchStatistics()
    token = _recording.set(statistics)
    try:
        yield statistics
    finally:
        _recording.reset(token)


class BatchNorm(FlowBijector):
    """Batch normalisation with moving statistics: an exact affine map outside training.

    ```none
    forward:  y = m + sqrt(v + eps) * exp(-log_gamma) * (u - beta)
    inverse:  u = beta + exp(log_gamma) * (y - m) / sqrt(v + eps)
    forward_log_det_jacobian = P * sum_c [log(v_c + eps) / 2 - log_gamma_c]
    ```

    per feature ``c`` (the entries of a vector event, or the channels of an
    ``[H, W, C]`` event with ``P = H * W``; ``P = 1`` for vectors). ``m``, ``v``
    are the non-trainable moving mean and variance (start: 0 and 1);
    ``beta``, ``log_gamma`` (``loc``, ``log_scale``) the optional trainable
    affine part (start: 0). Inside a training step the inverse uses the batch's
    statistics and the step updates ``m``, ``v``: see the module docstring for
    exactly what happens in training and in evaluation.

    Args:
      event_shape: ``n`` (a vector event) or ``(H, W, C)`` (an image event).
      momentum: weight of the old moving average in each update, in ``[0, 1)``.
      epsilon: added to the variance before the square root (> 0).
      affine: learn ``beta`` and ``log_gamma``; without them the layer has no
        trainable variables.
      validate_args: check inputs are finite.
      dtype: ``tf.float32`` or ``tf.float64``.
      name: layer name (default: the next free ``batch_norm``, ``batch_norm_1``, ...).

    #### Examples

    >>> layer = BatchNorm(2, epsilon=1e-12)
    >>> layer.adapt(np.array([[0.0, 10.0], [2.0, 30.0]]))
    >>> layer.inverse(tf.constant([[1.0, 20.0], [2.0, 30.0]])).numpy().tolist()
    [[0.0, 0.0], [1.0, 1.0]]
    >>> round(float(layer.inverse_log_det_jacobian(tf.zeros([1, 2]), event_ndims=1)[0]), 4)  # -log(1 * 10)
    -2.3026

    #### References

    [1]: Laurent Dinh, Jascha Sohl-Dickstein, Samy Bengio. Density estimation
         using Real NVP. ICLR 2017, section 3.7. https://arxiv.org/abs/1605.08803
    """

    def __init__(
        self,
        event_shape: int | Sequence[int],
        *,
        momentum: float = 0.99,
        epsilon: float = 1e-5,
        affine: bool = True,
        validate_args: bool = False,
        dtype: tf.DType = tf.float32,
        name: str | None = None,
    ):
        parameters = dict(locals())
        name = name or unique_name("batch_norm")
        super().__init__(
            event_shape, validate_args=validate_args, dtype=dtype, parameters=parameters, name=name
        )
        if len(self.event_shape) not in (1, 3):
            raise ValueError(
                f"{name}: expected event_shape n or (H, W, C), got {list(self.event_shape)}."
            )
        self.momentum = check_number(
            f"{name}: momentum", momentum, "a number in [0, 1)", lambda v: 0.0 <= v < 1.0
        )
        self.epsilon = check_number(
            f"{name}: epsilon", epsilon, "a positive number", lambda v: v > 0.0
        )
        features = self.event_shape[-1]
        with tf.name_scope(name):
            # MEAN: under a tf.distribute strategy the replicas' updates are averaged.
            self.moving_mean = tf.Variable(
                tf.zeros([features], self.dtype),
                trainable=False,
                name="moving_mean",
                aggregation=tf.VariableAggregation.MEAN,
            )
            self.moving_variance = tf.Variable(
                tf.ones([features], self.dtype),
                trainable=False,
                name="moving_variance",
                aggregation=tf.VariableAggregation.MEAN,
            )
            self.loc = self.log_scale = None
            if affine:
                self.loc = tf.Variable(tf.zeros([features], self.dtype), name="loc")
                self.log_scale = tf.Variable(tf.zeros([features], self.dtype), name="log_scale")
            self.adapted = tf.Variable(False, trainable=False, name="adapted")

    def adapt(self, outputs: Any) -> None:
        """Sets the moving mean and variance to those of ``outputs`` (``[n, *event_shape]``).

        ```none
        m_c = mean of outputs[..., c],   v_c = variance of outputs[..., c]
        ```

        Errors are raised before anything changes (see
        :func:`~tfp_flows.bijectors.adaptive.feature_statistics`).
        """
        loc, log_scale = feature_statistics(
            outputs,
            self.event_shape,
            self.dtype,
            "BatchNorm.adapt: data",
            "build the flow without BatchNorm layers",
        )
        self.moving_mean.assign(loc)
        self.moving_variance.assign(np.exp(2.0 * log_scale.astype(np.float64)).astype(loc.dtype))
        self.adapted.assign(True)

    def update_moving_statistics(self, mean: tf.Tensor, variance: tf.Tensor) -> None:
        """``m <- momentum * m + (1 - momentum) * mean``, and the same for ``v`` and ``variance``."""
        keep = tf.constant(self.momentum, self.dtype)
        self.moving_mean.assign(keep * self.moving_mean + (1 - keep) * tf.stop_gradient(mean))
        self.moving_variance.assign(
            keep * self.moving_variance + (1 - keep) * tf.stop_gradient(variance)
        )

    def _affine(self) -> tuple[tf.Tensor, tf.Tensor]:
        if self.loc is None:
            zeros = tf.zeros([self.event_shape[-1]], self.dtype)
            return zeros, zeros
        return tf.convert_to_tensor(self.loc), tf.convert_to_tensor(self.log_scale)

    def _ildj(self, y: tf.Tensor, variance: tf.Tensor) -> tf.Tensor:
        _, log_gamma = self._affine()
        per_feature = log_gamma - 0.5 * tf.math.log(variance + self.epsilon)
        value = tf.reduce_sum(per_feature) * tf.cast(np.prod(self.event_shape[:-1]), self.dtype)
        return tf.broadcast_to(value, tf.shape(y)[: tf.rank(y) - len(self.event_shape)])

    def _forward_and_ildj(self, u):
        beta, log_gamma = self._affine()
        variance = tf.convert_to_tensor(self.moving_variance)
        y = self.moving_mean + tf.sqrt(variance + self.epsilon) * tf.exp(-log_gamma) * (u - beta)
        return y, self._ildj(u, variance)

    def _inverse_and_ildj(self, y):
        beta, log_gamma = self._affine()
        statistics = _recording.get()
        if statistics is None:
            mean = tf.convert_to_tensor(self.moving_mean)
            variance = tf.convert_to_tensor(self.moving_variance)
        else:
            rows = y.shape[: y.shape.rank - len(self.event_shape)].num_elements()
            if rows is not None and rows < 2:  # the variance of one row is 0
                raise ValueError(
                    f"{self.name}: a training batch needs at least 2 rows for BatchNorm's batch "
                    f"statistics, got {rows}; train with batch_size >= 2 (per replica), or build "
                    "the flow without BatchNorm."
                )
            batch_axes = list(range(y.shape.rank - 1))  # rows (and H, W): all but the features
            mean, variance = tf.nn.moments(y, batch_axes)
            statistics.record(self, mean, variance)
        u = beta + tf.exp(log_gamma) * (y - mean) * tf.math.rsqrt(variance + self.epsilon)
        return u, self._ildj(y, variance)
