"""Where training batches come from: arrays, ``tf.data`` datasets, or a target distribution.

Every source yields :class:`Batch` es ``(x, context)``, ``context`` being
``None`` for unconditional data. A training step is fed in two halves, so that
many steps run in one compiled call with no Python work per step:

```none
host:   inputs = source.step_inputs(step, count)     # NumPy, leading dimension `count`
graph:  batch  = source.batch(inputs[k])             # one step's Batch, inside tf.function
```

* :class:`ArraySource` -- rows of in-memory arrays ``x`` (and ``context``):
  the inputs are row indices, a fresh permutation of all rows each epoch (the
  last partial batch is dropped, so every batch has the same shape);
* :class:`TargetSource` -- a distribution sampled afresh at every step: the
  inputs are stateless seeds ``[seed, step]``;
* :class:`ConditionalTargetSource` -- a conditional target's ``(x, context)``
  pairs (``target.sample_pairs(batch_size, seed)``) drawn afresh at every
  step, with the same stateless seeds;
* :class:`DatasetSource` -- a ``tf.data.Dataset`` of ``x`` or ``(x, context)``
  batches: the inputs are the next batch (one step per call);
* :class:`SeedSource` -- no data at all, for a loss that draws its own samples
  (:class:`~tfp_flows.training.losses.ReverseKL`): each step gets only its
  stateless seed ``[seed, step]``.

#### Examples

>>> import numpy as np
>>> source = ArraySource(np.arange(12.0).reshape(6, 2), batch_size=2, seed=0,
...                      context=np.arange(6.0)[:, None])
>>> batch = source.batch(source.step_inputs(0, 1)[0])
>>> bool(np.all(batch.x.numpy()[:, 0] == 2 * batch.context.numpy()[:, 0]))  # rows stay paired
True
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol, runtime_checkable

import numpy as np
import tensorflow as tf
from tensorflow_probability import distributions as tfd

from tfp_flows._internal.data_checks import (
    ADAPT_MAX_BATCHES,
    ADAPT_MAX_ROWS,
    check_context_rows,
    check_context_spec,
    check_data,
    check_dataset,
    dataset_rows,
)
from tfp_flows._internal.seeds import stateless_seed

__all__ = [
    "ArraySource",
    "Batch",
    "ConditionalTargetSource",
    "DataSource",
    "DatasetSource",
    "SeedSource",
    "TargetSource",
    "as_batch",
    "dataset_pairs",
    "is_conditional_target",
]


class Batch(NamedTuple):
    """One step's data: rows ``x``, their ``context`` (``None``: unconditional), a step ``seed``.

    ``seed`` is the step's stateless seed where the source has one (a target
    distribution), for losses that draw their own samples.
    """

    x: Any
    context: Any = None
    seed: Any = None


def as_batch(value: Any) -> Batch:
    """``value`` as a :class:`Batch`: a ``Batch`` as it is, a tensor as ``Batch(x=value)``."""
    return value if isinstance(value, Batch) else Batch(value)


def is_conditional_target(data: Any) -> bool:
    """Whether ``data`` draws its own training pairs: it has ``sample_pairs(n, seed)``.

    #### Examples

    >>> from tfp_flows.datasets import Banana, ConditionalBanana
    >>> is_conditional_target(ConditionalBanana()), is_conditional_target(Banana())
    (True, False)
    """
    return callable(getattr(data, "sample_pairs", None))


@runtime_checkable
class DataSource(Protocol):
    """What ``fit`` needs of a source of training batches."""

    description: str  # "an array", "a tf.data.Dataset", ... (for error messages)
    max_steps_per_call: int | None  # None: any number of steps per compiled call

    def step_inputs(self, step: int, count: int) -> Any:
        """Host side: the inputs of steps ``step .. step + count - 1`` (a nest, leading dim ``count``)."""

    def batch(self, inputs: Any) -> Batch:
        """Graph side: one step's inputs as a :class:`Batch`."""

    def adaptation_rows(self) -> np.ndarray:
        """Rows to fit the flow's adaptive layers to (``Standardize``, ``ActNorm``, ...)."""

    def adaptation_data(self) -> tuple[np.ndarray, np.ndarray | None]:
        """``(rows, context)`` to fit the adaptive layers to (``context`` ``None``: unconditional)."""

    def example_batch(self) -> Batch:
        """The first training batch, made on the host, to check a loss on before training.

        Changes nothing (a dataset's training iterator is not advanced).
        """


