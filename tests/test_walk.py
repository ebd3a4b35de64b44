"""The one chain walker (``tfp_flows.bijectors.walk``), as ``trajectory`` and ``training`` use it."""

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_probability import bijectors as tfb
from tensorflow_probability import distributions as tfd

import tfp_flows as tff
from tfp_flows.bijectors import walk
from tfp_flows.plotting.trajectory import chain_trajectory


def _compose(layers, x):
    for layer in layers:
        x = layer.forward(x)
    return x


def _chain():
    return tfb.Chain(
        [tfb.Shift(1.0, name="shift"), tfb.Exp(name="exp"), tfb.Scale(2.0, name="scale")]
    )


def test_an_inverted_chain_is_pushed_down_to_its_layers_in_forward_order():
    inverted = tfb.Invert(_chain())
    layers = walk.walk(inverted)
    assert [(layer.bijector.name, layer.inverted) for layer in layers] == [
        ("shift", True),
        ("exp", True),
        ("scale", True),
    ]
    y = tf.constant([[2.0], [3.0]])
    np.testing.assert_allclose(_compose(walk.flatten(inverted), y), inverted.forward(y), rtol=1e-6)


def test_double_inversion_cancels_and_nesting_composes():
    outer = tfb.Chain(
        [
            tfb.Invert(tfb.Invert(tfb.Softplus(name="softplus"))),
            tfb.Invert(tfb.Chain([tfb.Scale(3.0, name="three"), _chain()])),
        ]
    )
    assert [(layer.bijector.name, layer.inverted) for layer in walk.walk(outer)] == [
        ("three", True),
        ("shift", True),
        ("exp", True),
        ("scale", True),
        ("softplus", False),
    ]
    x = tf.constant([[4.0], [9.0]])
    np.testing.assert_allclose(_compose(walk.flatten(outer), x), outer.forward(x), rtol=1e-5)


def test_a_transformed_distribution_walks_its_bijector_and_other_types_are_refused():
    flow = tff.real_nvp(2, num_layers=2, hidden_units=(4,), name="nvp", seed=0)
    assert [b.name for b in walk.flatten(flow)] == [b.name for b in walk.flatten(flow.bijector)]
    assert len(walk.flatten(tfd.TransformedDistribution(tfd.Normal(0.0, 1.0), _chain()))) == 3
    with pytest.raises(
        TypeError, match="expected a tfd.TransformedDistribution or a tfb.Bijector, got Normal"
    ):
        walk.walk(tfd.Normal(0.0, 1.0))


def test_the_trajectory_of_an_inverted_flow_goes_layer_by_layer():
    flow = tff.real_nvp(2, num_layers=2, hidden_units=(4,), name="nvp", seed=0)
    inverted = tfb.Invert(flow.bijector)
    x = tf.constant(np.random.default_rng(0).normal(size=(5, 2)), tf.float32)
    steps = chain_trajectory(inverted, x)
    assert [name for name, _ in steps][1:3] == ["invert_nvp_standardize", "invert_nvp_lu_linear_1"]
    np.testing.assert_allclose(steps[-1][1], flow.bijector.inverse(tf.identity(x)), atol=1e-5)


def test_standardize_is_found_inside_an_invert_but_adapted_only_the_right_way_round():
    flow = tff.real_nvp(2, num_layers=1, hidden_units=(4,), name="nvp", seed=0)
    data = np.random.default_rng(0).normal([5.0, -3.0], 2.0, size=(100, 2))
    backwards = tfd.TransformedDistribution(
        tfd.MultivariateNormalDiag([0.0, 0.0]), tfb.Invert(flow.bijector)
    )
    (standardize,) = tff.training.find_standardize_layers(backwards)
    assert standardize is tff.training.find_standardize_layers(flow)[0]
    tff.training.adapt_standardize(backwards, data)  # inverted: would fit the wrong direction
    assert not standardize.adapted.numpy()
    tff.training.adapt_standardize(flow, data)
    np.testing.assert_allclose(standardize.loc.numpy(), data.mean(0), rtol=1e-5)
