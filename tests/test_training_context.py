"""Training on ``(x, context)`` pairs: ``fit`` and ``FlowModel`` with arrays and ``tf.data``.

A conditional toy ``x | c ~ N(w * c, 1)`` with one trainable ``w`` stands in
for a conditional flow: learning ``w = 1.5`` needs every ``x`` to meet its own
``c`` (shuffled and split together); unpaired rows would drive ``w`` to 0.
"""

import re

import keras
import numpy as np
import pytest
import tensorflow as tf
from conditional_toys import LOG_2PI, KwargsRecorder, LinearGaussian, linear_gaussian_data
from tensorflow_probability import distributions as tfd

import tfp_flows as tff
from tfp_flows._internal.seeds import stateless_seed

BEST_NLL = 0.5 * LOG_2PI + 0.5  # E[-log N(x; w c, 1)] at the true w


def _fit(distribution, data, **kwargs):
    kwargs = {
        "steps": 150,
        "batch_size": 100,
        "optimizer": keras.optimizers.Adam(0.1),
        "progress": False,
        **kwargs,
    }
    return tff.fit(distribution, data, **kwargs)


def test_fit_learns_the_context_weight_from_arrays_and_splits_both_for_validation():
    x, c = linear_gaussian_data()
    model = LinearGaussian()
    history = _fit(
        model, x, context=c, validation_split=0.2, callbacks=[tff.training.Validation(every=50)]
    )
    assert float(model.w.numpy()) == pytest.approx(1.5, abs=0.1)
    # the held-out rows keep their own context: their NLL is the best possible, not worse
    assert history.val_loss[-1] == pytest.approx(BEST_NLL, abs=0.1)


def test_fit_with_validation_data_pairs_and_early_stopping():
    x, c = linear_gaussian_data()
    val = linear_gaussian_data(300, seed=1)
    model = LinearGaussian()
    history = _fit(
        model,
        x,
        context=c,
        validation_data=val,
        callbacks=[tff.training.Validation(every=25), tff.training.EarlyStopping(patience=20)],
    )
    assert history.val_steps[0] == 25
    assert history.best_val_loss == pytest.approx(BEST_NLL, abs=0.1)


def test_fit_learns_from_a_dataset_of_x_context_pairs():
    x, c = linear_gaussian_data()
    dataset = tf.data.Dataset.from_tensor_slices((x, c.astype(np.float64))).batch(100)
    model = LinearGaussian()
    _fit(model, dataset, jit_compile=False)
    assert float(model.w.numpy()) == pytest.approx(1.5, abs=0.1)


def test_distributed_fit_with_a_context():
    devices = tf.config.list_logical_devices("CPU")
    if len(devices) < 2:
        pytest.skip("TensorFlow initialised its devices before conftest could split the CPU")
    # no collective ops: their instance keys collide with another MirroredStrategy's in the process
    strategy = tf.distribute.MirroredStrategy(
        [d.name for d in devices[:2]], cross_device_ops=tf.distribute.ReductionToOneDevice()
    )
    x, c = linear_gaussian_data()
    with strategy.scope():
        model = LinearGaussian()
        optimizer = keras.optimizers.Adam(0.1)
    _fit(model, x, context=c, optimizer=optimizer, strategy=strategy, steps=100)
    assert float(model.w.numpy()) == pytest.approx(1.5, abs=0.15)


def _unconditional_data(n=256):
    return np.random.default_rng(0).normal([1.0, -1.0], 1.0, size=(n, 2)).astype(np.float32)


@pytest.mark.parametrize(
    "make_data",
    [
        _unconditional_data,
        lambda: tf.data.Dataset.from_tensor_slices(_unconditional_data()).batch(64),
        lambda: tff.datasets.Banana(),
    ],
    ids=["array", "dataset", "target"],
)
def test_without_a_context_log_prob_gets_no_context_keyword(make_data):
    recorder = KwargsRecorder()
    _fit(recorder, make_data(), steps=20, batch_size=64, validation_data=_unconditional_data(8))
    assert recorder.seen and all(kwargs == [] for kwargs in recorder.seen)
    assert float(recorder.loc.numpy()[0]) > 0.5  # it trained


def test_flow_model_without_a_context_passes_no_context_keyword():
    recorder = KwargsRecorder()
    model = tff.FlowModel(recorder)
    model.compile(optimizer=keras.optimizers.Adam(0.1))
    model.fit(_unconditional_data(), epochs=2, batch_size=64, verbose=0)
    model.evaluate(_unconditional_data(), verbose=0)
    assert recorder.seen and all(kwargs == [] for kwargs in recorder.seen)


