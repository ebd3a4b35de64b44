"""Training runs on disk: the :class:`History` of a run and its :class:`Checkpoints`.

A checkpoint folder holds TensorFlow checkpoints ``ckpt-<step>.index`` /
``ckpt-<step>.data-*``, the state file ``checkpoint``, ``history.json`` and,
while a run writes to it, the lock file ``.lock``. Each checkpoint holds the
flow, the optimizer, the step, the history up to that step and a *record* of
what it holds:

```none
record = {"format": 1,
          "variables": [{"name": ..., "shape": [...], "dtype": ...}, ...],  # the flow's
          "metadata": {...}}                                               # e.g. CLI settings
```

Rules that keep a run folder honest:

* Checkpoints are found by listing the folder (``ckpt-<step>.index``); the
  state file is rewritten from that list, so a missing, garbled or crafted
  state file can neither hide checkpoints nor make TensorFlow's clean-up
  delete files outside the folder.
* A checkpoint is restored only into a flow whose variables (names, shapes,
  dtypes) and metadata equal its record, and every object must match
  (``assert_existing_objects_matched``): never a partial restore.
* An unreadable newest checkpoint is set aside (renamed ``*.corrupt``) with a
  printed warning and the previous one is restored; ``history.json`` is
  rewritten to the restored step.
* One run at a time: a lock file with the owner's pid and host; the lock of a
  process that no longer exists is taken over.

Every file is written atomically (a temporary file, then ``os.replace``).
"""

from __future__ import annotations

import json
import os
import re
import socket
import sys
import tempfile
import uuid
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import tensorflow as tf

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

RECORD_FORMAT = 1
LOCK_FILE = ".lock"
STATE_FILE = "checkpoint"  # tf.train.CheckpointManager's state file
_CHECKPOINT_INDEX = re.compile(r"^ckpt-(\d+)\.index$")
_VALUE = "/.ATTRIBUTES/VARIABLE_VALUE"


class CheckpointError(Exception):
    """Base of the errors about a checkpoint folder."""


class CheckpointMismatchError(CheckpointError, ValueError):
    """A checkpoint holds a different flow (or other metadata) than the one given."""


class NoReadableCheckpointError(CheckpointError, RuntimeError):
    """Checkpoints exist, but none of them can be read."""


class RunFolderBusyError(CheckpointError, RuntimeError):
    """Another live process holds the folder's lock file."""


class RunFolderNotEmptyError(CheckpointError, FileExistsError):
    """A fresh run was asked to write into a folder that holds another run's checkpoints."""


@dataclass
class History:
    """What ``fit`` measured: per-step training NLL and per-evaluation validation NLL (nats).

    #### Examples

    >>> history = History(loss=[3.0, 2.5], val_steps=[2], val_loss=[2.6])
    >>> history.steps, History.from_json(history.to_json()) == history
    (2, True)
    """

    loss: list[float] = field(default_factory=list)
    val_steps: list[int] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    best_step: int | None = None
    best_val_loss: float | None = None
    stopped_early: bool = False
    wall_time: float = 0.0

    @property
    def steps(self) -> int:
        """Number of optimizer steps taken so far (including those before a resume)."""
        return len(self.loss)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> History:
        return cls(**json.loads(text))


def write_atomically(path: str, text: str) -> None:
    """Writes ``text`` to ``path`` through a temporary file in the same folder and ``os.replace``.

    A reader sees the old or the new file, never a half-written one.

    #### Examples

    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "note.txt")
    >>> write_atomically(path, "hello")
    >>> open(path).read()
    'hello'
    """
    directory = os.path.dirname(path) or "."
    with tempfile.NamedTemporaryFile("w", dir=directory, delete=False, suffix=".tmp") as handle:
        try:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        except BaseException:
            handle.close()
            os.remove(handle.name)
            raise
    os.replace(handle.name, path)


def _warn(message: str) -> None:
    print(f"tfp_flows: warning: {message}", file=sys.stderr)


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
    paths: dict[int, str] = {}
    for path, variable in module._flatten(  # noqa: SLF001 (tf.Module's own walk, with paths)
        predicate=lambda value: isinstance(value, tf.Variable), with_path=True
    ):
        paths.setdefault(id(variable), "/".join(str(part).lstrip("_") for part in path))
    return [
        {"name": paths[id(v)], "shape": v.shape.as_list(), "dtype": v.dtype.name}
        for v in module.variables
    ]


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


# -- the folder --------------------------------------------------------------------------------


def list_checkpoints(directory: str) -> list[tuple[int, str]]:
    """``(step, prefix)`` of every ``ckpt-<step>.index`` in ``directory``, oldest first.

    The folder listing is the truth; the ``checkpoint`` state file is not read.

    #### Examples

    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> for name in ("ckpt-20.index", "ckpt-100.index", "ckpt-7.data-00000-of-00001", "x.index"):
    ...     open(os.path.join(folder, name), "w").close()
    >>> [step for step, _ in list_checkpoints(folder)]
    [20, 100]
    """
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    found = [
        (int(match.group(1)), os.path.join(directory, f"ckpt-{match.group(1)}"))
        for match in map(_CHECKPOINT_INDEX.match, names)
        if match
    ]
    return sorted(found)


def _state_text(entries: Sequence[tuple[int, str]]) -> str:
    """The state file listing ``entries`` (relative names), as ``tf.train.CheckpointManager``
    writes it. The timestamps (the index files' mtimes, after ``last_preserved_timestamp``)
    keep them under the manager's ``max_to_keep`` clean-up instead of preserved forever."""
    names = [os.path.basename(prefix) for _, prefix in entries]
    times = [os.path.getmtime(prefix + ".index") for _, prefix in entries]
    lines = [f'model_checkpoint_path: "{names[-1]}"']
    lines += [f'all_model_checkpoint_paths: "{name}"' for name in names]
    lines += [f"all_model_checkpoint_timestamps: {t!r}" for t in times]
    lines += [f"last_preserved_timestamp: {min(times) - 1.0!r}"]
    return "\n".join(lines) + "\n"


