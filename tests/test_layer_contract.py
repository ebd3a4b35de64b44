"""The bijector author's contract (``tfp_flows.bijectors.base``): weights TensorFlow can see,
copies that share them."""

import keras
import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from tfp_flows.bijectors import FlowBijector
from tfp_flows.nn import TrackedConditioner


class _ShiftByNetwork(FlowBijector):
    """y = x + net(1): a shift computed by whatever network the layer holds."""

    def __init__(self, net, name="shift_by_network"):
        parameters = dict(locals())
        super().__init__(2, parameters=parameters, name=name)
        self.net = net

    def _shift(self):
        return self.net(tf.ones([1, 1]))

    def _forward_and_ildj(self, x):
        return x + self._shift(), tf.zeros(tf.shape(x)[:-1])

    def _inverse_and_ildj(self, y):
        return y - self._shift(), tf.zeros(tf.shape(y)[:-1])


class _ListOfWeights(FlowBijector):
    """y = x * exp(a) + b, the weights kept in a list."""

    def __init__(self, name="list_of_weights"):
        parameters = dict(locals())
        super().__init__(2, parameters=parameters, name=name)
        self.weights_list = [tf.Variable(tf.zeros([2])), tf.Variable(tf.zeros([2]))]

    def _forward_and_ildj(self, x):
        log_scale, shift = self.weights_list
        ildj = -tf.reduce_sum(log_scale) * tf.ones(tf.shape(x)[:-1])
        return x * tf.exp(log_scale) + shift, ildj

    def _inverse_and_ildj(self, y):
        log_scale, shift = self.weights_list
        ildj = -tf.reduce_sum(log_scale) * tf.ones(tf.shape(y)[:-1])
        return (y - shift) * tf.exp(-log_scale), ildj


def _dense(units):
    layer = keras.layers.Dense(units, kernel_initializer="zeros", bias_initializer="ones")
    layer.build((None, 1))
    return layer


@pytest.mark.parametrize(
    "holder", [lambda d: d, lambda d: [d], lambda d: {"net": d}], ids=["attribute", "list", "dict"]
)
def test_a_keras3_layer_held_by_a_layer_is_refused_naming_the_wrapper(holder):
    """Its variables are invisible to tf.Module: no training, no checkpoint, stale caches."""
    with pytest.raises(TypeError, match=r"Keras 3 Dense .*TrackedConditioner"):
        _ShiftByNetwork(holder(_dense(2)))


def test_a_wrapped_keras3_layer_is_tracked_and_its_updates_are_seen():
    dense = _dense(2)
    layer = _ShiftByNetwork(TrackedConditioner(dense, input_size=1, output_size=2))
    assert len(layer.trainable_variables) == 2
    y = tf.constant([[17.0, 18.0]])
    np.testing.assert_array_equal(layer.inverse(y), [[16.0, 17.0]])
    dense.bias.assign([15.0, 15.0])
    np.testing.assert_array_equal(layer.inverse(y), [[2.0, 3.0]])  # not the cached [[16, 17]]


def test_a_tf_keras_layer_needs_no_wrapper():
    dense = tf_keras.layers.Dense(2, kernel_initializer="zeros", bias_initializer="ones")
    dense.build((None, 1))
    layer = _ShiftByNetwork(dense)
    assert len(layer.trainable_variables) == 2


def test_copy_shares_weights_kept_in_a_list():
    layer = _ListOfWeights()
    copied = layer.copy(name="copied")
    for variable in layer.trainable_variables:
        variable.assign_add(tf.ones_like(variable))
    x = tf.constant([[1.0, 1.0]])
    np.testing.assert_array_equal(copied.forward(x), layer.forward(tf.identity(x)))
    assert {id(v) for v in copied.trainable_variables} == {id(v) for v in layer.trainable_variables}


def _every_public_layer_class():
    import tfp_flows.bijectors as bijectors

    classes = (getattr(bijectors, name) for name in bijectors.__all__)
    return sorted(
        (c for c in classes if isinstance(c, type) and issubclass(c, FlowBijector)),
        key=lambda c: c.__name__,
    )


@pytest.mark.parametrize("cls", _every_public_layer_class(), ids=lambda c: c.__name__)
def test_every_layer_takes_validate_args_as_tfp_bijectors_do(cls):
    import inspect

    assert "validate_args" in inspect.signature(cls.__init__).parameters


def test_validate_args_makes_a_layer_refuse_non_finite_inputs():
    from tfp_flows.bijectors import LULinear, Standardize

    for layer in (LULinear(2, validate_args=True), Standardize(2, validate_args=True)):
        assert layer.validate_args
        with pytest.raises(tf.errors.InvalidArgumentError, match="must be finite"):
            layer.forward(tf.constant([[np.nan, 0.0]]))
        assert layer.copy(validate_args=False).validate_args is False
