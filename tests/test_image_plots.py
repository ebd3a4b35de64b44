"""Tests of tfp_flows.plotting.images on a tiny image flow (4x4x1, headless)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import tfp_flows as tff
from tfp_flows.images.dequantization import with_logit_preprocessing
from tfp_flows.plotting import images as image_plots

SHAPE = (4, 4, 1)


@pytest.fixture(scope="module")
def flow():
    """A pixel model whose couplings are not the identity (weights set to small random values)."""
    model = with_logit_preprocessing(
        tff.real_nvp(
            SHAPE, num_scales=1, steps_per_scale=1, hidden_channels=4, num_blocks=0, seed=0
        )
    )
    rng = np.random.default_rng(0)
    for variable in model.trainable_variables:
        variable.assign(0.3 * rng.standard_normal(variable.shape).astype(np.float32))
    return model


def _mosaic(ax) -> np.ndarray:
    return np.asarray(ax.images[0].get_array())


def _images(count: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 17, size=(count, *SHAPE)).astype(np.float32)


def test_tile_images_places_each_image_row_major():
    images = np.arange(5 * 2 * 3, dtype=float).reshape(5, 2, 3)
    mosaic = image_plots.tile_images(images, columns=2, pad=1, fill=-1.0)
    assert mosaic.shape == (3 * 3 + 1, 2 * 4 + 1)
    for k in range(5):
        top, left = 1 + (k // 2) * 3, 1 + (k % 2) * 4
        np.testing.assert_array_equal(mosaic[top : top + 2, left : left + 3], images[k])
    assert np.all(mosaic[7:9, 5:8] == -1.0)  # the empty sixth cell
    assert np.all(mosaic[0] == -1.0) and np.all(mosaic[:, 4] == -1.0)


def test_temperature_samples_are_the_flow_of_scaled_base_draws(flow):
    z = flow.distribution.sample(6, seed=tff.stateless_seed(5))
    fig = image_plots.plot_temperature_samples(
        flow, temperatures=(0.0, 0.7), num_images=6, columns=3, seed=5
    )
    assert [ax.get_title() for ax in fig.axes] == ["T = 0", "T = 0.7"]
    for ax, temperature in zip(fig.axes, (0.0, 0.7)):
        expected = np.clip(flow.bijector.forward(temperature * z).numpy(), 0, 1)[..., 0]
        np.testing.assert_allclose(_mosaic(ax), image_plots.tile_images(expected, 3), atol=1e-6)
    cold = _mosaic(fig.axes[0])
    assert np.allclose(cold[1:5, 1:5], cold[1:5, 6:10])  # T = 0: every image is g(0)
    warm = _mosaic(fig.axes[1])
    assert not np.allclose(warm[1:5, 1:5], warm[1:5, 6:10])


def test_reconstructions_invert_a_non_identity_flow(flow):
    images = _images(3, seed=1)
    pixels, back = image_plots.reconstruct(flow, images, levels=17)
    np.testing.assert_allclose(pixels.numpy(), (images + 0.5) / 17, rtol=1e-6)
    latent = flow.bijector.inverse(tf.cast(pixels, tf.float32))
    logit = np.log(0.05 + 0.9 * pixels.numpy()) - np.log(0.95 - 0.9 * pixels.numpy())
    assert np.max(np.abs(latent.numpy() - logit)) > 0.1  # the flow does something
    error = np.max(np.abs(back.numpy() - pixels.numpy()))
    assert 0 < error < 1e-4  # computed through g, not handed back by the bijector cache
    fig = image_plots.plot_reconstructions(flow, images, levels=17, columns=3)
    np.testing.assert_allclose(
        _mosaic(fig.axes[0]), image_plots.tile_images(pixels.numpy()[..., 0], 3), atol=1e-6
    )
    np.testing.assert_allclose(_mosaic(fig.axes[1]), _mosaic(fig.axes[0]), atol=1e-4)


def test_interpolations_run_between_the_latent_codes(flow):
    starts, ends = _images(2, seed=2), _images(2, seed=3)
    fig = image_plots.plot_latent_interpolations(
        flow, starts, ends, levels=17, num_steps=3, method="linear"
    )
    rows = _mosaic(fig.axes[0])
    z_a = flow.bijector.inverse(tf.constant((starts + 0.5) / 17, tf.float32))
    z_b = flow.bijector.inverse(tf.constant((ends + 0.5) / 17, tf.float32))
    middle = np.clip(flow.bijector.forward((z_a + z_b) / 2).numpy(), 0, 1)[..., 0]
    for row in range(2):
        top = 1 + row * 5
        np.testing.assert_allclose(
            rows[top : top + 4, 1:5], (starts[row, ..., 0] + 0.5) / 17, atol=1e-4
        )
        np.testing.assert_allclose(rows[top : top + 4, 6:10], middle[row], atol=1e-6)
        np.testing.assert_allclose(
            rows[top : top + 4, 11:15], (ends[row, ..., 0] + 0.5) / 17, atol=1e-4
        )


def test_spherical_path_keeps_the_norm_of_orthogonal_equal_norm_ends():
    rng = np.random.default_rng(0)
    start = rng.standard_normal([1, 64])
    end = rng.standard_normal([1, 64])
    end -= (end @ start.T) / (start @ start.T) * start  # orthogonal to start
    end *= np.linalg.norm(start) / np.linalg.norm(end)
    path = image_plots.interpolate_latents(start, end, 5, "spherical").numpy()
    np.testing.assert_allclose(np.linalg.norm(path, axis=-1), np.linalg.norm(start), rtol=1e-9)
    np.testing.assert_allclose(path[:, [0, -1]], np.stack([start, end], 1), atol=1e-12)
    linear = image_plots.interpolate_latents(start, end, 5).numpy()
    assert np.linalg.norm(linear[0, 2]) < 0.75 * np.linalg.norm(start)


def test_bad_input_names_what_was_expected(flow):
    with pytest.raises(ValueError, match=r"images \[H, W, C\].*got event shape \[2\]"):
        image_plots.plot_temperature_samples(tff.real_nvp(2, num_layers=1, hidden_units=(4,)))
    with pytest.raises(ValueError, match=r"expected images \[n, 4, 4, 1\].*got shape \[2, 16\]"):
        image_plots.reconstruct(flow, np.zeros([2, 16]))
    with pytest.raises(ValueError, match="integers 0..16"):
        image_plots.reconstruct(flow, np.full([1, *SHAPE], 0.5), levels=17)
    with pytest.raises(ValueError, match="'linear' or 'spherical', got 'cubic'"):
        image_plots.interpolate_latents(np.zeros([1, 2]), np.ones([1, 2]), 3, method="cubic")
    with pytest.raises(TypeError, match="expected a flow"):
        image_plots.sample_at_temperature(np.zeros(3), 2, 1.0)
