"""Continuous-time flows: ``cnf`` (a neural ODE on ``N(0, I)``, FFJORD's exact-trace density)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import tensorflow as tf

from tfp_flows._internal.checks import check_integer
from tfp_flows._internal.naming import unique_name
from tfp_flows.bijectors.chain import FlowChain
from tfp_flows.bijectors.continuous import ContinuousFlow
from tfp_flows.flows.flow import Flow
from tfp_flows.flows.stack import (
    MAX_PARAMETERS,
    assemble,
    check_builder_arguments,
    check_flow_size,
    mlp_parameters,
)
from tfp_flows.nn.velocity import VelocityMLP

__all__ = ["cnf", "continuous_layers", "solver_error", "with_num_steps", "with_trace"]


def cnf(
    event_size: int,
    *,
    context_size: int = 0,
    hidden_units: Sequence[int] = (64, 64, 64),
    num_steps: int = 32,
    solver: str = "rk4",
    rtol: float = 1e-5,
    atol: float = 1e-6,
    trace: str = "exact",
    probe: str = "rademacher",
    probe_seed: int = 0,
    activation: str | Callable[[tf.Tensor], tf.Tensor] = "silu",
    time_frequencies: int = 8,
    state_frequencies: int = 0,
    scale_state: bool = False,
    gaussian_skip: bool = True,
    standardize: bool = True,
    seed: int | None = 0,
    validate_args: bool = False,
    dtype: tf.DType = tf.float32,
    name: str | None = None,
    max_parameters: int | None = MAX_PARAMETERS,
) -> Flow:
    """Continuous normalizing flow: one :class:`~tfp_flows.bijectors.ContinuousFlow` on ``N(0, I)``.

    ```none
    x = S(z(1)),   dz/dt = v(z(t), t, c),   z(0) ~ N(0, I)
    log p(x | c) = log N(z(0); 0, I) - integral_0^1 tr(dv/dz)(z(t), t, c) dt - log|det S|
    ```

    ``v`` is a :class:`~tfp_flows.nn.VelocityMLP`: ``v(z, t, c) = a(t) z +
    MLP(z, t, c)``, an MLP on ``[z, sinusoidal features of t, c]`` with its last
    layer at zero, plus (``gaussian_skip``, the default) the Gaussian part
    ``a(t) z``, ``a(t) = (2t - 1) / ((1 - t)^2 + t^2)``: flow matching's exact
    velocity when the standardised data are ``N(0, I)``, so the network learns
    only the rest. Its time-1 map is the identity, so a fresh flow is ``N(0, I)``
    (up to the solver's error, and to the
    :class:`~tfp_flows.bijectors.Standardize` layer, identity until adapted); with
    ``scale_state`` the MLP reads ``s = z / sqrt((1 - t)^2 + t^2)`` instead of ``z``,
    and with ``state_frequencies = q`` also ``sin(w s)``, ``cos(w s)``, ``w = 1..q``
    per entry. The
    ODE is solved by fixed-step RK4 (``num_steps`` steps, four evaluations of
    ``v`` each, forwards to sample, backwards to score) and the log-det by the
    exact trace of ``dv/dz`` integrated with the state: exact up to the solver's
    ``O(num_steps^-4)`` error (see :class:`~tfp_flows.bijectors.ContinuousFlow`).

    Train it by maximum likelihood (``tff.fit(flow, data)``, FFJORD's objective,
    which backpropagates through every solver step) or by conditional flow
    matching (``tff.fit(flow, data, loss=tff.training.FlowMatching())``, a
    regression of ``v`` without any ODE solve: the recommended way).

    The defaults (the Gaussian skip, three hidden layers of 64, SiLU, 8 time
    frequencies, 32 RK4 steps) are what ``benchmarks/cnf.py`` measured best per
    second of flow matching on the two moons (noise 0.05) with ``fit``'s defaults
    (batch 256, peak learning rate 1e-2). The Gaussian skip costs nothing
    measurable per step and lowered the KL gap after 45,000 steps at every seed
    tried: 0.0077 / 0.0102 / 0.0057 nats at seeds 0, 1, 2 against 0.0102 / 0.0124 /
    0.0095 without it (median 0.0077 against 0.0102); residual connections
    between the hidden layers instead made it worse (0.0177 at seed 0).
    Measured without the skip: on 2 cores a training step costs about linearly in
    batch times network size (no spare parallelism), and the KL gap fell with the
    number of samples seen: on a quiet machine a step of three layers of 64 took
    0.49 ms against 0.71 ms for 96 (and 1.4-1.5 ms of CPU for 128), and within the wall time
    of ``nsf``'s 5,000 steps (45,000 steps of 64 against 28,000 of 96) the
    narrower net reached KL gaps 0.0102 / 0.0124 / 0.0095 nats against 0.0150 /
    0.0137 / 0.0094 (seeds 0, 1, 2, side by side; median 0.0102, just above the
    0.010 goal); three layers of 48 (56,000 steps) had median 0.0116. The former
    default (64-64 tanh, 4 frequencies) had 0.057 after 20,000 steps of batch 1024. The solver's error at 32 steps was 0.002
    nats per point (``benchmarks/README.md``). Not better per second there:
    larger batches, stratified or logit-normal times
    (``FlowMatching(time_sampling=...)``), reading the state scaled to unit
    variance along the paths (``scale_state=True``) with sine/cosine pairs of it
    (``state_frequencies``), and minibatch optimal-transport pairing
    (``FlowMatching(pairing="ot")``, which lowered the loss 10-fold but not the
    KL gap).

    Solvers and traces (see :class:`~tfp_flows.bijectors.ContinuousFlow`):
    ``solver="dopri5"`` solves with fixed fifth-order Dormand-Prince steps (six
    evaluations each, error ``O(num_steps^-5)``), ``solver="adaptive"`` with TFP's
    ``DormandPrince`` to ``rtol`` / ``atol`` (gradients by the adjoint method);
    ``trace="hutchinson"`` replaces the exact trace by Hutchinson's unbiased
    estimate ``eps^T (dv/dz) eps`` (``probe`` ``"rademacher"`` or ``"gaussian"``,
    fresh probes every solve from ``probe_seed``): two evaluations of ``v`` instead
    of about ``event_size``, for maximum-likelihood training of larger events; its
    log-density is then noisy (score with ``with_trace(flow, "exact")``).
    Gradients: backpropagation through the fixed-step solvers; TFP's adjoint method
    (the adaptive solver's) cost 1.3-1.4x the CPU of backprop at the same 32 Dopri5
    steps, 2-D and 7-D, gradients equally accurate (``benchmarks/cnf_gradients.py``).

    Caution with maximum likelihood at few steps: training then optimises the
    *discretised* map's log-det, and the network can learn a field on which the
    RK4 error inflates the density (measured on the two moons, 300 steps with
    ``num_steps=8``: KL gap -0.84 nats scored with 8 steps -- impossible for a
    normalised density -- and 1.90 scored with 128 steps). ``tff.fit`` checks
    every continuous flow it trains: it scores a training batch at ``num_steps``
    and at twice as many and warns (``SolverErrorWarning``) when they differ
    by more than 0.01 nats on average. :func:`with_num_steps` re-solves a trained
    flow with more steps; :func:`solver_error` measures the difference. Flow
    matching does not train through the solver and has no such failure (its
    training cost does not depend on ``num_steps`` at all).

    Args:
      event_size: dimension of the data (>= 1); the exact trace costs ``O(event_size)``
        times an evaluation of ``v``: meant for events up to ~16.
      context_size: width ``k`` of a context ``c`` (0: unconditional): ``v`` reads it,
        and the flow is a conditional density ``q(x | c)``.
      hidden_units, activation, time_frequencies, state_frequencies, scale_state,
        gaussian_skip: of the velocity network (:class:`~tfp_flows.nn.VelocityMLP`).
      num_steps: RK4 steps of every solve (Dopri5 steps with ``solver="dopri5"``; unused
        by ``"adaptive"``).
      solver: ``"rk4"``, ``"dopri5"`` or ``"adaptive"``.
      rtol, atol: tolerances of the adaptive solver.
      trace: ``"exact"`` or ``"hutchinson"``.
      probe, probe_seed: Hutchinson's probe distribution (``"rademacher"`` or
        ``"gaussian"``) and seed.
      standardize: end with a ``Standardize`` layer that ``fit`` adapts to the data.
      seed: seed of the initialisation.
      validate_args: check inputs are finite.
      dtype: ``tf.float32`` or ``tf.float64``.
      name: name of the distribution, of its chain and (as a prefix) of its layer.
      max_parameters: refuse a flow of more trainable parameters (``None``: no cap).

    Returns:
      A :class:`~tfp_flows.Flow`.

    #### Examples

    >>> flow = cnf(2, hidden_units=(16, 16), num_steps=4)
    >>> flow.sample(3, seed=0).shape
    TensorShape([3, 2])
    >>> round(float(flow.log_prob([[0.0, 0.0]])[0]), 4)  # a fresh flow is N(0, I)
    -1.8379
    >>> estimated = cnf(20, hidden_units=(16,), num_steps=4, trace="hutchinson")
    >>> estimated.log_prob(tf.zeros([5, 20])).shape
    TensorShape([5])
    """
    shown = name or unique_name("cnf")
    checked = check_builder_arguments(
        shown, event_size, 1, seed, hidden_units, context_size, dtype, min_event_size=1
    )
    frequencies = check_integer("time_frequencies", time_frequencies, minimum=1)
    state_frequencies = check_integer("state_frequencies", state_frequencies, minimum=0)
    check_flow_size(
        f"{shown} on {checked.event_size} entries with hidden_units={checked.hidden_units}",
        mlp_parameters(
            [
                checked.event_size * (1 + 2 * state_frequencies)
                + 2 * frequencies
                + checked.context_size,
                *checked.hidden_units,
                checked.event_size,
            ]
        ),
        max_parameters,
        checked.dtype,
        "use smaller hidden_units",
    )
    layer_name = f"{shown}_continuous_flow"
    with tf.name_scope(layer_name):
        velocity = VelocityMLP(
            checked.event_size,
            context_size=checked.context_size,
            hidden_units=checked.hidden_units,
            activation=activation,
            time_frequencies=frequencies,
            state_frequencies=state_frequencies,
            scale_state=scale_state,
            gaussian_skip=gaussian_skip,
            seed=checked.seed,
            dtype=checked.dtype,
        )
    layer = ContinuousFlow(
        checked.event_size,
        velocity,
        num_steps=num_steps,
        solver=solver,
        rtol=rtol,
        atol=atol,
        trace=trace,
        probe=probe,
        probe_seed=probe_seed,
        context_size=checked.context_size,
        validate_args=validate_args,
        dtype=checked.dtype,
        name=layer_name,
    )
    return assemble(
        [layer], checked.event_size, standardize, checked.dtype, name, default_name=shown
    )


def _with_layers(flow: Flow, replaced: Callable[[ContinuousFlow], ContinuousFlow]) -> Flow:
    """``flow`` with every ``ContinuousFlow`` layer (in its chains, any depth) ``replaced``."""

    def resolved(bijector):
        if isinstance(bijector, ContinuousFlow):
            return replaced(bijector)
        if isinstance(bijector, FlowChain):
            return FlowChain([resolved(b) for b in bijector.bijectors], name=bijector.name)
        return bijector

    return Flow(flow.distribution, resolved(flow.bijector), name=flow.name, context=flow.context)


def with_trace(flow: Flow, trace: str) -> Flow:
    """``flow`` with every :class:`~tfp_flows.bijectors.ContinuousFlow` computing its trace ``trace``-ly.

    The layers' weights are shared. Score a flow trained with Hutchinson's
    estimator exactly: ``with_trace(flow, "exact").log_prob(x)``.

    #### Examples

    >>> flow = cnf(2, hidden_units=(8,), num_steps=4, trace="hutchinson")
    >>> [layer.trace for layer in continuous_layers(with_trace(flow, "exact"))]
    ['exact']
    """
    if not isinstance(flow, Flow):
        raise TypeError(f"with_trace takes a tff.Flow (e.g. tff.cnf(...)), got {flow!r}.")
    return _with_layers(flow, lambda layer: layer.with_trace(trace))


def with_num_steps(flow: Flow, num_steps: int) -> Flow:
    """``flow`` with every :class:`~tfp_flows.bijectors.ContinuousFlow` solved in ``num_steps`` steps.

    The layers (and their weights) are shared: only the solver changes. Score a
    trained continuous flow with more steps to see how much of its density is
    the solver's error.

    #### Examples

    >>> flow = cnf(2, hidden_units=(8,), num_steps=4)
    >>> fine = with_num_steps(flow, 32)
    >>> [getattr(b, "num_steps", None) for b in fine.bijector.bijectors]
    [None, 32]
    """
    num_steps = check_integer("num_steps", num_steps, minimum=1)
    if not isinstance(flow, Flow):
        raise TypeError(f"with_num_steps takes a tff.Flow (e.g. tff.cnf(...)), got {flow!r}.")
    return _with_layers(flow, lambda layer: layer.with_num_steps(num_steps))


def continuous_layers(flow: Flow) -> list[ContinuousFlow]:
    """The flow's :class:`~tfp_flows.bijectors.ContinuousFlow` layers (in its chains, any depth).

    #### Examples

    >>> [layer.num_steps for layer in continuous_layers(cnf(2, hidden_units=(8,)))]
    [32]
    """

    def found(bijector):
        if isinstance(bijector, ContinuousFlow):
            return [bijector]
        if isinstance(bijector, FlowChain):
            return [layer for b in bijector.bijectors for layer in found(b)]
        return []

    return found(getattr(flow, "bijector", None))


def solver_error(flow: Flow, x: Any, context: Any = None, *, factor: int = 4) -> tf.Tensor:
    """``|log q(x)`` at the flow's ``num_steps`` ``-`` ``log q(x)`` at ``factor`` times as many ``|``.

    RK4's error falls ``~16``-fold per doubling of the steps, so with ``factor``
    ``4`` this is (to ~1%) the error of the flow's log-density against the
    exact ODE's, per point ``[...]``. With Hutchinson's trace both solves are of
    fresh copies of the layers (their probe counters at 0): the same probes, so the
    difference is the solver's alone. The adaptive solver ignores ``num_steps``:
    its difference is 0 (its error is set by ``rtol`` / ``atol``).

    #### Examples

    >>> flow = cnf(2, hidden_units=(8,), num_steps=4, gaussian_skip=False)
    >>> float(tf.reduce_max(solver_error(flow, [[0.5, -1.0]])))  # a fresh flow: v = 0, exact
    0.0
    """
    factor = check_integer("factor", factor, minimum=2)
    layers = continuous_layers(flow)
    if not layers:
        raise TypeError(
            f"solver_error takes a flow with a ContinuousFlow layer (e.g. tff.cnf(...)), "
            f"got {getattr(flow, 'name', flow)!r} with none."
        )
    steps = max(layer.num_steps for layer in layers)
    kwargs = {} if context is None else {"context": context}
    x = tf.convert_to_tensor(x, flow.dtype)
    if any(layer.trace == "hutchinson" for layer in layers):
        coarse = with_num_steps(flow, steps).log_prob(x, **kwargs)
    else:
        coarse = flow.log_prob(x, **kwargs)
    fine = with_num_steps(flow, factor * steps).log_prob(x, **kwargs)
    return tf.abs(coarse - fine)
