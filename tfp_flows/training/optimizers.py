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

import keras
import numpy as np
import tensorflow as tf

from tfp_flows._internal.checks import check_positive_float

__all__ = [
    "DEFAULT_LEARNING_RATE",
    "ScaledSchedule",
    "build_optimizer",
    "check_optimizer",
    "check_optimizer_learning_rate",
    "default_optimizer",
    "default_schedule",
    "learning_rate_scale",
    "optimizer_variables",
]

DEFAULT_LEARNING_RATE = 1e-2


def default_schedule(steps: int, learning_rate: float = DEFAULT_LEARNING_RATE) -> Any:
    """:func:`default_optimizer`'s learning rate: a linear warm-up, then a cosine decay to zero over ``steps``.

    ```none
    lr(t) = learning_rate * t / w                                  t < w = min(200, steps / 10)
    lr(t) = learning_rate * (1 + cos(pi * (t - w) / (steps - w))) / 2     afterwards
    ```

    A ``keras.optimizers.schedules.CosineDecay`` (its ``warmup_steps`` ``w``
    and ``decay_steps`` ``steps - w``, at least 1 each).

    #### Examples

    >>> schedule = default_schedule(1000)
    >>> (schedule.warmup_steps, schedule.decay_steps), round(float(schedule(100)), 4)
    ((100, 900), 0.01)
    """
    import keras

    warmup = max(1, min(200, steps // 10))
    return keras.optimizers.schedules.CosineDecay(
        0.0, decay_steps=max(1, steps - warmup), warmup_target=learning_rate, warmup_steps=warmup
    )


@keras.saving.register_keras_serializable(package="tfp_flows")
class ScaledSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """A learning rate (a schedule or a constant) times a ``scale`` that training can lower.

    ```none
    lr(t) = scale * schedule(t)          scale: a non-trainable variable, 1 to start
    ```

    :func:`default_optimizer` wraps its schedule in one, so that
    :class:`~tfp_flows.training.callbacks.ReduceLROnPlateau` can cut the rate
    of a compiled training loop without retracing it (the loop reads
    ``scale`` at every step). Wrap your own optimizer's rate in one to use
    that callback with it: ``keras.optimizers.Adam(ScaledSchedule(1e-3))``.

    #### Examples

    >>> schedule = ScaledSchedule(default_schedule(1000))
    >>> round(float(schedule(500)), 5)
    0.00587
    >>> _ = schedule.scale.assign(0.1)
    >>> round(float(schedule(500)), 6)
    0.000587
    >>> float(ScaledSchedule(1e-3, scale=0.5)(7))
    0.0005
    """

    def __init__(self, schedule: Any, scale: float = 1.0):
        if not isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
            schedule = check_positive_float("ScaledSchedule: the learning rate", schedule)
        self.schedule = schedule
        self.scale = tf.Variable(
            check_positive_float("ScaledSchedule: scale", scale),
            trainable=False,
            dtype=tf.float32,
            name="learning_rate_scale",
        )

    def __call__(self, step: Any) -> tf.Tensor:
        if isinstance(self.schedule, float):
            return tf.constant(self.schedule, tf.float32) * self.scale
        return self.schedule(step) * self.scale

    def get_config(self) -> dict[str, Any]:
        schedule = self.schedule
        if not isinstance(schedule, float):
            schedule = keras.saving.serialize_keras_object(schedule)
        return {"schedule": schedule, "scale": float(self.scale.numpy())}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ScaledSchedule:
        schedule = config["schedule"]
        if isinstance(schedule, dict):
            schedule = keras.saving.deserialize_keras_object(schedule)
        return cls(schedule, config["scale"])


def learning_rate_scale(optimizer: Any) -> tf.Variable | None:
    """The ``scale`` variable of ``optimizer``'s :class:`ScaledSchedule` (``None``: it has none)."""
    schedule = getattr(optimizer, "_learning_rate", None)  # Keras 3 and tf_keras: the rate given
    return schedule.scale if isinstance(schedule, ScaledSchedule) else None


def default_optimizer(
    steps: int, learning_rate: float = DEFAULT_LEARNING_RATE, schedule: Any = None
) -> Any:
    """Adam (:class:`~tfp_flows.training.fused_adam.FusedAdam`) with a linear warm-up and a cosine decay to zero over ``steps``, ``clipnorm=1``.

    ```none
    lr(t) = learning_rate * t / w                                  t < w = min(200, steps / 10)
    lr(t) = learning_rate * (1 + cos(pi * (t - w) / (steps - w))) / 2     afterwards
    ```

    ``schedule`` replaces that learning rate (default
    :func:`default_schedule` ``(steps, learning_rate)``). The rate is a
    :class:`ScaledSchedule` (``scale`` 1), which
    :class:`~tfp_flows.training.callbacks.ReduceLROnPlateau` can lower.

    #### Examples

    >>> optimizer = default_optimizer(1000)
    >>> float(optimizer.learning_rate) == 0.0  # warming up from zero
    True
    """
    from tfp_flows.training.fused_adam import FusedAdam

    if schedule is None:
        schedule = default_schedule(steps, learning_rate)
    return FusedAdam(ScaledSchedule(schedule), clipnorm=1.0)


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


def check_optimizer(optimizer: Any, variables: Sequence[tf.Variable]) -> None:
    """Refuses what cannot train ``variables``: not an optimizer, or one built for other variables.

    An optimizer object has ``apply_gradients``; a string such as ``"adam"``
    is refused (``fit`` builds its default optimizer when given ``None``). A
    Keras 3 or tf_keras optimizer that was built already must have been built
    for these variables (among others): Keras cannot add variables to a built
    optimizer. One built for exactly them (a retry after a failed ``fit``) is
    welcome.

    #### Examples

    >>> check_optimizer("adam", [])
    Traceback (most recent call last):
    ...
    TypeError: optimizer must be an optimizer object such as keras.optimizers.Adam(1e-3), got the string 'adam'; or leave optimizer=None for fit's default (Adam, warm-up then cosine decay) and set learning_rate=.
    >>> import keras
    >>> optimizer = keras.optimizers.Adam(1e-3)
    >>> optimizer.build([tf.Variable(1.0)])
    >>> check_optimizer(optimizer, [tf.Variable(2.0)])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: the optimizer was built for other variables: 0 of the 1 variables to train are among its 1; ...
    """
    if isinstance(optimizer, str):
        raise TypeError(
            "optimizer must be an optimizer object such as keras.optimizers.Adam(1e-3), got the "
            f"string {optimizer!r}; or leave optimizer=None for fit's default (Adam, warm-up then "
            "cosine decay) and set learning_rate=."
        )
    if not callable(getattr(optimizer, "apply_gradients", None)):
        raise TypeError(
            "optimizer must be a Keras 3 or tf_keras optimizer (with apply_gradients), such as "
            f"keras.optimizers.Adam(1e-3), got {type(optimizer).__name__}: {optimizer!r}."
        )
    known = _built_for(optimizer)
    if known is None:
        return
    keys = [optimizer._var_key(v) for v in variables]
    found = sum(key in known for key in keys)
    if found < len(keys):
        raise ValueError(
            f"the optimizer was built for other variables: {found} of the {len(keys)} variables "
            f"to train are among its {len(known)}; Keras cannot add variables to a built "
            "optimizer. Pass a new optimizer (one per flow), or optimizer=None."
        )


def _built_for(optimizer: Any) -> Any:
    """The keys of the variables a built Keras 3 / tf_keras optimizer serves; ``None``: not built."""
    if not callable(getattr(optimizer, "_var_key", None)):
        return None
    indices = getattr(optimizer, "_trainable_variables_indices", None)  # Keras 3
    if indices is not None:
        return indices if getattr(optimizer, "built", False) else None
    indices = getattr(optimizer, "_index_dict", None)  # tf_keras (set when built)
    return indices if indices is not None and getattr(optimizer, "_built", True) else None


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
