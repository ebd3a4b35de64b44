"""Surrogate posteriors for TFP models (tff.inference): structure, support, exact densities, VI."""

import collections

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

import tfp_flows as tff
from tfp_flows.inference import fit_surrogate, surrogate_posterior

tfd, tfb = tfp.distributions, tfp.bijectors
SMALL = dict(hidden_units=(16,))  # the default three layers, narrow


def _constrained_model(kind, dtype):
    """A model with a positive scale, a simplex, a correlation matrix and a free vector."""
    one = tf.constant(1.0, dtype)
    parts = dict(
        scale=tfd.LogNormal(0 * one, one),
        weights=tfd.Dirichlet(tf.ones([3], dtype)),
        correlation=tfd.LKJ(3, 2 * one),
        loc=tfd.Sample(tfd.Normal(0 * one, one), 2),
    )
    if kind == "dict":
        model = tfd.JointDistributionNamed(
            dict(parts, y=lambda scale, loc: tfd.Independent(tfd.Normal(loc, scale[..., None]), 1))
        )
        return model.experimental_pin(y=tf.constant([0.5, -0.3], dtype))
    if kind == "list":
        model = tfd.JointDistributionSequential(
            [
                parts["scale"],
                parts["weights"],
                parts["correlation"],
                parts["loc"],
                lambda loc, correlation, weights, scale: tfd.Independent(
                    tfd.Normal(loc, scale[..., None]), 1
                ),
            ]
        )
        return model.experimental_pin(None, None, None, None, tf.constant([0.5, -0.3], dtype))
    Root = tfd.JointDistributionCoroutine.Root

    def program():
        scale = yield Root(parts["scale"])
        yield Root(parts["weights"])
        yield Root(parts["correlation"])
        loc = yield Root(parts["loc"])
        yield tfd.Independent(tfd.Normal(loc, scale[..., None]), 1)

    model = tfd.JointDistributionCoroutine(program)
    return model.experimental_pin(
        **{model._flat_resolve_names()[-1]: tf.constant([0.5, -0.3], dtype)}
    )


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("kind", ["dict", "list", "namedtuple"])
def test_draws_have_the_models_structure_and_lie_in_its_support(kind, dtype):
    pinned = _constrained_model(kind, dtype)
    surrogate = surrogate_posterior(pinned, **SMALL)
    # 2 (loc) + 1 (scale) + 2 (simplex of 3) + 3 (3x3 correlation) unconstrained numbers
    assert surrogate.flow.event_shape == [8]
    draws = surrogate.sample(50, seed=1)
    reference = pinned.sample_unpinned(50, seed=1)
    assert type(draws) is type(reference)
    assert tf.nest.map_structure(lambda t: t.shape, draws) == tf.nest.map_structure(
        lambda t: t.shape, reference
    )
    assert all(t.dtype == dtype for t in tf.nest.flatten(draws))
    named = (
        draws
        if isinstance(draws, dict)
        else dict(zip(["scale", "weights", "correlation", "loc"], tuple(draws)))
    )
    assert np.all(named["scale"].numpy() > 0)
    weights = named["weights"].numpy()
    assert np.all(weights > 0) and np.allclose(weights.sum(-1), 1, atol=1e-5)
    correlation = named["correlation"].numpy()
    assert np.allclose(correlation, np.swapaxes(correlation, -1, -2), atol=1e-5)
    assert np.allclose(np.diagonal(correlation, axis1=-2, axis2=-1), 1, atol=1e-5)
    assert np.all(np.linalg.eigvalsh(correlation.astype(np.float64)) > 0)
    draws, log_q = surrogate.experimental_sample_and_log_prob(20, seed=2)
    assert np.allclose(log_q, surrogate.log_prob(draws), atol=1e-3 if dtype == tf.float32 else 1e-9)
    assert np.all(np.isfinite(pinned.unnormalized_log_prob(draws)))


