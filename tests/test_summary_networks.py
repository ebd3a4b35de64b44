"""Summary networks: permutation invariance, masks, joint training with the posterior flow."""

import numpy as np
import pytest
import tensorflow as tf

import tfp_flows as tff


def small_flow(event_size, context_size):
    return tff.nsf(event_size, num_layers=2, hidden_units=(16,), bins=4, context_size=context_size)


def test_deep_set_is_exactly_permutation_invariant_and_ignores_padding():
    net = tff.nn.DeepSet(3, hidden_units=(16,), embedding_size=8, seed=0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 6, 2)).astype("float32")
    out = net(x).numpy()
    for order in (rng.permutation(6), np.arange(6)[::-1]):
        np.testing.assert_array_equal(net(x[:, order]).numpy(), out)
    mask = np.ones([4, 9], "float32")
    mask[:, 6:] = 0
    padded = np.concatenate([x, np.full([4, 3, 2], 1e3, "float32")], axis=1)
    np.testing.assert_allclose(net(padded, mask=mask).numpy(), out, rtol=1e-6, atol=1e-6)
    nan_padded = np.concatenate([x, np.full([4, 3, 2], np.nan, "float32")], axis=1)
    np.testing.assert_allclose(net(nan_padded, mask=mask).numpy(), out, rtol=1e-6, atol=1e-6)
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(net(nan_padded, mask=mask))
    gradients = tape.gradient(total, [v.value for v in net.trainable_weights])
    assert all(np.all(np.isfinite(g)) for g in gradients)
    # a set of other size is another set: the count enters the summary
    assert not np.allclose(net(x[:, :3]).numpy(), out)


def test_summary_networks_refuse_bad_arguments():
    with pytest.raises(ValueError, match="hidden_units must be a sequence of positive integers"):
        tff.nn.DeepSet(2, hidden_units=(0,))
    with pytest.raises(ValueError, match=r"expected sets of shape \[batch, set_size, features\]"):
        tff.nn.DeepSet(2)(np.zeros([3, 2], "float32"))


@pytest.mark.slow
def test_gradients_reach_the_summary_weights_and_checkpoints_hold_them(tmp_path):
    rng = np.random.default_rng(1)
    theta = rng.normal(size=(128, 2)).astype("float32")
    x = (theta[:, None, :] + rng.normal(size=(128, 5, 2))).astype("float32")
    summary = tff.nn.MLPSummary(4, hidden_units=(8,), seed=0)
    posterior = tff.inference.npe(
        theta, x, summary=summary, flow=small_flow, steps=5, jit_compile=False
    )
    summary_ids = {id(v) for v in tff.nn.summary_variables(summary)}
    trained = posterior.trainable_variables
    assert summary_ids <= {id(v) for v in trained} and len(summary_ids) == 4
    context = posterior.embedding.encode(x)
    # (a fresh flow's conditioners output zeros, so the context gets gradients once trained)
    with tf.GradientTape() as tape:
        loss = -tf.reduce_mean(posterior.flow.log_prob(theta, context=context))
    gradients = tape.gradient(loss, trained)
    for variable, gradient in zip(trained, gradients):
        if id(variable) in summary_ids:
            assert gradient is not None and float(tf.reduce_max(tf.abs(gradient))) > 0
    # a checkpoint of the flow holds the summary's weights
    before = posterior.log_prob([[0.1, 0.2]], x[0]).numpy()
    path = tf.train.Checkpoint(flow=posterior.flow).write(str(tmp_path / "ckpt"))
    for variable in tff.nn.summary_variables(summary):
        variable.assign(variable + 1.0)
    assert not np.allclose(posterior.log_prob([[0.1, 0.2]], x[0]).numpy(), before)
    tf.train.Checkpoint(flow=posterior.flow).read(path).assert_consumed()
    np.testing.assert_allclose(posterior.log_prob([[0.1, 0.2]], x[0]).numpy(), before, rtol=1e-6)


