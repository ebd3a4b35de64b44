"""``FlowModel``: Keras 3 ``compile`` / ``fit`` / ``evaluate`` / weights for a flow."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfp_flows as tff
from tfp_flows.datasets import Banana


def _data(n=2000, seed=0):
    return Banana().sample(n, seed=seed).numpy()


def _model(seed=0):
    model = tff.FlowModel(tff.real_nvp(2, num_layers=4, hidden_units=(32, 32), seed=seed))
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    return model


def test_fit_trains_by_nll_with_keras_callbacks(tmp_path):
    model = _model()
    callbacks = [
        keras.callbacks.EarlyStopping(patience=2, restore_best_weights=True),
        keras.callbacks.CSVLogger(str(tmp_path / "log.csv")),
        keras.callbacks.TensorBoard(log_dir=str(tmp_path / "tb")),
    ]
    history = model.fit(_data(), epochs=6, batch_size=128, validation_split=0.2,
                        callbacks=callbacks, verbose=0)
    losses = history.history["val_loss"]
    assert losses[-1] < losses[0]
    assert (tmp_path / "log.csv").read_text().startswith("epoch,loss,val_loss")
    assert any((tmp_path / "tb").rglob("*tfevents*"))


def test_evaluate_returns_the_nll_and_predict_the_log_prob():
    model = _model()
    model.fit(_data(), epochs=1, batch_size=256, verbose=0)
    test = _data(1000, seed=3)
    nll = tff.metrics.nll(model.distribution, test)
    assert model.evaluate(test, batch_size=1000, verbose=0) == pytest.approx(nll, rel=1e-5)
    np.testing.assert_allclose(model.predict(test, verbose=0),
                               model.distribution.log_prob(test), rtol=1e-5, atol=1e-5)


def test_save_and_load_weights_round_trip(tmp_path):
    trained = _model()
    trained.fit(_data(), epochs=2, batch_size=128, verbose=0)
    path = str(tmp_path / "flow.weights.h5")
    trained.save_weights(path)
    fresh = _model(seed=1)
    test = tf.constant(_data(500, seed=4))
    assert not np.allclose(fresh.distribution.log_prob(test),
                           trained.distribution.log_prob(tf.identity(test)))
    fresh.load_weights(path)
    np.testing.assert_array_equal(fresh.distribution.log_prob(tf.identity(test)),
                                  trained.distribution.log_prob(tf.identity(test)))


def test_model_checkpoint_callback_writes_loadable_weights(tmp_path):
    model = _model()
    path = str(tmp_path / "best.weights.h5")
    model.fit(_data(), epochs=2, batch_size=256, validation_split=0.2, verbose=0,
              callbacks=[keras.callbacks.ModelCheckpoint(path, save_weights_only=True)])
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
