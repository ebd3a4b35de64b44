"""The digits dataset, dequantisation, the logit preprocessing and bits per dimension."""

import importlib
import sys

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
from scipy import integrate, special, stats

import tfp_flows as tff
from tfp_flows.bijectors.logit import Logit
from tfp_flows.evaluation import metrics
from tfp_flows.images import dequantization

digits_module = importlib.import_module("tfp_flows.datasets.digits")  # the module, not the function

tfd = tfp.distributions
tfb = tfp.bijectors

SPLITS = ("train", "validation", "test")


# -- the dataset ---------------------------------------------------------------------------


def test_digits_splits_partition_the_images_with_every_digit_in_its_share():
    from sklearn.datasets import load_digits

    bunch = load_digits()
    indices = {split: tff.datasets.digits_split_indices(split) for split in SPLITS}
    assert sorted(np.concatenate(list(indices.values())).tolist()) == list(range(1797))
    for split in SPLITS:
        images, labels = tff.datasets.digits(split, return_labels=True)
        assert images.shape == (tff.datasets.DIGITS_SPLIT_SIZES[split], 8, 8, 1)
        assert images.dtype == np.float32 and labels.dtype == np.int64
        np.testing.assert_array_equal(images[..., 0], bunch.images[indices[split]])
        np.testing.assert_array_equal(labels, bunch.target[indices[split]])
        share = np.bincount(bunch.target) * len(labels) / 1797
        slack = 2 if split == "train" else 1  # train: what two evenly spaced picks leave
        assert np.all(np.abs(np.bincount(labels, minlength=10) - share) <= slack)
    np.testing.assert_array_equal(tff.datasets.digits("test"), tff.datasets.digits("test"))


def test_digits_errors_name_the_split_and_the_install_command(monkeypatch):
    with pytest.raises(ValueError, match="'train', 'validation', 'test', got 'training'"):
        tff.datasets.digits("training")
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # as if not installed
    digits_module._load.cache_clear()
    digits_module._split_indices.cache_clear()
    try:
        with pytest.raises(ImportError, match=r"pip install scikit-learn.*tfp-flows\[digits\]"):
            tff.datasets.digits("train")
    finally:
        digits_module._load.cache_clear()
        digits_module._split_indices.cache_clear()


# -- the logit preprocessing ---------------------------------------------------------------


def test_logit_log_det_matches_the_autodiff_jacobian_and_round_trips_in_float64():
    layer = Logit((2, 2, 1), alpha=0.05, dtype=tf.float64)
    x = tf.constant(np.random.default_rng(0).uniform(size=(3, 2, 2, 1)))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer.forward(x)
    jacobian = tf.reshape(tape.batch_jacobian(y, x), [3, 4, 4])
    expected = tf.linalg.slogdet(jacobian).log_abs_determinant
    np.testing.assert_allclose(
        layer.forward_log_det_jacobian(x, event_ndims=3), expected, atol=1e-10
    )
    np.testing.assert_allclose(
        layer.inverse_log_det_jacobian(tf.identity(y), event_ndims=3), -expected, atol=1e-10
    )
    np.testing.assert_allclose(layer.inverse(tf.identity(y)), x, atol=1e-12)
    ends = layer.forward(tf.constant([[[[0.0], [1.0]], [[0.5], [0.5]]]], tf.float64))
    np.testing.assert_allclose(
        tf.reshape(ends, [-1])[:2], [np.log(0.05 / 0.95), np.log(0.95 / 0.05)], atol=1e-12
    )


@pytest.mark.parametrize("alpha", [0.0, 0.5, -0.1])
def test_logit_rejects_an_alpha_outside_zero_to_a_half(alpha):
    with pytest.raises(
        ValueError, match=f"alpha must be a number with 0 < alpha < 0.5, got {alpha}"
    ):
        Logit(4, alpha=alpha)


