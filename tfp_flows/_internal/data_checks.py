"""Checks of training data: arrays and ``tf.data`` datasets, before anything trains on them.

Each check raises one error naming what was expected and what came (the first
bad row, the wrong event size, the dtype), so bad data never reaches a flow's
weights or its :class:`~tfp_flows.bijectors.Standardize` statistics.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf

__all__ = [
    "ADAPT_MAX_BATCHES",
    "ADAPT_MAX_ROWS",
    "check_context_rows",
    "check_context_spec",
    "check_data",
    "check_dataset",
    "dataset_rows",
    "event_shape_of",
]

ADAPT_MAX_ROWS = 100_000  # rows that fit a Standardize layer: from a target or a dataset's start
ADAPT_MAX_BATCHES = 100


def _is_real(dtype: Any) -> bool:
    """Integer or floating point (not bool, complex, string or object)."""
    dtype = np.dtype(dtype)
    return np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating)


def event_shape_of(event: int | Sequence[int]) -> tuple[int, ...]:
    """An event size (``n``: vectors) or an event shape (e.g. ``(8, 8, 1)``: images) as a tuple.

    #### Examples

    >>> event_shape_of(2), event_shape_of((8, 8, 1)), event_shape_of(tf.TensorShape([3]))
    ((2,), (8, 8, 1), (3,))
    """
    if isinstance(event, (int, np.integer)):
        return (int(event),)
    return tuple(int(d) for d in event)


def _rows_shape(event: int | Sequence[int], batch: str = "n") -> str:
    """``"[n, 2]"`` or ``"[n, 8, 8, 1]"``: how a batch of events is shaped, for messages."""
    return "[" + ", ".join([batch, *map(str, event_shape_of(event))]) + "]"


def check_data(
    data: Any, event_size: int | Sequence[int], dtype: tf.DType, what: str = "data"
) -> np.ndarray:
    """Returns ``data`` as a ``[n, *event_shape]`` array of ``dtype`` after checking it.

    ``event_size`` is the flow's event size ``d`` (rows ``[n, d]``) or its
    event shape (e.g. ``(8, 8, 1)``: images ``[n, 8, 8, 1]``).

    Raises ``TypeError`` for what is not a dense array of real numbers (a
    ``tf.data.Dataset``, sparse or ragged tensors, strings, bools, complex
    numbers) and ``ValueError`` naming the problem: a ragged nested list, no
    rows, a wrong event size (both sizes named), or entries that are not finite
    or beyond the range of ``dtype`` (the first bad row named).

    #### Examples

    >>> check_data([[0.0, 1.0], [2.0, float("nan")]], 2, tf.float32)
    Traceback (most recent call last):
    ...
    ValueError: data row 1 is not finite: [ 2. nan]; remove or impute non-finite rows before training (1 such rows).
    >>> check_data([[0.0, 1e300]], 2, tf.float32)
    Traceback (most recent call last):
    ...
    ValueError: data row 0 must fit in float32 (|x| <= 3.4e+38), got [0.e+000 1.e+300]; rescale the data or build the flow with dtype=tf.float64 (1 such rows).
    >>> check_data(np.zeros([5, 8, 8]), (8, 8, 1), tf.float32)
    Traceback (most recent call last):
    ...
    ValueError: data must have shape [n, 8, 8, 1], got an array of shape (5, 8, 8).
    """
    event_shape = event_shape_of(event_size)
    expected = _rows_shape(event_shape)
    if isinstance(data, (tf.data.Dataset, tf.SparseTensor, tf.RaggedTensor, dict)):
        raise TypeError(
            f"{what} must be a dense {expected} array of real numbers, got a {type(data).__name__}."
        )
    try:
        array = np.asarray(data)
    except ValueError as error:  # nested sequences of unequal lengths
        raise ValueError(
            f"{what} must be a {expected} array, got a nested sequence of unequal "
            f"lengths ({error})."
        ) from None
    if not _is_real(array.dtype):
        raise TypeError(f"{what} must be real numbers, got dtype {array.dtype}.")
    if array.ndim == 1 and event_shape == (1,):
        array = array[:, None]
    if array.ndim != 1 + len(event_shape):
        raise ValueError(f"{what} must have shape {expected}, got an array of shape {array.shape}.")
    if array.shape[1:] != event_shape:
        kind, got, flows = (
            ("size", array.shape[1], event_shape[0])
            if len(event_shape) == 1
            else ("shape", array.shape[1:], event_shape)
        )
        raise ValueError(
            f"{what} has event {kind} {got} but the flow's event {kind} is {flows} "
            f"(shape {array.shape})."
        )
    if array.shape[0] == 0:
        raise ValueError(f"{what} is empty (shape {array.shape}); a flow needs at least one row.")
    event_axes = tuple(range(1, array.ndim))
    bad = ~np.all(np.isfinite(array), axis=event_axes)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{what} row {row} is not finite: {array[row]}; remove or impute non-finite rows "
            f"before training ({int(bad.sum())} such rows)."
        )
    with np.errstate(over="ignore"):
        cast = array.astype(tf.as_dtype(dtype).as_numpy_dtype, copy=False)
    bad = ~np.all(np.isfinite(cast), axis=event_axes)
    if bad.any():  # finite in the input's dtype, beyond the flow's
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{what} row {row} must fit in {tf.as_dtype(dtype).name} (|x| <= "
            f"{np.finfo(cast.dtype).max:.3g}), got {array[row]}; rescale the data or build the "
            f"flow with dtype=tf.float64 ({int(bad.sum())} such rows)."
        )
    return cast


def check_context_rows(
    context: Any, rows: int, dtype: tf.DType, what: str = "context", context_size: int | None = None
) -> np.ndarray:
    """Returns ``context`` as a ``[rows, context_size]`` array of ``dtype`` after checking it.

    The context of a conditional flow is checked like the data (see
    :func:`check_data`: dense, real, finite, within ``dtype``), and must be 2-D
    with one row per data row (and ``context_size`` columns, when given).

    #### Examples

    >>> check_context_rows(np.zeros([5, 1]), rows=4, dtype=tf.float32)
    Traceback (most recent call last):
    ...
    ValueError: context must have one row per data row: expected 4 rows, got 5 (shape (5, 1)).
    >>> check_context_rows(np.zeros([4]), rows=4, dtype=tf.float32)
    Traceback (most recent call last):
    ...
    ValueError: context must have shape [n, context_size], got an array of shape (4,); a single context column is context[:, None].
    """
    if isinstance(context, (tf.data.Dataset, tf.SparseTensor, tf.RaggedTensor, dict)):
        raise TypeError(
            f"{what} must be a dense [n, context_size] array of real numbers, got a "
            f"{type(context).__name__}."
        )
    try:
        array = np.asarray(context)
    except ValueError as error:
        raise ValueError(
            f"{what} must be a [n, context_size] array, got a nested sequence of "
            f"unequal lengths ({error})."
        ) from None
    if array.ndim != 2:
        hint = "; a single context column is context[:, None]" if array.ndim == 1 else ""
        raise ValueError(
            f"{what} must have shape [n, context_size], got an array of shape {array.shape}{hint}."
        )
    if context_size is not None and array.shape[1] != context_size:
        raise ValueError(
            f"{what} has {array.shape[1]} columns but the flow's context size is "
            f"{context_size} (shape {array.shape})."
        )
    if array.shape[0] != rows:
        raise ValueError(
            f"{what} must have one row per data row: expected {rows} rows, got "
            f"{array.shape[0]} (shape {array.shape})."
        )
    return check_data(array, array.shape[1], dtype, what)


def check_context_spec(spec: Any, what: str = "data") -> None:
    """Checks the context part of a dataset's ``(x, context)`` elements: dense ``[batch, k]`` reals.

    #### Examples

    >>> check_context_spec(tf.TensorSpec([None], tf.float32))
    Traceback (most recent call last):
    ...
    ValueError: data must yield (x, context) with context of shape [batch, context_size], got context elements of shape (None,).
    """
    if not isinstance(spec, tf.TensorSpec):
        raise TypeError(
            f"{what} must yield (x, context) with a dense context tensor, got context "
            f"elements of type {type(spec).__name__}."
        )
    if not (spec.dtype.is_floating or spec.dtype.is_integer) or spec.dtype == tf.bool:
        raise TypeError(
            f"{what} must yield (x, context) with a real-valued context, got dtype "
            f"{spec.dtype.name}."
        )
    if spec.shape.rank is not None and spec.shape.rank != 2:
        raise ValueError(
            f"{what} must yield (x, context) with context of shape [batch, "
            f"context_size], got context elements of shape "
            f"{tuple(spec.shape.as_list())}."
        )


def check_dataset(
    dataset: tf.data.Dataset, event_size: int | Sequence[int], what: str = "data"
) -> None:
    """Checks that ``dataset`` yields dense ``[batch, *event_shape]`` batches of real numbers.

    Elements may be ``(x, ...)`` tuples (Keras style); ``x`` is checked. Raises
    ``TypeError`` for dict, ragged or sparse elements or a non-real dtype, and
    ``ValueError`` for unbatched or wrongly shaped elements or an empty dataset.
    The values themselves are checked batch by batch as they come.

    #### Examples

    >>> check_dataset(tf.data.Dataset.from_tensor_slices(tf.zeros([8, 2])), 2)
    Traceback (most recent call last):
    ...
    ValueError: data must be a tf.data.Dataset of [batch, 2] batches, got elements of shape (2,); batch it, e.g. dataset.batch(256).
    """
    spec = dataset.element_spec
    if isinstance(spec, tuple) and spec:
        spec = spec[0]
    hints = {
        dict: "map it to the tensor of rows, e.g. dataset.map(lambda d: d['x'])",
        tf.RaggedTensorSpec: "every row must have the event size: make it dense first",
        tf.SparseTensorSpec: "make it dense first: dataset.map(tf.sparse.to_dense)",
    }
    if not isinstance(spec, tf.TensorSpec):
        hint = next(
            (h for kind, h in hints.items() if isinstance(spec, kind)), "give a dataset of tensors"
        )
        raise TypeError(
            f"{what} must be a tf.data.Dataset of dense {_rows_shape(event_size, 'batch')} tensors, got "
            f"elements of type {type(spec).__name__}; {hint}."
        )
    if not (spec.dtype.is_floating or spec.dtype.is_integer) or spec.dtype == tf.bool:
        raise TypeError(
            f"{what} must be a tf.data.Dataset of real numbers, got dtype {spec.dtype.name}."
        )
    shape, event_shape = spec.shape, event_shape_of(event_size)
    if shape.rank is not None and (
        shape.rank != 1 + len(event_shape)
        or not all(d in (None, e) for d, e in zip(shape.as_list()[1:], event_shape))
    ):
        hint = (
            "batch it, e.g. dataset.batch(256)"
            if shape.rank == len(event_shape)
            else f"each row must have {event_shape[0]} entries"
            if len(event_shape) == 1
            else f"each event must have shape {event_shape}"
        )
        raise ValueError(
            f"{what} must be a tf.data.Dataset of {_rows_shape(event_shape, 'batch')} batches, "
            f"got elements of shape {tuple(shape.as_list())}; {hint}."
        )
    if int(dataset.cardinality()) == 0:
        raise ValueError(f"{what} must yield at least one batch, got an empty tf.data.Dataset.")


def dataset_rows(
    dataset: tf.data.Dataset,
    event_size: int | Sequence[int],
    dtype: tf.DType,
    max_rows: int = ADAPT_MAX_ROWS,
    max_batches: int = ADAPT_MAX_BATCHES,
    what: str = "data",
) -> np.ndarray:
    """The rows of the first batches of ``dataset`` (at most ``max_batches`` / about ``max_rows``).

    Each batch is checked with :func:`check_data`; an empty dataset raises.
    This is how ``fit`` adapts a :class:`Standardize` layer to a dataset.

    #### Examples

    >>> ds = tf.data.Dataset.from_tensor_slices(tf.ones([10, 2])).batch(4).repeat()
    >>> dataset_rows(ds, 2, tf.float32, max_rows=6).shape  # two batches of 4
    (8, 2)
    """
    batches, rows = [], 0
    for batch in dataset.take(max_batches):
        if isinstance(batch, (tuple, list)):
            batch = batch[0]
        batches.append(check_data(batch, event_size, dtype, f"{what} batch {len(batches)}"))
        rows += batches[-1].shape[0]
        if rows >= max_rows:
            break
    if not batches:
        raise ValueError(f"{what} must yield at least one batch, got an empty tf.data.Dataset.")
    return np.concatenate(batches)
