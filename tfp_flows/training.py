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
clear error on a non-finite loss that leaves the last good weights and optimizer
state in place, and ``tf.distribute`` strategies. Every argument and the data
are checked before anything changes; errors name what was expected and what came.
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
from tfp_flows.checks import check_integer, check_number, check_positive_float
from tfp_flows.data_checks import ADAPT_MAX_ROWS, check_data, check_dataset, dataset_rows

__all__ = [
    "History",
    "NonFiniteLossError",
    "default_optimizer",
    "find_standardize_layers",
    "fit",
]

DEFAULT_LEARNING_RATE = 1e-2

Callback = Callable[[int, dict[str, float]], "bool | None"]


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
            "for NaN or inf rows in the data.")


def _check_optimizer_learning_rate(optimizer: Any) -> None:
    """Refuses an optimizer whose constant learning rate is zero, negative or not finite."""
    value = getattr(optimizer, "_learning_rate", None)  # Keras 3 and tf_keras
    if value is None or callable(value):  # a schedule: its value changes with the step
        return
    try:
        rate = float(np.asarray(value))
    except (TypeError, ValueError):
        return
    check_positive_float("the optimizer's learning rate", rate)


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


def _adapt(distribution: tfd.Distribution,
           rows: np.ndarray | Callable[[], np.ndarray] | None) -> Callable[[], None]:
    """Adapts the flow's one not yet adapted ``Standardize`` layer; returns ``undo()``.

    ``rows`` is an array, a function returning one (called only if a layer
    needs it), or ``None`` (nothing to adapt to). ``undo()`` puts the layer
    back to its state before.
    """
    bijector = getattr(distribution, "bijector", None)
    if bijector is None or rows is None:
        return lambda: None
    layers = [s for s in find_standardize_layers(bijector) if not bool(s.adapted.numpy())]
    if len(layers) != 1:  # the flow's last layer maps standardised to data coordinates
        return lambda: None
    layer = layers[0]
    before = _snapshot(layer.variables)
    layer.adapt(rows() if callable(rows) else rows)
    return lambda: _restore(layer.variables, before)


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


def _all_finite(tensors: Sequence[Any]) -> tf.Tensor:
    """One boolean: every floating-point entry of ``tensors`` is finite (``None`` s skipped)."""
    checks = [tf.reduce_all(tf.math.is_finite(t)) for t in tensors
              if t is not None and tf.as_dtype(t.dtype).is_floating]
    return tf.reduce_all(tf.stack(checks)) if checks else tf.constant(True)


def _optimizer_variables(optimizer: Any) -> list[Any]:
    variables = getattr(optimizer, "variables", ())
    return list(variables() if callable(variables) else variables)  # tf_keras legacy: a method


def _make_train_chunk(distribution, optimizer, variables, sample_batch, jit_compile):
    """``chunk(inputs, count) -> losses``: up to ``count`` optimizer steps in one compiled call.

    The loop stops after the first step whose loss, gradients or updated state
    (the variables and the optimizer's moments) are not all finite, and reports
    that step's loss as NaN: the first non-finite entry of ``losses`` is the
    first bad step.
    """
    state = list(variables) + _optimizer_variables(optimizer)

    def one_step(x):
        with tf.GradientTape() as tape:
            loss = _nll(distribution, x)
        gradients = tape.gradient(loss, variables)
        optimizer.apply_gradients(zip(gradients, variables))
        finite = _all_finite([loss, *gradients, *state])  # the state as updated
        return tf.where(finite, loss, tf.constant(np.nan, loss.dtype)), finite

    def chunk(inputs, count):
        # `inputs` always has the same shape (padded); the first `count` rows are used,
        # so a short last chunk reuses the compiled function instead of retracing.
        losses = tf.zeros([inputs.shape[0]], distribution.dtype)

        def body(i, finite, losses):
            loss, finite = one_step(sample_batch(inputs[i]))
            return i + 1, finite, tf.tensor_scatter_nd_update(losses, [[i]], [loss])

        _, _, losses = tf.while_loop(
            lambda i, finite, _: (i < count) & finite, body,
            (tf.constant(0), tf.constant(True), losses))
        return losses

    return tf.function(chunk, jit_compile=jit_compile, reduce_retracing=True)


# -- fit -----------------------------------------------------------------------------------------

def _snapshot(variables: Sequence[Any]) -> list[np.ndarray]:
    return [v.numpy() for v in variables]


def _restore(variables: Sequence[Any], values: Sequence[np.ndarray]) -> None:
    for variable, value in zip(variables, values):
        variable.assign(value)


def _finite(values: Sequence[np.ndarray]) -> bool:
    return all(np.isfinite(v).all() for v in values)


