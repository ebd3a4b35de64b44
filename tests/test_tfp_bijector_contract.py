"""TFP's own bijector contract, checked on every bijector of the registry.

TFP's ``bijector_test.py`` and ``bijector_properties_test.py`` (0.25) check, for each of its
bijectors: ``copy()`` keeps the parameters (``copy(validate_args=...)`` changes only that one),
equality and hashing follow the parameters (variables by identity), batch slicing gives the
bijector of the sliced batch, ``parameter_properties()`` answers, and bijectors are not
iterable. Our layers hold their weights in variables and networks, so the same contract says
more here: a copy, a rebuild ``type(b)(**b.parameters)`` and a slice ``b[...]`` compute the same
map *with the same variables* (eager and inside ``tf.function``, where creating variables is an
error), and two layers built apart never compare equal, even with equal values.
"""

import functools

import numpy as np
import pytest
import tensorflow as tf
import tf_keras
from bijector_registry import REGISTRY, entry_params
from tensorflow_probability import bijectors as tfb
from tensorflow_probability import distributions as tfd

import tfp_flows as tff
from tfp_flows import testing
from tfp_flows.bijectors import FlowBijector, FlowChain

N = 3
DTYPE = tf.float32
NAMES = sorted(REGISTRY)


def _build(name):
    """A new bijector of the entry, its weights moved away from the identity."""
    bijector = REGISTRY[name].build(N, DTYPE)
    testing.perturb_weights(bijector, scale=0.1, seed=11)
    return bijector


@functools.cache
def _shared(name):
    """:func:`_build`, once per entry, for the tests that leave its weights as they are."""
    return _build(name)


def _event_ndims(name):
    return len(REGISTRY[name].event_shape(N))


def _inputs(name, batch=4, seed=0):
    """``x`` of shape ``[batch, *event]`` in the layer's domain, and the call's keywords."""
    entry = REGISTRY[name]
    x = tf.random.stateless_normal([batch, *entry.event_shape(N)], seed=[seed, 1], dtype=DTYPE)
    if entry.inputs is not None:
        x = entry.inputs(x)
    kwargs = {}
    if entry.context_size:
        kwargs["context"] = tf.random.stateless_normal(
            [batch, entry.context_size], seed=[seed, 2], dtype=DTYPE
        )
    return x, kwargs


def _map(bijector, name, x, kwargs):
    """Forward, inverse and both log-dets of ``bijector`` at ``x`` (fresh tensors each call)."""
    ndims = _event_ndims(name)
    y = bijector.forward(tf.identity(x), **kwargs)
    return {
        "forward": y,
        "inverse": bijector.inverse(tf.identity(y), **kwargs),
        "forward_log_det": bijector.forward_log_det_jacobian(tf.identity(x), ndims, **kwargs),
        "inverse_log_det": bijector.inverse_log_det_jacobian(tf.identity(y), ndims, **kwargs),
    }


def _assert_same_map(expected, actual, what):
    for key in expected:
        np.testing.assert_allclose(
            np.asarray(actual[key]),
            np.asarray(expected[key]),
            rtol=1e-6,
            atol=1e-6,
            err_msg=f"{what}: {key} differs from the original's",
        )


def _variable_ids(bijector):
    return sorted(id(v) for v in bijector.variables)


def _assert_shares_weights(original, other, what):
    assert _variable_ids(other) == _variable_ids(original), (
        f"{what}: expected the original's {len(original.variables)} variables, got "
        f"{len(other.variables)} of which {len(set(_variable_ids(other)) - set(_variable_ids(original)))} new"
    )


def _assert_follows_weight_changes(original, other, name):
    """After a training step (weights moved), ``other`` still computes ``original``'s map."""
    x, kwargs = _inputs(name, seed=5)
    before = _map(original, name, x, kwargs)
    testing.perturb_weights(original, scale=0.2, seed=12)
    after = _map(original, name, x, kwargs)
    if original.trainable_variables:
        moved = max(float(np.max(np.abs(after[k] - before[k]))) for k in after)
        assert moved > 1e-3, "the weight change should change the map (or this test checks nothing)"
    _assert_same_map(after, _map(other, name, x, kwargs), "after a weight change")


def _creations(build):
    """``build()`` and the number of variables created while it ran."""
    created = []

    def count(next_creator, **kwargs):
        created.append(kwargs.get("name"))
        return next_creator(**kwargs)

    with tf.variable_creator_scope(count):
        result = build()
    return result, len(created)


