"""A flow is an instance of TFP's public ``tfd.TransformedDistribution`` (a ``CompositeTensor``):
it passes into a ``tf.function`` as an argument, and the traced function reads the flow's
current weights."""

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

import tfp_flows as tff
from tfp_flows.inference import surrogate_posterior

tfd = tfp.distributions


def test_builders_and_surrogates_return_the_public_class():
    flow = tff.real_nvp(2, num_layers=1, hidden_units=(4,), context_size=1)
    model = tfd.JointDistributionNamed(dict(a=tfd.Normal(0.0, 1.0), b=tfd.LogNormal(0.0, 1.0)))
    surrogate = surrogate_posterior(model, num_layers=1, hidden_units=(4,))
    for distribution in (flow, flow.condition([0.5]), surrogate):
        assert isinstance(distribution, tfd.TransformedDistribution), type(distribution).__mro__
        assert isinstance(distribution, tf.__internal__.CompositeTensor), type(distribution)


def test_a_flow_passed_to_a_tf_function_is_scored_with_its_current_weights():
    flow = tff.real_nvp(2, num_layers=2, hidden_units=(8,), seed=0)
    x = tf.constant([[0.3, -1.0], [1.0, 2.0]])
    log_prob = tf.function(lambda distribution, x: distribution.log_prob(x))
    np.testing.assert_allclose(log_prob(flow, x), flow.log_prob(x), rtol=1e-6)
    before = flow.log_prob(x).numpy()
    tff.testing.perturb_weights(flow, scale=0.3, seed=1)
    after = flow.log_prob(x).numpy()
    assert np.all(np.abs(after - before) > 1e-3), (before, after)
    np.testing.assert_allclose(log_prob(flow, x), after, rtol=1e-6)
    assert log_prob.experimental_get_tracing_count() == 1


def test_a_conditioned_flow_passed_to_a_tf_function_keeps_its_context():
    flow = tff.real_nvp(2, num_layers=1, hidden_units=(4,), context_size=1, seed=0)
    tff.testing.perturb_weights(flow, scale=0.3, seed=2)
    x = tf.constant([[0.3, -1.0]])
    log_prob = tf.function(lambda distribution, x: distribution.log_prob(x))
    for context in ([0.5], [-2.0]):
        given = flow.condition(context)
        np.testing.assert_allclose(log_prob(given, x), given.log_prob(x), rtol=1e-6)
        np.testing.assert_allclose(
            given.log_prob(x), flow.log_prob(x, context=[context]), rtol=1e-6
        )
