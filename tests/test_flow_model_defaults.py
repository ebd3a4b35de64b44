"""``FlowModel`` with its defaults: ``tff.fit``'s optimizer and compiled execution, image flows,
``BatchNorm`` batch sizes and conditional flows, checked before anything changes."""

import re

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfp_flows as tff
from tfp_flows.bijectors import AffineCoupling, BatchNorm
from tfp_flows.nn import MLPFactory
from tfp_flows.training.optimizers import default_optimizer

# ``xla``: the tests about the default compiled path (XLA for a vector flow) train with it; the
# others train without XLA, whose compilation would be most of their time (conftest.py).


def _moons(n, seed=0):
    return tff.datasets.Moons(noise=0.05).sample(n, seed=seed).numpy()


def _flow(seed=0, **kwargs):
    return tff.real_nvp(2, num_layers=2, hidden_units=(16,), seed=seed, **kwargs)


def _values(distribution):
    return [v.numpy() for v in distribution.variables]


def _assert_unchanged(before, distribution):
    for old, new in zip(before, _values(distribution), strict=True):
        np.testing.assert_array_equal(old, new)


def _assert_schedule_of_default(optimizer, steps):
    """``optimizer``'s learning rate is ``default_optimizer(steps)``'s at every step."""
    expected = default_optimizer(steps)._learning_rate
    for t in range(0, steps + 2):
        assert float(optimizer._learning_rate(t)) == pytest.approx(float(expected(t)), rel=1e-6)


@pytest.mark.slow
@pytest.mark.xla
def test_fit_without_compile_uses_fits_schedule_over_the_steps_it_runs():
    model = tff.FlowModel(_flow())
    model.fit(_moons(640), epochs=3, batch_size=64, validation_split=0.2, verbose=0)
    steps = 3 * 8  # 512 training rows in batches of 64
    assert int(model.optimizer.iterations) == steps
    _assert_schedule_of_default(model.optimizer, steps)
    assert model.optimizer.clipnorm == default_optimizer(steps).clipnorm == 1.0
    assert model.jit_compile and model.steps_per_execution == 100  # XLA for a vector flow
    # the next fit trains with a fresh default over its own steps, as tff.fit does
    model.fit(_moons(640), epochs=1, batch_size=128, verbose=0)
    assert int(model.optimizer.iterations) == 5
    _assert_schedule_of_default(model.optimizer, 5)


