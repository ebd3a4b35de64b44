"""tff.VAE and tff.metrics.importance_weighted_bound: bounds against an exact marginal, training
with every posterior kind, saving and loading, input errors, one-row batches, eager = compiled.

Every model here is tiny (a few hundred weights) and trains for seconds at most.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfp_flows as tff
from tfp_flows.testing import check_bijector
from tfp_flows.vae import Bernoulli, ContextAffine, DequantizedPixels, Gaussian

EVENT, LATENT = 3, 2


def _data(n: int = 256, seed: int = 0) -> np.ndarray:
    """Points near a 2-D plane in R^3 (what a 2-D latent space can explain)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 2))
    x = z @ np.array([[1.0, 0.5, -1.0], [0.0, 1.5, 0.5]]) + 0.1 * rng.normal(size=(n, 3))
    return x.astype(np.float32)


def _vae(posterior="gaussian", prior="normal", **kwargs) -> tff.VAE:
    kwargs.setdefault("hidden_units", (16,))
    kwargs.setdefault("context_units", 8)
    if isinstance(posterior, str) and posterior != "gaussian":
        kwargs.setdefault("posterior_kwargs", {"num_layers": 2, "hidden_units": (16,)})
    if isinstance(prior, str) and prior != "normal":
        kwargs.setdefault("prior_kwargs", {"num_layers": 2, "hidden_units": (16,)})
    vae = tff.VAE(EVENT, LATENT, posterior=posterior, prior=prior, seed=0, **kwargs)
    vae.compile(optimizer=keras.optimizers.Adam(1e-2))
    return vae


# -- the bound against a model whose marginal is known --------------------------------------


