"""``FlowModel``: Keras 3 ``compile`` / ``fit`` / ``evaluate`` / weights for a flow."""

import re
from unittest import mock

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfp_flows as tff
from tfp_flows.datasets import Banana


def _data(n=2000, seed=0):
    return Banana().sample(n, seed=seed).numpy()


def _model(seed=0):
    """Without XLA: these tests check the Keras plumbing (callbacks, evaluate, predict, weights
    files), and each XLA compilation of a Keras step costs more CPU than the training itself
    (measured: 41 -> 6 s for the weights round trip). test_flow_model_defaults trains with the
    default compile mode (XLA for a vector flow)."""
    model = tff.FlowModel(tff.real_nvp(2, num_layers=4, hidden_units=(32, 32), seed=seed))
    model.compile(optimizer=keras.optimizers.Adam(3e-3), jit_compile=False)
    return model


@pytest.mark.slow
def test_fit_trains_by_nll_with_keras_callbacks(tmp_path):
    model = _model()
    callbacks = [
        keras.callbacks.EarlyStopping(patience=2, restore_best_weights=True),
        keras.callbacks.CSVLogger(str(tmp_path / "log.csv")),
        keras.callbacks.TensorBoard(log_dir=str(tmp_path / "tb")),
    ]
    history = model.fit(
        _data(), epochs=6, batch_size=128, validation_split=0.2, callbacks=callbacks, verbose=0
    )
    losses = history.history["val_loss"]
    assert losses[-1] < losses[0]
    assert (tmp_path / "log.csv").read_text().startswith("epoch,loss,val_loss")
    assert any((tmp_path / "tb").rglob("*tfevents*"))


@pytest.mark.slow
def test_evaluate_returns_the_nll_and_predict_the_log_prob():
    model = _model()
    model.fit(_data(), epochs=1, batch_size=256, verbose=0)
    test = _data(1000, seed=3)
    nll = tff.metrics.nll(model.distribution, test)
    assert model.evaluate(test, batch_size=1000, verbose=0) == pytest.approx(nll, rel=1e-5)
    np.testing.assert_allclose(
        model.predict(test, verbose=0), model.distribution.log_prob(test), rtol=1e-5, atol=1e-5
    )


def test_predict_traces_the_flow_once_whatever_steps_per_execution():
    flow = tff.real_nvp(2, num_layers=1, hidden_units=(4,), seed=0)
    model = tff.FlowModel(flow)
    model.compile(jit_compile=False)  # steps_per_execution=100 by default
    calls = []
    original = tff.FlowModel.call

    def counted(self, x, training=False):
        calls.append(x.shape)
        return original(self, x, training)

    x = _data(1000, seed=3)
    with mock.patch.object(tff.FlowModel, "call", counted):
        log_probs = model.predict(x, batch_size=32, verbose=0)  # 32 batches, the last of 8 rows
    assert len(calls) <= 2, calls  # Keras would unroll 32 copies of the flow into one graph
    assert model.steps_per_execution == 100
    np.testing.assert_allclose(log_probs, flow.log_prob(x), rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_save_and_load_weights_round_trip(tmp_path):
    trained = _model()
    trained.fit(_data(), epochs=2, batch_size=128, verbose=0)
    path = str(tmp_path / "flow.weights.h5")
    trained.save_weights(path)
    fresh = _model(seed=1)
    test = tf.constant(_data(500, seed=4))
    assert not np.allclose(
        fresh.distribution.log_prob(test), trained.distribution.log_prob(tf.identity(test))
    )
    fresh.load_weights(path)
    np.testing.assert_array_equal(
        fresh.distribution.log_prob(tf.identity(test)),
        trained.distribution.log_prob(tf.identity(test)),
    )


@pytest.mark.slow
def test_model_checkpoint_callback_writes_loadable_weights(tmp_path):
    model = _model()
    path = str(tmp_path / "best.weights.h5")
    model.fit(
        _data(),
        epochs=2,
        batch_size=256,
        validation_split=0.2,
        verbose=0,
        callbacks=[keras.callbacks.ModelCheckpoint(path, save_weights_only=True)],
    )
    fresh = _model(seed=2)
    fresh.load_weights(path)
    assert len(fresh.get_weights()) == len(model.get_weights())


def test_nan_in_the_data_is_named():
    data = _data(100)
    data[7, 1] = np.nan
    with pytest.raises(ValueError, match="row 7 is not finite"):
        _model().fit(data, epochs=1, verbose=0)


def test_wrong_number_of_weights_is_explained():
    with pytest.raises(ValueError, match="expected .* weight arrays, got 1"):
        _model().set_weights([np.zeros(2)])


# -- non-finite guard, infinite datasets, argument checks -------------------------------------


def _tiny(standardize=True, learning_rate=1e-2, **compile_kwargs):
    flow = tff.real_nvp(2, num_layers=2, hidden_units=(8,), seed=0, standardize=standardize)
    model = tff.FlowModel(flow)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), **compile_kwargs)
    return model


