"""``FlowModel``: a Keras 3 ``Model`` that trains a flow by maximum likelihood.

```none
loss = -(1/B) sum_i log q(x_i)             (nats; the flow's negative log-likelihood)
loss = -(1/B) sum_i log q(x_i | c_i)       (a conditional flow, with a context c)
```

It makes Keras's whole training surface work for a TFP distribution: ``compile``
with any Keras 3 optimizer, ``fit`` with ``epochs``, ``batch_size``,
``validation_split`` / ``validation_data`` and callbacks (``EarlyStopping``
with ``restore_best_weights``, ``CSVLogger``, ``TensorBoard``,
``ModelCheckpoint(save_weights_only=True)``, ...), ``evaluate`` returning the
NLL, ``predict`` returning ``log_prob``, and ``save_weights`` / ``load_weights``.

Keras 3 does not see the flow's ``tf.Variable`` s on its own; this model trains
``distribution.trainable_variables`` in its own ``train_step`` and routes
``get_weights`` / ``set_weights`` / ``save_weights`` / ``load_weights`` to them.
Inputs are checked before Keras sees them (arrays row by row, datasets by
their element spec; an infinite dataset needs ``steps_per_epoch``), and a
guard in ``train_step`` stops training with
:class:`~tfp_flows.NonFiniteLossError` at the first non-finite step, keeping
the last good weights and optimizer state.
A conditional flow's context goes where Keras puts a model's second input or
its targets -- ``FlowModel`` has no targets, so a ``y`` *is* the context:
``model.fit((x, c))``, ``model.fit(x, c)``, a ``tf.data.Dataset`` of ``(x, c)``
batches, ``validation_data=(x_val, c_val)``, ``model.evaluate(x, c)`` and
``model.predict((x, c))``. ``c`` has shape ``[n, context_size]``, one row per
row of ``x``; without one, ``log_prob`` is called with no ``context`` keyword.
tf_keras (Keras 2) users train with :func:`tfp_flows.fit`, which takes tf_keras
optimizers, or write the same four-line ``train_step`` in a ``tf_keras.Model``.

#### Examples

>>> import numpy as np
>>> import keras
>>> from tfp_flows.flows import real_nvp
>>> data = np.random.default_rng(0).normal([3.0, -1.0], [2.0, 0.5], size=(512, 2))
>>> model = FlowModel(real_nvp(2, num_layers=2, hidden_units=(16,)))
>>> model.compile(optimizer=keras.optimizers.Adam(1e-2))
>>> keras.utils.set_random_seed(0)   # Keras shuffles the batches: fix its seed
>>> history = model.fit(data, epochs=3, batch_size=128, verbose=0)
>>> history.history["loss"][-1] < history.history["loss"][0]
True
>>> round(model.evaluate(data, verbose=0), 3) == round(-float(np.mean(model.predict(data, verbose=0))), 3)
True
>>> endless = tf.data.Dataset.from_tensor_slices(data).batch(128).repeat()
>>> model.fit(endless, epochs=1, verbose=0)
Traceback (most recent call last):
...
ValueError: steps_per_epoch must be a positive integer when data is an infinite tf.data.Dataset (one that repeats forever), got None; pass steps_per_epoch=..., or give the dataset an end (repeat(count)).
"""

from __future__ import annotations

import math
from typing import Any

import h5py
import keras
import numpy as np
import tensorflow as tf
from tensorflow_probability import bijectors as tfb
from tensorflow_probability import distributions as tfd

from tfp_flows._internal.checks import check_integer, check_number
from tfp_flows._internal.data_checks import (
    check_context_rows,
    check_context_spec,
    check_data,
    check_dataset,
    dataset_rows,
)
from tfp_flows.bijectors.batch_norm import BatchNorm
from tfp_flows.bijectors.walk import walk
from tfp_flows.flows.log_prob import check_takes_context, log_prob
from tfp_flows.training import preflight
from tfp_flows.training.adaptation import adapt_layers
from tfp_flows.training.loop import compile_chunk, loss_dtype, step_loop
from tfp_flows.training.losses import MaximumLikelihood
from tfp_flows.training.optimizers import default_optimizer, default_schedule, optimizer_variables
from tfp_flows.training.sources import Batch, as_batch, dataset_pairs
from tfp_flows.training.step import NonFiniteLossError, gradient_step

__all__ = ["FlowModel"]

