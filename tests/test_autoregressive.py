"""MADE, MaskedAutoregressive (MAF / IAF) and the ``maf`` / ``iaf`` builders."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from bijector_registry import spline

import tfp_flows as tff
from tfp_flows import testing
from tfp_flows.bijectors import MADE, FlowChain, MaskedAutoregressive
from tfp_flows.bijectors.transformers import Additive, Affine, RationalQuadraticSpline
from tfp_flows.datasets import Banana
from tfp_flows.nn import MADEFactory


def _orders(n):
    return {
        "identity": np.arange(n),
        "reversed": np.arange(n)[::-1].copy(),
        "random": np.random.default_rng(n).permutation(n),
    }


def _allowed(order, k):
    """``allowed[m, j * n + i]``: output block ``j`` of entry ``i`` may depend on input ``m``."""
    return np.tile(order[:, None] < order[None, :], (1, k))


# -- the MADE masks ------------------------------------------------------------------------


@pytest.mark.parametrize("n", [2, 3, 5, 8])
@pytest.mark.parametrize("order_name", ["identity", "reversed", "random"])
@pytest.mark.parametrize(
    "k, widths",
    [(1, lambda n: (n - 1,)), (2, lambda n: (n + 3, n)), (3, lambda n: (2 * n, n - 1, 7 + n))],
)
def test_made_masks_connect_exactly_the_earlier_entries(n, order_name, k, widths):
    order = _orders(n)[order_name]
    made = MADE(n, k, widths(n), input_order=order, seed=0)
    connectivity = made.masks[0]
    for mask in made.masks[1:]:
        connectivity = connectivity @ mask
    assert connectivity.shape == (n, k * n)
    np.testing.assert_array_equal(connectivity > 0, _allowed(order, k))
    assert all(set(np.unique(mask)) <= {0.0, 1.0} for mask in made.masks)
    np.testing.assert_array_equal(made.input_order, order)


@pytest.mark.parametrize("n", [2, 3, 6])
@pytest.mark.parametrize("order_name", ["reversed", "random"])
def test_a_conditional_made_still_connects_exactly_the_earlier_entries(n, order_name):
    order = _orders(n)[order_name]
    made = MADE(n, 2, (n, n + 2), input_order=order, context_size=3, seed=0)
    connectivity = made.masks[0]
    for mask in made.masks[1:]:
        connectivity = connectivity @ mask
    np.testing.assert_array_equal(connectivity > 0, _allowed(order, 2))
    # degree-0 units, which see only the context, reach every output
    from_context = (made.degrees[1] == 0).astype(float)
    for mask in made.masks[1:]:
        from_context = from_context @ mask
    assert np.all(from_context > 0)


@pytest.mark.parametrize("n, widths", [(5, (2,)), (8, (3, 6)), (6, (1, 1))])
def test_narrow_made_never_connects_a_later_entry(n, widths):
    order = _orders(n)["random"]
    made = MADE(n, 2, widths, input_order=order, seed=0)
    connectivity = made.masks[0]
    for mask in made.masks[1:]:
        connectivity = connectivity @ mask
    assert not np.any((connectivity > 0) & ~_allowed(order, 2))


@pytest.mark.parametrize(
    "n, order_name, context_size",
    [
        (2, "identity", 0),
        (2, "reversed", 1),
        (4, "random", 0),
        (6, "random", 2),
        (7, "reversed", 0),
    ],
)
def test_made_jacobian_is_zero_exactly_where_the_order_says(n, order_name, context_size):
    order = _orders(n)[order_name]
    made = MADE(
        n,
        2,
        (n + 2, n + 1),
        input_order=order,
        context_size=context_size,
        activation="tanh",
        seed=3,
        dtype=tf.float64,
    )
    testing.perturb_weights(made, scale=0.5, seed=1)
    x = tf.random.stateless_normal([16, n], seed=[1, 2], dtype=tf.float64)
    c = tf.random.stateless_normal([16, context_size], seed=[3, 4], dtype=tf.float64)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, c])
        out = made(x, c if context_size else None)
    jacobian = np.abs(tape.batch_jacobian(out, x).numpy()).max(axis=0).T  # [n, 2n]: input, output
    allowed = _allowed(order, 2)
    assert np.all(jacobian[~allowed] == 0.0)
    assert np.all(jacobian[allowed] > 1e-8)
    if context_size:  # every output, also the first entry's, depends on the context
        assert np.all(np.abs(tape.batch_jacobian(out, c).numpy()).max(axis=(0, 2)) > 1e-8)


def test_fresh_made_outputs_zeros_so_a_fresh_layer_is_the_identity():
    made = MADE(3, 2, (8,), context_size=1, seed=0)
    np.testing.assert_array_equal(made(tf.ones([2, 3]), tf.ones([2, 1])), np.zeros([2, 6]))
    layer = MaskedAutoregressive(3, Affine(3), MADEFactory(seed=0), one_pass="forward")
    x = tf.constant([[1.0, -2.0, 3.0]])
    np.testing.assert_array_equal(layer.forward(x), x)
    np.testing.assert_array_equal(layer.inverse(x), x)


# -- one MADE pass in the fast direction -----------------------------------------------------


@pytest.mark.parametrize("mode", ["eager", "function"])
def test_maf_log_prob_and_iaf_sample_run_each_made_once(mode, made_calls):
    n, num_layers = 4, 3
    maf = tff.maf(n, num_layers=num_layers, hidden_units=(8,))
    iaf = tff.iaf(n, num_layers=num_layers, hidden_units=(8,))
    compile_ = tf.function if mode == "function" else (lambda f: f)
    made_calls.clear()  # count from here on
    calls = made_calls
    compile_(maf.log_prob)(tf.ones([5, n]))
    assert len(calls) == num_layers
    calls.clear()
    compile_(lambda: iaf.sample(5, seed=0))()
    assert len(calls) == num_layers
    calls.clear()
    compile_(lambda: iaf.experimental_sample_and_log_prob(5, seed=0))()
    assert len(calls) == num_layers


def test_maf_sample_and_iaf_log_prob_take_n_passes_in_one_compiled_loop(made_calls):
    n, num_layers = 4, 2
    maf = tff.maf(n, num_layers=num_layers, hidden_units=(8,))
    iaf = tff.iaf(n, num_layers=num_layers, hidden_units=(8,))
    made_calls.clear()  # count from here on
    calls = made_calls
    maf.sample(3, seed=0)  # eagerly the loop body runs n times per layer
    assert len(calls) == n * num_layers
    calls.clear()
    iaf.log_prob(tf.ones([3, n]))
    assert len(calls) == n * num_layers
    calls.clear()
    graph = tf.function(lambda: maf.sample(3, seed=0)).get_concrete_function().graph
    assert len(calls) == num_layers  # traced once per layer, inside a while loop
    loops = [op for op in graph.get_operations() if op.type in ("While", "StatelessWhile")]
    assert len(loops) == num_layers


def _sequential_reference(layer, u, step, context=None):
    """Entry by entry in the autoregressive order, with a Python loop: the definition."""
    n = layer.event_size
    order = layer.input_order
    result = np.zeros(u.shape)
    ildj = np.zeros(u.shape)
    for position in range(n):
        (i,) = np.flatnonzero(order == position)
        blocks = layer.made(tf.constant(result), context)
        params = tf.transpose(
            tf.reshape(blocks, [-1, layer.transformer.params_per_entry, n]), [0, 2, 1]
        )
        value, log_det = step(u, params)
        result[:, i], ildj[:, i] = value[:, i], log_det[:, i]
    return result, ildj.sum(-1)


@pytest.mark.parametrize("one_pass", ["inverse", "forward"])
@pytest.mark.parametrize(
    "n, order_name, context_size",
    [(2, "identity", 0), (3, "reversed", 2), (6, "random", 0), (6, "random", 1)],
)
def test_the_n_pass_direction_matches_the_sequential_definition(
    one_pass, n, order_name, context_size
):
    layer = MaskedAutoregressive(
        n,
        Affine(n, dtype=tf.float64),
        MADEFactory(hidden_units=(12,), activation="tanh", seed=5),
        one_pass=one_pass,
        input_order=_orders(n)[order_name],
        context_size=context_size,
        dtype=tf.float64,
    )
    testing.perturb_weights(layer, scale=0.5, seed=2)
    u = tf.random.stateless_normal([8, n], seed=[5, 6], dtype=tf.float64)
    c = tf.random.stateless_normal([8, context_size], seed=[7, 8], dtype=tf.float64)
    kwargs = {"context": c} if context_size else {}
    if one_pass == "inverse":  # MAF: sampling is sequential
        expected, ildj = _sequential_reference(
            layer, u, layer.transformer.forward, kwargs.get("context")
        )
        for run in (layer.forward, tf.function(layer.forward, jit_compile=True)):
            np.testing.assert_allclose(run(tf.identity(u), **kwargs), expected, atol=1e-12)
        np.testing.assert_allclose(
            layer.forward_log_det_jacobian(u, 1, **kwargs), -ildj, atol=1e-12
        )
    else:  # IAF: the density is sequential
        expected, ildj = _sequential_reference(
            layer, u, layer.transformer.inverse, kwargs.get("context")
        )
        for run in (layer.inverse, tf.function(layer.inverse, jit_compile=True)):
            np.testing.assert_allclose(run(tf.identity(u), **kwargs), expected, atol=1e-12)
        np.testing.assert_allclose(layer.inverse_log_det_jacobian(u, 1, **kwargs), ildj, atol=1e-12)
    assert np.max(np.abs(expected - u.numpy())) > 1e-2  # a real transformation


# -- builders --------------------------------------------------------------------------------


def test_successive_layers_reverse_the_order_and_names_say_the_family():
    flow = tff.maf(4, num_layers=3, hidden_units=(8,), name="m")
    layers = [b for b in reversed(flow.bijector.bijectors) if isinstance(b, MaskedAutoregressive)]
    assert [layer.name for layer in layers] == ["m_maf_0", "m_maf_1", "m_maf_2"]
    assert [layer.input_order.tolist() for layer in layers] == [
        [0, 1, 2, 3],
        [3, 2, 1, 0],
        [0, 1, 2, 3],
    ]
    assert all(layer.one_pass == "inverse" for layer in layers)
    iaf = tff.iaf(3, num_layers=2, hidden_units=(8,), mixing="lu", name="q")
    assert [b.name for b in reversed(iaf.bijector.bijectors)] == [
        "q_iaf_0",
        "q_lu_linear_0",
        "q_iaf_1",
        "q_lu_linear_1",
        "q_standardize",
    ]


def test_a_transformer_factory_plugs_in_a_spline():
    flow = tff.maf(
        3, num_layers=2, hidden_units=(8,), transformer=lambda num_entries, dtype, name: spline()
    )
    testing.perturb_weights(flow, scale=0.3)
    layer = flow.bijector.bijectors[-1]
    assert layer.transformer.params_per_entry == 11 and layer.made(tf.ones([1, 3])).shape == (1, 33)
    x = flow.sample(16, seed=1)
    np.testing.assert_allclose(
        flow.bijector.forward(flow.bijector.inverse(tf.identity(x))), x, atol=1e-4
    )
    assert np.all(np.isfinite(flow.log_prob(x)))


@pytest.mark.parametrize(
    "build",
    [
        lambda: tff.nsf(
            3,
            num_layers=2,
            hidden_units=(8,),
            bins=5,
            bound=3.0,
            autoregressive=True,
            mixing=None,
            name="q",
        ),
        lambda: tff.maf(3, num_layers=2, hidden_units=(8,), transformer="spline", name="q"),
    ],
    ids=["nsf_autoregressive", "maf_spline"],
)
@pytest.mark.slow
def test_the_autoregressive_spline_flow_scores_in_one_pass_and_inverts(build, made_calls):
    flow = build()
    layers = [b for b in reversed(flow.bijector.bijectors) if isinstance(b, MaskedAutoregressive)]
    assert [b.name for b in layers] == ["q_maf_0", "q_maf_1"]
    assert all(isinstance(b.transformer, RationalQuadraticSpline) for b in layers)
    assert all(b.one_pass == "inverse" for b in layers)
    testing.perturb_weights(flow, scale=0.3, seed=2)
    x = 2.0 * tf.random.stateless_normal([64, 3], seed=[1, 2])
    made_calls.clear()  # count from here on
    calls = made_calls
    log_prob = flow.log_prob(x)
    assert len(calls) == 2  # one MADE pass per layer
    assert np.all(np.isfinite(log_prob))
    z = flow.bijector.inverse(tf.identity(x))
    back = flow.bijector.forward(tf.identity(z))
    # z is a float32 number: rounding it alone moves forward(z) by |J| |z| eps, where J is the
    # Jacobian of the forward map (row sums of |J| reach ~1e3 for these weights, so a fixed
    # atol=1e-4 failed on other machines). The n-pass forward and the one-pass inverse are
    # backward stable: measured error <= 4.2 of these units; allow 16 (and eps |x| for x's own).
    with tf.GradientTape() as tape:
        tape.watch(z)
        y = flow.bijector.forward(z)
    conditioning = np.abs(tape.batch_jacobian(y, z).numpy()).sum(axis=2)  # [n, 3]
    eps = np.finfo(np.float32).eps
    allowed = 16 * eps * (conditioning * np.abs(z.numpy()).max(axis=1, keepdims=True) + np.abs(x))
    assert np.all(np.abs(back - x) <= allowed), np.max(np.abs(back - x) / allowed)
    assert np.max(np.abs(z - x)) > 1e-2  # the splines really moved the points


def test_additive_maf_is_volume_preserving():
    flow = tff.maf(3, num_layers=2, hidden_units=(8,), transformer="additive", standardize=False)
    testing.perturb_weights(flow)
    x = tf.random.stateless_normal([5, 3], seed=[2, 2])
    np.testing.assert_allclose(flow.bijector.inverse_log_det_jacobian(x, 1), np.zeros(5))
    assert not np.allclose(flow.bijector.inverse(x), x)


@pytest.mark.parametrize("builder", [tff.maf, tff.iaf])
def test_a_conditional_flow_depends_on_its_context(builder):
    flow = builder(2, num_layers=2, hidden_units=(8,), context_size=1)
    testing.perturb_weights(flow, scale=0.5)
    x = tf.constant([[0.5, -0.5]] * 2)
    log_prob = flow.log_prob(x, context=tf.constant([[0.0], [2.0]]))
    assert np.all(np.isfinite(log_prob)) and abs(float(log_prob[0] - log_prob[1])) > 1e-3
    assert flow.sample(3, seed=0, context=tf.constant([1.0])).shape == (3, 2)
    assert isinstance(flow.bijector, FlowChain)


@pytest.mark.slow
def test_maf_trains_on_the_banana():
    flow = tff.maf(2, num_layers=3, hidden_units=(16, 16), seed=0)
    test = Banana().sample(2000, seed=1)
    before = -float(tf.reduce_mean(flow.log_prob(test)))
    history = tff.fit(flow, Banana(), steps=300, batch_size=128, progress=False)
    after = -float(tf.reduce_mean(flow.log_prob(test)))
    assert np.mean(history.loss[-30:]) < np.mean(history.loss[:30])
    assert after < before - 0.3, (before, after)
    assert after < 5.0  # the entropy is 4.224


def test_maf_trains_inside_a_keras_3_flow_model():
    flow = tff.maf(2, num_layers=2, hidden_units=(16,), seed=0)
    model = tff.FlowModel(flow)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    assert len(model.get_weights()) == len(flow.variables) > 0
    data = Banana().sample(1024, seed=0).numpy()
    start = [v.numpy().copy() for v in flow.trainable_variables]
    history = model.fit(data, epochs=4, batch_size=128, verbose=0, shuffle=False)
    losses = history.history["loss"]
    assert losses[-1] < losses[0]
    assert any(not np.allclose(a, v.numpy()) for a, v in zip(start, flow.trainable_variables))


# -- argument errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (
            {"one_pass": "both"},
            ValueError,
            "one_pass must be 'inverse' .MAF. or 'forward' .IAF., got 'both'",
        ),
        (
            {"input_order": [0, 2, 2]},
            ValueError,
            r"must be a permutation of range\(3\), got \[0, 2, 2\]",
        ),
        ({"input_order": [0, 1]}, ValueError, r"permutation of range\(3\), got \[0, 1\]"),
        ({"context_size": -1}, ValueError, "context_size must be a non-negative integer, got -1"),
    ],
)
def test_bad_layer_arguments_are_named(kwargs, error, message):
    with pytest.raises(error, match=message):
        MaskedAutoregressive(3, Affine(3), **kwargs)


def test_a_made_of_the_wrong_size_or_type_is_named():
    with pytest.raises(ValueError, match=r"the conditioner must have output_size=6 \(got 3\)"):
        MaskedAutoregressive(3, Affine(3), MADE(3, 1))
    with pytest.raises(
        ValueError,
        match=r"input_order=\[2, 1, 0\] was asked for, but the conditioner is autoregressive "
        r"in input_order=\[0, 1, 2\]",
    ):
        MaskedAutoregressive(3, Additive(), MADE(3, 1), input_order=[2, 1, 0])
    with pytest.raises(
        TypeError,
        match="the conditioner must be known to be autoregressive: .* which declares no "
        "input_order and no connectivity",
    ):
        MaskedAutoregressive(3, Additive(), lambda x, c: x)
    with pytest.raises(TypeError, match="hidden_units must be a sequence"):
        MADEFactory(hidden_units="16")
    with pytest.raises(
        TypeError,
        match="transformer must be a tfp_flows.bijectors.transformers.Transformer .* got str",
    ):
        MaskedAutoregressive(3, "affine")
    with pytest.raises(ValueError, match="this MADE takes a context of size 2, got none"):
        MADE(3, 1, context_size=2)(tf.ones([1, 3]))


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"event_size": 1}, ValueError, "event_size must be an integer >= 2, got 1"),
        ({"num_layers": 0}, ValueError, "num_layers must be a positive integer, got 0"),
        (
            {"transformer": "quadratic"},
            ValueError,
            "transformer must be 'affine', "
            "'unbounded_affine', 'additive', 'spline' or a "
            "callable .* got 'quadratic'",
        ),
        ({"transformer": 3}, TypeError, "transformer must be .* got int"),
        (
            {"transformer": lambda n, dtype, name: "affine"},
            TypeError,
            "factory must return a tfp_flows.bijectors.transformers.Transformer, got str",
        ),
        (
            {"mixing": "permute"},
            ValueError,
            "mixing must be one of None, 'lu', 'reverse', 'random', got 'permute'",
        ),
        ({"dtype": tf.int32}, TypeError, "int32"),
    ],
)
@pytest.mark.parametrize("builder", [tff.maf, tff.iaf])
def test_bad_builder_arguments_are_named(builder, kwargs, error, message):
    kwargs = {"event_size": 3, **kwargs}
    with pytest.raises(error, match=message):
        builder(**kwargs)


def test_a_copy_shares_the_made_and_the_transformer():
    layer = MaskedAutoregressive(
        3, Affine(3), MADEFactory(hidden_units=(8,), seed=0), input_order=[2, 0, 1]
    )
    testing.perturb_weights(layer)
    copied = layer.copy(name="copied")
    assert copied.made is layer.made and copied.transformer is layer.transformer
    assert copied != layer and copied.input_order.tolist() == [2, 0, 1]
    x = tf.random.stateless_normal([4, 3], seed=[9, 9])
    np.testing.assert_allclose(copied.forward(x), layer.forward(tf.identity(x)), atol=1e-6)
    with pytest.raises(ValueError, match="takes only name= and validate_args="):
        layer.copy(one_pass="forward")


def test_the_unbounded_affine_of_vi_surrogates_passes_the_property_checks():
    """TFP's form (x + t) e^s with s unbounded (``transformer="unbounded_affine"``): not in the
    registry, whose finite-at-1e4 check an unbounded scale cannot pass by design."""
    layer = tff.iaf(
        3,
        num_layers=1,
        hidden_units=(8,),
        transformer="unbounded_affine",
        standardize=False,
        dtype=tf.float64,
    ).bijector
    testing.perturb_weights(layer, scale=0.5, seed=2)
    transformer = next(iter(layer.bijectors))._transformer
    assert transformer.log_scale_bound is None and transformer.shift_inside
    x = tf.random.stateless_normal([16, 3], seed=[3, 3], dtype=tf.float64)
    errors = testing.check_bijector(layer, x)
    assert errors["autodiff_log_det"] < 1e-8 and errors["round_trip"] < 1e-10
