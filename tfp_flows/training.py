"""``fit``: maximum-likelihood training of a flow with any Keras optimizer.

The loss is the negative log-likelihood in nats,

```none
loss(theta) = -(1/B) sum_{i=1..B} log q_theta(x_i),
```

minimised with a Keras 3 or tf_keras optimizer. The training step is one
compiled ``tf.function`` (XLA by default) that runs ``steps_per_execution``
optimizer steps per call inside a ``tf.while_loop``: it is traced once, there is
no Python work per step, and every batch has the same shape (each epoch is a
fresh permutation; the last partial batch is dropped, so nothing retraces).

Around it: exact data normalisation (every not yet adapted
:class:`~tfp_flows.bijectors.Standardize` layer of the flow is fitted to the
training data), validation data or split, early stopping with best-weights
restore, a progress bar, user callbacks, atomic checkpoints with ``resume``, a
clear error on a non-finite loss that leaves the last good weights in place,
and ``tf.distribute`` strategies.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import tensorflow as tf
from tensorflow_probability import bijectors as tfb
from tensorflow_probability import distributions as tfd

from tfp_flows.bijectors.standardize import Standardize
from tfp_flows.checkpoints import Checkpoints, History

__all__ = [
    "History",
    "NonFiniteLossError",
    "check_data",
    "default_optimizer",
    "find_standardize_layers",
    "fit",
]

DEFAULT_LEARNING_RATE = 1e-2

Callback = Callable[[int, dict[str, float]], "bool | None"]


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or inf; the flow keeps its last good weights.

    #### Examples

    >>> str(NonFiniteLossError(step=120, loss=float("nan")))  # doctest: +ELLIPSIS
    'the training loss became nan at step 120; training stopped and the flow keeps ...'
    """

    def __init__(self, step: int, loss: float):
        self.step = step
        self.loss = loss
        super().__init__(
            f"the training loss became {loss} at step {step}; training stopped and the flow "
            f"keeps the last good weights (from before step {step}). Try a lower learning rate, "
            "gradient clipping (clipnorm=1.0 on the optimizer) or standardised data.")


# -- data ------------------------------------------------------------------------------------------

def check_data(data: Any, event_size: int, dtype: tf.DType, what: str = "data") -> np.ndarray:
    """Returns ``data`` as a ``[n, event_size]`` array of ``dtype`` after checking it.

    Raises ``ValueError`` naming the problem: no rows, a wrong event size (both
    sizes named), or non-finite entries (the first bad row named).

    #### Examples

    >>> check_data([[0.0, 1.0], [2.0, float("nan")]], 2, tf.float32)
    Traceback (most recent call last):
    ...
    ValueError: data row 1 is not finite: [ 2. nan]; remove or impute non-finite rows before training (1 such rows).
    """
    array = np.asarray(data)
    if array.ndim == 1 and event_size == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise ValueError(
            f"{what} must have shape [n, {event_size}], got an array of shape {array.shape}.")
    if array.shape[1] != event_size:
        raise ValueError(
            f"{what} has event size {array.shape[1]} but the flow's event size is {event_size} "
            f"(shape {array.shape}).")
    if array.shape[0] == 0:
        raise ValueError(f"{what} is empty (shape {array.shape}); a flow needs at least one row.")
    if not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"{what} must be numeric, got dtype {array.dtype}.")
    bad = ~np.all(np.isfinite(array), axis=1)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{what} row {row} is not finite: {array[row]}; remove or impute non-finite rows "
            f"before training ({int(bad.sum())} such rows).")
    return array.astype(tf.as_dtype(dtype).as_numpy_dtype, copy=False)


def find_standardize_layers(bijector: tfb.Bijector) -> list[Standardize]:
    """Every :class:`Standardize` layer inside ``bijector`` (walking chains and inverts).

    #### Examples

    >>> from tfp_flows.flows import real_nvp
    >>> [layer.name for layer in find_standardize_layers(real_nvp(2, num_layers=1, name="flow").bijector)]
    ['flow_standardize']
    """
    if isinstance(bijector, Standardize):
        return [bijector]
    found = []
    for child in getattr(bijector, "bijectors", ()) or ():
        found += find_standardize_layers(child)
    inner = getattr(bijector, "bijector", None)
    if isinstance(inner, tfb.Bijector):
        found += find_standardize_layers(inner)
    return found


