"""fit_surrogate with the targets of TFP's VI tutorials: auto-batched models, a target's own
variables (variational EM), and targets that do not match the surrogate."""

import time

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_flows.inference import fit_surrogate, surrogate_posterior
from tfp_flows.training import LambdaCallback

tfd = tfp.distributions
TINY = dict(num_layers=1, hidden_units=(4,))


def test_an_auto_batched_target_compiles_the_chunk_once():
    """JointDistributionCoroutineAutoBatched vectorizes with tf.vectorized_map; under XLA its
    gradient used to make every variable a compile-time constant: a new compilation per chunk.
    Later chunks must cost a small fraction of the first (which compiles)."""

    @tfd.JointDistributionCoroutineAutoBatched
    def model():
        mu = yield tfd.Normal(0.0, 1.0, name="mu")
        z = yield tfd.Sample(tfd.Normal(mu, 1.0), 2, name="z")
        yield tfd.Normal(z, 1.0, name="y")

    pinned = model.experimental_pin(y=[0.5, -0.2])
    times = []

    def clock(step, logs):
        times.append(time.perf_counter())

    run = dict(
        steps=8, steps_per_execution=2, sample_size=8, progress=False, seed=1, train_target=False
    )
    surrogate = surrogate_posterior(pinned, draw_groups=1, **TINY)
    started = time.perf_counter()
    history = fit_surrogate(surrogate, pinned, callbacks=[LambdaCallback(clock, every=2)], **run)
    chunks = np.diff([started, *times])
    assert len(chunks) == 4
    assert max(chunks[1:]) < chunks[0] / 5, chunks  # compiled once, in the first chunk
    assert np.all(np.isfinite(history.loss))


def _unknown_prior_scale_model(scale):
    """y_i ~ N(mu, 1), mu ~ N(0, scale): the marginal likelihood in scale is largest at
    scale^2 = max(ybar^2 - 1/n, 0)."""
    y = tf.constant([2.9, 3.4, 2.6, 3.3, 3.1, 2.7, 3.2, 2.8])

    @tfd.JointDistributionCoroutineAutoBatched
    def model():
        mu = yield tfd.Normal(0.0, scale, name="mu")
        nu = yield tfd.Normal(0.0, 1.0, name="nu")
        yield tfd.Normal(mu + 0.0 * nu + tf.zeros([8]), 1.0, name="y")

    return model.experimental_pin(y=y), float(np.sqrt(np.mean(y) ** 2 - 1 / 8))


@pytest.mark.slow
def test_the_targets_own_variables_are_trained_to_their_maximum_likelihood_value():
    """As tfp.vi.fit_surrogate_posterior does by default (variational EM): a prior scale held
    in a tf.Variable moves from 1 to its maximum-marginal-likelihood value (3.0 here)."""
    log_scale = tf.Variable(0.0, name="log_prior_scale")
    scale = tfp.util.DeferredTensor(log_scale, tf.math.exp)
    pinned, best = _unknown_prior_scale_model(scale)
    surrogate = surrogate_posterior(pinned, **TINY)
    history = fit_surrogate(
        surrogate,
        pinned,
        steps=1500,
        learning_rate=2e-2,
        progress=False,
        jit_compile=False,
        sample_size=64,
    )
    assert np.all(np.isfinite(history.loss))
    assert abs(float(tf.exp(log_scale)) - best) < 0.25, (float(tf.exp(log_scale)), best)
    assert log_scale.ref() not in {v.ref() for v in surrogate.trainable_variables}


def test_train_target_false_leaves_the_targets_variables_as_they_are():
    log_scale = tf.Variable(0.0, name="log_prior_scale")
    pinned, _ = _unknown_prior_scale_model(tfp.util.DeferredTensor(log_scale, tf.math.exp))
    surrogate = surrogate_posterior(pinned, **TINY)
    fit_surrogate(
        surrogate, pinned, steps=20, progress=False, jit_compile=False, train_target=False
    )
    assert float(log_scale) == 0.0
    with pytest.raises(TypeError, match="train_target must be True or False, got 'no'"):
        fit_surrogate(surrogate, pinned, steps=20, train_target="no")


def _named(dtype=tf.float32, names=("a", "b")):
    one = tf.constant(1.0, dtype)
    parts = {name: tfd.Normal(0 * one, one) for name in names}
    model = tfd.JointDistributionNamed(dict(parts, y=lambda a: tfd.Normal(a, one)))
    return model.experimental_pin(y=tf.constant(0.5, dtype))


def test_a_target_whose_parts_differ_from_the_surrogates_is_refused_naming_both():
    surrogate = surrogate_posterior(_named(), **TINY)
    with pytest.raises(
        ValueError,
        match=r"target \{'a': \[\], 'c': \[\]\}, surrogate "
        r"\{'a': \[\], 'b': \[\]\}",
    ):
        fit_surrogate(surrogate, _named(names=("a", "c")), steps=5, progress=False)
    with pytest.raises(
        ValueError,
        match=r"takes parts \['a', 'c'\], the surrogate draws parts "
        r"\['a', 'b'\]",
    ):
        fit_surrogate(surrogate, lambda a, c: a + c, steps=5, progress=False)


def test_neutra_refuses_a_target_whose_parts_differ_from_the_surrogates_naming_both():
    from tfp_flows.inference import neutra

    surrogate = surrogate_posterior(_named(), **TINY)
    with pytest.raises(
        ValueError,
        match=r"target \{'a': \[\], 'c': \[\]\}, surrogate "
        r"\{'a': \[\], 'b': \[\]\}",
    ):
        neutra(_named(names=("a", "c")), surrogate, num_results=4, num_burnin_steps=0)


def test_a_float64_target_for_a_float32_surrogate_is_refused_naming_both_dtypes():
    surrogate = surrogate_posterior(_named(), **TINY)
    with pytest.raises(TypeError, match="target's parts are float64, the surrogate's float32"):
        fit_surrogate(surrogate, _named(tf.float64), steps=5, progress=False)


@pytest.mark.parametrize("steps", [0, -3, 2.5])
def test_steps_below_one_are_refused_in_fit_surrogates_own_terms(steps):
    surrogate = surrogate_posterior(_named(), **TINY)
    with pytest.raises(
        (TypeError, ValueError), match=f"steps must be a positive integer, got {steps}"
    ):
        fit_surrogate(surrogate, _named(), steps=steps)
