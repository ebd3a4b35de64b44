"""Image layers: what the property suite does not check (pixel orders, untouched halves, errors).

The suite (``test_bijector_properties.py``) checks every registry entry for round trips,
log-dets against the autodiff Jacobian, modes, caches and gradients; here: the maps themselves.
"""

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_probability import bijectors as tfb
from tensorflow_probability import distributions as tfd

from tfp_flows.bijectors import (
    AdditiveCoupling,
    AffineCoupling,
    Conv1x1,
    ConvResNet,
    FactorOut,
    FlowChain,
    ImageConditioner,
    Squeeze,
    channel_mask,
    checkerboard_mask,
)
from tfp_flows.nn import ConvResNetFactory
from tfp_flows.testing import assert_all_variables_get_gradients, perturb_weights


def _normal(shape, seed, dtype=tf.float64):
    return tf.random.stateless_normal(shape, seed=[seed, 0], dtype=dtype)


# -- channel_mask ----------------------------------------------------------------------------


def test_channel_mask_conditions_on_the_first_half_of_the_channels():
    mask = channel_mask((2, 3, 5))
    assert mask.shape == (2, 3, 5)
    np.testing.assert_array_equal(mask[1, 2], [1, 1, 0, 0, 0])
    np.testing.assert_array_equal(channel_mask((2, 3, 5), flip=True), 1 - mask)
    assert np.all(mask == mask[:1, :1])  # every pixel alike


@pytest.mark.parametrize("shape", [(4, 4, 1), (4, 4), (8,)])
def test_channel_mask_needs_an_image_with_two_channels(shape):
    with pytest.raises(ValueError, match=r"at least 2 channels, got"):
        channel_mask(shape)


# -- Squeeze ---------------------------------------------------------------------------------


def test_squeeze_follows_real_nvp_and_glow_pixel_order():
    x = np.random.default_rng(0).normal(size=(2, 3, 4, 6, 3))  # batch [2, 3], event [4, 6, 3]
    y = Squeeze((4, 6, 3), dtype=tf.float64).forward(tf.constant(x)).numpy()
    assert y.shape == (2, 3, 2, 3, 12)
    for i, j, c, a, b in np.ndindex(2, 3, 3, 2, 2):
        np.testing.assert_array_equal(
            y[..., i, j, 4 * c + 2 * a + b], x[..., 2 * i + a, 2 * j + b, c]
        )


def test_squeeze_inverse_shapes_and_log_det():
    layer = Squeeze((4, 2, 1), dtype=tf.float64)
    y = _normal([5, 2, 1, 4], seed=1)
    x = layer.inverse(y)
    assert x.shape == (5, 4, 2, 1)
    np.testing.assert_array_equal(layer.forward(x), y)
    np.testing.assert_array_equal(layer.inverse_log_det_jacobian(y, event_ndims=3), np.zeros(5))
    assert layer.forward_event_shape([4, 2, 1]) == [2, 1, 4]
    assert layer.inverse_event_shape([2, 1, 4]) == [4, 2, 1]
    # a flow through a squeeze: the base lives on the input side, samples on the output side
    flow = tfd.TransformedDistribution(
        tfd.Independent(tfd.Normal(tf.zeros([4, 2, 1], tf.float64), 1.0), 3), layer
    )
    assert flow.event_shape == [2, 1, 4]
    np.testing.assert_allclose(
        flow.log_prob(y),
        tf.reduce_sum(tfd.Normal(tf.constant(0.0, tf.float64), 1.0).log_prob(y), axis=[-3, -2, -1]),
    )


def test_squeeze_errors_name_what_was_expected():
    with pytest.raises(ValueError, match=r"even height and width, got event_shape \(3, 4, 1\)"):
        Squeeze((3, 4, 1))
    with pytest.raises(ValueError, match=r"even height and width"):
        Squeeze((4, 4))
    layer = Squeeze((4, 4, 1), name="sq")
    with pytest.raises(ValueError, match=r"sq: expected outputs with event shape \[2, 2, 4\]"):
        layer.inverse(tf.zeros([1, 4, 4, 1]))
    with pytest.raises(ValueError, match=r"sq: expected inputs with event shape \[4, 4, 1\]"):
        layer.forward(tf.zeros([1, 2, 2, 4]))


