"""After training a continuous flow: is its density the ODE's, or the solver's error?

A :class:`~tfp_flows.bijectors.ContinuousFlow` computes its log-density with a
fixed-step RK4 solve. Maximum likelihood trains *through* that solve: at few
steps the network can learn a field on which the discretisation error inflates
the density (measured on the two moons, ``num_steps=8``: a KL gap of -4.1 nats
as trained, impossible for a normalised density, and 8.8 nats with the ODE
solved finely). :func:`check_solver_error` scores a batch at the flow's steps and
at twice as many (RK4's error falls ~16-fold: the difference is ~94% of the
error at the flow's steps) and warns (:class:`SolverErrorWarning`) when they differ
by more than :data:`SOLVER_TOLERANCE` nats on average; ``tff.fit`` calls it at
the end of every run that trains a continuous flow.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from tfp_flows.flows.continuous import continuous_layers, solver_error
from tfp_flows.training.sources import Batch

__all__ = ["SOLVER_TOLERANCE", "SolverErrorWarning", "check_solver_error"]

SOLVER_TOLERANCE = 0.01
"""Largest mean ``|log q_k(x) - log q_2k(x)|`` (nats) ``fit`` accepts silently."""


class SolverErrorWarning(UserWarning):
    """A continuous flow's log-density differs from the ODE's by more than the tolerance."""


def check_solver_error(
    distribution: Any,
    batch: Batch,
    tolerance: float = SOLVER_TOLERANCE,
    trained_through_solver: bool = True,
) -> float | None:
    """Warns if ``distribution``'s continuous layers score ``batch`` with a solver error above ``tolerance``.

    Returns the mean error in nats (``None`` for a flow without continuous layers).
    ``trained_through_solver``: the loss solved the ODE (maximum likelihood, reverse
    KL), as opposed to flow matching; it picks the advice in the warning.

    #### Examples

    >>> import numpy as np
    >>> import tfp_flows as tff
    >>> flow = tff.cnf(2, hidden_units=(8,), num_steps=4)
    >>> check_solver_error(flow, Batch(np.zeros([4, 2], np.float32)))  # a fresh flow is exact
    0.0
    """
    layers = continuous_layers(distribution)
    if not layers:
        return None
    x = batch.x
    if x is None:  # a loss that draws its own samples (variational inference): the flow's
        if getattr(distribution, "context_size", 0) and batch.context is None:
            return None
        x = distribution.sample(256, seed=(0, 0))
    error = float(np.mean(solver_error(distribution, x, batch.context, factor=2)))
    if not np.isfinite(error) or error > tolerance:
        steps = max(layer.num_steps for layer in layers)
        names = {"rk4": "RK4", "dopri5": "Dopri5"}
        solvers = "/".join(sorted({names.get(layer.solver, layer.solver) for layer in layers}))
        fine = f"tff.flows.continuous.with_num_steps(flow, {4 * steps})"
        if trained_through_solver:
            advice = (
                "Training through the solver at few steps can learn a field on which the "
                f"solver's error inflates the density. Score it with more steps ({fine}), "
                "rebuild it with more num_steps and retrain, or train it with "
                "loss=tff.training.FlowMatching(), which does not train through the solver."
            )
        else:
            advice = (
                "Its velocity varies too fast for that many steps. Score and sample with more "
                f"steps ({fine}), or build it with more num_steps (flow matching's training "
                "cost does not depend on them)."
            )
        warnings.warn(
            f"{distribution.name}: its log-density depends on the ODE solver: on a training "
            f"batch, log q with num_steps={steps} {solvers} steps and with {2 * steps} differ by "
            f"{error:.3g} nats on average (tolerance {tolerance}), so its densities are not "
            f"those of its ODE. {advice}",
            SolverErrorWarning,
            stacklevel=3,
        )
    return error
