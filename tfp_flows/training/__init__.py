"""Training flows: ``fit`` and the parts it is made of, one concept per module.

| module | what it holds |
|---|---|
| :mod:`~tfp_flows.training.fitting` | :func:`fit`, the public training function composed of the parts below |
| :mod:`~tfp_flows.training.preflight` | what ``fit`` checks before anything changes: settings, data, context, loss; the compile mode |
| :mod:`~tfp_flows.training.callbacks` | :class:`Callback` (``on_train_begin``, ``on_chunk_end``, ``on_train_end``, ``close``), :class:`Validation`, :class:`EarlyStopping`, :class:`ReduceLROnPlateau`, :class:`Checkpointing`, :class:`ProgressBar`, :class:`LambdaCallback` |
| :mod:`~tfp_flows.training.sources` | :class:`Batch` ``(x, context, seed)``; array, ``tf.data``, target-distribution and conditional-target sources |
| :mod:`~tfp_flows.training.losses` | the loss seam ``loss(distribution, batch)``; :class:`MaximumLikelihood`, :class:`ReverseKL` (negative ELBO) |
| :mod:`~tfp_flows.training.flow_matching` | :class:`FlowMatching`: conditional flow matching for continuous flows (``tff.cnf``), independent or minibatch-OT pairs |
| :mod:`~tfp_flows.training.solver_check` | :func:`check_solver_error`, :class:`SolverErrorWarning`: after training a continuous flow, is its density the ODE's or the solver's error? |
| :mod:`~tfp_flows.training.step` | :func:`gradient_step` (one step + non-finite guard), :class:`NonFiniteLossError` |
| :mod:`~tfp_flows.training.loop` | :func:`make_train_chunk` (the compiled multi-step loop), :func:`make_distributed_chunk` (the same loop under a ``tf.distribute`` strategy), :func:`make_distributed_step` |
| :mod:`~tfp_flows.training.optimizers` | :func:`default_optimizer` (its :func:`default_schedule` in a :class:`ScaledSchedule`) and optimizer helpers |
| :mod:`~tfp_flows.training.fused_adam` | :class:`FusedAdam`: Keras 3's Adam with one kernel per variable's update, the default optimizer |
| :mod:`~tfp_flows.training.adaptation` | :func:`adapt_layers` (fit every adaptive layer -- ``Standardize``, ``ActNorm``, ``BatchNorm`` -- to the data as it arrives there), :func:`find_adaptive_layers`, :func:`find_standardize_layers` |
| :mod:`~tfp_flows.training.state` | host snapshots of variables, to put back after a failure |
| :mod:`~tfp_flows.training.history` | :class:`History`: per-step loss, validations, best step, wall time |
| :mod:`~tfp_flows.training.checkpoints` | :class:`~tfp_flows.training.checkpoints.Checkpoints` (what a checkpoint holds, written, restored and checked), ``restore_flow`` |
| :mod:`~tfp_flows.training.run_folder` | a run folder: its checkpoint listing and state-file repair, its lock, atomic writes |
| :mod:`~tfp_flows.training.keras_model` | :class:`~tfp_flows.training.keras_model.FlowModel`: a Keras 3 model that trains a flow with ``compile``/``fit`` |

#### Examples

>>> import numpy as np
>>> import tfp_flows as tff
>>> flow = tff.real_nvp(2, num_layers=2, hidden_units=(8,))
>>> data = np.random.default_rng(0).normal(size=(512, 2))
>>> fit(flow, data, steps=20, progress=False).steps
20
"""

from tfp_flows.training.adaptation import (
    adapt_layers,
    adapt_standardize,
    find_adaptive_layers,
    find_standardize_layers,
)
from tfp_flows.training.callbacks import (
    Callback,
    Checkpointing,
    EarlyStopping,
    LambdaCallback,
    ProgressBar,
    ReduceLROnPlateau,
    Run,
    Validation,
)
from tfp_flows.training.fitting import fit
from tfp_flows.training.flow_matching import FlowMatching
from tfp_flows.training.fused_adam import FusedAdam
from tfp_flows.training.history import History
from tfp_flows.training.loop import make_distributed_chunk, make_distributed_step, make_train_chunk
from tfp_flows.training.losses import Loss, MaximumLikelihood, ReverseKL
from tfp_flows.training.optimizers import (
    DEFAULT_LEARNING_RATE,
    ScaledSchedule,
    build_optimizer,
    default_optimizer,
    default_schedule,
    optimizer_variables,
)
from tfp_flows.training.solver_check import SolverErrorWarning, check_solver_error
from tfp_flows.training.sources import (
    ArraySource,
    Batch,
    ConditionalTargetSource,
    DatasetSource,
    DataSource,
    TargetSource,
)
from tfp_flows.training.step import NonFiniteLossError, StepOutcome, all_finite, gradient_step

__all__ = [
    "DEFAULT_LEARNING_RATE",
    "ArraySource",
    "Batch",
    "Callback",
    "Checkpointing",
    "ConditionalTargetSource",
    "DataSource",
    "DatasetSource",
    "EarlyStopping",
    "FlowMatching",
    "FusedAdam",
    "History",
    "LambdaCallback",
    "Loss",
    "MaximumLikelihood",
    "ReverseKL",
    "NonFiniteLossError",
    "ProgressBar",
    "ReduceLROnPlateau",
    "Run",
    "ScaledSchedule",
    "SolverErrorWarning",
    "StepOutcome",
    "TargetSource",
    "Validation",
    "adapt_layers",
    "adapt_standardize",
    "all_finite",
    "build_optimizer",
    "check_solver_error",
    "default_optimizer",
    "default_schedule",
    "find_adaptive_layers",
    "find_standardize_layers",
    "fit",
    "gradient_step",
    "make_distributed_chunk",
    "make_distributed_step",
    "make_train_chunk",
    "optimizer_variables",
]