# -- Conv1x1 ---------------------------------------------------------------------------------


def test_conv1x1_multiplies_every_pixel_by_one_matrix():
    layer = Conv1x1((3, 2, 4), seed=3, dtype=tf.float64)
    perturb_weights(layer, scale=0.3, seed=4)
    w = layer.matrix.numpy()
    x = _normal([5, 3, 2, 4], seed=5)
    np.testing.assert_allclose(layer.forward(x), np.einsum("ij,...j->...i", w, x), atol=1e-12)
    _, log_abs_det = np.linalg.slogdet(w)
    np.testing.assert_allclose(
        layer.forward_log_det_jacobian(x, event_ndims=3),
        np.full(5, 3 * 2 * log_abs_det),
        atol=1e-10,
    )


def test_conv1x1_starts_at_a_rotation_or_at_the_permutation():
    rotation = Conv1x1((2, 2, 5), seed=0, dtype=tf.float64).matrix.numpy()
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(5), atol=1e-12)
    assert not np.allclose(rotation, np.eye(5))
    assert not np.allclose(rotation, Conv1x1((2, 2, 5), seed=1, dtype=tf.float64).matrix)
    np.testing.assert_array_equal(Conv1x1((2, 2, 3), dtype=tf.float64).matrix, np.eye(3))
    reverse = Conv1x1((2, 2, 3), permutation=[2, 1, 0], dtype=tf.float64).matrix
    np.testing.assert_array_equal(reverse, np.eye(3)[::-1])


def test_conv1x1_errors():
    with pytest.raises(ValueError, match=r"expected an image event_shape \(H, W, C\), got \[4\]"):
        Conv1x1(4)
    with pytest.raises(ValueError, match="not both"):
        Conv1x1((2, 2, 3), seed=0, permutation=[2, 1, 0])
    with pytest.raises(ValueError, match=r"permutation must reorder range\(3\)"):
        Conv1x1((2, 2, 3), permutation=[0, 0, 1])


# -- FactorOut -------------------------------------------------------------------------------


def test_factor_out_transforms_the_first_half_and_leaves_the_rest_untouched():
    inner = AffineCoupling(
        checkerboard_mask((4, 4, 2)),
        ConvResNetFactory(hidden_channels=4, num_blocks=1, seed=0),
        dtype=tf.float64,
    )
    perturb_weights(inner, scale=0.2, seed=1)
    layer = FactorOut(inner, (4, 4, 5))  # C // 2 = 2 channels in, 3 factored out
    x = _normal([3, 4, 4, 5], seed=2)
    y = layer.forward(x)
    np.testing.assert_array_equal(y[..., 2:], x[..., 2:])
    np.testing.assert_allclose(y[..., :2], inner.forward(x[..., :2]), atol=1e-14)
    assert np.max(np.abs(y[..., :2] - x[..., :2])) > 1e-2
    np.testing.assert_allclose(
        layer.forward_log_det_jacobian(x, event_ndims=3),
        inner.forward_log_det_jacobian(x[..., :2], event_ndims=3),
        atol=1e-12,
    )
    np.testing.assert_allclose(layer.inverse(y), x, atol=1e-12)


def test_factor_out_passes_the_context_to_a_conditional_inner():
    inner = AffineCoupling(
        channel_mask((2, 2, 2)),
        ConvResNetFactory(hidden_channels=4, num_blocks=1, seed=3),
        context_size=1,
        dtype=tf.float64,
    )
    perturb_weights(inner, scale=0.3, seed=4)
    layer = FactorOut(inner, (2, 2, 4))
    assert layer.context_size == 1
    x, c = _normal([6, 2, 2, 4], seed=5), _normal([6, 1], seed=6)
    np.testing.assert_allclose(
        layer.forward(x, context=c)[..., :2], inner.forward(x[..., :2], context=c), atol=1e-14
    )
    assert np.max(np.abs(layer.forward(x, context=c) - layer.forward(x, context=c + 1))) > 1e-3
    with pytest.raises(ValueError, match="pass context="):
        layer.forward(x)
    # one context [k] for a batch of images: broadcast against the batch
    assert layer.forward(x, context=c[0]).shape == x.shape


