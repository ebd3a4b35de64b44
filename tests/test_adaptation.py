"""One adaptation protocol: every adaptive layer of a flow is fitted to the data as it arrives there."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_probability import bijectors as tfb

import tfp_flows as tff
from tfp_flows.bijectors import ActNorm, AffineCoupling, BatchNorm, LULinear, Standardize
from tfp_flows.bijectors.walk import walk
from tfp_flows.nn import MLPFactory
from tfp_flows.training import adapt_layers, find_adaptive_layers


def _data(n=400, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    x2 = rng.normal(1.0, 3.0, n)
    return np.stack([x2**2 / 4 + rng.normal(5.0, 1.0, n), x2], 1).astype(dtype)


def _two_standardize_flow(dtype=tf.float64):
    """Forward order: actnorm_a, coupling, inner standardize, batch norm, actnorm_b, LU, outer standardize."""
    layers = [
        ActNorm(2, dtype=dtype, name="actnorm_a"),
        AffineCoupling(2, MLPFactory(hidden_units=(8,), seed=0), dtype=dtype, name="coupling"),
        Standardize(2, dtype=dtype, name="inner_standardize"),
        BatchNorm(2, epsilon=1e-12, dtype=dtype, name="batch_norm"),
        ActNorm(2, dtype=dtype, name="actnorm_b"),
        LULinear(2, dtype=dtype, name="lu"),
    ]
    flow = tff.flows.coupling_flow(layers, 2, standardize=True, dtype=dtype, name="two")
    tff.testing.perturb_weights(layers[1], scale=0.3, seed=1)  # a coupling that is not the identity
    tff.testing.perturb_weights(layers[5], scale=0.3, seed=2)
    return flow


def _arriving(flow, data, context=None):
    """{layer name: the data pushed through the inverses of that layer and every layer after it}."""
    kwargs = {} if context is None else {"context": tf.constant(context)}
    seen, values = {}, tf.constant(data)
    for layer in reversed(walk(flow)):
        bijector = layer.as_bijector()
        takes = getattr(layer.bijector, "context_size", 0) > 0
        values = bijector.inverse(values, **(kwargs if takes else {}))
        seen[layer.bijector.name] = values.numpy()
    return seen


def _assert_standardised(values, name):
    np.testing.assert_allclose(values.mean(0), 0.0, atol=1e-8, err_msg=name)
    np.testing.assert_allclose(values.std(0), 1.0, rtol=1e-8, err_msg=name)


def test_every_adaptive_layer_is_fitted_in_its_own_coordinates():
    flow, data = _two_standardize_flow(), _data()
    names = [layer.bijector.name for layer in find_adaptive_layers(flow)]
    assert names == ["actnorm_a", "inner_standardize", "batch_norm", "actnorm_b", "two_standardize"]
    adapt_layers(flow, data)
    for layer in find_adaptive_layers(flow):
        assert layer.bijector.adapted.numpy(), layer.bijector.name
    # Each layer's inverse standardises the data as it arrives there from the data side.
    seen = _arriving(flow, data)
    for name in names:
        _assert_standardised(seen[name], name)
    # ... which adapting every layer on the raw data would not do: the LU map and the
    # coupling between them change the data's statistics.
    assert np.abs(seen["lu"].std(0) - 1.0).max() > 0.05


@pytest.mark.slow
def test_fit_adapts_both_standardize_layers_and_the_actnorms():
    flow = _two_standardize_flow(tf.float32)
    data = _data(dtype=np.float32)
    # (adaptation happens before the compiled step: no XLA compilation needed to check it)
    tff.fit(
        flow, data, steps=1, batch_size=400, learning_rate=1e-9, progress=False, jit_compile=False
    )
    assert all(layer.bijector.adapted.numpy() for layer in find_adaptive_layers(flow))
    seen = _arriving(flow, data)  # Standardize and BatchNorm are not trained: still exact
    for name in ("inner_standardize", "two_standardize"):
        np.testing.assert_allclose(seen[name].mean(0), 0.0, atol=1e-4)
        np.testing.assert_allclose(seen[name].std(0), 1.0, rtol=1e-4)


def test_flow_model_fit_adapts_every_layer():
    flow = _two_standardize_flow(tf.float32)
    model = tff.FlowModel(flow)
    model.compile(keras.optimizers.SGD(1e-9), jit_compile=False)  # adapts before any step
    model.fit(_data(dtype=np.float32), epochs=1, batch_size=400, verbose=0)
    assert all(layer.bijector.adapted.numpy() for layer in find_adaptive_layers(flow))
    seen = _arriving(flow, _data(dtype=np.float32))  # the layers that training does not move
    for name in ("inner_standardize", "two_standardize"):
        np.testing.assert_allclose(seen[name].mean(0), 0.0, atol=1e-4)
        np.testing.assert_allclose(seen[name].std(0), 1.0, rtol=1e-4)


def test_a_failure_names_the_layer_and_undoes_every_layer_adapted_before():
    # Data side first: the outer Standardize is adapted, then the rows pass log (the inverse
    # of Exp): standardised rows have negative entries, so the ActNorm gets NaN.
    actnorm = ActNorm(2, dtype=tf.float64, name="deep_actnorm")
    flow = tff.flows.coupling_flow([actnorm, tfb.Exp()], 2, dtype=tf.float64, name="broken")
    outer = find_adaptive_layers(flow)[-1].bijector
    with pytest.raises(
        ValueError,
        match=r"adapting layer 'deep_actnorm' to the data as it arrives "
        r"there \(after the inverses of 2 layers\): ActNorm.adapt: data must be "
        r"finite, got nan",
    ):
        adapt_layers(flow, _data())
    assert not outer.adapted.numpy() and not actnorm.adapted.numpy()
    np.testing.assert_array_equal(outer.loc.numpy(), [0.0, 0.0])


def test_fit_on_data_with_a_nan_row_leaves_every_layer_unadapted():
    flow = _two_standardize_flow(tf.float32)
    data = _data(dtype=np.float32)
    data[7, 1] = np.nan
    with pytest.raises(ValueError, match="row 7 is not finite"):
        tff.fit(flow, data, steps=2, progress=False)
    assert not any(layer.bijector.adapted.numpy() for layer in find_adaptive_layers(flow))


def test_a_fit_that_trains_nothing_undoes_every_adaptation():
    flow = _two_standardize_flow(tf.float32)
    with pytest.raises(tff.NonFiniteLossError):
        tff.fit(
            flow,
            _data(dtype=np.float32),
            optimizer=keras.optimizers.Adam(1e30),
            steps=4,
            batch_size=100,
            steps_per_execution=2,
            jit_compile=False,
            progress=False,
        )
    assert not any(layer.bijector.adapted.numpy() for layer in find_adaptive_layers(flow))


def _conditional_flow():
    flow = tff.real_nvp(
        2,
        num_layers=2,
        hidden_units=(8,),
        context_size=1,
        normalization="actnorm",
        mixing=None,
        seed=0,
        dtype=tf.float64,
        name="cond",
    )
    for layer in walk(flow):
        if "coupling" in layer.bijector.name:
            tff.testing.perturb_weights(layer.bijector, scale=0.5, seed=4)
    return flow


def test_a_conditional_flow_adapts_with_the_rows_context():
    flow, data = _conditional_flow(), _data()
    context = np.random.default_rng(5).normal(size=(data.shape[0], 1)) * 2.0
    with pytest.raises(
        ValueError,
        match="conditional layer 'cond_affine_coupling_1', which needs the rows' context; got none",
    ):
        adapt_layers(flow, data)
    assert not any(layer.bijector.adapted.numpy() for layer in find_adaptive_layers(flow))
    adapt_layers(flow, data, context=context)
    seen = _arriving(flow, data, context)
    for name in ("cond_actnorm_0", "cond_actnorm_1", "cond_standardize"):
        _assert_standardised(seen[name], name)
    # the context matters: without it (a zero context) the arriving data differ
    other = _arriving(flow, data, np.zeros_like(context))
    assert np.abs(other["cond_actnorm_1"].std(0) - 1.0).max() > 1e-3


@pytest.mark.slow
def test_fit_and_flow_model_adapt_a_conditional_flow_with_its_context():
    data = _data(dtype=np.float32)
    context = (np.random.default_rng(5).normal(size=(data.shape[0], 1)) * 2.0).astype(np.float32)

    def flow32():
        flow = tff.real_nvp(
            2,
            num_layers=2,
            hidden_units=(8,),
            context_size=1,
            normalization="actnorm",
            mixing=None,
            seed=0,
            name="cond32",
        )
        for layer in walk(flow):
            if "coupling" in layer.bijector.name:
                tff.testing.perturb_weights(layer.bijector, scale=0.5, seed=4)
        return flow

    flow = flow32()
    tff.fit(
        flow,
        data,
        context=context,
        steps=1,
        batch_size=400,
        learning_rate=1e-9,
        progress=False,
        jit_compile=False,  # adaptation happens before the compiled step
    )
    assert all(layer.bijector.adapted.numpy() for layer in find_adaptive_layers(flow))
    flow = flow32()
    model = tff.FlowModel(flow)
    model.compile(keras.optimizers.SGD(1e-9), jit_compile=False)
    dataset = tf.data.Dataset.from_tensor_slices((data, context)).batch(100)
    model.fit(dataset, epochs=1, verbose=0)
    assert all(layer.bijector.adapted.numpy() for layer in find_adaptive_layers(flow))
    seen = _arriving(flow, data.astype(np.float32), context)
    np.testing.assert_allclose(seen["cond32_actnorm_0"].std(0), 1.0, rtol=1e-3)


def test_inverted_and_already_adapted_layers_are_left_alone():
    inverted = ActNorm(2, dtype=tf.float64, name="inverted_actnorm")
    kept = Standardize(2, dtype=tf.float64, name="kept")
    kept.adapt([[0.0, 0.0], [1.0, 4.0]])
    before = kept.log_scale.numpy()
    flow = tff.flows.coupling_flow(
        [tfb.Invert(inverted), kept], 2, standardize=False, dtype=tf.float64
    )
    undo = adapt_layers(flow, lambda: pytest.fail("no layer needs the rows"))
    undo()
    assert not inverted.adapted.numpy()
    np.testing.assert_array_equal(kept.log_scale.numpy(), before)
