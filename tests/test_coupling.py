"""Behaviour of the coupling bijectors inside TFP: caching, shapes, dtypes, errors, composition."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

import tfp_flows as tff
from tfp_flows import testing
from tfp_flows.bijectors import (
    AdditiveCoupling,
    AffineCoupling,
    alternating_mask,
    checkerboard_mask,
    random_mask,
    validate_mask,
)
from tfp_flows.nn import MLPFactory

tfd, tfb = tfp.distributions, tfp.bijectors


def _count_conditioner_calls(layer, monkeypatch):
    calls = []
    conditioner = layer.conditioner
    original = type(conditioner).__call__

    def counting(self, x, context=None):
        if self is conditioner:
            calls.append(1)
        return original(self, x, context)

    monkeypatch.setattr(type(conditioner), "__call__", counting)
    return calls


# -- masks -----------------------------------------------------------------------------------


def test_mask_helpers_cover_every_entry_across_a_flip():
    for n in (2, 3, 8):
        assert np.all(alternating_mask(n) + alternating_mask(n, flip=True) == 1)
    board = checkerboard_mask((4, 4))
    assert board.sum() == 8 and board.reshape(4, 4)[0, 0] == 1 and board.reshape(4, 4)[0, 1] == 0
    assert random_mask(9, seed=3).sum() == 4
    assert np.array_equal(random_mask(9, seed=3), random_mask(9, seed=3))


@pytest.mark.parametrize(
    "mask, message",
    [
        ([1, 1, 1], "no transformed entries"),
        ([0, 0], "no conditioning entries"),
        ([1, 2], "only 0 and 1"),
        (np.array(1), "rank >= 1"),
    ],
)
def test_bad_masks_raise_value_error_saying_what_is_wrong(mask, message):
    with pytest.raises(ValueError, match=message):
        AffineCoupling(mask)


def test_mask_of_wrong_length_names_both_lengths():
    with pytest.raises(ValueError, match="3 entries but the event size is 4"):
        validate_mask([1, 0, 1], event_size=4)


# -- one conditioner pass per log_prob --------------------------------------------------------


@pytest.mark.parametrize("mode", ["eager", "function", "xla"])
def test_conditioner_runs_once_per_log_prob(mode, monkeypatch):
    layer = AffineCoupling(2, MLPFactory(seed=0))
    flow = tff.Flow(tfd.MultivariateNormalDiag(tf.zeros(2)), layer)
    calls = _count_conditioner_calls(layer, monkeypatch)
    log_prob = {
        "eager": flow.log_prob,
        "function": tf.function(flow.log_prob),
        "xla": tf.function(flow.log_prob, jit_compile=True),
    }[mode]
    log_prob(tf.ones([4, 2]))
    assert len(calls) == 1


def test_every_layer_of_a_chain_runs_once_per_log_prob(monkeypatch):
    flow = tff.real_nvp(3, num_layers=4, hidden_units=(8,))
    layers = [b for b in flow.bijector.bijectors if isinstance(b, AffineCoupling)]
    counters = [_count_conditioner_calls(layer, monkeypatch) for layer in layers]
    tf.function(flow.log_prob)(tf.ones([5, 3]))
    assert [len(c) for c in counters] == [1, 1, 1, 1]


# -- no stale results --------------------------------------------------------------------------


def test_log_prob_after_a_weight_change_equals_a_fresh_copy():
    flow = tff.real_nvp(2, num_layers=2, hidden_units=(8,))
    x = tf.random.stateless_normal([16, 2], seed=[0, 1])
    before = flow.log_prob(x)
    testing.perturb_weights(flow, scale=0.3)
    after_same_tensor = flow.log_prob(x)
    after_fresh_copy = flow.log_prob(tf.identity(x))
    np.testing.assert_array_equal(after_same_tensor, after_fresh_copy)
    assert np.max(np.abs(after_same_tensor - before)) > 1e-3


@pytest.mark.slow
def test_eager_full_batch_loop_on_one_tensor_trains_the_true_nll():
    data = tf.constant(
        np.random.default_rng(0).normal([3.0, -1.0], [0.5, 2.0], size=(256, 2)), tf.float32
    )
    flow = tff.real_nvp(2, num_layers=2, hidden_units=(16,), standardize=False)
    optimizer = tf.keras.optimizers.Adam(1e-2)
    for _ in range(30):
        with tf.GradientTape() as tape:
            loss = -tf.reduce_mean(flow.log_prob(data))  # the same tensor every step
        grads = tape.gradient(loss, flow.trainable_variables)
        optimizer.apply_gradients(zip(grads, flow.trainable_variables))
    reported = -tf.reduce_mean(flow.log_prob(data))
    true_nll = -tf.reduce_mean(flow.log_prob(tf.constant(data.numpy())))
    np.testing.assert_allclose(reported, true_nll, rtol=0, atol=1e-6)
    assert all(g is not None for g in grads)


# -- shapes, dtypes, modes ----------------------------------------------------------------------


@pytest.mark.parametrize("batch_shape", [[], [5], [2, 3]])
def test_any_batch_shape_in_front_of_the_event(batch_shape):
    flow = tff.real_nvp(3, num_layers=2, hidden_units=(8,))
    testing.perturb_weights(flow)
    x = tf.random.stateless_normal(batch_shape + [3], seed=[2, 2])
    assert flow.log_prob(x).shape == batch_shape
    assert flow.sample(batch_shape, seed=1).shape == batch_shape + [3]
    flat = flow.log_prob(tf.reshape(x, [-1, 3]))
    np.testing.assert_allclose(tf.reshape(flow.log_prob(x), [-1]), flat, rtol=1e-6)


def test_float64_flow_computes_in_float64():
    flow = tff.real_nvp(3, num_layers=2, hidden_units=(8,), dtype=tf.float64)
    assert flow.dtype == tf.float64
    assert all(v.dtype == tf.float64 for v in flow.trainable_variables)
    assert flow.log_prob(tf.zeros([2, 3], tf.float64)).dtype == tf.float64


@pytest.mark.slow
def test_eager_function_and_xla_give_the_same_log_prob():
    flow = tff.real_nvp(5, num_layers=4, hidden_units=(16,), dtype=tf.float64)
    testing.perturb_weights(flow, scale=0.1)
    x = tf.random.stateless_normal([64, 5], seed=[4, 4], dtype=tf.float64)
    eager = flow.log_prob(tf.identity(x))
    graph = tf.function(flow.log_prob)(tf.identity(x))
    xla = tf.function(flow.log_prob, jit_compile=True)(tf.identity(x))
    np.testing.assert_allclose(graph, eager, atol=1e-12)
    np.testing.assert_allclose(xla, eager, atol=1e-10)


# -- bad input ----------------------------------------------------------------------------------


def test_wrong_event_size_names_both_sizes():
    flow = tff.real_nvp(3, num_layers=2, hidden_units=(8,))
    with pytest.raises(ValueError, match=r"event shape \[3\], got shape \[4, 5\]"):
        flow.log_prob(tf.zeros([4, 5]))


def test_float64_data_into_a_float32_flow_names_both_dtypes():
    layer = AffineCoupling(2)
    with pytest.raises(TypeError, match="dtype float32, got float64"):
        layer.inverse(tf.zeros([1, 2], tf.float64))
    with pytest.raises(TypeError, match="dtype float32, got float64"):
        layer.forward_log_det_jacobian(tf.zeros([1, 2], tf.float64), 1)


def test_validate_args_rejects_non_finite_input():
    flow = tff.real_nvp(2, num_layers=2, hidden_units=(8,), validate_args=True)
    with pytest.raises(tf.errors.InvalidArgumentError, match="must be finite"):
        flow.log_prob(tf.constant([[0.0, np.nan]]))


def test_conditioner_with_wrong_output_size_is_explained():
    with pytest.raises(ValueError, match=r"outputs of shape \[batch, 2\], got shape \[3, 3\]"):
        AffineCoupling(2, tf.keras.layers.Dense(3))


def test_conditioner_with_wrong_dtype_is_explained():
    with pytest.raises(TypeError, match="must return a float64 tensor .* got float32"):
        AffineCoupling(2, tf.keras.layers.Dense(2), dtype=tf.float64)


# -- composition with TFP --------------------------------------------------------------------------


def test_default_names_are_unique_and_chain_routes_kwargs_by_name():
    a, b = AffineCoupling(2), AffineCoupling(2)
    assert a.name != b.name
    chain = tfb.Chain([a, b])
    x = tf.ones([3, 2])
    np.testing.assert_array_equal(chain.forward(x, **{a.name: {}}), chain.forward(x))


def test_invert_swaps_directions():
    layer = AffineCoupling(3, MLPFactory(seed=0))
    testing.perturb_weights(layer)
    x = tf.random.stateless_normal([8, 3], seed=[5, 5])
    inverted = tfb.Invert(layer)
    np.testing.assert_allclose(inverted.forward(x), layer.inverse(tf.identity(x)), atol=1e-6)
    np.testing.assert_allclose(
        inverted.forward_log_det_jacobian(x, 1),
        layer.inverse_log_det_jacobian(tf.identity(x), 1),
        atol=1e-6,
    )


def test_flow_inside_a_joint_distribution():
    flow = tff.real_nvp(2, num_layers=2, hidden_units=(8,))
    testing.perturb_weights(flow)
    joint = tfd.JointDistributionSequential(
        [
            flow,
            lambda theta: tfd.Normal(loc=tf.reduce_sum(theta, axis=-1), scale=1.0),
        ]
    )
    x, y = joint.sample(6, seed=0)
    expected = flow.log_prob(tf.identity(x)) + tfd.Normal(tf.reduce_sum(x, -1), 1.0).log_prob(y)
    np.testing.assert_allclose(joint.log_prob([x, y]), expected, rtol=1e-5)


def test_additive_coupling_is_volume_preserving():
    layer = AdditiveCoupling(4, MLPFactory(seed=0))
    testing.perturb_weights(layer)
    x = tf.random.stateless_normal([3, 4], seed=[6, 6])
    assert not layer.is_constant_jacobian  # det J = 1, but J depends on x: not affine
    assert not np.allclose(layer.forward(x), x)
    np.testing.assert_array_equal(layer.forward_log_det_jacobian(x, 1), np.zeros(3))
