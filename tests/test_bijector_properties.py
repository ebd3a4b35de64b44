"""The property suite of ``tfp_flows.testing`` over every bijector in the registry.

Speed: each (entry, size, dtype) is built and perturbed once (:func:`_shared`) for the tests
that leave its weights as they found them, and :func:`tfp_flows.testing.check_bijector`
traces it once for all of its checks in both compiled modes (XLA compiles that trace), the
cache probes included.
"""

import functools

import numpy as np
import pytest
import tensorflow as tf
from bijector_registry import REGISTRY, entry_params
from tensorflow_probability import bijectors as tfb
from tensorflow_probability import distributions as tfd

from tfp_flows import testing

EVENT_SIZES = (2, 3, 7)
DTYPES = (tf.float32, tf.float64)


def _perturbed(name, event_size, dtype):
    """A new bijector of the entry, its weights moved away from the identity."""
    bijector = REGISTRY[name].build(event_size, dtype)
    testing.perturb_weights(bijector, scale=0.1, seed=11)
    return bijector


@functools.cache
def _shared(name, event_size, dtype):
    """:func:`_perturbed`, built once per (entry, size, dtype) for the tests that do not move
    its weights (or put them back exactly, as ``check_bijector(weight_changes=True)`` does)."""
    return _perturbed(name, event_size, dtype)


def _inputs(name, n, batch, dtype, seed, scale=1.0):
    """``x`` of shape ``[batch, *event]`` and, for a conditional entry, a context ``[batch, k]``."""
    entry = REGISTRY[name]
    x = scale * tf.random.stateless_normal(
        [batch, *entry.event_shape(n)], seed=[n, seed], dtype=dtype
    )
    if entry.inputs is not None:  # a layer on a bounded domain (Logit: pixels in (0, 1))
        x = entry.inputs(x)
    context = None
    if entry.context_size:
        context = tf.random.stateless_normal(
            [batch, entry.context_size], seed=[n, seed + 1], dtype=dtype
        )
    return x, context


def _base(name, n, dtype):
    shape = REGISTRY[name].event_shape(n)
    return tfd.Independent(tfd.Normal(tf.zeros(shape, dtype), 1.0), len(shape))


def _cases():
    """Every entry in float64 (the strict tolerances) at every size, and in float32 at size 3:
    the float32 path is the same code at a lower precision, and each case compiles the layer
    three times (eager, tf.function, XLA), so a float32 case at every size would add minutes to
    the suite without checking another line of code. A builder's chain (``composite``) is
    checked at size 3: each of its layers has its own entry, checked at every size.

    The fast loop (``-m "not slow"``) checks every layer once, at size 3 in float64 (the strict
    tolerances, and the weight-change probe); the other sizes, float32 and the builders' chains
    are marked slow."""
    for name, entry in sorted(REGISTRY.items()):
        for event_size in EVENT_SIZES:
            for dtype in DTYPES:
                if entry.composite and event_size != 3:
                    continue
                if dtype == tf.float64 or event_size == 3:
                    slow = entry.composite or entry.slow or event_size != 3 or dtype != tf.float64
                    yield pytest.param(
                        name,
                        event_size,
                        dtype,
                        id=f"{name}-{event_size}-{dtype.name}",
                        marks=[pytest.mark.slow] if slow else [],
                    )


@pytest.mark.parametrize("name, event_size, dtype", list(_cases()))
def test_properties_hold_in_every_mode(name, event_size, dtype):
    """Every property of ``check_bijector``, eager, in ``tf.function`` and under XLA, and its
    caches against another context (conditional entries). At size 3 in float64 also no stale
    results after a weight change, in every mode: every floating variable moved between two
    calls on the same tensor, inside the one compiled call (then put back)."""
    bijector = _shared(name, event_size, dtype)
    x, context = _inputs(name, event_size, 32, dtype, seed=7, scale=2.0)
    weight_changes = event_size == 3 and dtype == tf.float64
    errors = testing.check_bijector(bijector, x, context=context, weight_changes=weight_changes)
    if dtype == tf.float64:
        assert errors["autodiff_log_det"] < 1e-8
        assert errors["round_trip"] < 1e-10
    if weight_changes:
        assert errors["cache_follows_weights"] <= 1e-9


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_weights_moved_away_from_identity(name):
    """The suite checks real transformations, not the identity of a fresh flow."""
    bijector = _shared(name, 3, tf.float64)
    x, context = _inputs(name, 3, 16, tf.float64, seed=1)
    kwargs = {} if context is None else {"context": context}
    y = bijector.forward(x, **kwargs)  # compared entry by entry (a squeeze changes the shape)
    assert np.max(np.abs(np.reshape(y, [16, -1]) - np.reshape(x, [16, -1]))) > 1e-2


# (A layer on a bounded domain has no density under a standard normal base on R^2.)
VECTOR_ENTRIES = sorted(
    name
    for name, entry in REGISTRY.items()
    if entry.event_shape(2) == (2,) and not entry.bounded_domain
)


