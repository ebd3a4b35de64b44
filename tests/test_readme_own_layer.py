"""The README's "Write your own layer" example runs: a user layer with a Keras 3 network that
meets the conditioner protocol trains in a flow, tracks its weights and passes the property checks."""

import pathlib
import re

import numpy as np
import tensorflow as tf

import tfp_flows as tff

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def _own_layer_block() -> str:
    section = README.read_text().split("### Write your own layer", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_layer_trains_in_a_flow_and_passes_the_property_checks():
    namespace: dict = {}
    exec(compile(_own_layer_block(), str(README), "exec"), namespace)  # noqa: S102
    flow, layers, history = namespace["flow"], namespace["layers"], namespace["history"]
    # every Keras 3 weight is tracked: 2 layers x (2 Dense x kernel, bias) + the Standardize pair
    for layer in layers:
        dense = [v for v in layer.network.network.trainable_variables]
        assert {id(getattr(v, "value", v)) for v in dense} <= {
            id(v) for v in layer.trainable_variables
        }
        assert len(layer.trainable_variables) == 4
    assert len(flow.trainable_variables) == 8 + len(flow.bijector.bijectors[0].trainable_variables)
    # it trained: the banana's negative log-likelihood fell (its entropy is 4.22 nats)
    assert np.mean(history.loss[-20:]) < np.mean(history.loss[:20]) - 0.2, history.loss
    # the user layer meets the bijector contract away from the identity
    tff.testing.perturb_weights(layers[0], seed=3)
    x = tf.random.stateless_normal([16, 2], seed=[1, 2])
    tff.testing.check_bijector(layers[0], x)
