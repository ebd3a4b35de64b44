"""Checkpoints of a training run: what one holds, how it is written, restored and checked.

Each checkpoint ``ckpt-<step>`` in a run folder (:mod:`~tfp_flows.training.run_folder`)
holds the flow, the optimizer, the step, the :class:`~tfp_flows.training.history.History`
up to that step and a *record* of what it holds:

```none
record = {"format": 1,
          "variables": [{"name": ..., "shape": [...], "dtype": ...}, ...],  # the flow's
          "metadata": {...}}                                               # e.g. CLI settings
```

* A checkpoint is restored only into a flow whose variables (names, shapes,
  dtypes) and metadata equal its record, and every object must match
  (``assert_existing_objects_matched``): never a partial restore.
* An unreadable newest checkpoint is set aside (renamed ``*.corrupt``) with a
  printed warning and the previous one is restored; ``history.json`` is
  rewritten to the restored step.

:class:`Checkpoints` is the writer behind ``fit``'s
:class:`~tfp_flows.training.callbacks.Checkpointing` callback;
:func:`restore_flow` is the read-only restore the command line uses.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

import tensorflow as tf

from tfp_flows.training.history import History
from tfp_flows.training.run_folder import (
    CheckpointError,
    RunFolderLock,
    list_checkpoints,
    repair_state,
    warn,
    write_atomically,
    write_state,
)

__all__ = [
    "CheckpointError",
    "CheckpointMismatchError",
    "Checkpoints",
    "NoReadableCheckpointError",
    "RunFolderNotEmptyError",
    "restore_flow",
    "variable_signature",
]

RECORD_FORMAT = 1
_VALUE = "/.ATTRIBUTES/VARIABLE_VALUE"


class CheckpointMismatchError(CheckpointError, ValueError):
    """A checkpoint holds a different flow (or other metadata) than the one given."""


class NoReadableCheckpointError(CheckpointError, RuntimeError):
    """Checkpoints exist, but none of them can be read."""


class RunFolderNotEmptyError(CheckpointError, FileExistsError):
    """A fresh run was asked to write into a folder that holds another run's checkpoints."""


# -- what a checkpoint holds ---------------------------------------------------------------------


def variable_signature(module: tf.Module) -> list[dict[str, Any]]:
    """Path, shape and dtype of every variable of ``module``, in ``module.variables`` order.

    The name is the attribute path from ``module`` to the variable (as the
    checkpoint's object graph finds it), not ``variable.name``: variable names
    carry the name scopes of the flow that created them, which differ between
    two flows built alike (``real_nvp``, ``real_nvp_1``, ...).

    #### Examples

    >>> from tfp_flows.flows import real_nvp
    >>> variable_signature(real_nvp(2, num_layers=1, hidden_units=(8,)))[-1]
    {'name': 'bijector/bijectors/2/transformer/log_scale_bound', 'shape': [1], 'dtype': 'float32'}
    """
    paths = _first_paths(module)
    return [
        {"name": paths[id(v)], "shape": v.shape.as_list(), "dtype": v.dtype.name}
        for v in module.variables
    ]


def _first_paths(module: tf.Module) -> dict[int, str]:
    """The first attribute path to each variable, in ``tf.Module``'s own walk order.

    ``module._flatten(with_path=True)`` follows every path to every leaf, and a flow reaches
    its networks along many (each layer's ``parameters`` names them too): 559,265 paths and
    8 s for a small image flow. Here each module is expanded once, at its first path, in the
    same order (a module's own attributes, sorted, then its submodules). Every variable below a
    module is reached during its first expansion, so a later one would find no first path:
    the result is the full walk's, in milliseconds.
    """
    paths: dict[int, str] = {}
    expanded: set[int] = set()

    def expand(current: tf.Module, prefix: tuple) -> None:
        expanded.add(id(current))
        children = []
        for path, leaf in current._flatten(  # noqa: SLF001 (tf.Module's own walk, one level)
            recursive=False,
            predicate=lambda value: isinstance(value, (tf.Variable, tf.Module)),
            with_path=True,
        ):
            if isinstance(leaf, tf.Module):
                children.append((prefix + path, leaf))
            else:
                paths.setdefault(
                    id(leaf), "/".join(str(part).lstrip("_") for part in prefix + path)
                )
        for path, child in children:
            if id(child) not in expanded:
                expand(child, path)

    expand(module, ())
    return paths