# keras.Model.fit arguments that must be integers, with their least value.
_INTEGER_FIT_ARGUMENTS = {
    "batch_size": 1,
    "epochs": 1,
    "initial_epoch": 0,
    "steps_per_epoch": 1,
    "validation_steps": 1,
    "validation_batch_size": 1,
    "validation_freq": 1,
}

DEFAULT_BATCH_SIZE = 256  # rows per step of array data, as tff.fit
DEFAULT_STEPS_PER_EXECUTION = 100  # optimizer steps per compiled call, as tff.fit


class FlowModel(keras.Model):
    """Keras 3 model around a flow: ``call(x) = log_prob(x)``, loss = mean NLL.

    ``call((x, c)) = log_prob(x, context=c)`` for a conditional flow; see the
    module docstring for where Keras's methods take the context.

    Training stops with :class:`~tfp_flows.NonFiniteLossError` at the first
    step whose loss, gradients or updated state (weights, optimizer moments)
    are NaN or inf; that step is undone, so the flow and the optimizer keep
    their last good state.

    Args:
      distribution: the flow (any ``tfd.Distribution`` with trainable variables).
      adapt: fit the flow's adaptive layers (``Standardize``, ``ActNorm``,
        ``BatchNorm``: :func:`~tfp_flows.training.adapt_layers`) to the data of
        the first ``fit`` (an array with its context, or the first batches of a
        ``tf.data.Dataset``: at most 100 batches or 100 000 rows).
      **kwargs: passed to ``keras.Model``.
    """

    def __init__(self, distribution: tfd.Distribution, adapt: bool = True, **kwargs: Any):
        super().__init__(**kwargs)
        # Keep the TFP object out of Keras's layer tracking: it is trained explicitly.
        object.__setattr__(self, "distribution", distribution)
        object.__setattr__(self, "_flow_variables", list(distribution.trainable_variables))
        object.__setattr__(self, "_all_flow_variables", list(distribution.variables))
        object.__setattr__(self, "_guarded", [])  # (variable, backup) pairs, set by compile
        object.__setattr__(self, "_bad_step", tf.Variable(-1, dtype=tf.int64, trainable=False))
        object.__setattr__(self, "_bad_loss", tf.Variable(0.0, dtype=tf.float64, trainable=False))
        object.__setattr__(self, "_loss", MaximumLikelihood())
        object.__setattr__(self, "_chunked", None)  # the compiled loop (make_train_function)
        object.__setattr__(self, "_train_traces", 0)
        object.__setattr__(
            self, "_default", None
        )  # (optimizer, its start state), see _fresh_default
        self._adapt_on_fit = adapt
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.built = True

    @property
    def metrics(self) -> list:
        return [self.loss_tracker]

    def call(self, x: Any, training: bool = False) -> tf.Tensor:
        x, context = _pair(x, self._event_rank)
        return log_prob(self.distribution, x, context)

    def compile(self, optimizer: Any = None, **kwargs: Any) -> None:
        """``keras.Model.compile`` with ``tff.fit``'s defaults; builds the optimizer for the flow's variables.

        Args:
          optimizer: a Keras 3 optimizer (or its name). Default ``None``:
            every ``fit`` call trains with a fresh
            :func:`~tfp_flows.training.optimizers.default_optimizer` over the
            steps that call runs (Adam at 1e-2, linear warm-up, cosine decay to
            zero, ``clipnorm=1``; ``tff.fit``'s default), so its moments and
            schedule start afresh with each ``fit`` (one optimizer object put
            back to new, so a second ``fit`` reuses the compiled training
            loop). A given optimizer keeps its state from one ``fit`` to the
            next.
          **kwargs: passed to ``keras.Model.compile``, with other defaults:
            ``steps_per_execution=100`` (optimizer steps per compiled call; batch
            callbacks then run every 100 steps) and ``jit_compile="auto"``: XLA
            for a flow of vectors (``event_shape`` of rank 1), none for images,
            where XLA compiles slowly on CPU (Keras's own ``"auto"`` turns XLA
            off on every CPU). ``loss`` and ``metrics`` are not taken: the loss
            is the flow's NLL.
        """
        for name in ("loss", "metrics", "loss_weights", "weighted_metrics"):
            if kwargs.get(name) is not None:
                raise ValueError(
                    f"FlowModel's loss is the flow's negative log-likelihood; "
                    f"compile takes no {name}=, got {kwargs[name]!r}."
                )
        object.__setattr__(
            self, "_default_steps_per_execution", kwargs.get("steps_per_execution") is None
        )
        if kwargs.get("steps_per_execution") is None:
            kwargs["steps_per_execution"] = DEFAULT_STEPS_PER_EXECUTION
        kwargs["steps_per_execution"] = check_integer(
            "steps_per_execution", kwargs["steps_per_execution"]
        )
        if kwargs.get("jit_compile", "auto") == "auto":
            kwargs["jit_compile"] = preflight.default_jit_compile(self.distribution)
        object.__setattr__(self, "_compile_kwargs", kwargs)
        object.__setattr__(self, "_default_optimizer", optimizer is None)
        # the default's schedule needs the number of steps: fit builds it (see _compile_with)
        self._compile_with(self._fresh_default(1) if optimizer is None else optimizer)

    def _fresh_default(self, steps: int) -> Any:
        """The default optimizer over ``steps``, as new: one object for every ``fit``, put back to its start.

        Its schedule's ``warmup_steps`` and ``decay_steps`` are variables, set for
        ``steps`` here, and its step counter and moments go back to their
        initial values, so the compiled training loop is reused, not retraced.
        """
        fresh = default_schedule(steps)
        if self._default is None:
            schedule = default_schedule(steps)
            schedule.warmup_steps = tf.Variable(float(fresh.warmup_steps), trainable=False)
            schedule.decay_steps = tf.Variable(float(fresh.decay_steps), trainable=False)
            optimizer = default_optimizer(steps, schedule=schedule)
            optimizer.build(self._flow_variables)
            start = [tf.convert_to_tensor(v) for v in optimizer_variables(optimizer)]
            object.__setattr__(self, "_default", (optimizer, schedule, start))
            return optimizer
        optimizer, schedule, start = self._default
        schedule.warmup_steps.assign(float(fresh.warmup_steps))
        schedule.decay_steps.assign(float(fresh.decay_steps))
        for variable, value in zip(optimizer_variables(optimizer), start):
            variable.assign(value)
        return optimizer

    def _compile_with(self, optimizer: Any) -> None:
        """``keras.Model.compile`` with ``optimizer`` and the settings of the last :meth:`compile`."""
        super().compile(optimizer=optimizer, **self._compile_kwargs)
        self.optimizer.build(self._flow_variables)
        # Every flow variable (BatchNorm's moving statistics too) and the optimizer's.
        state = self._all_flow_variables + optimizer_variables(self.optimizer)
        object.__setattr__(
            self,
            "_guarded",
            [(v, tf.Variable(tf.convert_to_tensor(v), trainable=False)) for v in state],
        )

    @property
    def _event_rank(self) -> int:
        """The rank of one event of the flow: 1 for vectors, 3 for images."""
        return len(self._event)

    @property
    def _event(self) -> tuple[int, ...]:
        """The flow's event shape, ``(d,)`` or e.g. ``(8, 8, 1)``."""
        return tuple(self.distribution.event_shape.as_list())

    def _batch(self, data: Any) -> Batch:
        """Keras's ``(x,)``, ``(x, c)`` or ``((x, c),)`` as a :class:`Batch` (a ``y`` is the context)."""
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        x, context = _pair(x, self._event_rank)
        return Batch(x, y if context is None else context)

    def train_step(self, data):
        """One guarded optimizer step (:func:`~tfp_flows.training.step.gradient_step`); a step that makes anything non-finite is undone.

        ```none
        step s from state W: loss(W), grad(W) finite  ->  backup <- W;  W <- update(W)
        W, or loss(W), grad(W), not finite            ->  W <- backup;  stop (first bad s)
        ```

        ``backup`` is the last state a finite step started from (``W`` includes
        the optimizer's moments and step counter), so a state that an update
        made finite but useless (a NaN loss next) is not kept either.
        """
        batch = self._batch(data)
        step = tf.cast(self.optimizer.iterations, tf.int64) + 1  # before this update
        healthy = self._bad_step < 0

        def check_in():
            for variable, backup in self._guarded:
                backup.assign(variable)
            return tf.constant(True)

        outcome = gradient_step(
            self.distribution,
            self._loss,
            self.optimizer,
            self._flow_variables,
            batch,
            state=[variable for variable, _ in self._guarded],
            before_update=lambda finite: tf.cond(
                finite & healthy, check_in, lambda: tf.constant(False)
            ),
        )
        loss = outcome.loss

        def undo():
            for variable, backup in self._guarded:
                variable.assign(backup)
            first = self._bad_step < 0  # record the first bad step only
            self._bad_step.assign(tf.where(first, step, self._bad_step))
            self._bad_loss.assign(tf.where(first, tf.cast(loss, tf.float64), self._bad_loss))
            return tf.constant(False)

        good = tf.cond(outcome.finite & healthy, lambda: tf.constant(True), undo)
        weight = tf.where(good, tf.cast(tf.shape(batch.x)[0], loss.dtype), 0.0)
        self.loss_tracker.update_state(tf.where(good, loss, 0.0), sample_weight=weight)
        return {"loss": self.loss_tracker.result()}

    def make_train_function(self, force: bool = False) -> Any:
        """Keras's train function as ``tff.fit`` runs it: up to ``steps_per_execution`` steps in one compiled call.

        ```none
        train_function(iterator):            # called by keras.Model.fit
            batches = next k <= steps_per_execution batches of the iterator
            one compiled tf.while_loop over the stacked batches:
                backup <- W where the step's loss and gradients are finite
                W <- update(W); stop at the first step leaving anything non-finite
            a stopped loop: W <- backup (undo), recorded for _StopOnNonFinite
        ```

        Keras's own function XLA-compiles one step (with the guard's
        ``tf.cond`` s, which XLA compiles slowly) and loops it over a
        ``tf.data`` iterator; here the batches are taken on the host and the
        whole loop is one compiled function of fixed shape (``[steps_per_execution,
        batch_size, ...]``, a short execution padded), compiled once for the
        batch shape it first sees; a batch of another shape (an epoch's last,
        smaller one) runs in the same loop without XLA. The steps and the
        guard are :meth:`train_step`'s. Under a ``tf.distribute`` strategy, or
        with ``run_eagerly``, Keras's own function runs :meth:`train_step`.
        The compiled loop is kept until the optimizer or
        ``steps_per_execution`` changes (see :attr:`train_traces`).
        """
        if self.train_function is not None and not force:
            return self.train_function
        if self.run_eagerly or tf.distribute.has_strategy():
            return super().make_train_function(force)
        if self._chunked is None or not self._chunked.serves(self):
            object.__setattr__(self, "_chunked", _ChunkedSteps(self))
        self.train_function = self._chunked
        return self.train_function

    @property
    def train_traces(self) -> int:
        """How many times the compiled training loop was traced (0 before the first ``fit``).

        A second ``fit`` with the same optimizer -- or the default one -- adds
        none: its loop is compiled already.
        """
        return self._train_traces

    def test_step(self, data):
        batch = self._batch(data)
        loss = self._loss(self.distribution, batch)
        self.loss_tracker.update_state(loss, sample_weight=tf.shape(batch.x)[0])
        return {"loss": self.loss_tracker.result()}

    # -- inputs: checked before Keras sees them ----------------------------------------------

    def _checked(
        self, x: Any, what: str, steps: tuple[str, Any] | None = None, y: Any = None
    ) -> tuple[Any, Any]:
        """Checks ``x`` and its context (in ``x = (x, c)`` or ``y``); casts a dataset to the flow's dtype.

        ``steps`` is ``(name, value)`` of the argument that bounds an infinite
        dataset. Returns the checked ``(x, y)``.
        """
        event_size, dtype = self._event, self.distribution.dtype
        if isinstance(x, tf.data.Dataset):
            check_dataset(x, event_size, what)
            if (
                steps is not None
                and steps[1] is None
                and (int(x.cardinality()) == int(tf.data.INFINITE_CARDINALITY))
            ):
                raise ValueError(
                    f"{steps[0]} must be a positive integer when {what} is an infinite "
                    "tf.data.Dataset (one that repeats forever), got None; pass "
                    f"{steps[0]}=..., or give the dataset an end (repeat(count))."
                )
            spec = x.element_spec
            specs = spec if isinstance(spec, tuple) else (spec,)
            if len(specs) >= 2:
                check_context_spec(specs[1], what)
            if any(s.dtype != dtype for s in specs[:2]):  # x and the context; weights as they are

                def cast(*element):
                    cast_part = [tf.cast(part, dtype) for part in element[:2]]
                    return tuple(cast_part) + element[2:] if len(element) > 1 else cast_part[0]

                x = x.map(cast)
            return x, y
        x, context = _pair(x, self._event_rank)
        if context is not None and y is not None:
            raise ValueError(f"give the context of {what} once, as (x, context) or as y, not both.")
        if isinstance(x, (np.ndarray, list, tuple, dict, tf.SparseTensor, tf.RaggedTensor)) or (
            tf.is_tensor(x)
        ):
            x = check_data(x, event_size, dtype, what)
            if context is not None or y is not None:
                checked = check_context_rows(
                    y if context is None else context, x.shape[0], dtype, f"{what} context"
                )
                check_takes_context(self.distribution, x[:1], checked[:1])
                if context is not None:
                    return (x, checked), None
                return x, checked
        return x, y

    def fit(self, x: Any = None, y: Any = None, **kwargs: Any):
        """``keras.Model.fit`` after checking the data and adapting the flow's adaptive layers to it.

        With ``tff.fit``'s defaults where Keras's would train worse or slower:
        a model not compiled yet is compiled with :meth:`compile`'s defaults;
        without an optimizer given to ``compile``, this call trains with
        ``tff.fit``'s default optimizer, its schedule spanning the steps this
        call runs (``(epochs - initial_epoch) * steps_per_epoch``; a dataset of
        unknown length needs ``steps_per_epoch``); array data goes in batches
        of ``batch_size=256`` (Keras's default is 32). With equal steps and
        batches, the flow then trains as it does under ``tff.fit``.

        ``BatchNorm`` layers normalise by batch statistics in the training
        steps and update their moving averages; ``evaluate``, ``predict`` and
        the validation use the moving averages. A flow with ``BatchNorm``
        needs training batches of at least 2 rows (``batch_size >= 2``, and no
        last batch of 1 row).

        Raises:
          TypeError, ValueError: bad data or arguments (named), e.g. an infinite
            dataset without ``steps_per_epoch``, or ``epochs=1.5``.
          NonFiniteLossError: training became non-finite; the flow and the
            optimizer keep their state from before the bad step.
        """
        for name, minimum in _INTEGER_FIT_ARGUMENTS.items():
            if kwargs.get(name) is not None:
                kwargs[name] = check_integer(name, kwargs[name], minimum)
        if "validation_split" in kwargs:
            check_number(
                "validation_split",
                kwargs["validation_split"],
                "a number in [0, 1)",
                lambda v: 0.0 <= v < 1.0,
            )
        x, y = self._checked(x, "data", ("steps_per_epoch", kwargs.get("steps_per_epoch")), y)
        if kwargs.get("validation_data") is not None:
            validation, _ = self._checked(
                kwargs["validation_data"],
                "validation data",
                ("validation_steps", kwargs.get("validation_steps")),
            )
            kwargs["validation_data"] = validation
        rows = _rows(x, self._event_rank)
        if rows is not None and kwargs.get("batch_size") is None:
            kwargs["batch_size"] = DEFAULT_BATCH_SIZE
        self._check_batch_rows(x, rows, kwargs)
        if not self.compiled:
            self.compile()
        optimizer, recompile = self.optimizer, False
        if self._default_steps_per_execution:
            # Keras runs whole executions: never more steps per call than the epoch has
            per_call = min(DEFAULT_STEPS_PER_EXECUTION, kwargs.get("steps_per_epoch") or math.inf)
            if per_call != self._compile_kwargs["steps_per_execution"]:
                self._compile_kwargs["steps_per_execution"] = per_call
                recompile = True
        if self._default_optimizer:  # the default optimizer, as new, over this call's steps
            optimizer = self._fresh_default(self._planned_steps(x, rows, kwargs))
            recompile = recompile or optimizer is not self.optimizer
        if recompile:
            self._compile_with(optimizer)
        undo_adapt = adapt_layers(self.distribution, self._adaptation_rows(x, y))
        self._bad_step.assign(-1)
        for variable, backup in self._guarded:  # the state to fall back to on a first bad step
            backup.assign(variable)
        start = int(self.optimizer.iterations)
        callbacks = [*(kwargs.pop("callbacks", None) or []), _StopOnNonFinite(self)]
        try:
            return super().fit(x, y, callbacks=callbacks, **kwargs)
        except BaseException:
            if int(self.optimizer.iterations) == start:  # nothing trained: as it came
                undo_adapt()
            raise

    @staticmethod
    def _planned_steps(x: Any, rows: int | None, kwargs: dict[str, Any]) -> int:
        """The number of optimizer steps ``keras.Model.fit(x, **kwargs)`` will run (at most)."""
        epochs = kwargs.get("epochs", 1) - kwargs.get("initial_epoch", 0)
        per_epoch = kwargs.get("steps_per_epoch")
        if per_epoch is None and rows is not None:
            training = int(math.floor(rows * (1.0 - kwargs.get("validation_split", 0.0))))
            per_epoch = math.ceil(training / kwargs["batch_size"])
        elif per_epoch is None and isinstance(x, tf.data.Dataset):
            per_epoch = int(x.cardinality())
            per_epoch = per_epoch if per_epoch > 0 else None
        elif per_epoch is None and hasattr(x, "__len__"):  # a keras.utils.PyDataset
            per_epoch = len(x)
        if per_epoch is None:
            raise ValueError(
                "FlowModel's default optimizer decays its learning rate over the steps fit runs, "
                f"which a {type(x).__name__} of unknown length does not tell: pass "
                "steps_per_epoch=..., or compile(optimizer=...) with an optimizer of your own."
            )
        return max(1, epochs * per_epoch)

    def _check_batch_rows(self, x: Any, rows: int | None, kwargs: dict[str, Any]) -> None:
        """A flow with ``BatchNorm`` needs training batches of at least 2 rows: refuses smaller ones."""
        bijector = getattr(self.distribution, "bijector", None)  # any distribution trains
        if not isinstance(bijector, tfb.Bijector) or not any(
            isinstance(layer.bijector, BatchNorm) for layer in walk(bijector)
        ):
            return
        advice = (
            "BatchNorm normalises by the batch's mean and variance, which one row does not have"
        )
        if rows is not None:
            batch_size = kwargs["batch_size"]
            training = int(math.floor(rows * (1.0 - kwargs.get("validation_split", 0.0))))
            if batch_size < 2 or training < 2:
                raise ValueError(
                    f"batch_size must be at least 2 for a flow with BatchNorm, got batch_size="
                    f"{batch_size} and {training} training rows; {advice}."
                )
            if kwargs.get("steps_per_epoch") is None and training % batch_size == 1:
                raise ValueError(
                    f"batch_size={batch_size} leaves a last batch of 1 row of the {training} "
                    f"training rows, too few for a flow with BatchNorm ({advice}); choose a "
                    f"batch_size that does not divide {training - 1}."
                )
        elif isinstance(x, tf.data.Dataset):
            spec = x.element_spec[0] if isinstance(x.element_spec, tuple) else x.element_spec
            if spec.shape.rank and spec.shape[0] is not None and spec.shape[0] < 2:
                raise ValueError(
                    "the dataset's batches must have at least 2 rows for a flow with BatchNorm, "
                    f"got batches of {spec.shape[0]}; batch it by 2 or more, e.g. "
                    f"dataset.batch(256); {advice}."
                )

    def _adaptation_rows(self, x: Any, y: Any = None) -> Any:
        """What the adaptive layers are fitted to: ``(rows, context)`` of the array or the
        dataset's first batches, or none."""
        if not self._adapt_on_fit:
            return None
        x, context = _pair(x, self._event_rank)
        context = y if context is None else context
        if isinstance(x, np.ndarray):
            return x, None if context is None else np.asarray(context)
        if isinstance(x, tf.data.Dataset):
            event_size, dtype = self._event, self.distribution.dtype
            if isinstance(x.element_spec, tuple) and len(x.element_spec) >= 2:
                pairs = x.map(lambda x_, c, *_: (x_, c))
                return lambda: dataset_pairs(pairs, event_size, dtype)
            return lambda: dataset_rows(x, event_size, dtype)
        return None

    def evaluate(self, x: Any = None, y: Any = None, **kwargs: Any):
        """``keras.Model.evaluate`` after checking the data; returns the mean NLL (nats).

        Needs no ``compile`` call (a model not compiled yet is compiled with
        :meth:`compile`'s defaults).

        A conditional flow takes ``evaluate((x, c))`` or ``evaluate(x, c)``.
        """
        x, y = self._checked(x, "data", ("steps", kwargs.get("steps")), y)
        if not self.compiled:
            self.compile()
        return super().evaluate(x, y, **kwargs)

    def predict(self, x: Any, **kwargs: Any):
        """``keras.Model.predict`` after checking the data; returns ``log_prob`` per row.

        A conditional flow takes ``predict((x, c))``. One batch per compiled
        call, whatever ``steps_per_execution`` (Keras would trace the flow once
        per batch of an execution).
        """
        x, _ = self._checked(x, "data", ("steps", kwargs.get("steps")))
        # Keras's predict unrolls its step steps_per_execution times in one graph (to concatenate
        # the outputs): with the default 100 the flow would be traced up to 100 times.
        steps_per_execution, self.steps_per_execution = self.steps_per_execution, 1
        try:
            return super().predict(x, **kwargs)
        finally:
            self.steps_per_execution = steps_per_execution

    # -- weights: the flow's variables, not Keras's (empty) list ---------------------------

    def get_weights(self) -> list[np.ndarray]:
        return [v.numpy() for v in self._all_flow_variables]

    def set_weights(self, weights: list[np.ndarray]) -> None:
        if len(weights) != len(self._all_flow_variables):
            raise ValueError(
                f"expected {len(self._all_flow_variables)} weight arrays, got {len(weights)}."
            )
        for variable, value in zip(self._all_flow_variables, weights):
            if tuple(variable.shape) != np.shape(value):
                raise ValueError(
                    f"weight {variable.name} has shape {tuple(variable.shape)}, "
                    f"got {np.shape(value)}."
                )
            if variable.dtype.is_floating and not np.all(np.isfinite(value)):
                raise ValueError(
                    f"weight {variable.name} holds NaN or inf values; the weights "
                    "are corrupt (nothing was loaded)."
                )
        for variable, value in zip(self._all_flow_variables, weights):
            variable.assign(value)

    def save_weights(self, filepath: str, overwrite: bool = True) -> None:
        """Writes the flow's variables to an HDF5 file (``*.weights.h5``)."""
        if not str(filepath).endswith(".weights.h5"):
            raise ValueError(f"the filename must end in .weights.h5, got {filepath!r}.")
        with h5py.File(filepath, "w" if overwrite else "w-") as handle:
            for i, variable in enumerate(self._all_flow_variables):
                dataset = handle.create_dataset(f"{i:04d}", data=variable.numpy())
                dataset.attrs["name"] = variable.name

    def load_weights(self, filepath: str, **kwargs: Any) -> None:
        """Reads weights written by :meth:`save_weights` into the flow's variables.

        All or nothing: a file that is not such a weights file, holds another
        number or shape of weights, or non-finite values raises ``ValueError``
        and leaves the flow as it was.
        """
        try:
            with h5py.File(filepath, "r") as handle:
                weights = [np.asarray(handle[key][()]) for key in sorted(handle.keys())]
        except FileNotFoundError:
            raise
        except (OSError, KeyError, TypeError) as error:
            raise ValueError(
                f"{filepath!r} is not a weights file written by FlowModel.save_weights ({error})."
            ) from None
        self.set_weights(weights)


