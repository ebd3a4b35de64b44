"""``fit``'s callbacks: validation, early stopping, checkpoints and progress, and your own.

``fit`` runs the optimizer in chunks of compiled steps; between chunks it hands
the step and the logs to its callbacks, Keras-style objects with four hooks:

```none
on_train_begin(run)          once, before the flow's adaptive layers are fitted and the first chunk
on_chunk_end(step, logs)     after a chunk ending at a multiple of `every` (every chunk if None),
                             at the last step, and at the chunk after which training stops;
                             logs = {"loss": mean training loss of the chunk, "val_loss": ...};
                             a True return stops training after this chunk
on_train_end(logs)           after the last chunk (all steps done, or stopped by a callback)
close()                      last, however training ended (an error too): release files and locks
```

``run`` (:class:`Run`) is the run a callback belongs to: the distribution, the
optimizer, the loss, the :class:`~tfp_flows.training.history.History` so far,
the number of steps, the validation batch, the strategy, and ``stop_training``
(set once a callback asked to stop, so later callbacks, such as a checkpoint,
see it). ``fit`` ends a chunk at every multiple of each callback's ``every``
(read after ``on_train_begin``) and calls the callbacks in this order:
:class:`Validation` (so that every other callback sees ``val_loss``), the
others in the order given, :class:`Checkpointing` (so that a checkpoint holds
the chunk's validation and the decision to stop), :class:`ProgressBar`; only
``on_train_begin`` runs :class:`Checkpointing`'s first, so that after a resume
every other callback starts from the resumed history.

A plain callable ``callback(step, logs) -> bool | None`` in ``fit``'s
``callbacks`` is a :class:`LambdaCallback`: called about 20 times per run
(:attr:`Run.log_every`), a ``True`` return stops training.

The built-in callbacks:

| callback | what it does |
|---|---|
| :class:`Validation` | the validation loss of ``fit``'s ``validation_data`` / ``validation_split`` every ``every`` steps; ``fit`` adds one when given validation data |
| :class:`EarlyStopping` | stops after ``patience`` validations without a new best; restores the best weights |
| :class:`ReduceLROnPlateau` | cuts the learning rate after ``patience`` validations without a new best, from the best weights |
| :class:`Checkpointing` | atomic checkpoints every ``every`` steps in a run folder, ``resume`` from its newest |
| :class:`ProgressBar` | a Keras progress bar; ``fit`` adds one unless ``progress=False`` |
| :class:`LambdaCallback` | a function ``(step, logs) -> bool | None`` at its own steps |

#### Examples

A callback of your own: record the steps and the logs it sees, stop at step 100.

>>> import numpy as np
>>> import tfp_flows as tff
>>> class StopAt(tff.training.Callback):
...     def __init__(self, last):
...         self.last, self.seen = last, []
...     def on_chunk_end(self, step, logs):
...         self.seen.append((step, sorted(logs)))
...         return step >= self.last
>>> data = np.random.default_rng(0).normal(size=(1000, 2))
>>> stop = StopAt(100)
>>> history = tff.fit(tff.real_nvp(2, num_layers=2, hidden_units=(8,)), data, steps=400,
...                   steps_per_execution=50, callbacks=[stop], progress=False)
>>> history.steps, stop.seen
(100, [(50, ['loss']), (100, ['loss'])])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf
from tensorflow_probability import distributions as tfd

from tfp_flows._internal.checks import check_integer
from tfp_flows.training.checkpoints import Checkpoints
from tfp_flows.training.history import History
from tfp_flows.training.losses import Loss
from tfp_flows.training.optimizers import learning_rate_scale
from tfp_flows.training.sources import Batch
from tfp_flows.training.state import restore, snapshot

__all__ = [
    "Callback",
    "Checkpointing",
    "EarlyStopping",
    "LambdaCallback",
    "ProgressBar",
    "Run",
    "Validation",
    "arrange_callbacks",
    "default_log_every",
]


@dataclass(eq=False)
class Run:
    """The training run a callback belongs to (``fit`` makes one per call).

    Attributes:
      distribution: the flow being trained.
      optimizer: its optimizer (built for the flow's variables).
      loss: the loss minimised, ``loss(distribution, batch) -> scalar``.
      steps: the step training ends at.
      history: the :class:`~tfp_flows.training.history.History` so far (a
        callback may replace it in ``on_train_begin``: :class:`Checkpointing`
        does on ``resume``); ``history.steps`` is the current step.
      validation: the validation :class:`~tfp_flows.training.sources.Batch`,
        or ``None``.
      strategy: the ``tf.distribute`` strategy, or ``None``.
      log_every: the default steps between calls of :class:`Validation` and
        :class:`LambdaCallback` (:func:`default_log_every`).
      stop_training: ``True`` once a callback asked to stop.
    """

    distribution: tfd.Distribution
    optimizer: Any
    loss: Loss
    steps: int
    history: History
    validation: Batch | None = None
    strategy: tf.distribute.Strategy | None = None
    log_every: int = 1
    stop_training: bool = False


def default_log_every(steps: int, steps_per_execution: int) -> int:
    """About 20 log points per run, each at a chunk boundary (a multiple of ``steps_per_execution``).

    #### Examples

    >>> default_log_every(5000, 100), default_log_every(300, 100), default_log_every(40, 10)
    (200, 100, 10)
    """
    return max(1, round(steps / 20 / steps_per_execution)) * steps_per_execution


class Callback:
    """Base class of ``fit``'s callbacks; every hook does nothing unless overridden.

    ``every`` is the number of steps between ``on_chunk_end`` calls (``fit``
    ends a chunk at each multiple); ``None`` calls it after every chunk. A
    callback that sets ``needs_validation = True`` is refused (before anything
    changes) when ``fit`` has no validation data. See the module docstring for
    when each hook runs.

    #### Examples

    >>> class Printer(Callback):
    ...     every = 100
    ...     def on_chunk_end(self, step, logs):
    ...         print(step, round(logs["loss"], 1))
    >>> Printer().every, Printer().on_train_end({})
    (100, None)
    """

    every: int | None = None
    needs_validation: bool = False

    def on_train_begin(self, run: Run) -> None:
        """Called once, before the adaptive layers are fitted and the first chunk runs."""

    def on_chunk_end(self, step: int, logs: dict[str, float]) -> bool | None:
        """Called after a chunk ending at ``step`` (see the module docstring); ``True`` stops."""
        return None

    def on_train_end(self, logs: dict[str, float]) -> None:
        """Called after the last chunk, when training finished or a callback stopped it."""

    def close(self) -> None:
        """Called last, however training ended (an error too): release files and locks."""


def _every(every: int | None) -> int | None:
    return None if every is None else check_integer("every", every)


class LambdaCallback(Callback):
    """Calls ``function(step, logs)`` every ``every`` steps; a ``True`` return stops training.

    ``every=None`` calls it at ``fit``'s log points (:attr:`Run.log_every`,
    about 20 per run). A plain callable in ``fit``'s ``callbacks`` is wrapped
    in one. ``logs`` is a copy: the function may keep or change it.

    #### Examples

    >>> seen = []
    >>> callback = LambdaCallback(lambda step, logs: seen.append(step), every=10)
    >>> callback.every, callback.on_chunk_end(10, {"loss": 1.0}), seen
    (10, False, [10])
    """

    def __init__(self, function: Callable[[int, dict[str, float]], Any], every: int | None = None):
        if not callable(function):
            raise TypeError(f"function must be a callable function(step, logs), got {function!r}.")
        self.function = function
        self._every = _every(every)
        self.every = self._every

    def on_train_begin(self, run: Run) -> None:
        self.every = self._every or run.log_every

    def on_chunk_end(self, step: int, logs: dict[str, float]) -> bool | None:
        return bool(self.function(step, dict(logs)))

    def __repr__(self) -> str:
        return f"LambdaCallback({self.function!r}, every={self._every})"


class Validation(Callback):
    """The validation loss of ``fit``'s validation data every ``every`` steps, as ``logs["val_loss"]``.

    ```none
    val_loss = loss(distribution, validation batch)      # the NLL in nats for maximum likelihood
    ```

    Appends ``val_steps`` / ``val_loss`` to the history and keeps
    ``best_step`` / ``best_val_loss`` (the lowest so far). Evaluates the
    rows of ``fit(..., validation_data=...)`` or ``validation_split=``
    (``BatchNorm`` layers with their moving averages), compiled once.
    ``every=None``: about 20 times per run (:attr:`Run.log_every`), and always
    at the last step. ``fit`` adds a ``Validation()`` when given validation
    data and none in ``callbacks``; give one to validate at other steps.

    #### Examples

    >>> import numpy as np
    >>> import tfp_flows as tff
    >>> data = np.random.default_rng(0).normal(size=(600, 2))
    >>> history = tff.fit(tff.real_nvp(2, num_layers=2, hidden_units=(8,)), data, steps=100,
    ...                   validation_split=0.2, callbacks=[Validation(every=25)], progress=False)
    >>> history.val_steps
    [25, 50, 75, 100]
    """

    needs_validation = True

    def __init__(self, every: int | None = None):
        self._every = _every(every)
        self.every = self._every
        self.run: Run | None = None

    def on_train_begin(self, run: Run) -> None:
        self.run, self.every = run, self._every or run.log_every
        self._evaluate = tf.function(lambda batch: run.loss(run.distribution, batch))

    def on_chunk_end(self, step: int, logs: dict[str, float]) -> None:
        history = self.run.history
        val_loss = float(self._evaluate(self.run.validation))
        history.val_steps.append(step)
        history.val_loss.append(val_loss)
        logs["val_loss"] = val_loss
        if history.best_val_loss is None or val_loss < history.best_val_loss:
            history.best_val_loss, history.best_step = val_loss, step

    def __repr__(self) -> str:
        return f"Validation(every={self._every})"


class EarlyStopping(Callback):
    """Stops training after ``patience`` validations in a row without a new best ``val_loss``.

    With ``restore_best_weights`` (the default) the flow gets the weights of
    its best validation back when training ends, stopped or not (those
    ``history.best_step`` names; after a resume, best weights are tracked from
    the resumed step on). Needs validation data (``fit``'s ``validation_data``
    or ``validation_split``); sets ``history.stopped_early`` when it stops.

    #### Examples

    >>> import numpy as np
    >>> import tfp_flows as tff
    >>> import keras
    >>> banana = tff.datasets.Banana()
    >>> train, val = banana.sample(16, seed=1).numpy(), banana.sample(2000, seed=2).numpy()
    >>> flow = tff.real_nvp(2, num_layers=4, hidden_units=(64, 64))  # overfits 16 rows
    >>> history = tff.fit(flow, train, validation_data=val, steps=3000, batch_size=16,
    ...                   optimizer=keras.optimizers.Adam(1e-2), progress=False,
    ...                   callbacks=[Validation(every=50), EarlyStopping(patience=3)])
    >>> history.stopped_early, history.steps < 3000, history.best_step < history.steps
    (True, True, True)
    >>> EarlyStopping(patience=-1)
    Traceback (most recent call last):
    ...
    ValueError: patience must be a non-negative integer, got -1.
    """

    needs_validation = True

    def __init__(self, patience: int = 0, restore_best_weights: bool = True):
        self.patience = check_integer("patience", patience, minimum=0)
        if not isinstance(restore_best_weights, (bool, np.bool_)):
            raise TypeError(
                f"restore_best_weights must be True or False, got {restore_best_weights!r}."
            )
        self.restore_best_weights = bool(restore_best_weights)

    def on_train_begin(self, run: Run) -> None:
        self.run, self.best, self.best_weights, self.bad_validations = run, None, None, 0

    def on_chunk_end(self, step: int, logs: dict[str, float]) -> bool:
        if "val_loss" not in logs:
            return False
        if self.best is None or logs["val_loss"] < self.best:
            self.best, self.bad_validations = logs["val_loss"], 0
            if self.restore_best_weights:
                self.best_weights = snapshot(self.run.distribution.variables)
            return False
        self.bad_validations += 1
        if self.bad_validations > self.patience:
            self.run.history.stopped_early = True
            return True
        return False

    def on_train_end(self, logs: dict[str, float]) -> None:
        if self.best_weights is not None:
            restore(self.run.distribution.variables, self.best_weights)

    def __repr__(self) -> str:
        return f"EarlyStopping(patience={self.patience})"


class ReduceLROnPlateau(Callback):
    """Cuts the learning rate by ``factor`` after ``patience`` validations in a row without a new best.

    ```none
    lr(t) = scale * schedule(t),    scale <- factor * scale   (while scale > min_scale)
    ```

    With ``restore_best_weights`` (the default) each cut also puts back the
    weights of the best validation so far, so the lower rate starts from
    there (the optimizer's moments stay). A run whose validation loss keeps
    improving is never cut; one that overfits or stalls early at a high rate
    continues at a lower one instead of stopping there. ``history.learning_rate_scale``
    records the scale, and a resumed run (``Checkpointing(resume=True)``)
    continues at it. Combine with :class:`EarlyStopping` of a larger
    patience. Needs validation data and an optimizer whose rate is a
    :class:`~tfp_flows.training.optimizers.ScaledSchedule` (``fit``'s default
    optimizer's is; wrap your own, ``keras.optimizers.Adam(ScaledSchedule(1e-3))``).

    #### Examples

    >>> import numpy as np
    >>> import tfp_flows as tff
    >>> banana = tff.datasets.Banana()
    >>> train, val = banana.sample(16, seed=1).numpy(), banana.sample(2000, seed=2).numpy()
    >>> flow = tff.real_nvp(2, num_layers=4, hidden_units=(64, 64))  # overfits 16 rows
    >>> history = tff.fit(flow, train, validation_data=val, steps=600, batch_size=16,
    ...                   progress=False, callbacks=[Validation(every=20), ReduceLROnPlateau(3)])
    >>> history.learning_rate_scale < 1.0
    True
    >>> ReduceLROnPlateau(patience=3, factor=1.5)
    Traceback (most recent call last):
    ...
    ValueError: ReduceLROnPlateau: factor must be in (0, 1), got 1.5.
    """

    needs_validation = True

    def __init__(
        self,
        patience: int = 10,
        factor: float = 0.3,
        min_scale: float = 0.01,
        restore_best_weights: bool = True,
    ):
        self.patience = check_integer("patience", patience, minimum=1)
        for name, value in (("factor", factor), ("min_scale", min_scale)):
            if not isinstance(value, (int, float, np.floating)) or not 0 < value < 1:
                raise ValueError(f"ReduceLROnPlateau: {name} must be in (0, 1), got {value!r}.")
        if not isinstance(restore_best_weights, (bool, np.bool_)):
            raise TypeError(
                f"restore_best_weights must be True or False, got {restore_best_weights!r}."
            )
        self.factor, self.min_scale = float(factor), float(min_scale)
        self.restore_best_weights = bool(restore_best_weights)

    def on_train_begin(self, run: Run) -> None:
        scale = learning_rate_scale(run.optimizer)
        if scale is None:
            raise ValueError(
                f"{self!r} needs an optimizer whose learning rate is a "
                "tff.training.ScaledSchedule (fit's default optimizer's is), got "
                f"{type(run.optimizer).__name__} with learning rate "
                f"{getattr(run.optimizer, '_learning_rate', None)!r}; wrap it, e.g. "
                "keras.optimizers.Adam(ScaledSchedule(1e-3))."
            )
        self.run, self.scale = run, scale
        self.best, self.best_weights, self.bad_validations = None, None, 0
        scale.assign(run.history.learning_rate_scale)  # 1, or where a resumed run was

    def on_chunk_end(self, step: int, logs: dict[str, float]) -> None:
        if "val_loss" not in logs:
            return
        if self.best is None or logs["val_loss"] < self.best:
            self.best, self.bad_validations = logs["val_loss"], 0
            if self.restore_best_weights:
                self.best_weights = snapshot(self.run.distribution.variables)
            return
        self.bad_validations += 1
        if self.bad_validations < self.patience or self.scale.numpy() <= self.min_scale * 1.000001:
            return
        if self.best_weights is not None:
            restore(self.run.distribution.variables, self.best_weights)
        self.scale.assign(self.scale * self.factor)
        self.run.history.learning_rate_scale = float(self.scale.numpy())
        self.bad_validations = 0

    def __repr__(self) -> str:
        return f"ReduceLROnPlateau(patience={self.patience}, factor={self.factor})"


class Checkpointing(Callback):
    """Checkpoints the run in ``directory`` every ``every`` steps; ``resume`` continues the newest.

    Each checkpoint holds the flow, the optimizer, the step, the history and
    ``metadata`` (JSON-able settings, e.g. the command line's), and is written
    atomically (:class:`~tfp_flows.training.checkpoints.Checkpoints`); one is
    also written at the last step and when a callback stops training. The
    folder is locked while the run writes to it. With ``resume=True`` training
    continues from the newest readable checkpoint there (from scratch if there
    is none); resuming into a different flow or metadata raises
    ``CheckpointMismatchError``, and a fresh run (``resume=False``) refuses a
    folder holding checkpoints. Under a ``tf.distribute`` strategy only the
    chief writes; a multi-worker run cannot resume yet.

    #### Examples

    >>> import tempfile
    >>> import tfp_flows as tff
    >>> folder = tempfile.mkdtemp()
    >>> data = tff.datasets.Banana()
    >>> flow = tff.real_nvp(2, num_layers=2, hidden_units=(8,))
    >>> _ = tff.fit(flow, data, steps=50, callbacks=[Checkpointing(folder, every=20)],
    ...             progress=False)
    >>> [step for step, _ in tff.training.run_folder.list_checkpoints(folder)]
    [40, 50]
    >>> again = tff.real_nvp(2, num_layers=2, hidden_units=(8,))
    >>> tff.fit(again, data, steps=80, callbacks=[Checkpointing(folder, resume=True)],
    ...         progress=False).steps
    80
    """

    def __init__(
        self,
        directory: str,
        every: int = 1000,
        resume: bool = False,
        metadata: dict[str, Any] | None = None,
    ):
        if not isinstance(directory, (str, bytes)) and not hasattr(directory, "__fspath__"):
            raise TypeError(f"directory must be a path, got {directory!r}.")
        if not isinstance(resume, (bool, np.bool_)):
            raise TypeError(f"resume must be True or False, got {resume!r}.")
        self.directory = str(directory)
        self.every = check_integer("every", every)
        self.resume = bool(resume)
        self.metadata = metadata
        self.checkpoints: Checkpoints | None = None

    def on_train_begin(self, run: Run) -> None:
        self.run = run
        strategy = run.strategy
        if strategy is not None and self.resume and _multi_worker(strategy):
            raise ValueError(
                "resume=True is not supported under a multi-worker strategy yet: only "
                "the chief writes checkpoints; resume with one worker."
            )
        if strategy is not None and not strategy.extended.should_checkpoint:
            return
        self.checkpoints = Checkpoints(
            self.directory, run.distribution, run.optimizer, metadata=self.metadata
        )
        run.history = self.checkpoints.begin(resume=self.resume)
        # A checkpoint holds the latest weights, not the best: after a resume the best
        # weights are tracked afresh, so best_step never names weights that are gone.
        run.history.best_step = run.history.best_val_loss = None

    def on_chunk_end(self, step: int, logs: dict[str, float]) -> None:
        if self.checkpoints is not None:
            self.checkpoints.save(step, self.run.history)

    def close(self) -> None:
        if self.checkpoints is not None:
            self.checkpoints.close()
            self.checkpoints = None

    def __repr__(self) -> str:
        return f"Checkpointing({self.directory!r}, every={self.every}, resume={self.resume})"


def _multi_worker(strategy: tf.distribute.Strategy) -> bool:
    """Whether ``strategy`` spans several worker processes (``MultiWorkerMirroredStrategy``)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    return resolver is not None and len(resolver.cluster_spec().as_dict().get("worker", ())) > 1


class ProgressBar(Callback):
    """A Keras progress bar over the run's steps, with ``loss`` and ``val_loss``, after every chunk.

    #### Examples

    >>> bar = ProgressBar()
    >>> bar.every is None
    True
    """

    def on_train_begin(self, run: Run) -> None:
        import keras

        self.bar = keras.utils.Progbar(run.steps, stateful_metrics=["loss", "val_loss"])

    def on_chunk_end(self, step: int, logs: dict[str, float]) -> None:
        self.bar.update(step, values=list(logs.items()))


def arrange_callbacks(
    callbacks: Sequence[Callback | Callable] | None, *, has_validation: bool, progress: bool
) -> list[Callback]:
    """``fit``'s callbacks in the order they run, each plain callable a :class:`LambdaCallback`.

    :class:`Validation` first (added when ``has_validation`` and none is
    given), then the others as given, :class:`Checkpointing`, and a
    :class:`ProgressBar` (added when ``progress`` and none is given). Refuses
    what cannot work, before anything changes: a callback that is neither a
    :class:`Callback` nor callable, two ``Validation`` or two ``Checkpointing``
    callbacks, and a callback that ``needs_validation`` without validation data.

    #### Examples

    >>> arrange_callbacks([EarlyStopping(3)], has_validation=True, progress=False)
    [Validation(every=None), EarlyStopping(patience=3)]
    >>> arrange_callbacks([EarlyStopping(3)], has_validation=False, progress=False)
    Traceback (most recent call last):
    ...
    ValueError: EarlyStopping(patience=3) needs validation data, got none; pass validation_data= or validation_split=.
    """
    callbacks = () if callbacks is None else callbacks
    if isinstance(callbacks, (str, Callback)) or not all(
        isinstance(c, Callback) or callable(c) for c in callbacks
    ):
        raise TypeError(
            "callbacks must be a sequence of callables callback(step, logs) or Callback "
            f"objects, got {callbacks!r}."
        )
    given = [c if isinstance(c, Callback) else LambdaCallback(c) for c in callbacks]
    for kind in (Validation, Checkpointing):
        if sum(isinstance(c, kind) for c in given) > 1:
            raise ValueError(f"give at most one {kind.__name__} callback, got {given!r}.")
    for callback in given:
        if callback.needs_validation and not has_validation:
            raise ValueError(
                f"{callback!r} needs validation data, got none; pass validation_data= or "
                "validation_split=."
            )
    first = [c for c in given if isinstance(c, Validation)]
    if has_validation and not first:
        first = [Validation()]
    last = [c for c in given if isinstance(c, Checkpointing)]
    if progress and not any(isinstance(c, ProgressBar) for c in given):
        last.append(ProgressBar())
    return first + [c for c in given if not isinstance(c, (Validation, Checkpointing))] + last