def _refused(error, message, data=None, **kwargs):
    x, c = linear_gaussian_data(200)
    model = LinearGaussian()
    kwargs = {"context": c, **kwargs}
    with pytest.raises(error, match=re.escape(message)):
        tff.fit(model, x if data is None else data, steps=5, progress=False, **kwargs)
    assert float(model.w.numpy()) == 0.0


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (
            {"context": np.zeros((199, 1))},
            ValueError,
            "context must have one row per data row: expected 200 rows, got 199 (shape (199, 1)).",
        ),
        (
            {"context": np.zeros(200)},
            ValueError,
            "context must have shape [n, context_size], got an array of shape (200,); a single context "
            "column is context[:, None].",
        ),
        (
            {"context": np.r_[np.zeros((3, 1)), [[np.nan]], np.zeros((196, 1))]},
            ValueError,
            "context row 3 is not finite",
        ),
        ({"context": np.full((200, 1), 1e300)}, ValueError, "context row 0 must fit in float32"),
        (
            {"context": np.full((200, 1), "a")},
            TypeError,
            "context must be real numbers, got dtype <U1.",
        ),
        (
            {"validation_data": np.zeros((10, 1))},
            ValueError,
            "validation_data must be a pair (x, context) when training with a context, got a ndarray.",
        ),
        (
            {"validation_data": (np.zeros((10, 1)), np.zeros((9, 1)))},
            ValueError,
            "validation context must have one row per data row: expected 10 rows, got 9",
        ),
    ],
)
def test_bad_context_is_named_and_nothing_trains(kwargs, error, message):
    _refused(error, message, **kwargs)


# -- a conditional target: fresh (x, context) pairs at every step ---------------------------------


class PairsToy:
    """Anything with ``sample_pairs(n, seed) -> (x, c)``: ``c ~ U(-2, 2)``, ``x | c ~ N(1.5 c, 1)``."""

    def sample_pairs(self, n, seed):
        seed = stateless_seed(seed)
        c = tf.random.stateless_uniform([n, 1], seed=seed, minval=-2.0, maxval=2.0)
        return 1.5 * c + tf.random.stateless_normal([n, 1], seed=seed + [0, 1]), c


def test_fit_draws_fresh_pairs_from_a_conditional_target_at_every_step():
    model = LinearGaussian()

    def mean_x_times_c(distribution, batch):  # the step's pairs, seen through the loss
        return tf.reduce_mean(batch.x * batch.context) + 0.0 * distribution.w

    history = _fit(
        model,
        PairsToy(),
        loss=mean_x_times_c,
        steps=7,
        batch_size=16,
        seed=3,
        steps_per_execution=3,
        jit_compile=False,
    )  # XLA draws other numbers
    expected = []
    for step in range(7):  # step k's pairs are sample_pairs(batch_size, seed=[seed, k])
        x, c = PairsToy().sample_pairs(16, seed=tf.constant([3, step]))
        expected.append(float(tf.reduce_mean(x * c)))
    np.testing.assert_allclose(history.loss, expected, rtol=1e-5)
    assert len(set(np.round(history.loss, 6))) == 7  # a fresh batch every step


def test_fit_learns_the_context_weight_from_a_conditional_target():
    """The learning rate decays (0.1 to 0.01): the last iterate of a constant 0.1 wanders by
    ~0.05 around the optimum, and the test reads the last iterate (seeds 0-3, with and without
    XLA: within 0.02 of the true 1.5)."""
    model = LinearGaussian()
    history = _fit(
        model,
        PairsToy(),
        optimizer=keras.optimizers.Adam(
            keras.optimizers.schedules.CosineDecay(0.1, 150, alpha=0.1)
        ),
        validation_data=linear_gaussian_data(300, seed=1),
        callbacks=[tff.training.Validation(every=50)],
    )
    assert float(model.w.numpy()) == pytest.approx(1.5, abs=0.05)
    assert history.val_loss[-1] == pytest.approx(BEST_NLL, abs=0.1)


@pytest.mark.slow
def test_a_conditional_flow_learns_the_conditional_banana_from_its_pairs():
    target = tff.datasets.ConditionalBanana(b_range=(0.05, 0.5))
    flow = tff.real_nvp(2, num_layers=2, hidden_units=(16,), context_size=1, seed=0)

    def gaps():
        return [
            tff.metrics.conditional_kl_gap(flow, target, context=[b], n=2000, seed=1).mean
            for b in (0.1, 0.4)
        ]

    before = gaps()
    tff.fit(flow, target, steps=300, batch_size=256, seed=0, progress=False)
    after = gaps()
    assert all(a < 0.5 * b for a, b in zip(after, before)), (before, after)


def test_a_conditional_target_is_refused_with_a_context_a_split_or_an_unconditional_flow():
    _refused(
        ValueError,
        "context= needs array data, got a conditional target; a conditional "
        "target draws its own contexts (sample_pairs).",
        data=PairsToy(),
    )
    _refused(
        ValueError,
        "validation_split must be 0 when data is a conditional target",
        data=PairsToy(),
        context=None,
        validation_split=0.1,
    )
    normal = tfd.Independent(tfd.Normal(tf.Variable([0.0]), 1.0), 1)
    with pytest.raises(TypeError, match="a context needs a conditional distribution"):
        tff.fit(normal, PairsToy(), steps=5, progress=False)
    np.testing.assert_array_equal(normal.trainable_variables[0].numpy(), [0.0])


