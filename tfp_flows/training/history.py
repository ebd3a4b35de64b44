"""The :class:`History` of a training run: what ``fit`` measured, step by step.

``loss[i]`` is the training loss (nats) of optimizer step ``i + 1``;
``val_loss[j]`` the validation loss measured after step ``val_steps[j]``;
``best_step`` / ``best_val_loss`` the lowest validation loss so far and its step
(tracked afresh after a resume); ``stopped_early`` whether a callback such as
:class:`~tfp_flows.training.callbacks.EarlyStopping` ended the run;
``wall_time`` the seconds spent training, summed over resumed runs. A
checkpoint stores the history up to its step (:mod:`~tfp_flows.training.checkpoints`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

__all__ = ["History"]


@dataclass
class History:
    """What ``fit`` measured: per-step training NLL and per-evaluation validation NLL (nats).

    ``best_step`` / ``best_val_loss``: the lowest validation so far;
    ``stopped_early``: an :class:`~tfp_flows.training.callbacks.EarlyStopping`
    ended the run; ``learning_rate_scale``: the factor
    :class:`~tfp_flows.training.callbacks.ReduceLROnPlateau` has cut the
    learning rate by (1: never), which a resumed run starts from.

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
    learning_rate_scale: float = 1.0
    wall_time: float = 0.0

    @property
    def steps(self) -> int:
        """Number of optimizer steps taken so far (including those before a resume)."""
        return len(self.loss)

    def to_json(self) -> str:
        """The history as a JSON object (the fields above)."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> History:
        """The history a :meth:`to_json` text holds."""
        return cls(**json.loads(text))
