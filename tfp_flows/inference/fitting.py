"""``fit_surrogate``: variational inference through ``tff.fit``'s compiled loop.

Maximises the ELBO of a surrogate ``q`` against an unnormalised target ``p~``
(a pinned model) by minimising the reverse KL,

```none
loss(theta) = (1/S) sum_{s=1..S} [log q_theta(z_s) - log p~(z_s)],   z_s ~ q_theta (reparametrised)
ELBO = -loss <= log Z,  with equality iff q = p~ / Z
```

in the surrogate and, as ``tfp.vi.fit_surrogate_posterior`` does, in the target's own trainable
variables ``omega`` (a prior scale in a ``tf.Variable``): maximising
the ELBO in ``omega`` too is variational EM (``train_target=False`` freezes
them). It runs with :func:`tfp_flows.fit`'s machinery: many steps per XLA-compiled call,
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

import inspect
from typing import Any

import tensorflow as tf
from tensorflow_probability import distributions as tfd

from tfp_flows._internal.checks import check_integer, check_positive_float
from tfp_flows.training import History, ReverseKL, fit
from tfp_flows.training.sources import Batch

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
    train_target: bool = True,
    **fit_kwargs: Any,
) -> History:
    """Fits ``surrogate`` to ``target`` by reverse KL (maximum ELBO) with :func:`tfp_flows.fit`.

    Args:
      surrogate: the distribution to fit (e.g. :func:`surrogate_posterior`).
      target: the unnormalised target: a pinned joint distribution, a
        distribution, or a callable ``log p~`` (called with the draws' parts as
        ``tfp.vi`` does).
      steps: optimizer steps.
      sample_size: draws of the surrogate per step; a step's cost grows with
        it. 256 keeps small models' gradients steady; on a large model fewer
        draws reach the same ELBO sooner (TFP's radon model, 88 latent
        dimensions and 919 observations: 10,000 steps of 32 draws reach ELBO
        -1066.11 in the wall time of ``tfp.vi``'s 10,000 steps of 4 draws,
        -1067.28, where 256 draws take 2.9x as long; ``benchmarks/radon_vi.py``).
      optimizer: a Keras 3 or tf_keras optimizer; default Adam at
        ``learning_rate``, following ``schedule``.
      learning_rate: the default optimizer's (initial) learning rate.
      schedule: the default optimizer's learning rate over the run:
        ``"cosine"`` (decayed to 0 at ``steps``; a resumed run continues the
        same curve, so give it the same ``steps``) or ``"constant"``.
      train_target: ``True``: the target's own trainable variables -- every one
        the loss reads besides the surrogate's, e.g. a prior scale held in a
        ``tf.Variable`` -- are optimised with the surrogate's, maximising the
        ELBO in both (variational EM: the ELBO is a lower bound on the
        marginal likelihood, so they move towards their maximum-likelihood
        values), as ``tfp.vi.fit_surrogate_posterior`` does by default.
        ``False``: they stay as they are.
      **fit_kwargs: passed to :func:`tfp_flows.fit` (``seed``, ``progress``,
        ``callbacks`` such as ``Checkpointing(dir, resume=True)``, ``steps_per_execution``,
        ``jit_compile``, ...).

    Returns:
      The :class:`~tfp_flows.training.History`; ``loss`` is the negative ELBO
      estimate of every step (nats).

    Raises:
      TypeError, ValueError: ``steps`` not a positive integer; a target whose
        parts (names, shapes) or dtype differ from the surrogate's, named side
        by side -- all before anything is traced or trained.
    """
    steps = check_integer("steps", steps)
    if not isinstance(train_target, bool):
        raise TypeError(f"train_target must be True or False, got {train_target!r}.")
    check_target_matches(surrogate, target)
    if optimizer is None:
        import keras

        learning_rate = check_positive_float("learning_rate", learning_rate)
        if schedule == "cosine":
            learning_rate = keras.optimizers.schedules.CosineDecay(learning_rate, steps)
        elif schedule != "constant":
            raise ValueError(f"schedule must be one of {VI_SCHEDULES}, got {schedule!r}.")
        optimizer = keras.optimizers.Adam(learning_rate)
    elif schedule != "cosine" or learning_rate != DEFAULT_VI_LEARNING_RATE:
        raise ValueError(
            "learning_rate and schedule set the default optimizer; with your own "
            "optimizer=, set its learning rate there."
        )
    loss = ReverseKL(target, sample_size)
    trained: Any = surrogate
    if train_target:
        model_variables = target_variables(surrogate, loss)
        if model_variables:
            trained = _SurrogateAndTarget(surrogate, model_variables)
    return fit(trained, None, loss=loss, optimizer=optimizer, steps=steps, **fit_kwargs)


def target_variables(surrogate: tfd.Distribution, loss: ReverseKL) -> list[tf.Variable]:
    """The trainable variables ``loss`` reads besides ``surrogate``'s: the target's own.

    Found as ``tfp.vi`` finds what to train: the variables a gradient tape
    watches while the loss is computed (once, eagerly, on two draws).

    #### Examples

    >>> import tensorflow_probability as tfp
    >>> tfd = tfp.distributions
    >>> scale = tf.Variable(1.0, name="prior_scale")
    >>> q = tfd.Normal(tf.Variable(0.0), 1.0)
    >>> [v.name for v in target_variables(q, ReverseKL(tfd.Normal(0.0, scale)))]
    ['prior_scale:0']
    """
    with tf.GradientTape() as tape:
        loss(surrogate, Batch(None, seed=tf.constant([0, 0])))
    own = {v.ref() for v in surrogate.trainable_variables}
    return [v for v in tape.watched_variables() if v.ref() not in own and v.trainable]


class _SurrogateAndTarget(tf.Module):
    """The surrogate and the target's own variables, trained together by ``fit`` (variational EM).

    ``fit`` trains, checkpoints and restores ``trainable_variables``; the loss
    samples and scores ``surrogate`` through this object.
    """

    def __init__(self, surrogate: tfd.Distribution, model_variables: list[tf.Variable]):
        super().__init__(name=f"{surrogate.name}_and_target")
        self.surrogate = surrogate
        self.model_variables = list(model_variables)
        self.dtype = surrogate.dtype
        self.event_shape = surrogate.event_shape

    @property
    def trainable_variables(self) -> tuple[tf.Variable, ...]:
        return tuple(self.surrogate.trainable_variables) + tuple(self.model_variables)

    @property
    def variables(self) -> tuple[tf.Variable, ...]:
        own = tuple(self.surrogate.variables)
        seen = {v.ref() for v in own}
        return own + tuple(v for v in self.model_variables if v.ref() not in seen)

    def experimental_sample_and_log_prob(self, *args: Any, **kwargs: Any) -> Any:
        return self.surrogate.experimental_sample_and_log_prob(*args, **kwargs)

    def sample(self, *args: Any, **kwargs: Any) -> Any:
        return self.surrogate.sample(*args, **kwargs)

    def log_prob(self, *args: Any, **kwargs: Any) -> Any:
        return self.surrogate.log_prob(*args, **kwargs)


def check_target_matches(
    surrogate: tfd.Distribution,
    target: Any,
    check_dtype: bool = True,
) -> None:
    """Refuses a target whose parts or dtype differ from the surrogate's, naming both.

    A distribution target (pinned or not) must have the surrogate's structure
    (part names), part shapes and (with ``check_dtype``) dtype; a callable target taking named
    parameters must accept the surrogate's part names. Other callables cannot
    be checked before they are called.

    #### Examples

    >>> import tensorflow_probability as tfp
    >>> tfd = tfp.distributions
    >>> q = tfd.JointDistributionNamed(dict(a=tfd.Normal(0.0, 1.0), b=tfd.Normal(0.0, 1.0)))
    >>> p = tfd.JointDistributionNamed(dict(a=tfd.Normal(0.0, 1.0), c=tfd.Normal(0.0, 1.0)))
    >>> check_target_matches(q, p)
    Traceback (most recent call last):
    ...
    ValueError: the target's parts differ from the surrogate's: target {'a': [], 'c': []}, surrogate {'a': [], 'b': []}; build the surrogate from the target (surrogate_posterior(target)).
    """
    surrogate_shape = _shapes(surrogate.event_shape)
    if isinstance(target, tfd.Distribution) or hasattr(target, "unnormalized_log_prob"):
        target_shape = _shapes(target.event_shape)
        same = target_shape == surrogate_shape
        if not same:
            raise ValueError(
                f"the target's parts differ from the surrogate's: target {target_shape}, "
                f"surrogate {surrogate_shape}; build the surrogate from the target "
                "(surrogate_posterior(target))."
            )
        if not check_dtype:
            return
        target_dtypes = {tf.as_dtype(d).name for d in tf.nest.flatten(target.dtype)}
        surrogate_dtypes = {tf.as_dtype(d).name for d in tf.nest.flatten(surrogate.dtype)}
        if target_dtypes != surrogate_dtypes:
            raise TypeError(
                f"the target's parts are {'/'.join(sorted(target_dtypes))}, the surrogate's "
                f"{'/'.join(sorted(surrogate_dtypes))}: build the surrogate in the target's "
                "dtype (surrogate_posterior(target) does), or the target in the surrogate's."
            )
        return
    if callable(target) and isinstance(surrogate_shape, dict):
        try:
            parameters = inspect.signature(target).parameters.values()
        except (TypeError, ValueError):
            return
        if any(p.kind is p.VAR_KEYWORD for p in parameters):
            return
        names = sorted(
            p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        )
        if set(names) != set(surrogate_shape):
            raise ValueError(
                f"the target takes parts {names}, the surrogate draws parts "
                f"{sorted(surrogate_shape)}; they must be the same (the target is called with "
                "the draws as keyword arguments)."
            )


def _shapes(event_shape: Any) -> Any:
    """An event shape (structure) as dicts and lists of shape lists, for messages and ``==``."""
    if isinstance(event_shape, dict):
        return {key: _shapes(event_shape[key]) for key in sorted(event_shape)}
    if isinstance(event_shape, tuple) and hasattr(event_shape, "_asdict"):  # namedtuples
        return {key: _shapes(value) for key, value in event_shape._asdict().items()}
    if isinstance(event_shape, (list, tuple)):
        return [_shapes(value) for value in event_shape]
    shape = tf.TensorShape(event_shape)
    return shape.as_list() if shape.rank is not None else None