# -- copy ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", entry_params(NAMES))
def test_a_copy_equals_the_original_shares_its_weights_and_computes_the_same_map(name):
    bijector = _build(name)
    copied = bijector.copy()
    assert copied is not bijector and type(copied) is type(bijector)
    assert copied == bijector and not copied != bijector  # noqa: SIM202 (TFP checks both)
    assert hash(copied) == hash(bijector)
    assert copied.parameters.keys() == bijector.parameters.keys()
    for key, value in bijector.parameters.items():
        assert copied.parameters[key] is value, f"parameter {key!r} of the copy is another object"
    assert copied.name == bijector.name
    _assert_shares_weights(bijector, copied, "copy()")
    x, kwargs = _inputs(name)
    _assert_same_map(_map(bijector, name, x, kwargs), _map(copied, name, x, kwargs), "copy()")
    _assert_follows_weight_changes(bijector, copied, name)


@pytest.mark.parametrize("name", entry_params(NAMES))
def test_copy_with_validate_args_changes_only_that(name):
    bijector = _shared(name)
    assert not bijector.validate_args
    checked = bijector.copy(validate_args=True)
    assert checked.validate_args
    assert checked.parameters["validate_args"] is True
    others = {k: v for k, v in checked.parameters.items() if k != "validate_args"}
    assert others.keys() == {k for k in bijector.parameters if k != "validate_args"}
    for key, value in others.items():
        assert value is bijector.parameters[key], f"copy(validate_args=True) changed {key!r}"
    assert checked != bijector, "validate_args is a parameter: TFP's equality tells them apart"
    _assert_shares_weights(bijector, checked, "copy(validate_args=True)")
    x, kwargs = _inputs(name)
    _assert_same_map(
        _map(bijector, name, x, kwargs), _map(checked, name, x, kwargs), "copy(validate_args=True)"
    )
    assert checked.copy(validate_args=False) == bijector


@pytest.mark.parametrize("name", entry_params([n for n in NAMES if not REGISTRY[n].composite]))
def test_validate_args_makes_every_layer_refuse_non_finite_inputs(name):
    bijector = _shared(name)
    x, kwargs = _inputs(name)
    bad = tf.tensor_scatter_nd_update(tf.reshape(x, [-1]), [[0]], tf.constant([np.nan], DTYPE))
    bad = tf.reshape(bad, x.shape)
    bijector.forward(bad, **kwargs)  # without validate_args: no check
    with pytest.raises(tf.errors.InvalidArgumentError, match="must be finite"):
        bijector.copy(validate_args=True).forward(bad, **kwargs)


@pytest.mark.parametrize("name", entry_params([n for n in NAMES if not REGISTRY[n].composite]))
def test_copy_refuses_overrides_its_shared_weights_would_ignore(name):
    bijector = _shared(name)
    with pytest.raises(ValueError, match=r"takes only name= and validate_args=, got dtype"):
        bijector.copy(dtype=tf.float64)


# -- type(b)(**b.parameters) ---------------------------------------------------------------------


@pytest.mark.parametrize("name", entry_params(NAMES))
def test_rebuilding_from_parameters_gives_the_same_map_with_the_same_weights(name):
    bijector = _build(name)
    rebuilt, created = _creations(lambda: type(bijector)(**bijector.parameters))
    assert created == 0, f"rebuilding created {created} new variable(s)"
    assert rebuilt == bijector and hash(rebuilt) == hash(bijector)
    assert rebuilt.name == bijector.name, "a generated name is kept (tfb.Chain routes by name)"
    _assert_shares_weights(bijector, rebuilt, "type(b)(**b.parameters)")
    x, kwargs = _inputs(name)
    _assert_same_map(
        _map(bijector, name, x, kwargs), _map(rebuilt, name, x, kwargs), "rebuilt layer"
    )
    _assert_follows_weight_changes(bijector, rebuilt, name)


def test_shared_weights_of_another_layer_type_are_refused():
    from tfp_flows.bijectors import ActNorm, Standardize

    with pytest.raises(
        TypeError, match=r"shared_weights must be the parameters\['shared_weights'\]"
    ):
        Standardize(2, shared_weights=ActNorm(2).parameters["shared_weights"])


# -- equality and hashing ------------------------------------------------------------------------


@pytest.mark.parametrize("name", entry_params(NAMES))
def test_layers_built_apart_with_equal_values_are_not_equal_unless_weightless(name):
    first, second = REGISTRY[name].build(N, DTYPE), REGISTRY[name].build(N, DTYPE)
    assert first == first and hash(first) == hash(first)  # noqa: PLR0124 (TFP's reflexivity)
    if first.variables:
        # the registry's builds are seeded: the values are equal, the variables are not
        for a, b in zip(first.variables, second.variables, strict=True):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
        assert first != second, "two layers with their own variables compared equal"
    else:  # no weights: the parameters alone fix the map (TFP's rule), arrays by value
        alike = type(second)(**dict(second.parameters, name=first.name))
        assert alike == first and hash(alike) == hash(first)


