"""A ``fit`` that fails before its first chunk of steps finishes leaves the flow bit-identical.

Errors that tracing the first step would find (a missing, extra or wrong-width
context, a dataset of the wrong structure, a string or foreign optimizer, a
non-scalar loss, batches too small for ``BatchNorm``) are raised before
anything is adapted or traced, in one line naming what was expected and what
came; any other failure before the first chunk finishes puts every variable of
the flow back (weights, adapted statistics, ``adapted`` flags).
"""

import re

import keras
import numpy as np
import pytest
import tensorflow as tf
import tf_keras
from tensorflow_probability import distributions as tfd

import tfp_flows as tff
from tfp_flows.bijectors import AffineCoupling, BatchNorm, training_mode
from tfp_flows.nn import MLPFactory
from tfp_flows.training import find_adaptive_layers


def _rows(n=200, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, 2)) * [3.0, 1.0] + [5.0, 0.0]).astype(np.float32)


def _context(n=200, width=1, seed=1):
    return np.random.default_rng(seed).normal(size=(n, width)).astype(np.float32)


def _conditional_flow():
    return tff.real_nvp(2, num_layers=2, hidden_units=(8,), context_size=1, seed=0)


def _flow():
    return tff.real_nvp(2, num_layers=2, hidden_units=(8,), seed=0, normalization="actnorm")


def _batch_norm_flow():
    layers = [
        AffineCoupling(2, MLPFactory(hidden_units=(8,), seed=0)),
        BatchNorm(2),
        AffineCoupling([0, 1], MLPFactory(hidden_units=(8,), seed=1)),
    ]
    return tff.flows.coupling_flow(layers, 2, standardize=True)


def _foreign_optimizer(kind):
    optimizer = keras.optimizers.Adam(1e-3) if kind == "keras" else tf_keras.optimizers.Adam(1e-3)
    optimizer.build(_flow().trainable_variables)
    return optimizer


def _snapshot(flow):
    return [(v.name, v.numpy().copy()) for v in flow.variables]


def _assert_unchanged(flow, before):
    after = _snapshot(flow)
    assert [name for name, _ in after] == [name for name, _ in before]
    for (name, old), (_, new) in zip(before, after):
        assert old.dtype == new.dtype and np.array_equal(old, new), name


def _dataset(*parts, batch=50):
    return tf.data.Dataset.from_tensor_slices(parts if len(parts) > 1 else parts[0]).batch(batch)