class _ChunkedSteps:
    """``FlowModel``'s train function: runs the next ``steps_per_execution`` batches in one compiled loop."""

    def __init__(self, model: FlowModel):
        self._model = model
        self._optimizer = model.optimizer
        self._guarded = model._guarded
        self._size = model.steps_per_execution
        guarded = list(model._guarded)
        state = [variable for variable, _ in guarded]
        dtype = loss_dtype(model.distribution)

        def back_up(gradients_finite):
            # a select, not a tf.cond: XLA compiles conditional assignments slowly
            for variable, backup in guarded:
                backup.assign(tf.where(gradients_finite, variable, backup))

        def one_step(batch):
            outcome = gradient_step(
                model.distribution,
                model._loss,
                model.optimizer,
                model._flow_variables,
                batch,
                state=state,
                before_update=back_up,
            )
            loss = tf.cast(outcome.loss, dtype)
            model._bad_loss.assign(tf.cast(loss, tf.float64))  # the last step's: read if bad
            return tf.where(outcome.finite, loss, tf.constant(np.nan, dtype)), outcome.finite

        def step(step_inputs):  # traced once per batch shape: counts the loop's traces
            object.__setattr__(model, "_train_traces", model._train_traces + 1)
            return one_step(as_batch(model._batch(step_inputs)))

        # the XLA loop for the first batch shape, a plain traced loop for any other (a last
        # smaller batch), so that an odd batch never compiles a second XLA loop
        self._compiled = compile_chunk(step, dtype) if model.jit_compile else None
        self._traced = tf.function(step_loop(step, dtype), reduce_retracing=True)
        self._compiled_shapes = None  # the batch shapes the XLA loop is compiled for

    def serves(self, model: FlowModel) -> bool:
        """Whether this loop trains ``model`` as it is compiled now (same optimizer, state, sizes)."""
        return (
            self._optimizer is model.optimizer
            and self._guarded is model._guarded
            and self._size == model.steps_per_execution
            and (self._compiled is not None) == bool(model.jit_compile)
        )

    def __call__(self, iterator: Any) -> dict[str, tf.Tensor]:
        batches = []
        if isinstance(iterator, (tf.data.Iterator, tf.distribute.DistributedIterator)):
            try:
                while len(batches) < self._size:
                    batches.append(next(iterator))
            except (StopIteration, tf.errors.OutOfRangeError):
                pass
        else:  # a list of batches (Keras's generic epoch iterator)
            batches = list(iterator)[: self._size]
        if not batches:
            raise StopIteration
        start = 0
        while start < len(batches):  # runs of batches of one shape
            shapes = _shapes(batches[start])
            end = start + 1
            while end < len(batches) and _shapes(batches[end]) == shapes:
                end += 1
            if not self._run(batches[start:end], shapes):
                break
            start = end
        return {"loss": self._model.loss_tracker.result()}

    def _run(self, batches: list, shapes: tuple) -> bool:
        """Trains on ``batches`` (one shape); False if a step was not finite (then undone)."""
        model = self._model
        count = len(batches)
        parts = [tf.nest.flatten(batch) for batch in batches]
        parts += [parts[-1]] * (self._size - count)  # fixed shape: the first `count` are used
        data = tf.nest.pack_sequence_as(batches[0], [tf.stack(part) for part in zip(*parts)])
        if self._compiled is not None and self._compiled_shapes is None:
            self._compiled_shapes = shapes
        function = self._compiled if shapes == self._compiled_shapes else self._traced
        before = int(model.optimizer.iterations)
        losses = np.asarray(function(data, tf.constant(count)))[:count]
        finite = np.isfinite(losses)
        good = losses[: count if finite.all() else int(np.argmin(finite))]
        if good.size:
            rows = np.full(good.shape, shapes[0][0], good.dtype)  # the rows of x
            model.loss_tracker.update_state(good, sample_weight=rows)
        if finite.all():
            return True
        for variable, backup in model._guarded:  # back to the last state a finite step began from
            variable.assign(backup)
        model._bad_step.assign(before + good.size + 1)
        return False