class _LinearGaussian:
    """``z ~ N(0, I_2)``, ``x | z ~ N(z K + b, s^2 I_3)``: ``x ~ N(b, K^T K + s^2 I)``, and the
    posterior ``z | x`` is ``N(m(x), S)`` with ``m`` linear in ``x``, so ``log p(x)`` and the
    ELBO of a Gaussian ``q`` are exact."""

    kernel = np.array([[1.0, -0.5, 0.3], [0.2, 0.8, -1.0]])
    bias = np.array([0.5, -0.2, 0.1])
    scale = 0.5
    widen = 1.5  # q(z | x) = N(m(x), diag(widen^2 S_ii)): the right mean, no correlation, too wide

    @property
    def precision(self) -> np.ndarray:
        return np.eye(LATENT) + self.kernel @ self.kernel.T / self.scale**2

    def posterior_mean_map(self) -> tuple[np.ndarray, np.ndarray]:
        """``m(x) = x A + c``: ``(A [3, 2], c [2])``."""
        a = self.kernel.T / self.scale**2 @ np.linalg.inv(self.precision)
        return a, -self.bias @ a

    @property
    def q_log_scale(self) -> np.ndarray:
        return np.log(self.widen * np.sqrt(np.linalg.inv(self.precision).diagonal()))

    def vae(self) -> tff.VAE:
        a, c = self.posterior_mean_map()
        encoder = keras.Sequential(
            [
                keras.Input((EVENT,)),
                keras.layers.Dense(
                    2 * LATENT,
                    kernel_initializer=keras.initializers.Constant(
                        np.concatenate([a, np.zeros([EVENT, LATENT])], axis=1)
                    ),
                    bias_initializer=keras.initializers.Constant(
                        np.concatenate([c, self.q_log_scale])
                    ),
                ),
            ]
        )
        decoder = keras.Sequential(
            [
                keras.Input((LATENT,)),
                keras.layers.Dense(
                    EVENT,
                    kernel_initializer=keras.initializers.Constant(self.kernel),
                    bias_initializer=keras.initializers.Constant(self.bias),
                ),
            ]
        )
        likelihood = Gaussian(scale=self.scale, trainable_scale=False)
        return tff.VAE(EVENT, LATENT, encoder=encoder, decoder=decoder, likelihood=likelihood)

    def sample(self, n: int, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        z = rng.normal(size=(n, LATENT))
        return (z @ self.kernel + self.bias + self.scale * rng.normal(size=(n, EVENT))).astype(
            np.float32
        )

    def log_marginal(self, x: np.ndarray) -> np.ndarray:
        cov = self.kernel.T @ self.kernel + self.scale**2 * np.eye(EVENT)
        r = x - self.bias
        _, log_det = np.linalg.slogdet(cov)
        quad = np.einsum("ni,ij,nj->n", r, np.linalg.inv(cov), r)
        return -0.5 * (quad + log_det + EVENT * math.log(2 * math.pi))

    def elbo(self, x: np.ndarray) -> np.ndarray:
        """``log p(x) - KL(q || p(z | x))`` in closed form (the KL does not depend on ``x``:
        ``q``'s mean is the posterior's)."""
        q_var = np.exp(2 * self.q_log_scale)
        kl = 0.5 * (
            np.sum(self.precision.diagonal() * q_var)
            - LATENT
            - np.linalg.slogdet(self.precision)[1]
            - np.sum(np.log(q_var))
        )
        return self.log_marginal(x) - kl


def test_elbo_and_iwae_bounds_order_and_approach_the_exact_log_marginal():
    model = _LinearGaussian()
    vae = model.vae()
    x = model.sample(300, seed=1)
    exact = model.log_marginal(x)
    bounds = {k: tff.metrics.importance_weighted_bound(vae, x, k=k, seed=3) for k in (1, 2, 1000)}
    # the ELBO estimate (1000 log-weights a point, sd ~1 each) matches its closed form
    kl = np.mean(exact - model.elbo(x))  # KL(q || p(z | x)), the same for every x here
    assert kl > 0.3  # a posterior of the wrong shape: a loose ELBO
    assert bounds[1000].elbo.mean == pytest.approx(np.mean(model.elbo(x)), abs=0.02)
    assert bounds[1000].gap.mean == pytest.approx(kl, abs=0.02)  # IWAE_1000 ~ log p(x)
    # E[ELBO] <= E[IWAE_10] <= E[IWAE_1000] <= log p(x), the first two steps beyond the noise
    steps = [bounds[1].per_point, bounds[2].per_point, bounds[1000].per_point, exact]
    for lower, upper in zip(steps[:-1], steps[1:]):
        difference = upper - lower
        assert np.mean(difference) > -3 * np.std(difference) / np.sqrt(len(x))
    for lower, upper in zip(steps[:2], steps[1:3]):
        difference = upper - lower
        assert np.mean(difference) > 3 * np.std(difference) / np.sqrt(len(x))
    # IWAE_1000 approaches log p(x) point by point, and on average within its bias + noise
    np.testing.assert_allclose(bounds[1000].per_point, exact, atol=0.1)
    assert abs(bounds[1000].nats.mean - np.mean(exact)) < 0.005
    assert 1 < bounds[2].ess.mean < 2 and 100 < bounds[1000].ess.mean < 1000
    # bits/dim is the same number per dimension in base 2
    assert bounds[1000].bits_per_dim.mean == pytest.approx(
        -bounds[1000].nats.mean / (EVENT * math.log(2)), rel=1e-12
    )


@pytest.mark.slow
def test_the_bound_is_deterministic_for_a_seed_and_chunking_covers_every_draw():
    vae = _vae("iaf")
    x = _data(20)
    one = tff.metrics.importance_weighted_bound(vae, x, k=7, seed=5, chunk_size=3, batch_size=8)
    two = tff.metrics.importance_weighted_bound(vae, x, k=7, seed=5, chunk_size=3, batch_size=8)
    np.testing.assert_array_equal(one.per_point, two.per_point)
    other = tff.metrics.importance_weighted_bound(vae, x, k=7, seed=6, chunk_size=3, batch_size=8)
    assert not np.array_equal(one.per_point, other.per_point)
    assert one.gap.mean >= 0 and 1.0 <= one.ess.mean <= 7.0 and one.k == 7
    with pytest.raises(TypeError, match="log_importance_weights"):
        tff.metrics.importance_weighted_bound(tff.real_nvp(3), x, k=5)


# -- training --------------------------------------------------------------------------------

CONDITIONAL_FLOW = "a conditional tff.Flow"


@pytest.mark.parametrize("posterior", ["gaussian", "iaf", "real_nvp", "nsf", CONDITIONAL_FLOW])
@pytest.mark.slow
def test_every_posterior_kind_trains_and_the_loss_decreases(posterior):
    if posterior == CONDITIONAL_FLOW:
        posterior = tff.real_nvp(LATENT, num_layers=2, hidden_units=(16,), context_size=6)
    vae = _vae(posterior)
    x = _data()
    before = vae.evaluate(x, verbose=0, return_dict=True)["loss"]
    keras.utils.set_random_seed(0)
    vae.fit(x, epochs=4, batch_size=64, verbose=0)
    after = vae.evaluate(x, verbose=0, return_dict=True)["loss"]
    assert np.isfinite(after) and after < before - 0.3  # ~3 standard errors of a one-draw ELBO


@pytest.mark.parametrize("prior", ["maf", "real_nvp"])
@pytest.mark.slow
def test_a_flow_prior_trains_jointly(prior):
    vae = _vae("iaf", prior)
    start = [v.numpy().copy() for v in vae.prior.trainable_variables]
    assert start, "the flow prior has trainable variables"
    ids = {id(v) for v in vae.trainable_variables}
    assert all(id(v) in ids for v in vae.prior.trainable_variables)
    x = _data()
    before = vae.evaluate(x, verbose=0, return_dict=True)["loss"]
    vae.fit(x, epochs=3, batch_size=64, verbose=0, shuffle=False)
    assert vae.evaluate(x, verbose=0, return_dict=True)["loss"] < before - 0.5
    moved = [np.max(np.abs(v.numpy() - s)) for v, s in zip(vae.prior.trainable_variables, start)]
    assert max(moved) > 1e-3


@pytest.mark.slow
def test_kl_warmup_lets_the_posterior_move_further_from_the_prior():
    x = _data()
    kls = {}
    for warmup in (0, 10**9):
        vae = _vae(kl_warmup_steps=warmup)
        vae.fit(x, epochs=6, batch_size=64, verbose=0, shuffle=False)
        kls[warmup] = vae.evaluate(x, verbose=0, return_dict=True)["kl"]
    assert kls[10**9] > kls[0] + 1.0


@pytest.mark.slow
def test_an_image_vae_with_the_default_convolutional_networks_trains_on_pixels():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 4, size=(64, 8, 8, 1)).astype(np.float32)
    x[:, 2:6, 3:5] = 3.0  # a bar in every image
    vae = tff.VAE(
        (8, 8, 1), latent_size=2, likelihood=DequantizedPixels(levels=4), hidden_units=(16,)
    )
    assert any(isinstance(layer, keras.layers.Conv2D) for layer in vae.encoder.layers)
    assert any(isinstance(layer, keras.layers.Conv2DTranspose) for layer in vae.decoder.layers)
    vae.compile(optimizer=keras.optimizers.Adam(1e-2))
    before = vae.evaluate(x, verbose=0, return_dict=True)["loss"]
    vae.fit(x, epochs=3, batch_size=32, verbose=0)
    assert vae.evaluate(x, verbose=0, return_dict=True)["loss"] < before
    assert vae.sample(3, seed=0).shape == (3, 8, 8, 1)
    # sides not divisible by 4: a dense decoder
    odd = tff.VAE((6, 6, 1), latent_size=2, likelihood=DequantizedPixels(levels=4))
    assert odd.decode(tf.zeros([2, 2])).shape == (2, 6, 6, 1)