def test_context_with_a_dataset_or_target_is_refused():
    x, c = linear_gaussian_data(200)
    _refused(
        ValueError,
        "context= needs array data, got a tf.data.Dataset; yield (x, context) "
        "batches from the dataset instead.",
        data=tf.data.Dataset.from_tensor_slices(x).batch(10),
    )
    _refused(
        ValueError, "context= needs array data, got a target distribution", data=LinearGaussian()
    )


def test_a_dataset_of_triples_is_refused():
    x, c = linear_gaussian_data(200)
    triples = tf.data.Dataset.from_tensor_slices((x, c, c)).batch(10)
    _refused(
        ValueError,
        "data must yield x or (x, context) elements, got tuples of 3",
        data=triples,
        context=None,
    )


def test_a_dataset_with_mismatched_context_rows_is_named():
    x, c = linear_gaussian_data(200)
    pairs = tf.data.Dataset.zip(
        (
            tf.data.Dataset.from_tensor_slices(x).batch(10),
            tf.data.Dataset.from_tensor_slices(c).batch(9),
        )
    )
    _refused(
        ValueError,
        "data batch context must have one row per data row: expected 10 rows, got 9",
        data=pairs,
        context=None,
        jit_compile=False,
    )


def test_a_context_for_a_distribution_that_takes_none_is_named():
    normal = tfd.Independent(tfd.Normal(tf.Variable([0.0, 0.0]), 1.0), 1)
    data = np.random.default_rng(0).normal(size=(50, 2))
    with pytest.raises(
        TypeError,
        match="a context needs a conditional distribution "
        r"\(log_prob\(x, context=c\)\), got Independent, which takes no context",
    ):
        tff.fit(normal, data, context=np.zeros((50, 1)), steps=5, progress=False)
    np.testing.assert_array_equal(normal.trainable_variables[0].numpy(), [0.0, 0.0])


def test_a_custom_loss_is_minimised_through_the_same_seam():
    model = LinearGaussian()
    seen = []

    def pull_w_to_3(distribution, batch):
        seen.append((batch.x.shape, batch.context.shape))
        return (distribution.w - 3.0) ** 2

    x, c = linear_gaussian_data(200)
    history = _fit(model, x, context=c, loss=pull_w_to_3, steps=100)
    assert float(model.w.numpy()) == pytest.approx(3.0, abs=0.05)
    assert history.loss[-1] < 1e-2
    assert seen[0] == (tf.TensorShape([100, 1]), tf.TensorShape([100, 1]))


# -- FlowModel -----------------------------------------------------------------------------------


def _flow_model():
    model = tff.FlowModel(LinearGaussian())
    model.compile(optimizer=keras.optimizers.Adam(0.1))
    return model


@pytest.mark.parametrize("form", ["pair", "y", "dataset"])
def test_flow_model_trains_on_x_context_pairs(form):
    x, c = linear_gaussian_data()
    model = _flow_model()
    if form == "pair":
        model.fit((x, c), epochs=15, batch_size=100, validation_split=0.2, verbose=0)
    elif form == "y":
        model.fit(
            x,
            c,
            epochs=15,
            batch_size=100,
            verbose=0,
            validation_data=linear_gaussian_data(200, seed=1),
        )
    else:
        model.fit(tf.data.Dataset.from_tensor_slices((x, c)).batch(100), epochs=15, verbose=0)
    assert float(model.distribution.w.numpy()) == pytest.approx(1.5, abs=0.1)


def test_flow_model_evaluate_and_predict_take_the_context():
    model = _flow_model()
    model.distribution.w.assign(1.5)
    x, c = linear_gaussian_data(400, seed=2)
    nll = tff.metrics.nll(model.distribution, x, context=c)
    assert model.evaluate(x, c, batch_size=400, verbose=0) == pytest.approx(nll, rel=1e-5)
    assert model.evaluate((x, c), batch_size=400, verbose=0) == pytest.approx(nll, rel=1e-5)
    np.testing.assert_allclose(
        model.predict((x, c), verbose=0), model.distribution.log_prob(x, context=c), rtol=1e-5
    )


def test_flow_model_names_a_bad_context():
    x, c = linear_gaussian_data(100)
    with pytest.raises(
        ValueError,
        match=re.escape("data context must have one row per data row: expected 100 rows, got 99"),
    ):
        _flow_model().fit((x, c[:99]), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="give the context of data once"):
        _flow_model().fit((x, c), c, epochs=1, verbose=0)