def _repair_state(directory: str) -> list[tuple[int, str]]:
    """Rewrites the state file from the folder listing (warning when it said otherwise)."""
    entries = list_checkpoints(directory)
    path = os.path.join(directory, STATE_FILE)
    try:
        with open(path, errors="replace") as handle:
            text = handle.read()
    except FileNotFoundError:
        text = None
    listed = [] if text is None else re.findall(r'all_model_checkpoint_paths:\s*"([^"]*)"', text)
    folder = os.path.realpath(directory)
    listed = [
        os.path.basename(name)
        if os.path.dirname(os.path.realpath(os.path.join(folder, name))) == folder
        else name
        for name in listed
    ]
    found = [os.path.basename(prefix) for _, prefix in entries]
    if text is not None and sorted(listed) != sorted(found):
        foreign = [name for name in listed if name not in found]
        _warn(
            f"the checkpoint state file {path} does not match the folder "
            f"(it lists {listed or 'nothing readable'}); ignoring it"
            + (f" (never touching {foreign})" if foreign else "")
            + f" and using the checkpoints found in the folder: {found or 'none'}"
        )
    elif text is None and entries:
        _warn(f"{path} is missing; using the checkpoints found in the folder: {found}")
    _write_state(directory, entries, text)
    return entries


def _write_state(
    directory: str, entries: Sequence[tuple[int, str]], current: str | None = None
) -> None:
    path = os.path.join(directory, STATE_FILE)
    if entries:
        if current != _state_text(entries):
            write_atomically(path, _state_text(entries))
    elif os.path.lexists(path):  # TensorFlow rejects a state naming no checkpoint
        os.remove(path)


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
            _warn(
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
    >>> from tfp_flows.training import fit
    >>> from tfp_flows.datasets import Banana
    >>> folder = tempfile.mkdtemp()
    >>> _ = fit(real_nvp(2, num_layers=2, hidden_units=(8,)), Banana(), steps=20,
    ...         checkpoint_dir=folder, progress=False)
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


# -- one writer at a time ------------------------------------------------------------------------


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return False
    return True


def _read_owner(path: str) -> dict[str, Any] | None:
    try:
        with open(path) as handle:
            text = handle.read().strip()
    except FileNotFoundError:
        return None
    try:
        owner = json.loads(text)
        if isinstance(owner, int):  # a bare pid
            owner = {"pid": owner}
        if isinstance(owner, dict) and isinstance(owner.get("pid"), int):
            return owner
    except ValueError:
        pass
    return {"pid": None, "garbled": text[:80]}


def _remove_lock(path: str, content: str) -> None:
    try:
        with open(path) as handle:
            if handle.read() != content:
                return  # someone else's lock by now
        os.remove(path)
    except FileNotFoundError:
        pass


class RunFolderLock:
    """The lock file ``directory/.lock``: ``{"pid": ..., "host": ...}`` of the process using it.

    Acquired on creation, released by :meth:`release` (or when the object is
    garbage collected, or at exit). A lock held by another live process raises
    :class:`RunFolderBusyError`; the lock of a process that no longer exists
    (or a garbled lock file) is taken over with a warning; the same process may
    take its own lock again (a run interrupted by an exception, then resumed).

    #### Examples

    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> lock = RunFolderLock(folder)
    >>> json.load(open(os.path.join(folder, ".lock")))["pid"] == os.getpid()
    True
    >>> lock.release(); os.path.exists(os.path.join(folder, ".lock"))
    False
    """

    def __init__(self, directory: str):
        self.path = os.path.join(directory, LOCK_FILE)
        host = socket.gethostname()
        self._content = json.dumps({"pid": os.getpid(), "host": host, "id": uuid.uuid4().hex})
        while True:
            try:
                self._create()
                break
            except FileExistsError:
                pass
            owner = _read_owner(self.path)
            if owner is None:
                continue  # released in between: try again
            pid, owner_host = owner.get("pid"), owner.get("host", host)
            own = pid == os.getpid() and owner_host == host  # not the same pid on another host
            if pid is not None and not own and (owner_host != host or _pid_alive(pid)):
                where = "" if owner_host == host else f" on host {owner_host}"
                raise RunFolderBusyError(
                    f"{directory} is in use by another run (process {pid}{where}, lock file "
                    f"{self.path}); wait for it to finish or use another folder. If that process "
                    "is gone, delete the lock file."
                )
            if not own:  # this process may take its own lock again
                _warn(
                    f"taking over the stale lock {self.path} of "
                    + (
                        f"process {pid}, which no longer exists"
                        if pid is not None
                        else f"an unknown owner ({owner.get('garbled')!r})"
                    )
                )
            write_atomically(self.path, self._content)
            break
        self._finalizer = weakref.finalize(self, _remove_lock, self.path, self._content)

    def _create(self) -> None:
        """Creates the lock file with its content in one step (``os.link`` fails if it exists)."""
        directory = os.path.dirname(self.path)
        with tempfile.NamedTemporaryFile("w", dir=directory, delete=False, suffix=".tmp") as handle:
            handle.write(self._content)
        try:
            os.link(handle.name, self.path)
        finally:
            os.remove(handle.name)

    def release(self) -> None:
        """Removes the lock file if it is still this lock's."""
        self._finalizer()

    def __enter__(self) -> RunFolderLock:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.release()


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
        _repair_state(self.directory)
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
        _write_state(self.directory, list_checkpoints(self.directory))  # without those set aside
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