def test_nested_factor_outs_unsqueeze_each_scale_back_to_its_pixels():
    """Two scales: the inner chain ends in a squeeze; its output is put back on the pixels."""
    mix = Conv1x1((1, 1, 8), seed=7, dtype=tf.float64)
    coarse = FlowChain([mix, Squeeze((2, 2, 2), dtype=tf.float64)])  # [2, 2, 2] -> [1, 1, 8]
    inner = FlowChain([FactorOut(coarse, (2, 2, 4)), Squeeze((4, 4, 1), dtype=tf.float64)])
    layer = FactorOut(inner, (4, 4, 2))
    perturb_weights(layer, scale=0.3, seed=8)
    x = _normal([2, 4, 4, 2], seed=9)
    y = layer.forward(x)
    # by hand: squeeze channel 0, mix the first 2 of its 4 channels (after another squeeze),
    # unsqueeze twice; channel 1 stays
    s = Squeeze((4, 4, 1), dtype=tf.float64).forward(x[..., :1])  # [2, 2, 4]
    s2 = Squeeze((2, 2, 2), dtype=tf.float64).forward(s[..., :2])  # [1, 1, 8]
    mixed = Squeeze((2, 2, 2), dtype=tf.float64).inverse(mix.forward(s2))
    expected = tf.concat(
        [
            Squeeze((4, 4, 1), dtype=tf.float64).inverse(tf.concat([mixed, s[..., 2:]], -1)),
            x[..., 1:],
        ],
        -1,
    )
    np.testing.assert_allclose(y, expected, atol=1e-13)
    np.testing.assert_allclose(
        layer.forward_log_det_jacobian(x, event_ndims=3),
        mix.forward_log_det_jacobian(s2, event_ndims=3),
        atol=1e-12,
    )
    np.testing.assert_allclose(layer.inverse(y), x, atol=1e-12)


def test_factor_out_errors_name_what_was_expected():
    with pytest.raises(ValueError, match=r"needs event_shape \[4, 4, 1\], got \[4, 4, 2\]"):
        FactorOut(Conv1x1((4, 4, 2)), (4, 4, 2))
    with pytest.raises(ValueError, match=r"C >= 2 channels to split, got \(4, 4, 1\)"):
        FactorOut(tfb.Identity(), (4, 4, 1))
    reshape = tfb.Reshape(event_shape_out=[1, 4, 1], event_shape_in=[2, 2, 1])
    with pytest.raises(ValueError, match=r"same shape or that shape squeezed k times"):
        FactorOut(reshape, (2, 2, 2))
    with pytest.raises(TypeError, match="inner must be a tfb.Bijector"):
        FactorOut(lambda x: x, (2, 2, 2))


# -- the convolutional conditioner -----------------------------------------------------------


@pytest.mark.parametrize("mask", [checkerboard_mask((4, 4, 2)), channel_mask((2, 4, 3))])
def test_a_fresh_conv_coupling_is_the_identity(mask):
    layer = AffineCoupling(
        mask,
        ConvResNetFactory(hidden_channels=4, num_blocks=2, seed=0),
        context_size=2,
        dtype=tf.float64,
    )
    x, c = _normal([3, *mask.shape], seed=10), _normal([3, 2], seed=11)
    np.testing.assert_array_equal(layer.forward(x, context=c), x)
    np.testing.assert_array_equal(layer.forward_log_det_jacobian(x, 3, context=c), np.zeros(3))
    # 3x3 convolutions, not an MLP on the flattened image: conv_in, 2 blocks of 2, conv_out
    convs = layer.conditioner.network
    assert isinstance(layer.conditioner, ImageConditioner) and isinstance(convs, ConvResNet)
    kernels = [v for v in layer.trainable_variables if "kernel" in v.name]
    assert [tuple(k.shape[:2]) for k in kernels] == [(3, 3)] * 6
    assert convs.conv_in[0].shape == (3, 3, mask.shape[-1] + 2, 4)  # context as 2 channels