def _shapes(batch: Any) -> tuple:
    """The shapes of a batch's tensors, flattened: ``((rows, d), ...)``."""
    return tuple(
        tuple(tf.convert_to_tensor(part).shape.as_list()) for part in tf.nest.flatten(batch)
    )


class _StopOnNonFinite(keras.callbacks.Callback):
    """Raises :class:`NonFiniteLossError` after the batch in which ``FlowModel`` undid a step."""

    def __init__(self, model: FlowModel):
        super().__init__()
        self._flow_model = model

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        model = self._flow_model
        step = int(model._bad_step.numpy())
        if step >= 0:
            raise NonFiniteLossError(
                step, float(model._bad_loss.numpy()), kept_step=int(model.optimizer.iterations)
            )


def _rows(x: Any, event_rank: int) -> int | None:
    """The number of rows of checked array data (``x`` or ``(x, context)``), or ``None``."""
    x, _ = _pair(x, event_rank)
    return int(x.shape[0]) if isinstance(x, np.ndarray) else None


def _pair(x: Any, event_rank: int) -> tuple[Any, Any]:
    """``(x, context)`` if ``x`` is a pair whose first member is a batch of events (of rank
    ``1 + event_rank``: ``[n, d]`` rows, ``[n, h, w, c]`` images), else ``(x, None)``.

    A pair of rows (``((0.0, 1.0), (2.0, 3.0))``) has a 1-D first member and stays data.
    """
    if isinstance(x, (tuple, list)) and len(x) == 2:
        first = x[0]
        rank = first.shape.rank if tf.is_tensor(first) else np.ndim(first)
        if rank == 1 + event_rank:
            return x[0], x[1]
    return x, None