def _state(model):
    return model.get_weights() + [v.numpy() for v in model.optimizer.variables]


class _Record(keras.callbacks.Callback):
    """The model's and optimizer's state after every optimizer step."""

    def __init__(self, model):
        super().__init__()
        self.flow_model, self.seen = model, {}

    def on_train_batch_end(self, batch, logs=None):
        self.seen[int(self.flow_model.optimizer.iterations)] = _state(self.flow_model)


@pytest.mark.slow
def test_a_nan_row_in_a_dataset_stops_training_and_keeps_the_last_good_state():
    data = _data(512)
    data[4 * 64 + 10] = np.nan  # in the 5th batch of 64
    model = _tiny(standardize=False, steps_per_execution=1)  # callbacks after every step
    record = _Record(model)
    with pytest.raises(tff.NonFiniteLossError, match="at step 5 ") as raised:
        model.fit(
            tf.data.Dataset.from_tensor_slices(data).batch(64),
            epochs=2,
            verbose=0,
            callbacks=[record],
        )
    # the state step 5 started from is suspect too: the one kept is from after step 3
    assert raised.value.kept_step == 3 and int(model.optimizer.iterations) == 3
    for now, then in zip(_state(model), record.seen[3]):
        np.testing.assert_array_equal(now, then)
    # many steps per compiled call (the default): the same step found, the same state kept
    many = _tiny(standardize=False)
    assert many.steps_per_execution > 5
    with pytest.raises(tff.NonFiniteLossError, match="at step 5 ") as raised:
        many.fit(tf.data.Dataset.from_tensor_slices(data).batch(64), epochs=2, verbose=0)
    assert raised.value.kept_step == 3 and int(many.optimizer.iterations) == 3
    for now, then in zip(_state(many), record.seen[3]):
        np.testing.assert_allclose(now, then, rtol=1e-6, atol=1e-7)


def test_a_nan_row_among_the_first_batches_is_named_before_training():
    data = _data(512)
    data[4 * 64 + 10] = np.nan
    model = _tiny()
    with pytest.raises(ValueError, match="data batch 4 row 10 is not finite"):
        model.fit(tf.data.Dataset.from_tensor_slices(data).batch(64), epochs=1, verbose=0)
    assert not model.distribution.bijector.bijectors[0].adapted.numpy()


@pytest.mark.slow
def test_after_a_divergence_the_same_optimizer_trains_at_a_lower_learning_rate():
    data = _data(512)
    model = _tiny(learning_rate=1e30)
    with pytest.raises(tff.NonFiniteLossError) as raised:
        model.fit(data, epochs=1, batch_size=64, verbose=0)
    assert (raised.value.step, raised.value.kept_step) == (2, 0)
    assert all(np.isfinite(v).all() for v in _state(model))
    model.optimizer.learning_rate = 1e-2
    losses = model.fit(data, epochs=3, batch_size=64, verbose=0).history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0] - 0.2