def test_logit_preprocessed_density_integrates_to_the_mass_kept_inside_the_unit_interval():
    """A standard normal on y: the density of v integrates over [0, 1] to Phi(l(1-a)) - Phi(l(a))."""
    base = tfd.Sample(tfd.Normal(tf.constant(0.0, tf.float64), 1.0), 1)
    pixels = dequantization.with_logit_preprocessing(base, alpha=0.05)

    def density(v):
        return float(tf.exp(pixels.log_prob(tf.constant([[v]], tf.float64)))[0])

    mass, _ = integrate.quad(density, 0.0, 1.0, epsabs=1e-12)
    edge = np.log(0.95 / 0.05)
    assert mass == pytest.approx(stats.norm.cdf(edge) - stats.norm.cdf(-edge), abs=1e-9)


def test_logit_preprocessing_of_a_flow_shares_its_layers_and_adds_the_log_det():
    flow = tff.real_nvp(4, num_layers=2, hidden_units=(8,), seed=0)
    pixels = dequantization.with_logit_preprocessing(flow, alpha=0.1)
    assert {id(v) for v in pixels.trainable_variables} == {id(v) for v in flow.trainable_variables}
    v = tf.constant(np.random.default_rng(1).uniform(size=(5, 4)), tf.float32)
    logit = Logit(4, alpha=0.1)
    expected = flow.log_prob(logit.forward(v)) + logit.forward_log_det_jacobian(v, event_ndims=1)
    np.testing.assert_allclose(pixels.log_prob(v), expected, rtol=1e-5, atol=1e-5)
    samples = pixels.sample(100, seed=0)
    assert samples.shape == (100, 4)
    assert np.all((samples > -0.1 / 0.8) & (samples < 0.9 / 0.8))


# -- dequantisation --------------------------------------------------------------------------


def test_uniform_dequantize_fills_each_pixels_cell_reproducibly():
    x = np.array([[0.0, 5.0, 16.0]])
    v = dequantization.uniform_dequantize(x, seed=3, num_samples=2000)
    low, high = x / 17, (x + 1) / 17
    assert np.all((v >= low) & (v < high))
    np.testing.assert_allclose(
        np.mean(v, axis=0), (x + 0.5) / 17, atol=4 * 0.29 / 17 / np.sqrt(2000)
    )
    np.testing.assert_array_equal(v, dequantization.uniform_dequantize(x, seed=3, num_samples=2000))
    assert not np.array_equal(v, dequantization.uniform_dequantize(x, seed=4, num_samples=2000))
    raw = dequantization.uniform_dequantize(x, scale=1, seed=3)
    assert np.all((raw >= x) & (raw < x + 1))
    with pytest.raises(ValueError, match=r"integers 0..16 .*got values in \[0.5, 0.5\], not all"):
        dequantization.uniform_dequantize(np.array([0.5]))


# A tiny discrete world: 2 pixels with 3 levels, a product of Betas on [0, 1]^2 as the density.
LEVELS = 3
A, B = np.array([2.0, 0.7]), np.array([5.0, 1.5])


def beta_model() -> tfd.Distribution:
    return tfd.Independent(tfd.Beta(tf.constant(A), tf.constant(B)), 1)


def exact_log_prob(x: np.ndarray) -> np.ndarray:
    """log P(x) = sum_i log[I((x_i + 1) / 3) - I(x_i / 3)], I the regularised incomplete beta."""
    cells = special.betainc(A, B, (x + 1) / LEVELS) - special.betainc(A, B, x / LEVELS)
    return np.log(cells).sum(-1)


def uniform_bound(x: np.ndarray) -> np.ndarray:
    """E_{u ~ U}[log p((x + u) / 3)] - 2 log 3 by quadrature, per image."""
    out = []
    for row in x:
        total = -len(row) * np.log(LEVELS)
        for i, level in enumerate(row):
            total += (
                LEVELS
                * integrate.quad(
                    lambda v, i=i: stats.beta.logpdf(v, A[i], B[i]),
                    level / LEVELS,
                    (level + 1) / LEVELS,
                )[0]
            )
        out.append(total)
    return np.array(out)


