"""``fit``: train a flow with any Keras optimizer, composed of the training package's parts.

The loss is the negative log-likelihood in nats (:mod:`~tfp_flows.training.losses`),

```none
loss(theta) = -(1/B) sum_{i=1..B} log q_theta(x_i | c_i)        (log q_theta(x_i) without context)
```

minimised with a Keras 3 or tf_keras optimizer. ``fit`` puts the parts together:

* a data source (:mod:`~tfp_flows.training.sources`): arrays (with an optional
  context), a ``tf.data.Dataset`` of ``x`` or ``(x, context)`` batches, a
  target distribution sampled afresh at every step, or a conditional target
  whose ``(x, context)`` pairs are drawn afresh at every step;
* the compiled loop (:mod:`~tfp_flows.training.loop`): ``steps_per_execution``
  gradient steps (:mod:`~tfp_flows.training.step`) per ``tf.function`` call,
  XLA by default, traced once, every batch of the same shape;
* around it, on the host: data-dependent initialisation of every adaptive
  layer (``Standardize``, ``ActNorm``, ``BatchNorm``:
  :mod:`~tfp_flows.training.adaptation`), validation data or split,
  early stopping with best-weights restore, a progress bar, user callbacks,
  atomic checkpoints with ``resume`` (:mod:`~tfp_flows.training.checkpoints`),
  a clear error on a non-finite loss that leaves the last good weights and
  optimizer state in place, and ``tf.distribute`` strategies.

Every argument and the data are checked before anything changes; errors name
what was expected and what came.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import tensorflow as tf
from tensorflow_probability import distributions as tfd

from tfp_flows.checks import check_integer, check_number, check_positive_float
from tfp_flows.data_checks import check_context_rows, check_data
from tfp_flows.evaluation import check_takes_context
from tfp_flows.training.adaptation import adapt_layers
from tfp_flows.training.checkpoints import Checkpoints, History
from tfp_flows.training.loop import make_distributed_chunk, make_train_chunk
from tfp_flows.training.losses import Loss, MaximumLikelihood
from tfp_flows.training.optimizers import (
    DEFAULT_LEARNING_RATE,
    build_optimizer,
    check_optimizer_learning_rate,
    default_optimizer,
    optimizer_variables,
)
from tfp_flows.training.sources import (
    ArraySource,
    Batch,
    ConditionalTargetSource,
    DatasetSource,
    DataSource,
    SeedSource,
    TargetSource,
    is_conditional_target,
)
from tfp_flows.training.state import all_finite_arrays, restore, snapshot
from tfp_flows.training.step import NonFiniteLossError, all_finite

__all__ = ["Callback", "fit"]

Callback = Callable[[int, dict[str, float]], "bool | None"]


def fit(
    distribution: tfd.Distribution,
    data: Any,
    *,
    context: Any = None,
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
    loss: Loss | None = None,
) -> History:
    """Trains ``distribution`` on ``data`` (maximum likelihood, or ``loss``); returns its :class:`History`.

    Args:
      distribution: a flow (any ``tfd.Distribution`` with trainable variables);
        a conditional flow (``log_prob(x, context=c)``) when a context is given.
      data: a ``[n, event_size]`` NumPy array or tensor; a ``tf.data.Dataset``
        of ``[batch, event_size]`` batches or of ``(x, context)`` tuples of
        ``[batch, event_size]`` and ``[batch, context_size]`` batches; a
        target distribution (each step then draws a fresh batch); or a
        conditional target, anything with ``sample_pairs(n, seed) -> (x,
        context)`` (``tff.datasets.ConditionalBanana``,
        ``LinearGaussianSimulator``): each step then draws ``batch_size``
        fresh pairs, and a conditional flow learns ``q(x | context)``; or
        ``None``, with a loss that draws its own samples (variational
        inference: ``loss=ReverseKL(target)``; see
        :func:`tfp_flows.inference.fit_surrogate`).
      context: with array ``data``, a ``[n, context_size]`` array: row ``i``
        is the context of data row ``i`` (shuffled and split with it). Default
        ``None``: no ``context`` keyword is passed to ``log_prob`` at all.
      optimizer: a Keras 3 or tf_keras optimizer (learning-rate schedules
        welcome); default :func:`default_optimizer` (Adam, warm-up then cosine
        decay over ``steps``, gradient norm clipped at 1).
      learning_rate: peak learning rate of the default optimizer (positive).
      steps: number of optimizer steps; or give ``epochs`` (array data only).
      batch_size: rows per step (arrays and targets).
      validation_data: rows to compute the validation NLL on (``(x, context)``
        when training with a context); or
      validation_split: the fraction of array ``data`` (and of its context)
        held out for validation (arrays only: a dataset or a target takes
        ``validation_data``).
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
        a folder holding checkpoints. See :mod:`tfp_flows.training.checkpoints`.
      checkpoint_metadata: JSON-able settings recorded in every checkpoint
        (e.g. the command line's configuration) and checked on resume.
      steps_per_execution: optimizer steps per compiled call.
      jit_compile: compile the training step with XLA.
      strategy: a ``tf.distribute`` strategy whose scope the flow was built in
        (``MirroredStrategy``, or ``MultiWorkerMirroredStrategy`` with every
        worker running the same ``fit`` on the same data and seed:
        ``batch_size`` is the global batch, split across all replicas, a
        multiple of their number; only the chief writes checkpoints; see
        :mod:`~tfp_flows.training.multi_worker`).
      progress: show a Keras progress bar.
      seed: seed of the batch order / target samples (a non-negative integer).
      loss: ``loss(distribution, batch) -> scalar`` to minimise (see
        :mod:`~tfp_flows.training.losses`); default
        :class:`~tfp_flows.training.losses.MaximumLikelihood`.

    Every not yet adapted adaptive layer of the flow (``Standardize``,
    ``ActNorm``, ``BatchNorm``: :func:`~tfp_flows.training.adapt_layers`) is
    fitted, each to the data as it arrives at it, to the training rows of an
    array (with their context), to ``min(100 000, 100 * batch_size)`` samples
    (pairs) of a target, or to the first batches of a dataset (at most 100
    batches or 100 000 rows: shuffle an ordered dataset first). If ``fit``
    fails before its first ``steps_per_execution`` steps are done, that
    adaptation is undone: the flow is as it came. ``BatchNorm`` layers use
    batch statistics in the training steps and update their moving averages;
    validation uses the moving averages.

    Returns:
      The :class:`History`: ``loss`` per step, ``val_loss`` per validation.

    Raises:
      TypeError: an argument or the data of the wrong type (``steps=10.5``,
        strings, a dict-structured dataset, a context for a distribution that
        takes none, ...).
      ValueError: bad data (NaN/inf rows, values beyond the flow's dtype, a
        wrong event size, no rows, a constant column, a context whose rows do
        not match the data's) or settings that cannot work together
        (``validation_split`` with a dataset, early stopping without
        validation data, ``steps`` and ``epochs``, ...).
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
        check_optimizer_learning_rate(optimizer)
    callbacks = () if callbacks is None else callbacks
    if isinstance(callbacks, str) or not all(callable(c) for c in callbacks):
        raise TypeError("callbacks must be a sequence of callables callback(step, logs), got "
                        f"{callbacks!r}.")
    if loss is not None and not callable(loss):
        raise TypeError(f"loss must be a callable loss(distribution, batch), got {loss!r}.")
    loss = MaximumLikelihood() if loss is None else loss
    if steps is not None and epochs is not None:
        raise ValueError(f"give steps= or epochs=, not both; got steps={steps}, epochs={epochs}.")
    if steps is None and epochs is None:
        raise ValueError("give steps= or epochs=.")
    _check_source_settings(data, context, validation_data, validation_split,
                           early_stopping_patience, epochs, strategy, loss)

    if strategy is not None and batch_size % strategy.num_replicas_in_sync:
        raise ValueError(f"batch_size must be a multiple of the strategy's "
                         f"{strategy.num_replicas_in_sync} replicas in sync, got {batch_size}.")
    source, validation = _make_source(distribution, data, context, validation_data,
                                      validation_split, batch_size, seed)
    if steps is None:
        steps = epochs * source.batches_per_epoch
    if validation_every is None:  # about 20 validations, at chunk boundaries
        validation_every = max(1, round(steps / 20 / steps_per_execution)) * steps_per_execution

    scope = strategy.scope() if strategy is not None else contextlib.nullcontext()
    with scope:
        if optimizer is None:
            optimizer = default_optimizer(
                steps, DEFAULT_LEARNING_RATE if learning_rate is None else learning_rate)
        optimizer = build_optimizer(optimizer, variables)

    chunk_size = source.max_steps_per_call or steps_per_execution
    if strategy is not None:
        train_chunk = make_distributed_chunk(
            distribution, optimizer, variables, strategy, source.batch, loss)
    else:
        train_chunk = make_train_chunk(
            distribution, optimizer, variables, source.batch, jit_compile, loss)
    evaluate = tf.function(lambda batch: loss(distribution, batch))

    checkpoints = None
    history = History()
    if checkpoint_dir is not None and strategy is not None and resume and _multi_worker(strategy):
        raise ValueError("resume=True is not supported under a multi-worker strategy yet: only "
                         "the chief writes checkpoints; resume with one worker.")
    if checkpoint_dir is not None and (strategy is None or strategy.extended.should_checkpoint):
        checkpoints = Checkpoints(checkpoint_dir, distribution, optimizer,
                                  metadata=checkpoint_metadata)
        history = checkpoints.begin(resume=resume)
        # A checkpoint holds the latest weights, not the best: after a resume the best
        # weights are tracked afresh, so best_step never names weights that are gone.
        history.best_step = history.best_val_loss = None
    elif resume:
        raise ValueError("resume=True needs checkpoint_dir=.")

    try:  # the run folder's lock is released however training ends
        # After a resume the restored adaptive layers are adapted already and stay as saved.
        undo_adapt = adapt_layers(distribution, source.adaptation_data)

        progress_bar = None
        if progress:
            import keras

            progress_bar = keras.utils.Progbar(steps, stateful_metrics=["loss", "val_loss"])
        # The flow's and the optimizer's state after the last chunk (`latest`) and at the start
        # of the chunk before, which a finite step has started from since (`checked`).
        state = list(distribution.variables) + optimizer_variables(optimizer)
        latest = checked = (history.steps, snapshot(state))
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
            inputs = _padded(source.step_inputs(step, count), chunk_size)
            losses = np.asarray(train_chunk(inputs, tf.constant(count)), np.float64)
            losses = losses.reshape(-1)[:count]
            now = snapshot(state)
            finite = np.isfinite(losses)
            if not finite.all() or not all_finite_arrays(now):
                bad = int(np.flatnonzero(~finite)[0]) if not finite.all() else count - 1
                kept_step = _put_back_last_good_state(
                    distribution, loss, variables, state, latest, checked, bad,
                    source.batch(tf.nest.map_structure(lambda t: t[0], inputs)))
                if kept_step == first_step:  # nothing trained: leave the flow as it came
                    undo_adapt()
                raise NonFiniteLossError(step + bad + 1, float(losses[bad]), kept_step=kept_step)
            checked, latest = latest, (step + count, now)
            history.loss.extend(float(v) for v in losses)
            step += count
            logs = {"loss": float(np.mean(losses))}
            stop = False
            if step % validation_every == 0 or step == steps:
                if validation is not None:
                    val_loss = float(evaluate(validation))
                    history.val_steps.append(step)
                    history.val_loss.append(val_loss)
                    logs["val_loss"] = val_loss
                    if history.best_val_loss is None or val_loss < history.best_val_loss:
                        history.best_val_loss, history.best_step = val_loss, step
                        best_weights = snapshot(distribution.variables)
                        bad_validations = 0
                    else:
                        bad_validations += 1
                stop = any([bool(callback(step, dict(logs))) for callback in callbacks])
                if early_stopping_patience is not None and bad_validations > early_stopping_patience:
                    history.stopped_early = stop = True
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
        restore(distribution.variables, best_weights)
    return history


def _multi_worker(strategy: tf.distribute.Strategy) -> bool:
    """Whether ``strategy`` spans several worker processes (``MultiWorkerMirroredStrategy``)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    return resolver is not None and len(resolver.cluster_spec().as_dict().get("worker", ())) > 1


def _check_source_settings(data: Any, context: Any, validation_data: Any, validation_split: float,
                           early_stopping_patience: int | None, epochs: int | None,
                           strategy: Any, loss: Loss) -> None:
    """Refuses settings that do not fit the kind of data (before any data is read)."""
    draws_samples = bool(getattr(loss, "draws_samples", False))
    if draws_samples != (data is None):
        raise ValueError(
            f"{loss!r} draws its own samples: give data=None." if draws_samples else
            f"data=None needs a loss that draws its own samples (e.g. tff.training.ReverseKL("
            f"target)), got {loss!r}.")
    if data is None:
        given = [name for name, value in [
            ("context", context), ("validation_data", validation_data), ("epochs", epochs),
            ("strategy", strategy), ("early_stopping_patience", early_stopping_patience),
            ("validation_split", validation_split or None)] if value is not None]
        if given:
            raise ValueError(f"fitting by {loss!r} has no data; {', '.join(given)} cannot be used "
                             "with it (give steps=).")
        return
    is_target = isinstance(data, tfd.Distribution) or is_conditional_target(data)
    is_dataset = isinstance(data, tf.data.Dataset)
    kind = ("a conditional target" if is_conditional_target(data)
            else "a target distribution" if is_target else "a tf.data.Dataset")
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
    if (is_target or is_dataset) and context is not None:
        hint = ("yield (x, context) batches from the dataset instead" if is_dataset
                else "a conditional target draws its own contexts (sample_pairs)"
                if is_conditional_target(data) else "give arrays of rows and their context")
        raise ValueError(f"context= needs array data, got {kind}; {hint}.")


def _make_source(distribution: tfd.Distribution, data: Any, context: Any, validation_data: Any,
                 validation_split: float, batch_size: int, seed: int,
                 ) -> tuple[DataSource, Batch | None]:
    """The checked training source and validation batch (``None``: no validation)."""
    if data is None:
        return SeedSource(seed), None
    # a vector flow's event size, or an image flow's event shape
    event_shape, dtype = tuple(distribution.event_shape.as_list()), distribution.dtype
    event_size = event_shape[0] if len(event_shape) == 1 else event_shape
    if isinstance(data, tf.data.Dataset):
        source: DataSource = DatasetSource(data, event_size, dtype)
        conditional = source.conditional
    elif is_conditional_target(data):
        source = ConditionalTargetSource(data, batch_size, seed, event_size, dtype)
        conditional = True
        check_takes_context(distribution, *(rows[:1] for rows in source.example))
    elif isinstance(data, tfd.Distribution):
        source, conditional = TargetSource(data, batch_size, seed, event_size, dtype), False
    else:
        x = check_data(data, event_size, dtype)
        c = None if context is None else check_context_rows(context, x.shape[0], dtype)
        conditional = c is not None
        if c is not None:
            check_takes_context(distribution, x[:1], c[:1])
        if validation_split:
            order = np.random.default_rng([seed, 10**6]).permutation(x.shape[0])
            n_val = max(1, int(round(validation_split * x.shape[0])))
            if n_val >= x.shape[0]:
                raise ValueError(f"validation_split={validation_split} leaves no training rows.")
            held, kept = order[:n_val], order[n_val:]
            validation_data = x[held] if c is None else (x[held], c[held])
            x, c = x[kept], None if c is None else c[kept]
        if batch_size > x.shape[0]:
            print(f"fit: batch_size {batch_size} is larger than the {x.shape[0]} training "
                  f"rows; using batches of {x.shape[0]}.")
            batch_size = x.shape[0]
        source = ArraySource(x, batch_size, seed, context=c)
    return source, _validation_batch(validation_data, conditional, event_size, dtype)


def _validation_batch(validation_data: Any, conditional: bool, event_size: int,
                      dtype: tf.DType) -> Batch | None:
    if validation_data is None:
        return None
    if not conditional:
        return Batch(tf.constant(check_data(validation_data, event_size, dtype, "validation data")))
    if not (isinstance(validation_data, (tuple, list)) and len(validation_data) == 2):
        raise ValueError("validation_data must be a pair (x, context) when training with a "
                         f"context, got a {type(validation_data).__name__}.")
    x = check_data(validation_data[0], event_size, dtype, "validation data")
    c = check_context_rows(validation_data[1], x.shape[0], dtype, "validation context")
    return Batch(tf.constant(x), tf.constant(c))


def _padded(inputs: Any, size: int) -> Any:
    """``inputs`` (a nest of arrays, leading dimension ``count``) repeated to ``size`` entries."""
    def pad(array):
        array = np.asarray(array)
        if array.shape[0] < size:  # pad to the compiled shape; only `count` entries are used
            array = np.concatenate([array, np.repeat(array[-1:], size - array.shape[0], 0)])
        return tf.constant(array)
    return tf.nest.map_structure(pad, inputs)


def _put_back_last_good_state(distribution, loss, variables, state, latest, checked, bad,
                              first_batch) -> int:
    """Restores the last state known good after a non-finite chunk; returns its step.

    A later step of the chunk started from ``latest`` finitely; if the first
    step failed, ``latest`` is kept only if a step from it is finite (else it is
    suspect, and ``checked``, the state before, is put back).
    """
    restore(state, latest[1])
    if bad > 0 or _finite_step(distribution, loss, variables, first_batch):
        kept_step, kept = latest
    else:
        kept_step, kept = checked
    restore(state, kept)
    return kept_step


def _finite_step(distribution: tfd.Distribution, loss: Loss, variables: Sequence[tf.Variable],
                 batch: Batch) -> bool:
    """Whether the loss on ``batch`` and its gradients are finite at the current weights."""
    with tf.GradientTape() as tape:
        value = loss(distribution, batch)
    return bool(all_finite([value, *tape.gradient(value, variables)]))