def _describe(entry: Mapping[str, Any]) -> str:
    return f"shape {entry['shape']} {entry['dtype']}"


def _variable_differences(saved: Sequence[Mapping], current: Sequence[Mapping]) -> list[str]:
    saved_by_name = {v["name"]: v for v in saved}
    current_by_name = {v["name"]: v for v in current}
    if len(saved_by_name) != len(saved) or len(current_by_name) != len(current):
        saved_by_name = {f"variable {i} ({v['name']})": v for i, v in enumerate(saved)}
        current_by_name = {f"variable {i} ({v['name']})": v for i, v in enumerate(current)}
    out = [
        f"{name}: {_describe(saved_by_name[name])} in the checkpoint, "
        f"{_describe(current_by_name[name])} in the flow"
        for name in saved_by_name
        if name in current_by_name and saved_by_name[name] != current_by_name[name]
    ]
    out += [
        f"{name} only in the checkpoint" for name in saved_by_name if name not in current_by_name
    ]
    out += [f"{name} only in the flow" for name in current_by_name if name not in saved_by_name]
    return out


def _mismatch(prefix: str, saved: Mapping[str, Any], expected: Mapping[str, Any]) -> str | None:
    """Why ``saved`` (a checkpoint's record) does not describe ``expected``, or ``None``."""
    parts = []
    saved_meta, meta = saved.get("metadata") or {}, expected.get("metadata")
    settings = (
        []
        if meta is None
        else [
            f"{key}: {saved_meta.get(key)!r} in the checkpoint, {meta.get(key)!r} now"
            for key in sorted(set(saved_meta) | set(meta))
            if saved_meta.get(key) != meta.get(key)
        ]
    )
    if settings:
        parts.append("settings differ (" + "; ".join(settings) + ")")
    variables = _variable_differences(saved["variables"], expected["variables"])
    if variables and settings:
        parts.append(
            f"its variables differ ({len(saved['variables'])} in the checkpoint, "
            f"{len(expected['variables'])} in the flow)"
        )
    elif variables:
        shown = "; ".join(variables[:4]) + ("; ..." if len(variables) > 4 else "")
        parts.append(
            f"the flow differs ({len(saved['variables'])} variables in the checkpoint, "
            f"{len(expected['variables'])} in the flow: {shown})"
        )
    if not parts:
        return None
    return f"checkpoint {prefix} does not hold this flow: " + " and ".join(parts)


