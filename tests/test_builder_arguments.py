"""Builders and layers: names that work in TFP models, and arguments that are checked."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

import tfp_flows as tff
from tfp_flows.bijectors import AffineCoupling, TrackedConditioner

tfb, tfd = tfp.bijectors, tfp.distributions


def _flow(**kwargs):
    return tff.real_nvp(2, num_layers=2, hidden_units=(8,), **kwargs)


# -- names in TFP models ----------------------------------------------------------------


def test_two_unnamed_flows_in_one_joint_distribution_coroutine():
    first, second = _flow(seed=0), _flow(seed=1)

    def model():
        yield tfd.JointDistributionCoroutine.Root(first)
        yield tfd.JointDistributionCoroutine.Root(second)

    joint = tfd.JointDistributionCoroutine(model)
    a, b = joint.sample(4, seed=[0, 1])
    np.testing.assert_allclose(
        joint.log_prob([a, b]),
        first.log_prob(tf.identity(a)) + second.log_prob(tf.identity(b)),
        rtol=1e-6,
    )
    assert first.name != second.name


def test_a_lambda_may_call_an_unnamed_flow_by_any_argument_name():
    flow = _flow()
    joint = tfd.JointDistributionSequential(
        [flow, lambda theta: tfd.Normal(tf.reduce_sum(theta, -1), 1.0)]
    )
    assert [name for name, _ in joint.resolve_graph()] == ["theta", "x"]
    pinned = joint.experimental_pin(x=1.0)
    assert np.isfinite(pinned.unnormalized_log_prob(tf.zeros(2)))


def test_a_builders_name_reaches_the_flow_its_chain_and_its_layers():
    flow = _flow(name="prior")
    assert flow.name == "prior" and flow.bijector.name == "prior"
    assert all(layer.name.startswith("prior_") for layer in flow.bijector.bijectors)
    joint = tfd.JointDistributionSequential([flow, lambda prior: tfd.Normal(prior[..., 0], 1.0)])
    assert [name for name, _ in joint.resolve_graph()] == ["prior", "x"]
    kwargs = {layer.name: {} for layer in flow.bijector.bijectors}  # routing by unique names
    x = tf.zeros([1, 2])
    np.testing.assert_array_equal(flow.bijector.forward(x, **kwargs), flow.bijector.forward(x))


# -- arguments -------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"hidden_units": (0,)}, ValueError, "width 0 would ignore its input"),
        ({"hidden_units": "64"}, TypeError, "hidden_units must be a sequence of positive integers"),
        (
            {"hidden_units": (64.0,)},
            TypeError,
            "hidden_units must be a sequence of positive integers",
        ),
        ({"hidden_units": 64}, TypeError, "hidden_units must be a sequence of positive integers"),
        (
            {"log_scale_bound": float("nan")},
            ValueError,
            "log_scale_bound must be a positive finite number",
        ),
        ({"log_scale_bound": -1.0}, ValueError, "log_scale_bound must be a positive finite number"),
        (
            {"num_layers": 2.5},
            TypeError,
            r"num_layers must be a positive integer, got 2.5 \(float\)",
        ),
        ({"num_layers": 0}, ValueError, "num_layers must be a positive integer, got 0"),
        ({"num_layers": True}, TypeError, "num_layers must be a positive integer"),
        ({"seed": 1.5}, TypeError, "seed must be a non-negative integer"),
        ({"seed": -1}, ValueError, "seed must be a non-negative integer, got -1"),
        ({"dtype": tf.float16}, TypeError, "supports dtypes float32 and float64, got float16"),
        ({"dtype": tf.bfloat16}, TypeError, "supports dtypes float32 and float64, got bfloat16"),
        ({"dtype": tf.int32}, TypeError, "supports dtypes float32 and float64, got int32"),
        (
            {"mixing": "glow"},
            ValueError,
            "mixing must be one of None, 'lu', 'reverse', 'random', got 'glow'",
        ),
    ],
)
def test_bad_builder_arguments_are_explained_at_build_time(kwargs, error, message):
    arguments = {"num_layers": 2, "hidden_units": (8,), **kwargs}
    with pytest.raises(error, match=message):
        tff.real_nvp(2, **arguments)


@pytest.mark.parametrize("event_size, error", [(1, ValueError), (2.0, TypeError), ("2", TypeError)])
def test_bad_event_sizes_are_explained(event_size, error):
    with pytest.raises(error, match="event_size must be an integer >= 2"):
        tff.nice(event_size)


@pytest.mark.parametrize(
    "network, error, message",
    [
        (lambda x: None, TypeError, "must return a float32 tensor .* got NoneType"),
        (lambda x: tf.reduce_sum(x), ValueError, r"got shape \[\] for 3 input rows"),
        (lambda x: tf.zeros([1, 2]), ValueError, r"got shape \[1, 2\] for 3 input rows"),
        (
            lambda x: tf.zeros([3, 2], tf.float64),
            TypeError,
            "must return a float32 tensor .* got float64",
        ),
        (
            "not a network",
            TypeError,
            r"a conditioner must be a network \(a tff.nn.Conditioner, .* or a "
            r"ConditionerFactory, got 'not a network' \(str\)",
        ),
        (3, TypeError, r"a conditioner must be a network .* got 3 \(int\)"),
    ],
)
def test_conditioners_returning_the_wrong_thing_are_explained(network, error, message):
    with pytest.raises(error, match=message):
        AffineCoupling(2, network)


def test_a_conditioner_built_for_other_sizes_is_explained():
    conditioner = TrackedConditioner(lambda x: tf.zeros([tf.shape(x)[0], 4]), 2, 4)
    with pytest.raises(
        ValueError,
        match=r"the conditioner must have input_size=1 \(got 2\), output_size=2 \(got 4\)",
    ):
        AffineCoupling(2, conditioner)


def test_values_of_the_wrong_dtype_name_both_dtypes():
    flow = _flow()
    with pytest.raises(TypeError, match="expected values of dtype float32, got float64"):
        flow.log_prob(tf.zeros([1, 2], tf.float64))
    with pytest.raises(TypeError, match="expected values of dtype float32, got float64"):
        flow.prob(tf.zeros([1, 2], tf.float64))
    with pytest.raises(
        ValueError, match=r"expected outputs with event shape \[2\], got shape \[1, 3\]"
    ):
        flow.log_prob(tf.zeros([1, 3]))


def test_standalone_layers_take_unique_default_names():
    from tfp_flows.bijectors import LULinear, Standardize

    for make in (lambda: LULinear(2), lambda: Standardize(2), lambda: AffineCoupling(2)):
        first, second = make(), make()
        assert first.name != second.name


@pytest.mark.parametrize("builder, affine", [(tff.real_nvp, True), (tff.nice, False)])
@pytest.mark.parametrize(
    "event_size, num_layers, hidden, kwargs",
    [
        (2, 2, (8,), dict(mixing=None)),
        (5, 3, (7, 3), dict(context_size=2)),
        (6, 2, (4,), dict(normalization="actnorm", mixing="reverse")),
    ],
)
def test_the_coupling_size_estimate_is_the_built_flows_parameter_count(
    builder, affine, event_size, num_layers, hidden, kwargs
):
    from tfp_flows.flows.coupling import coupling_parameters

    flow = builder(event_size, num_layers, hidden, **kwargs)
    built = sum(int(np.prod(v.shape)) for v in flow.trainable_variables)
    assert coupling_parameters(event_size, num_layers, hidden, affine=affine, **kwargs) == built


def test_a_flow_above_the_parameter_cap_is_refused_naming_the_count_and_what_to_change():
    from tfp_flows.flows.coupling import coupling_parameters

    count = coupling_parameters(10_000, 8, (64, 64))
    with pytest.raises(
        ValueError,
        match=rf"would have {count:,} trainable parameters .*"
        r"8 LU mixing maps of 10000 x 10000 .*mixing='reverse'.*"
        r"max_parameters=None",
    ):
        tff.real_nvp(10_000)
    with pytest.raises(ValueError, match="fewer num_layers or smaller hidden_units"):
        tff.nice(50, mixing=None, hidden_units=(200,), max_parameters=1000)
    small = coupling_parameters(50, 8, (200,), mixing=None, affine=False)
    assert tff.nice(50, mixing=None, hidden_units=(200,), max_parameters=small).event_shape == [50]
    assert tff.nice(50, num_layers=1, mixing="lu", hidden_units=(2,), max_parameters=None)


@pytest.mark.parametrize(
    "build",
    [
        lambda **kw: tff.nsf(5, 3, (7, 3), bins=4, context_size=2, **kw),
        lambda **kw: tff.nsf(5, 2, (6,), bins=3, autoregressive=True, **kw),
        lambda **kw: tff.maf(5, 3, (7, 3), context_size=2, mixing="lu", **kw),
        lambda **kw: tff.iaf(4, 2, (6,), transformer="unbounded_affine", **kw),
    ],
    ids=["nsf", "nsf_autoregressive", "maf", "iaf"],
)
def test_every_vector_builder_refuses_more_parameters_than_the_cap_before_building(build):
    count = sum(int(np.prod(v.shape)) for v in build().trainable_variables)
    assert build(max_parameters=count).event_shape.num_elements() >= 4  # the cap is inclusive
    with pytest.raises(
        ValueError,
        match=rf"would have {count:,} trainable parameters.*"
        rf"max_parameters={count - 1:,}",
    ):
        build(max_parameters=count - 1)


def test_large_events_with_lu_mixing_are_refused_for_every_builder_naming_mixing():
    for build in (tff.nsf, lambda n: tff.maf(n, mixing="lu")):
        with pytest.raises(ValueError, match=r"LU mixing maps of 20000 x 20000 .*mixing='reverse'"):
            build(20_000)
