"""One maximum-likelihood gradient step of a continuous flow: backprop through the solver
against the adjoint method (issue 24: "adjoint or backprop through the solver: measure which is
faster here").

For a 2-D and a 7-D :class:`~tfp_flows.bijectors.ContinuousFlow` with ``tff.cnf``'s default
velocity network (three hidden layers of 64, SiLU, 8 time frequencies; float32; weights
perturbed by N(0, 0.1^2) so the field is far from 0), one gradient of the mean negative
log-likelihood of a batch of 256 points (``log N(z(0)) + integral tr``, exact trace, the
backwards solve ``tff.fit`` differentiates), by:

- ``backprop rk4``: our fixed-step RK4 (``num_steps``, 4 evaluations each), reverse-mode
  autodiff through every step (what ``tff.fit`` does today);
- ``backprop dopri5``: our fixed-step Dormand-Prince 5 (``num_steps``, 6 evaluations each);
- ``adjoint dopri5``: ``tfp.math.ode.DormandPrince`` held to the same ``num_steps`` fixed
  steps (``first_step_size = 1 / num_steps``, step-size factors pinned to 1, tolerances so loose
  no step is rejected): the same forward solve, gradients by TFP's adjoint method (a backward
  solve of the adjoint ODE, vector-Jacobian products of ``v`` at every stage);
- ``adjoint adaptive``: ``solver="adaptive"`` (TFP's DormandPrince with step-size control at
  ``--rtol`` / ``--atol``, adjoint gradients).

Each step is a ``tf.function`` (``jit_compile=False`` for all, so the four are compiled alike:
TFP's adjoint took minutes to XLA-compile; ``--xla`` adds the fixed-step backprop under XLA),
run once to trace, then timed ``--repeats`` times side by side in one process: median process
CPU seconds and wall seconds per step. Agreement: ``|g - g_ref| / |g_ref|`` over all weights,
``g_ref`` by backprop through fixed-step Dopri5 at 4 x ``num_steps``.

    python benchmarks/cnf_gradients.py                      # the table in benchmarks/README.md
    python benchmarks/cnf_gradients.py --sizes 2 --num-steps 8 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_probability as tfp  # noqa: E402

from tfp_flows import testing  # noqa: E402
from tfp_flows.bijectors import ContinuousFlow  # noqa: E402
from tfp_flows.nn import VelocityMLP  # noqa: E402


def _layer(n: int, velocity: VelocityMLP, **settings) -> ContinuousFlow:
    return ContinuousFlow(n, velocity, dtype=tf.float32, **settings)


def _nll(layer: ContinuousFlow, x: tf.Tensor, solve=None) -> tf.Tensor:
    """Mean negative log-likelihood of ``x`` under ``N(0, I)`` pushed through ``layer``."""
    if solve is None:
        z, ildj = layer.inverse_and_log_det(x)
    else:
        z, ildj = solve(x)
    n = x.shape[-1]
    log_base = -0.5 * tf.reduce_sum(z * z, -1) - 0.5 * n * np.log(2 * np.pi)
    return -tf.reduce_mean(log_base + ildj)


def _fixed_step_tfp_solver(num_steps: int) -> tfp.math.ode.DormandPrince:
    """TFP's Dormand-Prince held to ``num_steps`` equal steps of ``1 / num_steps``."""
    return tfp.math.ode.DormandPrince(
        rtol=1e10,
        atol=1e10,
        first_step_size=1.0 / num_steps,
        safety_factor=1.0,
        min_step_size_factor=1.0,
        max_step_size_factor=1.0,
    )


def _gradient_fn(layer: ContinuousFlow, solve=None, jit_compile: bool = False):
    variables = layer.velocity_network.trainable_variables

    @tf.function(jit_compile=jit_compile, autograph=False)
    def step(x):
        with tf.GradientTape() as tape:
            loss = _nll(layer, x, solve)
        return loss, tape.gradient(loss, variables)

    return step


def _timed(fn, x, repeats: int):
    loss, grads = fn(x)  # trace (and compile)
    cpu, wall = [], []
    for _ in range(repeats):
        c0, w0 = time.process_time(), time.perf_counter()
        loss, grads = fn(x)
        _ = [g.numpy() for g in grads]
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    flat = np.concatenate([np.ravel(g.numpy()) for g in grads])
    return float(np.median(cpu)), float(np.median(wall)), float(loss), flat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2, 7])
    parser.add_argument("--num-steps", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rtol", type=float, default=1e-5)
    parser.add_argument("--atol", type=float, default=1e-6)
    parser.add_argument("--xla", action="store_true", help="add backprop rk4 under XLA")
    args = parser.parse_args()
    steps = args.num_steps
    print(
        f"batch {args.batch_size}, num_steps {steps}, adaptive rtol {args.rtol} atol {args.atol},"
        f" median of {args.repeats}, float32, TF {tf.__version__}, TFP {tfp.__version__}"
    )
    header = (
        f"{'n':>2} | {'method':<22} | {'CPU s':>7} | {'wall s':>7} | {'CPU / backprop rk4':>18}"
        f" | {'|g - g_ref| / |g_ref|':>21} | {'NLL':>9}"
    )
    print(header)
    print("-" * len(header))
    for n in args.sizes:
        velocity = VelocityMLP(
            n,
            hidden_units=(64, 64, 64),
            activation="silu",
            time_frequencies=8,
            seed=0,
            dtype=tf.float32,
        )
        testing.perturb_weights(velocity, scale=0.1, seed=1)
        x = 1.5 * tf.random.stateless_normal([args.batch_size, n], seed=[n, 2])
        reference = _gradient_fn(_layer(n, velocity, solver="dopri5", num_steps=4 * steps))
        _, g_ref = reference(x)
        g_ref = np.concatenate([np.ravel(g.numpy()) for g in g_ref])
        dopri_layer = _layer(n, velocity, solver="dopri5", num_steps=steps)
        fixed_tfp = _fixed_step_tfp_solver(steps)

        def adjoint_fixed(y, layer=dopri_layer, solver=fixed_tfp):
            flat = tf.reshape(y, [-1, layer.event_size])
            return layer._solve_adaptive(flat, None, True, None, solver=solver)

        methods = [
            ("backprop rk4", _gradient_fn(_layer(n, velocity, num_steps=steps))),
            ("backprop dopri5", _gradient_fn(dopri_layer)),
            ("adjoint dopri5 (TFP)", _gradient_fn(dopri_layer, adjoint_fixed)),
            (
                "adjoint adaptive (TFP)",
                _gradient_fn(
                    _layer(n, velocity, solver="adaptive", rtol=args.rtol, atol=args.atol)
                ),
            ),
        ]
        if args.xla:
            methods.append(
                (
                    "backprop rk4, XLA",
                    _gradient_fn(_layer(n, velocity, num_steps=steps), None, True),
                )
            )
        base_cpu = None
        for name, fn in methods:
            cpu, wall, loss, g = _timed(fn, x, args.repeats)
            base_cpu = base_cpu or cpu
            error = np.linalg.norm(g - g_ref) / np.linalg.norm(g_ref)
            print(
                f"{n:>2} | {name:<22} | {cpu:>7.3f} | {wall:>7.3f} | {cpu / base_cpu:>18.2f}"
                f" | {error:>21.2e} | {loss:>9.5f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
