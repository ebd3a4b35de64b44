"""Continuous-time flow layer (neural ODE / FFJORD): the map is the solution of an ODE.

```none
dx/dt = v(x(t), t, c),   x(0) = x,   forward(x) = x(1)
inverse(y): the same ODE from x(1) = y back to t = 0
log|det d forward / dx| = integral_0^1 tr(dv/dx)(x(t), t, c) dt        (instantaneous change of variables)
```

The velocity ``v`` is a network (:class:`~tfp_flows.nn.VelocityMLP` by
default); the log-det integral is solved jointly with the state (the augmented
ODE ``d/dt [x, L] = [v, tr(dv/dx)]``) by one of three solvers (``solver=``):

- ``"rk4"`` (default): the classical fourth-order Runge-Kutta method, ``num_steps``
  fixed steps of ``h = 1 / num_steps``, four evaluations of ``v`` each, error ``O(h^4)``;
- ``"dopri5"``: the Dormand-Prince fifth-order method (the 5th-order solution of
  the pair, no error control), ``num_steps`` fixed steps, six evaluations each,
  error ``O(h^5)``;
- ``"adaptive"``: :class:`tfp.math.ode.DormandPrince` with step-size control to
  ``rtol`` / ``atol`` (``num_steps`` is unused); its gradients are TFP's adjoint
  method (a second, backward ODE solve) instead of backpropagation through the
  steps.

The trace (``trace=``) is either

- ``"exact"`` (default): the default network propagates its Jacobian in closed
  form; any other network's ``dv/dx`` comes from ``tf.GradientTape.batch_jacobian``.
  It costs about ``n`` evaluations of ``v``: keep event sizes small (up to ~16); or
- ``"hutchinson"``: Hutchinson's estimator ``tr(A) = E[eps^T A eps]`` for a probe
  ``eps`` with ``E[eps eps^T] = I`` (Rademacher or standard normal entries), one
  probe per point held fixed along the solve (as FFJORD), ``(dv/dx) eps`` from the
  default network's closed-form Jacobian-vector product
  (:meth:`~tfp_flows.nn.VelocityMLP.velocity_and_jvp`), or for any other network
  ``eps^T (dv/dx)`` from a ``tf.GradientTape`` (whose second-order gradient does not
  compile under XLA when the batch size is unknown, as in ``tff.fit``'s loop: fit
  such a layer with ``jit_compile=False``). It costs about two evaluations of ``v`` at any event
  size, but the log-det is then an *estimate*: unbiased in expectation over the
  probe only, with a spread per point (``Var = 2 (||S||_F^2 - sum_i A_ii^2)`` per
  evaluation for Rademacher probes, ``2 ||S||_F^2`` for Gaussian, ``S = (A + A^T) / 2``).
  Meant for maximum-likelihood training of larger events; score exactly.

What is exact and what is not: the log-det is the exact log-det of the *exact*
ODE map up to the solver's error, ``O(h^4)`` with ``h = 1 / num_steps`` for RK4,
and likewise the inverse is the backward solve, not the exact inverse of the
forward solve: ``forward(inverse(y)) - y`` is also ``O(h^4)``. Both shrink
16-fold each time ``num_steps`` doubles (32-fold for Dopri5); how large they are
depends on how fast ``v`` varies (a fresh layer, ``v = 0``, is exactly the
identity). Train with enough steps for the accuracy you need, and check with
:func:`tfp_flows.testing.check_bijector`.

Plain TensorFlow ops (a ``tf.while_loop`` of fixed length), so the fixed-step
layer runs eagerly, in ``tf.function`` and under ``jit_compile=True``; gradients
flow by backpropagation through the solver steps. The adaptive solver also runs
in all three (TF 2.21 / TFP 0.25: its solve is a ``tf.while_loop`` of dynamic
length that XLA compiles, but the gradient of a step with its adjoint took
minutes to XLA-compile here: use it in ``tf.function`` without ``jit_compile``, e.g.
``tff.fit(..., jit_compile=False)``); ``benchmarks/README.md`` ("Gradients:
adjoint against backprop") measures its adjoint against backprop.

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

from tfp_flows._internal.checks import (
    check_floating_dtype,
    check_integer,
    check_positive_float,
)
from tfp_flows._internal.naming import unique_name
from tfp_flows.bijectors.base import FlowBijector, broadcast_batch
from tfp_flows.nn.velocity import VelocityMLP

__all__ = ["ContinuousFlow", "PROBES", "SOLVERS", "TRACES"]

SOLVERS = ("rk4", "dopri5", "adaptive")
"""The ODE solvers of :class:`ContinuousFlow` (``solver=``)."""
TRACES = ("exact", "hutchinson")
"""How :class:`ContinuousFlow` computes ``tr(dv/dx)`` (``trace=``)."""
PROBES = ("rademacher", "gaussian")
"""The distributions of Hutchinson's probe entries (``probe=``)."""

