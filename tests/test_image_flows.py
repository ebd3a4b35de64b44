"""The multiscale image flows: ``tff.real_nvp((H, W, C))`` and ``tff.glow((H, W, C))``."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

import tfp_flows as tff
from tfp_flows import testing
from tfp_flows.bijectors import FactorOut
from tfp_flows.bijectors.walk import walk
from tfp_flows.training import find_adaptive_layers

tfd = tfp.distributions
SMALL = dict(num_scales=1, steps_per_scale=1, hidden_channels=4, num_blocks=1)


def _standard_normal(shape, dtype=tf.float32):
    return tfd.Independent(tfd.Normal(tf.zeros(shape, dtype), 1.0), len(shape))


@pytest.mark.parametrize("build", [tff.real_nvp, tff.glow], ids=["real_nvp", "glow"])
def test_a_fresh_image_flow_is_the_standard_normal_on_the_image(build):
    flow = build((8, 8, 1), hidden_channels=8, num_blocks=1)
    x = tf.random.stateless_normal([4, 8, 8, 1], seed=[1, 2])
    assert flow.event_shape == [8, 8, 1]
    np.testing.assert_allclose(flow.log_prob(x), _standard_normal([8, 8, 1]).log_prob(x), atol=1e-4)
    assert flow.sample(3, seed=0).shape == [3, 8, 8, 1]


@pytest.mark.parametrize("architecture", ["real_nvp", "glow"])
@pytest.mark.slow
def test_log_det_equals_the_autodiff_jacobian_and_the_inverse_round_trips(architecture):
    flow = tff.flows.image.image_flow((4, 4, 2), architecture, dtype=tf.float64, **SMALL)
    testing.perturb_weights(flow.bijector, scale=0.2, seed=4)
    z = tf.random.stateless_normal([32], seed=[3, 4], dtype=tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(z)
        x = tf.reshape(flow.bijector.forward(tf.reshape(z, [4, 4, 2])), [-1])
    jacobian = tape.jacobian(x, z).numpy()
    fldj = flow.bijector.forward_log_det_jacobian(tf.reshape(z, [4, 4, 2]), event_ndims=3)
    np.testing.assert_allclose(float(fldj), np.linalg.slogdet(jacobian)[1], rtol=1e-10, atol=1e-10)
    back = flow.bijector.inverse(tf.reshape(x + 0.0, [4, 4, 2]))  # a new tensor: no cache
    np.testing.assert_allclose(back.numpy().ravel(), z.numpy(), atol=1e-10)


def test_the_multiscale_structure_factors_out_half_of_the_channels_at_each_scale():
    flow = tff.real_nvp((8, 8, 1), num_scales=2, hidden_channels=4, num_blocks=0)
    outer = [layer.bijector for layer in walk(flow) if isinstance(layer.bijector, FactorOut)]
    assert [tuple(f.event_shape) for f in outer] == [(4, 4, 4)]
    inner = [
        layer.bijector for layer in walk(outer[0].inner) if isinstance(layer.bijector, FactorOut)
    ]
    assert [tuple(f.event_shape) for f in inner] == [(2, 2, 8)]


@pytest.mark.slow
def test_glow_adapts_the_actnorms_inside_every_scale_to_the_data():
    flow = tff.glow((8, 8, 1), hidden_channels=4, num_blocks=0)
    actnorms = find_adaptive_layers(flow)
    assert len(actnorms) == 9  # 3 steps at each of 3 levels (2 scales + the last)
    x = (3.0 * np.random.default_rng(0).normal(size=(256, 8, 8, 1)) + 2.0).astype(np.float32)
    tff.fit(flow, x, steps=1, batch_size=32, progress=False, jit_compile=False)
    assert all(bool(layer.bijector.adapted.numpy()) for layer in actnorms)
    z = flow.bijector.inverse(tf.constant(x)).numpy()
    assert abs(z.mean()) < 0.1 and abs(z.std() - 1.0) < 0.1  # data-dependent start: standardised


@pytest.mark.slow
def test_image_flow_trains_and_samples_conditionally():
    flow = tff.real_nvp((4, 4, 1), context_size=1, **SMALL)
    rng = np.random.default_rng(0)
    context = rng.integers(0, 2, size=(256, 1)).astype(np.float32)
    x = (rng.normal(size=(256, 4, 4, 1)) + 3.0 * context[:, :, None, None]).astype(np.float32)
    history = tff.fit(
        flow,
        x,
        context=context,
        steps=60,
        batch_size=64,
        progress=False,
        jit_compile=False,
        learning_rate=1e-2,
    )
    assert history.loss[-1] < history.loss[0] - 5.0
    means = [flow.sample(200, seed=1, context=[c]).numpy().mean() for c in (0.0, 1.0)]
    assert means[1] - means[0] > 1.0


def test_image_builders_refuse_what_does_not_apply():
    with pytest.raises(ValueError, match=r"\['hidden_units', 'num_layers'\] apply to vector"):
        tff.real_nvp((8, 8, 1), num_layers=4, hidden_units=(8,))
    with pytest.raises(TypeError, match="num_scales"):
        tff.real_nvp(2, num_scales=2)
    with pytest.raises(ValueError, match="num_scales up to 1 .*use num_scales <= 1"):
        tff.glow((4, 4, 1), num_scales=2)
    with pytest.raises(ValueError, match=r"\(height, width, channels\)"):
        tff.real_nvp((8, 8))
    with pytest.raises(ValueError, match="architecture must be one of"):
        tff.flows.image.image_flow((8, 8, 1), "nice")


TINY = dict(steps_per_scale=1, hidden_channels=2, num_blocks=0)


def _num_scales(flow_or_bijector) -> int:
    """Scales that factor out channels, counted through every nested scale."""
    factor_outs = [
        layer.bijector for layer in walk(flow_or_bijector) if isinstance(layer.bijector, FactorOut)
    ]
    return sum(1 + _num_scales(f.inner) for f in factor_outs)


@pytest.mark.parametrize(
    "shape",
    [(4, 4, 1), (2, 2, 3), (2, 2, 1), (4, 4, 3), (6, 6, 1), (3, 3, 1), (1, 2, 1), (16, 2, 1)],
)
@pytest.mark.parametrize("architecture", ["real_nvp", "glow"])
def test_the_default_num_scales_builds_every_image_shape_the_builder_accepts(architecture, shape):
    largest = tff.flows.image.largest_num_scales(shape, architecture)
    if largest is None:
        with pytest.raises(ValueError, match="even"):
            tff.flows.image.image_flow(shape, architecture, **TINY)
        return
    flow = tff.flows.image.image_flow(shape, architecture, **TINY)
    x = tf.random.stateless_normal([2, *shape], seed=[5, 6])
    assert np.all(np.isfinite(flow.log_prob(x).numpy()))
    assert _num_scales(flow) == min(2, largest)  # as many scales as the image allows, up to 2
    tff.flows.image.image_flow(shape, architecture, num_scales=largest, **TINY)  # the largest works
    with pytest.raises(
        ValueError,
        match=rf"images \({shape[0]}, {shape[1]}, {shape[2]}\) works "
        rf"with num_scales up to {largest} .*"
        rf"num_scales={largest + 1}",
    ):
        tff.flows.image.image_flow(shape, architecture, num_scales=largest + 1, **TINY)


def test_the_default_num_scales_is_as_many_as_the_image_allows_up_to_two():
    scales = _num_scales
    assert scales(tff.real_nvp((8, 8, 1), **TINY)) == 2
    assert scales(tff.real_nvp((4, 4, 1), **TINY)) == 1  # a 1x1 last scale has no checkerboard
    assert scales(tff.real_nvp((2, 2, 3), **TINY)) == 0
    assert scales(tff.glow((4, 4, 1), **TINY)) == 1


def test_num_scales_too_large_for_the_image_is_refused_naming_the_largest_that_works():
    with pytest.raises(
        ValueError,
        match=r"real_nvp on images \(8, 8, 1\) works with num_scales "
        r"up to 2 .*got num_scales=3.*use num_scales <= 2",
    ):
        tff.real_nvp((8, 8, 1), num_scales=3, **TINY)
    with pytest.raises(
        ValueError,
        match=r"glow on images \(4, 4, 1\) works with num_scales up to "
        r"1 .*got num_scales=2",
    ):
        tff.glow((4, 4, 1), num_scales=2, **TINY)


def test_images_no_num_scales_can_build_are_refused_saying_what_to_use():
    with pytest.raises(ValueError, match=r"at least 2 pixels.*\(1, 1, 3\).*tff\.real_nvp\(3\)"):
        tff.real_nvp((1, 1, 3))
    with pytest.raises(ValueError, match=r"both must be even, got images \(3, 3, 1\)"):
        tff.glow((3, 3, 1))


def test_glow_of_an_int_names_the_image_shape_and_the_vector_equivalent():
    with pytest.raises(
        TypeError,
        match=r"\(height, width, channels\), got the int 2.*"
        r"tff\.real_nvp\(2, normalization='actnorm', mixing='lu'\)",
    ):
        tff.glow(2)
    with pytest.raises(TypeError, match=r"\(height, width, channels\), got 'abc' \(str\)"):
        tff.glow("abc")


@pytest.mark.parametrize("architecture", ["real_nvp", "glow"])
@pytest.mark.parametrize(
    "shape, kwargs",
    [
        ((8, 8, 1), dict(num_scales=1, steps_per_scale=1, hidden_channels=4, num_blocks=0)),
        ((8, 8, 2), dict(steps_per_scale=2, hidden_channels=3, num_blocks=1, context_size=2)),
        ((6, 4, 1), dict(hidden_channels=2, num_blocks=1)),
    ],
)
def test_the_size_estimate_is_the_built_image_flows_parameter_count(architecture, shape, kwargs):
    flow = tff.flows.image.image_flow(shape, architecture, **kwargs)
    built = sum(int(np.prod(v.shape)) for v in flow.trainable_variables)
    assert tff.flows.image.image_flow_size(shape, architecture, **kwargs).parameters == built


def test_an_image_flow_above_the_parameter_cap_is_refused_before_any_variable_is_made():
    kwargs = dict(num_scales=1, steps_per_scale=1, hidden_channels=4, num_blocks=0)
    size = tff.flows.image.image_flow_size((8, 8, 1), **kwargs).parameters
    with pytest.raises(
        ValueError,
        match=rf"would have {size:,} trainable parameters.*"
        r"max_parameters=1,000.*hidden_channels",
    ):
        tff.real_nvp((8, 8, 1), max_parameters=1000, **kwargs)
    assert tff.real_nvp((8, 8, 1), max_parameters=size, **kwargs).event_shape == [8, 8, 1]
    with pytest.raises(ValueError, match="max_parameters=100,000,000"):
        tff.glow((8, 8, 1), hidden_channels=10_000)
