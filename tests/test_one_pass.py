"""One conditioner pass per call, and nothing cached that could go stale.

The flow walks its chain and calls every layer's one-pass ``(value, log-det)`` hook, so each
of ``log_prob``, ``sample`` and ``experimental_sample_and_log_prob`` runs each conditioner
once, eagerly, in ``tf.function`` and under XLA (counted at trace time there: one call of
the network traced = one pass in the graph). Nothing is cached, so a direct
``layer.inverse(y)`` after a weight change is fresh even for the very same tensor ``y``.
"""

import pathlib
import re

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_probability import bijectors as tfb
from tensorflow_probability import distributions as tfd

import tfp_flows as tff
from tfp_flows import testing
from tfp_flows.bijectors import AffineCoupling, FlowChain, LULinear
from tfp_flows.bijectors.walk import forward_and_log_det, inverse_and_log_det
from tfp_flows.nn import MLPFactory
from tfp_flows.nn.mlp import MLP

MODES = {
    "eager": lambda f: f,
    "function": tf.function,
    "xla": lambda f: tf.function(f, jit_compile=True),
}

CALLS = {
    "log_prob": lambda flow: flow.log_prob(tf.random.stateless_normal([6, 3], seed=[1, 2])),
    "prob": lambda flow: flow.prob(tf.random.stateless_normal([6, 3], seed=[1, 2])),
    "sample": lambda flow: flow.sample(6, seed=[3, 4]),
    "sample_and_log_prob": lambda flow: flow.experimental_sample_and_log_prob(6, seed=[3, 4]),
}


@pytest.fixture
def mlp_calls(monkeypatch):
    """The MLP conditioners called from now on (their ids), one entry per call."""
    calls = []
    original = MLP.__call__

    def counting(self, h, context=None):
        calls.append(id(self))
        return original(self, h, context)

    monkeypatch.setattr(MLP, "__call__", counting)
    return calls


@pytest.mark.parametrize("call", list(CALLS))
@pytest.mark.parametrize("mode", list(MODES))
def test_a_coupling_flow_runs_each_conditioner_once_per_call(mode, call, mlp_calls):
    flow = tff.real_nvp(3, num_layers=3, hidden_units=(8,), seed=0)
    testing.perturb_weights(flow)
    mlp_calls.clear()
    MODES[mode](lambda: CALLS[call](flow))()
    assert len(mlp_calls) == 3 and len(set(mlp_calls)) == 3


@pytest.mark.parametrize("mode", list(MODES))
def test_under_a_tape_each_conditioner_still_runs_once(mode, mlp_calls):
    flow = tff.real_nvp(3, num_layers=2, hidden_units=(8,), seed=0)
    x = tf.random.stateless_normal([6, 3], seed=[1, 2])

    def loss_and_gradients():
        with tf.GradientTape() as tape:
            loss = -tf.reduce_mean(flow.log_prob(x))
        return tape.gradient(loss, flow.trainable_variables)

    mlp_calls.clear()
    gradients = MODES[mode](loss_and_gradients)()
    assert len(mlp_calls) == 2 and all(g is not None for g in gradients)


@pytest.mark.parametrize(
    "build, call",
    [
        (tff.maf, "log_prob"),
        (tff.maf, "prob"),
        (tff.iaf, "sample"),
        (tff.iaf, "sample_and_log_prob"),
    ],
)
@pytest.mark.parametrize("mode", list(MODES))
def test_an_autoregressive_flow_runs_each_made_once_in_its_one_pass_direction(
    mode, build, call, made_calls
):
    flow = build(3, num_layers=2, hidden_units=(8,), seed=0)
    made_calls.clear()
    MODES[mode](lambda: CALLS[call](flow))()
    assert len(made_calls) == 2


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.slow
def test_a_conditional_flow_runs_each_conditioner_once(mode, mlp_calls):
    flow = tff.real_nvp(3, num_layers=2, hidden_units=(8,), context_size=2, seed=0)
    context = tf.constant([[0.1, 0.2], [0.3, -0.4]])
    for call in (
        lambda: flow.log_prob(tf.zeros([2, 3]), context=context),
        lambda: flow.experimental_sample_and_log_prob(4, seed=[1, 1], context=context),
        lambda: flow.condition(context).experimental_sample_and_log_prob(4, seed=[1, 1]),
    ):
        mlp_calls.clear()
        MODES[mode](call)()
        assert len(mlp_calls) == 2