@pytest.mark.slow
def test_summary_weights_change_in_training():
    rng = np.random.default_rng(2)
    theta = rng.normal(size=(256, 2)).astype("float32")
    x = (theta[:, None, :] + rng.normal(size=(256, 5, 2))).astype("float32")
    summary = tff.nn.DeepSet(4, hidden_units=(8,), embedding_size=8, seed=0)
    summary(x[:1])  # built before npe: its initial weights can be kept
    start = [v.numpy().copy() for v in tff.nn.summary_variables(summary)]
    tff.inference.npe(theta, x, summary=summary, flow=small_flow, steps=20, jit_compile=False)
    after = [v.numpy() for v in tff.nn.summary_variables(summary)]
    assert all(not np.array_equal(a, b) for a, b in zip(start, after))


def test_padded_sets_are_checked():
    theta = np.zeros([4, 2], "float32")
    x = np.zeros([4, 3, 2], "float32")
    x[1, 2, 0] = np.nan  # half a padding row
    with pytest.raises(ValueError, match="element 2 of set 1 is partly NaN"):
        tff.inference.npe(theta, x, summary=tff.nn.DeepSet(2), flow=small_flow, steps=1)
    x[1, :, :] = np.nan
    with pytest.raises(ValueError, match="set 1 has no elements"):
        tff.inference.npe(theta, x, summary=tff.nn.DeepSet(2), flow=small_flow, steps=1)


@pytest.mark.slow
def test_deep_set_posterior_contracts_with_more_draws():
    # theta ~ N(0, I_2); x_1..x_m ~ N(theta, I_2), m from 1 to 20: p(theta | x) has sd 1/sqrt(1+m)
    rng = np.random.default_rng(3)
    n, m_max = 6000, 20
    theta = rng.normal(size=(n, 2)).astype("float32")
    sizes = rng.integers(1, m_max + 1, size=n)
    x = theta[:, None, :] + rng.normal(size=(n, m_max, 2))
    x[np.arange(m_max)[None, :] >= sizes[:, None]] = np.nan
    summary = tff.nn.DeepSet(8, hidden_units=(32,), embedding_size=16, seed=0)
    # The posterior is Gaussian given the summary: a 2-layer affine MAF can be exact, and costs a
    # third of the default spline flow's time per step.
    flow = lambda event_size, context_size: tff.maf(  # noqa: E731
        event_size, num_layers=2, hidden_units=(32, 32), context_size=context_size, seed=0
    )
    posterior = tff.inference.npe(
        theta, x.astype("float32"), summary=summary, flow=flow, steps=800, seed=0
    )
    truth = np.array([0.5, -0.5])
    spreads = []
    for m in (2, 20):
        draws = truth + rng.normal(size=(m, 2))
        samples = posterior.sample(4000, draws.astype("float32"), seed=0).numpy()  # padded inside
        spreads.append(samples.std(0).mean())
        np.testing.assert_allclose(samples.mean(0), draws.sum(0) / (1 + m), atol=0.15)
        assert abs(spreads[-1] - 1 / np.sqrt(1 + m)) < 0.25 / np.sqrt(1 + m)
    assert spreads[1] < 0.5 * spreads[0]


def _trains_jointly_and_names_a_wrong_shape(summary, theta, x, wrong_shape, message):
    """Every trainable weight of ``summary`` moves in three npe steps (the flow's gradients reach
    it), and an input of ``wrong_shape`` raises ``message`` (expected vs got)."""
    summary(x[:1])  # built before npe: its initial weights can be kept
    weights = [v for v in tff.nn.summary_variables(summary) if v.trainable]
    start = [v.numpy().copy() for v in weights]
    tiny_flow = lambda event_size, context_size: tff.maf(  # noqa: E731  (the cheapest to trace)
        event_size, num_layers=1, hidden_units=(8,), context_size=context_size
    )
    posterior = tff.inference.npe(
        theta,
        x,
        summary=summary,
        flow=tiny_flow,
        steps=3,
        batch_size=32,
        validation_split=0.0,
        jit_compile=False,
    )
    assert {id(v) for v in weights} <= {id(v) for v in posterior.trainable_variables}
    # the flow's zero-initialised output layer moves first, then the summary behind it
    assert len(weights) > 0 and all(
        not np.array_equal(a, v.numpy()) for a, v in zip(start, weights)
    )
    assert posterior.sample(5, x[0], seed=0).shape == (5, theta.shape[1])
    with pytest.raises(ValueError, match=message):
        summary(np.zeros(wrong_shape, "float32"))


