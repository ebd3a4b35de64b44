"""``tfp_flows.fit``: every bad argument or input raises one error naming what was expected.

All of these fail before training starts, and the flow is left as it came (none
of its adaptive layers -- ``Standardize``, ``ActNorm`` -- adapted).
"""

import re

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfp_flows as tff
from tfp_flows.training import find_adaptive_layers


def _flow():
    return tff.real_nvp(2, num_layers=2, hidden_units=(8,), seed=0, normalization="actnorm")


def _data(n=200):
    return np.random.default_rng(0).normal([3.0, -1.0], [2.0, 0.5], size=(n, 2)).astype(np.float32)


def _assert_refused(error, message, data=None, **kwargs):
    flow = _flow()
    kwargs = {"steps": 10, "progress": False, **kwargs}
    with pytest.raises(error, match=re.escape(message)):
        tff.fit(flow, _data() if data is None else data, **kwargs)
    layers = find_adaptive_layers(flow.bijector)
    assert len(layers) == 3 and not any(layer.bijector.adapted.numpy() for layer in layers)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"steps": 10.5}, TypeError, "steps must be a positive integer, got 10.5 (float)."),
        ({"steps": 0}, ValueError, "steps must be a positive integer, got 0."),
        ({"steps": True}, TypeError, "steps must be a positive integer, got True (bool)."),
        (
            {"batch_size": 32.0},
            TypeError,
            "batch_size must be a positive integer, got 32.0 (float).",
        ),
        ({"steps": None, "epochs": 2.0}, TypeError, "epochs must be a positive integer, got 2.0"),
        (
            {"steps_per_execution": 0},
            ValueError,
            "steps_per_execution must be a positive integer, got 0.",
        ),
        (
            {"steps_per_execution": 2.5},
            TypeError,
            "steps_per_execution must be a positive integer, got 2.5 (float).",
        ),
        ({"seed": -1}, ValueError, "seed must be a non-negative integer, got -1."),
        (
            {"learning_rate": -1e-3},
            ValueError,
            "learning_rate must be a positive finite number, got -0.001.",
        ),
        (
            {"learning_rate": 0.0},
            ValueError,
            "learning_rate must be a positive finite number, got 0.0.",
        ),
        (
            {"learning_rate": float("nan")},
            ValueError,
            "learning_rate must be a positive finite number, got nan.",
        ),
        (
            {"learning_rate": True},
            TypeError,
            "learning_rate must be a positive finite number, got True (bool).",
        ),
        (
            {"validation_split": 1.0},
            ValueError,
            "validation_split must be a number in [0, 1), got 1.0.",
        ),
        (
            {"validation_split": True},
            TypeError,
            "validation_split must be a number in [0, 1), got True (bool).",
        ),
        ({"epochs": 2}, ValueError, "give steps= or epochs=, not both; got steps=10, epochs=2."),
        ({"steps": None}, ValueError, "give steps= or epochs=."),
        ({"callbacks": [1]}, TypeError, "callbacks must be a sequence of callables"),
        (
            {"callbacks": [tff.training.EarlyStopping(patience=3)]},
            ValueError,
            "EarlyStopping(patience=3) needs validation data, got none; pass validation_data= or "
            "validation_split=.",
        ),
        (
            {"callbacks": [tff.training.Validation(every=5)]},
            ValueError,
            "Validation(every=5) needs validation data, got none; pass validation_data= or "
            "validation_split=.",
        ),
        (
            {
                "validation_split": 0.2,
                "callbacks": [tff.training.Validation(), tff.training.Validation(every=5)],
            },
            ValueError,
            "give at most one Validation callback",
        ),
        (
            {"validation_split": 0.2, "validation_data": np.ones((10, 2))},
            ValueError,
            "give validation_data= or validation_split=, not both.",
        ),
        (
            {"optimizer": keras.optimizers.Adam(-1e-3)},
            ValueError,
            "the optimizer's learning rate must be a positive finite number, got -0.001",
        ),
    ],
)
def test_bad_arguments_are_named(kwargs, error, message):
    _assert_refused(error, message, **kwargs)