def _record(distribution: tf.Module, metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    """The record of ``distribution``; ``metadata=None`` records (and checks) no metadata."""
    return {
        "format": RECORD_FORMAT,
        "variables": variable_signature(distribution),
        "metadata": None if metadata is None else json.loads(json.dumps(dict(metadata))),
    }


class _Unreadable(Exception):
    pass


def _read_record(prefix: str) -> tuple[dict[str, Any], int, History]:
    """The record, step and history of checkpoint ``prefix``, after reading every tensor."""
    try:
        reader = tf.train.load_checkpoint(prefix)
        keys = reader.get_variable_to_shape_map()
        for key in keys:  # reads every tensor: truncated or garbled files fail here
            reader.get_tensor(key)
    except Exception as error:  # any failure to read the files means the checkpoint is unusable
        raise _Unreadable(f"{type(error).__name__}: {str(error).splitlines()[0][:200]}") from None
    if "record" + _VALUE not in keys:
        raise CheckpointMismatchError(
            f"checkpoint {prefix} has no record of what it holds (written by an older tfp_flows "
            "or by other code), so it cannot be checked against the flow; train a new run."
        )
    try:
        record = json.loads(reader.get_tensor("record" + _VALUE).decode())
        step = int(reader.get_tensor("step" + _VALUE))
        history = History(**json.loads(reader.get_tensor("history" + _VALUE).decode()))
        if not isinstance(record, dict) or not isinstance(record.get("variables"), list):
            raise TypeError("no list of variables")
    except (KeyError, TypeError, ValueError) as error:
        raise _Unreadable(f"its record is garbled ({error})") from None
    if history.steps != step:
        raise _Unreadable(f"its history has {history.steps} steps but its step is {step}")
    return record, step, history


def _variables_of(checkpoint: tf.train.Checkpoint) -> list[Any]:
    """Every variable a restore of ``checkpoint`` may write (TF and Keras 3 variables)."""
    return [
        obj
        for obj in tf.train.TrackableView(checkpoint).descendants()
        if isinstance(obj, tf.Variable)
        or (hasattr(obj, "assign") and hasattr(obj, "numpy") and hasattr(obj, "shape"))
    ]


def _restore_newest(
    directory: str, checkpoint: tf.train.Checkpoint, expected: Mapping[str, Any], set_aside: bool
) -> tuple[str, int, History] | None:
    """Restores the newest readable checkpoint matching ``expected`` into ``checkpoint``.

    Unreadable newer checkpoints are skipped with a warning (and renamed
    ``*.corrupt`` if ``set_aside``). Returns ``(prefix, step, history)`` or
    ``None`` when the folder holds no checkpoint.
    """
    entries = list_checkpoints(directory)
    if not entries:
        return None
    # A restore writes variables before it can tell a mismatch: put them back on failure.
    before = [(variable, variable.numpy()) for variable in _variables_of(checkpoint)]

    def put_back() -> None:
        for variable, value in before:
            variable.assign(value)

    problems, unreadable = [], []
    for _, prefix in reversed(entries):
        try:
            record, step, history = _read_record(prefix)
            reason = _mismatch(prefix, record, expected)
            if reason is not None:
                raise CheckpointMismatchError(reason)
            try:
                status = checkpoint.restore(prefix)
            except tf.errors.OpError as error:
                raise _Unreadable(str(error).splitlines()[0][:200]) from None
            status.assert_existing_objects_matched()
            status.expect_partial()
        except _Unreadable as error:
            put_back()
            problems.append(f"{os.path.basename(prefix)}: {error}")
            unreadable.append(prefix)
            warn(
                f"checkpoint {prefix} is unreadable ({error}); falling back to the previous "
                "checkpoint" + (" and setting it aside as *.corrupt" if set_aside else "")
            )
            continue
        except (AssertionError, ValueError) as error:  # e.g. another optimizer
            put_back()
            if isinstance(error, CheckpointMismatchError):
                raise
            raise CheckpointMismatchError(
                f"checkpoint {prefix} does not match the objects being restored: "
                f"{str(error).splitlines()[0][:300]}"
            ) from None
        for bad in unreadable if set_aside else ():
            for name in os.listdir(directory):
                if name.startswith(os.path.basename(bad) + "."):
                    os.replace(
                        os.path.join(directory, name), os.path.join(directory, name + ".corrupt")
                    )
        return prefix, step, history
    raise NoReadableCheckpointError(
        f"none of the checkpoints in {directory} can be read ({'; '.join(problems)}); "
        "nothing was restored and nothing was overwritten."
    )


def restore_flow(
    directory: str, distribution: tf.Module, metadata: Mapping[str, Any] | None = None
) -> int | None:
    """Restores the newest checkpoint in ``directory`` into ``distribution``; returns its step.

    Read-only: nothing in the folder is written. Raises
    :class:`CheckpointMismatchError` if the checkpoint holds a different flow
    or, when ``metadata`` is given, different metadata; returns ``None`` if the
    folder holds no checkpoint.

    #### Examples

    >>> import tempfile
    >>> from tfp_flows.flows import real_nvp
    >>> from tfp_flows.training import Checkpointing, fit
    >>> from tfp_flows.datasets import Banana
    >>> folder = tempfile.mkdtemp()
    >>> _ = fit(real_nvp(2, num_layers=2, hidden_units=(8,)), Banana(), steps=20,
    ...         callbacks=[Checkpointing(folder)], progress=False)
    >>> restore_flow(folder, real_nvp(2, num_layers=2, hidden_units=(8,)))
    20
    >>> restore_flow(folder, real_nvp(2, num_layers=3, hidden_units=(8,)))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    tfp_flows.training.checkpoints.CheckpointMismatchError: checkpoint .../ckpt-20 does not hold this flow: ...
    """
    restored = _restore_newest(
        directory,
        tf.train.Checkpoint(flow=distribution),
        _record(distribution, metadata),
        set_aside=False,
    )
    return None if restored is None else restored[1]


# -- the writer used by fit --------------------------------------------------------------------


class Checkpoints:
    """Flow + optimizer + step + history + record, saved by ``fit``; one writer per folder.

    Creating it takes the folder's lock and rewrites the state file from the
    folder listing. :meth:`begin` then restores (``resume=True``) or checks the
    folder holds no other run; :meth:`save` writes a checkpoint and
    ``history.json``; :meth:`close` releases the lock.

    #### Examples

    >>> import tempfile
    >>> from tfp_flows.flows import real_nvp
    >>> from tfp_flows.training import default_optimizer
    >>> folder, flow = tempfile.mkdtemp(), real_nvp(2, num_layers=1, hidden_units=(8,))
    >>> checkpoints = Checkpoints(folder, flow, default_optimizer(10), metadata={"seed": 0})
    >>> checkpoints.begin(resume=True).steps  # nothing to resume: a fresh history
    0
    >>> checkpoints.save(2, History(loss=[1.0, 0.5])); checkpoints.close()
    >>> again = Checkpoints(folder, flow, default_optimizer(10), metadata={"seed": 0})
    >>> again.begin(resume=True).loss
    [1.0, 0.5]
    >>> again.close()
    """

    def __init__(
        self,
        directory: str,
        distribution: tf.Module,
        optimizer: Any,
        *,
        metadata: Mapping[str, Any] | None = None,
        max_to_keep: int = 2,
    ):
        os.makedirs(directory, exist_ok=True)
        self.directory = directory
        self.lock = RunFolderLock(directory)
        self.record = _record(distribution, metadata or {})
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self._record_text = tf.Variable("", dtype=tf.string, trainable=False, name="record")
        self._history_text = tf.Variable("", dtype=tf.string, trainable=False, name="history")
        self.checkpoint = tf.train.Checkpoint(
            flow=distribution,
            optimizer=optimizer,
            step=self.step,
            record=self._record_text,
            history=self._history_text,
        )
        self.max_to_keep = max_to_keep
        self.history_path = os.path.join(directory, "history.json")
        self._open_manager()

    def _open_manager(self) -> None:
        """A ``tf.train.CheckpointManager`` over the state rewritten from the folder listing."""
        repair_state(self.directory)
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, self.directory, max_to_keep=self.max_to_keep
        )

    def _write_history(self, prefix: str, history: History) -> None:
        write_atomically(
            self.history_path,
            json.dumps({"checkpoint": os.path.basename(prefix), **asdict(history)}),
        )

    def save(self, step: int, history: History) -> None:
        """Saves checkpoint ``ckpt-<step>`` (``history`` must hold ``step`` steps)."""
        if history.steps != step:
            raise ValueError(f"history has {history.steps} steps, the checkpoint step is {step}.")
        self.step.assign(step)
        self._record_text.assign(json.dumps(self.record))
        self._history_text.assign(history.to_json())
        self._write_history(self.manager.save(checkpoint_number=step), history)

    def restore(self) -> History | None:
        """Restores the newest readable checkpoint; returns its history (``None``: no checkpoint).

        Raises :class:`CheckpointMismatchError` if it holds another flow or
        other metadata, :class:`NoReadableCheckpointError` if none can be read.
        """
        restored = _restore_newest(self.directory, self.checkpoint, self.record, set_aside=True)
        if restored is None:
            return None
        prefix, _, history = restored
        write_state(self.directory, list_checkpoints(self.directory))  # without those set aside
        self._open_manager()
        self._write_history(prefix, history)
        return history

    def begin(self, resume: bool) -> History:
        """The history to continue: restored (``resume``), or fresh in a folder with no checkpoint.

        Releases the lock when it raises.
        """
        try:
            if resume:
                return self.restore() or History()
            existing = list_checkpoints(self.directory)
            if existing:
                raise RunFolderNotEmptyError(
                    f"{self.directory} already holds checkpoints of a run "
                    f"({', '.join(os.path.basename(p) for _, p in existing)}); pass resume=True "
                    "to continue it, or use a new folder."
                )
            return History()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Releases the folder's lock."""
        self.lock.release()