@pytest.mark.slow
def test_time_series_summary_trains_with_the_flow_and_names_a_wrong_shape():
    # theta = (amplitude, frequency) of a noisy sine of 16 steps, one channel
    rng = np.random.default_rng(4)
    theta = rng.uniform(0.5, 2.0, size=(64, 2)).astype("float32")
    t = np.arange(16, dtype="float32")
    x = theta[:, :1] * np.sin(theta[:, 1:] * t) + 0.1 * rng.normal(size=(64, 16))
    summary = tff.nn.TimeSeriesSummary(
        3, filters=(4, 4), kernel_size=3, gru_units=3, hidden_units=(8,), seed=0
    )
    _trains_jointly_and_names_a_wrong_shape(
        summary,
        theta,
        x.astype("float32"),
        [2, 16, 3],
        r"expected shape \[batch, time\] or \[batch, time, 1\], got shape \(2, 16, 3\)",
    )


def test_image_summary_trains_with_the_flow_and_names_a_wrong_shape():
    # theta = (brightness, contrast) of 8x8 images with 2 channels
    rng = np.random.default_rng(5)
    theta = rng.normal(size=(64, 2)).astype("float32")
    noise = rng.normal(size=(64, 8, 8, 2))
    x = theta[:, :1, None, None] + np.exp(0.3 * theta[:, 1:, None, None]) * noise
    summary = tff.nn.ImageSummary(3, filters=(4, 4), hidden_units=(8,), seed=0)
    _trains_jointly_and_names_a_wrong_shape(
        summary,
        theta,
        x.astype("float32"),
        [1, 8, 8],
        r"expected shape \[batch, height, width, 2\] \(2 channels\), got shape \(1, 8, 8\)",
    )


@pytest.mark.slow
def test_sample_batch_and_log_prob_batch_take_sets_of_different_sizes():
    rng = np.random.default_rng(5)
    theta = rng.normal(size=(64, 2)).astype("float32")
    x = theta[:, None, :] + rng.normal(size=(64, 4, 2))
    x[::2, 2:] = np.nan  # every other set has 2 elements, padded to 4
    tiny_flow = lambda event_size, context_size: tff.maf(  # noqa: E731
        event_size, num_layers=1, hidden_units=(8,), context_size=context_size
    )
    summary = tff.nn.DeepSet(4, hidden_units=(8,), embedding_size=4, seed=0)
    posterior = tff.inference.npe(
        theta, x.astype("float32"), summary=summary, flow=tiny_flow, steps=3, jit_compile=False
    )
    sets = [rng.normal(size=(4, 2)).astype("float32"), rng.normal(size=(2, 2)).astype("float32")]
    batch = posterior.sample_batch(20, sets, seed=3).numpy()
    assert batch.shape == (2, 20, 2)
    for i, one_set in enumerate(sets):  # the smaller set is padded as in sample
        np.testing.assert_allclose(
            batch[i], posterior.sample(20, one_set, seed=3 + i).numpy(), rtol=1e-5, atol=1e-5
        )
    # and log_prob_batch scores each point under its own set's posterior, padded alike
    theta_obs = np.array([[0.3, -0.2], [1.0, 0.5]], "float32")
    np.testing.assert_allclose(
        posterior.log_prob_batch(theta_obs, sets).numpy(),
        [posterior.log_prob(theta_obs[i], one_set).numpy() for i, one_set in enumerate(sets)],
        rtol=1e-5,
        atol=1e-5,
    )
