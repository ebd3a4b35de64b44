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
from tensorflow_probability import bijectors as tfb
from tensorflow_probability import distributions as tfd

from tfp_flows._internal.checks import check_integer, check_number, check_positive_float
from tfp_flows._internal.data_checks import check_context_rows, check_data
from tfp_flows.bijectors.batch_norm import BatchNorm
from tfp_flows.bijectors.chain import context_size_of
from tfp_flows.flows.log_prob import check_takes_context
from tfp_flows.training.adaptation import adapt_layers, find_adaptive_layers
from tfp_flows.training.checkpoints import Checkpoints, History
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
    jit_compile: bool | None = None,
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
      batch_size: rows per step (arrays and targets). Array data with fewer
        training rows trains on batches of all of them (under a ``strategy``,
        the largest multiple of the replicas). A flow with ``BatchNorm``
        layers needs at least 2 rows per batch (per replica): fewer is refused.
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
      jit_compile: compile the training chunk with XLA (``True``) or not
        (``False``); default ``None`` picks per flow
        (:func:`default_jit_compile`): XLA for vector flows, none for image
        flows, whose XLA compilation takes minutes and whose steps it does not
        speed up. Under a ``strategy`` the chunk is never XLA-compiled.
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
    batches or 100 000 rows: shuffle an ordered dataset first). ``BatchNorm``
    layers use batch statistics in the training steps and update their moving
    averages; validation uses the moving averages.

    A failed ``fit`` leaves the flow as it came. Before anything changes,
    ``fit`` checks what tracing the first step would otherwise find out: the
    arguments, the data and the validation data, the context (present for a
    conditional flow, absent for an unconditional one, of the flow's width),
    a dataset's element structure, the optimizer (an optimizer object, not
    built for other variables) and the loss (evaluated once, eagerly, on the
    first training batch: a scalar). If ``fit`` fails anyhow after that and before its first chunk of
    steps has finished (an error, a non-finite loss, an interrupt), every
    variable of the flow -- weights, the adapted ``Standardize`` / ``ActNorm``
    / ``BatchNorm`` statistics and their ``adapted`` flags, weights restored
    by ``resume`` -- is put back bit for bit, and so is the optimizer's
    state. A failure later keeps the weights of the last good chunk (see
    ``NonFiniteLossError``).

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
        together (``validation_split`` with a dataset, early stopping without
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
            "early_stopping_patience", early_stopping_patience, minimum=0
        )
    checkpoint_every = check_integer("checkpoint_every", checkpoint_every)
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
    callbacks = () if callbacks is None else callbacks
    if isinstance(callbacks, str) or not all(callable(c) for c in callbacks):
        raise TypeError(
            f"callbacks must be a sequence of callables callback(step, logs), got {callbacks!r}."
        )
    if loss is not None and not callable(loss):
        raise TypeError(f"loss must be a callable loss(distribution, batch), got {loss!r}.")
    loss = MaximumLikelihood() if loss is None else loss
    if steps is not None and epochs is not None:
        raise ValueError(f"give steps= or epochs=, not both; got steps={steps}, epochs={epochs}.")
    if steps is None and epochs is None:
        raise ValueError("give steps= or epochs=.")
    _check_source_settings(
        data,
        context,
        validation_data,
        validation_split,
        early_stopping_patience,
        epochs,
        strategy,
        loss,
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
    source, validation = _make_source(
        distribution, data, context, validation_data, validation_split, batch_size, seed, replicas
    )
    # What tracing the first step would find out, found out now, before anything changes.
    _check_batch_norm_rows(distribution, source, replicas, batch_size)
    example = source.example_batch()
    _check_context(distribution, source, example)
    if optimizer is not None:
        check_optimizer(optimizer, variables)
    _check_loss(distribution, loss, example)
    if jit_compile is None:
        jit_compile = default_jit_compile(distribution)
    if steps is None:
        steps = epochs * source.batches_per_epoch
    if validation_every is None:  # about 20 validations, at chunk boundaries
        validation_every = max(1, round(steps / 20 / steps_per_execution)) * steps_per_execution

    # Until a chunk of steps has finished, any failure puts the flow back as it came
    # (adapted layers, a resumed checkpoint's weights, a partly run first chunk).
    flow_state = list(distribution.variables)
    as_it_came = snapshot(flow_state)
    optimizer_state: list[Any] = []
    optimizer_start: list[np.ndarray] = []
    trained = False
    try:
        scope = strategy.scope() if strategy is not None else contextlib.nullcontext()
        with scope:
            if optimizer is None:
                optimizer = default_optimizer(
                    steps, DEFAULT_LEARNING_RATE if learning_rate is None else learning_rate
                )
            optimizer = build_optimizer(optimizer, variables)
        optimizer_state = optimizer_variables(optimizer)
        optimizer_start = snapshot(optimizer_state)

        chunk_size = source.max_steps_per_call or steps_per_execution
        if strategy is not None:
            train_chunk = make_distributed_chunk(
                distribution, optimizer, variables, strategy, source.batch, loss
            )
        else:
            train_chunk = make_train_chunk(
                distribution, optimizer, variables, source.batch, jit_compile, loss
            )
        evaluate = tf.function(lambda batch: loss(distribution, batch))

        checkpoints = None
        history = History()
        if (
            checkpoint_dir is not None
            and strategy is not None
            and resume
            and _multi_worker(strategy)
        ):
            raise ValueError(
                "resume=True is not supported under a multi-worker strategy yet: only "
                "the chief writes checkpoints; resume with one worker."
            )
        if checkpoint_dir is not None and (strategy is None or strategy.extended.should_checkpoint):
            checkpoints = Checkpoints(
                checkpoint_dir, distribution, optimizer, metadata=checkpoint_metadata
            )
            history = checkpoints.begin(resume=resume)
            # A checkpoint holds the latest weights, not the best: after a resume the best
            # weights are tracked afresh, so best_step never names weights that are gone.
            history.best_step = history.best_val_loss = None
        elif resume:
            raise ValueError("resume=True needs checkpoint_dir=.")

        try:  # the run folder's lock is released however training ends
            # After a resume the restored adaptive layers are adapted already and stay as saved.
            adapt_layers(distribution, source.adaptation_data)

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
            step = history.steps
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
                        distribution,
                        loss,
                        variables,
                        state,
                        latest,
                        checked,
                        bad,
                        source.batch(tf.nest.map_structure(lambda t: t[0], inputs)),
                    )
                    raise NonFiniteLossError(
                        step + bad + 1, float(losses[bad]), kept_step=kept_step
                    )
                checked, latest = latest, (step + count, now)
                trained = True
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
                    if (
                        early_stopping_patience is not None
                        and bad_validations > early_stopping_patience
                    ):
                        history.stopped_early = stop = True
                if progress_bar is not None:
                    progress_bar.update(step, values=list(logs.items()))
                if checkpoints is not None and (
                    step % checkpoint_every == 0 or step == steps or stop
                ):
                    history.wall_time += time.perf_counter() - started
                    started = time.perf_counter()
                    checkpoints.save(step, history)
                if stop:
                    break
            history.wall_time += time.perf_counter() - started
        finally:
            if checkpoints is not None:
                checkpoints.close()
    except BaseException:
        if not trained:
            restore(flow_state, as_it_came)
            restore(optimizer_state, optimizer_start)
        raise
    if restore_best_weights and best_weights is not None and early_stopping_patience is not None:
        restore(distribution.variables, best_weights)
    return history


