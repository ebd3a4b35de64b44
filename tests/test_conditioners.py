"""User conditioners (Keras 3, tf_keras, tf.Module) train, checkpoint and save like ours."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
from bijector_registry import keras3_conditioner, tf_keras_conditioner

import tfp_flows as tff
from tfp_flows.bijectors import MLP, AffineCoupling
from tfp_flows.nn import MLPFactory
from tfp_flows.nn.mlp import get_activation

tfd = tfp.distributions


class ModuleConditioner(tf.Module):
    """A hand-written tf.Module conditioner: ``[t, r] = x W + b``."""

    def __init__(self, n_in, n_out):
        super().__init__()
        self.w = tf.Variable(tf.random.stateless_normal([n_in, n_out], seed=[0, 9]) * 0.1)
        self.b = tf.Variable(tf.zeros([n_out]))

    def __call__(self, x):
        return tf.matmul(x, self.w) + self.b


CONDITIONERS = {
    "keras3": lambda: keras3_conditioner(2, tf.float32),
    "tf_keras": lambda: tf_keras_conditioner(2, tf.float32),
    "tf_module": lambda: ModuleConditioner(1, 2),
}


def _flow(kind):
    return tfd.TransformedDistribution(
        tfd.MultivariateNormalDiag(tf.zeros(2)), AffineCoupling(2, CONDITIONERS[kind]())
    )


def _data():
    rng = np.random.default_rng(0)
    x1 = rng.normal(size=512)
    return tf.constant(np.stack([x1, 0.5 * x1 + 0.3 * rng.normal(size=512)], -1), tf.float32)


@pytest.mark.parametrize("kind", sorted(CONDITIONERS))
def test_every_conditioner_weight_is_a_trainable_variable_of_the_distribution(kind):
    flow = _flow(kind)
    layer = flow.bijector
    network = layer.conditioner.network
    expected = {
        id(v if isinstance(v, tf.Variable) else v.value) for v in network.trainable_variables
    }
    expected.add(id(layer.log_scale_bound))
    assert {id(v) for v in flow.trainable_variables} == expected


@pytest.mark.parametrize("optimizer", ["keras3", "tf_keras"])
@pytest.mark.parametrize("kind", sorted(CONDITIONERS))
def test_conditioner_trains_through_a_gradient_tape_loop(kind, optimizer):
    import tf_keras

    flow = _flow(kind)
    data = _data()
    adam = (
        tf.keras.optimizers.Adam(5e-2) if optimizer == "keras3" else tf_keras.optimizers.Adam(5e-2)
    )
    start = float(-tf.reduce_mean(flow.log_prob(data)))

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            loss = -tf.reduce_mean(flow.log_prob(x))
        grads = tape.gradient(loss, flow.trainable_variables)
        adam.apply_gradients(zip(grads, flow.trainable_variables))
        return loss

    for _ in range(60):
        step(data)
    end = float(-tf.reduce_mean(flow.log_prob(data)))
    assert end < start - 0.3, (start, end)


@pytest.mark.parametrize("kind", sorted(CONDITIONERS))
def test_checkpoint_round_trip_restores_log_prob(kind, tmp_path):
    data = _data()
    trained, fresh = _flow(kind), _flow(kind)
    tff.testing.perturb_weights(trained, scale=0.3, seed=1)
    expected = trained.log_prob(data)
    path = tf.train.Checkpoint(flow=trained).write(str(tmp_path / "ckpt"))
    assert not np.allclose(fresh.log_prob(tf.identity(data)), expected)
    tf.train.Checkpoint(flow=fresh).read(path).assert_existing_objects_matched()
    np.testing.assert_array_equal(fresh.log_prob(tf.identity(data)), expected)


@pytest.mark.parametrize("kind", sorted(CONDITIONERS))
def test_saved_model_round_trip_gives_the_same_log_prob(kind, tmp_path):
    data = _data()
    flow = _flow(kind)
    tff.testing.perturb_weights(flow, scale=0.3, seed=2)
    module = tf.Module()
    module.flow = flow
    module.log_prob = tf.function(flow.log_prob, input_signature=[tf.TensorSpec([None, 2])])
    tf.saved_model.save(module, str(tmp_path / "saved"))
    loaded = tf.saved_model.load(str(tmp_path / "saved"))
    # The reloaded function is the same computation, but oneDNN may block, fuse or thread its
    # float32 sums differently from the traced original. A sum of n terms, reordered, moves by
    # up to (n - 1) eps sum|terms| (Higham's gamma_n); the widest sum here is the conditioner's
    # hidden layer (16 products and a bias), log_prob adds 3 terms (base density, log 2 pi,
    # log-scale), and for these data sum|terms| / |sum| stays below 3: 17 * 3 eps ~ 51 eps,
    # rounded up to 64 eps = 7.6e-6 (a fixed 1e-6 = 8 eps failed at 3.0e-6 on another machine).
    rtol = 64 * np.finfo(np.float32).eps
    np.testing.assert_allclose(loaded.log_prob(data), flow.log_prob(tf.identity(data)), rtol=rtol)


def test_real_nvp_checkpoint_and_saved_model_round_trip(tmp_path):
    flow = tff.real_nvp(3, num_layers=4, hidden_units=(16,), seed=0)
    tff.testing.perturb_weights(flow, seed=3)
    flow.bijector.bijectors[0].adapt(np.random.default_rng(1).normal(2.0, 3.0, (50, 3)))
    x = tf.random.stateless_normal([10, 3], seed=[3, 3])
    expected = flow.log_prob(x)
    path = tf.train.Checkpoint(flow=flow).write(str(tmp_path / "ckpt"))
    fresh = tff.real_nvp(3, num_layers=4, hidden_units=(16,), seed=0)
    tf.train.Checkpoint(flow=fresh).read(path).assert_consumed()
    np.testing.assert_array_equal(fresh.log_prob(tf.identity(x)), expected)


def test_mlp_starts_at_zero_output_so_a_fresh_layer_is_the_identity():
    mlp = MLP(3, 4, hidden_units=(8, 8), seed=0)
    assert np.all(mlp(tf.ones([2, 3])).numpy() == 0)
    layer = AffineCoupling(5, MLPFactory(seed=0))
    x = tf.random.stateless_normal([4, 5], seed=[0, 0])
    np.testing.assert_array_equal(layer.forward(x), x)


def test_activation_names_give_the_functions_they_name():
    x = tf.linspace(-8.0, 8.0, 1601)
    gelu_tanh = get_activation("gelu_tanh")(x)
    np.testing.assert_allclose(gelu_tanh, tf.nn.gelu(x, approximate=True), rtol=0, atol=0)
    # The tanh form stays within 5e-4 of the exact x * Phi(x), which "gelu" names.
    exact = x * 0.5 * (1.0 + tf.math.erf(x / np.sqrt(2.0)))
    np.testing.assert_allclose(get_activation("gelu")(x), exact, atol=1e-6)
    assert 1e-4 < np.max(np.abs(gelu_tanh - exact)) < 5e-4
    with pytest.raises(ValueError, match=r"unknown activation 'gelu_erf'.*'gelu_tanh'"):
        get_activation("gelu_erf")
