"""``npe``: neural posterior estimation -- one conditional flow ``q(theta | x)`` for every observation.

Given simulated pairs ``(theta_i, x_i)``, ``theta_i ~ p(theta)`` and
``x_i ~ p(x | theta_i)``, maximum likelihood of the conditional flow

```none
L(phi, psi) = -(1/n) sum_i log q_phi(theta_i | h_psi(x_i))
```

is minimised by ``q(theta | x) = p(theta | x)`` (the expected loss is
``E_x KL(p(theta | x) || q(theta | x))`` plus a constant), so one training run
gives the posterior of *any* observation: amortized inference (Papamakarios &
Murray 2016; Greenberg et al. 2019). ``h_psi`` is an optional summary network
trained jointly with the flow. ``npe`` standardises ``x`` (a constant map of
the context) and ``theta`` (the flow's ``Standardize`` layer, whose log-det is
part of the density), maps the flow to a bounded prior's support
(:mod:`~tfp_flows.inference.support`), and trains through
:func:`tfp_flows.fit` (its progress bar, validation, early stopping,
checkpoints and non-finite guard).

#### Examples

>>> import numpy as np
>>> import tensorflow_probability as tfp
>>> import tfp_flows as tff
>>> rng = np.random.default_rng(0)
>>> theta = rng.uniform(-1, 1, size=(2000, 2)).astype("float32")
>>> x = theta + 0.1 * rng.normal(size=(2000, 2)).astype("float32")
>>> prior = tfp.distributions.Uniform([-1.0, -1.0], [1.0, 1.0])
>>> posterior = tff.inference.npe(theta, x, prior=prior, steps=300, progress=False,
...                               flow=lambda d, context_size: tff.nsf(
...                                   d, num_layers=2, hidden_units=(32,), context_size=context_size))
>>> draws = posterior.sample(1000, x_obs=[0.5, -0.2], seed=0)
>>> draws.shape, bool(np.all(np.abs(draws) < 1))
(TensorShape([1000, 2]), True)
>>> [round(float(m), 1) for m in np.mean(draws, axis=0)]
[0.5, -0.2]
>>> posterior.sample(10)
Traceback (most recent call last):
...
ValueError: sample: pass the observation x_obs (of shape [2]) to condition the posterior on; got none.

#### References

[1] George Papamakarios and Iain Murray. Fast epsilon-free inference of simulation
    models with Bayesian conditional density estimation. NeurIPS 2016.
[2] David Greenberg, Marcel Nonnenmacher and Jakob Macke. Automatic posterior
    transformation for likelihood-free inference. ICML 2019.
[3] Jan-Matthis Lueckmann, Jan Boelts, David Greenberg, Pedro Goncalves and Jakob
    Macke. Benchmarking simulation-based inference. AISTATS 2021.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf
from tensorflow_probability import distributions as tfd

from tfp_flows._internal.checks import check_integer
from tfp_flows._internal.seeds import stateless_seed
from tfp_flows.bijectors.chain import FlowChain
from tfp_flows.bijectors.standardize import Standardize
from tfp_flows.flows.spline import nsf
from tfp_flows.inference.amortized import AmortizedPosterior, ContextEmbedding, PosteriorFlow
from tfp_flows.inference.support import FlatSupport
from tfp_flows.training.adaptation import find_standardize_layers
from tfp_flows.training.callbacks import EarlyStopping, ReduceLROnPlateau, Validation
from tfp_flows.training.fitting import fit
from tfp_flows.training.preflight import held_out_rows

__all__ = [
    "DEFAULT_NPE_FLOW",
    "LARGE_BATCH_PAIRS",
    "VALIDATIONS_PER_RUN",
    "default_batch_size",
    "npe",
]

DEFAULT_NPE_FLOW = dict(num_layers=5, hidden_units=(64, 64), bins=10)
"""The default flow of :func:`npe`: ``tff.nsf`` with these settings (sbibm's NPE uses a
neural spline flow of 5 layers of 10 bins with 50 hidden units; the benchmark,
``benchmarks/sbi.py``, measures this one)."""

VALIDATIONS_PER_RUN = 100
"""How often :func:`npe` validates a run on arrays by default: every ``steps / 100`` steps.