GRID = np.array([[i, j] for i in range(LEVELS) for j in range(LEVELS)], np.float64)


def test_uniform_bound_matches_quadrature_and_lies_below_the_exact_log_likelihood():
    n = 4000
    x = np.repeat(GRID, n, axis=0)
    terms = dequantization.dequantization_bound(beta_model(), x, levels=LEVELS, seed=0)
    terms = np.asarray(terms).reshape(len(GRID), n)
    stderr = terms.std(axis=1) / np.sqrt(n)
    np.testing.assert_array_less(np.abs(terms.mean(axis=1) - uniform_bound(GRID)), 4 * stderr)
    np.testing.assert_array_less(uniform_bound(GRID), exact_log_prob(GRID))


@pytest.mark.slow
def test_variational_bound_is_below_the_exact_log_likelihood_and_training_q_tightens_it():
    model = beta_model()
    q = dequantization.VariationalDequantizer(
        2, levels=LEVELS, num_layers=2, hidden_units=(16,), dtype=tf.float64, seed=0
    )
    exact = exact_log_prob(GRID)

    def bound(seed):
        return np.asarray(
            dequantization.dequantization_bound(
                model, GRID, levels=LEVELS, dequantizer=q, num_samples=2000, seed=seed
            )
        )

    before = bound(1)
    assert np.all(np.isfinite(before)) and np.all(before <= exact)
    optimizer = tf.keras.optimizers.Adam(0.02)

    @tf.function
    def step(seed):
        with tf.GradientTape() as tape:
            loss = -tf.reduce_mean(
                dequantization.dequantization_bound(
                    model, GRID, levels=LEVELS, dequantizer=q, num_samples=64, seed=seed
                )
            )
        optimizer.apply_gradients(
            zip(tape.gradient(loss, q.trainable_variables), q.trainable_variables)
        )

    for i in range(150):
        step(tf.constant([i, 7]))
    after = bound(2)
    assert np.all(after <= exact)
    assert np.mean(exact - after) < 0.5 * np.mean(exact - before)
    assert np.mean(after) > np.mean(uniform_bound(GRID))  # better than uniform noise


# -- bits per dimension ----------------------------------------------------------------------


def test_bits_per_dim_of_a_uniform_density_is_log2_of_the_levels_on_either_scale():
    x = tff.datasets.digits("test")[:20]
    unit = tfd.Sample(tfd.Uniform(0.0, 1.0), [8, 8, 1])
    raw = tfd.Sample(tfd.Uniform(0.0, 17.0), [8, 8, 1])
    assert metrics.bits_per_dim(unit, x) == pytest.approx(np.log2(17), abs=1e-6)
    assert metrics.bits_per_dim(raw, x, scale=1) == pytest.approx(np.log2(17), abs=1e-6)
    four = tfd.Sample(tfd.Uniform(0.0, 1.0), 2)
    assert metrics.bits_per_dim(four, np.array([[0, 3], [1, 2]]), levels=4) == pytest.approx(2.0)


def test_bits_per_dim_is_the_bound_in_bits_and_at_least_the_exact_discrete_bits():
    model = beta_model()
    x = np.repeat(GRID, 200, axis=0)
    bpd = metrics.bits_per_dim(model, x, levels=LEVELS, num_samples=50, seed=5, batch_size=500)
    exact_bpd = -np.mean(exact_log_prob(x)) / (2 * np.log(2))
    uniform_bpd = -np.mean(uniform_bound(x[::200]).repeat(200)) / (2 * np.log(2))
    assert exact_bpd < bpd
    assert bpd == pytest.approx(uniform_bpd, abs=0.01)


def test_bits_per_dim_rejects_dequantised_or_misshaped_images():
    unit = tfd.Sample(tfd.Uniform(0.0, 1.0), [8, 8, 1])
    test = tff.datasets.digits("test")[:4]
    with pytest.raises(ValueError, match="integers 0..16 .* before dequantisation"):
        metrics.bits_per_dim(unit, test / 17.0)
    with pytest.raises(
        ValueError, match=r"expected images \[n, \*\[8, 8, 1\]\].*got shape \[4, 64\]"
    ):
        metrics.bits_per_dim(unit, test.reshape(4, 64))


