"""``tfp_flows.fit``: data sources, optimizers, validation, checkpoints, errors, strategies."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import tfp_flows as tff
from tfp_flows import training
from tfp_flows.datasets import Banana
from tfp_flows.nn import MLPFactory


def _banana_data(n=4000, seed=0):
    return Banana().sample(n, seed=seed).numpy()


def _flow(seed=0):
    return tff.real_nvp(2, num_layers=4, hidden_units=(32, 32), seed=seed)


@pytest.mark.slow
def test_fit_on_an_array_lowers_the_validation_nll_and_records_history():
    flow = _flow()
    history = tff.fit(flow, _banana_data(), steps=400, validation_split=0.2, progress=False)
    assert history.steps == 400 and len(history.loss) == 400
    assert history.val_steps == [100, 200, 300, 400]
    assert history.val_loss[-1] < history.val_loss[0]
    assert history.val_loss[-1] < 4.6  # entropy is 4.224; an untrained flow is far off


@pytest.mark.slow
def test_fit_on_a_target_draws_fresh_batches_and_learns():
    flow = _flow()
    before = tff.metrics.nll(flow, _banana_data(2000, seed=5))
    history = tff.fit(flow, Banana(), steps=300, progress=False)
    assert history.steps == 300
    assert tff.metrics.nll(flow, _banana_data(2000, seed=5)) < before - 0.5


@pytest.mark.slow
def test_fit_on_a_tf_data_dataset():
    dataset = tf.data.Dataset.from_tensor_slices(_banana_data().astype(np.float32)).batch(200)
    history = tff.fit(_flow(), dataset, steps=60, jit_compile=False, progress=False)
    assert history.steps == 60 and np.all(np.isfinite(history.loss))


@pytest.mark.slow
def test_epochs_count_full_batches():
    history = tff.fit(
        _flow(), _banana_data(1000), epochs=3, batch_size=100, jit_compile=False, progress=False
    )
    assert history.steps == 30


@pytest.mark.slow
def test_tf_keras_optimizer_with_a_learning_rate_schedule():
    schedule = tf_keras.optimizers.schedules.CosineDecay(3e-3, decay_steps=200)
    flow = _flow()
    history = tff.fit(
        flow,
        _banana_data(),
        optimizer=tf_keras.optimizers.Adam(schedule),
        steps=200,
        validation_split=0.2,
        progress=False,
    )
    assert history.val_loss[-1] < history.val_loss[0]


@pytest.mark.slow
def test_keras3_optimizer_with_a_learning_rate_schedule():
    schedule = tf.keras.optimizers.schedules.CosineDecay(3e-3, decay_steps=200)
    optimizer = tf.keras.optimizers.Adam(schedule)
    tff.fit(_flow(), _banana_data(), optimizer=optimizer, steps=200, progress=False)
    assert int(optimizer.iterations.numpy()) == 200


@pytest.mark.slow
def test_training_step_is_traced_once_including_a_short_last_chunk(monkeypatch):
    traces = []
    original = training.MaximumLikelihood.__call__

    def counting(self, distribution, batch):
        traces.append(tf.executing_eagerly())
        return original(self, distribution, batch)

    monkeypatch.setattr(training.MaximumLikelihood, "__call__", counting)
    tff.fit(_flow(), _banana_data(), steps=350, steps_per_execution=100, progress=False)
    # one eager call checks the loss on the first batch before training; one trace after
    assert traces == [True, False]


@pytest.mark.slow
def test_data_normalisation_is_exact_and_fitted_to_the_data():
    data = _banana_data()
    flow = _flow()
    tff.fit(flow, data, steps=1, jit_compile=False, progress=False)  # adapts before any step
    standardize = training.find_standardize_layers(flow.bijector)[0]
    np.testing.assert_allclose(standardize.loc.numpy(), data.mean(0), rtol=1e-5)
    np.testing.assert_allclose(np.exp(standardize.log_scale.numpy()), data.std(0), rtol=1e-5)
    tff.testing.assert_normalized(flow, (-15, -20), (40, 20), grid_size=400)


@pytest.mark.slow
def test_early_stopping_restores_the_best_weights():
    rng = np.random.default_rng(0)
    train = _banana_data(16, seed=1)  # tiny: the flow overfits quickly
    val = _banana_data(2000, seed=2)
    flow = tff.real_nvp(2, num_layers=4, hidden_units=(64, 64))
    history = tff.fit(
        flow,
        train,
        validation_data=val,
        steps=3000,
        batch_size=16,
        optimizer=tf.keras.optimizers.Adam(1e-2),
        callbacks=[tff.training.Validation(every=50), tff.training.EarlyStopping(patience=3)],
        progress=False,
        seed=int(rng.integers(100)),
    )
    assert history.stopped_early and history.steps < 3000
    assert history.best_step < history.steps
    np.testing.assert_allclose(tff.metrics.nll(flow, val), history.best_val_loss, rtol=1e-5)


@pytest.mark.slow
def test_callbacks_see_logs_and_can_stop_training():
    seen = []

    def stop_at_200(step, logs):
        seen.append((step, sorted(logs)))
        return step >= 200

    history = tff.fit(
        _flow(),
        _banana_data(),
        steps=1000,
        validation_split=0.1,
        callbacks=[
            tff.training.Validation(every=100),
            tff.training.LambdaCallback(stop_at_200, every=100),
        ],
        jit_compile=False,
        progress=False,
    )
    assert history.steps == 200
    assert seen == [(100, ["loss", "val_loss"]), (200, ["loss", "val_loss"])]


@pytest.mark.slow
def test_resume_after_a_kill_continues_where_the_last_checkpoint_stopped(tmp_path):
    data = _banana_data()
    reference = _flow()
    tff.fit(reference, data, steps=300, progress=False)

    def killed_at_170(step, logs):
        if step == 170:
            raise KeyboardInterrupt

    interrupted = _flow()
    with pytest.raises(KeyboardInterrupt):
        tff.fit(
            interrupted,
            data,
            steps=300,
            callbacks=[
                tff.training.Checkpointing(str(tmp_path), every=50),
                tff.training.LambdaCallback(killed_at_170, every=10),
            ],
            progress=False,
        )
    assert not (tmp_path / ".lock").exists()  # the interrupted run freed its folder
    resumed = _flow()  # a new process would build the flow afresh
    history = tff.fit(
        resumed,
        data,
        steps=300,
        callbacks=[tff.training.Checkpointing(str(tmp_path), every=50, resume=True)],
        progress=False,
    )
    assert history.steps == 300
    x = tf.constant(_banana_data(500, seed=9))
    np.testing.assert_allclose(resumed.log_prob(x), reference.log_prob(tf.identity(x)), atol=2e-4)


@pytest.mark.slow
def test_resume_without_a_checkpoint_starts_from_scratch(tmp_path):
    history = tff.fit(
        _flow(),
        _banana_data(),
        steps=100,
        callbacks=[tff.training.Checkpointing(str(tmp_path / "new"), resume=True)],
        jit_compile=False,
        progress=False,
    )
    assert history.steps == 100 and (tmp_path / "new" / "history.json").exists()


@pytest.mark.slow
def test_non_finite_loss_names_the_step_and_keeps_the_last_good_weights():
    flow = _flow()
    kept = {}

    def poison_at_100(step, logs):
        if step == 100:
            kept["weights"] = [v.numpy() for v in flow.trainable_variables]
            flow.trainable_variables[0].assign(np.full(flow.trainable_variables[0].shape, np.nan))

    with pytest.raises(tff.NonFiniteLossError, match="at step 101") as raised:
        tff.fit(
            flow,
            _banana_data(),
            steps=300,
            callbacks=[tff.training.LambdaCallback(poison_at_100, every=100)],
            progress=False,
        )
    assert raised.value.kept_step == 100
    for variable, value in zip(flow.trainable_variables, kept["weights"]):
        np.testing.assert_array_equal(variable.numpy(), value)


def _tiny_flow():
    return tff.real_nvp(2, num_layers=2, hidden_units=(8,), seed=0)


def _optimizer_is_finite(optimizer):
    return all(np.isfinite(v.numpy()).all() for v in optimizer.variables)


@pytest.mark.slow
def test_after_a_non_finite_loss_the_same_optimizer_trains_at_a_lower_learning_rate():
    flow, data = _tiny_flow(), _banana_data(1000)
    optimizer = tf.keras.optimizers.Adam(1e30)  # the first update throws the weights to ~1e30
    with pytest.raises(tff.NonFiniteLossError) as raised:
        tff.fit(
            flow,
            data,
            optimizer=optimizer,
            steps=40,
            batch_size=100,
            steps_per_execution=10,
            progress=False,
        )
    # step 1 is finite but leaves weights whose loss is NaN: the state kept is from before it
    assert (raised.value.step, raised.value.kept_step) == (2, 0)
    assert int(optimizer.iterations.numpy()) == 0 and _optimizer_is_finite(optimizer)
    # nothing was trained, so the flow is as it came: its Standardize is not adapted
    assert not training.find_standardize_layers(flow.bijector)[0].adapted.numpy()
    optimizer.learning_rate = 1e-2
    history = tff.fit(
        flow,
        data,
        optimizer=optimizer,
        steps=40,
        batch_size=100,
        steps_per_execution=10,
        jit_compile=False,
        progress=False,
    )
    assert np.all(np.isfinite(history.loss))
    assert np.mean(history.loss[-10:]) < np.mean(history.loss[:10]) - 0.2


class _NanLearningRateFrom(tf.keras.optimizers.schedules.LearningRateSchedule):
    """1e-3 until optimizer step ``step`` (1-based), NaN from there on."""

    def __init__(self, step):
        self.step = step

    def __call__(self, iteration):
        return tf.where(iteration >= self.step - 1, np.nan, 1e-3)


@pytest.mark.slow
def test_the_error_names_the_first_bad_step_and_restores_the_optimizer_too():
    flow, data = _tiny_flow(), _banana_data(1000)
    optimizer = tf.keras.optimizers.Adam(_NanLearningRateFrom(37))
    seen = {}

    def record(step, logs):
        seen[step] = [v.numpy() for v in list(flow.trainable_variables) + optimizer.variables]

    with pytest.raises(tff.NonFiniteLossError, match="at step 37 ") as raised:
        # step 37's loss is finite; its update makes the weights NaN (step 38's loss NaN)
        tff.fit(
            flow,
            data,
            optimizer=optimizer,
            steps=60,
            batch_size=100,
            steps_per_execution=20,
            callbacks=[tff.training.LambdaCallback(record, every=20)],
            progress=False,
        )
    assert raised.value.kept_step == 20 and "state after step 20" in str(raised.value)
    assert int(optimizer.iterations.numpy()) == 20
    for variable, value in zip(list(flow.trainable_variables) + optimizer.variables, seen[20]):
        np.testing.assert_array_equal(variable.numpy(), value)


def test_a_dataset_adapts_standardize_from_its_first_batches():
    data = _banana_data(1000)
    flow = _tiny_flow()
    endless = tf.data.Dataset.from_tensor_slices(data).batch(100).repeat()
    tff.fit(flow, endless, steps=2, jit_compile=False, progress=False)  # reads 100 batches:
    # 10 passes over `data`
    standardize = training.find_standardize_layers(flow.bijector)[0]
    np.testing.assert_allclose(standardize.loc.numpy(), data.mean(0), rtol=1e-5)
    np.testing.assert_allclose(np.exp(standardize.log_scale.numpy()), data.std(0), rtol=1e-5)


@pytest.mark.parametrize(
    "data, message",
    [
        (np.array([[0.0, 1.0], [np.nan, 2.0], [1.0, 1.0]]), "row 1 is not finite"),
        (np.array([[0.0, 1.0], [2.0, np.inf]]), "row 1 is not finite"),
        (np.zeros((10, 3)), "event size 3 but the flow's event size is 2"),
        (np.zeros((0, 2)), "is empty"),
    ],
)
def test_bad_data_is_explained(data, message):
    with pytest.raises(ValueError, match=message):
        tff.fit(_flow(), data, steps=10, progress=False)


@pytest.mark.slow
def test_batch_larger_than_the_data_is_explained_and_trains(capsys):
    history = tff.fit(
        _flow(), _banana_data(50), steps=20, batch_size=256, jit_compile=False, progress=False
    )
    assert "larger than the 50 training rows" in capsys.readouterr().out
    assert history.steps == 20


@pytest.mark.slow
def test_mirrored_strategy_on_two_devices_reaches_the_same_nll_as_one():
    devices = tf.config.list_logical_devices("CPU")
    if len(devices) < 2:
        pytest.skip("TensorFlow initialised its devices before conftest could split the CPU")
    data = _banana_data()
    strategy = tf.distribute.MirroredStrategy([d.name for d in devices[:2]])
    with strategy.scope():
        mirrored = _flow()
        optimizer = tf.keras.optimizers.Adam(1e-3)
    tff.fit(mirrored, data, steps=150, optimizer=optimizer, strategy=strategy, progress=False)
    single = _flow()
    tff.fit(
        single,
        data,
        steps=150,
        optimizer=tf.keras.optimizers.Adam(1e-3),
        jit_compile=False,
        progress=False,
    )
    test = _banana_data(4000, seed=7)
    assert abs(tff.metrics.nll(mirrored, test) - tff.metrics.nll(single, test)) < 1e-3


@pytest.mark.slow
def test_fit_trains_image_shaped_events_from_arrays_and_datasets():
    """Events [H, W, C]: rows are [n, H, W, C]; errors name the expected shape."""
    import tensorflow_probability as tfp

    from tfp_flows.bijectors import ActNorm, AffineCoupling, FlowChain, checkerboard_mask

    shape = (4, 2, 1)
    flow = tff.Flow(
        tfp.distributions.Independent(tfp.distributions.Normal(tf.zeros(shape), 1.0), 3),
        FlowChain(
            [
                ActNorm(shape),
                AffineCoupling(checkerboard_mask(shape), MLPFactory(hidden_units=(8,), seed=0)),
                AffineCoupling(
                    checkerboard_mask(shape, flip=True), MLPFactory(hidden_units=(8,), seed=1)
                ),
            ]
        ),
    )
    x = (2.0 * np.random.default_rng(0).normal(size=(400, *shape)) + 1.0).astype(np.float32)
    history = tff.fit(
        flow, x, steps=40, batch_size=64, validation_split=0.1, progress=False, jit_compile=False
    )
    # ActNorm's data-dependent start already fits N(1, 4) per pixel: the entropy 8 * 2.112
    assert abs(history.val_loss[-1] - 8 * 0.5 * np.log(2 * np.pi * np.e * 4.0)) < 0.5
    dataset = tf.data.Dataset.from_tensor_slices(x).batch(32).repeat()
    assert np.isfinite(tff.fit(flow, dataset, steps=4, progress=False).loss).all()
    with pytest.raises(ValueError, match=r"must have shape \[n, 4, 2, 1\], got an array of shape"):
        tff.fit(flow, x[..., 0], steps=2, progress=False)
    with pytest.raises(ValueError, match=r"event shape \(2, 4, 1\) but the flow's event shape"):
        tff.fit(flow, np.zeros([10, 2, 4, 1], np.float32), steps=2, progress=False)
    bad = x.copy()
    bad[7, 1, 1, 0] = np.nan
    with pytest.raises(ValueError, match="row 7 is not finite"):
        tff.fit(flow, bad, steps=2, progress=False)
    with pytest.raises(ValueError, match=r"\[batch, 4, 2, 1\] batches"):
        tff.fit(
            flow, tf.data.Dataset.from_tensor_slices(x[..., 0]).batch(8), steps=2, progress=False
        )


class _Recorder(tff.training.Callback):
    """Records every hook call; ``fail_at`` raises in ``on_chunk_end`` at that step."""

    def __init__(self, every=None, fail_at=None):
        self.every, self.fail_at, self.calls = every, fail_at, []

    def on_train_begin(self, run):
        self.calls.append(("begin", run.steps, run.history.steps))

    def on_chunk_end(self, step, logs):
        self.calls.append(("chunk", step, sorted(logs)))
        if step == self.fail_at:
            raise RuntimeError("stop here")

    def on_train_end(self, logs):
        self.calls.append(("end", sorted(logs)))

    def close(self):
        self.calls.append(("close",))


@pytest.mark.slow
def test_a_callback_of_your_own_gets_its_hooks_in_order_and_close_after_an_error():
    fit = dict(steps=6, batch_size=64, steps_per_execution=2, jit_compile=False, progress=False)
    every_chunk, every_third = _Recorder(), _Recorder(every=3)
    tff.fit(_tiny_flow(), _banana_data(200), callbacks=[every_chunk, every_third], **fit)
    assert every_chunk.calls == [
        ("begin", 6, 0),
        ("chunk", 2, ["loss"]),
        ("chunk", 3, ["loss"]),  # the chunk ends where the other callback is due
        ("chunk", 5, ["loss"]),
        ("chunk", 6, ["loss"]),
        ("end", ["loss"]),
        ("close",),
    ]
    assert [call[1] for call in every_third.calls if call[0] == "chunk"] == [3, 6]
    failing = _Recorder(fail_at=4)
    with pytest.raises(RuntimeError, match="stop here"):
        tff.fit(_tiny_flow(), _banana_data(200), callbacks=[failing], **fit)
    assert failing.calls[-2:] == [("chunk", 4, ["loss"]), ("close",)]  # no on_train_end