# Dormand-Prince 5(4): the stages' times c, the coefficients a (row i: stage i + 1) and the
# weights b of the fifth-order solution (Dormand & Prince 1980, Table 2; b7 = 0: six stages).
_DOPRI5_C = (0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0)
_DOPRI5_A = (
    (),
    (1 / 5,),
    (3 / 40, 9 / 40),
    (44 / 45, -56 / 15, 32 / 9),
    (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
    (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
)
_DOPRI5_B = (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84)


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}.")
    return value


class ContinuousFlow(FlowBijector):
    """The time-1 map of ``dx/dt = v(x, t, c)``, by an ODE solve, with a trace-integral log-det.

    ```none
    forward:  x(0) = x  ->  x(1)      (t from 0 to 1, num_steps RK4 steps of h = 1/num_steps)
    inverse:  x(1) = y  ->  x(0)      (t from 1 to 0, the same steps backwards)
    forward_log_det_jacobian(x) = integral_0^1 tr(dv/dx)(x(t), t, c) dt  (solved with the state)
    hutchinson:  tr(dv/dx) ~ eps^T (dv/dx) eps,   E[eps eps^T] = I,   one eps per point and solve
    ```

    The defaults (RK4, exact trace) are deterministic and run under
    ``jit_compile=True``; see the module docstring for ``solver="dopri5"`` (fixed
    steps, fifth order), ``solver="adaptive"`` (TFP's Dormand-Prince with step-size
    control and adjoint gradients) and ``trace="hutchinson"`` (an unbiased estimate,
    for large events).

    Hutchinson's probes: every solve draws fresh ones (``tf.random.stateless_*``
    from ``[probe_seed, k]`` for the layer's ``k``-th solve; ``k`` is a
    non-trainable ``tf.Variable``, ``probe_counter``, shared by copies), so
    maximum-likelihood training sees new probes every step and the estimate's
    error averages out; two calls on the same input differ, and ``forward`` and
    ``inverse`` log-dets do not cancel exactly. Reset ``probe_counter`` to repeat a
    call; score with :meth:`with_trace` ``("exact")`` (same weights).

    Args:
      event_size: size ``n`` of the vector event.
      velocity: the network ``v(x, t, context) -> [B, n]`` for ``x`` ``[B, n]``, ``t``
        ``[B, 1]`` and ``context`` ``[B, k]`` (``None`` when unconditional), a
        ``tf.Module`` (or tf_keras layer) so its variables are tracked. With a
        ``velocity_and_divergence(x, t, context)`` method (as
        :class:`~tfp_flows.nn.VelocityMLP` has) the trace comes from it; otherwise
        from ``tf.GradientTape.batch_jacobian``. ``None``: a ``VelocityMLP`` built
        from ``hidden_units``, ``activation``, ``time_frequencies`` and ``seed``.
      num_steps: solver steps from ``t = 0`` to ``1`` (four velocity evaluations each for
        RK4, six for Dopri5; unused by the adaptive solver).
      solver: ``"rk4"``, ``"dopri5"`` (fixed steps) or ``"adaptive"`` (TFP's
        ``DormandPrince`` to ``rtol`` / ``atol``, adjoint gradients).
      rtol, atol: the adaptive solver's relative and absolute tolerances per entry of
        the augmented state ``[x, L]`` (unused by the fixed-step solvers).
      trace: ``"exact"`` or ``"hutchinson"`` (an unbiased estimate, for large events).
      probe: Hutchinson's probe entries: ``"rademacher"`` (+-1, the smaller variance)
        or ``"gaussian"``.
      probe_seed: integer seed of Hutchinson's probes.
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

    Other solvers and Hutchinson's trace (here ``v(x) = -x / 2``: ``x(1) = x e^{-1/2}``
    and ``log|det| = -n / 2`` exactly, which every probe's estimate also gives: for a
    diagonal Jacobian ``eps^T A eps = tr A`` with Rademacher probes):

    >>> fields = dict(hidden_units=(), seed=0, dtype=tf.float64)
    >>> for options in [dict(solver="dopri5", num_steps=4), dict(solver="adaptive"),
    ...                 dict(trace="hutchinson")]:
    ...     layer = ContinuousFlow(2, **fields, **options)
    ...     _ = layer.velocity_network.kernels[-1].assign(tf.eye(10, 2, dtype=tf.float64) * -0.5)
    ...     y, log_det = layer.forward_and_log_det(tf.constant([[1.0, 2.0]], tf.float64))
    ...     print(options, y.numpy().round(4).tolist(), log_det.numpy().round(4).tolist())
    {'solver': 'dopri5', 'num_steps': 4} [[0.6065, 1.2131]] [-1.0]
    {'solver': 'adaptive'} [[0.6065, 1.2131]] [-1.0]
    {'trace': 'hutchinson'} [[0.6065, 1.2131]] [-1.0]

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
        solver: str = "rk4",
        rtol: float = 1e-5,
        atol: float = 1e-6,
        trace: str = "exact",
        probe: str = "rademacher",
        probe_seed: int = 0,
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
        self._solver = _check_choice(f"{name}: solver", solver, SOLVERS)
        self._rtol = check_positive_float(f"{name}: rtol", rtol)
        self._atol = check_positive_float(f"{name}: atol", atol)
        self._trace = _check_choice(f"{name}: trace", trace, TRACES)
        self._probe = _check_choice(f"{name}: probe", probe, PROBES)
        self._probe_seed = check_integer(f"{name}: probe_seed", probe_seed, minimum=0)
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
        if self._trace == "hutchinson":
            with tf.name_scope(name):
                self.probe_counter = tf.Variable(
                    tf.constant(0, tf.int64), trainable=False, name="probe_counter"
                )

    @property
    def velocity_network(self) -> Any:
        """The network ``v(x, t, context)``."""
        return self._velocity

    @property
    def num_steps(self) -> int:
        """Solver steps from ``t = 0`` to ``t = 1`` (unused by the adaptive solver)."""
        return self._num_steps

    @property
    def solver(self) -> str:
        """``"rk4"``, ``"dopri5"`` or ``"adaptive"``."""
        return self._solver

    @property
    def trace(self) -> str:
        """``"exact"`` or ``"hutchinson"``."""
        return self._trace

    def _replaced(self, **changes: Any) -> ContinuousFlow:
        """This layer's ODE (its velocity network, shared) with other solver settings."""
        settings = dict(
            num_steps=self._num_steps,
            solver=self._solver,
            rtol=self._rtol,
            atol=self._atol,
            trace=self._trace,
            probe=self._probe,
            probe_seed=self._probe_seed,
        )
        settings.update(changes)
        return ContinuousFlow(
            self.event_size,
            self._velocity,
            context_size=self.context_size,
            validate_args=self.validate_args,
            dtype=self.dtype,
            name=self.name,
            **settings,
        )

    def with_num_steps(self, num_steps: int) -> ContinuousFlow:
        """The same ODE (this layer's velocity network, shared) solved with ``num_steps`` RK4 steps.

        Score a trained layer with more steps to see the solver's error (a
        layer trained by maximum likelihood at few steps can exploit it).

        #### Examples

        >>> layer = ContinuousFlow(2, num_steps=4, hidden_units=(8,), seed=0)
        >>> fine = layer.with_num_steps(64)
        >>> fine.num_steps, fine.velocity_network is layer.velocity_network
        (64, True)

        The other settings (solver, trace, probes) are kept; a Hutchinson layer's copy
        starts its own ``probe_counter`` at 0.
        """
        return self._replaced(num_steps=num_steps)

    def with_trace(self, trace: str) -> ContinuousFlow:
        """The same ODE (this layer's velocity network, shared) with ``trace`` ``"exact"`` or ``"hutchinson"``.

        Score a layer trained with Hutchinson's estimator exactly.

        #### Examples

        >>> layer = ContinuousFlow(2, hidden_units=(8,), trace="hutchinson", seed=0)
        >>> layer.with_trace("exact").trace, layer.trace
        ('exact', 'hutchinson')
        """
        return self._replaced(trace=trace)

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

    def _velocity_and_divergence(self, x, t, context, probes=None):
        """``(v, tr(dv/dx))`` ``[B, n]``, ``[B]``; with ``probes`` ``eps`` ``[B, n]``
        Hutchinson's ``eps^T (dv/dx) eps`` instead of the trace."""
        if probes is not None:
            jvp = getattr(self._velocity, "velocity_and_jvp", None)
            if jvp is not None:
                v, product = jvp(x, t, context, probes)  # (dv/dx) eps, in closed form
            else:
                with tf.GradientTape() as tape:
                    tape.watch(x)
                    v = self._velocity(x, t, context)
                product = tape.gradient(v, x, output_gradients=probes)  # eps^T dv/dx
            return v, tf.reduce_sum(product * probes, axis=-1)
        exact = getattr(self._velocity, "velocity_and_divergence", None)
        if exact is not None:
            return exact(x, t, context)
        with tf.GradientTape() as tape:
            tape.watch(x)
            v = self._velocity(x, t, context)
        return v, tf.linalg.trace(tape.batch_jacobian(v, x))

    def _probes(self, shape):
        """Hutchinson's probes ``[B, n]`` of the layer's next solve (or ``None``: exact)."""
        if self._trace != "hutchinson":
            return None
        k = self.probe_counter.assign_add(1) - 1
        seed = tf.stack([tf.constant(self._probe_seed, tf.int64), k])
        if self._probe == "gaussian":
            return tf.random.stateless_normal(shape, seed=seed, dtype=self.dtype)
        bits = tf.random.stateless_uniform(shape, seed=seed, minval=0, maxval=2, dtype=tf.int32)
        return tf.cast(2 * bits - 1, self.dtype)

    def _solve(self, x, context, backwards: bool):
        """The ODE from t = 0 to 1 (or 1 to 0): the end state and ``integral tr(dv/dx) dt``."""
        x, _, context, shape = self._flat_batch(x, None, context)
        probes = self._probes(tf.shape(x))
        if self._solver == "adaptive":
            z, integral = self._solve_adaptive(x, context, backwards, probes)
        else:
            z, integral = self._solve_fixed(x, context, backwards, probes)
        return tf.reshape(z, shape), tf.reshape(integral, shape[:-1])

    def _solve_fixed(self, x, context, backwards: bool, probes):
        """RK4 or Dopri5 in ``num_steps`` fixed steps (a ``tf.while_loop``)."""
        batch = tf.shape(x)[0]
        step = tf.constant((-1.0 if backwards else 1.0) / self._num_steps, self.dtype)
        start = tf.constant(1.0 if backwards else 0.0, self.dtype)

        def f(z, t):
            return self._velocity_and_divergence(z, tf.fill([batch, 1], t), context, probes)

        def rk4(i, z, integral):
            t = start + tf.cast(i, self.dtype) * step
            k1, d1 = f(z, t)
            k2, d2 = f(z + 0.5 * step * k1, t + 0.5 * step)
            k3, d3 = f(z + 0.5 * step * k2, t + 0.5 * step)
            k4, d4 = f(z + step * k3, t + step)
            z = z + step / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
            integral = integral + step / 6.0 * (d1 + 2.0 * d2 + 2.0 * d3 + d4)
            return i + 1, z, integral

        def dopri5(i, z, integral):
            t = start + tf.cast(i, self.dtype) * step
            ks, ds = [], []
            for c, row in zip(_DOPRI5_C, _DOPRI5_A):
                stage = z
                for a, k in zip(row, ks):
                    if a:
                        stage = stage + (step * a) * k
                k, d = f(stage, t + c * step)
                ks.append(k)
                ds.append(d)
            for b, k, d in zip(_DOPRI5_B, ks, ds):
                if b:
                    z = z + (step * b) * k
                    integral = integral + (step * b) * d
            return i + 1, z, integral

        _, z, integral = tf.while_loop(
            lambda i, *_: i < self._num_steps,
            rk4 if self._solver == "rk4" else dopri5,
            (tf.constant(0), x, tf.zeros([batch], self.dtype)),
            maximum_iterations=self._num_steps,
        )
        return z, integral

    def _solve_adaptive(self, x, context, backwards: bool, probes, solver=None):
        """``tfp.math.ode.DormandPrince`` (or ``solver``) on the augmented state; backwards in
        ``s = 1 - t`` (``dz/ds = -v(z, 1 - s)``), as TFP integrates forwards in time only.
        The context is passed as a TFP ``constant`` so the adjoint gives its gradient too."""
        import tensorflow_probability as tfp  # noqa: PLC0415 (only this solver needs it)

        batch = tf.shape(x)[0]
        sign = -1.0 if backwards else 1.0

        def ode_fn(s, state, **constants):
            z, _ = state
            t = 1.0 - s if backwards else s
            t = tf.fill([batch, 1], tf.cast(t, self.dtype))
            v, d = self._velocity_and_divergence(z, t, constants.get("context"), probes)
            return sign * v, sign * d

        if solver is None:
            solver = tfp.math.ode.DormandPrince(rtol=self._rtol, atol=self._atol)
        results = solver.solve(
            ode_fn,
            tf.constant(0.0, self.dtype),
            (x, tf.zeros([batch], self.dtype)),
            solution_times=tf.constant([1.0], self.dtype),
            constants={} if context is None else {"context": context},
        )
        z, integral = results.states
        return z[-1], integral[-1]

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
