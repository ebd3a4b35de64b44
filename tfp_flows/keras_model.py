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
"""

from __future__ import annotations

from typing import Any

import h5py
import keras
import numpy as np
import tensorflow as tf
from tensorflow_probability import distributions as tfd

from tfp_flows.training import _adapt, check_data

__all__ = ["FlowModel"]


class FlowModel(keras.Model):
    """Keras 3 model around a flow: ``call(x) = log_prob(x)``, loss = mean NLL.

    Args:
      distribution: the flow (any ``tfd.Distribution`` with trainable variables).
      adapt: fit the flow's ``Standardize`` layer to the data of the first ``fit``.
      **kwargs: passed to ``keras.Model``.
    """

    def __init__(self, distribution: tfd.Distribution, adapt: bool = True, **kwargs: Any):
        super().__init__(**kwargs)
        # Keep the TFP object out of Keras's layer tracking: it is trained explicitly.
        object.__setattr__(self, "distribution", distribution)
        object.__setattr__(self, "_flow_variables", list(distribution.trainable_variables))
        object.__setattr__(self, "_all_flow_variables", list(distribution.variables))
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
        super().compile(optimizer=optimizer, **kwargs)
        self.optimizer.build(self._flow_variables)

    @staticmethod
    def _x(data):
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        return x

    def train_step(self, data):
        x = self._x(data)
        with tf.GradientTape() as tape:
            loss = -tf.reduce_mean(self.distribution.log_prob(x))
        gradients = tape.gradient(loss, self._flow_variables)
        self.optimizer.apply_gradients(zip(gradients, self._flow_variables))
        self.loss_tracker.update_state(loss, sample_weight=tf.shape(x)[0])
        return {"loss": self.loss_tracker.result()}

    def test_step(self, data):
        x = self._x(data)
        loss = -tf.reduce_mean(self.distribution.log_prob(x))
        self.loss_tracker.update_state(loss, sample_weight=tf.shape(x)[0])
        return {"loss": self.loss_tracker.result()}

    def _checked(self, x: Any, what: str) -> Any:
        if isinstance(x, (np.ndarray, list)) or tf.is_tensor(x):
            return check_data(x, int(self.distribution.event_shape[-1]),
                              self.distribution.dtype, what)
        return x

    def fit(self, x: Any = None, y: Any = None, **kwargs: Any):
        """``keras.Model.fit`` after checking the data and adapting ``Standardize`` to it."""
        x = self._checked(x, "data")
        if kwargs.get("validation_data") is not None:
            kwargs["validation_data"] = self._checked(kwargs["validation_data"], "validation data")
        if self._adapt_on_fit and isinstance(x, np.ndarray):
            _adapt(self.distribution, x)
        return super().fit(x, y, **kwargs)

    def evaluate(self, x: Any = None, y: Any = None, **kwargs: Any):
        """``keras.Model.evaluate`` after checking the data; returns the mean NLL (nats)."""
        return super().evaluate(self._checked(x, "data"), y, **kwargs)

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
        """Reads weights written by :meth:`save_weights` into the flow's variables."""
        with h5py.File(filepath, "r") as handle:
            self.set_weights([handle[key][()] for key in sorted(handle.keys())])
