"""The conditioner protocol: any network with declared sizes (or adapted) computes a layer's
parameters; autoregressive layers take only networks declared, and checked, autoregressive."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from bijector_registry import Keras3Conditioner, LinearAutoregressive, keras3_masked_network

import tfp_flows as tff
from tfp_flows.bijectors import (
    AffineCoupling,
    MaskedAutoregressive,
    alternating_mask,
    checkerboard_mask,
)
from tfp_flows.bijectors.transformers import Additive, Affine
from tfp_flows.nn import (
    MADE,
    MLP,
    AutoregressiveConditioner,
    Conditioner,
    ConditionerSpec,
    ConvResNetFactory,
    MLPFactory,
    TrackedConditioner,
    autoregressive_connectivity,
)


def test_the_shipped_networks_meet_the_protocol_and_plain_networks_do_not():
    image = ConvResNetFactory(hidden_channels=4, num_blocks=0).make_conditioner(
        ConditionerSpec(8, 2, 8, mask=checkerboard_mask((4, 4, 1)))
    )
    for network in (MLP(2, 4), MADE(3, 2, (8,)), image, TrackedConditioner(MLP(2, 4))):
        assert isinstance(network, Conditioner), type(network)
    assert isinstance(MADE(3, 2, (8,)), AutoregressiveConditioner)
    assert not isinstance(keras.Sequential([keras.layers.Dense(2)]), Conditioner)
    assert not isinstance(lambda x, c=None: x, Conditioner)


@pytest.mark.parametrize("context_size", [0, 2])
@pytest.mark.parametrize("hidden", [(8,), (2, 5)])  # wide enough, and too narrow for all paths
def test_made_connectivity_is_where_its_jacobian_can_be_nonzero(hidden, context_size):
    order = np.array([2, 0, 3, 1])
    made = MADE(4, 2, hidden, input_order=order, context_size=context_size, activation="tanh")
    tff.testing.perturb_weights(made, scale=0.5, seed=1)
    x = tf.random.stateless_normal([3, 4], seed=[1, 1])
    context = tf.ones([3, context_size]) if context_size else None
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = made(x, context)
    reads = np.any(tape.batch_jacobian(out, x).numpy() != 0, axis=0).T  # [inputs, outputs]
    np.testing.assert_array_equal(reads, made.connectivity == 1)
    assert np.all(made.connectivity <= autoregressive_connectivity(order, 2))


def test_a_network_not_known_to_be_autoregressive_is_refused_naming_what_it_lacks():
    with pytest.raises(
        TypeError,
        match=r"maf: the conditioner must be known to be autoregressive: declare input_order .*"
        r"got keras.src.models.sequential.Sequential, which declares no input_order and no "
        r"connectivity",
    ):
        MaskedAutoregressive(3, Additive(), keras.Sequential([keras.layers.Dense(3)]), name="maf")


def test_a_dense_network_declared_autoregressive_fails_the_jacobian_check():
    dense = keras.Sequential([keras.layers.Dense(8, "tanh"), keras.layers.Dense(6)])
    with pytest.raises(
        ValueError, match=r"not autoregressive in the order input_order=\[0, 1, 2\]: output 0 "
    ):
        TrackedConditioner(dense, input_size=3, output_size=6, input_order=[0, 1, 2])


def test_a_declared_connectivity_that_reads_a_later_entry_is_refused():
    network = LinearAutoregressive(3, 1, np.array([0, 1, 2]), tf.float32)
    network.connectivity = np.ones([3, 3], np.int64)  # claims every output reads every input
    with pytest.raises(
        ValueError,
        match=r"connectivity is not autoregressive in its input_order=\[0, 1, 2\]: output 0 "
        r"\(parameter 0 of entry 0\) may read input 0",
    ):
        MaskedAutoregressive(3, Additive(), network)


@pytest.mark.parametrize("one_pass", ["inverse", "forward"])
def test_a_masked_keras_sequential_runs_an_autoregressive_layer_exactly(one_pass):
    order = np.array([1, 2, 0])
    network = TrackedConditioner(
        keras3_masked_network(3, 2, order, tf.float64),
        input_size=3,
        output_size=6,
        dtype=tf.float64,
        input_order=order,
    )
    layer = MaskedAutoregressive(
        3, Affine(3, dtype=tf.float64), network, one_pass=one_pass, dtype=tf.float64
    )
    assert layer.input_order.tolist() == order.tolist()
    assert len(layer.trainable_variables) == 5  # 2 masked Dense x (kernel, bias) + the bound
    tff.testing.perturb_weights(layer, scale=0.3, seed=4)
    x = tf.random.stateless_normal([5, 3], seed=[2, 2], dtype=tf.float64)
    errors = tff.testing.check_bijector(layer, x)
    assert errors["round_trip"] < 1e-10 and errors["autodiff_log_det"] < 1e-8, errors


def test_a_keras3_layer_with_declared_sizes_reads_the_context_apart_and_is_tracked(tmp_path):
    layer = AffineCoupling(3, Keras3Conditioner(1, 4, 2, tf.float32), context_size=2)
    assert isinstance(layer.conditioner, TrackedConditioner)
    assert len(layer.trainable_variables) == 5
    tff.testing.perturb_weights(layer, scale=0.3, seed=5)
    x, c = tf.ones([4, 3]), tf.ones([4, 2])
    expected = layer.forward(x, context=c)
    path = tf.train.Checkpoint(layer=layer).write(str(tmp_path / "ckpt"))
    fresh = AffineCoupling(3, Keras3Conditioner(1, 4, 2, tf.float32), context_size=2)
    tf.train.Checkpoint(layer=fresh).read(path).assert_existing_objects_matched()
    np.testing.assert_array_equal(fresh.forward(x, context=c), expected)


def test_a_network_declaring_other_sizes_is_refused_naming_both():
    with pytest.raises(
        ValueError,
        match=r"coupling: the conditioner must have input_size=1 \(got 2\), output_size=2 "
        r"\(got 4\), context_size=1 \(got 0\)",
    ):
        AffineCoupling(2, MLP(2, 4), context_size=1, name="coupling")


def test_a_user_factory_gets_the_layers_sizes_and_mask():
    seen = []

    class DenseFactory:
        def make_conditioner(self, spec):
            seen.append(spec)
            return keras.Sequential([keras.layers.Dense(spec.output_size)])

    mask = checkerboard_mask((2, 2, 1))
    layer = AffineCoupling(mask, DenseFactory(), context_size=3)
    (spec,) = seen
    assert (spec.input_size, spec.output_size, spec.context_size) == (2, 4, 3)
    np.testing.assert_array_equal(spec.mask, mask)
    assert layer.forward(tf.ones([5, 2, 2, 1]), context=tf.ones([5, 3])).shape == [5, 2, 2, 1]


def test_builders_build_the_same_initial_weights_as_the_factories_they_describe():
    flow = tff.real_nvp(3, num_layers=2, hidden_units=(8,), activation="tanh", seed=7, mixing=None)
    by_hand = [
        AffineCoupling(3, MLPFactory((8,), "tanh", seed=7)),
        AffineCoupling(alternating_mask(3, flip=True), MLPFactory((8,), "tanh", seed=8)),
    ]
    built = [b for b in flow.bijector.bijectors if isinstance(b, AffineCoupling)][::-1]
    for ours, theirs in zip(built, by_hand):
        for a, b in zip(ours.conditioner.kernels, theirs.conditioner.kernels):
            np.testing.assert_array_equal(a, b)