def _finite_step(distribution: tfd.Distribution, variables: Sequence[tf.Variable],
                 x: tf.Tensor) -> bool:
    """Whether the loss on ``x`` and its gradients are finite at the current weights."""
    with tf.GradientTape() as tape:
        loss = _nll(distribution, x)
    return bool(_all_finite([loss, *tape.gradient(loss, variables)]))


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
    callbacks: Sequence[Callback] | None = (),
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
        of ``[batch, event_size]`` batches (or ``(x, ...)`` tuples); or a target
        distribution (each step then draws a fresh batch).
      optimizer: a Keras 3 or tf_keras optimizer (learning-rate schedules
        welcome); default :func:`default_optimizer` (Adam, warm-up then cosine
        decay over ``steps``, gradient norm clipped at 1).
      learning_rate: peak learning rate of the default optimizer (positive).
      steps: number of optimizer steps; or give ``epochs`` (array data only).
      batch_size: rows per step (arrays and target distributions).
      validation_data: rows to compute the validation NLL on; or
      validation_split: the fraction of array ``data`` held out for validation
        (arrays only: a dataset or a target takes ``validation_data``).
      validation_every: steps between validations (default: ``steps // 20``,
        at least ``steps_per_execution``).
      early_stopping_patience: stop after this many validations without a new
        best validation NLL (needs validation data); ``restore_best_weights``
        then restores the weights of the best validation.
      callbacks: callables ``callback(step, logs) -> bool | None`` called at
        every log point with ``logs = {"loss": ..., "val_loss": ...}``; a
        ``True`` return stops training.
      checkpoint_dir: where to write checkpoints (flow, optimizer, step,
        history) every ``checkpoint_every`` steps; with ``resume=True``
        training continues from the latest one there (the best weights of early
        stopping are then tracked from the resumed step on). A checkpoint records the
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
      seed: seed of the batch order / target samples (a non-negative integer).

    The flow's not yet adapted :class:`~tfp_flows.bijectors.Standardize` layer
    is fitted to the training rows of an array, to ``min(100 000, 100 *
    batch_size)`` samples of a target, or to the first batches of a dataset (at
    most 100 batches or 100 000 rows: shuffle an ordered dataset first). If
    ``fit`` fails before its first ``steps_per_execution`` steps are done, that
    adaptation is undone: the flow is as it came.

    Returns:
      The :class:`History`: ``loss`` per step, ``val_loss`` per validation.

    Raises:
      TypeError: an argument or the data of the wrong type (``steps=10.5``,
        strings, a dict-structured dataset, ...).
      ValueError: bad data (NaN/inf rows, values beyond the flow's dtype, a
        wrong event size, no rows, a constant column) or settings that cannot
        work together (``validation_split`` with a dataset, early stopping
        without validation data, ``steps`` and ``epochs``, ...).
      NonFiniteLossError: training became NaN or inf; the flow and the
        optimizer keep their last good state, so a retry (with a lower learning
        rate) can reuse the same optimizer.

    #### Examples

    >>> from tfp_flows.datasets import Banana
    >>> from tfp_flows.flows import real_nvp
    >>> data = Banana().sample(2000, seed=0).numpy()
    >>> flow = real_nvp(2, num_layers=4, hidden_units=(32, 32))
    >>> history = fit(flow, data, steps=300, validation_split=0.2, progress=False)
    >>> history.steps, len(history.val_loss), history.val_loss[-1] < history.val_loss[0]
    (300, 3, True)
    >>> fit(flow, data, steps=300, learning_rate=-1e-3)
    Traceback (most recent call last):
    ...
    ValueError: learning_rate must be a positive finite number, got -0.001.
    """
    event_size = int(distribution.event_shape[-1])
    dtype = distribution.dtype
    variables = list(distribution.trainable_variables)
    if not variables:
        raise ValueError("the distribution has no trainable variables; nothing to fit.")

    # Settings: all checked before anything changes.
    batch_size = check_integer("batch_size", batch_size)
    steps = None if steps is None else check_integer("steps", steps)
    epochs = None if epochs is None else check_integer("epochs", epochs)
    if validation_every is not None:
        validation_every = check_integer("validation_every", validation_every)
    if early_stopping_patience is not None:
        early_stopping_patience = check_integer(
            "early_stopping_patience", early_stopping_patience, minimum=0)
    checkpoint_every = check_integer("checkpoint_every", checkpoint_every)
    steps_per_execution = check_integer("steps_per_execution", steps_per_execution)
    seed = check_integer("seed", seed, minimum=0)
    validation_split = check_number(
        "validation_split", validation_split, "a number in [0, 1)", lambda v: 0.0 <= v < 1.0)
    if learning_rate is not None:
        learning_rate = check_positive_float("learning_rate", learning_rate)
    if optimizer is not None and learning_rate is not None:
        raise ValueError("give optimizer= or learning_rate=, not both.")
    if optimizer is not None:
        _check_optimizer_learning_rate(optimizer)
    callbacks = () if callbacks is None else callbacks
    if isinstance(callbacks, str) or not all(callable(c) for c in callbacks):
        raise TypeError("callbacks must be a sequence of callables callback(step, logs), got "
                        f"{callbacks!r}.")
    if steps is not None and epochs is not None:
        raise ValueError(f"give steps= or epochs=, not both; got steps={steps}, epochs={epochs}.")
    if steps is None and epochs is None:
        raise ValueError("give steps= or epochs=.")

    # The data source: a target distribution, a tf.data.Dataset, or an array.
    is_target = isinstance(data, tfd.Distribution)
    is_dataset = isinstance(data, tf.data.Dataset)
    kind = "a target distribution" if is_target else "a tf.data.Dataset"
    if (is_target or is_dataset) and validation_split:
        raise ValueError(
            f"validation_split must be 0 when data is {kind} (it cannot be split), got "
            f"{validation_split}; pass held-out rows as validation_data= instead.")
    if validation_data is not None and validation_split:
        raise ValueError("give validation_data= or validation_split=, not both.")
    if early_stopping_patience is not None and validation_data is None and not validation_split:
        raise ValueError(
            f"early_stopping_patience={early_stopping_patience} needs validation data, got none; "
            "pass validation_data= or validation_split=.")
    if (is_target or is_dataset) and epochs is not None:
        raise ValueError(f"epochs= needs array data, got {kind}; give steps= instead.")
    if is_dataset and strategy is not None:
        raise ValueError("strategy= needs array data or a target distribution.")
    source = None
    if is_dataset:
        check_dataset(data, event_size)

        def rows():
            return dataset_rows(data, event_size, dtype)
    elif is_target:
        def rows():
            samples = data.sample(min(ADAPT_MAX_ROWS, 100 * batch_size), seed=seed)
            return check_data(samples, event_size, dtype, "target samples")
    else:
        array = check_data(data, event_size, dtype)
        if validation_split:
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
        rows = array
    if validation_data is not None:
        validation_data = tf.constant(check_data(validation_data, event_size, dtype, "validation data"))

    if steps is None:
        steps = epochs * source.batches_per_epoch
    if validation_every is None:  # about 20 validations, at chunk boundaries
        validation_every = max(1, round(steps / 20 / steps_per_execution)) * steps_per_execution

    scope = strategy.scope() if strategy is not None else contextlib.nullcontext()
    with scope:
        if optimizer is None:
            optimizer = default_optimizer(
                steps, DEFAULT_LEARNING_RATE if learning_rate is None else learning_rate)
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
        # A checkpoint holds the latest weights, not the best: after a resume the best
        # weights are tracked afresh, so best_step never names weights that are gone.
        history.best_step = history.best_val_loss = None
    elif resume:
        raise ValueError("resume=True needs checkpoint_dir=.")

    try:  # the run folder's lock is released however training ends
        # After a resume the restored Standardize is adapted already and stays as saved.
        undo_adapt = _adapt(distribution, rows)

        progress_bar = None
        if progress:
            import keras

            progress_bar = keras.utils.Progbar(steps, stateful_metrics=["loss", "val_loss"])
        dataset_iterator = iter(data.repeat()) if is_dataset else None
        # The flow's and the optimizer's state after the last chunk (`latest`) and at the start
        # of the chunk before, which a finite step has started from since (`checked`).
        state = list(distribution.variables) + _optimizer_variables(optimizer)
        latest = checked = (history.steps, _snapshot(state))
        best_weights = None
        bad_validations = 0
        started = time.perf_counter()
        first_step = step = history.steps
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
            now = _snapshot(state)
            finite = np.isfinite(losses)
            if not finite.all() or not _finite(now):
                bad = int(np.flatnonzero(~finite)[0]) if not finite.all() else count - 1
                # A later step of the chunk started from `latest` finitely; if the first step
                # failed, `latest` is kept only if a step from it is finite (else it is suspect).
                _restore(state, latest[1])
                batch = sample_batch(tf.constant(inputs[0]))
                kept_step, kept = latest if bad > 0 or _finite_step(distribution, variables, batch) \
                    else checked
                _restore(state, kept)
                if kept_step == first_step:  # nothing trained: leave the flow as it came
                    undo_adapt()
                raise NonFiniteLossError(step + bad + 1, float(losses[bad]), kept_step=kept_step)
            checked, latest = latest, (step + count, now)
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
    finally:
        if checkpoints is not None:
            checkpoints.close()
    if restore_best_weights and best_weights is not None and early_stopping_patience is not None:
        _restore(distribution.variables, best_weights)
    return history


def _next_batch(iterator, event_size: int, dtype: tf.DType) -> np.ndarray:
    try:
        batch = next(iterator)
    except StopIteration:  # a dataset whose cardinality was unknown, and empty
        raise ValueError("data must yield at least one batch, got an empty tf.data.Dataset.") from None
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
