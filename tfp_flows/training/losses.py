"""Training losses: ``loss(distribution, batch) -> scalar`` to minimise.

A loss is any callable taking the distribution being trained and one
:class:`~tfp_flows.training.sources.Batch` ``(x, context, seed)`` and returning
a scalar tensor; ``fit`` and ``FlowModel`` minimise it and report it as
``loss`` / ``val_loss``. Today's loss is maximum likelihood,

```none
MaximumLikelihood:   loss(theta) = -(1/B) sum_{i=1..B} log q_theta(x_i | c_i)     (nats)
```

(``log q_theta(x_i)`` when the batch has no context: the ``context`` keyword is
then not passed at all). A loss that needs no data -- the reverse KL / negative
ELBO of a flow fitted to an unnormalised target,
``-(1/B) sum_i [log p(z_i) - log q(z_i)]`` with ``z_i ~ q`` -- has the same
shape: it draws its samples with the batch's ``seed`` (and ``context``).

#### Examples

>>> import tensorflow as tf
>>> import tensorflow_probability as tfp
>>> from tfp_flows.training.sources import Batch
>>> normal = tfp.distributions.Normal(0.0, 1.0)
>>> round(float(MaximumLikelihood()(normal, Batch(tf.constant([0.0, 0.0])))), 4)
0.9189
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import tensorflow as tf
from tensorflow_probability import distributions as tfd

from tfp_flows.evaluation import log_prob
from tfp_flows.training.sources import Batch

__all__ = ["Loss", "MaximumLikelihood"]


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
