"""Optimizers for training: the default (Adam, warm-up, cosine decay) and helpers any optimizer needs.

Works with Keras 3 and tf_keras (Keras 2) optimizers alike.

#### Examples

>>> optimizer = build_optimizer(default_optimizer(100), [tf.Variable([1.0, 2.0])])
>>> len(optimizer_variables(optimizer)) > 0
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from tfp_flows.checks import check_positive_float

__all__ = [
    "DEFAULT_LEARNING_RATE",
    "build_optimizer",
    "check_optimizer_learning_rate",
    "default_optimizer",
    "optimizer_variables",
]

DEFAULT_LEARNING_RATE = 1e-2


def default_optimizer(steps: int, learning_rate: float = DEFAULT_LEARNING_RATE) -> Any:
    """Adam with a linear warm-up and a cosine decay to zero over ``steps``, ``clipnorm=1``.

    ```none
    lr(t) = learning_rate * t / w                                  t < w = min(200, steps / 10)
    lr(t) = learning_rate * (1 + cos(pi * (t - w) / (steps - w))) / 2     afterwards
    ```

    #### Examples

    >>> optimizer = default_optimizer(1000)
    >>> float(optimizer.learning_rate) == 0.0  # warming up from zero
    True
    """
    import keras

    warmup = max(1, min(200, steps // 10))
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0, decay_steps=max(1, steps - warmup), warmup_target=learning_rate, warmup_steps=warmup)
    return keras.optimizers.Adam(schedule, clipnorm=1.0)


def build_optimizer(optimizer: Any, variables: Sequence[tf.Variable]) -> Any:
    """Creates ``optimizer``'s slots for ``variables`` now (once), so its state can be checkpointed."""
    build = getattr(optimizer, "build", None)
    if build is not None and not getattr(optimizer, "built", True):
        build(list(variables))
    elif build is not None and not hasattr(optimizer, "built"):
        try:  # tf_keras optimizers: build once
            build(list(variables))
        except ValueError:
            pass
    return optimizer


def optimizer_variables(optimizer: Any) -> list[Any]:
    """The optimizer's own state (step counter, moments) as a list of variables."""
    variables = getattr(optimizer, "variables", ())
    return list(variables() if callable(variables) else variables)  # tf_keras legacy: a method


def check_optimizer_learning_rate(optimizer: Any) -> None:
    """Refuses an optimizer whose constant learning rate is zero, negative or not finite.

    #### Examples

    >>> import keras
    >>> check_optimizer_learning_rate(keras.optimizers.Adam(-1.0))
    Traceback (most recent call last):
    ...
    ValueError: the optimizer's learning rate must be a positive finite number, got -1.0.
    """
    value = getattr(optimizer, "_learning_rate", None)  # Keras 3 and tf_keras
    if value is None or callable(value):  # a schedule: its value changes with the step
        return
    try:
        rate = float(np.asarray(value))
    except (TypeError, ValueError):
        return
    check_positive_float("the optimizer's learning rate", rate)
