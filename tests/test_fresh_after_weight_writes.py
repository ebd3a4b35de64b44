"""Every way of writing a variable makes the next call fresh: nothing is cached.

Each test computes ``inverse(x)``, writes the weights, and compares ``inverse(x)`` of the
same tensor with the inverse of a fresh copy of ``x`` (which no cache could have seen).
"""

import copy
import tempfile

import keras
import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import tfp_flows as tff
from tfp_flows import testing
from tfp_flows.bijectors import AffineCoupling
from tfp_flows.nn import MLPFactory

MASK = [1, 1, 0, 0]


def _keras3_coupling():
    network = keras.Sequential(
        [
            keras.layers.Dense(
                8, activation="tanh", kernel_initializer=keras.initializers.GlorotUniform(0)
            ),
            keras.layers.Dense(4, kernel_initializer=keras.initializers.GlorotUniform(1)),
        ]
    )
    return AffineCoupling(MASK, conditioner=network), network


def _gradients(layer):
    return [tf.ones_like(v) for v in layer.trainable_variables]


def _apply(optimizer):
    def write(layer, _):
        optimizer.apply_gradients(zip(_gradients(layer), layer.trainable_variables))

    return write


def _compiled_adam(jit_compile):
    compiled = {}

    def write(layer, _):
        if id(layer) not in compiled:
            optimizer = keras.optimizers.Adam(0.1)
            optimizer.build(layer.trainable_variables)
            compiled[id(layer)] = tf.function(
                lambda: optimizer.apply_gradients(
                    zip(_gradients(layer), layer.trainable_variables)
                ),
                jit_compile=jit_compile,
            )
        compiled[id(layer)]()

    return write


def _restore_checkpoint(layer, folder):
    moved = copy.deepcopy(layer)  # the same structure, other values
    for variable in moved.variables:
        variable.assign(variable + 0.25)
    path = tf.train.Checkpoint(layer=moved).write(f"{folder}/ckpt")
    tf.train.Checkpoint(layer=layer).read(path).assert_consumed()


def _scatter(layer, _):
    variable = layer.trainable_variables[0]
    first = [0] * len(variable.shape)
    variable.scatter_nd_update([first], [tf.reshape(variable, [-1])[0] + 1.0])


X = tf.constant([[0.5, -1.0, 2.0, 0.3], [1.5, 0.2, -0.7, 1.1]])

WRITES = {
    "assign": lambda layer, _: [v.assign(v + 0.25) for v in layer.trainable_variables],
    "assign_add": lambda layer, _: [
        v.assign_add(tf.fill(v.shape, 0.25)) for v in layer.trainable_variables
    ],
    "scatter_nd_update": _scatter,
    "keras3_adam": _apply(keras.optimizers.Adam(0.1)),
    "tf_keras_adam": _apply(tf_keras.optimizers.Adam(0.1)),
    "tf_keras_legacy_momentum": _apply(tf_keras.optimizers.legacy.SGD(0.1, momentum=0.9)),
    "tf_function_adam": _compiled_adam(jit_compile=False),
    "xla_adam": _compiled_adam(jit_compile=True),
    "checkpoint_restore": _restore_checkpoint,
}


@pytest.mark.parametrize("write", list(WRITES))
def test_every_way_of_writing_a_variable_makes_the_next_eager_call_fresh(write):
    layer = AffineCoupling(MASK, MLPFactory(hidden_units=(8,), seed=0))
    testing.perturb_weights(layer)
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(2):  # twice: the second write starts from weights already used once
            before = layer.inverse(X)
            WRITES[write](layer, folder)
            after = layer.inverse(X)
            assert not np.allclose(after, before)
            np.testing.assert_allclose(after, layer.inverse(tf.identity(X)), rtol=1e-6)


def test_set_weights_of_a_keras3_conditioner_makes_the_next_eager_call_fresh():
    layer, network = _keras3_coupling()
    before = layer.inverse(X)
    network.set_weights([w + 0.3 for w in network.get_weights()])
    after = layer.inverse(X)
    assert not np.allclose(after, before)
    np.testing.assert_allclose(after, layer.inverse(tf.identity(X)), rtol=1e-6)


def test_a_variable_written_in_a_compiled_training_loop_is_seen_by_the_next_eager_call():
    flow = tff.real_nvp(4, num_layers=2, hidden_units=(8,), seed=0)
    before = flow.log_prob(X)
    tff.fit(
        flow,
        np.random.default_rng(0).normal(size=[64, 4]).astype(np.float32),
        steps=3,
        batch_size=16,
        steps_per_execution=3,
        progress=False,
    )
    after = flow.log_prob(X)
    assert not np.allclose(after, before)
    np.testing.assert_allclose(after, flow.log_prob(tf.identity(X)), rtol=1e-6)


def test_each_log_prob_runs_the_conditioner_once_and_a_new_call_runs_it_again(monkeypatch):
    flow = tff.real_nvp(4, num_layers=1, hidden_units=(8,), mixing=None, seed=0)
    layer = flow.bijector.bijectors[-1]
    calls = []
    original = type(layer.conditioner).__call__
    monkeypatch.setattr(
        type(layer.conditioner),
        "__call__",
        lambda self, *args: calls.append(1) or original(self, *args),
    )
    with tf.GradientTape():
        flow.log_prob(X)  # the value and the log-det from one conditioner pass
    assert len(calls) == 1
    flow.log_prob(X)
    assert len(calls) == 2  # a new call: nothing reused
