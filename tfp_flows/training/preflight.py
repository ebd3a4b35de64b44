"""What ``fit`` checks and prepares before anything changes: settings, data, context, loss.

``fit`` refuses, with an error naming what was expected and what came, what
tracing its first step would otherwise find out later: settings that do not
fit the kind of data (:func:`check_source_settings`), data and validation data
(:func:`make_source`), a context present, absent or of the wrong width for
the flow (:func:`check_context`), training batches too small for ``BatchNorm``
(:func:`check_batch_norm_rows`) and a loss that is not a floating-point scalar
(:func:`check_loss`). It also picks the compile mode (:func:`default_jit_compile`).

#### Examples

>>> import numpy as np
>>> from tfp_flows.flows import real_nvp
>>> source, validation = make_source(real_nvp(2), np.random.default_rng(0).normal(size=(100, 2)),
...                                  None, None, 0.2, 32, seed=0)
>>> source.n, validation.x.shape.as_list()
(80, [20, 2])
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf
from tensorflow_probability import bijectors as tfb
from tensorflow_probability import distributions as tfd

from tfp_flows._internal.data_checks import check_context_rows, check_data
from tfp_flows.bijectors.batch_norm import BatchNorm
from tfp_flows.bijectors.chain import context_size_of
from tfp_flows.flows.log_prob import check_takes_context
from tfp_flows.training.adaptation import find_adaptive_layers
from tfp_flows.training.losses import Loss
from tfp_flows.training.sources import (
    ArraySource,
    Batch,
    ConditionalTargetSource,
    DatasetSource,
    DataSource,
    SeedSource,
    TargetSource,
    is_conditional_target,
)

__all__ = [
    "check_batch_norm_rows",
    "check_context",
    "check_loss",
    "check_source_settings",
    "default_jit_compile",
    "held_out_rows",
    "make_source",
]


def check_source_settings(
    data: Any,
    context: Any,
    validation_data: Any,
    validation_split: float,
    epochs: int | None,
    strategy: Any,
    loss: Loss,
) -> None:
    """Refuses settings that do not fit the kind of data (before any data is read)."""
    draws_samples = bool(getattr(loss, "draws_samples", False))
    if draws_samples != (data is None):
        raise ValueError(
            f"{loss!r} draws its own samples: give data=None."
            if draws_samples
            else f"data=None needs a loss that draws its own samples (e.g. tff.training.ReverseKL("
            f"target)), got {loss!r}."
        )
    if data is None:
        given = [
            name
            for name, value in [
                ("context", context),
                ("validation_data", validation_data),
                ("epochs", epochs),
                ("strategy", strategy),
                ("validation_split", validation_split or None),
            ]
            if value is not None
        ]
        if given:
            raise ValueError(
                f"fitting by {loss!r} has no data; {', '.join(given)} cannot be used "
                "with it (give steps=)."
            )
        return
    is_target = isinstance(data, tfd.Distribution) or is_conditional_target(data)
    is_dataset = isinstance(data, tf.data.Dataset)
    kind = (
        "a conditional target"
        if is_conditional_target(data)
        else "a target distribution"
        if is_target
        else "a tf.data.Dataset"
    )
    if (is_target or is_dataset) and validation_split:
        raise ValueError(
            f"validation_split must be 0 when data is {kind} (it cannot be split), got "
            f"{validation_split}; pass held-out rows as validation_data= instead."
        )
    if validation_data is not None and validation_split:
        raise ValueError("give validation_data= or validation_split=, not both.")
    if (is_target or is_dataset) and epochs is not None:
        raise ValueError(f"epochs= needs array data, got {kind}; give steps= instead.")
    if is_dataset and strategy is not None:
        raise ValueError("strategy= needs array data or a target distribution.")
    if (is_target or is_dataset) and context is not None:
        hint = (
            "yield (x, context) batches from the dataset instead"
            if is_dataset
            else "a conditional target draws its own contexts (sample_pairs)"
            if is_conditional_target(data)
            else "give arrays of rows and their context"
        )
        raise ValueError(f"context= needs array data, got {kind}; {hint}.")


def default_jit_compile(distribution: tfd.Distribution) -> bool:
    """``fit``'s mode when ``jit_compile=None``: XLA for vector flows, none for image flows.

    Measured with ``benchmarks/fit_modes.py`` (2 shared CPU cores): XLA
    trains the banana's ``real_nvp(2)`` 8x faster per step (63.8 against 7.9
    steps/s), while for ``real_nvp((8, 8, 1))`` on the digits the XLA
    compilation of the chunk took 618 s and its steps ran 13x slower (0.1
    against 1.3 steps/s). A flow whose event has more than one axis
    (``[H, W, C]``) is trained without XLA. So is a continuous flow solved by the
    adaptive solver (the XLA compilation of its adjoint gradient took minutes), or
    with Hutchinson's trace of a velocity network without ``velocity_and_jvp``
    (the second-order gradient of its tape does not compile at an unknown batch size).

    #### Examples

    >>> from tfp_flows.flows import cnf, real_nvp
    >>> default_jit_compile(real_nvp(2)), default_jit_compile(real_nvp((4, 4, 1), num_scales=1))
    (True, False)
    >>> default_jit_compile(cnf(2, hidden_units=(8,), solver="adaptive"))
    False
    """
    from tfp_flows.flows.continuous import continuous_layers  # noqa: PLC0415 (import cycle)

    for layer in continuous_layers(distribution):
        if layer.solver == "adaptive" or (
            layer.trace == "hutchinson" and not hasattr(layer.velocity_network, "velocity_and_jvp")
        ):
            return False
    event_shape = tf.nest.flatten(distribution.event_shape)
    return all(shape.rank is not None and shape.rank <= 1 for shape in event_shape)


def context_size(distribution: tfd.Distribution) -> int | None:
    """Width of the per-row context ``log_prob`` takes (0: none); ``None``: not known (not a flow)."""
    if getattr(distribution, "context", None) is not None:  # a flow with a bound context
        return 0
    size = getattr(distribution, "context_size", None)
    if isinstance(size, int):
        return size
    bijector = getattr(distribution, "bijector", None)
    return context_size_of(bijector) if isinstance(bijector, tfb.Bijector) else None


def check_context(distribution: tfd.Distribution, source: DataSource, example: Batch) -> None:
    """Refuses data whose context (present or absent, its width) the flow cannot take."""
    expected = context_size(distribution)
    if expected is None or isinstance(source, SeedSource) and example.x is None:
        return
    given = None if example.context is None else int(example.context.shape[-1])
    where = source.description
    name = getattr(distribution, "name", type(distribution).__name__)
    if expected and given is None:
        hint = (
            "pass context= with one [context_size] row per data row"
            if isinstance(source, ArraySource)
            else "yield (x, context) batches"
            if isinstance(source, DatasetSource)
            else "train on a conditional target (with sample_pairs) or on arrays with context="
        )
        raise ValueError(
            f"{name} is conditional (context_size={expected}): every row needs a "
            f"context of width {expected}, got {where} without one; {hint}."
        )
    if given is not None and not expected:
        bound = getattr(distribution, "context", None) is not None
        what = (
            "has a bound context (condition()) and takes none per row"
            if bound
            else "is unconditional (context_size=0)"
        )
        raise ValueError(
            f"{name} {what}, got {where} with a context of width {given}; build the "
            f"flow with context_size={given}, or train without a context."
        )
    if given is not None and given != expected:
        raise ValueError(
            f"{name} takes a context of width {expected} (context_size={expected}), "
            f"got {where} with a context of width {given}."
        )


def batch_norm_layers(distribution: tfd.Distribution) -> list[str]:
    """Names of the ``BatchNorm`` layers of a flow (none for other distributions)."""
    bijector = getattr(distribution, "bijector", None)
    if not isinstance(bijector, tfb.Bijector):
        return []
    return [
        layer.bijector.name
        for layer in find_adaptive_layers(bijector)
        if isinstance(layer.bijector, BatchNorm)
    ]


def check_batch_norm_rows(
    distribution: tfd.Distribution, source: DataSource, replicas: int, asked: int
) -> None:
    """Refuses training batches of fewer than 2 rows (per replica) for a flow with ``BatchNorm``.

    A ``BatchNorm`` layer normalises each training batch by its own mean and
    variance: the variance of one row is 0, so the loss rewards nothing but
    the ``1 / sqrt(epsilon)`` scale and training ends in garbage.
    """
    layers = batch_norm_layers(distribution)
    if not layers:
        return
    if isinstance(source, DatasetSource):
        source.min_rows = 2  # every batch is checked as it comes
        spec = tf.nest.flatten(source.dataset.element_spec)[0]
        rows = spec.shape[0] if spec.shape.rank else None
        if rows is not None and rows < 2:
            raise ValueError(
                f"the dataset's batches have {rows} row(s), but the flow's BatchNorm layer "
                f"{layers[0]!r} needs at least 2 rows per training batch for its batch "
                "statistics; batch the dataset by 2 or more (dataset.batch(256))."
            )
        return
    batch_size = getattr(source, "batch_size", None)
    if batch_size is None or batch_size // replicas >= 2:
        return
    shrunk = f" with only {source.n} training row(s)" if batch_size != asked else ""
    per_replica = f" per replica ({replicas} replicas)" if replicas > 1 else ""
    raise ValueError(
        f"batch_size={asked}{shrunk} gives training batches of {batch_size // replicas} "
        f"row(s){per_replica}, but the flow's BatchNorm layer {layers[0]!r} needs at least 2 "
        "rows per training batch for its batch statistics (one row has variance 0); use "
        f"batch_size >= {2 * replicas} with at least that many training rows, or build the flow "
        "without BatchNorm."
    )


def check_loss(distribution: tfd.Distribution, loss: Loss, example: Batch) -> None:
    """Evaluates ``loss`` once on the first batch (nothing changes); refuses a non-scalar value."""
    value = tf.convert_to_tensor(loss(distribution, example))
    if value.shape.rank != 0:
        rows = "" if example.x is None else f" on a batch of {int(example.x.shape[0])} rows"
        raise ValueError(
            f"loss must return a scalar (the batch's mean loss), got a tensor of shape "
            f"{value.shape.as_list()}{rows} from {loss!r}; reduce it, e.g. with tf.reduce_mean."
        )
    if not value.dtype.is_floating:
        raise TypeError(
            f"loss must return a floating-point scalar, got dtype {value.dtype.name} from {loss!r}."
        )


def held_out_rows(rows: int, validation_split: float) -> int:
    """How many of ``rows`` array rows ``validation_split`` holds out: at least one.

    >>> held_out_rows(1000, 0.1), held_out_rows(5, 0.01)
    (100, 1)
    """
    return max(1, int(round(validation_split * rows)))


def make_source(
    distribution: tfd.Distribution,
    data: Any,
    context: Any,
    validation_data: Any,
    validation_split: float,
    batch_size: int,
    seed: int,
    replicas: int = 1,
) -> tuple[DataSource, Batch | None]:
    """The checked training source and validation batch (``None``: no validation)."""
    if data is None:
        return SeedSource(seed), None
    # a vector flow's event size, or an image flow's event shape
    event_shape, dtype = tuple(distribution.event_shape.as_list()), distribution.dtype
    event_size = event_shape[0] if len(event_shape) == 1 else event_shape
    if isinstance(data, tf.data.Dataset):
        source: DataSource = DatasetSource(data, event_size, dtype)
        conditional = source.conditional
    elif is_conditional_target(data):
        source = ConditionalTargetSource(data, batch_size, seed, event_size, dtype)
        conditional = True
        check_takes_context(distribution, *(rows[:1] for rows in source.example))
    elif isinstance(data, tfd.Distribution):
        source, conditional = TargetSource(data, batch_size, seed, event_size, dtype), False
    else:
        x = check_data(data, event_size, dtype)
        c = None if context is None else check_context_rows(context, x.shape[0], dtype)
        conditional = c is not None
        if c is not None:
            check_takes_context(distribution, x[:1], c[:1])
        if validation_split:
            order = np.random.default_rng([seed, 10**6]).permutation(x.shape[0])
            n_val = held_out_rows(x.shape[0], validation_split)
            if n_val >= x.shape[0]:
                raise ValueError(f"validation_split={validation_split} leaves no training rows.")
            held, kept = order[:n_val], order[n_val:]
            validation_data = x[held] if c is None else (x[held], c[held])
            x, c = x[kept], None if c is None else c[kept]
        if batch_size > x.shape[0]:
            # the largest batch the replicas can split evenly
            rows = x.shape[0] - x.shape[0] % replicas
            if rows == 0:
                raise ValueError(
                    f"the {x.shape[0]} training rows cannot be split across the strategy's "
                    f"{replicas} replicas in sync: give at least {replicas} training rows."
                )
            split = f" (a multiple of the {replicas} replicas)" if replicas > 1 else ""
            print(
                f"fit: batch_size {batch_size} is larger than the {x.shape[0]} training "
                f"rows; using batches of {rows}{split}."
            )
            batch_size = rows
        source = ArraySource(x, batch_size, seed, context=c)
    return source, validation_batch(validation_data, conditional, event_size, dtype)


def validation_batch(
    validation_data: Any, conditional: bool, event_size: int, dtype: tf.DType
) -> Batch | None:
    """The checked validation :class:`Batch` (``(x, context)`` pairs when ``conditional``)."""
    if validation_data is None:
        return None
    if not conditional:
        return Batch(tf.constant(check_data(validation_data, event_size, dtype, "validation data")))
    if not (isinstance(validation_data, (tuple, list)) and len(validation_data) == 2):
        raise ValueError(
            "validation_data must be a pair (x, context) when training with a "
            f"context, got a {type(validation_data).__name__}."
        )
    x = check_data(validation_data[0], event_size, dtype, "validation data")
    c = check_context_rows(validation_data[1], x.shape[0], dtype, "validation context")
    return Batch(tf.constant(x), tf.constant(c))