def _adapt(distribution: tfd.Distribution, data: np.ndarray) -> None:
    bijector = getattr(distribution, "bijector", None)
    if bijector is None:
        return
    layers = [s for s in find_standardize_layers(bijector) if not bool(s.adapted.numpy())]
    if len(layers) == 1:  # the flow's last layer maps standardised to data coordinates
        layers[0].adapt(data)


class _ArraySource:
    """Fixed-shape batches from an in-memory array: a fresh permutation each epoch."""

    def __init__(self, data: np.ndarray, batch_size: int, seed: int):
        self.data = tf.constant(data)
        self.n = data.shape[0]
        self.batch_size = batch_size
        self.batches_per_epoch = self.n // batch_size
        self.seed = seed

    def indices(self, start_step: int, count: int) -> np.ndarray:
        """Row indices of the batches of steps ``start_step .. start_step + count - 1``."""
        out = np.empty([count, self.batch_size], np.int32)
        for k in range(count):
            epoch, position = divmod(start_step + k, self.batches_per_epoch)
            if k == 0 or position == 0:
                permutation = np.random.default_rng([self.seed, epoch]).permutation(self.n)
            out[k] = permutation[position * self.batch_size:(position + 1) * self.batch_size]
        return out


# -- the compiled training step ------------------------------------------------------------------