def test_log_prob_is_the_flows_density_pushed_through_the_event_space_bijector():
    """A Gaussian 'flow' gives a surrogate whose density is known in closed form.

    Parts are listed in the model's draw order (y's parents in its arguments' order: scale,
    loc), not tf.nest's (loc, scale): u_0 -> log(scale), u_1 -> loc."""
    model = tfd.JointDistributionNamed(
        dict(
            scale=tfd.LogNormal(tf.constant(0.0, tf.float64), 1.0),
            loc=tfd.Normal(tf.constant(0.0, tf.float64), 1.0),
            y=lambda scale, loc: tfd.Normal(loc, scale),
        )
    ).experimental_pin(y=0.5)
    gaussian = tfd.MultivariateNormalDiag(
        tf.constant([0.3, -0.2], tf.float64), tf.constant([1.5, 0.4], tf.float64)
    )
    surrogate = surrogate_posterior(model, gaussian)
    draws = surrogate.sample(100, seed=3)
    expected = tfd.LogNormal(tf.constant(0.3, tf.float64), 1.5).log_prob(
        draws["scale"]
    ) + tfd.Normal(tf.constant(-0.2, tf.float64), 0.4).log_prob(draws["loc"])
    np.testing.assert_allclose(surrogate.log_prob(draws), expected, rtol=0, atol=1e-12)
    assert surrogate.trainable_variables == ()


def _conjugate_model(dtype):
    """A positive ``rate`` and a free ``mu`` whose exact posteriors lie in the surrogate's family.

    rate ~ LogNormal(0, 1), y_i ~ LogNormal(log rate, 1)  =>  log rate | y ~ N(sum log y / 6, 1 / 6)
    mu ~ N(0, 1),           z_j ~ N(mu, 1)                =>  mu | z ~ N(sum z / 4, 1 / 4)
    """
    positives = tf.constant([3.0, 5.0, 2.0, 4.0, 6.0], dtype)
    values = tf.constant([0.8, 1.4, 0.3], dtype)
    one = tf.constant(1.0, dtype)
    model = tfd.JointDistributionNamed(
        dict(
            rate=tfd.LogNormal(0 * one, one),
            mu=tfd.Normal(0 * one, one),
            positives=lambda rate: tfd.Sample(tfd.LogNormal(tf.math.log(rate), one), 5),
            values=lambda mu: tfd.Sample(tfd.Normal(mu, one), 3),
        )
    )
    pinned = model.experimental_pin(positives=positives, values=values)
    log_sum = float(tf.reduce_sum(tf.math.log(positives)))
    rate = tfd.LogNormal(log_sum / 6.0, 1.0 / np.sqrt(6.0))
    mu = tfd.Normal(float(tf.reduce_sum(values)) / 4.0, 0.5)
    return pinned, {"rate": rate, "mu": mu}


def _assert_moments_close(surrogate, truth, tolerance, seed):
    draws = surrogate.sample(40_000, seed=seed)
    for name, posterior in truth.items():
        sd = float(posterior.stddev())
        mean_error = abs(float(tf.reduce_mean(draws[name])) - float(posterior.mean())) / sd
        sd_error = abs(float(tf.math.reduce_std(draws[name])) - sd) / sd
        assert mean_error < tolerance and sd_error < tolerance, (name, mean_error, sd_error)


@pytest.mark.slow
def test_fit_surrogate_recovers_an_exact_posterior_on_a_constrained_model():
    """Through tff.fit's compiled loop (float64, XLA): means and sds within 0.05 true sds."""
    pinned, truth = _conjugate_model(tf.float64)
    surrogate = surrogate_posterior(pinned, **SMALL)
    history = fit_surrogate(surrogate, pinned, steps=3000, progress=False, seed=1)
    assert np.all(np.isfinite(history.loss))
    assert np.mean(history.loss[-100:]) < np.mean(history.loss[:100])
    _assert_moments_close(surrogate, truth, 0.05, seed=5)


@pytest.mark.slow
def test_tfp_vi_fits_the_surrogate_under_xla_in_float32():
    pinned, truth = _conjugate_model(tf.float32)
    surrogate = surrogate_posterior(pinned, **SMALL)
    losses = tfp.vi.fit_surrogate_posterior(
        pinned.unnormalized_log_prob,
        surrogate,
        keras.optimizers.Adam(1e-3),
        num_steps=3000,
        sample_size=256,
        jit_compile=True,
        seed=tf.constant([1, 2]),
    )
    assert np.all(np.isfinite(losses))
    _assert_moments_close(surrogate, truth, 0.05, seed=6)


def test_every_flow_family_builds_a_surrogate():
    pinned, _ = _conjugate_model(tf.float32)
    for name in tff.inference.SURROGATE_BUILDERS:
        surrogate = surrogate_posterior(pinned, name, num_layers=2, hidden_units=(8,))
        draws, log_q = surrogate.experimental_sample_and_log_prob(3, seed=0)
        assert draws["rate"].shape == [3] and np.all(draws["rate"].numpy() > 0), name
        assert np.all(np.isfinite(log_q)), name
        assert surrogate.trainable_variables, name


