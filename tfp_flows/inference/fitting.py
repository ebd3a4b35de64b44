"""``fit_surrogate``: variational inference through ``tff.fit``'s compiled loop.

Maximises the ELBO of a surrogate ``q`` against an unnormalised target ``p~``
(a pinned model) by minimising the reverse KL,

```none
loss(theta) = (1/S) sum_{s=1..S} [log q_theta(z_s) - log p~(z_s)],   z_s ~ q_theta (reparametrised)
ELBO = -loss <= log Z,  with equality iff q = p~ / Z
```

with :func:`tfp_flows.fit`'s machinery: many steps per XLA-compiled call,
progress bar, callbacks, checkpoints with ``resume``, and the guard that stops
on a non-finite loss with the last good weights in place. The default
optimizer is Adam with its learning rate cosine-decayed from ``2e-3`` to 0
over the run,

```none
lr(t) = 2e-3 * (1 + cos(pi * t / steps)) / 2,   t = 0, ..., steps - 1
```

Adam moves a parameter by about ``lr(t)`` per step at most, so this schedule
lets each travel ``sum_t lr(t) = 2e-3 * steps / 2``: 2 units in 2000 steps. The
default surrogate starts at the identity (zero output layers), and its output
biases must travel to the posterior's location and log-scale (the banana's
``log sd[x2] = 1.39``): from ``1e-3`` (1 unit), 3 of 18 fits (6 seeds of the
banana, the funnel and Eight Schools) stopped short at 2000 steps, with moment
errors up to 0.54 true standard deviations; from ``2e-3``, none of 30 (10
seeds each; ``benchmarks/README.md``). Larger is not better: on the 10-D
funnel a constant 1e-2 left a NeuTra chain with R-hat 1.69 where 1e-3 gave
1.01. The decay removes most of the gradient noise of the last steps: at 2000
steps on the banana the largest error of the posterior standard deviations
fell from 0.09-0.16 to 0.04-0.07 true standard deviations (3 seeds, at 1e-3,
``benchmarks/inference.py --schedule cosine`` against ``constant``).

#### Examples

>>> import tensorflow_probability as tfp
>>> from tfp_flows.inference.surrogate import surrogate_posterior
>>> tfd = tfp.distributions
>>> model = tfd.JointDistributionNamed(dict(
...     mu=tfd.Sample(tfd.Normal(0.0, 1.0), 2),
...     y=lambda mu: tfd.Independent(tfd.Normal(mu, 1.0), 1)))
>>> pinned = model.experimental_pin(y=[1.0, 2.0])   # posterior: N(y / 2, I / 2)
>>> surrogate = surrogate_posterior(pinned, num_layers=2, hidden_units=(8,))
>>> history = fit_surrogate(surrogate, pinned, steps=200, progress=False, jit_compile=False)
>>> history.steps, history.loss[-1] < history.loss[0]
(200, True)
"""

from __future__ import annotations

from typing import Any

from tensorflow_probability import distributions as tfd

from tfp_flows.checks import check_positive_float
from tfp_flows.training import History, ReverseKL, fit

__all__ = ["DEFAULT_VI_LEARNING_RATE", "VI_SCHEDULES", "fit_surrogate"]

DEFAULT_VI_LEARNING_RATE = 2e-3
VI_SCHEDULES = ("cosine", "constant")


def fit_surrogate(
    surrogate: tfd.Distribution,
    target: Any,
    *,
    steps: int,
    sample_size: int = 256,
    optimizer: Any = None,
    learning_rate: float = DEFAULT_VI_LEARNING_RATE,
    schedule: str = "cosine",
    **fit_kwargs: Any,
) -> History:
    """Fits ``surrogate`` to ``target`` by reverse KL (maximum ELBO) with :func:`tfp_flows.fit`.

    Args:
      surrogate: the distribution to fit (e.g. :func:`surrogate_posterior`).
      target: the unnormalised target: a pinned joint distribution, a
        distribution, or a callable ``log p~`` (called with the draws' parts as
        ``tfp.vi`` does).
      steps: optimizer steps.
      sample_size: draws per step.
      optimizer: a Keras 3 or tf_keras optimizer; default Adam at
        ``learning_rate``, following ``schedule``.
      learning_rate: the default optimizer's (initial) learning rate.
      schedule: the default optimizer's learning rate over the run:
        ``"cosine"`` (decayed to 0 at ``steps``; a resumed run continues the
        same curve, so give it the same ``steps``) or ``"constant"``.
      **fit_kwargs: passed to :func:`tfp_flows.fit` (``seed``, ``progress``,
        ``callbacks``, ``checkpoint_dir``, ``resume``, ``steps_per_execution``,
        ``jit_compile``, ...).

    Returns:
      The :class:`~tfp_flows.training.History`; ``loss`` is the negative ELBO
      estimate of every step (nats).
    """
    if optimizer is None:
        import keras

        learning_rate = check_positive_float("learning_rate", learning_rate)
        if schedule == "cosine":
            learning_rate = keras.optimizers.schedules.CosineDecay(learning_rate, steps)
        elif schedule != "constant":
            raise ValueError(f"schedule must be one of {VI_SCHEDULES}, got {schedule!r}.")
        optimizer = keras.optimizers.Adam(learning_rate)
    elif schedule != "cosine" or learning_rate != DEFAULT_VI_LEARNING_RATE:
        raise ValueError("learning_rate and schedule set the default optimizer; with your own "
                         "optimizer=, set its learning rate there.")
    return fit(surrogate, None, loss=ReverseKL(target, sample_size), optimizer=optimizer,
               steps=steps, **fit_kwargs)
