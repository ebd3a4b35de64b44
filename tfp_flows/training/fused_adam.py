"""``FusedAdam``: Keras 3's Adam with each variable's update in one kernel, the default optimizer.

The same update as ``keras.optimizers.Adam`` (Kingma & Ba 2015), for step ``t``
(from 1), learning rate ``lr_t`` and gradient ``g`` (after clipping):

```none
m <- m + (1 - beta_1) (g - m)
v <- v + (1 - beta_2) (g^2 - v)
theta <- theta - alpha_t m / (sqrt(v) + epsilon),   alpha_t = lr_t sqrt(1 - beta_2^t) / (1 - beta_1^t)
clipnorm c:  g <- g c / max(|g|_2, c)  per variable
```

Keras writes that as about 50 graph operations per variable (casts, powers and
the three updates), so a flow with 72 variables traces ~3,900 optimizer
operations into every training step, more than its loss and gradient together;
tracing them and XLA-compiling them is most of the fixed cost of a short
``fit``. Here the step's scalars (``beta^t``, the learning rate) are computed
once per step and each variable is updated by TensorFlow's
``ResourceApplyAdam`` kernel (one operation, on CPU and under XLA), with a
three-operation ``clipnorm``: a training step of a 2-D ``real_nvp`` traces 3,850
operations instead of 6,900. The state is Keras Adam's (one ``momentum`` and one
``velocity`` per variable), so checkpoints and saved models hold the same
variables, and everything else is Adam's: under a ``tf.distribute`` strategy,
with ``amsgrad``, gradient accumulation, loss scaling or ``IndexedSlices``
gradients, Keras's own code path runs unchanged.

#### Examples

>>> import keras
>>> weights = tf.Variable([1.0, -2.0])
>>> optimizer = FusedAdam(0.1, clipnorm=1.0)
>>> _ = optimizer.apply_gradients([(tf.constant([0.5, -4.0]), weights)])
>>> weights.numpy().round(4).tolist()  # Adam's first step moves each weight by lr against its sign
[0.9, -1.9]
>>> reference = tf.Variable([1.0, -2.0])
>>> _ = keras.optimizers.Adam(0.1, clipnorm=1.0).apply_gradients([(tf.constant([0.5, -4.0]), reference)])
>>> float(tf.reduce_max(tf.abs(weights - reference)))
0.0
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import tensorflow as tf

__all__ = ["FusedAdam"]


@keras.saving.register_keras_serializable(package="tfp_flows")
class FusedAdam(keras.optimizers.Adam):
    """``keras.optimizers.Adam`` with one ``ResourceApplyAdam`` per variable and lighter clipping.

    Takes Adam's arguments and keeps Adam's state and configuration; see the
    module docstring for the update and for when Keras's own path runs instead.
    """

    def apply(self, grads: Sequence[Any], trainable_variables: Sequence[Any] | None = None):
        """Adam's ``apply``, with the step's scalars shared by all variables and the clipping fused."""
        grads = list(grads)  # read more than once below (a generator would be used up)
        if not self._plain_step(grads):
            return super().apply(grads, trainable_variables)
        clipnorm, global_clipnorm = self.clipnorm, self.global_clipnorm  # Keras sets one at most
        if clipnorm is not None:
            grads = [_clip(g, clipnorm, _norm([g])) for g in grads]
        elif global_clipnorm is not None:
            norm = _norm(grads)
            grads = [_clip(g, global_clipnorm, norm) for g in grads]
        object.__setattr__(self, "_step_scalars", {})  # per step, not tracked state
        self.clipnorm = self.global_clipnorm = None  # clipped above: Keras would clip again
        try:
            return super().apply(grads, trainable_variables)
        finally:
            self.clipnorm, self.global_clipnorm = clipnorm, global_clipnorm
            object.__setattr__(self, "_step_scalars", None)

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        """One variable's Adam update, by ``ResourceApplyAdam``."""
        scalars = getattr(self, "_step_scalars", None)
        if scalars is None:
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        if dtype not in scalars:
            step = tf.cast(self.iterations + 1, dtype)
            beta_1 = tf.constant(self.beta_1, dtype)
            beta_2 = tf.constant(self.beta_2, dtype)
            scalars[dtype] = dict(
                beta1_power=tf.pow(beta_1, step),
                beta2_power=tf.pow(beta_2, step),
                lr=tf.cast(learning_rate, dtype),
                beta1=beta_1,
                beta2=beta_2,
                epsilon=tf.constant(self.epsilon, dtype),
            )
        index = self._get_variable_index(variable)
        tf.raw_ops.ResourceApplyAdam(
            var=_handle(variable),
            m=_handle(self._momentums[index]),
            v=_handle(self._velocities[index]),
            grad=tf.cast(gradient, dtype),
            **scalars[dtype],
        )

    def _plain_step(self, grads: Sequence[Any]) -> bool:
        """Nothing that needs Keras's own path: a strategy, amsgrad, accumulation, loss scaling,
        sparse gradients."""
        return not (
            self.amsgrad
            or tf.distribute.has_strategy()
            or self.gradient_accumulation_steps
            or self.loss_scale_factor is not None
            or any(isinstance(g, tf.IndexedSlices) for g in grads)
        )


def _norm(gradients: Sequence[Any]) -> tf.Tensor | None:
    """The 2-norm of the ``gradients`` together, in the widest of their dtypes (``None``: none)."""
    squares = [tf.reduce_sum(tf.square(g)) for g in gradients if g is not None]
    if not squares:
        return None
    dtype = max((s.dtype for s in squares), key=lambda d: d.size)
    return tf.sqrt(tf.add_n([tf.cast(s, dtype) for s in squares]))


def _clip(gradient: Any, clipnorm: float, norm: tf.Tensor | None) -> Any:
    """``g c / max(norm, c)``: Keras's ``clip_by_norm`` and ``clip_by_global_norm`` in three operations."""
    if gradient is None:
        return None
    clipnorm = tf.cast(clipnorm, norm.dtype)
    return gradient * tf.cast(clipnorm / tf.maximum(norm, clipnorm), gradient.dtype)


def _handle(variable: Any) -> tf.Tensor:
    """The resource handle of a ``tf.Variable`` or of a Keras 3 variable's ``tf.Variable``."""
    return variable.value.handle if isinstance(variable, keras.Variable) else variable.handle
