"""A run folder on disk: its checkpoint listing, its state file, its lock, atomic writes.

A run folder holds TensorFlow checkpoints ``ckpt-<step>.index`` /
``ckpt-<step>.data-*``, the state file ``checkpoint`` that
``tf.train.CheckpointManager`` reads, ``history.json`` and, while a run writes
to it, the lock file ``.lock``. Rules that keep it honest:

* Checkpoints are found by listing the folder (:func:`list_checkpoints`); the
  state file is rewritten from that list (:func:`repair_state`), so a missing,
  garbled or crafted state file can neither hide checkpoints nor make
  TensorFlow's clean-up delete files outside the folder.
* One run at a time (:class:`RunFolderLock`): a lock file with the owner's pid
  and host; the lock of a process that no longer exists is taken over.
* Every file is written atomically (:func:`write_atomically`: a temporary
  file, then ``os.replace``).

What a checkpoint holds, and how it is restored, is
:mod:`~tfp_flows.training.checkpoints`.
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
from collections.abc import Sequence
from typing import Any

__all__ = [
    "CheckpointError",
    "RunFolderBusyError",
    "RunFolderLock",
    "list_checkpoints",
    "repair_state",
    "warn",
    "write_atomically",
    "write_state",
]

LOCK_FILE = ".lock"
STATE_FILE = "checkpoint"  # tf.train.CheckpointManager's state file
_CHECKPOINT_INDEX = re.compile(r"^ckpt-(\d+)\.index$")


class CheckpointError(Exception):
    """Base of the errors about a checkpoint folder."""


class RunFolderBusyError(CheckpointError, RuntimeError):
    """Another live process holds the folder's lock file."""


# -- files ----------------------------------------------------------------------------------------


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


def warn(message: str) -> None:
    """Prints ``tfp_flows: warning: <message>`` to standard error."""
    print(f"tfp_flows: warning: {message}", file=sys.stderr)


# -- the checkpoints a folder holds -------------------------------------------------------------


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


def repair_state(directory: str) -> list[tuple[int, str]]:
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
        warn(
            f"the checkpoint state file {path} does not match the folder "
            f"(it lists {listed or 'nothing readable'}); ignoring it"
            + (f" (never touching {foreign})" if foreign else "")
            + f" and using the checkpoints found in the folder: {found or 'none'}"
        )
    elif text is None and entries:
        warn(f"{path} is missing; using the checkpoints found in the folder: {found}")
    write_state(directory, entries, text)
    return entries


def write_state(
    directory: str, entries: Sequence[tuple[int, str]], current: str | None = None
) -> None:
    """Writes the state file listing ``entries`` (unless it says so already); removes it if none."""
    path = os.path.join(directory, STATE_FILE)
    if entries:
        if current != _state_text(entries):
            write_atomically(path, _state_text(entries))
    elif os.path.lexists(path):  # TensorFlow rejects a state naming no checkpoint
        os.remove(path)


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
                warn(
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
