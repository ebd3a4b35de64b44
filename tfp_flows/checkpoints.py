"""Training runs on disk: the :class:`History` of a run and its :class:`Checkpoints`.

A run folder holds TensorFlow checkpoints of the flow, the optimizer and the
step counter, and ``history.json`` beside them; every file is written
atomically (a temporary file, then ``os.replace``).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field

import tensorflow as tf

__all__ = ["Checkpoints", "History", "write_atomically"]


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
    directory = os.path.dirname(path) or "."
    with tempfile.NamedTemporaryFile("w", dir=directory, delete=False, suffix=".tmp") as handle:
        handle.write(text)
    os.replace(handle.name, path)


class Checkpoints:
    """Flow + optimizer + step, written every ``every`` steps; history beside it."""

    def __init__(self, directory: str, distribution, optimizer, max_to_keep: int = 2):
        os.makedirs(directory, exist_ok=True)
        self.directory = directory
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        checkpoint = tf.train.Checkpoint(flow=distribution, optimizer=optimizer, step=self.step)
        self.manager = tf.train.CheckpointManager(checkpoint, directory, max_to_keep=max_to_keep)
        self.history_path = os.path.join(directory, "history.json")

    def save(self, step: int, history: History) -> None:
        self.step.assign(step)
        path = self.manager.save(checkpoint_number=step)
        write_atomically(self.history_path, json.dumps({"checkpoint": path, **asdict(history)}))

    def restore(self) -> History | None:
        """Restores the latest checkpoint; returns its history, or ``None`` if there is none."""
        if self.manager.latest_checkpoint is None:
            return None
        self.manager.checkpoint.restore(self.manager.latest_checkpoint).expect_partial()
        history = History()
        if os.path.exists(self.history_path):
            with open(self.history_path) as handle:
                saved = json.load(handle)
            saved.pop("checkpoint", None)
            history = History(**saved)
        step = int(self.step.numpy())
        history.loss = history.loss[:step]
        keep = [i for i, s in enumerate(history.val_steps) if s <= step]
        history.val_steps = [history.val_steps[i] for i in keep]
        history.val_loss = [history.val_loss[i] for i in keep]
        return history