def test_dequantized_images_draw_fresh_noise_and_score_the_mixture_of_boxes():
    from tfp_flows.images.dequantization import DequantizedImages

    images = np.array([[[[0.0]], [[3.0]]], [[[0.0]], [[3.0]]], [[[5.0]], [[1.0]]]])  # 2 alike
    data = DequantizedImages(images, levels=17)
    first, second = data.sample(500, seed=[0, 1]), data.sample(500, seed=[0, 2])
    assert first.shape == [500, 2, 1, 1] and not np.allclose(first, second)
    cells = np.floor(17.0 * first.numpy()).reshape(500, 2)
    assert {tuple(c) for c in cells} == {(0.0, 3.0), (5.0, 1.0)}
    assert 0.55 < np.mean(cells[:, 0] == 0.0) < 0.78  # picked 2 times in 3
    log_p = data.log_prob(first).numpy()
    expected = np.where(cells[:, 0] == 0.0, np.log(2 / 3), np.log(1 / 3)) + 2 * np.log(17.0)
    np.testing.assert_allclose(log_p, expected, rtol=1e-5)
    assert np.isneginf(data.log_prob(np.full([2, 1, 1], 0.5, np.float32)).numpy())
    with pytest.raises(ValueError, match="expected discrete pixels"):
        DequantizedImages(images + 0.5)


@pytest.mark.parametrize("dtype", [tf.int32, tf.uint8, tf.int64, tf.float64])
def test_bits_per_dim_takes_pixels_as_integer_tensors_like_the_same_numbers_in_an_array(dtype):
    x = tff.datasets.digits("test")[:10]
    model = dequantization.with_logit_preprocessing(
        tff.real_nvp((8, 8, 1), steps_per_scale=1, hidden_channels=2, num_blocks=0)
    )
    expected = metrics.bits_per_dim(model, x, seed=3)
    assert metrics.bits_per_dim(model, tf.constant(x, dtype), seed=3) == pytest.approx(expected)
    v = dequantization.uniform_dequantize(tf.constant(x, dtype), seed=2)
    np.testing.assert_array_equal(v, dequantization.uniform_dequantize(x, seed=2))
    with pytest.raises(TypeError, match="got a tensor of dtype string"):
        dequantization.as_pixels(tf.constant(["0"]), tf.float32)


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
def test_logit_pixel_density_is_zero_outside_its_support_with_finite_gradients(dtype):
    flow = tff.real_nvp(2, num_layers=2, hidden_units=(4,), dtype=dtype)
    pixels = dequantization.with_logit_preprocessing(flow, alpha=0.05)
    edge = 0.05 / 0.9  # [0, 1] widened by alpha / (1 - 2 alpha): what inverse maps R onto
    inside = [[0.5, 0.5], [0.0, 1.0], [-0.9 * edge, 1 + 0.9 * edge]]
    outside = [[1 + edge, 0.5], [1.5, 0.5], [-0.5, 0.5], [0.5, -edge], [1e30, -1e30], [np.inf, 0.5]]
    x = tf.constant(inside + outside, dtype)
    with tf.GradientTape() as tape:
        log_p = pixels.log_prob(x)
        total = tf.reduce_sum(log_p[: len(inside)])
    assert np.all(np.isfinite(log_p[: len(inside)].numpy()))
    assert np.all(log_p[len(inside) :].numpy() == -np.inf), log_p.numpy()
    gradients = tape.gradient(total, flow.trainable_variables)
    assert all(np.all(np.isfinite(g.numpy())) for g in gradients)
    with tf.GradientTape() as tape:
        tape.watch(x)
        every = pixels.log_prob(x)
    assert np.all(np.isfinite(tape.gradient(every, x).numpy()))
