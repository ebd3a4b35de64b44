"""``FlowModel``: a Keras 3 ``Model`` that trains a flow by maximum likelihood.

```none
loss = -(1/B) sum_i log q(x_i)        (nats; the flow's negative log-likelihood)
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
tf_keras (Keras 2) users train with :func:`tfp_flows.fit`, which takes tf_keras
optimizers, or write the same four-line ``train_step`` in a ``tf_keras.Model``.

#### Examples

>>> import numpy as np
>>> import keras
>>> from tfp_flows.flows import real_nvp
>>> data = np.random.default_rng(0).normal([3.0, -1.0], [2.0, 0.5], size=(512, 2))
>>> model = FlowModel(real_nvp(2, num_layers=2, hidden_units=(16,)))
>>> model.compile(optimizer=keras.optimizers.Adam(1e-2))
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

from typing import Any

import h5py
import keras
import numpy as np
import tensorflow as tf
from tensorflow_probability import distributions as tfd

from tfp_flows.checks import check_integer, check_number
from tfp_flows.data_checks import check_data, check_dataset, dataset_rows
from tfp_flows.training import NonFiniteLossError, _adapt, _all_finite, _optimizer_variables

__all__ = ["FlowModel"]

# keras.Model.fit arguments that must be integers, with their least value.
_INTEGER_FIT_ARGUMENTS = {"batch_size": 1, "epochs": 1, "initial_epoch": 0, "steps_per_epoch": 1,
                          "validation_steps": 1, "validation_batch_size": 1, "validation_freq": 1}


class FlowModel(keras.Model):
    """Keras 3 model around a flow: ``call(x) = log_prob(x)``, loss = mean NLL.

    Training stops with :class:`~tfp_flows.NonFiniteLossError` at the first
    step whose loss, gradients or updated state (weights, optimizer moments)
    are NaN or inf; that step is undone, so the flow and the optimizer keep
    their last good state.

    Args:
      distribution: the flow (any ``tfd.Distribution`` with trainable variables).
      adapt: fit the flow's ``Standardize`` layer to the data of the first ``fit``
        (an array, or the first batches of a ``tf.data.Dataset``: at most 100
        batches or 100 000 rows).
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
        self._adapt_on_fit = adapt
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.built = True

    @property
    def metrics(self) -> list:
        return [self.loss_tracker]

    def call(self, x: tf.Tensor, training: bool = False) -> tf.Tensor:
        return self.distribution.log_prob(x)

    def compile(self, optimizer: Any = "adam", **kwargs: Any) -> None:
        """``keras.Model.compile``; also builds the optimizer for the flow's variables."""
        if "steps_per_execution" in kwargs:
            check_integer("steps_per_execution", kwargs["steps_per_execution"])
        super().compile(optimizer=optimizer, **kwargs)
        self.optimizer.build(self._flow_variables)
        state = self._flow_variables + _optimizer_variables(self.optimizer)
        object.__setattr__(self, "_guarded", [
            (v, tf.Variable(tf.convert_to_tensor(v), trainable=False)) for v in state])

    @staticmethod
    def _x(data):
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        return x

    def train_step(self, data):
        """One guarded optimizer step; a step that makes anything non-finite is undone.

        ```none
        step s from state W: loss(W), grad(W) finite  ->  backup <- W;  W <- update(W)
        W, or loss(W), grad(W), not finite            ->  W <- backup;  stop (first bad s)
        ```

        ``backup`` is the last state a finite step started from (``W`` includes
        the optimizer's moments and step counter), so a state that an update
        made finite but useless (a NaN loss next) is not kept either.
        """
        x = self._x(data)
        step = tf.cast(self.optimizer.iterations, tf.int64) + 1  # before this update
        with tf.GradientTape() as tape:
            loss = -tf.reduce_mean(self.distribution.log_prob(x))
        gradients = tape.gradient(loss, self._flow_variables)
        started_well = _all_finite([loss, *gradients]) & (self._bad_step < 0)

        def check_in():
            for variable, backup in self._guarded:
                backup.assign(variable)
            return tf.constant(True)

        tf.cond(started_well, check_in, lambda: tf.constant(False))
        self.optimizer.apply_gradients(zip(gradients, self._flow_variables))
        good = started_well & _all_finite([variable for variable, _ in self._guarded])

        def undo():
            for variable, backup in self._guarded:
                variable.assign(backup)
            first = self._bad_step < 0  # record the first bad step only
            self._bad_step.assign(tf.where(first, step, self._bad_step))
            self._bad_loss.assign(tf.where(first, tf.cast(loss, tf.float64), self._bad_loss))
            return tf.constant(False)

        good = tf.cond(good, lambda: tf.constant(True), undo)
        weight = tf.where(good, tf.cast(tf.shape(x)[0], loss.dtype), 0.0)
        self.loss_tracker.update_state(tf.where(good, loss, 0.0), sample_weight=weight)
        return {"loss": self.loss_tracker.result()}

    def test_step(self, data):
        x = self._x(data)
        loss = -tf.reduce_mean(self.distribution.log_prob(x))
        self.loss_tracker.update_state(loss, sample_weight=tf.shape(x)[0])
        return {"loss": self.loss_tracker.result()}

    # -- inputs: checked before Keras sees them ----------------------------------------------

    def _checked(self, x: Any, what: str, steps: tuple[str, Any] | None = None) -> Any:
        """Checks arrays and datasets; casts a dataset to the flow's dtype.

        ``steps`` is ``(name, value)`` of the argument that bounds an infinite dataset.
        """
        event_size, dtype = int(self.distribution.event_shape[-1]), self.distribution.dtype
        if isinstance(x, tf.data.Dataset):
            check_dataset(x, event_size, what)
            if steps is not None and steps[1] is None and (
                    int(x.cardinality()) == int(tf.data.INFINITE_CARDINALITY)):
                raise ValueError(
                    f"{steps[0]} must be a positive integer when {what} is an infinite "
                    "tf.data.Dataset (one that repeats forever), got None; pass "
                    f"{steps[0]}=..., or give the dataset an end (repeat(count)).")
            spec = x.element_spec
            if (spec[0] if isinstance(spec, tuple) else spec).dtype != dtype:
                x = x.map(lambda first, *rest: (tf.cast(first, dtype), *rest) if rest
                          else tf.cast(first, dtype))
            return x
        if isinstance(x, (np.ndarray, list, tuple, dict, tf.SparseTensor, tf.RaggedTensor)) or (
                tf.is_tensor(x)):
            return check_data(x, event_size, dtype, what)
        return x

    def fit(self, x: Any = None, y: Any = None, **kwargs: Any):
        """``keras.Model.fit`` after checking the data and adapting ``Standardize`` to it.

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
            check_number("validation_split", kwargs["validation_split"], "a number in [0, 1)",
                         lambda v: 0.0 <= v < 1.0)
        x = self._checked(x, "data", ("steps_per_epoch", kwargs.get("steps_per_epoch")))
        if kwargs.get("validation_data") is not None:
            kwargs["validation_data"] = self._checked(
                kwargs["validation_data"], "validation data",
                ("validation_steps", kwargs.get("validation_steps")))
        if not self._guarded:
            raise ValueError("FlowModel.fit needs a compiled model, got none: call "
                             "model.compile(optimizer=...) first.")
        undo_adapt = _adapt(self.distribution, self._adaptation_rows(x))
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

    def _adaptation_rows(self, x: Any) -> Any:
        """What ``Standardize`` is fitted to: the array, the dataset's first batches, or none."""
        if not self._adapt_on_fit:
            return None
        if isinstance(x, np.ndarray):
            return x
        if isinstance(x, tf.data.Dataset):
            event_size, dtype = int(self.distribution.event_shape[-1]), self.distribution.dtype
            return lambda: dataset_rows(x, event_size, dtype)
        return None

    def evaluate(self, x: Any = None, y: Any = None, **kwargs: Any):
        """``keras.Model.evaluate`` after checking the data; returns the mean NLL (nats)."""
        return super().evaluate(self._checked(x, "data", ("steps", kwargs.get("steps"))), y,
                                **kwargs)

    def predict(self, x: Any, **kwargs: Any):
        """``keras.Model.predict`` after checking the data; returns ``log_prob`` per row."""
        return super().predict(self._checked(x, "data", ("steps", kwargs.get("steps"))),
                               **kwargs)

    # -- weights: the flow's variables, not Keras's (empty) list ---------------------------

    def get_weights(self) -> list[np.ndarray]:
        return [v.numpy() for v in self._all_flow_variables]

    def set_weights(self, weights: list[np.ndarray]) -> None:
        if len(weights) != len(self._all_flow_variables):
            raise ValueError(f"expected {len(self._all_flow_variables)} weight arrays, "
                             f"got {len(weights)}.")
        for variable, value in zip(self._all_flow_variables, weights):
            if tuple(variable.shape) != np.shape(value):
                raise ValueError(f"weight {variable.name} has shape {tuple(variable.shape)}, "
                                 f"got {np.shape(value)}.")
            if variable.dtype.is_floating and not np.all(np.isfinite(value)):
                raise ValueError(f"weight {variable.name} holds NaN or inf values; the weights "
                                 "are corrupt (nothing was loaded).")
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
            raise ValueError(f"{filepath!r} is not a weights file written by "
                             f"FlowModel.save_weights ({error}).") from None
        self.set_weights(weights)


class _StopOnNonFinite(keras.callbacks.Callback):
    """Raises :class:`NonFiniteLossError` after the batch in which ``FlowModel`` undid a step."""

    def __init__(self, model: FlowModel):
        super().__init__()
        self._flow_model = model

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        model = self._flow_model
        step = int(model._bad_step.numpy())
        if step >= 0:
            raise NonFiniteLossError(step, float(model._bad_loss.numpy()),
                                     kept_step=int(model.optimizer.iterations))
