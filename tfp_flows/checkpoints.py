"""Compatibility: the checkpoints module moved to :mod:`tfp_flows.training.checkpoints`.

``from tfp_flows.checkpoints import Checkpoints, History, ...`` keeps working.
"""

from tfp_flows.training.checkpoints import (
    CheckpointError,
    CheckpointMismatchError,
    Checkpoints,
    History,
    NoReadableCheckpointError,
    RunFolderBusyError,
    RunFolderLock,
    RunFolderNotEmptyError,
    list_checkpoints,
    restore_flow,
    variable_signature,
    write_atomically,
)

__all__ = [
    "CheckpointError",
    "CheckpointMismatchError",
    "Checkpoints",
    "History",
    "NoReadableCheckpointError",
    "RunFolderBusyError",
    "RunFolderLock",
    "RunFolderNotEmptyError",
    "list_checkpoints",
    "restore_flow",
    "variable_signature",
    "write_atomically",
]