@pytest.mark.parametrize("name", entry_params(NAMES))
def test_equal_layers_hash_alike_in_a_set(name):
    bijector = _shared(name)
    layers = {bijector, bijector.copy(), bijector[...], type(bijector)(**bijector.parameters)}
    assert len(layers) == 1
    assert bijector.copy(validate_args=True) not in layers


# -- batch slicing -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", entry_params(NAMES))
@pytest.mark.parametrize("index", [Ellipsis, ()], ids=["ellipsis", "empty_tuple"])
def test_slicing_the_scalar_batch_gives_the_same_map_with_the_same_weights(name, index):
    bijector = _build(name)
    assert bijector.experimental_batch_shape() == tf.TensorShape([])
    sliced, created = _creations(lambda: bijector[index])
    assert created == 0, f"slicing created {created} new variable(s)"
    assert sliced.experimental_batch_shape() == tf.TensorShape([])
    assert sliced == bijector
    _assert_shares_weights(bijector, sliced, "b[...]")
    x, kwargs = _inputs(name)
    _assert_same_map(_map(bijector, name, x, kwargs), _map(sliced, name, x, kwargs), "b[...]")
    _assert_follows_weight_changes(bijector, sliced, name)


@pytest.mark.parametrize("name", entry_params(NAMES))
def test_slicing_inside_tf_function_gives_the_same_map_and_creates_no_variable(name):
    """Retraced (two batch sizes): creating a variable on a retrace is an error in TF."""
    bijector = _shared(name)

    @tf.function
    def sliced_forward(x, **kwargs):
        return bijector[...].forward(x, **kwargs)

    for batch in (4, 5):
        x, kwargs = _inputs(name, batch=batch)
        np.testing.assert_allclose(
            sliced_forward(x, **kwargs),
            bijector.forward(tf.identity(x), **kwargs),
            rtol=1e-5,
            atol=1e-5,
        )


@pytest.mark.parametrize("name", entry_params([n for n in NAMES if not REGISTRY[n].composite]))
@pytest.mark.parametrize(
    ("index", "shown"),
    [
        (0, "0"),
        (slice(None, 1), ":1"),
        (tf.newaxis, "tf.newaxis"),
        ((Ellipsis, 0), "..., 0"),
    ],
    ids=["int", "slice", "newaxis", "ellipsis_int"],
)
def test_a_slice_a_scalar_batch_cannot_take_raises_naming_what_it_takes(name, index, shown):
    bijector = _shared(name)
    with pytest.raises(IndexError, match=rf"takes only b\[\.\.\.\] or b\[\(\)\], got b\[{shown}\]"):
        bijector[index]


def test_a_chain_of_layers_refuses_a_slice_its_layers_cannot_take():
    chain = _shared("real_nvp_chain")
    with pytest.raises((IndexError, ValueError, tf.errors.InvalidArgumentError)):
        chain[0]


@pytest.mark.parametrize("name", entry_params(NAMES))
def test_a_layer_is_not_iterable(name):
    with pytest.raises(TypeError, match="not iterable"):
        iter(_shared(name))


# -- parameter_properties ------------------------------------------------------------------------


@pytest.mark.parametrize("name", entry_params(NAMES))
def test_parameter_properties_answer_and_name_constructor_arguments(name):
    import inspect

    cls = type(_shared(name))
    for dtype in (tf.float32, tf.float64):
        properties = cls.parameter_properties(dtype=dtype)
        assert set(properties) <= set(inspect.signature(cls.__init__).parameters)


def test_every_public_layer_class_is_in_the_registry():
    import tfp_flows.bijectors as bijectors

    public = {
        getattr(bijectors, name)
        for name in bijectors.__all__
        if isinstance(getattr(bijectors, name), type)
        and issubclass(getattr(bijectors, name), (FlowBijector, FlowChain))
        and getattr(bijectors, name) is not FlowBijector
    }
    registered = {type(_shared(name)) for name in NAMES}
    assert public - registered == set(), "public layers without a registry entry"


# -- inside tfb.Chain and a Flow -----------------------------------------------------------------


def _base(name):
    shape = REGISTRY[name].event_shape(N)
    return tfd.Independent(tfd.Normal(tf.zeros(shape, DTYPE), 1.0), len(shape))


