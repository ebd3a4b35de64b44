"""``fit``: train a flow with any Keras optimizer, composed of the training package's parts.

The loss is the negative log-likelihood in nats (:mod:`~tfp_flows.training.losses`),

```none
loss(theta) = -(1/B) sum_{i=1..B} log q_theta(x_i | c_i)        (log q_theta(x_i) without context)
```

minimised with a Keras 3 or tf_keras optimizer. ``fit`` reads as its steps:

1. check every setting and the data before anything changes
   (:mod:`~tfp_flows.training.preflight`), and make the data source
   (:mod:`~tfp_flows.training.sources`): arrays (with an optional context), a
   ``tf.data.Dataset`` of ``x`` or ``(x, context)`` batches, a target
   distribution sampled afresh at every step, or a conditional target whose
   ``(x, context)`` pairs are drawn afresh at every step;
2. build the optimizer and the compiled loop (:mod:`~tfp_flows.training.loop`):
   ``steps_per_execution`` gradient steps (:mod:`~tfp_flows.training.step`)
   per ``tf.function`` call, XLA by default, traced once;
3. start the callbacks (:mod:`~tfp_flows.training.callbacks`): validation,
   early stopping with best-weights restore, checkpoints with ``resume``, a
   progress bar, your own; fit every adaptive layer (``Standardize``,
   ``ActNorm``, ``BatchNorm``: :mod:`~tfp_flows.training.adaptation`) to the data;
4. run chunks of steps up to ``steps``, each followed by the non-finite guard
   (a NaN or inf loss or state puts back the last good weights and optimizer
   state and raises :class:`~tfp_flows.training.step.NonFiniteLossError`) and
   the callbacks due at its last step.

A failure before the first chunk has finished puts the flow and the optimizer
back bit for bit.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import tensorflow as tf
from tensorflow_probability import distributions as tfd

from tfp_flows._internal.checks import check_integer, check_number, check_positive_float
from tfp_flows.training import preflight
from tfp_flows.training.adaptation import adapt_layers
from tfp_flows.training.callbacks import (
    Callback,
    Checkpointing,
    Run,
    arrange_callbacks,
    default_log_every,
)
from tfp_flows.training.flow_matching import FlowMatching
from tfp_flows.training.history import History
from tfp_flows.training.loop import make_distributed_chunk, make_train_chunk
from tfp_flows.training.losses import Loss, MaximumLikelihood
from tfp_flows.training.optimizers import (
    DEFAULT_LEARNING_RATE,
    build_optimizer,
    check_optimizer,
    check_optimizer_learning_rate,
    default_optimizer,
    optimizer_variables,
)
from tfp_flows.training.preflight import (
    check_batch_norm_rows,
    check_context,
    check_loss,
    check_source_settings,
    make_source,
)
from tfp_flows.training.solver_check import check_solver_error
from tfp_flows.training.sources import Batch, DataSource
from tfp_flows.training.state import all_finite_arrays, restore, snapshot
from tfp_flows.training.step import NonFiniteLossError, all_finite

__all__ = ["fit"]


def fit(
    distribution: tfd.Distribution,
    data: Any,
    *,
    context: Any = None,
    loss: Loss | None = None,
    optimizer: Any = None,
    learning_rate: float | None = None,
    steps: int | None = None,
    epochs: int | None = None,
    batch_size: int = 256,
    validation_data: Any = None,
    validation_split: float = 0.0,
    callbacks: Sequence[Callback | Callable[[int, dict[str, float]], Any]] | None = (),
    progress: bool = True,
    seed: int = 0,
    strategy: tf.distribute.Strategy | None = None,
    jit_compile: bool | None = None,
    steps_per_execution: int = 100,
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
      loss: ``loss(distribution, batch) -> scalar`` to minimise (see
        :mod:`~tfp_flows.training.losses`); default
        :class:`~tfp_flows.training.losses.MaximumLikelihood`.
      optimizer: a Keras 3 or tf_keras optimizer (learning-rate schedules
        welcome); default :func:`default_optimizer` (Adam, warm-up then cosine
        decay over ``steps``, gradient norm clipped at 1).
      learning_rate: peak learning rate of the default optimizer (positive); a
        shortcut, because the default schedule needs ``steps``, which with
        ``epochs`` only ``fit`` knows.
      steps: number of optimizer steps; or give ``epochs`` (array data only).
      epochs: passes over array data (full batches only).
      batch_size: rows per step (arrays and targets). Array data with fewer
        training rows trains on batches of all of them (under a ``strategy``,
        the largest multiple of the replicas). A flow with ``BatchNorm``
        layers needs at least 2 rows per batch (per replica): fewer is refused.
      validation_data: rows to compute the validation loss on (``(x, context)``
        when training with a context); or
      validation_split: the fraction of array ``data`` (and of its context)
        held out for validation (arrays only: a dataset or a target takes
        ``validation_data``). With either, ``fit`` validates about 20 times
        (:class:`~tfp_flows.training.callbacks.Validation`; give
        ``Validation(every=...)`` in ``callbacks`` for other steps).
      callbacks: :class:`~tfp_flows.training.callbacks.Callback` objects
        (``EarlyStopping(patience)``, ``Checkpointing(directory, every,
        resume)``, ``Validation(every)``, your own) and plain callables
        ``callback(step, logs) -> bool | None``, called about 20 times per run
        with ``logs = {"loss": ..., "val_loss": ...}`` (a ``True`` return
        stops training); see :mod:`~tfp_flows.training.callbacks` for when each
        runs.
      progress: show a Keras progress bar
        (:class:`~tfp_flows.training.callbacks.ProgressBar`).
      seed: seed of the batch order / target samples (a non-negative integer).
      strategy: a ``tf.distribute`` strategy whose scope the flow was built in
        (``MirroredStrategy``, or ``MultiWorkerMirroredStrategy`` with every
        worker running the same ``fit`` on the same data and seed:
        ``batch_size`` is the global batch, split across all replicas, a
        multiple of their number; only the chief writes checkpoints; see
        :mod:`~tfp_flows.training.multi_worker`).
      jit_compile: compile the training chunk with XLA (``True``) or not
        (``False``); default ``None`` picks per flow
        (:func:`~tfp_flows.training.preflight.default_jit_compile`): XLA for
        vector flows, none for image flows, whose XLA compilation takes
        minutes and whose steps it does not speed up. Under a ``strategy`` the
        chunk is never XLA-compiled.
      steps_per_execution: optimizer steps per compiled call.

    Every not yet adapted adaptive layer of the flow (``Standardize``,
    ``ActNorm``, ``BatchNorm``: :func:`~tfp_flows.training.adapt_layers`) is
    fitted, each to the data as it arrives at it, to the training rows of an
    array (with their context), to ``min(100 000, 100 * batch_size)`` samples
    (pairs) of a target, or to the first batches of a dataset (at most 100
    batches or 100 000 rows: shuffle an ordered dataset first). ``BatchNorm``
    layers use batch statistics in the training steps and update their moving
    averages; validation uses the moving averages.

    A failed ``fit`` leaves the flow as it came. Before anything changes,
    ``fit`` checks what tracing the first step would otherwise find out: the
    arguments, the callbacks, the data and the validation data, the context
    (present for a conditional flow, absent for an unconditional one, of the
    flow's width), a dataset's element structure, the optimizer (an optimizer
    object, not built for other variables) and the loss (evaluated once,
    eagerly, on the first training batch: a scalar). If ``fit`` fails anyhow
    after that and before its first chunk of steps has finished (an error, a
    non-finite loss, an interrupt), every variable of the flow -- weights, the
    adapted ``Standardize`` / ``ActNorm`` / ``BatchNorm`` statistics and their
    ``adapted`` flags, weights restored by ``Checkpointing(resume=True)`` --
    is put back bit for bit, and so is the optimizer's state. A failure later
    keeps the weights of the last good chunk (see ``NonFiniteLossError``).

    Returns:
      The :class:`History`: ``loss`` per step, ``val_loss`` per validation.

    Raises:
      TypeError: an argument or the data of the wrong type (``steps=10.5``,
        strings, a dict-structured dataset, a context for a distribution that
        takes none, ``optimizer="adam"``, ...).
      ValueError: bad data (NaN/inf rows, values beyond the flow's dtype, a
        wrong event size, no rows, a constant column, a context whose rows do
        not match the data's, a context missing for a conditional flow, given
        to an unconditional one or of the wrong width, batches of one row for
        a flow with ``BatchNorm``), an optimizer built for other variables, a
        loss that does not return a scalar, or settings that cannot work
        together (``validation_split`` with a dataset, ``EarlyStopping``
        without validation data, ``steps`` and ``epochs``, ...).
      NonFiniteLossError: training became NaN or inf; the flow and the
        optimizer keep their last good state, so a retry (with a lower learning
        rate) can reuse the same optimizer.
      CheckpointError: from ``Checkpointing``: a run folder in use, holding
        another run, or whose checkpoints do not hold this flow.

    #### Examples

    >>> from tfp_flows.datasets import Banana
    >>> from tfp_flows.flows import real_nvp
    >>> from tfp_flows.training.callbacks import EarlyStopping
    >>> data = Banana().sample(2000, seed=0).numpy()
    >>> flow = real_nvp(2, num_layers=4, hidden_units=(32, 32))
    >>> history = fit(flow, data, steps=300, validation_split=0.2, progress=False,
    ...               callbacks=[EarlyStopping(patience=5)])
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

    # 1. Settings and data: all checked before anything changes.
    batch_size = check_integer("batch_size", batch_size)
    steps = None if steps is None else check_integer("steps", steps)
    epochs = None if epochs is None else check_integer("epochs", epochs)
    steps_per_execution = check_integer("steps_per_execution", steps_per_execution)
    seed = check_integer("seed", seed, minimum=0)
    validation_split = check_number(
        "validation_split", validation_split, "a number in [0, 1)", lambda v: 0.0 <= v < 1.0
    )
    if learning_rate is not None:
        learning_rate = check_positive_float("learning_rate", learning_rate)
    if optimizer is not None and learning_rate is not None:
        raise ValueError("give optimizer= or learning_rate=, not both.")
    if optimizer is not None:
        check_optimizer_learning_rate(optimizer)
    if loss is not None and not callable(loss):
        raise TypeError(f"loss must be a callable loss(distribution, batch), got {loss!r}.")
    loss = MaximumLikelihood() if loss is None else loss
    if steps is not None and epochs is not None:
        raise ValueError(f"give steps= or epochs=, not both; got steps={steps}, epochs={epochs}.")
    if steps is None and epochs is None:
        raise ValueError("give steps= or epochs=.")
    check_source_settings(data, context, validation_data, validation_split, epochs, strategy, loss)
    callbacks = arrange_callbacks(
        callbacks,
        has_validation=validation_data is not None or bool(validation_split),
        progress=progress,
    )
    if jit_compile is not None and not isinstance(jit_compile, (bool, np.bool_)):
        raise TypeError(
            f"jit_compile must be True, False or None (pick per flow), got {jit_compile!r}."
        )
    replicas = 1 if strategy is None else strategy.num_replicas_in_sync
    if batch_size % replicas:
        raise ValueError(
            f"batch_size must be a multiple of the strategy's {replicas} replicas "
            f"in sync, got {batch_size}."
        )
    source, validation = make_source(
        distribution, data, context, validation_data, validation_split, batch_size, seed, replicas
    )
    # What tracing the first step would find out, found out now.
    check_batch_norm_rows(distribution, source, replicas, batch_size)
    example = source.example_batch()
    check_context(distribution, source, example)
    if optimizer is not None:
        check_optimizer(optimizer, variables)
    check_loss(distribution, loss, example)
    if jit_compile is None:
        jit_compile = preflight.default_jit_compile(distribution)
    if steps is None:
        steps = epochs * source.batches_per_epoch

    # Until a chunk of steps has finished, any failure puts the flow back as it came
    # (adapted layers, a resumed checkpoint's weights, a partly run first chunk).
    flow_state = list(distribution.variables)
    as_it_came = snapshot(flow_state)
    optimizer_state: list[Any] = []
    optimizer_start: list[np.ndarray] = []
    run = None
    first_step = None
    try:
        try:  # callbacks release what they hold (a run folder's lock) however training ends
            # 2. The optimizer and the compiled loop.
            with strategy.scope() if strategy is not None else contextlib.nullcontext():
                if optimizer is None:
                    optimizer = default_optimizer(
                        steps, DEFAULT_LEARNING_RATE if learning_rate is None else learning_rate
                    )
                optimizer = build_optimizer(optimizer, variables)
            optimizer_state = optimizer_variables(optimizer)
            optimizer_start = snapshot(optimizer_state)
            if strategy is not None:
                train_chunk = make_distributed_chunk(
                    distribution, optimizer, variables, strategy, source.batch, loss
                )
            else:
                train_chunk = make_train_chunk(
                    distribution, optimizer, variables, source.batch, jit_compile, loss
                )

            # 3. The callbacks (a resume happens here), then the adaptive layers.
            run = Run(
                distribution,
                optimizer,
                loss,
                steps,
                History(),
                validation=validation,
                strategy=strategy,
                log_every=default_log_every(steps, steps_per_execution),
            )
            # Checkpointing first: a resumed run's history is what the others start from
            for callback in sorted(callbacks, key=lambda c: not isinstance(c, Checkpointing)):
                callback.on_train_begin(run)
            first_step = run.history.steps
            # After a resume the restored adaptive layers are adapted already and stay as saved.
            adapt_layers(distribution, source.adaptation_data)

            # 4. Chunks of steps, the non-finite guard, the callbacks.
            logs = _train(run, source, train_chunk, steps_per_execution, callbacks, variables)
            for callback in callbacks:
                callback.on_train_end(logs)
            # 5. A continuous flow's density: the ODE's, or the solver's error?
            check_solver_error(
                distribution, example, trained_through_solver=not isinstance(loss, FlowMatching)
            )
        finally:
            for callback in callbacks:
                callback.close()
    except BaseException:
        if run is None or first_step is None or run.history.steps == first_step:
            restore(flow_state, as_it_came)
            restore(optimizer_state, optimizer_start)
        raise
    return run.history


def _train(
    run: Run,
    source: DataSource,
    train_chunk: Callable,
    steps_per_execution: int,
    callbacks: Sequence[Callback],
    variables: Sequence[tf.Variable],
) -> dict[str, float]:
    """Runs chunks of steps from ``run.history.steps`` to ``run.steps``; returns the last logs.

    A chunk is at most ``steps_per_execution`` steps (or what the source
    allows per call) and ends at every multiple of a callback's ``every``.
    After each chunk: the non-finite guard, the history, the callbacks due.
    """
    history, distribution = run.history, run.distribution
    chunk_size = source.max_steps_per_call or steps_per_execution
    # The flow's and the optimizer's state after the last chunk (`latest`) and at the start
    # of the chunk before, which a finite step has started from since (`checked`).
    state = list(distribution.variables) + optimizer_variables(run.optimizer)
    latest = checked = (history.steps, snapshot(state))
    started, wall_time = time.perf_counter(), history.wall_time
    step, logs = history.steps, {}
    while step < run.steps and not run.stop_training:
        count = min(chunk_size, run.steps - step)
        for callback in callbacks:  # end the chunk where a callback is due
            if callback.every is not None:
                count = min(count, callback.every - step % callback.every)
        inputs = _padded(source.step_inputs(step, count), chunk_size)
        losses = np.asarray(train_chunk(inputs, tf.constant(count)), np.float64)
        losses = losses.reshape(-1)[:count]
        now = snapshot(state)
        finite = np.isfinite(losses)
        if not finite.all() or not all_finite_arrays(now):
            bad = int(np.flatnonzero(~finite)[0]) if not finite.all() else count - 1
            first_batch = source.batch(tf.nest.map_structure(lambda t: t[0], inputs))
            kept_step = _put_back_last_good_state(
                distribution, run.loss, variables, state, latest, checked, bad, first_batch
            )
            raise NonFiniteLossError(step + bad + 1, float(losses[bad]), kept_step=kept_step)
        checked, latest = latest, (step + count, now)
        history.loss.extend(float(v) for v in losses)
        step += count
        history.wall_time = wall_time + time.perf_counter() - started
        logs = {"loss": float(np.mean(losses))}
        for callback in callbacks:
            every = callback.every
            if every is None or step % every == 0 or step == run.steps or run.stop_training:
                if callback.on_chunk_end(step, logs):
                    run.stop_training = True
    history.wall_time = wall_time + time.perf_counter() - started
    return logs


def _padded(inputs: Any, size: int) -> Any:
    """``inputs`` (a nest of arrays, leading dimension ``count``) repeated to ``size`` entries."""

    def pad(array):
        array = np.asarray(array)
        if array.shape[0] < size:  # pad to the compiled shape; only `count` entries are used
            array = np.concatenate([array, np.repeat(array[-1:], size - array.shape[0], 0)])
        return tf.constant(array)

    return tf.nest.map_structure(pad, inputs)


def _put_back_last_good_state(
    distribution, loss, variables, state, latest, checked, bad, first_batch
) -> int:
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


def _finite_step(
    distribution: tfd.Distribution, loss: Loss, variables: Sequence[tf.Variable], batch: Batch
) -> bool:
    """Whether the loss on ``batch`` and its gradients are finite at the current weights."""
    with tf.GradientTape() as tape:
        value = loss(distribution, batch)
    return bool(all_finite([value, *tape.gradient(value, variables)]))
