"""``AmortizedPosterior``: a trained ``q(theta | x)`` that answers for any observation ``x``.

Three pieces, composed so that the density stays exact:

```none
context   c = h((x - m_x) / s_x)                  x standardised (a constant map), then the
                                                  summary network h (identity without one)
flow      u = Standardize^{-1}(...),  q_u(u | c)  the conditional flow, with its Standardize layer
support   theta = T(u)                            the prior's event-space bijector (identity
                                                  without a prior)
log q(theta | x) = log q_u(T^{-1}(theta) | c) + log|det J_{T^{-1}}(theta)|     (-inf outside)
```

:class:`PosteriorFlow` is the flow that ``fit`` trains (a :class:`~tfp_flows.Flow`
whose context is the raw, encoded observation; it embeds it on every call, so
the summary network trains with the flow); :class:`AmortizedPosterior` is what
:func:`~tfp_flows.inference.npe` returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf
from tensorflow_probability import distributions as tfd

from tfp_flows._internal.checks import check_integer
from tfp_flows._internal.seeds import stateless_seed
from tfp_flows.flows.flow import Flow
from tfp_flows.inference.support import FlatSupport
from tfp_flows.nn.summary import summary_variables

__all__ = ["AmortizedPosterior", "ContextEmbedding", "PosteriorFlow"]


class ContextEmbedding(tf.Module):
    """Observations ``x [*x_shape]`` as the flow's context: encoded, standardised, summarised.

    ``encode`` turns observations into the finite rows ``[n, width]`` that
    training and the flow's ``context=`` carry: ``x`` flattened, and for a
    set summary (a network with ``supports_masking``, e.g.
    :class:`~tfp_flows.nn.DeepSet`) on sets ``[m, d]`` padded with NaN rows,
    the zero-filled set followed by its mask ``[m]``. Calling the embedding on
    such rows ``[..., width]`` gives the context ``[..., output_size]``.

    Args:
      x_shape: the shape of one observation.
      summary: the summary network (``None``: the standardised ``x``, flattened).
      loc, scale: the standardisation, of shape ``x_shape`` (or ``[d]`` for sets).
      dtype: the flow's dtype.
    """

    def __init__(
        self,
        x_shape: Sequence[int],
        summary: Any,
        loc: np.ndarray,
        scale: np.ndarray,
        dtype: tf.DType,
    ):
        super().__init__(name="context_embedding")
        self.x_shape = tuple(int(s) for s in x_shape)
        self.summary = summary
        self.padded = bool(getattr(summary, "supports_masking", False)) and len(self.x_shape) == 2
        self.x_size = int(np.prod(self.x_shape))
        self.width = self.x_size + (self.x_shape[0] if self.padded else 0)
        self.dtype = dtype
        self.loc = tf.Variable(np.asarray(loc), dtype=dtype, trainable=False, name="x_loc")
        self.scale = tf.Variable(np.asarray(scale), dtype=dtype, trainable=False, name="x_scale")
        self.output_size = self.x_size if summary is None else None
        if summary is not None:
            probe = self(tf.zeros([1, self.width], dtype))
            self.output_size = int(probe.shape[-1])
            # Keras 3 weights are invisible to tf.Module: keep the tf.Variables behind them.
            self.summary_variables = summary_variables(summary)

    @staticmethod
    def statistics(x: np.ndarray, padded: bool) -> tuple[np.ndarray, np.ndarray]:
        """Per-entry (per-feature for padded sets, over present elements) mean and std of ``x``."""
        if padded:
            present = x[np.all(np.isfinite(x), axis=-1)]  # [rows, d]
            loc, scale = present.mean(axis=0), present.std(axis=0)
        else:
            loc, scale = x.mean(axis=0), x.std(axis=0)
        scale = np.where(scale > 0, scale, 1.0)  # a constant entry is only shifted
        return loc, scale

    def encode(self, x: np.ndarray, what: str = "x") -> np.ndarray:
        """Observations ``[n, *x_shape]`` as finite rows ``[n, width]`` (see the class doc)."""
        x = np.asarray(x, self.dtype.as_numpy_dtype)
        if not self.padded:
            if not np.all(np.isfinite(x)):
                bad = int(np.flatnonzero(~np.all(np.isfinite(x.reshape(len(x), -1)), axis=1))[0])
                raise ValueError(
                    f"{what} must be finite, got NaN or inf in row {bad}; sets of varying size "
                    "are padded with NaN rows only for a set summary (summary=tff.nn.DeepSet(...))."
                )
            return x.reshape(len(x), -1)
        finite = np.isfinite(x)
        absent = ~np.any(finite, axis=-1)  # [n, m]: a padding row is NaN throughout
        partial = ~absent & ~np.all(finite, axis=-1)
        if partial.any():
            row, element = (int(i) for i in np.argwhere(partial)[0])
            raise ValueError(
                f"{what}: element {element} of set {row} is partly NaN or inf; expected finite "
                "elements, and padding rows that are NaN throughout."
            )
        empty = np.all(absent, axis=-1)
        if empty.any():
            raise ValueError(
                f"{what}: set {int(np.flatnonzero(empty)[0])} has no elements (every row NaN); "
                "expected at least one."
            )
        filled = np.where(absent[..., None], 0.0, x).reshape(len(x), -1)
        return np.concatenate([filled, (~absent).astype(filled.dtype)], axis=-1)

    def __call__(self, rows: tf.Tensor) -> tf.Tensor:
        """Encoded rows ``[..., width]`` -> the context ``[..., output_size]``."""
        rows = tf.convert_to_tensor(rows, self.dtype)
        batch = tf.shape(rows)[:-1]
        flat = tf.reshape(rows, [-1, self.width])
        x = tf.reshape(flat[:, : self.x_size], [-1, *self.x_shape])
        mask = flat[:, self.x_size :] if self.padded else None
        x = (x - self.loc) / self.scale
        if mask is not None:
            x = x * mask[..., None]  # padding stays at 0
        if self.summary is None:
            context = tf.reshape(x, [-1, self.x_size])
        elif mask is not None:
            context = self.summary(x, mask=mask)
        else:
            context = self.summary(x)
        context = tf.cast(tf.convert_to_tensor(context), self.dtype)
        size = -1 if self.output_size is None else self.output_size  # unknown while probing
        return tf.reshape(context, tf.concat([batch, [size]], axis=0))


class PosteriorFlow(Flow):
    """A :class:`~tfp_flows.Flow` on ``theta`` whose context is embedded first, and whose
    density is ``-inf`` outside a prior's support.

    Args:
      distribution, bijector: as :class:`~tfp_flows.Flow` (the bijector maps the
        base to ``theta``: the support map last).
      embedding: a :class:`ContextEmbedding` (``None``: the context goes to the
        layers as it is).
      support: the prior's :class:`~tfp_flows.inference.support.FlatSupport`, or ``None``.
      context: a bound (already embedded) context, as in :meth:`Flow.condition`.
      name: the distribution's name.
    """

    def __init__(
        self,
        distribution: tfd.Distribution,
        bijector: Any,
        embedding: ContextEmbedding | None = None,
        support: FlatSupport | None = None,
        context: Any = None,
        name: str = "posterior",
    ):
        parameters = dict(locals())
        super().__init__(distribution, bijector, parameters=parameters, name=name, context=context)
        self.embedding = embedding
        self._support = support
        if embedding is not None:
            self._context_size = embedding.width

    @classmethod
    def _parameter_properties(cls, dtype, num_classes=None):
        # the embedding, the support and a bound context are not batch parameters
        return Flow._parameter_properties(dtype, num_classes=num_classes)

    def condition(self, context: Any, name: str | None = None) -> PosteriorFlow:
        """This posterior for one encoded observation ``context [width]``: a plain distribution."""
        if self._context is not None:
            raise ValueError(f"{self.name} already has a bound context.")
        if self.embedding is not None:
            width = self.embedding.width
            shape = tf.TensorShape(getattr(context, "shape", np.shape(context)))
            if shape.rank == 0 or (shape.rank is not None and shape[-1] not in (None, width)):
                raise ValueError(
                    f"{self.name}.condition: expected an encoded observation of shape [{width}] "
                    f"(or [m, {width}]; AmortizedPosterior.encode(x_obs), or condition on the "
                    f"observation itself with AmortizedPosterior.condition(x_obs)), got shape "
                    f"{shape.as_list()}."
                )
            context = self.embedding(context)
        return PosteriorFlow(
            self.distribution,
            self.bijector,
            support=self._support,
            context=context,
            name=name or self.name,
        )

    def _context_kwargs(self, kwargs: dict[str, Any], value: Any = None) -> dict[str, Any]:
        kwargs = super()._context_kwargs(kwargs, value)
        bijector_kwargs = kwargs.get("bijector_kwargs", {})
        if self.embedding is None or "context" not in bijector_kwargs:
            return kwargs
        embedded = self.embedding(bijector_kwargs["context"])
        return dict(kwargs, bijector_kwargs=dict(bijector_kwargs, context=embedded))

    def _log_prob(self, y, **kwargs):
        log_prob = super()._log_prob(y, **kwargs)
        if self._support is None:
            return log_prob
        y = tf.convert_to_tensor(y, self.dtype)
        # outside the support: -inf; a NaN theta is not "outside", its density stays NaN
        keep = self._support.inside(y) | tf.reduce_any(tf.math.is_nan(y), axis=-1)
        return tf.where(keep, log_prob, tf.constant(-np.inf, log_prob.dtype))

    def _default_event_space_bijector(self):
        # The prior's support map T: R^{n_u} -> the support (no trainable weights), so that
        # tfp.mcmc's TransformedTransitionKernel and tfp.vi's surrogates stay inside it. Without
        # a support the flow lives on R^n: Flow's (an Identity).
        if self._support is None:
            return super()._default_event_space_bijector()
        return self._support.bijector


class AmortizedPosterior:
    """A trained amortized posterior ``q(theta | x)`` (what :func:`~tfp_flows.inference.npe` returns).

    Attributes:
      flow: the :class:`PosteriorFlow` trained by ``fit`` (context: encoded
        observations; ``flow.trainable_variables`` include the summary network's).
      prior: the prior (``None`` if none was given).
      support: the prior's :class:`~tfp_flows.inference.support.FlatSupport`, or ``None``.
      embedding: the :class:`ContextEmbedding` of observations.
      history: ``fit``'s :class:`~tfp_flows.training.History`.
      theta_size: the number of parameters ``d``.
      x_shape: the shape of one observation.
    """

    def __init__(
        self,
        flow: PosteriorFlow,
        embedding: ContextEmbedding,
        support: FlatSupport | None,
        theta_size: int,
        history: Any = None,
    ):
        self.flow = flow
        self.embedding = embedding
        self.support = support
        self.prior = None if support is None else support.prior
        self.theta_size = theta_size
        self.x_shape = embedding.x_shape
        self.history = history

    @property
    def summary(self) -> Any:
        """The summary network (``None``: the flow reads the standardised ``x``)."""
        return self.embedding.summary

    @property
    def trainable_variables(self) -> tuple[tf.Variable, ...]:
        """The flow's and the summary network's trainable variables."""
        return self.flow.trainable_variables

    def encode(self, x_obs: Any, method: str = "sample") -> tf.Tensor:
        """One observation ``x_obs [*x_shape]`` (a smaller set is padded) as the flow's context row."""
        return tf.constant(
            self.embedding.encode(self._observation(x_obs, method)[None], "x_obs")[0]
        )

    def _observation(self, x_obs: Any, method: str) -> np.ndarray:
        """One observation as an array ``[*x_shape]`` (a smaller set padded with NaN rows)."""
        if x_obs is None:
            raise ValueError(
                f"{method}: pass the observation x_obs (of shape {list(self.x_shape)}) to "
                f"condition the posterior on; got none."
            )
        x = np.asarray(x_obs, self.embedding.dtype.as_numpy_dtype)
        shape = self.x_shape
        if self.embedding.padded and x.ndim == 2 and x.shape[1] == shape[1]:
            if x.shape[0] > shape[0]:
                raise ValueError(
                    f"{method}: x_obs is a set of {x.shape[0]} elements, but the posterior was "
                    f"trained on sets of at most {shape[0]} (shape {list(shape)})."
                )
            pad = np.full([shape[0] - x.shape[0], shape[1]], np.nan, x.dtype)
            x = np.concatenate([x, pad])
        if x.shape == (1, *shape):
            x = x[0]
        if x.shape != shape:
            raise ValueError(
                f"{method}: expected one observation x_obs of shape {list(shape)}, got shape "
                f"{list(x.shape)}."
            )
        return x

    def condition(self, x_obs: Any) -> PosteriorFlow:
        """``q(theta | x_obs)`` as a plain ``tfd.Distribution`` over ``theta [d]``.

        For ``tfp.mcmc`` (its ``log_prob`` is exact and ``-inf`` outside the
        prior's support), plots, or further variational inference; it shares
        the trained layers.
        """
        return self._conditioned(x_obs, "condition")

    def _conditioned(self, x_obs: Any, method: str) -> PosteriorFlow:
        return self.flow.condition(self.encode(x_obs, method))

    def sample(self, n: int, x_obs: Any = None, seed: Any = None) -> tf.Tensor:
        """``n`` draws of ``q(theta | x_obs)``: ``[n, d]`` (inside the prior's support)."""
        n = check_integer("sample: n", n, minimum=0)
        posterior = self._conditioned(x_obs, "sample")
        return posterior.sample(n, seed=None if seed is None else stateless_seed(seed))

    def sample_batch(self, n: int, x_obs: Any, seed: Any = None) -> tf.Tensor:
        """``n`` draws of the posterior of each of ``N`` observations, in one pass: ``[N, n, d]``.

        The same draws as ``N`` calls of :meth:`sample`, for a fraction of the
        time: the base draws ``z_i [n, d]`` are made per observation with its
        seed, then every observation's context and all ``N n`` draws go
        through the summary network and the flow's layers in one call,

        ```none
        z_i = base.sample(n, seed=s_i),   theta_i = T(f(z_i; h(x_i)))     for i = 1..N
        ```

        so ``sample_batch(n, x, seed=s)[i]`` equals ``sample(n, x[i], seed=s + i)``
        (up to the rounding of batched matrix products, about ``1e-6``
        relative in float32).

        Args:
          n: draws per observation.
          x_obs: ``N`` observations: an array ``[N, *x_shape]`` or a list of
            them (for a set summary, sets of different sizes, each padded as
            in :meth:`sample`).
          seed: ``None`` (unseeded), an ``int`` ``s`` (observation ``i`` gets
            seed ``s + i``) or a sequence of ``N`` ints (one per observation).

        Returns:
          ``[N, n, d]`` draws, inside the prior's support.

        #### Examples

        >>> import numpy as np
        >>> import tfp_flows as tff
        >>> rng = np.random.default_rng(0)
        >>> theta = rng.normal(size=(256, 2)).astype("float32")
        >>> x = (theta + rng.normal(size=(256, 2))).astype("float32")
        >>> posterior = tff.inference.npe(theta, x, steps=5, seed=0, jit_compile=False)
        >>> x_obs = np.array([[0.5, 0.0], [-1.0, 1.0], [2.0, 0.3]], "float32")
        >>> draws = posterior.sample_batch(100, x_obs, seed=7)
        >>> draws.shape
        TensorShape([3, 100, 2])
        >>> bool(np.allclose(draws[2], posterior.sample(100, x_obs[2], seed=9), atol=1e-5))
        True
        """
        rows = self._observation_rows(x_obs, "sample_batch")  # [N, width]
        count = int(rows.shape[0])
        n = check_integer("sample_batch: n", n, minimum=0)
        seeds = _observation_seeds(seed, count)
        flow = self.flow
        context = rows if flow.embedding is None else flow.embedding(rows)  # [N, k]
        base = flow.distribution
        if seeds is None:
            z = base.sample([n, count])
        else:
            stateless = tf.stack([stateless_seed(s) for s in seeds])  # [N, 2]
            z = tf.transpose(self._base_draws(stateless, tf.constant(n, tf.int32)), [1, 0, 2])
        theta = flow.bijector.forward(z, context=context)  # [n, N, d]
        return tf.transpose(theta, [1, 0, 2])

    def _observation_rows(self, x_obs: Any, method: str) -> tf.Tensor:
        """``N`` observations ``[N, *x_shape]`` (or a list of sets) as the flow's context rows ``[N, width]``."""
        wanted = f"[N, {', '.join(str(s) for s in self.x_shape)}]"
        shape = None if isinstance(x_obs, (list, tuple)) else np.shape(x_obs)
        if (
            x_obs is None
            or len(x_obs if shape is None else shape) == 0
            or (shape and shape[0] == 0)
        ):
            raise ValueError(
                f"{method}: expected observations x_obs of shape {wanted} with N >= 1, "
                f"got {'none' if x_obs is None else 'an empty batch'}."
            )
        if shape is not None and len(shape) != 1 + len(self.x_shape):
            raise ValueError(
                f"{method}: expected observations x_obs of shape {wanted}, got shape "
                f"{list(shape)} (one observation: use {method.removesuffix('_batch')})."
            )
        if shape is not None and not self.embedding.padded and tuple(shape[1:]) != self.x_shape:
            raise ValueError(
                f"{method}: expected observations x_obs of shape {wanted}, got shape {list(shape)}."
            )
        # encoded together: a NaN in observation i is reported as row i
        observations = np.stack([self._observation(obs, method) for obs in x_obs])
        return tf.constant(self.embedding.encode(observations, what="x_obs"))

    @property
    def _base_draws(self) -> Any:
        """``(seeds [N, 2], n) -> [N, n, d]``: the base's draws per seed, a ``tf.function``
        (traced once; ``N`` eager ``sample`` calls cost ~10 ms each in TFP's Python)."""
        if getattr(self, "_base_draws_function", None) is None:
            base = self.flow.distribution

            def draws(seeds: tf.Tensor, n: tf.Tensor) -> tf.Tensor:
                return tf.map_fn(
                    lambda seed: base.sample(n, seed=seed), seeds, fn_output_signature=base.dtype
                )

            self._base_draws_function = tf.function(
                draws,
                input_signature=[
                    tf.TensorSpec([None, 2], tf.int32),
                    tf.TensorSpec([], tf.int32),
                ],
            )
        return self._base_draws_function

    def log_prob(self, theta: Any, x_obs: Any = None) -> tf.Tensor:
        """``log q(theta | x_obs)`` of points ``theta [..., d]``: shape ``[...]``."""
        posterior = self._conditioned(x_obs, "log_prob")
        theta = tf.convert_to_tensor(theta, self.flow.dtype)
        if theta.shape.rank == 0 or theta.shape[-1] != self.theta_size:
            raise ValueError(
                f"log_prob: expected theta of shape [..., {self.theta_size}], got shape "
                f"{theta.shape.as_list()}."
            )
        return posterior.log_prob(theta)

    def log_prob_batch(self, theta: Any, x_obs: Any) -> tf.Tensor:
        """``log q(theta_i | x_i)`` of ``N`` pairs in one pass: ``[N]`` (or ``[N, m]``).

        Each row of ``theta`` is scored under the posterior of its own
        observation, as ``N`` calls of :meth:`log_prob` would, but with every
        context and point going through the summary network and the flow's
        layers in one call. Its mean over fresh simulated pairs is the
        held-out loss ``npe`` trains on,

        ```none
        -E_{theta, x ~ p(theta) p(x | theta)} log q(theta | x)
            = E_x KL(p(theta | x) || q(theta | x)) + H(theta | x)
        ```

        so it ranks posteriors (two trainings, two budgets) by their expected
        KL divergence to the true posterior, which needs no reference samples.

        Args:
          theta: ``[N, d]`` (one point per observation) or ``[N, m, d]`` (``m``
            points per observation).
          x_obs: ``N`` observations, as in :meth:`sample_batch`.

        Returns:
          ``[N]`` or ``[N, m]`` log densities (``-inf`` outside the prior's support).

        #### Examples

        >>> import numpy as np
        >>> import tfp_flows as tff
        >>> theta = np.random.default_rng(1).normal(size=(256, 3)).astype("float32")
        >>> x = np.tanh(theta) + 0.1  # any observations, one per theta row
        >>> posterior = tff.inference.npe(theta, x, steps=5, jit_compile=False)
        >>> log_q = posterior.log_prob_batch(theta[:4], x[:4])  # pairs (theta_i, x_i)
        >>> log_q.shape
        TensorShape([4])
        >>> bool(np.allclose(log_q[3], posterior.log_prob(theta[3], x[3]), atol=1e-5))
        True
        """
        rows = self._observation_rows(x_obs, "log_prob_batch")  # [N, width]
        count = int(rows.shape[0])
        theta = tf.convert_to_tensor(theta, self.flow.dtype)
        shape = theta.shape.as_list()
        if theta.shape.rank not in (2, 3) or shape[0] != count or shape[-1] != self.theta_size:
            raise ValueError(
                f"log_prob_batch: expected theta of shape [{count}, {self.theta_size}] or "
                f"[{count}, m, {self.theta_size}] for {count} observations, got shape {shape}."
            )
        if theta.shape.rank == 2:
            return self.flow.log_prob(theta, context=rows)
        per_point = self.flow.log_prob(tf.transpose(theta, [1, 0, 2]), context=rows)  # [m, N]
        return tf.transpose(per_point)

    def unflatten(self, theta: Any) -> Any:
        """Flat draws ``[..., d]`` in the prior's structure (a joint prior's dict or list)."""
        if self.support is None:
            return tf.convert_to_tensor(theta)
        return self.support.unflatten(theta)


def _observation_seeds(seed: Any, count: int) -> list[int] | None:
    """Per-observation seeds: ``None``, ``s -> [s, s + 1, ...]`` or a sequence of ``count`` ints."""
    if seed is None:
        return None
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, (bool, np.bool_)):
        return [int(seed) + i for i in range(count)]
    seeds = np.asarray(seed)
    if seeds.shape != (count,) or not np.issubdtype(seeds.dtype, np.integer):
        raise ValueError(
            f"sample_batch: expected seed None, an int or {count} ints (one per observation), "
            f"got {seeds.dtype} of shape {list(seeds.shape)}."
        )
    return [int(s) for s in seeds]