class ArraySource:
    """Fixed-shape batches from in-memory arrays: a fresh permutation of the rows each epoch.

    Args:
      x: ``[n, event_size]`` rows (checked already, in the flow's dtype).
      batch_size: rows per step (at most ``n``).
      seed: seed of the permutations: epoch ``e`` uses ``default_rng([seed, e])``.
      context: ``None`` or ``[n, context_size]`` rows, shuffled with ``x``.
    """

    description = "an array"
    max_steps_per_call = None

    def __init__(
        self, x: np.ndarray, batch_size: int, seed: int, context: np.ndarray | None = None
    ):
        self.rows = x
        self.context_rows = context
        self.x = tf.constant(x)
        self.context = None if context is None else tf.constant(context)
        self.n = x.shape[0]
        self.batch_size = batch_size
        self.batches_per_epoch = self.n // batch_size
        self.seed = seed

    def step_inputs(self, step: int, count: int) -> np.ndarray:
        """Row indices ``[count, batch_size]`` of the batches of steps ``step .. step + count - 1``."""
        out = np.empty([count, self.batch_size], np.int32)
        for k in range(count):
            epoch, position = divmod(step + k, self.batches_per_epoch)
            if k == 0 or position == 0:
                permutation = np.random.default_rng([self.seed, epoch]).permutation(self.n)
            out[k] = permutation[position * self.batch_size : (position + 1) * self.batch_size]
        return out

    indices = step_inputs  # the name before the training package

    def batch(self, rows: tf.Tensor) -> Batch:
        context = None if self.context is None else tf.gather(self.context, rows)
        return Batch(tf.gather(self.x, rows), context)

    def adaptation_rows(self) -> np.ndarray:
        return self.rows

    def adaptation_data(self) -> tuple[np.ndarray, np.ndarray | None]:
        return self.rows, self.context_rows

    def example_batch(self) -> Batch:
        return self.batch(tf.constant(self.step_inputs(0, 1)[0]))


class SeedSource:
    """No data: each step's :class:`Batch` holds only its stateless seed ``[seed, step]``.

    For losses that draw their own samples (``draws_samples = True``, e.g.
    :class:`~tfp_flows.training.losses.ReverseKL`); there is nothing to adapt
    a flow's adaptive layers to, so they stay as they are.

    #### Examples

    >>> source = SeedSource(seed=3)
    >>> source.step_inputs(10, 2).tolist()
    [[3, 10], [3, 11]]
    >>> source.batch(tf.constant([3, 10])).x is None
    True
    """

    description = "no data (a loss that draws its own samples)"
    max_steps_per_call = None

    def __init__(self, seed: int):
        self.seed = seed

    def step_inputs(self, step: int, count: int) -> np.ndarray:
        return np.array([[self.seed, step + k] for k in range(count)], np.int32)

    def batch(self, seed: tf.Tensor) -> Batch:
        return Batch(None, seed=seed)

    def adaptation_rows(self) -> None:
        return None

    def adaptation_data(self) -> None:
        return None

    def example_batch(self) -> Batch:
        return self.batch(tf.constant(self.step_inputs(0, 1)[0]))


