"""Training losses: ``loss(distribution, batch) -> scalar`` to minimise.

A loss is any callable taking the distribution being trained and one
:class:`~tfp_flows.training.sources.Batch` ``(x, context, seed)`` and returning
a scalar tensor; ``fit`` and ``FlowModel`` minimise it and report it as
``loss`` / ``val_loss``. Today's loss is maximum likelihood,

```none
MaximumLikelihood:   loss(theta) = -(1/B) sum_{i=1..B} log q_theta(x_i | c_i)     (nats)
```

(``log q_theta(x_i)`` when the batch has no context: the ``context`` keyword is
then not passed at all). A loss that needs no data draws its own samples with
the batch's ``seed``: the reverse KL to an unnormalised target ``p~``, i.e. the
negative ELBO of variational inference,

```none
ReverseKL:   loss(theta) = -(1/S) sum_{s=1..S} [log p~(z_s) - log q_theta(z_s)],   z_s ~ q_theta
           = KL(q_theta || p) - log Z   (>= -log Z, Z = the target's normalising constant)
```

(``experimental_sample_and_log_prob``: the draws are reparametrised, so the
gradient flows through ``z_s``). ``fit(q, None, loss=ReverseKL(p~))`` trains
with it; a loss marks that it needs no data with ``draws_samples = True``.

#### Examples

>>> import tensorflow as tf
>>> import tensorflow_probability as tfp
>>> from tfp_flows.training.sources import Batch
>>> normal = tfp.distributions.Normal(0.0, 1.0)
>>> round(float(MaximumLikelihood()(normal, Batch(tf.constant([0.0, 0.0])))), 4)
0.9189
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

import tensorflow as tf
from tensorflow_probability import distributions as tfd

from tfp_flows._internal.checks import check_integer
from tfp_flows.flows.log_prob import log_prob
from tfp_flows.training.sources import Batch

__all__ = ["Loss", "MaximumLikelihood", "ReverseKL", "target_log_prob_fn"]


@runtime_checkable
class Loss(Protocol):
    """``loss(distribution, batch) -> scalar tensor``, minimised by ``fit`` and ``FlowModel``."""

    def __call__(self, distribution: tfd.Distribution, batch: Batch) -> tf.Tensor: ...


class MaximumLikelihood:
    """The mean negative log-likelihood of the batch, in nats: ``-(1/B) sum_i log q(x_i | c_i)``.

    #### Examples

    >>> import tensorflow_probability as tfp
    >>> from tfp_flows.training.sources import Batch
    >>> loss = MaximumLikelihood()
    >>> float(loss(tfp.distributions.Normal(0.0, 1.0), Batch(tf.constant([1.0])))) > 0.9
    True
    """

    name = "nll"

    def __call__(self, distribution: tfd.Distribution, batch: Batch) -> tf.Tensor:
        return -tf.reduce_mean(log_prob(distribution, batch.x, batch.context))

    def __repr__(self) -> str:
        return "MaximumLikelihood()"


def _call_with_parts(fn: Callable[..., tf.Tensor], value: Any) -> tf.Tensor:
    """``fn(**value)`` for a mapping, ``fn(*value)`` for a list or tuple (not a namedtuple),
    else ``fn(value)``: how ``tfp.vi`` calls a target with a structured value."""
    if isinstance(value, Mapping):
        return fn(**value)
    if isinstance(value, (list, tuple)) and not hasattr(value, "_fields"):
        return fn(*value)
    return fn(value)


def target_log_prob_fn(target: Any) -> Callable[[Any], tf.Tensor]:
    """``value -> log p~(value)`` for an unnormalised target, however it is given.

    A pinned joint distribution (or any distribution with
    ``unnormalized_log_prob``) uses that; another distribution its ``log_prob``;
    a callable is called with the value's parts as ``tfp.vi`` calls it (a dict
    as keyword arguments, a list or tuple -- not a namedtuple -- as positional
    arguments, anything else as one argument).

    #### Examples

    >>> fn = target_log_prob_fn(lambda a, b: a + b)
    >>> float(fn([1.0, 2.0])), float(target_log_prob_fn(lambda a, b: a * b)({"a": 2.0, "b": 3.0}))
    (3.0, 6.0)
    """
    if hasattr(target, "unnormalized_log_prob"):
        return target.unnormalized_log_prob
    if isinstance(target, tfd.Distribution):
        return target.log_prob
    if callable(target):
        return lambda value: _call_with_parts(target, value)
    raise TypeError(
        "target must be a (pinned) distribution or a callable returning the "
        f"unnormalised log density, got {type(target).__name__}."
    )


class ReverseKL:
    """The negative ELBO of ``sample_size`` reparametrised draws: ``(1/S) sum_s [log q(z_s) - log p~(z_s)]``.

    Args:
      target: the unnormalised target ``log p~``: a pinned joint distribution
        (its ``unnormalized_log_prob``), a distribution (its ``log_prob``), or a
        callable called with the draws' parts as ``tfp.vi`` does (a dict as
        keyword arguments, a list or tuple as positional ones, else one argument).
      sample_size: draws per step ``S`` (a positive integer).

    The draws come from ``distribution.experimental_sample_and_log_prob`` with
    the step's seed (``Batch.seed``); the loss needs no data (``fit(q, None,
    loss=ReverseKL(...))``).

    #### Examples

    >>> import tensorflow_probability as tfp
    >>> from tfp_flows.training.sources import Batch
    >>> q = tfp.distributions.Normal(0.0, 1.0)
    >>> loss = ReverseKL(tfp.distributions.Normal(0.0, 1.0), sample_size=4)
    >>> float(loss(q, Batch(None, seed=tf.constant([1, 2]))))  # q = p: KL = 0 for every draw
    0.0
    """

    name = "neg_elbo"
    draws_samples = True

    def __init__(self, target: Any, sample_size: int = 256):
        self.target_log_prob = target_log_prob_fn(target)
        self.target = target
        self.sample_size = check_integer("sample_size", sample_size)

    def __call__(self, distribution: tfd.Distribution, batch: Batch) -> tf.Tensor:
        draws, log_q = distribution.experimental_sample_and_log_prob(
            self.sample_size, seed=batch.seed
        )
        return tf.reduce_mean(log_q - tf.cast(self.target_log_prob(draws), log_q.dtype))

    def __repr__(self) -> str:
        return f"ReverseKL({self.target!r}, sample_size={self.sample_size})"