def test_an_infinite_dataset_needs_a_number_of_steps():
    endless = tf.data.Dataset.from_tensor_slices(_data(256)).batch(64).repeat()
    model = _tiny()
    with pytest.raises(
        ValueError,
        match=r"steps_per_epoch must be a positive integer when data "
        r"is an infinite tf.data.Dataset .*, got None",
    ):
        model.fit(endless, epochs=1, verbose=0)
    with pytest.raises(
        ValueError,
        match="validation_steps must be a positive integer when validation data is an infinite",
    ):
        model.fit(endless, epochs=1, steps_per_epoch=2, validation_data=endless, verbose=0)
    with pytest.raises(
        ValueError, match="steps must be a positive integer when data is an infinite"
    ):
        model.evaluate(endless, verbose=0)
    model.fit(endless, epochs=1, steps_per_epoch=3, verbose=0)
    assert int(model.optimizer.iterations) == 3


def test_a_dataset_is_cast_to_the_flow_dtype_and_adapts_standardize():
    data = _data(512)  # float32 samples; the dataset gives float64
    model = _tiny()
    losses = model.fit(
        tf.data.Dataset.from_tensor_slices(data.astype(np.float64)).batch(64), epochs=2, verbose=0
    ).history["loss"]
    assert np.all(np.isfinite(losses))
    standardize = model.distribution.bijector.bijectors[0]
    np.testing.assert_allclose(standardize.loc.numpy(), data.astype(np.float64).mean(0), rtol=1e-5)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"epochs": 1.5}, TypeError, "epochs must be a positive integer, got 1.5 (float)."),
        ({"batch_size": 0}, ValueError, "batch_size must be a positive integer, got 0."),
        (
            {"steps_per_epoch": 2.0},
            TypeError,
            "steps_per_epoch must be a positive integer, got 2.0",
        ),
        (
            {"validation_split": True},
            TypeError,
            "validation_split must be a number in [0, 1), got True (bool).",
        ),
        (
            {"x": tf.data.Dataset.from_tensor_slices({"x": np.zeros((4, 2))}).batch(2)},
            TypeError,
            "data must be a tf.data.Dataset of dense [batch, 2] tensors, got elements of type dict",
        ),
        ({"x": np.array([["a", "b"]])}, TypeError, "data must be real numbers, got dtype <U1."),
    ],
)
def test_bad_fit_arguments_are_named(kwargs, error, message):
    model = _tiny()
    kwargs = {"x": _data(64), "epochs": 1, "verbose": 0, **kwargs}
    with pytest.raises(error, match=re.escape(message)):
        model.fit(**kwargs)
    assert int(model.optimizer.iterations) == 0


def test_zero_steps_per_execution_is_named():
    model = tff.FlowModel(tff.real_nvp(2, num_layers=2, hidden_units=(8,)))
    with pytest.raises(
        ValueError, match=re.escape("steps_per_execution must be a positive integer, got 0.")
    ):
        model.compile(optimizer="adam", steps_per_execution=0)


@pytest.mark.parametrize("damage", ["garbage", "nan"])
def test_a_corrupt_weights_file_is_refused_and_loads_nothing(tmp_path, damage):
    model = _model()
    path = tmp_path / "flow.weights.h5"
    if damage == "garbage":
        path.write_bytes(b"\x89HDF\r\n not really a weights file" * 10)
        message = "is not a weights file written by FlowModel.save_weights"
    else:
        model.save_weights(str(path))
        import h5py

        with h5py.File(path, "r+") as handle:
            last = sorted(handle.keys())[-1]
            handle[last][...] = np.nan
        message = "holds NaN or inf values"
    before = model.get_weights()
    with pytest.raises(ValueError, match=message):
        model.load_weights(str(path))
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, new)