class TargetSource(SeedSource):
    """A target distribution sampled afresh at every step with the stateless seed ``[seed, step]``."""

    description = "a target distribution"

    def __init__(
        self, target: tfd.Distribution, batch_size: int, seed: int, event_size: int, dtype: tf.DType
    ):
        super().__init__(seed)
        self.target = target
        self.batch_size = batch_size
        self.event_size = event_size
        self.dtype = dtype

    def batch(self, seed: tf.Tensor) -> Batch:
        return Batch(tf.cast(self.target.sample(self.batch_size, seed=seed), self.dtype), seed=seed)

    def adaptation_rows(self) -> np.ndarray:
        # stateless: a plain TFP target reads an int seed as stateful (other rows every call)
        samples = self.target.sample(
            min(ADAPT_MAX_ROWS, 100 * self.batch_size), seed=stateless_seed(self.seed)
        )
        return check_data(samples, self.event_size, self.dtype, "target samples")

    def adaptation_data(self) -> tuple[np.ndarray, np.ndarray | None]:
        return self.adaptation_rows(), None


class ConditionalTargetSource(TargetSource):
    """A conditional target's training pairs, drawn afresh at every step: ``(x, context)``.

    ``target.sample_pairs(batch_size, seed)`` (any object with that method, e.g.
    :class:`~tfp_flows.datasets.ConditionalBanana` or
    :class:`~tfp_flows.datasets.LinearGaussianSimulator`) returns ``x`` of shape
    ``[batch_size, event_size]`` and its context ``[batch_size, context_size]``
    (one context per row, from the target's context law); it is called inside
    the compiled loop with the stateless seed ``[seed, step]``, like
    :class:`TargetSource`. Pairs drawn with ``seed`` are checked once on the
    host when the source is made (shapes, finite values).

    #### Examples

    >>> from tfp_flows.datasets import ConditionalBanana
    >>> source = ConditionalTargetSource(ConditionalBanana(), batch_size=4, seed=0,
    ...                                  event_size=2, dtype=tf.float32)
    >>> batch = source.batch(tf.constant(source.step_inputs(0, 1)[0]))
    >>> batch.x.shape, batch.context.shape
    (TensorShape([4, 2]), TensorShape([4, 1]))
    """

    description = "a conditional target"

    def __init__(self, target: Any, batch_size: int, seed: int, event_size: int, dtype: tf.DType):
        super().__init__(target, batch_size, seed, event_size, dtype)
        self.example = self._checked_pairs(min(batch_size, 16))

    def batch(self, seed: tf.Tensor) -> Batch:
        x, context = self.target.sample_pairs(self.batch_size, seed=seed)
        return Batch(tf.cast(x, self.dtype), tf.cast(context, self.dtype), seed=seed)

    def adaptation_rows(self) -> np.ndarray:
        return self.adaptation_data()[0]

    def adaptation_data(self) -> tuple[np.ndarray, np.ndarray]:
        return self._checked_pairs(min(ADAPT_MAX_ROWS, 100 * self.batch_size))

    def _checked_pairs(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``n`` pairs drawn with ``seed`` on the host, checked like array data and context."""
        pairs = self.target.sample_pairs(n, seed=self.seed)
        if not (isinstance(pairs, (tuple, list)) and len(pairs) == 2):
            raise ValueError(
                "a conditional target's sample_pairs(n, seed) must return a pair "
                f"(x, context), got a {type(pairs).__name__}."
            )
        x = check_data(np.asarray(pairs[0]), self.event_size, self.dtype, "target samples")
        context = check_context_rows(np.asarray(pairs[1]), x.shape[0], self.dtype, "target context")
        return x, context


class DatasetSource:
    """Batches of a ``tf.data.Dataset`` yielding ``x`` or ``(x, context)``, one step per call.

    Each batch is checked as it comes (finite, the event size, context rows
    matching, at least ``min_rows`` rows: 2 for a flow with ``BatchNorm``);
    the dataset is repeated, so a finite one is cycled.
    """

    description = "a tf.data.Dataset"
    max_steps_per_call = 1

    def __init__(
        self,
        dataset: tf.data.Dataset,
        event_size: int,
        dtype: tf.DType,
        what: str = "data",
        min_rows: int = 1,
    ):
        check_dataset(dataset, event_size, what)
        spec = dataset.element_spec
        self.conditional = False
        if isinstance(spec, tuple):
            if len(spec) > 2:
                raise ValueError(
                    f"{what} must yield x or (x, context) elements, got tuples of {len(spec)}; "
                    "map it to (x, context), e.g. dataset.map(lambda x, c, *_: (x, c))."
                )
            if len(spec) == 2:
                check_context_spec(spec[1], what)
                self.conditional = True
        self.dataset = dataset
        self.event_size = event_size
        self.dtype = dtype
        self.what = what
        self.min_rows = min_rows
        self._iterator = None

    def step_inputs(self, step: int, count: int) -> tuple[np.ndarray, ...]:
        if self._iterator is None:
            self._iterator = iter(self.dataset.repeat())
        try:
            element = next(self._iterator)
        except StopIteration:  # a dataset whose cardinality was unknown, and empty
            raise ValueError(
                f"{self.what} must yield at least one batch, got an empty tf.data.Dataset."
            ) from None
        return tuple(part[None] for part in self._checked(element))

    def _checked(self, element: Any) -> tuple[np.ndarray, ...]:
        """One element as ``(x,)`` or ``(x, context)`` arrays, checked."""
        if not isinstance(element, (tuple, list)):
            element = (element,)
        x = check_data(np.asarray(element[0]), self.event_size, self.dtype, f"{self.what} batch")
        if x.shape[0] < self.min_rows:
            raise ValueError(
                f"{self.what} yielded a batch of {x.shape[0]} row(s), but the flow's BatchNorm "
                f"layers need at least {self.min_rows} rows per training batch; batch the dataset "
                "with drop_remainder=True, or build the flow without BatchNorm."
            )
        if not self.conditional:
            return (x,)
        context = check_context_rows(
            np.asarray(element[1]), x.shape[0], self.dtype, f"{self.what} batch context"
        )
        return (x, context)

    def example_batch(self) -> Batch:
        for element in self.dataset.take(1):
            return Batch(*(tf.constant(part) for part in self._checked(element)))
        raise ValueError(
            f"{self.what} must yield at least one batch, got an empty tf.data.Dataset."
        )

    def batch(self, inputs: tuple[tf.Tensor, ...]) -> Batch:
        return Batch(*inputs)

    def adaptation_rows(self) -> np.ndarray:
        return dataset_rows(self.dataset, self.event_size, self.dtype, what=self.what)

    def adaptation_data(self) -> tuple[np.ndarray, np.ndarray | None]:
        if not self.conditional:
            return self.adaptation_rows(), None
        return dataset_pairs(self.dataset, self.event_size, self.dtype, self.what)


def dataset_pairs(
    dataset: tf.data.Dataset, event_size: int, dtype: tf.DType, what: str = "data"
) -> tuple[np.ndarray, np.ndarray]:
    """The ``(x, context)`` rows of the first batches of a dataset of ``(x, context)`` batches.

    As :func:`~tfp_flows._internal.data_checks.dataset_rows` (at most ``ADAPT_MAX_BATCHES``
    batches, about ``ADAPT_MAX_ROWS`` rows, each batch checked), with the context.

    #### Examples

    >>> ds = tf.data.Dataset.from_tensor_slices((tf.ones([10, 2]), tf.zeros([10, 1]))).batch(4)
    >>> [part.shape for part in dataset_pairs(ds, 2, tf.float32)]
    [(10, 2), (10, 1)]
    """
    xs, contexts, rows = [], [], 0
    for x, context in dataset.take(ADAPT_MAX_BATCHES):
        xs.append(check_data(x, event_size, dtype, f"{what} batch {len(xs)}"))
        contexts.append(
            check_context_rows(
                np.asarray(context), xs[-1].shape[0], dtype, f"{what} batch {len(contexts)} context"
            )
        )
        rows += xs[-1].shape[0]
        if rows >= ADAPT_MAX_ROWS:
            break
    if not xs:
        raise ValueError(f"{what} must yield at least one batch, got an empty tf.data.Dataset.")
    return np.concatenate(xs), np.concatenate(contexts)
