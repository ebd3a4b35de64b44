"""ReduceLROnPlateau and ScaledSchedule: the learning rate cut after a plateau, from the best weights."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfp_flows as tff
from tfp_flows.datasets import Banana
from tfp_flows.training import (
    Callback,
    Checkpointing,
    History,
    ReduceLROnPlateau,
    Run,
    ScaledSchedule,
    Validation,
    default_optimizer,
)
from tfp_flows.training.optimizers import learning_rate_scale


class Weights(tf.Module):
    """A stand-in for a flow: one variable, set by hand between validations."""

    def __init__(self):
        self.w = tf.Variable([0.0, 0.0])


def _begin(callback, optimizer=None, history=None):
    model = Weights()
    optimizer = optimizer or default_optimizer(100)
    run = Run(model, optimizer, loss=None, steps=100, history=history or History())
    callback.on_train_begin(run)
    return model, optimizer, run


def _validate(callback, model, losses, start=1):
    """Feeds validation losses, the weights set to [step, step] before each."""
    for step, val_loss in enumerate(losses, start=start):
        model.w.assign([float(step), float(step)])
        callback.on_chunk_end(step, {"loss": 0.0, "val_loss": val_loss})


def test_cuts_after_patience_validations_without_a_new_best_and_restores_the_best_weights():
    callback = ReduceLROnPlateau(patience=3, factor=0.5)
    model, optimizer, run = _begin(callback)
    scale = learning_rate_scale(optimizer)
    _validate(callback, model, [3.0, 2.0, 2.5, 2.1])  # best at step 2, then two worse
    assert scale.numpy() == 1.0 and model.w.numpy().tolist() == [4.0, 4.0]
    _validate(callback, model, [2.2], start=5)  # the third: cut, back to step 2's weights
    assert scale.numpy() == 0.5 and run.history.learning_rate_scale == 0.5
    assert model.w.numpy().tolist() == [2.0, 2.0]
    _validate(callback, model, [1.9, 2.0, 2.0], start=6)  # a new best resets the count
    assert scale.numpy() == 0.5
    _validate(callback, model, [2.0], start=9)
    assert scale.numpy() == 0.25 and model.w.numpy().tolist() == [6.0, 6.0]


def test_stops_cutting_at_min_scale_and_ignores_chunks_without_validation():
    callback = ReduceLROnPlateau(patience=1, factor=0.3, min_scale=0.01)
    model, optimizer, run = _begin(callback)
    callback.on_chunk_end(1, {"loss": 1.0})  # no val_loss: nothing to compare
    _validate(callback, model, [1.0] + [2.0] * 10)
    # 1 -> 0.3 -> 0.09 -> 0.027 -> 0.0081: cut while above 0.01, then never again
    np.testing.assert_allclose(learning_rate_scale(optimizer).numpy(), 0.3**4, rtol=1e-6)
    np.testing.assert_allclose(run.history.learning_rate_scale, 0.3**4, rtol=1e-6)


def test_without_restore_best_weights_the_weights_stay():
    callback = ReduceLROnPlateau(patience=1, factor=0.5, restore_best_weights=False)
    model, optimizer, _ = _begin(callback)
    _validate(callback, model, [1.0, 2.0])
    assert learning_rate_scale(optimizer).numpy() == 0.5
    assert model.w.numpy().tolist() == [2.0, 2.0]


def test_refuses_an_optimizer_whose_rate_it_cannot_scale_and_takes_a_wrapped_one():
    with pytest.raises(
        ValueError, match=r"needs an optimizer whose learning rate is a .*ScaledSchedule.*got Adam"
    ):
        _begin(ReduceLROnPlateau(), keras.optimizers.Adam(1e-3))
    optimizer = keras.optimizers.Adam(ScaledSchedule(1e-3))
    callback = ReduceLROnPlateau(patience=1, factor=0.1)
    model, _, _ = _begin(callback, optimizer)
    _validate(callback, model, [1.0, 2.0])
    np.testing.assert_allclose(float(optimizer.learning_rate), 1e-4, rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(patience=0), r"patience must be a positive integer, got 0"),
        (dict(factor=1.0), r"factor must be in \(0, 1\), got 1.0"),
        (dict(min_scale=0.0), r"min_scale must be in \(0, 1\), got 0.0"),
        (dict(factor="0.5"), r"factor must be in \(0, 1\), got '0.5'"),
    ],
)
def test_bad_settings_are_refused_naming_them(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        ReduceLROnPlateau(**kwargs)


def test_fit_refuses_it_without_validation_data():
    with pytest.raises(
        ValueError, match=r"ReduceLROnPlateau\(patience=10, factor=0.3\) needs validation data"
    ):
        tff.fit(
            tff.real_nvp(2, num_layers=2, hidden_units=(8,)),
            Banana(),
            steps=10,
            callbacks=[ReduceLROnPlateau()],
            progress=False,
        )


def test_the_compiled_training_loop_reads_the_scale_at_every_step():
    data = Banana().sample(512, seed=0).numpy()
    moved = {}
    for scale in (1.0, 1e-6):
        flow = tff.real_nvp(2, num_layers=2, hidden_units=(8,), seed=0)
        before = [v.numpy().copy() for v in flow.trainable_variables]
        optimizer = keras.optimizers.Adam(ScaledSchedule(1e-2, scale=scale))
        tff.fit(flow, data, optimizer=optimizer, steps=20, progress=False, jit_compile=True)
        moved[scale] = max(
            float(np.abs(v.numpy() - b).max()) for v, b in zip(flow.trainable_variables, before)
        )
    assert moved[1.0] > 1e-2 and moved[1e-6] < 1e-6


def test_scaled_schedule_serialises_with_its_schedule_and_scale():
    schedule = ScaledSchedule(tff.training.default_schedule(300, 2e-3), scale=0.3)
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(schedule))
    assert isinstance(again, ScaledSchedule) and again.scale.numpy() == schedule.scale.numpy()
    for step in (0, 17, 150, 299):
        assert float(again(step)) == float(schedule(step))
    with pytest.raises(ValueError, match="ScaledSchedule: the learning rate must be a positive"):
        ScaledSchedule(-1.0)


class ScaleAtStart(Callback):
    def on_train_begin(self, run):
        self.scale = float(learning_rate_scale(run.optimizer).numpy())


@pytest.mark.slow
def test_a_resumed_run_continues_at_the_cut_rate(tmp_path):
    data, validation = Banana().sample(16, seed=1).numpy(), Banana().sample(500, seed=2).numpy()

    def train(steps, resume, seen):
        return tff.fit(
            tff.real_nvp(2, num_layers=2, hidden_units=(32,), seed=0),  # overfits 16 rows
            data,
            steps=steps,
            batch_size=16,
            validation_data=validation,
            callbacks=[
                Validation(every=10),
                ReduceLROnPlateau(patience=2),
                seen,
                Checkpointing(str(tmp_path / "run"), every=10, resume=resume),
            ],
            progress=False,
            jit_compile=False,
        )

    first = train(300, False, ScaleAtStart())
    assert first.learning_rate_scale < 1.0
    seen = ScaleAtStart()
    resumed = train(320, True, seen)
    assert seen.scale == pytest.approx(first.learning_rate_scale, rel=1e-6)
    assert resumed.learning_rate_scale <= first.learning_rate_scale