@pytest.mark.slow
def test_a_flow_prior_inside_a_model_fits_with_a_flow_surrogate_and_stays_as_it_was():
    """The issue's failure: a flow as a prior inside a JointDistribution, another as surrogate."""
    prior = tff.real_nvp(2, num_layers=2, hidden_units=(16,), seed=3, standardize=False)
    tff.testing.perturb_weights(prior, seed=3)  # a prior that is not the identity
    assert isinstance(prior.experimental_default_event_space_bijector(), tfb.Identity)
    model = tfd.JointDistributionNamed(
        dict(z=prior, y=lambda z: tfd.Independent(tfd.Normal(z, 1.0), 1))
    )
    pinned = model.experimental_pin(y=tf.constant([4.0, 2.0]))
    prior_weights = [v.numpy().copy() for v in prior.trainable_variables]
    surrogate = surrogate_posterior(pinned, "real_nvp", **SMALL)
    prior_ids = {id(v) for v in prior.trainable_variables}
    assert not prior_ids & {id(v) for v in surrogate.trainable_variables}
    # tfp.vi trains every variable the loss touches unless told which: the prior's too.
    losses = tfp.vi.fit_surrogate_posterior(
        pinned.unnormalized_log_prob,
        surrogate,
        keras.optimizers.Adam(3e-3),
        num_steps=150,
        sample_size=64,
        seed=tf.constant([4, 5]),
        trainable_variables=surrogate.trainable_variables,
    )
    assert np.all(np.isfinite(losses)) and np.mean(losses[-20:]) < np.mean(losses[:20])
    history = fit_surrogate(
        surrogate, pinned, steps=50, progress=False, jit_compile=False, train_target=False
    )  # by default the model's variables train too
    assert np.all(np.isfinite(history.loss))
    for before, after in zip(prior_weights, prior.trainable_variables):
        np.testing.assert_array_equal(before, after.numpy())


@pytest.mark.slow
def test_fit_keeps_the_last_good_weights_when_the_target_turns_non_finite():
    pinned, _ = _conjugate_model(tf.float32)
    surrogate = surrogate_posterior(pinned, **SMALL)
    before = [v.numpy().copy() for v in surrogate.trainable_variables]

    def broken(**parts):
        return pinned.unnormalized_log_prob(parts) + np.nan

    with pytest.raises(tff.NonFiniteLossError):
        fit_surrogate(surrogate, broken, steps=20, progress=False, jit_compile=False)
    for value, variable in zip(before, surrogate.trainable_variables):
        np.testing.assert_array_equal(value, variable.numpy())


@pytest.mark.slow
def test_fit_surrogate_resumes_from_its_checkpoint(tmp_path):
    pinned, _ = _conjugate_model(tf.float32)
    run = dict(
        steps_per_execution=50,
        progress=False,
        jit_compile=False,
    )

    def interrupt(step, logs):
        if step > 100:  # killed after the checkpoint at step 100
            raise KeyboardInterrupt

    first = surrogate_posterior(pinned, **SMALL)
    with pytest.raises(KeyboardInterrupt):  # a 200-step run (its cosine decay) cut at step 100
        saving = tff.training.Checkpointing(str(tmp_path), every=100)
        fit_surrogate(first, pinned, steps=200, callbacks=[interrupt, saving], **run)
    second = surrogate_posterior(pinned, **SMALL, seed=9)
    resuming = tff.training.Checkpointing(str(tmp_path), every=100, resume=True)
    history = fit_surrogate(second, pinned, steps=200, callbacks=[resuming], **run)
    assert history.steps == 200 and len(history.loss) == 200
    straight = surrogate_posterior(pinned, **SMALL)
    fit_surrogate(
        straight, pinned, steps=200, steps_per_execution=50, progress=False, jit_compile=False
    )
    for resumed, direct in zip(second.trainable_variables, straight.trainable_variables):
        np.testing.assert_allclose(resumed.numpy(), direct.numpy(), rtol=1e-5, atol=1e-6)


Pair = collections.namedtuple("Pair", ["a", "b"])