@pytest.mark.parametrize("name", entry_params(VECTOR_ENTRIES))
def test_2d_flow_density_integrates_to_one(name):
    """At a fixed context for a conditional layer (image layers have no 2-entry event)."""
    from tfp_flows import Flow
    from tfp_flows.bijectors import FlowChain

    bijector = _shared(name, 2, tf.float64)
    if name == "standardize":  # its adapted scale of 5 needs a wider box
        low, high = (-30.0, -30.0), (40.0, 40.0)
    else:
        low, high = (-12.0, -12.0), (12.0, 12.0)
    flow = Flow(_base(name, 2, tf.float64), FlowChain([bijector]))
    if REGISTRY[name].context_size:
        flow = flow.condition(tf.fill([REGISTRY[name].context_size], tf.constant(0.7, tf.float64)))
    integral = testing.assert_normalized(flow, low, high, grid_size=500)
    assert abs(integral - 1.0) < 1e-2


# (Far outside a bounded domain the density is zero, -inf: test_digits checks Logit there.)
@pytest.mark.parametrize(
    "name", entry_params(sorted(n for n, e in REGISTRY.items() if not e.bounded_domain))
)
def test_large_inputs_give_finite_outputs_and_densities(name):
    bijector = _shared(name, 3, tf.float32)
    x, context = _inputs(name, 3, 2, tf.float32, seed=3)
    x = (
        tf.sign(x)
        * tf.constant(1e4)
        * tf.abs(tf.random.stateless_uniform(tf.shape(x), seed=[4, 4], minval=0.1, maxval=1.0))
    )
    kwargs = {} if context is None else {"context": 1e3 * context}
    flow = tfd.TransformedDistribution(_base(name, 3, tf.float32), bijector)
    y = testing.output_point(bijector, x)  # x on the output side (reshaped by a squeeze)
    assert np.all(np.isfinite(bijector.forward(x, **kwargs)))
    assert np.all(np.isfinite(bijector.inverse(y, **kwargs)))
    lp = flow.log_prob(y, bijector_kwargs=kwargs)
    assert np.all(np.isfinite(lp))


@pytest.mark.parametrize("name", entry_params(sorted(REGISTRY)))
def test_copy_shares_the_weights_and_answers_alike(name):
    """``copy()`` is a new layer on the same weights: equal outputs now and after they move."""
    bijector = _perturbed(name, 3, tf.float64)
    x, context = _inputs(name, 3, 8, tf.float64, seed=5)
    kwargs = {} if context is None else {"context": context}
    copied = bijector.copy(name="copied")
    assert {id(v) for v in copied.trainable_variables} == {
        id(v) for v in bijector.trainable_variables
    }
    np.testing.assert_array_equal(copied.forward(x, **kwargs), bijector.forward(x, **kwargs))
    for variable in bijector.trainable_variables:
        variable.assign_add(0.1 * tf.ones_like(variable))
    np.testing.assert_array_equal(
        copied.forward(tf.identity(x), **kwargs), bijector.forward(tf.identity(x), **kwargs)
    )
    y = testing.output_point(bijector, x)
    np.testing.assert_array_equal(
        copied.inverse_log_det_jacobian(tf.identity(y), event_ndims=len(x.shape) - 1, **kwargs),
        bijector.inverse_log_det_jacobian(tf.identity(y), event_ndims=len(x.shape) - 1, **kwargs),
    )


def _classes_in(bijector):
    """The classes of ``bijector`` and of every bijector inside it (chains, factor-outs)."""
    return {type(m) for m in (bijector, *bijector.submodules) if isinstance(m, tfb.Bijector)}


def test_the_registry_covers_every_public_bijector():
    import tfp_flows.bijectors as bijectors

    public = {getattr(bijectors, name) for name in bijectors.__all__}
    layers = {c for c in public if isinstance(c, type) and issubclass(c, tfb.Bijector)}
    layers.discard(bijectors.FlowBijector)  # the base class
    covered = set().union(*(_classes_in(entry.build(3, tf.float64)) for entry in REGISTRY.values()))
    assert sorted(c.__name__ for c in layers - covered) == []


class _CachedShift(tfb.Bijector):
    """``y = x + v``, a plain TFP bijector: its cache is keyed by the input tensor alone."""

    def __init__(self):
        self.shift = tf.Variable([0.5, -0.5], dtype=tf.float64)
        super().__init__(forward_min_event_ndims=1, is_constant_jacobian=True, name="cached_shift")

    def _forward(self, x):
        return x + self.shift

    def _inverse(self, y):
        return y - self.shift

    def _inverse_log_det_jacobian(self, y):
        return tf.zeros(tf.shape(y)[:-1], y.dtype)


@pytest.mark.parametrize("mode", ["eager", "function", "xla"])
def test_the_checker_catches_a_cache_that_goes_stale_after_a_weight_change(mode):
    """The weight-change probe reads the tensors the checker's own first calls left in the cache."""
    x = tf.random.stateless_normal([4, 2], seed=[3, 3], dtype=tf.float64)
    with pytest.raises(AssertionError, match=rf"stale cache\) \[{mode}\]"):
        testing.check_bijector(_CachedShift(), x, modes=(mode,), weight_changes=True)
