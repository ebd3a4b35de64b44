"""What ``mean()`` means: closed forms only where every layer is affine, Monte Carlo elsewhere."""

import numpy as np
import pytest
import tensorflow as tf

import tfp_flows as tff
from tfp_flows import testing
from tfp_flows.bijectors import AdditiveCoupling, LULinear


def _linear_flow():
    """A flow whose layers are all linear: TFP's closed forms hold."""
    lu = LULinear(2, permutation=[1, 0])
    lu.lower_upper.assign([[0.0, 0.8], [-0.6, 0.0]])
    lu.log_diag.assign([0.5, -0.3])
    flow = tff.coupling_flow([lu], event_size=2)
    standardize = flow.bijector.bijectors[0]
    standardize.adapt(np.random.default_rng(0).normal([3.0, -1.0], [2.0, 0.5], size=(500, 2)))
    return flow


def test_linear_layers_declare_a_constant_jacobian_and_nonlinear_ones_do_not():
    assert LULinear(3).is_constant_jacobian
    assert not AdditiveCoupling(3).is_constant_jacobian  # volume preserving, not affine
    assert not tff.nice(2, mixing=None).bijector.is_constant_jacobian


def test_closed_form_moments_of_a_linear_flow_are_exact():
    flow = _linear_flow()
    z = tf.zeros([1, 2])
    np.testing.assert_allclose(flow.mean(), flow.bijector.forward(z)[0], rtol=1e-6)
    with tf.GradientTape() as tape:
        tape.watch(z)
        x = flow.bijector.forward(z)
    jacobian = tape.batch_jacobian(x, z)[0].numpy()
    np.testing.assert_allclose(flow.covariance(), jacobian @ jacobian.T, rtol=1e-5)


def test_monte_carlo_estimates_agree_with_the_closed_forms_within_their_standard_errors():
    flow = _linear_flow()
    moments = tff.estimate_moments(flow, 50_000, seed=3)
    assert moments.num_samples == 50_000
    covariance = flow.covariance().numpy()
    assert np.all(np.abs(moments.mean - flow.mean().numpy()) < 4 * moments.mean_stderr)
    assert np.all(np.abs(moments.stddev - np.sqrt(np.diag(covariance))) < 4 * moments.stddev_stderr)
    np.testing.assert_allclose(moments.covariance, covariance, rtol=0.05, atol=0.02)
    assert abs(moments.entropy - float(flow.entropy())) < 4 * moments.entropy_stderr


def test_a_nonlinear_volume_preserving_flow_refuses_closed_forms_and_is_estimated():
    flow = tff.nice(2, num_layers=2, hidden_units=(16,), mixing=None)
    testing.perturb_weights(flow, scale=1.0, seed=2)
    for moment in (flow.mean, flow.stddev, flow.covariance, flow.entropy):
        with pytest.raises(NotImplementedError, match="estimate_moments"):
            moment()
    moments = tff.estimate_moments(flow, 20_000, seed=1)
    # the estimate is the sample mean of independent samples, not forward(0)
    independent = flow.sample(20_000, seed=9).numpy()
    assert np.all(np.abs(moments.mean - independent.mean(0)) < 6 * moments.mean_stderr)
    assert not np.allclose(moments.mean, flow.bijector.forward(tf.zeros([1, 2]))[0], atol=0.1)
    # the entropy of a volume-preserving map of N(0, I) is that of N(0, I)
    assert abs(moments.entropy - np.log(2 * np.pi * np.e)) < 4 * moments.entropy_stderr


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"num_samples": 1}, ValueError, "num_samples must be an integer >= 2, got 1"),
        ({"num_samples": 10.5}, TypeError, "num_samples must be an integer >= 2, got 10.5"),
        ({"batch_size": 0}, ValueError, "batch_size must be a positive integer, got 0"),
    ],
)
def test_bad_estimate_arguments_are_explained(kwargs, error, message):
    with pytest.raises(error, match=message):
        tff.estimate_moments(tff.real_nvp(2, num_layers=1, hidden_units=(4,)), **kwargs)


def test_moments_of_structured_samples_are_given_per_part():
    from tensorflow_probability import distributions as tfd

    joint = tfd.JointDistributionNamed(
        {
            "scale": tfd.Normal(3.0, 0.5),
            "effects": tfd.Sample(tfd.Normal(-1.0, 2.0), 3),
        }
    )
    moments = tff.estimate_moments(joint, 20_000, seed=4, batch_size=5_000)
    assert sorted(moments.mean) == ["effects", "scale"]
    assert moments.mean["effects"].shape == (3,) and moments.covariance["effects"].shape == (3, 3)
    for part, mean, stddev in (("scale", 3.0, 0.5), ("effects", -1.0, 2.0)):
        assert np.all(np.abs(moments.mean[part] - mean) < 4 * moments.mean_stderr[part])
        assert np.all(np.abs(moments.stddev[part] - stddev) < 4 * moments.stddev_stderr[part])
    exact_entropy = float(tfd.Normal(3.0, 0.5).entropy()) + 3 * float(
        tfd.Normal(-1.0, 2.0).entropy()
    )
    assert abs(moments.entropy - exact_entropy) < 4 * moments.entropy_stderr