def test_every_weight_of_a_conv_coupling_gets_a_gradient():
    layer = AffineCoupling(
        channel_mask((2, 2, 4)),
        ConvResNetFactory(hidden_channels=4, num_blocks=2, seed=4),
        context_size=1,
        dtype=tf.float64,
    )
    perturb_weights(layer, scale=0.1, seed=5)
    x, c = _normal([3, 2, 2, 4], seed=17), _normal([3, 1], seed=18)
    assert assert_all_variables_get_gradients(layer, x, context=c) == 2 * 6 + 1  # + the bound


def test_image_conditioner_reads_each_parameter_off_its_pixel_and_channel():
    """params[j, b] = network(mask * x)[pixel of b, j * C + channel of b] (p = 2 parameters)."""
    mask = channel_mask((2, 3, 3), flip=True)  # channel 0 conditions, channels 1, 2 transformed
    network = ConvResNet(
        3, 6, hidden_channels=4, num_blocks=1, zero_init_output=False, seed=1, dtype=tf.float64
    )
    conditioner = ImageConditioner(network, mask, params_per_entry=2)
    x = _normal([4, 2, 3, 3], seed=12)
    flat = tf.reshape(x, [4, -1]).numpy()
    params = conditioner(tf.constant(flat[:, mask.reshape(-1) == 1])).numpy()
    out = network(x * mask).numpy()  # [4, 2, 3, 6]
    transformed = [(h, w, c) for h, w, c in np.ndindex(2, 3, 3) if mask[h, w, c] == 0]
    expected = [[out[:, h, w, j * 3 + c] for h, w, c in transformed] for j in range(2)]
    np.testing.assert_allclose(
        params,
        np.concatenate([np.stack(block, axis=-1) for block in expected], axis=-1),
        atol=1e-13,
    )


def test_additive_coupling_takes_the_conv_conditioner():
    layer = AdditiveCoupling(
        checkerboard_mask((2, 4, 1), flip=True),
        ConvResNetFactory(hidden_channels=4, num_blocks=0, seed=2),
        dtype=tf.float64,
    )
    perturb_weights(layer, scale=0.5, seed=3)
    x = _normal([3, 2, 4, 1], seed=13)
    y = layer.forward(x)
    kept = checkerboard_mask((2, 4, 1), flip=True) == 1
    np.testing.assert_array_equal(y.numpy()[:, kept], x.numpy()[:, kept])
    assert np.max(np.abs(y - x)) > 1e-2
    np.testing.assert_allclose(layer.inverse(y), x, atol=1e-12)


def test_conv_conditioner_errors():
    with pytest.raises(
        ValueError,
        match=r"ConvResNetFactory needs an image mask of shape \[H, W, C\] .* got a mask "
        r"of shape \[4\]",
    ):
        AffineCoupling(4, ConvResNetFactory())
    with pytest.raises(TypeError, match=r"a conditioner must be a network .* got 'conv' \(str\)"):
        AffineCoupling(checkerboard_mask((2, 2, 1)), "conv")
    network = ConvResNet(1, 2, hidden_channels=4, context_size=1, seed=0)
    with pytest.raises(ValueError, match="needs a context of size 1"):
        network(tf.zeros([1, 2, 2, 1]))


# -- tracking: the weights of nested layers -------------------------------------------------


def test_a_multiscale_chain_tracks_and_restores_every_nested_weight(tmp_path):
    from bijector_registry import multiscale

    def build():
        flow = tfd.TransformedDistribution(
            tfd.Independent(tfd.Normal(tf.zeros([4, 4, 2], tf.float64), 1.0), 3),
            multiscale(2, tf.float64, context_size=1),
        )
        return flow

    flow, other = build(), build()
    perturb_weights(flow.bijector, scale=0.3, seed=14)
    # 2 couplings: MLP kernels and biases (2 + 2) and a log-scale bound each
    assert len(flow.trainable_variables) == 10
    x, c = _normal([3, 4, 4, 2], seed=15), _normal([3, 1], seed=16)
    kwargs = {"bijector_kwargs": {"context": c}}
    path = tf.train.Checkpoint(flow=flow).write(str(tmp_path / "ckpt"))
    assert np.max(np.abs(other.log_prob(x, **kwargs) - flow.log_prob(x, **kwargs))) > 1e-3
    tf.train.Checkpoint(flow=other).read(path).assert_consumed()
    np.testing.assert_array_equal(other.log_prob(x, **kwargs), flow.log_prob(x, **kwargs))
