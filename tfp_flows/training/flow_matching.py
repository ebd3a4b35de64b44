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

With ``pairing="ot"`` the base draws are paired with the data rows by a
minibatch optimal-transport plan (Tong et al. 2023; Pooladian et al. 2023):
each data row is paired with a base draw from its row of the entropic plan
between the batch's base draws and data under the cost ``||z1 - z0||^2``
(log-domain Sinkhorn), which keeps both marginals (up to the Sinkhorn
iterations' error) and makes the paths nearly straight and non-crossing: the regression target varies less, and training converges faster.

Only the ``ContinuousFlow`` is trained: layers on either side of it must have
no trainable variables (the regression target ``z1 - z0`` would depend on
them, and minimising the loss would move the data and base to meet the
velocity instead of the reverse).
"""

from __future__ import annotations

import math
from typing import Any

import tensorflow as tf
import tensorflow_probability as tfp
from tensorflow_probability import distributions as tfd

from tfp_flows._internal.checks import check_integer, check_number, check_positive_float
from tfp_flows.bijectors.chain import takes_context
from tfp_flows.bijectors.continuous import ContinuousFlow
from tfp_flows.training.sources import Batch

__all__ = ["FlowMatching", "continuous_layer", "optimal_transport_plan"]


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


def _check_not_trainable(data_side: list[Any], base_side: list[Any]) -> None:
    """Refuses trainable layers around the ``ContinuousFlow``: the regression target moves with them."""
    for side, layers in (("data", data_side), ("base", base_side)):
        for layer in layers:
            trainable = list(getattr(layer, "trainable_variables", ()))
            if trainable:
                raise ValueError(
                    f"FlowMatching trains only the ContinuousFlow, but the layer "
                    f"{getattr(layer, 'name', layer)!r} on the {side} side of it has "
                    f"{len(trainable)} trainable variables: the regression target z1 - z0 "
                    "would depend on them (the loss is minimised by moving the data and base "
                    "points, not by learning the velocity). Freeze that layer (non-trainable "
                    "variables, e.g. a Standardize layer adapted to the data), or train it by "
                    "maximum likelihood."
                )


def optimal_transport_plan(
    z1: tf.Tensor, z0: tf.Tensor, regularization: float = 0.02, iterations: int = 50
) -> tf.Tensor:
    """Log of the entropic optimal-transport plan between rows of ``z1`` and ``z0`` (uniform weights).

    ``z1`` ``[..., n, d]`` and ``z0`` ``[..., m, d]``: one plan ``[..., n, m]`` per leading index.

    ```none
    C_ij = ||z1_i - z0_j||^2,   eps = regularization * mean(C)
    P = argmin_{P 1 = 1/n, P^T 1 = 1/m} <P, C> - eps H(P)      (log-domain Sinkhorn)
    ```

    The last Sinkhorn half-step fits the columns: ``P``'s column sums (the
    ``z0`` marginal) are exactly ``1/m``; its row sums approach ``1/n``.

    #### Examples

    >>> z = tf.constant([[0.0], [10.0]])
    >>> plan = tf.exp(optimal_transport_plan(z, tf.constant([[9.0], [1.0]])))
    >>> plan.numpy().round(3).tolist()  # the near pairs: 0 with 1, 10 with 9
    [[0.0, 0.5], [0.5, 0.0]]
    """
    cost = tf.reduce_sum(tf.square(z1[..., :, None, :] - z0[..., None, :, :]), axis=-1)
    cost = tf.stop_gradient(cost)
    mean_cost = tf.reduce_mean(cost, axis=[-2, -1], keepdims=True)
    epsilon = regularization * mean_cost + tf.constant(1e-12, cost.dtype)
    log_kernel = -cost / epsilon
    log_a = -tf.math.log(tf.cast(tf.shape(z1)[-2], cost.dtype))
    log_b = -tf.math.log(tf.cast(tf.shape(z0)[-2], cost.dtype))

    def half_steps(i, u, v):
        u = log_a - tf.reduce_logsumexp(log_kernel + v[..., None, :], axis=-1)
        v = log_b - tf.reduce_logsumexp(log_kernel + u[..., :, None], axis=-2)
        return i + 1, u, v

    _, u, v = tf.while_loop(
        lambda i, *_: i < iterations,
        half_steps,
        (tf.constant(0), tf.zeros_like(cost[..., 0]), tf.zeros_like(cost[..., 0, :])),
        maximum_iterations=iterations,
    )
    return log_kernel + u[..., :, None] + v[..., None, :]


_TIME_SAMPLINGS = ("uniform", "stratified", "logit_normal")


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
      pairing: ``"independent"`` (each data row with its own base draw) or
        ``"ot"`` (minibatch optimal transport: each data row paired with a base draw
        from its row of the entropic transport plan between the batch's base draws
        and data rows; see the module docstring). ``"ot"`` needs an unconditional flow: pairing across contexts
        would make the base draw depend on the context.
      ot_regularization: the plan's entropic regularisation, relative to the
        batch's mean cost (smaller: closer to the exact plan, more iterations needed).
      ot_iterations: Sinkhorn iterations per step.
      ot_group_size: rows per transport plan: a batch of a multiple of it rows is
        paired in groups of this many (a plan costs ``O(group^2)`` per iteration).
      time_sampling: how the batch's times are drawn: ``"uniform"`` (i.i.d.
        ``U(0, 1)``), ``"stratified"`` (one time in each of the ``B`` intervals
        ``[i/B, (i+1)/B)``, ``t_i = (k_i + u_i) / B`` for a random permutation ``k``
        of the rows, whatever their order: the same marginal ``U(0, 1)``,
        a lower-variance estimate of the same loss), or ``"logit_normal"``
        (``t = sigmoid(m + s e)``, ``e ~ N(0, 1)``, Esser et al. 2024: more weight
        in the middle of the paths; this changes the loss's weighting over ``t``).
      logit_normal: ``(m, s)`` of ``"logit_normal"`` time sampling.
      sigma_min: width of the conditional paths at the data end (Lipman et al.
        2023): ``z_t = (1 - (1 - sigma_min) t) z0 + t z1``, target
        ``z1 - (1 - sigma_min) z0``. The learned flow then carries the base to the
        data convolved with ``N(0, sigma_min^2 I)`` (in the coordinates of ``z1``):
        ``0`` (the default) targets the data itself.

    Raises:
      ValueError: an unknown ``pairing``; at the first call, ``"ot"`` with a
        context, or trainable layers on either side of the ``ContinuousFlow``.
      TypeError: at the first call, a flow without exactly one ``ContinuousFlow``.

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

    def __init__(
        self,
        seed: int = 0,
        *,
        pairing: str = "independent",
        ot_regularization: float = 0.02,
        ot_iterations: int = 50,
        ot_group_size: int = 256,
        time_sampling: str = "uniform",
        logit_normal: tuple[float, float] = (0.0, 1.0),
        sigma_min: float = 0.0,
    ):
        self.seed = check_integer("seed", seed, minimum=0)
        if pairing not in ("independent", "ot"):
            raise ValueError(f"pairing must be 'independent' or 'ot', got {pairing!r}.")
        self.pairing = pairing
        self.ot_regularization = check_positive_float("ot_regularization", ot_regularization)
        self.ot_iterations = check_integer("ot_iterations", ot_iterations, minimum=1)
        self.ot_group_size = check_integer("ot_group_size", ot_group_size, minimum=1)
        if time_sampling not in _TIME_SAMPLINGS:
            raise ValueError(
                f"time_sampling must be one of {', '.join(map(repr, _TIME_SAMPLINGS))}, got "
                f"{time_sampling!r}."
            )
        self.time_sampling = time_sampling
        if not (isinstance(logit_normal, (tuple, list)) and len(logit_normal) == 2):
            raise ValueError(
                f"logit_normal must be a pair (mean, scale) of floats, got {logit_normal!r}."
            )
        mean = check_number("logit_normal[0]", logit_normal[0], "a finite number", math.isfinite)
        scale = check_positive_float("logit_normal[1]", logit_normal[1])
        self.logit_normal = (mean, scale)
        self.sigma_min = check_number(
            "sigma_min", sigma_min, "a number in [0, 1)", lambda v: 0.0 <= v < 1.0
        )
        self._generator = tf.random.Generator.from_seed(self.seed)

    def _seed(self, batch: Batch) -> tf.Tensor:
        if batch.seed is not None:
            return tfp.random.sanitize_seed(batch.seed)
        return tf.cast(self._generator.make_seeds(1)[:, 0], tf.int32)

    def __call__(self, distribution: tfd.Distribution, batch: Batch) -> tf.Tensor:
        data_side, layer, base_side = continuous_layer(distribution)
        _check_not_trainable(data_side, base_side)
        context = batch.context
        if self.pairing == "ot" and context is not None:
            raise ValueError(
                "FlowMatching(pairing='ot') pairs base draws with data rows across the batch, "
                "which for a conditional flow would make a row's base draw depend on its "
                "context (the flow would learn a wrong base); use pairing='independent' with a "
                "context."
            )
        kwargs = {} if context is None else {"context": context}
        z1 = tf.convert_to_tensor(batch.x, layer.dtype)
        for bijector in data_side:
            z1 = bijector.inverse(z1, **(kwargs if takes_context(bijector) else {}))
        # salted: a target source drew the batch's data with this same seed (unsalted
        # splits would give the same streams, correlating t and z0 with the data)
        seed = self._seed(batch)
        base_seed, time_seed = tfp.random.split_seed(seed, 2, salt="flow_matching")
        n = tf.shape(z1)[0]
        z0 = distribution.distribution.sample(n, seed=base_seed)
        for bijector in reversed(base_side):
            z0 = bijector.forward(z0, **(kwargs if takes_context(bijector) else {}))
        if self.pairing == "ot":
            z1, z0 = self._paired(z1, z0, seed)
        t = self._times(n, time_seed, layer.dtype)
        shrink = 1.0 - self.sigma_min
        z_t = (1.0 - shrink * t) * z0 + t * z1
        residual = layer.velocity(z_t, t, context) - (z1 - shrink * z0)
        return tf.reduce_mean(tf.reduce_sum(tf.square(residual), axis=-1))

    def _times(self, n: tf.Tensor, seed: tf.Tensor, dtype: tf.DType) -> tf.Tensor:
        """The batch's times ``[n, 1]``, drawn as ``time_sampling`` says."""
        if self.time_sampling == "logit_normal":
            mean, scale = self.logit_normal
            e = tf.random.stateless_normal([n, 1], seed=seed, dtype=dtype)
            return tf.sigmoid(mean + scale * e)
        u = tf.random.stateless_uniform([n, 1], seed=seed, dtype=dtype)
        if self.time_sampling == "uniform":
            return u
        # stratified: row i in the interval [k_i/n, (k_i+1)/n) of a random permutation k: a
        # batch in data order (an unshuffled dataset, sorted rows) would otherwise give its
        # first rows the small times, tying t to the data and changing the loss's minimiser
        order_seed = tfp.random.split_seed(seed, 2, salt="flow_matching_strata")[0]
        k = tf.argsort(tf.random.stateless_uniform([n], seed=order_seed))
        return (tf.cast(k[:, None], dtype) + u) / tf.cast(n, dtype)

    def _paired(self, z1: tf.Tensor, z0: tf.Tensor, seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Each data row ``z1_i`` with a base draw ``z0_j``, ``j ~ P[i, :]`` (the OT plan's row),
        within groups of ``ot_group_size`` rows."""
        pair_seed = tfp.random.split_seed(seed, 2, salt="flow_matching_pairs")[0]
        rows, size = z1.shape[0], z1.shape[-1]
        group = self.ot_group_size
        groups = rows // group if rows is not None and group < rows and rows % group == 0 else 1
        a = tf.reshape(z1, [groups, -1, size])
        b = tf.reshape(z0, [groups, -1, size])
        log_plan = optimal_transport_plan(a, b, self.ot_regularization, self.ot_iterations)
        width = tf.shape(log_plan)[-1]
        partners = tf.random.stateless_categorical(
            tf.reshape(log_plan, [-1, width]), 1, seed=pair_seed, dtype=tf.int32
        )
        offsets = tf.repeat(tf.range(groups) * width, width)
        return z1, tf.gather(z0, partners[:, 0] + offsets)

    def __repr__(self) -> str:
        parts = [f"seed={self.seed}"]
        if self.pairing == "ot":
            parts += [
                "pairing='ot'",
                f"ot_regularization={self.ot_regularization}",
                f"ot_iterations={self.ot_iterations}",
                f"ot_group_size={self.ot_group_size}",
            ]
        if self.time_sampling != "uniform":
            parts.append(f"time_sampling={self.time_sampling!r}")
        if self.time_sampling == "logit_normal":
            parts.append(f"logit_normal={self.logit_normal}")
        if self.sigma_min:
            parts.append(f"sigma_min={self.sigma_min}")
        return f"FlowMatching({', '.join(parts)})"