@pytest.mark.parametrize("name", entry_params(NAMES))
def test_a_tfb_chain_of_the_layer_copies_and_slices_to_the_same_map(name):
    bijector = _shared(name)
    chain = tfb.Chain([bijector])
    x, kwargs = _inputs(name)
    routed = {bijector.name: kwargs} if kwargs else {}
    ndims = _event_ndims(name)
    expected = chain.forward(tf.identity(x), **routed)
    for other in (
        chain.copy(),
        chain[...],
        tfb.Chain([bijector.copy()]),
        tfb.Chain([bijector[...]]),
    ):
        assert other == chain
        _assert_shares_weights(chain, other, "chain")
        np.testing.assert_allclose(other.forward(tf.identity(x), **routed), expected, rtol=1e-6)
        np.testing.assert_allclose(
            other.forward_log_det_jacobian(tf.identity(x), ndims, **routed),
            chain.forward_log_det_jacobian(tf.identity(x), ndims, **routed),
            rtol=1e-6,
            atol=1e-6,
        )
    assert tfb.Chain([REGISTRY[name].build(N, DTYPE)]) != chain or not bijector.variables


@pytest.mark.parametrize("name", entry_params(NAMES))
def test_a_flow_of_the_layer_copies_and_slices_to_the_same_density(name):
    bijector = _shared(name)
    flow = tff.Flow(_base(name), bijector)
    z, kwargs = _inputs(name)
    x = bijector.forward(z, **kwargs)  # a point of the data side
    expected = flow.log_prob(tf.identity(x), **kwargs)

    @tf.function
    def sliced_log_prob(x, **kwargs):
        return flow[...].log_prob(x, **kwargs)

    for other in (flow.copy(), flow[...], tff.Flow(_base(name), bijector.copy())):
        assert other.bijector == bijector
        assert {id(v) for v in other.variables} >= set(_variable_ids(bijector))
        np.testing.assert_allclose(other.log_prob(tf.identity(x), **kwargs), expected, rtol=1e-5)
    np.testing.assert_allclose(sliced_log_prob(x, **kwargs), expected, rtol=1e-5, atol=1e-5)


# -- a layer of your own: networks passed in, weights made in __init__ or at the first call --------


class _ScaledNetworkShift(FlowBijector):
    """y = x * exp(s) + net(1), ``net`` passed in, ``s`` a variable of the layer's own, and a
    tf_keras layer made in ``__init__`` but built at its first call (adding ``dense(x) * 0``)."""

    def __init__(self, net, validate_args=False, name="scaled_network_shift"):
        parameters = dict(locals())
        super().__init__(2, parameters=parameters, validate_args=validate_args, name=name)
        self.net = net
        self.log_scale = tf.Variable([0.1, -0.2], name="log_scale")
        self.lazy = tf_keras.layers.Dense(2)

    def _shift(self, x):
        return self.net(tf.ones([1, 1])) + 0.0 * self.lazy(x)

    def _forward_and_ildj(self, x):
        ildj = -tf.reduce_sum(self.log_scale) * tf.ones(tf.shape(x)[:-1])
        return x * tf.exp(self.log_scale) + self._shift(x), ildj

    def _inverse_and_ildj(self, y):
        ildj = -tf.reduce_sum(self.log_scale) * tf.ones(tf.shape(y)[:-1])
        return (y - self._shift(y)) * tf.exp(-self.log_scale), ildj


def _net(bias):
    dense = tf_keras.layers.Dense(2, kernel_initializer="zeros", bias_initializer="zeros")
    dense.build((None, 1))
    dense.bias.assign(bias)
    return dense


def test_a_network_passed_in_is_shared_as_a_parameter_and_can_be_swapped():
    net = _net([1.0, 2.0])
    layer = _ScaledNetworkShift(net)
    assert "net" in layer.parameters and layer.parameters["net"] is net
    assert set(layer.parameters["shared_weights"].attributes) == {"log_scale", "lazy"}
    x = tf.constant([[0.0, 0.0]])
    rebuilt = type(layer)(**layer.parameters)
    assert rebuilt.net is net and rebuilt.log_scale is layer.log_scale and rebuilt == layer
    other = type(layer)(**dict(layer.parameters, net=_net([5.0, 5.0])))
    assert other != layer and other.log_scale is layer.log_scale
    np.testing.assert_allclose(other.forward(x), [[5.0, 5.0]])
    np.testing.assert_allclose(layer.forward(x), [[1.0, 2.0]])


def test_a_network_built_at_its_first_call_is_shared_with_copies_made_before():
    layer = _ScaledNetworkShift(_net([1.0, 2.0]))
    copied = layer.copy()  # before the tf_keras layer made in __init__ has variables
    assert not layer.lazy.built
    x = tf.constant([[0.5, -1.0]])
    np.testing.assert_allclose(copied.forward(x), layer.forward(tf.identity(x)))
    assert copied.lazy is layer.lazy and layer.lazy.built
    assert _variable_ids(copied) == _variable_ids(layer)
