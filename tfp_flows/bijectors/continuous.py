"""Continuous-time flow layer (neural ODE / FFJORD): the map is the solution of an ODE.

```none
dx/dt = v(x(t), t, c),   x(0) = x,   forward(x) = x(1)
inverse(y): the same ODE from x(1) = y back to t = 0
log|det d forward / dx| = integral_0^1 tr(dv/dx)(x(t), t, c) dt        (instantaneous change of variables)
```

The velocity ``v`` is a network (:class:`~tfp_flows.nn.VelocityMLP` by
default); the ODE is solved by the classical fourth-order Runge-Kutta method
with ``num_steps`` fixed steps, and the log-det integral is solved jointly with
the state (the augmented ODE ``d/dt [x, L] = [v, tr(dv/dx)]``). The trace is
exact (no Hutchinson estimate): the default network propagates its Jacobian
in closed form; any other network's ``dv/dx`` comes from
``tf.GradientTape.batch_jacobian``, so keep event sizes small (up to ~16).

What is exact and what is not: the log-det is the exact log-det of the *exact*
ODE map up to the solver's error, ``O(h^4)`` with ``h = 1 / num_steps``, and
likewise the inverse is the backward RK4 solve, not the exact inverse of the
forward RK4 solve: ``forward(inverse(y)) - y`` is also ``O(h^4)``. Both shrink
16-fold each time ``num_steps`` doubles; how large they are depends on how
fast ``v`` varies (a fresh layer, ``v = 0``, is exactly the identity). Train
with enough steps for the accuracy you need, and check with
:func:`tfp_flows.testing.check_bijector`.

Plain TensorFlow ops (a ``tf.while_loop`` of fixed length), so the layer runs
eagerly, in ``tf.function`` and under ``jit_compile=True``; gradients flow by
backpropagation through the solver steps.

#### References

[1]: Ricky T. Q. Chen, Yulia Rubanova, Jesse Bettencourt, David Duvenaud.
     Neural Ordinary Differential Equations. NeurIPS 2018. https://arxiv.org/abs/1806.07366
[2]: Will Grathwohl, Ricky T. Q. Chen, Jesse Bettencourt, Ilya Sutskever,
     David Duvenaud. FFJORD: Free-form Continuous Dynamics for Scalable
     Reversible Generative Models. ICLR 2019. https://arxiv.org/abs/1810.01367
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from typing import Any

import tensorflow as tf

from tfp_flows._internal.checks import check_floating_dtype, check_integer
from tfp_flows._internal.naming import unique_name
from tfp_flows.bijectors.base import FlowBijector, broadcast_batch
from tfp_flows.nn.velocity import VelocityMLP

__all__ = ["ContinuousFlow"]


class ContinuousFlow(FlowBijector):
    """The time-1 map of ``dx/dt = v(x, t, c)``, by fixed-step RK4, with an exact-trace log-det.

    ```none
    forward:  x(0) = x  ->  x(1)      (t from 0 to 1, num_steps RK4 steps of h = 1/num_steps)
    inverse:  x(1) = y  ->  x(0)      (t from 1 to 0, the same steps backwards)
    forward_log_det_jacobian(x) = integral_0^1 tr(dv/dx)(x(t), t, c) dt  (solved with the state)
    ```

    Args:
      event_size: size ``n`` of the vector event.
      velocity: the network ``v(x, t, context) -> [B, n]`` for ``x`` ``[B, n]``, ``t``
        ``[B, 1]`` and ``context`` ``[B, k]`` (``None`` when unconditional), a
        ``tf.Module`` (or tf_keras layer) so its variables are tracked. With a
        ``velocity_and_divergence(x, t, context)`` method (as
        :class:`~tfp_flows.nn.VelocityMLP` has) the trace comes from it; otherwise
        from ``tf.GradientTape.batch_jacobian``. ``None``: a ``VelocityMLP`` built
        from ``hidden_units``, ``activation``, ``time_frequencies`` and ``seed``.
      num_steps: RK4 steps from ``t = 0`` to ``1`` (four velocity evaluations each).
      context_size: width ``k`` of the context (0: unconditional).
      hidden_units, activation, time_frequencies, seed: of the default ``VelocityMLP``.
      validate_args: check inputs and context are finite.
      dtype: ``tf.float32`` or ``tf.float64``.
      name: layer name (default: the next free ``continuous_flow``, ...).

    #### Examples

    >>> layer = ContinuousFlow(2, num_steps=8, hidden_units=(16,), seed=0)
    >>> layer.forward(tf.constant([[1.0, 2.0]])).numpy().tolist()  # v = 0 at first: identity
    [[1.0, 2.0]]
    >>> _ = layer.velocity_network.biases[-1].assign([0.5, -1.0])  # v = (0.5, -1): a shift
    >>> layer.forward(tf.constant([[1.0, 2.0]])).numpy().tolist()
    [[1.5, 1.0]]

    #### References

    [1]: Ricky T. Q. Chen et al. Neural Ordinary Differential Equations. NeurIPS 2018.
    [2]: Will Grathwohl et al. FFJORD. ICLR 2019. https://arxiv.org/abs/1810.01367
    """

    def __init__(
        self,
        event_size: int,
        velocity: Any = None,
        *,
        num_steps: int = 8,
        context_size: int = 0,
        hidden_units: Sequence[int] = (64, 64),
        activation: str | Callable[[tf.Tensor], tf.Tensor] = "tanh",
        time_frequencies: int = 4,
        seed: int | None = None,
        validate_args: bool = False,
        dtype: tf.DType = tf.float32,
        name: str | None = None,
    ):
        parameters = dict(locals())
        name = name or unique_name("continuous_flow")
        dtype = check_floating_dtype(dtype, name)
        event_size = check_integer(f"{name}: event_size", event_size, minimum=1)
        context_size = check_integer(f"{name}: context_size", context_size, minimum=0)
        self._num_steps = check_integer(f"{name}: num_steps", num_steps, minimum=1)
        super().__init__(
            event_size,
            validate_args=validate_args,
            dtype=dtype,
            parameters=parameters,
            name=name,
            context_size=context_size,
        )
        if velocity is None:
            with tf.name_scope(name):
                velocity = VelocityMLP(
                    event_size,
                    context_size=context_size,
                    hidden_units=hidden_units,
                    activation=activation,
                    time_frequencies=time_frequencies,
                    seed=seed,
                    dtype=dtype,
                )
        else:
            declared = getattr(velocity, "context_size", context_size)
            if declared != context_size:
                raise ValueError(
                    f"{name}: the velocity network takes a context of size {declared}, but the "
                    f"layer was given context_size={context_size}."
                )
            if not callable(velocity):
                raise TypeError(
                    f"{name}: velocity must be a callable network v(x, t, context), got "
                    f"{type(velocity).__name__}."
                )
        self._velocity = velocity

    @property
    def velocity_network(self) -> Any:
        """The network ``v(x, t, context)``."""
        return self._velocity

    @property
    def num_steps(self) -> int:
        """RK4 steps from ``t = 0`` to ``t = 1``."""
        return self._num_steps

    def with_num_steps(self, num_steps: int) -> ContinuousFlow:
        """The same ODE (this layer's velocity network, shared) solved with ``num_steps`` RK4 steps.

        Score a trained layer with more steps to see the solver's error (a
        layer trained by maximum likelihood at few steps can exploit it).

        #### Examples

        >>> layer = ContinuousFlow(2, num_steps=4, hidden_units=(8,), seed=0)
        >>> fine = layer.with_num_steps(64)
        >>> fine.num_steps, fine.velocity_network is layer.velocity_network
        (64, True)
        """
        return ContinuousFlow(
            self.event_size,
            self._velocity,
            num_steps=num_steps,
            context_size=self.context_size,
            validate_args=self.validate_args,
            dtype=self.dtype,
            name=self.name,
        )

    def velocity(self, x: Any, t: Any, context: Any = None) -> tf.Tensor:
        """``v(x, t, c)`` for ``x`` ``[..., n]``, ``t`` ``[..., 1]`` (or a scalar), ``c`` ``[..., k]``.

        What flow matching regresses (:class:`~tfp_flows.training.FlowMatching`).

        #### Examples

        >>> layer = ContinuousFlow(2, hidden_units=(8,), seed=0)
        >>> layer.velocity(tf.zeros([3, 2]), tf.fill([3, 1], 0.5)).shape
        TensorShape([3, 2])
        """
        x = tf.convert_to_tensor(x, self.dtype)
        context = self._checked_kwargs({"context": context}, x).get("context")
        t = tf.convert_to_tensor(t, self.dtype)
        t = tf.broadcast_to(t, tf.concat([tf.shape(x)[:-1], [1]], 0)) if t.shape.rank == 0 else t
        x, t, context, shape = self._flat_batch(x, t, context)
        return tf.reshape(self._velocity(x, t, context), shape)

    def _flat_batch(self, x, t, context):
        """``x``, ``t`` and ``context`` broadcast to one batch and flattened to ``[B, .]``."""
        if context is not None:
            x, context = broadcast_batch(x, context)
            context = tf.reshape(context, [-1, self.context_size])
        if t is not None:
            t = tf.reshape(tf.broadcast_to(t, tf.concat([tf.shape(x)[:-1], [1]], 0)), [-1, 1])
        shape = tf.shape(x)
        return tf.reshape(x, [-1, self.event_size]), t, context, shape

    def _velocity_and_divergence(self, x, t, context):
        exact = getattr(self._velocity, "velocity_and_divergence", None)
        if exact is not None:
            return exact(x, t, context)
        with tf.GradientTape() as tape:
            tape.watch(x)
            v = self._velocity(x, t, context)
        return v, tf.linalg.trace(tape.batch_jacobian(v, x))

    def _solve(self, x, context, backwards: bool):
        """RK4 from t = 0 to 1 (or 1 to 0): the end state and ``integral tr(dv/dx) dt``."""
        x, _, context, shape = self._flat_batch(x, None, context)
        batch = tf.shape(x)[0]
        step = tf.constant((-1.0 if backwards else 1.0) / self._num_steps, self.dtype)
        start = tf.constant(1.0 if backwards else 0.0, self.dtype)

        def f(z, t):
            return self._velocity_and_divergence(z, tf.fill([batch, 1], t), context)

        def rk4(i, z, integral):
            t = start + tf.cast(i, self.dtype) * step
            k1, d1 = f(z, t)
            k2, d2 = f(z + 0.5 * step * k1, t + 0.5 * step)
            k3, d3 = f(z + 0.5 * step * k2, t + 0.5 * step)
            k4, d4 = f(z + step * k3, t + step)
            z = z + step / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
            integral = integral + step / 6.0 * (d1 + 2.0 * d2 + 2.0 * d3 + d4)
            return i + 1, z, integral

        _, z, integral = tf.while_loop(
            lambda i, *_: i < self._num_steps,
            rk4,
            (tf.constant(0), x, tf.zeros([batch], self.dtype)),
            maximum_iterations=self._num_steps,
        )
        return tf.reshape(z, shape), tf.reshape(integral, shape[:-1])

    def _solved(self, x, context, backwards: bool):
        """:meth:`_solve`, run as one traced graph when called eagerly (an eager solve would
        dispatch every op of every step from Python: ~50x slower)."""
        if tf.executing_eagerly():
            return _traced_solve(self, x, context, backwards)
        return self._solve(x, context, backwards)

    def _forward_and_ildj(self, x, context=None):
        y, log_det = self._solved(x, context, backwards=False)
        return y, -log_det

    def _inverse_and_ildj(self, y, context=None):
        # integrating from t = 1 to 0 gives integral_1^0 tr dt = log|det dx/dy| directly
        return self._solved(y, context, backwards=True)


_TRACED_SOLVES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _traced_solve(layer: ContinuousFlow, x: tf.Tensor, context: Any, backwards: bool):
    """``layer._solve`` in a graph, traced once per layer (a copy sharing its weights equals it
    and shares the trace), direction and input signature; dropped with the layer (the traced
    function holds the layer only weakly)."""
    solve = _TRACED_SOLVES.get(layer)
    if solve is None:
        owner = weakref.ref(layer)
        solve = tf.function(
            lambda x, context, backwards: owner()._solve(x, context, backwards),
            reduce_retracing=True,
            autograph=False,
        )
        _TRACED_SOLVES[layer] = solve
    return solve(x, context, backwards)