def _multi_worker(strategy: tf.distribute.Strategy) -> bool:
    """Whether ``strategy`` spans several worker processes (``MultiWorkerMirroredStrategy``)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    return resolver is not None and len(resolver.cluster_spec().as_dict().get("worker", ())) > 1


def _check_source_settings(
    data: Any,
    context: Any,
    validation_data: Any,
    validation_split: float,
    early_stopping_patience: int | None,
    epochs: int | None,
    strategy: Any,
    loss: Loss,
) -> None:
    """Refuses settings that do not fit the kind of data (before any data is read)."""
    draws_samples = bool(getattr(loss, "draws_samples", False))
    if draws_samples != (data is None):
        raise ValueError(
            f"{loss!r} draws its own samples: give data=None."
            if draws_samples
            else f"data=None needs a loss that draws its own samples (e.g. tff.training.ReverseKL("
            f"target)), got {loss!r}."
        )
    if data is None:
        given = [
            name
            for name, value in [
                ("context", context),
                ("validation_data", validation_data),
                ("epochs", epochs),
                ("strategy", strategy),
                ("early_stopping_patience", early_stopping_patience),
                ("validation_split", validation_split or None),
            ]
            if value is not None
        ]
        if given:
            raise ValueError(
                f"fitting by {loss!r} has no data; {', '.join(given)} cannot be used "
                "with it (give steps=)."
            )
        return
    is_target = isinstance(data, tfd.Distribution) or is_conditional_target(data)
    is_dataset = isinstance(data, tf.data.Dataset)
    kind = (
        "a conditional target"
        if is_conditional_target(data)
        else "a target distribution"
        if is_target
        else "a tf.data.Dataset"
    )
    if (is_target or is_dataset) and validation_split:
        raise ValueError(
            f"validation_split must be 0 when data is {kind} (it cannot be split), got "
            f"{validation_split}; pass held-out rows as validation_data= instead."
        )
    if validation_data is not None and validation_split:
        raise ValueError("give validation_data= or validation_split=, not both.")
    if early_stopping_patience is not None and validation_data is None and not validation_split:
        raise ValueError(
            f"early_stopping_patience={early_stopping_patience} needs validation data, got none; "
            "pass validation_data= or validation_split=."
        )
    if (is_target or is_dataset) and epochs is not None:
        raise ValueError(f"epochs= needs array data, got {kind}; give steps= instead.")
    if is_dataset and strategy is not None:
        raise ValueError("strategy= needs array data or a target distribution.")
    if (is_target or is_dataset) and context is not None:
        hint = (
            "yield (x, context) batches from the dataset instead"
            if is_dataset
            else "a conditional target draws its own contexts (sample_pairs)"
            if is_conditional_target(data)
            else "give arrays of rows and their context"
        )
        raise ValueError(f"context= needs array data, got {kind}; {hint}.")


def default_jit_compile(distribution: tfd.Distribution) -> bool:
    """``fit``'s mode when ``jit_compile=None``: XLA for vector flows, none for image flows.

    Measured with ``benchmarks/fit_modes.py`` (2 shared CPU cores): XLA
    trains the banana's ``real_nvp(2)`` 8x faster per step (63.8 against 7.9
    steps/s), while for ``real_nvp((8, 8, 1))`` on the digits the XLA
    compilation of the chunk took 618 s and its steps ran 13x slower (0.1
    against 1.3 steps/s). A flow whose event has more than one axis
    (``[H, W, C]``) is trained without XLA.

    #### Examples

    >>> from tfp_flows.flows import real_nvp
    >>> default_jit_compile(real_nvp(2)), default_jit_compile(real_nvp((4, 4, 1), num_scales=1))
    (True, False)
    """
    event_shape = tf.nest.flatten(distribution.event_shape)
    return all(shape.rank is not None and shape.rank <= 1 for shape in event_shape)


def _context_size(distribution: tfd.Distribution) -> int | None:
    """Width of the per-row context ``log_prob`` takes (0: none); ``None``: not known (not a flow)."""
    if getattr(distribution, "context", None) is not None:  # a flow with a bound context
        return 0
    size = getattr(distribution, "context_size", None)
    if isinstance(size, int):
        return size
    bijector = getattr(distribution, "bijector", None)
    return context_size_of(bijector) if isinstance(bijector, tfb.Bijector) else None


def _check_context(distribution: tfd.Distribution, source: DataSource, example: Batch) -> None:
    """Refuses data whose context (present or absent, its width) the flow cannot take."""
    expected = _context_size(distribution)
    if expected is None or isinstance(source, SeedSource) and example.x is None:
        return
    given = None if example.context is None else int(example.context.shape[-1])
    where = source.description
    name = getattr(distribution, "name", type(distribution).__name__)
    if expected and given is None:
        hint = (
            "pass context= with one [context_size] row per data row"
            if isinstance(source, ArraySource)
            else "yield (x, context) batches"
            if isinstance(source, DatasetSource)
            else "train on a conditional target (with sample_pairs) or on arrays with context="
        )
        raise ValueError(
            f"{name} is conditional (context_size={expected}): every row needs a "
            f"context of width {expected}, got {where} without one; {hint}."
        )
    if given is not None and not expected:
        bound = getattr(distribution, "context", None) is not None
        what = (
            "has a bound context (condition()) and takes none per row"
            if bound
            else "is unconditional (context_size=0)"
        )
        raise ValueError(
            f"{name} {what}, got {where} with a context of width {given}; build the "
            f"flow with context_size={given}, or train without a context."
        )
    if given is not None and given != expected:
        raise ValueError(
            f"{name} takes a context of width {expected} (context_size={expected}), "
            f"got {where} with a context of width {given}."
        )


def _batch_norm_layers(distribution: tfd.Distribution) -> list[str]:
    """Names of the ``BatchNorm`` layers of a flow (none for other distributions)."""
    bijector = getattr(distribution, "bijector", None)
    if not isinstance(bijector, tfb.Bijector):
        return []
    return [
        layer.bijector.name
        for layer in find_adaptive_layers(bijector)
        if isinstance(layer.bijector, BatchNorm)
    ]


def _check_batch_norm_rows(
    distribution: tfd.Distribution, source: DataSource, replicas: int, asked: int
) -> None:
    """Refuses training batches of fewer than 2 rows (per replica) for a flow with ``BatchNorm``.

    A ``BatchNorm`` layer normalises each training batch by its own mean and
    variance: the variance of one row is 0, so the loss rewards nothing but
    the ``1 / sqrt(epsilon)`` scale and training ends in garbage.
    """
    layers = _batch_norm_layers(distribution)
    if not layers:
        return
    if isinstance(source, DatasetSource):
        source.min_rows = 2  # every batch is checked as it comes
        spec = tf.nest.flatten(source.dataset.element_spec)[0]
        rows = spec.shape[0] if spec.shape.rank else None
        if rows is not None and rows < 2:
            raise ValueError(
                f"the dataset's batches have {rows} row(s), but the flow's BatchNorm layer "
                f"{layers[0]!r} needs at least 2 rows per training batch for its batch "
                "statistics; batch the dataset by 2 or more (dataset.batch(256))."
            )
        return
    batch_size = getattr(source, "batch_size", None)
    if batch_size is None or batch_size // replicas >= 2:
        return
    shrunk = f" with only {source.n} training row(s)" if batch_size != asked else ""
    per_replica = f" per replica ({replicas} replicas)" if replicas > 1 else ""
    raise ValueError(
        f"batch_size={asked}{shrunk} gives training batches of {batch_size // replicas} "
        f"row(s){per_replica}, but the flow's BatchNorm layer {layers[0]!r} needs at least 2 "
        "rows per training batch for its batch statistics (one row has variance 0); use "
        f"batch_size >= {2 * replicas} with at least that many training rows, or build the flow "
        "without BatchNorm."
    )


def _check_loss(distribution: tfd.Distribution, loss: Loss, example: Batch) -> None:
    """Evaluates ``loss`` once on the first batch (nothing changes); refuses a non-scalar value."""
    value = tf.convert_to_tensor(loss(distribution, example))
    if value.shape.rank != 0:
        rows = "" if example.x is None else f" on a batch of {int(example.x.shape[0])} rows"
        raise ValueError(
            f"loss must return a scalar (the batch's mean loss), got a tensor of shape "
            f"{value.shape.as_list()}{rows} from {loss!r}; reduce it, e.g. with tf.reduce_mean."
        )
    if not value.dtype.is_floating:
        raise TypeError(
            f"loss must return a floating-point scalar, got dtype {value.dtype.name} from {loss!r}."
        )


def _make_source(
    distribution: tfd.Distribution,
    data: Any,
    context: Any,
    validation_data: Any,
    validation_split: float,
    batch_size: int,
    seed: int,
    replicas: int = 1,
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
            # the largest batch the replicas can split evenly
            rows = x.shape[0] - x.shape[0] % replicas
            if rows == 0:
                raise ValueError(
                    f"the {x.shape[0]} training rows cannot be split across the strategy's "
                    f"{replicas} replicas in sync: give at least {replicas} training rows."
                )
            split = f" (a multiple of the {replicas} replicas)" if replicas > 1 else ""
            print(
                f"fit: batch_size {batch_size} is larger than the {x.shape[0]} training "
                f"rows; using batches of {rows}{split}."
            )
            batch_size = rows
        source = ArraySource(x, batch_size, seed, context=c)
    return source, _validation_batch(validation_data, conditional, event_size, dtype)


def _validation_batch(
    validation_data: Any, conditional: bool, event_size: int, dtype: tf.DType
) -> Batch | None:
    if validation_data is None:
        return None
    if not conditional:
        return Batch(tf.constant(check_data(validation_data, event_size, dtype, "validation data")))
    if not (isinstance(validation_data, (tuple, list)) and len(validation_data) == 2):
        raise ValueError(
            "validation_data must be a pair (x, context) when training with a "
            f"context, got a {type(validation_data).__name__}."
        )
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