def test_bad_models_and_flows_get_errors_naming_what_was_expected():
    pinned, _ = _conjugate_model(tf.float32)
    batched = tfd.JointDistributionNamed(
        dict(a=tfd.Normal(tf.zeros(2), 1.0), b=tfd.Normal(0.0, 1.0))
    )
    with pytest.raises(ValueError, match="scalar batch shape"):
        surrogate_posterior(batched)
    mixed = tfd.JointDistributionNamed(
        dict(a=tfd.Normal(0.0, 1.0), b=tfd.Normal(tf.constant(0.0, tf.float64), 1.0))
    )
    with pytest.raises(TypeError, match="one floating dtype"):
        surrogate_posterior(mixed)
    counts = tfd.JointDistributionNamed(dict(a=tfd.Normal(0.0, 1.0), b=tfd.Poisson(1.0)))
    with pytest.raises(ValueError, match="discrete part"):
        surrogate_posterior(counts)
    with pytest.raises(ValueError, match="at least 2"):
        surrogate_posterior(tfd.JointDistributionNamed(dict(a=tfd.Normal(0.0, 1.0))))
    with pytest.raises(ValueError, match="flow must be one of"):
        surrogate_posterior(pinned, "glow")
    with pytest.raises(ValueError, match=r"event shape \[2\]"):
        surrogate_posterior(pinned, tff.real_nvp(3, num_layers=1, hidden_units=(4,)))
    with pytest.raises(TypeError, match="dtype=float32"):
        surrogate_posterior(
            pinned, tff.real_nvp(2, num_layers=1, hidden_units=(4,), dtype=tf.float64)
        )
    with pytest.raises(TypeError, match="need a flow family"):
        surrogate_posterior(pinned, tff.real_nvp(2, num_layers=1, hidden_units=(4,)), num_layers=3)
    with pytest.raises(ValueError, match="conditional flow"):
        surrogate_posterior(
            pinned, tff.real_nvp(2, num_layers=1, hidden_units=(4,), context_size=1)
        )
    with pytest.raises(TypeError, match="must be a TFP distribution"):
        surrogate_posterior(Pair(1.0, 2.0))


def test_fit_refuses_settings_that_need_data_when_fitting_by_reverse_kl():
    pinned, _ = _conjugate_model(tf.float32)
    surrogate = surrogate_posterior(pinned, **SMALL)
    reverse_kl = tff.training.ReverseKL(pinned)
    with pytest.raises(ValueError, match="give data=None"):
        tff.fit(surrogate, np.zeros([10, 2], np.float32), loss=reverse_kl, steps=5)
    with pytest.raises(ValueError, match="draws its own samples"):
        tff.fit(surrogate, None, steps=5)
    with pytest.raises(ValueError, match="validation_data"):
        tff.fit(surrogate, None, loss=reverse_kl, steps=5, validation_data=np.zeros([4, 2]))
    with pytest.raises(ValueError, match="learning_rate"):
        fit_surrogate(surrogate, pinned, steps=5, learning_rate=-1.0)
    with pytest.raises(ValueError, match="schedule must be one of"):
        fit_surrogate(surrogate, pinned, steps=5, schedule="linear")
    with pytest.raises(ValueError, match="with your own optimizer"):
        fit_surrogate(
            surrogate, pinned, steps=5, optimizer=keras.optimizers.Adam(), learning_rate=0.1
        )


@pytest.mark.parametrize("kind", ["dict", "list", "namedtuple"])
def test_the_flow_lists_the_parts_in_the_order_the_model_draws_them(kind):
    """u lists the parts as the model draws them, not in tf.nest's sorted dict keys, so the
    autoregressive layers condition each part on the parts drawn before it. The list and the
    coroutine draw in their written order; JointDistributionNamed draws y's parents (scale, loc)
    and y before the parts nothing depends on."""
    pinned = _constrained_model(kind, tf.float64)
    surrogate = surrogate_posterior(pinned, **SMALL)
    draws = surrogate.sample(5, seed=2)
    u = surrogate.bijector.inverse(draws).numpy()
    unconstrained = pinned.experimental_default_event_space_bijector().inverse(draws)
    names = ["scale", "weights", "correlation", "loc"]
    parts = unconstrained if kind == "dict" else dict(zip(names, tf.nest.flatten(unconstrained)))
    drawn = ["scale", "loc", "weights", "correlation"] if kind == "dict" else names
    expected = np.concatenate([np.reshape(parts[name], [5, -1]) for name in drawn], axis=-1)
    np.testing.assert_allclose(u, expected, rtol=1e-10, atol=1e-10)


def test_a_distribution_that_is_not_a_joint_one_keeps_its_vector_as_it_is():
    model = tfd.MultivariateNormalDiag(tf.zeros(3), [1.0, 2.0, 3.0])
    surrogate = surrogate_posterior(model, **SMALL)
    draws = surrogate.sample(4, seed=3)
    np.testing.assert_allclose(surrogate.bijector.inverse(draws), draws)
