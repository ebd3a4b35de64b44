"""Whatever holds a flow sees the flow's variables: a ``tf.Module`` attribute, a ``tfd.Mixture``
of flows, the surrogate posterior around one. (A ``CompositeTensor`` flow whose layers are not
``CompositeTensor`` s would hide them: ``tf.Module.variables`` expands composites into their
tensor components, and the layers are not among them.)"""

import tensorflow as tf
import tensorflow_probability as tfp

import tfp_flows as tff
from tfp_flows.inference import surrogate_posterior

tfd = tfp.distributions


def _refs(variables):
    return {v.ref() for v in variables}


def test_a_module_and_a_mixture_holding_flows_see_every_flow_variable():
    first = tff.real_nvp(2, num_layers=1, hidden_units=(4,), seed=0)
    second = tff.real_nvp(2, num_layers=1, hidden_units=(4,), seed=1)
    holder = tf.Module()
    holder.flow = first
    assert _refs(holder.trainable_variables) == _refs(first.trainable_variables) != set()
    mixture = tfd.Mixture(tfd.Categorical(logits=[0.0, 0.0]), [first, second])
    expected = _refs(first.trainable_variables) | _refs(second.trainable_variables)
    assert _refs(mixture.trainable_variables) == expected


def test_the_surrogate_posterior_sees_its_flows_variables():
    model = tfd.JointDistributionNamed(dict(a=tfd.Normal(0.0, 1.0), b=tfd.LogNormal(0.0, 1.0)))
    surrogate = surrogate_posterior(model, num_layers=1, hidden_units=(4,))
    assert _refs(surrogate.variables) >= _refs(surrogate.flow.trainable_variables) != set()
