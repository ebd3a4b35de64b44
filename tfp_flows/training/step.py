"""One gradient step, with the non-finite guard: the step ``fit``, its distributed path and ``FlowModel`` share.

```none
loss = L(q_theta, batch)                       # e.g. -(1/B) sum_i log q_theta(x_i | c_i)
g    = d(scale * loss) / d theta
theta, optimizer state  <-  optimizer.apply_gradients(g)
moving statistics of BatchNorm layers  <-  moved towards the batch's (recorded by the loss)
finite = loss, g, and the state after the update are all finite
```

The loss runs inside :func:`~tfp_flows.bijectors.training_mode`: a
:class:`~tfp_flows.bijectors.BatchNorm` layer normalises by the batch's
statistics there, and its moving averages move after the optimizer update
(every other layer is unaffected).

The step reports whether it stayed finite; what to do about a bad step (put
the state back, stop) is its caller's: ``fit`` restores host snapshots, and
``FlowModel`` backs the state up in ``before_update`` and undoes the step.
:class:`NonFiniteLossError` is the error both raise.

#### Examples

>>> import keras
>>> import tensorflow_probability as tfp
>>> from tfp_flows.training.losses import MaximumLikelihood
>>> from tfp_flows.training.sources import Batch
>>> loc = tf.Variable(0.0)
>>> normal = tfp.distributions.Normal(loc, 1.0)
>>> outcome = gradient_step(normal, MaximumLikelihood(), keras.optimizers.SGD(0.5), [loc],
...                         Batch(tf.constant([2.0, 2.0])))
>>> float(loc.numpy()), bool(outcome.finite)  # one step: loc += 0.5 * (2 - 0)
(1.0, True)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import tensorflow as tf
from tensorflow_probability import distributions as tfd

from tfp_flows.bijectors.batch_norm import training_mode
from tfp_flows.training.losses import Loss
from tfp_flows.training.sources import Batch

__all__ = ["NonFiniteLossError", "StepOutcome", "all_finite", "gradient_step"]


class NonFiniteLossError(FloatingPointError):
    """Training became non-finite; the flow and its optimizer keep their last good state.

    ``step`` is the first optimizer step whose loss, gradient or updated state
    (weights, optimizer moments) was NaN or inf; ``kept_step`` the step whose
    state the flow and the optimizer were put back to.

    #### Examples

    >>> str(NonFiniteLossError(step=120, loss=float("nan"), kept_step=100))  # doctest: +ELLIPSIS
    'training became non-finite at step 120 (loss nan): ... their state after step 100...'
    """

    def __init__(self, step: int, loss: float, kept_step: int | None = None):
        self.step = step
        self.loss = loss
        self.kept_step = step - 1 if kept_step is None else kept_step
        super().__init__(
            f"training became non-finite at step {step} (loss {loss}): a NaN or inf loss, "
            f"gradient, weight or optimizer moment. Training stopped; the flow and the optimizer "
            f"are back to their state after step {self.kept_step}, the last one checked good, so "
            "fit can be called again with the same optimizer. Try a lower learning rate, "
            "gradient clipping (clipnorm=1.0 on the optimizer) or standardised data, and look "
            "for NaN or inf rows in the data."
        )


def all_finite(tensors: Sequence[Any]) -> tf.Tensor:
    """One boolean: every floating-point entry of ``tensors`` is finite (``None`` s skipped).

    #### Examples

    >>> bool(all_finite([tf.constant([1.0, float("inf")]), None, tf.constant(3)]))
    False
    """
    checks = [
        tf.reduce_all(tf.math.is_finite(t))
        for t in tensors
        if t is not None and tf.as_dtype(t.dtype).is_floating
    ]
    return tf.reduce_all(tf.stack(checks)) if checks else tf.constant(True)


class StepOutcome(NamedTuple):
    """What one :func:`gradient_step` did.

    ``loss``: the loss before the update (unscaled); ``gradients_finite``: the
    loss and every gradient finite; ``finite``: that, and every variable of
    ``state`` finite after the update.
    """

    loss: tf.Tensor
    gradients_finite: tf.Tensor
    finite: tf.Tensor


def gradient_step(
    distribution: tfd.Distribution,
    loss: Loss,
    optimizer: Any,
    variables: Sequence[tf.Variable],
    batch: Batch,
    *,
    state: Sequence[Any] | None = None,
    loss_scale: float = 1.0,
    before_update: Callable[[tf.Tensor], Any] | None = None,
) -> StepOutcome:
    """One optimizer step on ``loss(distribution, batch)``; reports whether everything stayed finite.

    Args:
      distribution: the distribution being trained.
      loss: ``loss(distribution, batch) -> scalar`` (e.g. ``MaximumLikelihood()``).
      optimizer: a Keras 3 or tf_keras optimizer, built for ``variables``.
      variables: the trainable variables (``distribution.trainable_variables``).
      batch: this step's :class:`~tfp_flows.training.sources.Batch`.
      state: the variables checked after the update (default ``variables``;
        ``fit`` and ``FlowModel`` add the optimizer's).
      loss_scale: the gradient is that of ``loss_scale * loss`` (a replica's
        share under ``tf.distribute``: ``1 / num_replicas``).
      before_update: called with ``gradients_finite`` just before the update
        (``FlowModel`` backs its state up there).

    Returns:
      A :class:`StepOutcome`.
    """
    with tf.GradientTape() as tape, training_mode() as batch_statistics:
        value = loss(distribution, batch)
        scaled = value if loss_scale == 1.0 else value * tf.cast(loss_scale, value.dtype)
    gradients = tape.gradient(scaled, variables)
    gradients_finite = all_finite([value, *gradients])
    if before_update is not None:
        before_update(gradients_finite)
    optimizer.apply_gradients(zip(gradients, variables))
    moved = batch_statistics.apply()
    finite = gradients_finite & all_finite(list(variables if state is None else state) + moved)
    return StepOutcome(value, gradients_finite, finite)