def test_the_chains_log_dets_alone_also_run_each_conditioner_once(mlp_calls):
    flow = tff.real_nvp(3, num_layers=2, hidden_units=(8,), seed=0)
    x = tf.random.stateless_normal([6, 3], seed=[1, 2])
    mlp_calls.clear()
    flow.bijector.inverse_log_det_jacobian(x, 1)
    assert len(mlp_calls) == 2
    mlp_calls.clear()
    flow.bijector.forward_log_det_jacobian(x, 1)
    assert len(mlp_calls) == 2


def test_one_pass_values_and_log_dets_equal_tfps_two_calls():
    flow = tff.real_nvp(3, num_layers=2, hidden_units=(8,), seed=0)
    testing.perturb_weights(flow, seed=1)
    chain = flow.bijector
    x = tf.random.stateless_normal([5, 3], seed=[2, 2])
    wrapped = tfb.Chain([tfb.Shift(0.5), tfb.Invert(chain), tfb.Scale(2.0)])  # foreign too
    for bijector in (chain, wrapped, *chain.bijectors):
        y, fldj = forward_and_log_det(bijector, x, 1)
        np.testing.assert_allclose(y, bijector.forward(x), rtol=1e-6)
        np.testing.assert_allclose(fldj, bijector.forward_log_det_jacobian(x, 1), rtol=1e-5)
        back, ildj = inverse_and_log_det(bijector, y, 1)
        np.testing.assert_allclose(back, bijector.inverse(y), rtol=1e-6)
        np.testing.assert_allclose(ildj, bijector.inverse_log_det_jacobian(y, 1), rtol=1e-5)
    # event_ndims beyond the layer's own rank sums over the extra dimensions, as TFP does
    layer = chain.bijectors[-1]
    _, ildj = layer.inverse_and_log_det(x, event_ndims=2)
    np.testing.assert_allclose(ildj, layer.inverse_log_det_jacobian(x, event_ndims=2), rtol=1e-5)


def test_the_flow_log_prob_is_base_log_prob_plus_the_one_pass_log_det():
    flow = tff.nsf(3, num_layers=2, hidden_units=(8,), seed=0)
    testing.perturb_weights(flow, seed=2)
    y = tf.random.stateless_normal([7, 3], seed=[3, 3])
    x = flow.bijector.inverse(y)
    expected = flow.distribution.log_prob(x) + flow.bijector.inverse_log_det_jacobian(y, 1)
    np.testing.assert_allclose(flow.log_prob(y), expected, rtol=1e-5, atol=1e-5)
    reference = tfd.TransformedDistribution(flow.distribution, flow.bijector)
    np.testing.assert_allclose(flow.log_prob(y), reference.log_prob(y), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("mode", list(MODES))
def test_a_direct_layer_call_on_the_same_tensor_after_a_weight_change_is_fresh(mode):
    layer, lu = AffineCoupling(3, MLPFactory(hidden_units=(8,), seed=0)), LULinear(3)
    y = tf.constant([[0.5, -1.0, 2.0]])
    for bijector in (layer, lu, FlowChain([lu, layer])):
        call = MODES[mode](lambda y, b=bijector: (b.inverse(y), b.inverse_log_det_jacobian(y, 1)))
        before = call(y)
        for variable in bijector.trainable_variables:
            variable.assign_add(tf.fill(variable.shape, 0.1))
        after = call(y)  # the very same tensor: no cache can answer it
        assert not np.allclose(after[0], before[0])
        np.testing.assert_allclose(after[0], bijector.inverse(tf.identity(y)), rtol=1e-6)
        np.testing.assert_allclose(
            after[1], bijector.inverse_log_det_jacobian(tf.identity(y), 1), rtol=1e-5
        )


def test_the_cache_and_the_flow_classes_use_public_apis_only():
    root = pathlib.Path(tff.__file__).parent
    for module in (
        "bijectors/cache.py",
        "bijectors/base.py",
        "bijectors/chain.py",
        "bijectors/walk.py",
        "bijectors/batch_norm.py",
        "bijectors/factor_out.py",
    ):
        source = (root / module).read_text()
        assert not re.search(r"^\s*(import|from)\s+ctypes", source, re.M), module
        assert "tensorflow.python" not in source, module
        assert "tensorflow_probability.python" not in source, module
