"""``FusedAdam`` takes the steps ``keras.optimizers.Adam`` takes, in far fewer graph operations."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfp_flows.training.fused_adam import FusedAdam
from tfp_flows.training.optimizers import default_optimizer, default_schedule

SHAPES = [(3, 4), (4,), (4, 2), (2,), ()]
RTOL = {tf.float32: 1e-5, tf.float64: 1e-10}


def _variables(dtype=tf.float32):
    rng = np.random.default_rng(0)
    return [tf.Variable(rng.normal(size=shape), dtype=dtype) for shape in SHAPES]


def _loss(variables, scale):
    """A non-quadratic loss whose gradients are large (``scale``: clipping acts) or small."""
    return scale * sum(tf.reduce_sum(tf.sin(3.0 * v) + v**2) for v in variables)


def _train(optimizer, variables, mode, scale=1.0, steps=15):
    def step():
        with tf.GradientTape() as tape:
            loss = _loss(variables, tf.cast(scale, variables[0].dtype))
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))

    run = {
        "eager": step,
        "function": tf.function(step),
        "xla": tf.function(step, jit_compile=True),
    }[mode]
    for _ in range(steps):
        run()
    return [v.numpy() for v in variables]


def _reference_adam(
    variables,
    scale,
    steps,
    learning_rate,
    clipnorm=None,
    global_clipnorm=None,
    beta_1=0.9,
    beta_2=0.999,
    epsilon=1e-7,
):
    """Adam as the module docstring writes it, in float64 NumPy, on :func:`_loss`'s gradients."""
    weights = [np.asarray(v.numpy(), np.float64) for v in variables]
    m = [np.zeros_like(w) for w in weights]
    v = [np.zeros_like(w) for w in weights]
    for t in range(1, steps + 1):
        rate = float(learning_rate(t - 1)) if callable(learning_rate) else learning_rate
        grads = [scale * (3.0 * np.cos(3.0 * w) + 2.0 * w) for w in weights]
        if clipnorm is not None:
            grads = [g * clipnorm / max(np.linalg.norm(g), clipnorm) for g in grads]
        if global_clipnorm is not None:
            norm = np.sqrt(sum(np.sum(g**2) for g in grads))
            grads = [g * global_clipnorm / max(norm, global_clipnorm) for g in grads]
        alpha = rate * np.sqrt(1 - beta_2**t) / (1 - beta_1**t)
        for i, g in enumerate(grads):
            m[i] += (g - m[i]) * (1 - beta_1)
            v[i] += (g**2 - v[i]) * (1 - beta_2)
            weights[i] -= m[i] * alpha / (np.sqrt(v[i]) + epsilon)
    return weights


@pytest.mark.parametrize("mode", ["eager", "function", "xla"])
@pytest.mark.parametrize("scale", [0.01, 100.0], ids=["unclipped", "clipped"])
@pytest.mark.parametrize("dtype", [tf.float32, tf.float64], ids=["float32", "float64"])
def test_the_steps_are_adams(mode, scale, dtype):
    # In float64 a constant rate: the schedule is float32 arithmetic (XLA's cosine differs in
    # the last float32 digit from TensorFlow's).
    rate = default_schedule(15, 0.05) if dtype == tf.float32 else float(np.float32(0.05))
    kwargs = dict(learning_rate=rate, clipnorm=1.0)
    fused = _train(FusedAdam(**kwargs), _variables(dtype), mode, scale)
    expected = _reference_adam(_variables(dtype), scale, 15, **kwargs)
    for ours, exact in zip(fused, expected):
        np.testing.assert_allclose(ours, exact, rtol=RTOL[dtype], atol=RTOL[dtype])
    assert not np.allclose(fused[0], _variables()[0].numpy())  # it trained


def test_other_betas_epsilon_and_global_clipnorm_are_adams():
    kwargs = dict(learning_rate=0.25, global_clipnorm=0.5, beta_1=0.8, beta_2=0.99, epsilon=1e-3)
    fused = _train(FusedAdam(**kwargs), _variables(tf.float64), "function", 10.0)
    expected = _reference_adam(_variables(tf.float64), 10.0, 15, **kwargs)
    for ours, exact in zip(fused, expected):
        np.testing.assert_allclose(ours, exact, rtol=RTOL[tf.float64])


