"""Amortized posteriors (neural posterior estimation): exact densities, supports, data paths, errors."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

import tfp_flows as tff

tfd = tfp.distributions


def small_flow(event_size, context_size):
    return tff.nsf(event_size, num_layers=2, hidden_units=(16,), bins=4, context_size=context_size)


def box_pairs(n=512, seed=0):
    rng = np.random.default_rng(seed)
    theta = rng.uniform(-1, 1, size=(n, 2)).astype("float32")
    x = (theta + 0.3 * rng.normal(size=(n, 2))).astype("float32")
    return theta, x


BOX = tfd.Uniform([-1.0, -1.0], [1.0, 1.0])


def grid_integral(log_prob, low, high, size=300):
    """Midpoint rule of exp(log_prob) on [low, high]^2."""
    edges = np.linspace(low, high, size + 1)
    mid = (edges[1:] + edges[:-1]) / 2
    a, b = np.meshgrid(mid, mid)
    points = np.stack([a.ravel(), b.ravel()], axis=1).astype("float32")
    values = np.exp(np.asarray(log_prob(points), np.float64))
    return values.sum() * (edges[1] - edges[0]) ** 2


@pytest.fixture(scope="module")
def box_posterior():
    theta, x = box_pairs()
    return tff.inference.npe(theta, x, prior=BOX, flow=small_flow, steps=200, seed=0)


@pytest.mark.slow
def test_bounded_prior_samples_stay_in_the_support(box_posterior):
    draws = box_posterior.sample(5000, x_obs=[0.95, -0.95], seed=1).numpy()
    assert draws.shape == (5000, 2)
    assert np.all(np.abs(draws) < 1.0)


def test_bounded_prior_density_integrates_to_one_and_is_minus_inf_outside(box_posterior):
    x_obs = np.array([0.3, -0.5], "float32")
    total = grid_integral(lambda t: box_posterior.log_prob(t, x_obs), -1.0, 1.0)
    assert abs(total - 1.0) < 1e-2
    outside = box_posterior.log_prob([[1.5, 0.0], [0.0, -1.2]], x_obs).numpy()
    assert np.all(outside == -np.inf)


@pytest.mark.slow
def test_condition_is_a_plain_distribution_that_tfp_mcmc_samples(box_posterior):
    posterior = box_posterior.condition([0.2, 0.1])
    assert posterior.event_shape == tf.TensorShape([2]) and posterior.batch_shape == []
    draws = posterior.sample(7, seed=tff.stateless_seed(3))
    np.testing.assert_allclose(
        posterior.log_prob(draws), box_posterior.log_prob(draws, [0.2, 0.1]), rtol=1e-5
    )
    kernel = tfp.mcmc.RandomWalkMetropolis(posterior.log_prob)
    chain = tf.function(
        lambda: tfp.mcmc.sample_chain(
            100, tf.zeros([2]), kernel=kernel, trace_fn=None, seed=tff.stateless_seed(0)
        )
    )()
    assert np.all(np.abs(chain.numpy()) < 1.0)


@pytest.mark.slow
def test_condition_unconstrains_with_the_priors_support_map_for_tfp_mcmc(box_posterior):
    # The conditioned posterior's event-space bijector was the Identity: tfp.mcmc's
    # TransformedTransitionKernel (and tfp.vi's surrogates) then stepped outside the box.
    posterior = box_posterior.condition([0.2, 0.1])
    to_box = posterior.experimental_default_event_space_bijector()
    u = 5.0 * tf.random.stateless_normal([200, 2], seed=[1, 2])
    theta = to_box(u)
    assert np.all(np.abs(theta.numpy()) < 1.0)
    assert np.all(np.isfinite(posterior.log_prob(theta).numpy()))
    np.testing.assert_allclose(to_box.inverse(theta), u, rtol=1e-4, atol=1e-4)
    kernel = tfp.mcmc.TransformedTransitionKernel(
        tfp.mcmc.HamiltonianMonteCarlo(posterior.log_prob, step_size=0.1, num_leapfrog_steps=3),
        to_box,
    )
    chain = tfp.mcmc.sample_chain(
        20, tf.constant([0.1, 0.1]), kernel=kernel, trace_fn=None, seed=tff.stateless_seed(0)
    )
    assert np.all(np.abs(chain.numpy()) < 1.0)
    # a NaN theta is not outside the support: its density is NaN, not -inf
    assert np.isnan(posterior.log_prob([[np.nan, 0.2]]).numpy()).all()
    assert posterior.log_prob([[1.5, 0.2]]).numpy() == -np.inf
    unbounded = tff.inference.npe(*box_pairs(64), flow=small_flow, steps=2)
    bijector = unbounded.condition([0.2, 0.1]).experimental_default_event_space_bijector()
    assert isinstance(bijector, tfp.bijectors.Identity)


@pytest.mark.slow
def test_joint_prior_with_uniform_and_lognormal_parts():
    prior = tfd.JointDistributionNamed(
        dict(loc=tfd.Uniform(-2.0, 2.0), scale=tfd.LogNormal(0.0, 0.5))
    )
    draws = prior.sample(512, seed=tff.stateless_seed(0))
    rng = np.random.default_rng(0)
    x = draws["loc"].numpy()[:, None] + draws["scale"].numpy()[:, None] * rng.normal(size=(512, 4))
    posterior = tff.inference.npe(draws, x, prior=prior, flow=small_flow, steps=100)
    samples = posterior.sample(2000, x_obs=x[0], seed=0).numpy()
    parts = posterior.unflatten(samples)  # tf.nest order: loc, scale
    assert posterior.support.names == ["loc", "scale"]
    assert np.all(np.abs(parts["loc"].numpy()) < 2.0) and np.all(parts["scale"].numpy() > 0)
    assert posterior.log_prob([[0.0, -0.1]], x[0]).numpy()[0] == -np.inf


@pytest.mark.slow
def test_log_prob_includes_the_standardisation_of_theta():
    # theta on a scale of 100s: without the Standardize layer's log-det the density would not
    # integrate to one over theta's coordinates
    rng = np.random.default_rng(1)
    theta = (300.0 + 50.0 * rng.normal(size=(512, 2))).astype("float32")
    x = (theta / 50.0 + rng.normal(size=(512, 2))).astype("float32")
    posterior = tff.inference.npe(theta, x, flow=small_flow, steps=100)
    assert posterior.flow.bijector is not None
    total = grid_integral(lambda t: posterior.log_prob(t, x[0]), 0.0, 600.0, size=300)
    assert abs(total - 1.0) < 2e-2


@pytest.mark.slow
def test_the_flow_reads_standardised_x():
    theta, x = box_pairs(256)
    posterior = tff.inference.npe(theta, 1000.0 * x + 5.0, flow=small_flow, steps=10)
    np.testing.assert_allclose(
        posterior.embedding.loc.numpy(), (1000.0 * x + 5.0).mean(0), rtol=1e-4
    )
    context = posterior.embedding(posterior.encode(1000.0 * x[0] + 5.0)[None])
    assert np.all(np.abs(context.numpy()) < 5.0)


@pytest.mark.slow
@pytest.mark.xla  # npe's default path; without XLA TF's threaded reductions can differ by 1 ulp
def test_training_is_deterministic_for_a_seed():
    theta, x = box_pairs(256)
    runs = [
        tff.inference.npe(theta, x, prior=BOX, flow=small_flow, steps=30, seed=4)
        .log_prob([[0.1, 0.2]], [0.0, 0.0])
        .numpy()
        for _ in range(2)
    ]
    np.testing.assert_array_equal(*runs)


@pytest.mark.slow
@pytest.mark.xla
def test_gaussian_posterior_is_learned():
    # theta ~ N(0, I), x = theta + N(0, 0.5^2 I): posterior N(0.8 x, 0.2 I). Trained on npe's
    # default path for a vector flow (XLA): without XLA, 1500 steps of training differ from
    # process to process (graph-mode round-off, amplified), and 2 of 5 runs missed the mean.
    rng = np.random.default_rng(2)
    theta = rng.normal(size=(4000, 2)).astype("float32")
    x = (theta + 0.5 * rng.normal(size=(4000, 2))).astype("float32")
    posterior = tff.inference.npe(theta, x, steps=1500, seed=0)
    x_obs = np.array([1.0, -0.5], "float32")
    draws = posterior.sample(20000, x_obs, seed=0).numpy()
    np.testing.assert_allclose(draws.mean(0), 0.8 * x_obs, atol=0.06)
    np.testing.assert_allclose(draws.std(0), np.sqrt(0.2), atol=0.05)
    assert posterior.history.steps <= 1500


@pytest.mark.slow
def test_dataset_and_simulator_paths_train():
    theta, x = box_pairs(256)
    dataset = tf.data.Dataset.from_tensor_slices((theta, x)).batch(64, drop_remainder=True)
    from_data = tff.inference.npe(dataset, prior=BOX, flow=small_flow, steps=20)
    assert np.isfinite(from_data.log_prob([[0.0, 0.0]], [0.1, 0.1]).numpy()).all()

    def simulator(theta, seed):
        return theta + 0.3 * tf.random.stateless_normal(tf.shape(theta), seed)

    online = tff.inference.npe(prior=BOX, simulator=simulator, flow=small_flow, steps=20)
    assert online.history.steps == 20
    assert np.all(np.abs(online.sample(100, [0.1, 0.1], seed=0).numpy()) < 1)


def test_hostile_inputs_are_refused_naming_expected_and_got(box_posterior):
    theta, x = box_pairs(64)
    with pytest.raises(ValueError, match="expected x with 64 rows .*got 63"):
        tff.inference.npe(theta, x[:63], flow=small_flow, steps=1)
    bad = x.copy()
    bad[5, 1] = np.nan
    with pytest.raises(ValueError, match="finite, got NaN or inf in row 5"):
        tff.inference.npe(theta, bad, flow=small_flow, steps=1)
    with pytest.raises(ValueError, match="theta row 0 .* outside the prior's support"):
        tff.inference.npe(theta + 5.0, x, prior=BOX, flow=small_flow, steps=1)
    with pytest.raises(
        ValueError, match=r"expected one observation x_obs of shape \[2\], got shape \[3\]"
    ):
        box_posterior.sample(3, [0.1, 0.2, 0.3], seed=0)
    with pytest.raises(ValueError, match=r"sample: pass the observation x_obs \(of shape \[2\]\)"):
        box_posterior.sample(3)
    with pytest.raises(ValueError, match="log_prob: pass the observation"):
        box_posterior.log_prob([[0.0, 0.0]])
    with pytest.raises(ValueError, match=r"expected theta of shape \[..., 2\], got shape \[1, 3\]"):
        box_posterior.log_prob([[0.0, 0.0, 0.0]], [0.1, 0.2])
    with pytest.raises(ValueError, match="context of width 2 .*got context_size=3"):
        tff.inference.npe(theta, x, flow=lambda d, context_size: small_flow(d, 3), steps=1)


@pytest.mark.slow
def test_a_flow_without_standardize_gets_one():
    theta, x = box_pairs(256)
    plain = lambda d, context_size: tff.nsf(  # noqa: E731
        d, num_layers=2, hidden_units=(16,), bins=4, context_size=context_size, standardize=False
    )
    posterior = tff.inference.npe(
        100.0 * theta, x, flow=plain, steps=5, jit_compile=False, validation_split=0.0
    )
    layers = tff.training.find_standardize_layers(posterior.flow)
    assert [layer.name for layer in layers] == ["npe_theta_standardize"]
    np.testing.assert_allclose(layers[0].loc.numpy(), (100.0 * theta).mean(0), rtol=1e-4)


def test_sample_batch_draws_what_sample_draws_for_each_observation(box_posterior):
    x_obs = np.array([[0.95, -0.95], [0.0, 0.2], [-0.5, 0.5]], "float32")
    batch = box_posterior.sample_batch(50, x_obs, seed=11).numpy()
    assert batch.shape == (3, 50, 2) and np.all(np.abs(batch) < 1.0)
    for i in range(3):  # observation i with seed 11 + i: the same draws, batched
        one = box_posterior.sample(50, x_obs[i], seed=11 + i).numpy()
        np.testing.assert_allclose(batch[i], one, rtol=1e-5, atol=1e-5)
    listed = box_posterior.sample_batch(50, list(x_obs), seed=[11, 12, 13]).numpy()
    np.testing.assert_array_equal(listed, batch)
    # so the diagnostics' batched path gives the ranks of the per-observation one
    theta = np.array([[0.9, -0.9], [0.1, 0.1], [-0.4, 0.3]], "float32")

    class OneByOne:
        sample = box_posterior.sample

    np.testing.assert_array_equal(
        tff.diagnostics.sbc_ranks(box_posterior, theta, x_obs, 50, seed=11),
        tff.diagnostics.sbc_ranks(OneByOne(), theta, x_obs, 50, seed=11),
    )


def test_sample_batch_refuses_bad_batches_naming_expected_and_got(box_posterior):
    x_obs = np.zeros([3, 2], "float32")
    with pytest.raises(ValueError, match=r"shape \[N, 2\], got shape \[2\] \(one observation"):
        box_posterior.sample_batch(5, x_obs[0])
    with pytest.raises(
        ValueError, match=r"expected observations x_obs of shape \[N, 2\], got shape \[3, 3\]"
    ):
        box_posterior.sample_batch(5, np.zeros([3, 3], "float32"))
    with pytest.raises(ValueError, match=r"with N >= 1, got an empty batch"):
        box_posterior.sample_batch(5, x_obs[:0])
    with pytest.raises(
        ValueError, match=r"expected seed None, an int or 3 ints .* got int64 of shape \[2\]"
    ):
        box_posterior.sample_batch(5, x_obs, seed=[1, 2])


def test_log_prob_batch_scores_each_point_under_its_own_observation(box_posterior):
    x_obs = np.array([[0.95, -0.95], [0.0, 0.2], [-0.5, 0.5]], "float32")
    theta = np.array([[0.9, -0.9], [0.1, 0.1], [-0.4, 1.5]], "float32")  # the last outside
    paired = box_posterior.log_prob_batch(theta, x_obs).numpy()
    one_by_one = [box_posterior.log_prob(theta[i], x_obs[i]).numpy() for i in range(3)]
    np.testing.assert_allclose(paired, one_by_one, rtol=1e-5, atol=1e-5)
    assert np.isfinite(paired[:2]).all() and paired[2] == -np.inf
    points = np.stack([theta, -0.5 * theta], axis=1)  # [N, m, d]: m points per observation
    per_point = box_posterior.log_prob_batch(points, x_obs).numpy()
    assert per_point.shape == (3, 2)
    for i in range(3):
        np.testing.assert_allclose(
            per_point[i], box_posterior.log_prob(points[i], x_obs[i]).numpy(), rtol=1e-5, atol=1e-5
        )


def test_log_prob_batch_refuses_mismatched_pairs_naming_expected_and_got(box_posterior):
    x_obs = np.zeros([3, 2], "float32")
    with pytest.raises(
        ValueError,
        match=r"theta of shape \[3, 2\] or \[3, m, 2\] for 3 observations, got shape \[2, 2\]",
    ):
        box_posterior.log_prob_batch(np.zeros([2, 2], "float32"), x_obs)
    with pytest.raises(ValueError, match=r"got shape \[3, 3\]"):
        box_posterior.log_prob_batch(np.zeros([3, 3], "float32"), x_obs)
    with pytest.raises(ValueError, match=r"got shape \[2\] \(one observation: use log_prob\)"):
        box_posterior.log_prob_batch(np.zeros([1, 2], "float32"), x_obs[0])
    with pytest.raises(ValueError, match="x_obs must be finite, got NaN or inf in row 1"):
        box_posterior.log_prob_batch(np.zeros([2, 2], "float32"), [[0.1, 0.2], [np.nan, 0.0]])


def test_sample_counts_must_be_integers_and_a_nan_names_its_observation(box_posterior):
    # sample(2.5) silently drew 2; a NaN in observation 1 of a batch was reported as row 0
    with pytest.raises(TypeError, match=r"sample: n must be a non-negative integer, got 2.5"):
        box_posterior.sample(2.5, [0.1, 0.2], seed=0)
    with pytest.raises(TypeError, match=r"sample_batch: n must be a non-negative integer"):
        box_posterior.sample_batch(2.0, np.zeros([2, 2], "float32"), seed=0)
    x_obs = np.array([[0.1, 0.2], [np.nan, 0.0], [0.3, 0.4]], "float32")
    with pytest.raises(ValueError, match="x_obs must be finite, got NaN or inf in row 1"):
        box_posterior.sample_batch(5, x_obs, seed=0)
    assert box_posterior.sample(np.int64(3), [0.1, 0.2], seed=0).shape == (3, 2)
    assert box_posterior.sample_batch(0, x_obs[[0, 2]], seed=0).shape == (2, 0, 2)


def test_posterior_flow_condition_refuses_a_row_of_another_width(box_posterior):
    # the raw observation of another width than the encoded row: a reshape error (or, for a
    # multiple of the width, rows cut from the wrong places)
    flow = box_posterior.flow
    with pytest.raises(
        ValueError, match=r"expected an encoded observation of shape \[2\].*got shape \[3\]"
    ):
        flow.condition(np.zeros([3], "float32"))
    with pytest.raises(ValueError, match=r"got shape \[2, 4\]"):
        flow.condition(np.zeros([2, 4], "float32"))
    row = box_posterior.encode([0.1, 0.2])
    np.testing.assert_array_equal(
        flow.condition(row).log_prob([[0.0, 0.5]]),
        box_posterior.condition([0.1, 0.2]).log_prob([[0.0, 0.5]]),
    )


@pytest.mark.slow
def test_validation_pairs_are_checked_and_encoded_as_the_training_pairs():
    # validation_data=(theta, x) went to fit raw: padded sets were refused with the encoded
    # width fit expects, and theta outside the prior gave a validation loss of inf
    theta, x = box_pairs(96)
    sets = np.stack([x, x + 0.1, np.full_like(x, np.nan)], axis=1)  # sets of 2 of at most 3
    posterior = tff.inference.npe(
        theta[:80],
        sets[:80],
        prior=BOX,
        summary=tff.nn.DeepSet(3, hidden_units=(4,), embedding_size=4),
        flow=small_flow,
        steps=4,
        validation_data=(theta[80:], sets[80:]),
    )
    assert posterior.history.steps == 4
    with pytest.raises(
        ValueError, match=r"validation_data: npe: theta row \d+ .* outside the prior"
    ):
        tff.inference.npe(
            theta[:80],
            x[:80],
            prior=BOX,
            flow=small_flow,
            steps=1,
            validation_data=(3 * theta[80:], x[80:]),
        )
    with pytest.raises(ValueError, match=r"x of shape \[16, 2\] .*got shape \[15, 2\]"):
        tff.inference.npe(
            theta[:80], x[:80], flow=small_flow, steps=1, validation_data=(theta[80:], x[81:])
        )


@pytest.mark.slow
def test_epochs_run_the_steps_of_as_many_passes_validated_at_the_default_grain():
    # With epochs= npe used fit's grain (about 20 validations) with its patience of 50
    # validations, so early stopping could never stop a run.
    theta, x = box_pairs(200)  # 180 training pairs after the 10 % split: 5 batches of 32
    posterior = tff.inference.npe(
        theta, x, flow=small_flow, epochs=40, batch_size=32, patience=None, seed=0
    )
    history = posterior.history
    assert history.steps == 40 * 5
    every = 200 // tff.inference.VALIDATIONS_PER_RUN
    assert history.val_steps == list(range(every, 201, every))
    with pytest.raises(ValueError, match="epochs"):
        tff.inference.npe(theta, x, flow=small_flow, epochs=0)


@pytest.mark.slow
def test_streamed_pairs_validate_like_arrays_and_refuse_what_they_would_ignore():
    # A dataset or a simulator took validation_data raw (theta outside the prior: a validation
    # loss of inf), never stopped early on it, and dropped validation_split and a simulator's
    # epochs without a word.
    theta, x = box_pairs(96)
    dataset = tf.data.Dataset.from_tensor_slices((theta, x)).batch(16, drop_remainder=True)

    def simulator(theta, seed):
        return theta + 0.3 * tf.random.stateless_normal(tf.shape(theta), seed)

    streams = {"dataset": dict(theta=dataset.repeat()), "simulator": dict(simulator=simulator)}
    for kwargs in streams.values():
        posterior = tff.inference.npe(
            prior=BOX, flow=small_flow, steps=200, validation_data=(theta, x), patience=1, **kwargs
        )
        history = posterior.history
        assert history.stopped_early and history.steps < 200
        assert history.val_steps == list(range(2, history.steps + 1, 2))  # npe's grain
        assert np.all(np.isfinite(history.val_loss))
        with pytest.raises(ValueError, match=r"validation_data: npe: theta row \d+ .* outside"):
            tff.inference.npe(
                prior=BOX, flow=small_flow, steps=2, validation_data=(3 * theta, x), **kwargs
            )
        with pytest.raises(
            ValueError, match=r"pass validation_data=\(theta, x\), got validation_split=0.2"
        ):
            tff.inference.npe(prior=BOX, flow=small_flow, steps=2, validation_split=0.2, **kwargs)
    with pytest.raises(ValueError, match=r"give steps=, not epochs= \(got epochs=3\)"):
        tff.inference.npe(prior=BOX, simulator=simulator, flow=small_flow, steps=20, epochs=3)


@pytest.mark.slow
def test_npe_cuts_the_learning_rate_of_an_overfitting_run_unless_told_not_to():
    import keras

    rng = np.random.default_rng(3)
    theta = rng.normal(size=(200, 6)).astype("float32")  # 180 training pairs of a 6-D posterior
    x = (theta + rng.normal(size=(200, 6))).astype("float32")
    settings = dict(flow=small_flow, steps=400, seed=0, jit_compile=False)
    cut = tff.inference.npe(theta, x, **settings)
    assert cut.history.learning_rate_scale < 1.0
    assert (
        tff.inference.npe(theta, x, lr_patience=None, **settings).history.learning_rate_scale == 1.0
    )
    # an optimizer of your own keeps its rate: npe adds the cut only to fit's default optimizer
    own = tff.inference.npe(theta, x, optimizer=keras.optimizers.Adam(1e-2), **settings)
    assert own.history.learning_rate_scale == 1.0


def test_npe_refuses_a_bad_lr_patience_naming_it():
    theta, x = box_pairs(64)
    with pytest.raises(ValueError, match=r"npe: lr_patience must be a positive integer, got 0"):
        tff.inference.npe(theta, x, lr_patience=0, steps=5)


@pytest.mark.parametrize(
    "pairs, batch_size, expected_batch, expected_steps",
    [
        (10_000, None, 128, 2000),
        (49_999, None, 128, 7812),
        (50_000, None, 512, 7812),  # tff.inference.LARGE_BATCH_PAIRS
        (100_000, 256, 256, 7812),  # your batch: 20 passes of it
    ],
)
def test_default_batch_grows_with_the_budget_at_the_same_steps(
    monkeypatch, pairs, batch_size, expected_batch, expected_steps
):
    import importlib

    npe_module = importlib.import_module("tfp_flows.inference.npe")

    class Stop(Exception):
        pass

    seen = {}

    def spy(flow, theta, **kwargs):
        seen.update(kwargs)
        raise Stop

    monkeypatch.setattr(npe_module, "fit", spy)
    theta, x = box_pairs(pairs)
    with pytest.raises(Stop):
        tff.inference.npe(theta, x, flow=small_flow, batch_size=batch_size)
    assert (seen["batch_size"], seen["steps"]) == (expected_batch, expected_steps)