@pytest.mark.parametrize(
    "make, error, message",
    [
        (
            lambda: tff.training.Validation(every=0),
            ValueError,
            "every must be a positive integer, got 0.",
        ),
        (
            lambda: tff.training.Checkpointing("run", every=0),
            ValueError,
            "every must be a positive integer, got 0.",
        ),
        (
            lambda: tff.training.LambdaCallback(print, every=2.5),
            TypeError,
            "every must be a positive integer, got 2.5 (float).",
        ),
        (
            lambda: tff.training.EarlyStopping(patience=-1),
            ValueError,
            "patience must be a non-negative integer, got -1.",
        ),
        (
            lambda: tff.training.EarlyStopping(patience=3, restore_best_weights="yes"),
            TypeError,
            "restore_best_weights must be True or False, got 'yes'.",
        ),
        (
            lambda: tff.training.Checkpointing("run", resume="yes"),
            TypeError,
            "resume must be True or False, got 'yes'.",
        ),
        (
            lambda: tff.training.LambdaCallback("print"),
            TypeError,
            "function must be a callable function(step, logs), got 'print'.",
        ),
    ],
)
def test_bad_callback_settings_are_named_when_the_callback_is_made(make, error, message):
    with pytest.raises(error, match=re.escape(message)):
        make()


def _batches(values, batch=50):
    return tf.data.Dataset.from_tensor_slices(values).batch(batch)


@pytest.mark.parametrize(
    "data, kwargs, error, message",
    [
        (
            _batches(_data()),
            {"validation_split": 0.1},
            ValueError,
            "validation_split must be 0 when data is a tf.data.Dataset (it cannot be split), got 0.1; "
            "pass held-out rows as validation_data= instead.",
        ),
        (
            tff.datasets.Banana(),
            {"validation_split": 0.1},
            ValueError,
            "validation_split must be 0 when data is a target distribution",
        ),
        (
            _batches(_data()),
            {"steps": None, "epochs": 2},
            ValueError,
            "epochs= needs array data, got a tf.data.Dataset; give steps= instead.",
        ),
        (
            _batches(np.zeros((0, 2), np.float32)),
            {},
            ValueError,
            "data must yield at least one batch, got an empty tf.data.Dataset.",
        ),
        (
            _batches(_data()).filter(lambda x: False),
            {},
            ValueError,  # cardinality unknown
            "data must yield at least one batch, got an empty tf.data.Dataset.",
        ),
        (
            tf.data.Dataset.from_tensor_slices(_data()),
            {},
            ValueError,
            "data must be a tf.data.Dataset of [batch, 2] batches, got elements of shape (2,); "
            "batch it, e.g. dataset.batch(256).",
        ),
        (
            _batches(np.zeros((10, 3), np.float32)),
            {},
            ValueError,
            "got elements of shape (None, 3); each row must have 2 entries.",
        ),
        (
            _batches({"x": _data()}),
            {},
            TypeError,
            "data must be a tf.data.Dataset of dense [batch, 2] tensors, got elements of type dict",
        ),
        (
            _batches(tf.ragged.constant([[1.0, 2.0], [3.0]])),
            {},
            TypeError,
            "got elements of type RaggedTensorSpec",
        ),
        (
            _batches(tf.sparse.from_dense(_data())),
            {},
            TypeError,
            "got elements of type SparseTensorSpec; make it dense first",
        ),
        (
            _batches(np.array([["a", "b"]] * 4)),
            {},
            TypeError,
            "data must be a tf.data.Dataset of real numbers, got dtype string.",
        ),
        (
            np.array([[0.0, 1.0], [1e300, 2.0], [1.0, 1.0]]),
            {},
            ValueError,
            "data row 1 must fit in float32 (|x| <= 3.4e+38)",
        ),
        (
            _data().astype(np.complex64),
            {},
            TypeError,
            "data must be real numbers, got dtype complex64.",
        ),
        (_data() > 0, {}, TypeError, "data must be real numbers, got dtype bool."),
        (
            [[1.0, 2.0], [3.0]],
            {},
            ValueError,
            "data must be a [n, 2] array, got a nested sequence of unequal lengths",
        ),
        (
            tf.sparse.from_dense(_data()),
            {},
            TypeError,
            "data must be a dense [n, 2] array of real numbers, got a SparseTensor.",
        ),
        (
            _data(),
            {"validation_data": _batches(_data())},
            TypeError,
            "validation data must be a dense [n, 2] array of real numbers, got a",
        ),
        (
            np.c_[_data()[:, 0], np.full(200, 7.0)],
            {},
            ValueError,
            "Standardize.adapt: data column 1 must vary, got the constant 7 in all 200 rows",
        ),
        (_data(1), {}, ValueError, "Standardize.adapt: data must have at least 2 rows"),
    ],
)
def test_bad_data_is_named_and_the_flow_is_left_as_it_came(data, kwargs, error, message):
    _assert_refused(error, message, data=data, **kwargs)
