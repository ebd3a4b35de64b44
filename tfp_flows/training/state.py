"""Host copies of training state (a flow's and an optimizer's variables), to put back after a failure.

#### Examples

>>> v = tf.Variable([1.0, 2.0])
>>> saved = snapshot([v])
>>> _ = v.assign([float("nan"), 0.0])
>>> all_finite_arrays(snapshot([v]))
False
>>> restore([v], saved); v.numpy().tolist()
[1.0, 2.0]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf

__all__ = ["all_finite_arrays", "restore", "snapshot"]


def snapshot(variables: Sequence[tf.Variable]) -> list[np.ndarray]:
    """The current values of ``variables`` as NumPy arrays."""
    return [v.numpy() for v in variables]


def restore(variables: Sequence[tf.Variable], values: Sequence[Any]) -> None:
    """Assigns ``values`` (from :func:`snapshot`) back to ``variables``."""
    for variable, value in zip(variables, values):
        variable.assign(value)


def all_finite_arrays(values: Sequence[np.ndarray]) -> bool:
    """Whether every entry of every array is finite (integer arrays always are)."""
    return all(np.isfinite(v).all() for v in values)
