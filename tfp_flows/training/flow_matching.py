"""Conditional flow matching: train a continuous flow's velocity by regression, no ODE solve.

For a flow ``x = g(z(1))``, ``dz/dt = v(z, t, c)``, ``z(0) ~ base`` (``g`` the
layers on the data side of its :class:`~tfp_flows.bijectors.ContinuousFlow`,
e.g. ``Standardize``), with straight paths between a base draw and a data point
(Lipman et al. 2023; Liu et al. 2023):

```none
z0 ~ base,   z1 = g^{-1}(x),   t ~ U(0, 1),   z_t = (1 - t) z0 + t z1
loss(theta) = (1/B) sum_i || v_theta(z_t_i, t_i, c_i) - (z1_i - z0_i) ||^2
```

The minimiser is the velocity whose flow carries the base at ``t = 0`` to the
data at ``t = 1``: the layer's ``forward`` direction, the direction the flow
samples in. The loss is not a log-likelihood (report the flow's NLL on
held-out data to compare models).
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf
import tensorflow_probability as tfp
from tensorflow_probability import distributions as tfd

from tfp_flows._internal.checks import check_integer
from tfp_flows.bijectors.chain import takes_context
from tfp_flows.bijectors.continuous import ContinuousFlow
from tfp_flows.training.sources import Batch

__all__ = ["FlowMatching", "continuous_layer"]


def continuous_layer(
    distribution: tfd.Distribution,
) -> tuple[list[Any], ContinuousFlow, list[Any]]:
    """``(data_side, layer, base_side)``: the flow's one ``ContinuousFlow`` and the layers around it.

    ``data_side`` are the chain's layers applied after it (``forward`` order: the
    first one is applied last), ``base_side`` those applied before it.

    #### Examples

    >>> import tfp_flows as tff
    >>> data_side, layer, base_side = continuous_layer(tff.cnf(2, hidden_units=(8,)))
    >>> [type(b).__name__ for b in data_side], type(layer).__name__, base_side
    (['Standardize'], 'ContinuousFlow', [])
    """
    bijector = getattr(distribution, "bijector", None)
    layers = [bijector] if isinstance(bijector, ContinuousFlow) else []
    if bijector is not None and not layers:
        layers = list(getattr(bijector, "bijectors", []))
    found = [i for i, layer in enumerate(layers) if isinstance(layer, ContinuousFlow)]
    if len(found) != 1:
        raise TypeError(
            "FlowMatching trains a flow with exactly one ContinuousFlow layer in its chain "
            f"(e.g. tff.cnf(...)), got {getattr(distribution, 'name', distribution)!r} with "
            f"{len(found)}."
        )
    i = found[0]
    return layers[:i], layers[i], layers[i + 1 :]


class FlowMatching:
    """Conditional flow matching with straight paths (a ``tff.fit`` loss for ``tff.cnf``).

    ```none
    z0 ~ base,  z1 = g^{-1}(x),  t ~ U(0, 1),  z_t = (1 - t) z0 + t z1
    loss = (1/B) sum_i || v(z_t_i, t_i, c_i) - (z1_i - z0_i) ||^2
    ```

    Args:
      seed: seed of the base draws and times when the batch has no step seed
        (data from arrays): a ``tf.random.Generator`` the loss owns, advanced at
        every call. A batch that carries a stateless seed (a target distribution)
        uses that instead, split with a salt of its own (the target drew the batch's
        data from the same seed).

    #### Examples

    >>> import numpy as np
    >>> import tfp_flows as tff
    >>> flow = tff.cnf(2, hidden_units=(16,), num_steps=4)
    >>> data = np.random.default_rng(0).normal(3.0, 1.0, size=(256, 2))
    >>> history = tff.fit(flow, data, loss=FlowMatching(), steps=5, progress=False)
    >>> history.steps
    5
    """

    name = "flow_matching"

    def __init__(self, seed: int = 0):
        self.seed = check_integer("seed", seed, minimum=0)
        self._generator = tf.random.Generator.from_seed(self.seed)

    def _seed(self, batch: Batch) -> tf.Tensor:
        if batch.seed is not None:
            return tfp.random.sanitize_seed(batch.seed)
        return tf.cast(self._generator.make_seeds(1)[:, 0], tf.int32)

    def __call__(self, distribution: tfd.Distribution, batch: Batch) -> tf.Tensor:
        data_side, layer, base_side = continuous_layer(distribution)
        context = batch.context
        kwargs = {} if context is None else {"context": context}
        z1 = tf.convert_to_tensor(batch.x, layer.dtype)
        for bijector in data_side:
            z1 = bijector.inverse(z1, **(kwargs if takes_context(bijector) else {}))
        # salted: a target source drew the batch's data with this same seed (unsalted
        # splits would give the same streams, correlating t and z0 with the data)
        base_seed, time_seed = tfp.random.split_seed(self._seed(batch), 2, salt="flow_matching")
        n = tf.shape(z1)[0]
        z0 = distribution.distribution.sample(n, seed=base_seed)
        for bijector in reversed(base_side):
            z0 = bijector.forward(z0, **(kwargs if takes_context(bijector) else {}))
        t = tf.random.stateless_uniform([n, 1], seed=time_seed, dtype=layer.dtype)
        z_t = (1.0 - t) * z0 + t * z1
        residual = layer.velocity(z_t, t, context) - (z1 - z0)
        return tf.reduce_mean(tf.reduce_sum(tf.square(residual), axis=-1))

    def __repr__(self) -> str:
        return f"FlowMatching(seed={self.seed})"