def test_dequantized_pixels_are_in_the_density_space_of_bits_per_dim():
    likelihood = DequantizedPixels(levels=5)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 5, size=(6, 2, 2, 1)).astype(np.float32)
    params = tf.constant(rng.normal(size=(6, 2, 2, 1, 5)), tf.float32)
    log_p = likelihood.log_prob(tf.constant(x), params).numpy()  # log P(x | z), discrete
    density = likelihood.pixel_distribution(params, event_rank=3)  # p(v | z) on [0, 1)^D
    per_image = [
        tff.metrics.bits_per_dim(density[i], x[i : i + 1], levels=5, seed=i) for i in range(6)
    ]
    np.testing.assert_allclose(per_image, -log_p / (4 * math.log(2)), rtol=1e-5)


def test_bernoulli_likelihood_matches_tfp():
    x = tf.constant([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    logits = tf.constant([[0.3, -1.0, 2.0], [1.5, 0.2, -0.7]])
    expected = tf.reduce_sum(
        tf.nn.sigmoid_cross_entropy_with_logits(labels=x, logits=logits), axis=-1
    )
    np.testing.assert_allclose(Bernoulli().log_prob(x, logits), -expected, rtol=1e-6)


def test_context_affine_is_a_correct_conditional_layer():
    layer = ContextAffine(2, context_size=5, dtype=tf.float64)
    x = tf.constant(np.random.default_rng(0).normal(size=(4, 2)))
    context = tf.constant(np.random.default_rng(1).normal(size=(4, 5)))
    check_bijector(layer, x, context=context, modes=("eager", "function"))


# -- saving ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_save_and_load_model_keep_the_bound_the_weights_and_the_training_state(tmp_path):
    x = _data()
    vae = _vae("iaf", "real_nvp", kl_warmup_steps=5)
    vae.fit(x, epochs=2, batch_size=64, verbose=0, shuffle=False)
    path = tmp_path / "vae.keras"
    vae.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, tff.VAE)
    assert len(loaded.weights) == len(vae.weights) > len(vae.flow_variables) > 0
    for saved, restored in zip(vae.weights, loaded.weights):
        np.testing.assert_array_equal(saved.numpy(), restored.numpy())
    before = tff.metrics.importance_weighted_bound(vae, x[:40], k=64, seed=2)
    after = tff.metrics.importance_weighted_bound(loaded, x[:40], k=64, seed=2)
    np.testing.assert_array_equal(before.per_point, after.per_point)
    # the optimizer's moments, its step and the draws' seed came along: training goes on alike
    assert int(loaded.optimizer.iterations) == int(vae.optimizer.iterations) == 8
    one = vae.fit(x, epochs=1, batch_size=64, verbose=0, shuffle=False).history["loss"]
    two = loaded.fit(x, epochs=1, batch_size=64, verbose=0, shuffle=False).history["loss"]
    np.testing.assert_allclose(one, two, rtol=1e-5)


def test_a_vae_with_a_given_flow_object_refuses_model_save_and_says_what_to_do(tmp_path):
    flow = tff.real_nvp(LATENT, num_layers=2, hidden_units=(8,), context_size=4)
    vae = tff.VAE(EVENT, LATENT, posterior=flow, hidden_units=(8,))
    with pytest.raises(NotImplementedError, match="posterior='iaf'.*save_weights"):
        vae.save(tmp_path / "vae.keras")
    vae.save_weights(tmp_path / "vae.weights.h5")
    other = tff.VAE(
        EVENT,
        LATENT,
        posterior=tff.real_nvp(LATENT, num_layers=2, hidden_units=(8,), context_size=4, seed=5),
        hidden_units=(8,),
        seed=3,
    )
    other.load_weights(tmp_path / "vae.weights.h5")
    for a, b in zip(vae.weights, other.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


# -- inputs ----------------------------------------------------------------------------------


def test_bad_data_gets_errors_naming_expected_and_got():
    vae = _vae()
    x = _data(8)
    with pytest.raises(ValueError, match=r"expected data of shape \[n, 3\].*got shape \[8, 4\]"):
        vae.fit(np.zeros([8, 4], np.float32), verbose=0)
    nan = x.copy()
    nan[5, 1] = np.nan
    with pytest.raises(ValueError, match="non-finite.*first row 5"):
        vae.fit(nan, verbose=0)
    with pytest.raises(TypeError, match="dtype float32, got float64"):
        vae.evaluate(tf.constant(x, tf.float64), verbose=0)
    with pytest.raises(TypeError, match="real numbers.*got dtype <U"):
        tff.metrics.importance_weighted_bound(vae, np.array([["a", "b", "c"]]), k=2)
    with pytest.raises(ValueError, match="one point of shape"):
        vae.predict(x[0])
    with pytest.raises(ValueError, match="validation_data.*got shape \\[8, 2\\]"):
        vae.fit(x, validation_data=x[:, :2], verbose=0)
    pixels = tff.VAE((2, 2, 1), 2, likelihood=DequantizedPixels(levels=3), hidden_units=(4,))
    with pytest.raises(ValueError, match=r"integers 0..2 .*got values in \[3, 3\]"):
        pixels.evaluate(np.full([2, 2, 2, 1], 3.0), verbose=0)
    binary = tff.VAE(EVENT, 2, likelihood="bernoulli", hidden_units=(4,))
    with pytest.raises(ValueError, match="binary data.*e.g. 0.5"):
        binary.fit(np.full([4, 3], 0.5, np.float32), verbose=0)


def test_bad_configurations_get_errors_naming_expected_and_got():
    with pytest.raises(ValueError, match="posterior must be one of 'gaussian', 'iaf'.*got 'flowy'"):
        tff.VAE(EVENT, LATENT, posterior="flowy")
    with pytest.raises(ValueError, match="prior must be one of 'normal'.*got 'uniform'"):
        tff.VAE(EVENT, LATENT, prior="uniform")
    with pytest.raises(ValueError, match="needs latent_size >= 2, got 1"):
        tff.VAE(EVENT, 1, posterior="iaf")
    small = keras.Sequential([keras.Input((EVENT,)), keras.layers.Dense(3)])
    with pytest.raises(ValueError, match="context_size must be at least 4, got 3"):
        tff.VAE(EVENT, LATENT, encoder=small)
    wrong = keras.Sequential([keras.Input((LATENT,)), keras.layers.Dense(5)])
    with pytest.raises(ValueError, match="decoder must output 3 parameters per row.*got 5"):
        tff.VAE(EVENT, LATENT, decoder=wrong)
    unconditional = tff.real_nvp(LATENT, num_layers=2, hidden_units=(8,))
    with pytest.raises(ValueError, match="must be conditional.*context_size=0"):
        tff.VAE(EVENT, LATENT, posterior=unconditional)
    with pytest.raises(ValueError, match="compile takes no loss="):
        tff.VAE(EVENT, LATENT, hidden_units=(4,)).compile(loss="mse")
    with pytest.raises(ValueError, match="likelihood must be .*got 'poisson'"):
        tff.VAE(EVENT, LATENT, likelihood="poisson")


@pytest.mark.slow
def test_a_one_row_batch_trains_evaluates_and_is_scored():
    vae = _vae("iaf")
    x = _data(1)
    vae.fit(x, epochs=2, verbose=0)
    loss = vae.evaluate(x, verbose=0, return_dict=True)["loss"]
    assert np.isfinite(loss)
    assert vae.predict(x, verbose=0).shape == (1,)
    bound = tff.metrics.importance_weighted_bound(vae, x, k=10, seed=0)
    assert bound.per_point.shape == (1,) and np.isfinite(bound.nats.mean)
    assert math.isnan(bound.nats.stderr)  # one point: no spread to estimate
    assert vae.encode(x).sample(4, seed=0).shape == (4, 1, LATENT)


@pytest.mark.slow
def test_eager_and_compiled_runs_agree():
    x = _data(64)
    vae = _vae("real_nvp", "maf")
    eager = vae.log_importance_weights(x, 5, seed=1, compiled=False)
    compiled = vae.log_importance_weights(x, 5, seed=1)
    np.testing.assert_allclose(eager, compiled, rtol=1e-5, atol=1e-4)
    # one epoch of training step by step in Python, and compiled: the same weights after
    models = [_vae("real_nvp", "maf"), _vae("real_nvp", "maf")]
    models[0].compile(optimizer=keras.optimizers.Adam(1e-2), run_eagerly=True)
    models[1].compile(optimizer=keras.optimizers.Adam(1e-2), run_eagerly=False)
    for model in models:
        model.fit(x, epochs=1, batch_size=16, verbose=0, shuffle=False)
    for a, b in zip(models[0].weights, models[1].weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5)


def test_a_dataset_of_batches_trains_and_a_wrongly_shaped_one_is_refused():
    vae = _vae()
    x = _data(64)
    history = vae.fit(tf.data.Dataset.from_tensor_slices(x).batch(16), epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2 and np.all(np.isfinite(history.history["loss"]))
    wrong = tf.data.Dataset.from_tensor_slices(x[:, :2]).batch(16)
    with pytest.raises(
        ValueError, match=r"\[batch, 3\] batches, got elements of shape \(None, 2\)"
    ):
        vae.fit(wrong, verbose=0)