@pytest.mark.parametrize(
    "kwargs", [dict(amsgrad=True), dict(gradient_accumulation_steps=2)], ids=["amsgrad", "accum"]
)
def test_features_it_does_not_fuse_run_keras_adams_own_path(kwargs):
    kwargs = dict(learning_rate=0.05, clipnorm=1.0, **kwargs)
    fused = _train(FusedAdam(**kwargs), _variables(), "function", 100.0)
    keras_adam = _train(keras.optimizers.Adam(**kwargs), _variables(), "function", 100.0)
    for ours, theirs in zip(fused, keras_adam):
        np.testing.assert_array_equal(ours, theirs)


def test_sparse_gradients_of_an_embedding_lookup_update_only_the_rows_looked_up():
    table, reference = tf.Variable(tf.ones([5, 2])), tf.Variable(tf.ones([5, 2]))
    for optimizer, variable in [(FusedAdam(0.1), table), (keras.optimizers.Adam(0.1), reference)]:
        for _ in range(3):
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(tf.gather(variable, [1, 3]) ** 2)
            gradient = tape.gradient(loss, variable)
            assert isinstance(gradient, tf.IndexedSlices)
            optimizer.apply_gradients([(gradient, variable)])
    np.testing.assert_array_equal(table.numpy(), reference.numpy())
    assert table.numpy()[0].tolist() == [1.0, 1.0] and table.numpy()[1, 0] < 1.0


def test_its_state_is_keras_adams_and_a_checkpoint_moves_between_them(tmp_path):
    keras_adam, keras_variables = keras.optimizers.Adam(0.05), _variables()
    _train(keras_adam, keras_variables, "function", steps=4)
    path = tf.train.Checkpoint(optimizer=keras_adam, weights=keras_variables).write(
        str(tmp_path / "adam")
    )
    fused, fused_variables = FusedAdam(0.05), _variables()
    fused.build(fused_variables)
    assert [v.shape for v in fused.variables] == [v.shape for v in keras_adam.variables]
    tf.train.Checkpoint(optimizer=fused, weights=fused_variables).read(path).assert_consumed()
    assert int(fused.iterations) == 4
    # Both continue from the same state to the same weights.
    after_keras = _train(keras_adam, keras_variables, "function", steps=3)
    after_fused = _train(fused, fused_variables, "function", steps=3)
    for ours, theirs in zip(after_fused, after_keras):
        np.testing.assert_allclose(ours, theirs, rtol=2e-5, atol=2e-6)


def test_it_serialises_as_a_keras_optimizer_and_comes_back_fused():
    optimizer = FusedAdam(default_schedule(100), clipnorm=1.0, beta_2=0.99)
    again = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert type(again) is FusedAdam
    assert again.get_config() == optimizer.get_config()


def test_the_default_optimizer_is_fused_and_its_step_traces_far_fewer_operations():
    assert type(default_optimizer(10)) is FusedAdam

    def operations(optimizer):
        variables = _variables() * 4  # 20 variables
        variables = [tf.Variable(v) for v in variables]
        optimizer.build(variables)
        graph = (
            tf.function(lambda: optimizer.apply_gradients([(v * 2.0, v) for v in variables]))
            .get_concrete_function()
            .graph
        )
        return len(graph.get_operations())

    fused, keras_adam = (
        operations(default_optimizer(10)),
        operations(keras.optimizers.Adam(default_schedule(10), clipnorm=1.0)),
    )
    assert fused < 0.5 * keras_adam, (fused, keras_adam)


def test_a_keras_model_saved_with_it_loads_with_its_state(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer=FusedAdam(0.01, clipnorm=1.0), loss="mse")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 3)), rng.normal(size=(64, 2))
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    assert type(loaded.optimizer) is FusedAdam and loaded.optimizer.clipnorm == 1.0
    for ours, saved in zip(loaded.optimizer.variables, model.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(saved))
    # Training goes on from the loaded state as from the original's.
    model.fit(x, y, epochs=1, batch_size=16, verbose=0, shuffle=False)
    loaded.fit(x, y, epochs=1, batch_size=16, verbose=0, shuffle=False)
    for ours, theirs in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_allclose(ours, theirs, rtol=1e-6)
