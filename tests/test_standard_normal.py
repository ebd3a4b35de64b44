"""The flows' base distribution: TFP's N(0, I) with Philox sampling on every sampling path."""

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_probability import distributions as tfd

import tfp_flows as tff
from tfp_flows.distributions.standard_normal import StandardNormal


def test_sample_and_log_prob_draws_what_sample_draws_and_scores_it_exactly():
    base = StandardNormal(loc=tf.zeros([3], tf.float64))
    x, log_prob = base.experimental_sample_and_log_prob([4, 5], seed=[7, 1])
    np.testing.assert_array_equal(x.numpy(), base.sample([4, 5], seed=[7, 1]).numpy())
    reference = tfd.MultivariateNormalDiag(loc=tf.zeros([3], tf.float64))
    np.testing.assert_allclose(log_prob.numpy(), reference.log_prob(x).numpy(), rtol=1e-14)
    assert x.shape == (4, 5, 3) and log_prob.shape == (4, 5)


@pytest.mark.slow
def test_flow_sample_and_log_prob_matches_sample_then_log_prob_in_every_mode():
    """(XLA's Philox stream differs from the eager one, so each mode is compared with itself.)"""
    flow = tff.real_nvp(3, num_layers=2, hidden_units=(8,), seed=0, dtype=tf.float64)
    tff.testing.perturb_weights(flow, scale=0.2, seed=3)

    def both(seed):
        return flow.experimental_sample_and_log_prob(16, seed=seed)

    def sample(seed):
        return flow.sample(16, seed=seed)

    for mode in tff.testing.MODES:
        compile_ = {
            "eager": lambda f: f,
            "function": tf.function,
            "xla": lambda f: tf.function(f, jit_compile=True),
        }[mode]
        x, log_prob = compile_(both)(tf.constant([3, 4]))
        expected_x = compile_(sample)(tf.constant([3, 4]))
        np.testing.assert_allclose(x.numpy(), expected_x.numpy(), rtol=1e-12, err_msg=mode)
        expected_log_prob = flow.log_prob(tf.constant(x.numpy()))
        np.testing.assert_allclose(
            log_prob.numpy(), expected_log_prob.numpy(), rtol=1e-10, err_msg=mode
        )