@pytest.mark.slow
@pytest.mark.xla
def test_a_second_fit_reuses_the_compiled_loop_and_trains_as_a_fresh_default():
    data = _moons(512)
    model = tff.FlowModel(_flow(), adapt=False)
    model.fit(data, epochs=2, batch_size=128, verbose=0)
    assert model.train_traces == 1
    after_first = model.get_weights()
    keras.utils.set_random_seed(3)
    model.fit(data, epochs=3, batch_size=128, verbose=0)  # another schedule, the same loop
    assert model.train_traces == 1
    # the same steps from the same weights by a new model: its optimizer is new
    fresh = tff.FlowModel(_flow(seed=1), adapt=False)
    fresh.set_weights(after_first)
    keras.utils.set_random_seed(3)
    fresh.fit(data, epochs=3, batch_size=128, verbose=0)
    for reused, new in zip(model.get_weights(), fresh.get_weights(), strict=True):
        np.testing.assert_allclose(reused, new, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
@pytest.mark.xla
def test_a_last_smaller_batch_trains_without_a_second_compiled_loop():
    model = tff.FlowModel(_flow())
    history = model.fit(_moons(640), epochs=2, batch_size=256, verbose=0)  # 256, 256, 128
    assert int(model.optimizer.iterations) == 6
    # one XLA loop for batches of 256, one trace without XLA for the batch of 128
    assert model.train_traces == 2
    assert np.all(np.isfinite(history.history["loss"]))


@pytest.mark.slow
def test_array_data_goes_in_batches_of_256_unless_told():
    model = tff.FlowModel(_flow())
    model.fit(_moons(1024), epochs=1, verbose=0)
    assert int(model.optimizer.iterations) == 4


@pytest.mark.slow
def test_flow_model_defaults_lower_the_loss_as_much_as_fit_at_equal_steps():
    data, test = _moons(2048), _moons(4096, seed=1)
    initial = tff.metrics.nll(_flow(), test)
    fitted = _flow()
    tff.fit(fitted, data, steps=80, batch_size=128, progress=False)
    model = tff.FlowModel(_flow())
    keras.utils.set_random_seed(0)
    model.fit(data, epochs=5, batch_size=128, verbose=0)  # 16 steps an epoch
    by_fit, by_model = tff.metrics.nll(fitted, test), tff.metrics.nll(model.distribution, test)
    assert initial - by_fit > 0.5  # the comparison is about a real drop
    assert by_model - by_fit < 0.05 * (initial - by_fit)


@pytest.mark.slow
@pytest.mark.xla
def test_a_given_optimizer_is_kept_across_fits_and_compiles_with_xla():
    model = tff.FlowModel(_flow())
    optimizer = keras.optimizers.Adam(1e-3)
    model.compile(optimizer=optimizer)
    model.fit(_moons(256), epochs=2, batch_size=64, verbose=0)
    model.fit(_moons(256), epochs=1, batch_size=64, verbose=0)
    assert model.optimizer is optimizer and int(optimizer.iterations) == 12
    assert model.jit_compile


def test_compile_refuses_a_loss_it_would_ignore():
    model = tff.FlowModel(_flow())
    with pytest.raises(
        ValueError,
        match=re.escape(
            "FlowModel's loss is the flow's negative log-likelihood; compile takes no loss=, "
            "got 'mse'."
        ),
    ):
        model.compile(loss="mse")


@pytest.mark.slow
def test_a_dataset_of_unknown_length_needs_steps_per_epoch_for_the_default_schedule():
    data = tf.data.Dataset.from_tensor_slices(_moons(256)).batch(64).filter(lambda b: True)
    model = tff.FlowModel(_flow())
    before = _values(model.distribution)
    with pytest.raises(
        ValueError,
        match="a _FilterDataset of unknown length does not tell: pass steps_per_epoch=...",
    ):
        model.fit(data, epochs=1, verbose=0)
    _assert_unchanged(before, model.distribution)
    model.fit(data, epochs=2, steps_per_epoch=2, verbose=0)
    # the default schedule (inside its ScaledSchedule) spans the 4 steps of the 2 epochs
    assert (
        model.optimizer._learning_rate.schedule.get_config()
        == default_optimizer(4)._learning_rate.schedule.get_config()
    )


# -- image flows -------------------------------------------------------------------------------


def _image_flow():
    return tff.real_nvp(
        (4, 4, 1), num_scales=1, steps_per_scale=2, hidden_channels=4, num_blocks=1, seed=0
    )


@pytest.mark.slow
@pytest.mark.xla
def test_an_image_flow_trains_on_batches_of_its_event_shape():
    images = np.random.default_rng(0).uniform(size=(64, 4, 4, 1)).astype(np.float32)
    model = tff.FlowModel(_image_flow())
    losses = model.fit(images, epochs=3, batch_size=16, verbose=0).history["loss"]
    assert losses[-1] < losses[0]
    assert not model.jit_compile  # no XLA for convolutional flows on CPU
    expected = -float(np.mean(model.distribution.log_prob(tf.constant(images)).numpy()))
    assert model.evaluate(images, batch_size=64, verbose=0) == pytest.approx(expected, rel=1e-5)
    assert model.predict(images, batch_size=64, verbose=0).shape == (64,)
    dataset = tf.data.Dataset.from_tensor_slices(images).batch(16)
    model.fit(dataset, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=re.escape("[n, 4, 4, 1]")):
        model.fit(images.reshape(64, 16), epochs=1, verbose=0)


# -- BatchNorm: batches of at least 2 rows -----------------------------------------------------


def _batch_norm_flow():
    layers = [
        AffineCoupling(2, MLPFactory(hidden_units=(8,), seed=0)),
        BatchNorm(2),
        AffineCoupling([0, 1], MLPFactory(hidden_units=(8,), seed=1)),
    ]
    return tff.flows.coupling_flow(layers, 2, standardize=True)


@pytest.mark.parametrize(
    "rows, kwargs, message",
    [
        (
            64,
            {"batch_size": 1},
            "batch_size must be at least 2 for a flow with BatchNorm, got "
            "batch_size=1 and 64 training rows",
        ),
        (
            65,
            {"batch_size": 16},
            "batch_size=16 leaves a last batch of 1 row of the 65 training "
            "rows, too few for a flow with BatchNorm",
        ),
        (
            82,
            {"batch_size": 16, "validation_split": 0.2},
            "batch_size=16 leaves a last batch of 1 row of the 65 training rows",
        ),
    ],
)
def test_batch_norm_flows_refuse_batches_of_one_row_before_anything_changes(rows, kwargs, message):
    flow = _batch_norm_flow()
    model = tff.FlowModel(flow)
    before = _values(flow)
    with pytest.raises(ValueError, match=re.escape(message)):
        model.fit(_moons(rows), epochs=1, verbose=0, **kwargs)
    _assert_unchanged(before, flow)


def test_batch_norm_flows_refuse_a_dataset_of_one_row_batches():
    flow = _batch_norm_flow()
    data = tf.data.Dataset.from_tensor_slices(_moons(8)).batch(1, drop_remainder=True)
    with pytest.raises(
        ValueError,
        match=re.escape(
            "the dataset's batches must have at least 2 rows for a flow with BatchNorm, got "
            "batches of 1"
        ),
    ):
        tff.FlowModel(flow).fit(data, epochs=1, verbose=0)


@pytest.mark.slow
def test_batch_norm_flows_train_with_batches_of_two_rows_or_more():
    model = tff.FlowModel(_batch_norm_flow())
    losses = model.fit(_moons(512), epochs=2, batch_size=64, verbose=0).history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]


# -- conditional flows ---------------------------------------------------------------------------


@pytest.mark.slow
def test_a_conditional_flow_without_a_context_is_refused_and_left_as_it_came():
    flow = _flow(context_size=1)
    model = tff.FlowModel(flow)
    before = _values(flow)
    with pytest.raises(ValueError, match="this flow is conditional: pass context="):
        model.fit(_moons(256), epochs=1, verbose=0)
    _assert_unchanged(before, flow)
    context = np.random.default_rng(0).normal(size=(256, 1)).astype(np.float32)
    losses = model.fit((_moons(256), context), epochs=2, batch_size=64, verbose=0).history["loss"]
    assert np.all(np.isfinite(losses))