Early stopping puts the flow back to its best validation, so the grain matters on small budgets:
gaussian_linear (10-D) at 10^3 simulations overfits from about step 40, and validating every 100
steps (20 per run) restored step 100, C2ST 0.744 and 0.824 on observations 1-2; every 20 steps
restores step 40, 0.684 and 0.619 (published NPE: 0.694). ``benchmarks/README.md`` has the
tables."""

LARGE_BATCH_PAIRS = 50_000
"""From this many simulated pairs on, :func:`npe`'s default batch is 512 instead of 128 (same
number of steps, so four times the epochs). On the SBI benchmark's tasks at 10^5 simulations it
lowered the held-out loss, ``E_x KL(p(theta | x) || q(theta | x))`` up to a constant, by 0.52 nats
on slcp, 0.10 on two moons and 0.02 on gaussian_mixture, left gaussian_linear as it was and
raised bernoulli_glm's by 0.09; the C2ST of slcp went from 0.777 to 0.681 and of two moons
from 0.545 to 0.519 (``benchmarks/README.md``). At 10^3 and 10^4 simulations the batch stays
128."""

_DEFAULT_BATCH = 128
_SIMULATOR_ADAPTATION_ROWS = 10_000


def default_batch_size(pairs: int) -> int:
    """:func:`npe`'s batch for ``pairs`` simulated pairs: 128, or 512 from :data:`LARGE_BATCH_PAIRS`.

    >>> import tfp_flows as tff
    >>> tff.inference.default_batch_size(10_000), tff.inference.default_batch_size(100_000)
    (128, 512)
    """
    return 512 if pairs >= LARGE_BATCH_PAIRS else _DEFAULT_BATCH


def npe(
    theta: Any = None,
    x: Any = None,
    prior: tfd.Distribution | None = None,
    flow: tfd.Distribution | Callable[..., tfd.Distribution] | None = None,
    summary: Any = None,
    *,
    simulator: Callable[[tf.Tensor, Any], tf.Tensor] | None = None,
    steps: int | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    validation_split: float | None = None,
    patience: int | None = 50,
    lr_patience: int | None = 10,
    seed: int = 0,
    dtype: tf.DType = tf.float32,
    **fit_kwargs: Any,
) -> AmortizedPosterior:
    """Trains ``q(theta | summary(x))`` on simulated pairs; returns an :class:`AmortizedPosterior`.

    Args:
      theta: parameters ``[n, d]`` (for a joint prior, a structure of parts in
        the prior's structure, or flat rows in ``tf.nest.flatten`` order); or a
        ``tf.data.Dataset`` of ``(theta, x)`` batches (then ``x`` is ``None``);
        or ``None`` with a ``simulator``.
      x: the simulated observations ``[n, *x_shape]`` (row ``i`` drawn with
        ``theta[i]``). With a set summary (:class:`~tfp_flows.nn.DeepSet`),
        sets ``[n, m_max, d]`` of varying size are padded with NaN rows.
      prior: the prior ``p(theta)`` (a ``tfd.Distribution`` or a
        ``tfd.JointDistribution*``): the posterior is mapped to its support
        (samples never leave it; ``log_prob`` is ``-inf`` outside). Needed with
        a ``simulator``. ``None``: the posterior lives on ``R^d``.
      flow: a builder ``flow(event_size, context_size=k)`` (any of ``tff.nsf``,
        ``tff.real_nvp``, ``tff.maf``, ... with your settings in a lambda), or a
        built conditional flow of that event and context size. Default:
        ``tff.nsf`` with :data:`DEFAULT_NPE_FLOW`.
      summary: a summary network ``h`` (:class:`~tfp_flows.nn.MLPSummary`,
        :class:`~tfp_flows.nn.DeepSet`, or any Keras 3 layer / ``tf.Module`` /
        function of ``[B, *x_shape]``); trained with the flow. ``None``: the
        flow reads the standardised ``x``, flattened.
      simulator: ``simulator(theta, seed) -> x`` for online training: every
        step draws ``batch_size`` fresh ``theta ~ prior`` (flat ``[B, d]``) and
        their ``x`` (``[B, *x_shape]``) inside the compiled loop (TensorFlow
        ops, the stateless ``seed``). Give ``steps``.
      steps, epochs: training length (``fit``'s; an epoch is a pass over the
        training pairs); default with arrays: up to ``max(2000, 20 n / b)``
        steps, ``b`` your ``batch_size`` or 128. A run on arrays is validated
        :data:`VALIDATIONS_PER_RUN` times (every 20 steps of 2,000; with
        ``epochs``, as often in steps) unless ``callbacks`` hold a
        ``Validation``; its learning rate is cut (x0.3, from the best weights so
        far) when the validation loss has not improved for ``lr_patience``
        validations, and it is stopped early when it has not for ``patience``
        validations, and put back to the weights of the best one.
      batch_size: pairs per step; default 128, and 512 for
        :data:`LARGE_BATCH_PAIRS` array pairs or more.
      validation_split: the fraction of array pairs held out for validation
        and early stopping (default 0.1 with arrays; 0 trains on all of them).
        A dataset or a simulator has no pairs to hold out: give them
        ``validation_data=(theta, x)``, validated and early-stopped alike.
      patience: validations without improvement before stopping (``None``: no
        early stopping); the default 50 is half the run.
      lr_patience: validations without improvement before the learning rate
        is cut (:class:`~tfp_flows.training.callbacks.ReduceLROnPlateau`, with
        ``fit``'s default optimizer; at most 4 cuts, to 0.0081 of the
        schedule's rate); ``None``: never. On the SBI benchmark's tasks the
        default 10 (a tenth of the run) lowers the held-out loss of the 10-D
        posteriors by 0.17-0.46 nats and leaves two moons at 10^4 as it was
        (``benchmarks/README.md``).
      seed: seed of the flow's initialisation, the batch order and the simulator.
      dtype: the flow's dtype.
      **fit_kwargs: more of :func:`tfp_flows.fit`'s settings (``learning_rate``,
        ``optimizer``, ``callbacks``, ``progress``, ``validation_data``, ...).

    Returns:
      An :class:`AmortizedPosterior` (``sample(n, x_obs, seed)``,
      ``log_prob(theta, x_obs)``, ``condition(x_obs)``, ``history``).

    Raises:
      ValueError: theta and x of different numbers of rows, non-finite values,
        a flow of the wrong event or context size, a prior whose support does
        not hold the training ``theta``; anything ``fit`` refuses.
      TypeError: arguments of the wrong kind.
    """
    if lr_patience is not None:
        lr_patience = check_integer("npe: lr_patience", lr_patience, minimum=1)
    support = None if prior is None else FlatSupport(prior)
    streamed = isinstance(theta, tf.data.Dataset) or simulator is not None
    if streamed and validation_split is not None:
        raise ValueError(
            "npe: validation_split holds out array pairs; a tf.data.Dataset or a simulator "
            f"has none to hold out: pass validation_data=(theta, x), got "
            f"validation_split={validation_split!r}."
        )
    if isinstance(theta, tf.data.Dataset):
        return _npe_dataset(
            theta,
            x,
            support,
            flow,
            summary,
            steps,
            epochs,
            (patience, lr_patience),
            seed,
            dtype,
            fit_kwargs,
        )
    if simulator is not None:
        if epochs is not None:
            raise ValueError(
                "npe: online training with a simulator draws fresh pairs every step: give "
                f"steps=, not epochs= (got epochs={epochs!r})."
            )
        return _npe_simulator(
            theta,
            x,
            support,
            flow,
            summary,
            simulator,
            steps,
            batch_size,
            (patience, lr_patience),
            seed,
            dtype,
            fit_kwargs,
        )
    if theta is None or x is None:
        raise ValueError(
            "npe: give simulated pairs theta [n, d] and x [n, ...], a tf.data.Dataset of "
            "(theta, x) batches, or simulator= with a prior."
        )
    theta = _theta_rows(theta, support, dtype)
    x = np.asarray(x, dtype.as_numpy_dtype)
    if x.ndim < 2:
        x = x.reshape(-1, 1) if x.ndim == 1 else x
    if x.shape[0] != theta.shape[0]:
        raise ValueError(
            f"npe: theta and x must have one row per simulation: expected x with "
            f"{theta.shape[0]} rows (as theta), got {x.shape[0]} (shape {list(x.shape)})."
        )
    padded = bool(getattr(summary, "supports_masking", False)) and x.ndim == 3
    embedding = _embedding(x.shape[1:], summary, x, padded, dtype)
    context = embedding.encode(x)
    _encode_validation_pairs(fit_kwargs, embedding, support, dtype)
    posterior_flow = _posterior_flow(flow, embedding, support, theta.shape[1], seed, dtype)
    if validation_split is None:
        validation_split = 0.1 if "validation_data" not in fit_kwargs else 0.0
    if steps is None and epochs is None:
        steps = max(2000, 20 * theta.shape[0] // (batch_size or _DEFAULT_BATCH))
    if batch_size is None:
        batch_size = default_batch_size(theta.shape[0])
    if steps is None:  # the steps fit would run, so that validation keeps its grain
        steps = check_integer("epochs", epochs) * _batches_per_epoch(
            theta.shape[0], validation_split, batch_size
        )
        epochs = None
    _npe_fit_defaults(fit_kwargs, steps, (patience, lr_patience), bool(validation_split))
    history = fit(
        posterior_flow,
        theta,
        context=context,
        steps=steps,
        epochs=epochs,
        batch_size=batch_size,
        validation_split=validation_split,
        seed=seed,
        **fit_kwargs,
    )
    return AmortizedPosterior(posterior_flow, embedding, support, theta.shape[1], history)


def _theta_rows(theta: Any, support: FlatSupport | None, dtype: tf.DType) -> np.ndarray:
    """``theta`` as flat rows ``[n, d]`` (a joint prior's structure flattened), checked."""
    if support is not None and tf.nest.is_nested(support.prior.event_shape):
        if tf.nest.is_nested(theta) and not isinstance(theta, np.ndarray):
            theta = support.flatten(tf.nest.map_structure(lambda t: tf.cast(t, dtype), theta))
    theta = np.asarray(theta, dtype.as_numpy_dtype)
    if theta.ndim == 1:
        theta = theta[:, None]
    if theta.ndim != 2:
        raise ValueError(f"npe: theta must have shape [n, d], got shape {list(theta.shape)}.")
    if not np.all(np.isfinite(theta)):
        row = int(np.flatnonzero(~np.all(np.isfinite(theta), axis=1))[0])
        raise ValueError(f"npe: theta must be finite, got NaN or inf in row {row}.")
    if support is not None:
        if theta.shape[1] != support.theta_size:
            raise ValueError(
                f"npe: the prior has {support.theta_size} parameter(s): expected theta of shape "
                f"[n, {support.theta_size}], got {list(theta.shape)}."
            )
        inside = support.inside(tf.constant(theta, support.dtype)).numpy()
        if not inside.all():
            row = int(np.flatnonzero(~inside)[0])
            raise ValueError(
                f"npe: theta row {row} ({theta[row].tolist()}) is outside the prior's support "
                "(or on its boundary); expected draws of the prior."
            )
    return theta


def _validation_pairs(
    pairs: Any, embedding: ContextEmbedding, support: FlatSupport | None, dtype: tf.DType
) -> tuple[np.ndarray, np.ndarray]:
    """``validation_data=(theta, x)`` as ``fit`` takes it: flat ``theta`` rows (checked, in the
    prior's support) and ``x`` encoded as the training ``x`` is (padded sets, flattened)."""
    if len(pairs) != 2:
        raise ValueError(
            f"npe: expected validation_data=(theta, x), a pair, got {len(pairs)} items."
        )
    try:
        theta = _theta_rows(pairs[0], support, dtype)
    except ValueError as error:
        raise ValueError(f"validation_data: {error}") from None
    x = np.asarray(pairs[1], dtype.as_numpy_dtype)
    if x.ndim == 1:
        x = x.reshape(-1, 1)
    if x.shape[0] != theta.shape[0] or x.shape[1:] != embedding.x_shape:
        raise ValueError(
            f"npe: expected validation_data=(theta, x) with x of shape "
            f"[{theta.shape[0]}, {', '.join(map(str, embedding.x_shape))}] (one row per theta "
            f"row, shaped as the training x), got shape {list(x.shape)}."
        )
    return theta, embedding.encode(x, what="validation x")


def _encode_validation_pairs(
    fit_kwargs: dict, embedding: ContextEmbedding, support: FlatSupport | None, dtype: tf.DType
) -> None:
    """Puts ``fit_kwargs["validation_data"]`` given as ``(theta, x)`` arrays as ``fit`` takes it
    (:func:`_validation_pairs`): on every path, a theta outside the prior is refused instead of
    giving a validation loss of ``inf``."""
    if isinstance(fit_kwargs.get("validation_data"), (tuple, list)):
        fit_kwargs["validation_data"] = _validation_pairs(
            fit_kwargs["validation_data"], embedding, support, dtype
        )


def _npe_fit_defaults(
    fit_kwargs: dict,
    steps: int | None,
    patiences: tuple[int | None, int | None],
    split: bool,
) -> None:
    """npe's defaults for ``fit``: no progress bar, and with validation data
    (``validation_data``, or a held-out ``split`` of array pairs) validation every
    ``steps / VALIDATIONS_PER_RUN`` steps unless the ``callbacks`` hold a ``Validation``; with
    ``fit``'s default optimizer the learning rate cut after ``lr_patience`` validations without
    improvement unless they hold a ``ReduceLROnPlateau``; and early stopping after
    ``patience`` validations without improvement unless they hold an ``EarlyStopping``."""
    patience, lr_patience = patiences
    callbacks = list(fit_kwargs.pop("callbacks", ()) or ())
    if split or "validation_data" in fit_kwargs:
        if steps is not None and not any(isinstance(c, Validation) for c in callbacks):
            callbacks.append(Validation(every=max(1, steps // VALIDATIONS_PER_RUN)))
        if (
            lr_patience is not None
            and fit_kwargs.get("optimizer") is None
            and not any(isinstance(c, ReduceLROnPlateau) for c in callbacks)
        ):
            callbacks.append(ReduceLROnPlateau(patience=lr_patience))
        if patience is not None and not any(isinstance(c, EarlyStopping) for c in callbacks):
            callbacks.append(EarlyStopping(patience=patience))
    fit_kwargs["callbacks"] = callbacks
    fit_kwargs.setdefault("progress", False)


def _embedding(
    x_shape: Any, summary: Any, x: np.ndarray, padded: bool, dtype: tf.DType
) -> ContextEmbedding:
    loc, scale = ContextEmbedding.statistics(x, padded)
    return ContextEmbedding(x_shape, summary, loc, scale, dtype)


def _posterior_flow(
    flow: Any,
    embedding: ContextEmbedding,
    support: FlatSupport | None,
    theta_size: int,
    seed: int,
    dtype: tf.DType,
) -> PosteriorFlow:
    """The trainable :class:`PosteriorFlow`: the conditional flow on ``u``, then the support."""
    event_size = support.u_size if support is not None else theta_size
    context_size = embedding.output_size
    if flow is None:
        flow = nsf(
            event_size, context_size=context_size, seed=seed, dtype=dtype, **DEFAULT_NPE_FLOW
        )
    elif callable(flow) and not isinstance(flow, tfd.Distribution):
        flow = flow(event_size, context_size=context_size)
    if not isinstance(flow, tfd.Distribution) or not hasattr(flow, "bijector"):
        raise TypeError(
            f"npe: flow must be a flow builder or a built conditional flow, got "
            f"{type(flow).__name__}."
        )
    if flow.event_shape != tf.TensorShape([event_size]):
        raise ValueError(
            f"npe: the flow must have event shape [{event_size}] (the parameters"
            f"{', unconstrained' if support is not None else ''}), got {flow.event_shape}."
        )
    if getattr(flow, "context_size", 0) != context_size:
        raise ValueError(
            f"npe: the flow must take a context of width {context_size} (the "
            f"{'summary' if embedding.summary is not None else 'flattened x'}), got "
            f"context_size={getattr(flow, 'context_size', 0)}."
        )
    if flow.dtype != dtype:
        raise TypeError(f"npe: the flow has dtype {flow.dtype.name}, expected {dtype.name}.")
    layers = [flow.bijector]
    if not find_standardize_layers(flow):  # theta is standardised inside, whatever the flow
        layers.insert(0, Standardize(event_size, dtype=dtype, name="npe_theta_standardize"))
    if support is not None:
        layers.insert(0, support.bijector)
    bijector = layers[0] if len(layers) == 1 else FlowChain(layers, name="npe_posterior")
    return PosteriorFlow(flow.distribution, bijector, embedding=embedding, support=support)


class _Simulations:
    """A prior and a simulator as a conditional target: ``sample_pairs(n, seed) -> (theta, x rows)``."""

    def __init__(self, support: FlatSupport, simulator: Callable, embedding_width: int, dtype):
        self.support, self.simulator, self.width, self.dtype = (
            support,
            simulator,
            embedding_width,
            dtype,
        )

    def raw_pairs(self, n: int, seed: Any) -> tuple[tf.Tensor, tf.Tensor]:
        seed = stateless_seed(seed) if not tf.is_tensor(seed) else seed
        prior_seed, simulator_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
        theta = tf.cast(self.support.sample(n, seed=prior_seed), self.dtype)
        x = tf.cast(self.simulator(theta, simulator_seed), self.dtype)
        return theta, x

    def sample_pairs(self, n: int, seed: Any) -> tuple[tf.Tensor, tf.Tensor]:
        theta, x = self.raw_pairs(n, seed)
        return theta, tf.reshape(x, [n, self.width])


def _npe_simulator(
    theta,
    x,
    support,
    flow,
    summary,
    simulator,
    steps,
    batch_size,
    patiences,
    seed,
    dtype,
    fit_kwargs,
):
    if support is None:
        raise ValueError("npe: a simulator needs the prior to draw theta from: pass prior=.")
    if theta is not None or x is not None:
        raise ValueError("npe: give simulated pairs (theta, x) or a simulator, not both.")
    if steps is None:
        raise ValueError("npe: online training with a simulator needs steps=.")
    if not callable(simulator):
        raise TypeError(
            f"npe: simulator must be a callable simulator(theta, seed), got {simulator!r}."
        )
    draws = _Simulations(support, simulator, 0, dtype)
    _, x_host = draws.raw_pairs(_SIMULATOR_ADAPTATION_ROWS, seed)
    x_host = x_host.numpy()
    if not np.all(np.isfinite(x_host)):
        raise ValueError(
            "npe: the simulator returned NaN or inf for prior draws; expected finite x."
        )
    embedding = _embedding(x_host.shape[1:], summary, x_host, False, dtype)
    draws.width = embedding.width
    _encode_validation_pairs(fit_kwargs, embedding, support, dtype)
    _npe_fit_defaults(fit_kwargs, steps, patiences, split=False)
    posterior_flow = _posterior_flow(flow, embedding, support, support.theta_size, seed, dtype)
    history = fit(
        posterior_flow,
        draws,
        steps=steps,
        batch_size=batch_size or _DEFAULT_BATCH,
        seed=seed,
        **fit_kwargs,
    )
    return AmortizedPosterior(posterior_flow, embedding, support, support.theta_size, history)


def _batches_per_epoch(rows: int, validation_split: float, batch_size: int) -> int:
    """Full batches in one pass over the rows ``fit`` trains on (one when the batch holds all)."""
    if validation_split:
        rows -= held_out_rows(rows, validation_split)
    return max(1, rows // batch_size)


def _npe_dataset(
    dataset, x, support, flow, summary, steps, epochs, patiences, seed, dtype, fit_kwargs
):
    if x is not None:
        raise ValueError("npe: a tf.data.Dataset yields (theta, x) batches itself; leave x out.")
    spec = dataset.element_spec
    if not (isinstance(spec, tuple) and len(spec) == 2):
        raise ValueError(f"npe: the dataset must yield (theta, x) batches, got elements {spec}.")
    thetas, xs = [], []
    for theta_batch, x_batch in dataset.take(100):
        thetas.append(np.asarray(theta_batch, dtype.as_numpy_dtype))
        xs.append(np.asarray(x_batch, dtype.as_numpy_dtype))
    if not thetas:
        raise ValueError("npe: the dataset yielded no batches.")
    theta_host = _theta_rows(np.concatenate(thetas), support, dtype)
    x_host = np.concatenate(xs)
    embedding = _embedding(x_host.shape[1:], summary, x_host, False, dtype)
    embedding.encode(x_host)  # checks the rows are finite
    _encode_validation_pairs(fit_kwargs, embedding, support, dtype)
    _npe_fit_defaults(fit_kwargs, steps, patiences, split=False)
    width = embedding.width
    flat = dataset.map(lambda t, v: (tf.cast(t, dtype), tf.reshape(tf.cast(v, dtype), [-1, width])))
    posterior_flow = _posterior_flow(flow, embedding, support, theta_host.shape[1], seed, dtype)
    if steps is None and epochs is None:
        raise ValueError("npe: training on a tf.data.Dataset needs steps=.")
    history = fit(posterior_flow, flat, steps=steps, epochs=epochs, seed=seed, **fit_kwargs)
    return AmortizedPosterior(posterior_flow, embedding, support, theta_host.shape[1], history)