def default_optimizer(steps: int, learning_rate: float = DEFAULT_LEARNING_RATE) -> Any:
    """Adam with a linear warm-up and a cosine decay to zero over ``steps``, ``clipnorm=1``.

    ```none
    lr(t) = learning_rate * t / w                                  t < w = min(200, steps / 10)
    lr(t) = learning_rate * (1 + cos(pi * (t - w) / (steps - w))) / 2     afterwards
    ```

    #### Examples

    >>> optimizer = default_optimizer(1000)
    >>> float(optimizer.learning_rate) == 0.0  # warming up from zero
    True
    """
    import keras

    warmup = max(1, min(200, steps // 10))
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0, decay_steps=max(1, steps - warmup), warmup_target=learning_rate, warmup_steps=warmup)
    return keras.optimizers.Adam(schedule, clipnorm=1.0)


def _build_optimizer(optimizer: Any, variables: Sequence[tf.Variable]) -> Any:
    build = getattr(optimizer, "build", None)
    if build is not None and not getattr(optimizer, "built", True):
        build(list(variables))
    elif build is not None and not hasattr(optimizer, "built"):
        try:  # tf_keras optimizers: build once
            build(list(variables))
        except ValueError:
            pass
    return optimizer


def _nll(distribution: tfd.Distribution, x: tf.Tensor) -> tf.Tensor:
    return -tf.reduce_mean(distribution.log_prob(x))


def _make_train_chunk(distribution, optimizer, variables, sample_batch, jit_compile):
    """``chunk(inputs, count) -> losses``: ``count`` optimizer steps in one compiled call."""

    def one_step(x):
        with tf.GradientTape() as tape:
            loss = _nll(distribution, x)
        gradients = tape.gradient(loss, variables)
        optimizer.apply_gradients(zip(gradients, variables))
        return loss

    def chunk(inputs, count):
        # `inputs` always has the same shape (padded); the first `count` rows are used,
        # so a short last chunk reuses the compiled function instead of retracing.
        losses = tf.zeros([inputs.shape[0]], distribution.dtype)

        def body(i, losses):
            loss = one_step(sample_batch(inputs[i]))
            return i + 1, tf.tensor_scatter_nd_update(losses, [[i]], [loss])

        _, losses = tf.while_loop(lambda i, _: i < count, body, (tf.constant(0), losses))
        return losses

    return tf.function(chunk, jit_compile=jit_compile, reduce_retracing=True)


# -- fit -----------------------------------------------------------------------------------------

def _snapshot(variables: Sequence[tf.Variable]) -> list[np.ndarray]:
    return [v.numpy() for v in variables]


def _restore(variables: Sequence[tf.Variable], values: Sequence[np.ndarray]) -> None:
    for variable, value in zip(variables, values):
        variable.assign(value)


def fit(
    distribution: tfd.Distribution,
    data: Any,
    *,
    optimizer: Any = None,
    learning_rate: float | None = None,
    steps: int | None = None,
    epochs: int | None = None,
    batch_size: int = 256,
    validation_data: Any = None,
    validation_split: float = 0.0,
    validation_every: int | None = None,
    early_stopping_patience: int | None = None,
    restore_best_weights: bool = True,
    callbacks: Sequence[Callback] = (),
    checkpoint_dir: str | None = None,
    checkpoint_every: int = 1000,
    resume: bool = False,
    checkpoint_metadata: dict[str, Any] | None = None,
    steps_per_execution: int = 100,
    jit_compile: bool = True,
    strategy: tf.distribute.Strategy | None = None,
    progress: bool = True,
    seed: int = 0,
) -> History:
    """Trains ``distribution`` by maximum likelihood on ``data``; returns its :class:`History`.

    Args:
      distribution: a flow (any ``tfd.Distribution`` with trainable variables).
      data: a ``[n, event_size]`` NumPy array or tensor; a ``tf.data.Dataset``
        of batches; or a target distribution (each step then draws a fresh batch).
      optimizer: a Keras 3 or tf_keras optimizer (learning-rate schedules
        welcome); default :func:`default_optimizer` (Adam, warm-up then cosine
        decay over ``steps``, gradient norm clipped at 1).
      learning_rate: peak learning rate of the default optimizer.
      steps: number of optimizer steps; or give ``epochs`` (array data only).
      batch_size: rows per step (arrays and target distributions).
      validation_data: rows to compute the validation NLL on; or
      validation_split: the fraction of array ``data`` held out for validation.
      validation_every: steps between validations (default: ``steps // 20``,
        at least ``steps_per_execution``).
      early_stopping_patience: stop after this many validations without a new
        best validation NLL; ``restore_best_weights`` then restores the weights
        of the best validation (also when training ran to the end).
      callbacks: callables ``callback(step, logs) -> bool | None`` called at
        every log point with ``logs = {"loss": ..., "val_loss": ...}``; a
        ``True`` return stops training.
      checkpoint_dir: where to write checkpoints (flow, optimizer, step,
        history) every ``checkpoint_every`` steps; with ``resume=True``
        training continues from the latest one there. A checkpoint records the
        flow's variables (names, shapes, dtypes) and ``checkpoint_metadata``;
        resuming into a different flow or metadata raises
        ``CheckpointMismatchError``, and a fresh run (``resume=False``) refuses
        a folder holding checkpoints. See :mod:`tfp_flows.checkpoints`.
      checkpoint_metadata: JSON-able settings recorded in every checkpoint
        (e.g. the command line's configuration) and checked on resume.
      steps_per_execution: optimizer steps per compiled call.
      jit_compile: compile the training step with XLA.
      strategy: a ``tf.distribute`` strategy whose scope the flow was built in.
      progress: show a Keras progress bar.
      seed: seed of the batch order / target samples.

    Returns:
      The :class:`History`: ``loss`` per step, ``val_loss`` per validation.

    Raises:
      ValueError: for bad data (NaN/inf rows, wrong event size, no rows) or settings.
      NonFiniteLossError: the loss became NaN or inf (the flow keeps its last good weights).

    #### Examples

    >>> from tfp_flows.datasets import Banana
    >>> from tfp_flows.flows import real_nvp
    >>> data = Banana().sample(2000, seed=0).numpy()
    >>> flow = real_nvp(2, num_layers=4, hidden_units=(32, 32))
    >>> history = fit(flow, data, steps=300, validation_split=0.2, progress=False)
    >>> history.steps, len(history.val_loss), history.val_loss[-1] < history.val_loss[0]
    (300, 3, True)
    """
    event_size = int(distribution.event_shape[-1])
    dtype = distribution.dtype
    variables = list(distribution.trainable_variables)
    if not variables:
        raise ValueError("the distribution has no trainable variables; nothing to fit.")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}.")

    # The data source: a target distribution, a tf.data.Dataset, or an array.
    is_target = isinstance(data, tfd.Distribution)
    is_dataset = isinstance(data, tf.data.Dataset)
    source = None
    if not is_target and not is_dataset:
        array = check_data(data, event_size, dtype)
        if validation_data is None and validation_split:
            if not 0.0 < validation_split < 1.0:
                raise ValueError(f"validation_split must be in (0, 1), got {validation_split}.")
            order = np.random.default_rng([seed, 10**6]).permutation(array.shape[0])
            n_val = max(1, int(round(validation_split * array.shape[0])))
            if n_val >= array.shape[0]:
                raise ValueError(f"validation_split={validation_split} leaves no training rows.")
            validation_data, array = array[order[:n_val]], array[order[n_val:]]
        if batch_size > array.shape[0]:
            print(f"fit: batch_size {batch_size} is larger than the {array.shape[0]} training "
                  f"rows; using batches of {array.shape[0]}.")
            batch_size = array.shape[0]
        source = _ArraySource(array, batch_size, seed)
        _adapt(distribution, array)
    elif is_target:
        _adapt(distribution, np.asarray(data.sample(min(100_000, 100 * batch_size), seed=seed)))
    if validation_data is not None:
        validation_data = tf.constant(check_data(validation_data, event_size, dtype, "validation data"))

    if steps is None:
        if epochs is None:
            raise ValueError("give steps= or epochs=.")
        if source is None:
            raise ValueError("epochs= needs array data; give steps= for a dataset or a target.")
        steps = epochs * source.batches_per_epoch
    if steps <= 0:
        raise ValueError(f"steps must be positive, got {steps}.")
    if validation_every is None:  # about 20 validations, at chunk boundaries
        validation_every = max(1, round(steps / 20 / steps_per_execution)) * steps_per_execution

    if optimizer is not None and learning_rate is not None:
        raise ValueError("give optimizer= or learning_rate=, not both.")
    scope = strategy.scope() if strategy is not None else contextlib.nullcontext()
    with scope:
        if optimizer is None:
            optimizer = default_optimizer(steps, learning_rate or DEFAULT_LEARNING_RATE)
        optimizer = _build_optimizer(optimizer, variables)

    # How a step's input becomes a batch; all batches have the same shape.
    if source is not None:
        def sample_batch(rows):
            return tf.gather(source.data, rows)
    elif is_target:
        def sample_batch(step_seed):
            return tf.cast(data.sample(batch_size, seed=step_seed), dtype)
    else:
        def sample_batch(x):
            return x
    if strategy is not None:
        if is_dataset:
            raise ValueError("strategy= needs array data or a target distribution.")
        chunk_size = 1
        distributed_step = _make_distributed_step(
            distribution, optimizer, variables, strategy, batch_size)

        def train_chunk(inputs, count):
            return distributed_step(sample_batch(inputs[0]))
    else:
        chunk_size = 1 if is_dataset else steps_per_execution
        train_chunk = _make_train_chunk(distribution, optimizer, variables, sample_batch, jit_compile)
    evaluate = tf.function(lambda x: _nll(distribution, x))

    checkpoints = None
    history = History()
    if checkpoint_dir is not None:
        checkpoints = Checkpoints(checkpoint_dir, distribution, optimizer,
                                  metadata=checkpoint_metadata)
        history = checkpoints.begin(resume=resume)
    elif resume:
        raise ValueError("resume=True needs checkpoint_dir=.")

    progress_bar = None
    if progress:
        import keras

        progress_bar = keras.utils.Progbar(steps, stateful_metrics=["loss", "val_loss"])
    dataset_iterator = iter(data.repeat()) if is_dataset else None
    good_weights = _snapshot(distribution.variables)
    best_weights = None
    bad_validations = 0
    started = time.perf_counter()
    step = history.steps
    while step < steps:
        count = min(chunk_size, steps - step)
        # stop at log, validation and checkpoint boundaries
        count = min(count, validation_every - step % validation_every)
        if checkpoints is not None:
            count = min(count, checkpoint_every - step % checkpoint_every)
        if source is not None:
            inputs = source.indices(step, count)
        elif is_target:
            inputs = np.stack([[seed, step + k] for k in range(count)]).astype(np.int32)
        else:
            inputs = _next_batch(dataset_iterator, event_size, dtype)[None]
        if len(inputs) < chunk_size:  # pad to the compiled shape; only `count` rows are used
            inputs = np.concatenate([inputs, np.repeat(inputs[-1:], chunk_size - count, 0)])
        losses = np.asarray(train_chunk(tf.constant(inputs), tf.constant(count)), np.float64)
        losses = losses.reshape(-1)[:count]
        weights = _snapshot(distribution.variables)
        finite = np.isfinite(losses)
        if not finite.all() or not all(np.isfinite(w).all() for w in weights):
            bad = int(np.flatnonzero(~finite)[0]) if not finite.all() else count - 1
            _restore(distribution.variables, good_weights)
            raise NonFiniteLossError(step + bad + 1, float(losses[bad]))
        good_weights = weights
        history.loss.extend(float(v) for v in losses)
        step += count
        logs = {"loss": float(np.mean(losses))}
        if step % validation_every == 0 or step == steps:
            if validation_data is not None:
                val_loss = float(evaluate(validation_data))
                history.val_steps.append(step)
                history.val_loss.append(val_loss)
                logs["val_loss"] = val_loss
                if history.best_val_loss is None or val_loss < history.best_val_loss:
                    history.best_val_loss, history.best_step = val_loss, step
                    best_weights = _snapshot(distribution.variables)
                    bad_validations = 0
                else:
                    bad_validations += 1
            stop = any([bool(callback(step, dict(logs))) for callback in callbacks])
            if early_stopping_patience is not None and bad_validations > early_stopping_patience:
                history.stopped_early = stop = True
        else:
            stop = False
        if progress_bar is not None:
            progress_bar.update(step, values=list(logs.items()))
        if checkpoints is not None and (step % checkpoint_every == 0 or step == steps or stop):
            history.wall_time += time.perf_counter() - started
            started = time.perf_counter()
            checkpoints.save(step, history)
        if stop:
            break
    history.wall_time += time.perf_counter() - started
    if checkpoints is not None:
        checkpoints.close()
    if restore_best_weights and best_weights is not None and early_stopping_patience is not None:
        _restore(distribution.variables, best_weights)
    return history


def _next_batch(iterator, event_size: int, dtype: tf.DType) -> np.ndarray:
    batch = next(iterator)
    if isinstance(batch, (tuple, list)):
        batch = batch[0]
    return check_data(np.asarray(batch), event_size, dtype, "dataset batch")


def _make_distributed_step(distribution, optimizer, variables, strategy, global_batch_size):
    """One step under ``strategy``: each replica takes its slice of the global batch.

    The replicas' losses are averaged over the global batch
    (``tf.nn.compute_average_loss``), so the gradient equals one device's.
    """

    def replica_step(x):
        with tf.GradientTape() as tape:
            loss = tf.nn.compute_average_loss(
                -distribution.log_prob(x), global_batch_size=global_batch_size)
        gradients = tape.gradient(loss, variables)
        optimizer.apply_gradients(zip(gradients, variables))
        return loss

    @tf.function
    def step(x):
        parts = tf.split(x, strategy.num_replicas_in_sync)
        distributed = strategy.experimental_distribute_values_from_function(
            lambda context: parts[context.replica_id_in_sync_group])
        losses = strategy.run(replica_step, args=(distributed,))
        return tf.reshape(strategy.reduce(tf.distribute.ReduceOp.SUM, losses, axis=None), [1])

    return step