CASES = {
    "conditional flow, arrays without context": (
        _conditional_flow,
        lambda: _rows(),
        {},
        ValueError,
        "is conditional (context_size=1): every row needs a context of width 1, got an array "
        "without one",
    ),
    "conditional flow, context of width 2": (
        _conditional_flow,
        lambda: _rows(),
        {"context": _context(width=2)},
        ValueError,
        "expected a context of shape [..., 1], got shape [1, 2]",
    ),
    "unconditional flow, arrays with a context": (
        _flow,
        lambda: _rows(),
        {"context": _context()},
        ValueError,
        "this flow is unconditional (context_size=0), but a context was given",
    ),
    "conditional flow, dataset of x only": (
        _conditional_flow,
        lambda: _dataset(_rows()),
        {},
        ValueError,
        "is conditional (context_size=1): every row needs a context of width 1, got a "
        "tf.data.Dataset without one; yield (x, context) batches.",
    ),
    "conditional flow, dataset context of width 2": (
        _conditional_flow,
        lambda: _dataset(_rows(), _context(width=2)),
        {},
        ValueError,
        "takes a context of width 1 (context_size=1), got a tf.data.Dataset with a context of "
        "width 2.",
    ),
    "unconditional flow, dataset of (x, context)": (
        _flow,
        lambda: _dataset(_rows(), _context()),
        {},
        ValueError,
        "is unconditional (context_size=0), got a tf.data.Dataset with a context of width 1; "
        "build the flow with context_size=1, or train without a context.",
    ),
    "conditional flow, unconditional target": (
        _conditional_flow,
        lambda: tff.datasets.Banana(),
        {},
        ValueError,
        "is conditional (context_size=1): every row needs a context of width 1, got a target "
        "distribution without one",
    ),
    "string optimizer": (
        _flow,
        lambda: _rows(),
        {"optimizer": "adam"},
        TypeError,
        "optimizer must be an optimizer object such as keras.optimizers.Adam(1e-3), got the "
        "string 'adam'",
    ),
    "Keras 3 optimizer built for another flow": (
        _flow,
        lambda: _rows(),
        {"optimizer": lambda: _foreign_optimizer("keras")},
        ValueError,
        "the optimizer was built for other variables: 0 of the",
    ),
    "tf_keras optimizer built for another flow": (
        _flow,
        lambda: _rows(),
        {"optimizer": lambda: _foreign_optimizer("tf_keras")},
        ValueError,
        "the optimizer was built for other variables: 0 of the",
    ),
    "per-row loss": (
        _flow,
        lambda: _rows(),
        {"loss": lambda flow, batch: -flow.log_prob(batch.x)},
        ValueError,
        "loss must return a scalar (the batch's mean loss), got a tensor of shape [200] on a batch of 200 rows",
    ),
    "BatchNorm, batch_size=1": (
        _batch_norm_flow,
        lambda: _rows(),
        {"batch_size": 1},
        ValueError,
        "batch_size=1 gives training batches of 1 row(s), but the flow's BatchNorm layer",
    ),
    "BatchNorm, one training row": (
        _batch_norm_flow,
        lambda: _rows(3),
        {"validation_split": 0.5},
        ValueError,
        "batch_size=256 with only 1 training row(s) gives training batches of 1 row(s)",
    ),
    "BatchNorm, dataset batches of one row": (
        _batch_norm_flow,
        lambda: _dataset(_rows(), batch=1),
        {},
        ValueError,
        "data yielded a batch of 1 row(s), but the flow's BatchNorm layers need at least 2 rows "
        "per training batch; batch the dataset with drop_remainder=True",
    ),
    "BatchNorm, dataset batches of one row by their static shape": (
        _batch_norm_flow,
        lambda: _dataset(_rows(), batch=1).rebatch(1, drop_remainder=True),
        {},
        ValueError,
        "the dataset's batches have 1 row(s), but the flow's BatchNorm layer",
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_a_refused_fit_names_the_problem_in_one_line_and_leaves_the_flow_bit_identical(name):
    make_flow, make_data, kwargs, error, message = CASES[name]
    flow = make_flow()
    kwargs = {
        key: value() if key == "optimizer" and callable(value) else value
        for key, value in kwargs.items()
    }
    before = _snapshot(flow)
    with pytest.raises(error, match=re.escape(message)) as raised:
        tff.fit(flow, make_data(), steps=4, steps_per_execution=2, progress=False, **kwargs)
    assert "\n" not in str(raised.value)
    _assert_unchanged(flow, before)


def test_a_dataset_batch_of_one_row_later_on_is_refused_for_batch_norm():
    data = _dataset(_rows(7), batch=3)  # batches of 3, 3, 1
    flow = _batch_norm_flow()
    with pytest.raises(
        ValueError,
        match=re.escape(
            "yielded a batch of 1 row(s), but the flow's BatchNorm layers need at least 2 rows"
        ),
    ):
        tff.fit(flow, data, steps=3, progress=False, jit_compile=False)


def test_batch_norm_refuses_a_one_row_training_batch_at_trace_time():
    layer = BatchNorm(2)
    with training_mode(), pytest.raises(ValueError, match="at least 2 rows"):
        layer.inverse(tf.constant([[1.0, 2.0]]))
    # outside training the moving statistics are used: one row is fine
    assert layer.inverse(tf.constant([[1.0, 2.0]])).shape == (1, 2)


@pytest.mark.parametrize("jit_compile", [True, False])
def test_an_error_while_the_first_chunk_is_traced_puts_back_the_adapted_layers(jit_compile):
    """A loss that works on the host but fails in the compiled step: every variable is put back."""

    def loss(flow, batch):
        if not tf.executing_eagerly():
            raise RuntimeError("fails when traced")
        return -tf.reduce_mean(flow.log_prob(batch.x))

    flow = _flow()
    before = _snapshot(flow)
    with pytest.raises(RuntimeError, match="fails when traced"):
        tff.fit(
            flow,
            _rows(),
            steps=4,
            steps_per_execution=2,
            progress=False,
            loss=loss,
            jit_compile=jit_compile,
        )
    _assert_unchanged(flow, before)
    # the adaptation really ran before the failure (else this test would check nothing)
    adapted = find_adaptive_layers(flow.bijector)
    assert adapted and not any(bool(layer.bijector.adapted.numpy()) for layer in adapted)


def test_a_failure_after_the_first_chunk_keeps_the_trained_flow():
    calls = []

    def stop_after_first_chunk(step, logs):
        calls.append(step)
        raise KeyError("stop")

    flow = _flow()
    before = _snapshot(flow)
    with pytest.raises(KeyError):
        tff.fit(
            flow,
            _rows(),
            steps=2,
            steps_per_execution=1,
            progress=False,
            callbacks=[tff.training.LambdaCallback(stop_after_first_chunk, every=1)],
            jit_compile=False,
        )
    assert calls == [1]
    assert not all(np.array_equal(old, new) for (_, old), (_, new) in zip(before, _snapshot(flow)))


@pytest.mark.slow
def test_the_optimizer_built_for_the_flow_can_be_passed_again():
    flow = _flow()
    optimizer = keras.optimizers.Adam(1e-3)
    kwargs = {
        "steps": 2,
        "steps_per_execution": 2,
        "optimizer": optimizer,
        "progress": False,
        "jit_compile": False,
    }
    tff.fit(flow, _rows(), **kwargs)
    history = tff.fit(flow, _rows(), **kwargs)
    assert history.steps == 2 and int(optimizer.iterations) == 4


def test_a_non_optimizer_object_is_refused_naming_its_type():
    with pytest.raises(
        TypeError,
        match=re.escape("optimizer must be a Keras 3 or tf_keras optimizer (with apply_gradients)"),
    ):
        tff.fit(_flow(), _rows(), steps=2, optimizer=object(), progress=False)


@pytest.mark.slow
def test_a_shrunk_batch_is_a_multiple_of_the_replicas(capsys):
    devices = tf.config.list_logical_devices("CPU")
    if len(devices) < 2:
        pytest.skip("TensorFlow initialised its devices before conftest could split the CPU")
    # no collective ops: their instance keys collide with another MirroredStrategy's in the process
    strategy = tf.distribute.MirroredStrategy(
        [d.name for d in devices[:2]], cross_device_ops=tf.distribute.ReductionToOneDevice()
    )
    with strategy.scope():
        flow = _flow()
    history = tff.fit(
        flow,
        _rows(101),
        steps=2,
        steps_per_execution=2,
        batch_size=256,
        strategy=strategy,
        progress=False,
    )
    assert "using batches of 100 (a multiple of the 2 replicas)" in capsys.readouterr().out
    assert history.steps == 2 and np.isfinite(history.loss).all()
    with strategy.scope():
        flow = _batch_norm_flow()
    before = _snapshot(flow)
    with pytest.raises(
        ValueError,
        match=re.escape("batch_size=2 gives training batches of 1 row(s) per replica (2 replicas)"),
    ):
        tff.fit(flow, _rows(), steps=2, batch_size=2, strategy=strategy, progress=False)
    _assert_unchanged(flow, before)


@pytest.mark.xla
def test_fit_picks_xla_for_vector_flows_and_not_for_image_flows_unless_told(monkeypatch):
    import tfp_flows.training.fitting as fitting

    modes = []

    class Recorded(Exception):
        pass

    def recording(*args, **kwargs):  # record the mode, stop before compiling anything
        modes.append(args[4] if len(args) > 4 else kwargs["jit_compile"])
        raise Recorded

    monkeypatch.setattr(fitting, "make_train_chunk", recording)
    images = np.random.default_rng(0).uniform(size=(64, 4, 4, 1)).astype(np.float32)
    image_flow = tff.real_nvp((4, 4, 1), num_scales=1, hidden_channels=4, num_blocks=1, seed=0)
    for flow, data, jit_compile in [
        (_flow(), _rows(), None),
        (image_flow, images, None),
        (_flow(), _rows(), False),
        (image_flow, images, True),
    ]:
        with pytest.raises(Recorded):
            tff.fit(flow, data, steps=1, batch_size=16, progress=False, jit_compile=jit_compile)
    assert modes == [True, False, False, True]
    with pytest.raises(TypeError, match=re.escape("jit_compile must be True, False or None")):
        tff.fit(_flow(), _rows(), steps=1, jit_compile="xla", progress=False)


@pytest.mark.slow
def test_a_plain_tfp_target_adapts_the_flow_to_the_same_rows_every_time():
    """``fit``'s int seed reaches a TFP target's ``sample`` as a stateless seed."""
    target = tfd.MultivariateNormalDiag([1.0, -2.0], [3.0, 0.5])

    def adapted_then_one_step():
        flow = tff.real_nvp(2, num_layers=1, hidden_units=(4,), standardize=True, seed=0)
        tff.fit(
            flow,
            target,
            steps=1,
            batch_size=8,
            steps_per_execution=1,
            jit_compile=False,
            progress=False,
            seed=3,
        )
        return [v.numpy() for v in flow.variables]

    for first, second in zip(adapted_then_one_step(), adapted_then_one_step()):
        np.testing.assert_array_equal(first, second)
