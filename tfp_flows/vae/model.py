"""``VAE``: a Keras 3 variational autoencoder whose posterior and prior can be flows.

```none
encoder        c = e(x)                                   (the posterior's context)
posterior      z ~ q(z | x) = a conditional flow with context c     (Gaussian: no flow layers)
prior          p(z) = N(0, I) or a flow, trained jointly
decoder        a = g(z),  likelihood p(x | z) from a      (dequantised pixels, Bernoulli, Gaussian)
ELBO(x)        = E_q [ log p(x | z) + log p(z) - log q(z | x) ]  <=  log p(x)
loss           = -(1/B) sum_i [ log p(x_i | z_i) - beta_t (log q(z_i | x_i) - log p(z_i)) ],
                 z_i ~ q(. | x_i) one reparameterised draw, drawn and scored in one pass
                 (``experimental_sample_and_log_prob``); beta_t = min(1, t / kl_warmup_steps)
```

Flows inside VAEs (Rezende & Mohamed 2015; IAF, Kingma et al. 2016): the encoder computes a
context, and a conditional flow of that context is the approximate posterior. A posterior
named ``"iaf"``, ``"real_nvp"``, ``"nsf"``, ... is that builder's layers, each reading the
context, shaping the noise of the amortised Gaussian (:mod:`tfp_flows.vae.posteriors`); a fresh
one is the Gaussian posterior, since the layers start at the identity. The model is judged by its
importance-weighted bound (:func:`tfp_flows.metrics.importance_weighted_bound`).

The flows are TFP distributions whose variables Keras 3 does not track; the model lists them
with its own (``weights``, ``trainable_variables``, ``get_weights``/``set_weights``), trains them
in its ``train_step``, and writes and reads them in ``save_own_variables`` /
``load_own_variables``, so ``model.save("vae.keras")`` and ``keras.models.load_model`` keep
every weight and the optimizer's state.

#### Examples

>>> import numpy as np
>>> import keras
>>> import tfp_flows as tff
>>> x = np.random.default_rng(0).normal(size=(256, 4)).astype("float32")
>>> vae = tff.VAE(4, latent_size=2, posterior="iaf", hidden_units=(16,),
...               posterior_kwargs={"num_layers": 2, "hidden_units": (8,)})
>>> vae.compile(optimizer=keras.optimizers.Adam(1e-2))
>>> history = vae.fit(x, epochs=3, batch_size=64, verbose=0)
>>> history.history["loss"][-1] < history.history["loss"][0]
True
>>> bound = tff.metrics.importance_weighted_bound(vae, x[:32], k=50, seed=0)
>>> bound.nats.mean >= bound.elbo.mean
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from tensorflow_probability import distributions as tfd

from tfp_flows._internal.checks import check_event_shape, check_integer
from tfp_flows._internal.seeds import stateless_seed
from tfp_flows.flows.flow import Flow
from tfp_flows.vae import likelihoods as likelihood_module
from tfp_flows.vae.likelihoods import Likelihood
from tfp_flows.vae.networks import default_decoder, default_encoder
from tfp_flows.vae.posteriors import (
    PRIOR_FLOWS,
    posterior_context_size,
    posterior_flow,
    prior_distribution,
)

__all__ = ["VAE"]

_COMPILE_REFUSED = ("loss", "metrics", "loss_weights", "weighted_metrics")


@keras.saving.register_keras_serializable(package="tfp_flows")
class VAE(keras.Model):
    """A VAE with a flow (or Gaussian) posterior ``q(z | x)`` and a flow (or normal) prior.

    ``fit`` maximises the ELBO, ``evaluate`` returns the negative ELBO in nats (one draw per
    point; ``return_dict=True`` also gives its two parts), ``call(x)`` / ``predict`` the
    per-point ELBO estimate. Score a trained model with
    :func:`tfp_flows.metrics.importance_weighted_bound`.

    Args:
      event_shape: the shape of one data point: ``D`` (vectors) or ``(H, W, C)`` (images).
      latent_size: ``d``, the latent dimension (a flow posterior or prior needs ``d >= 2``).
      posterior: ``"gaussian"`` (the amortised diagonal Gaussian), a flow by name
        (``"iaf"``, ``"real_nvp"``, ``"nsf"``, ``"maf"``, ``"nice"``: that builder's layers,
        each reading the encoder's output, shaping the Gaussian's noise), or a conditional
        :class:`~tfp_flows.Flow` on ``R^d`` (used as it is; its ``context_size`` is the
        encoder's output width).
      prior: ``"normal"`` (``N(0, I)``), a flow by name (``"maf"``, ``"real_nvp"``, ...,
        starting at ``N(0, I)``), or any ``tfd.Distribution`` on ``R^d`` (an unconditional
        :class:`~tfp_flows.Flow`); its variables train with the model.
      encoder: a Keras 3 layer ``[n, *event_shape] -> [n, k]``; ``None``: dense for vectors,
        convolutional for images (:mod:`tfp_flows.vae.networks`). It reads the data scaled by
        the likelihood (pixels to ``[-1, 1]``). A posterior built by name reads
        the location and log-scale of the Gaussian from the first ``2 d`` outputs, so
        ``k >= 2 d``.
      decoder: a Keras 3 layer ``[n, d] -> [n, *params]`` whose output has
        ``prod(likelihood.params_shape(event_shape))`` entries per row; ``None``: the default.
      likelihood: ``"dequantized"`` (grey-level pixels; the default for images),
        ``"bernoulli"``, ``"gaussian"`` (the default for vectors), or a
        :class:`~tfp_flows.vae.likelihoods.Likelihood` (e.g. ``DequantizedPixels(levels=256)``).
      kl_warmup_steps: the KL term's weight grows linearly from
        ``1 / T`` to 1 over the first ``T`` optimizer steps (0: no warm-up).
      hidden_units: the default encoder's (and, reversed, decoder's) dense widths.
      context_units: outputs of the default encoder past the Gaussian's ``2 d``, read by a
        flow posterior's layers. ``None``: 32 for a flow posterior, 0 for the Gaussian (which
        reads none of them; give the same number to compare posteriors with equal networks).
      posterior_kwargs, prior_kwargs: arguments of the posterior's / prior's builder
        (``num_layers``, ``hidden_units``, ...), for one named by a string.
      seed: seeds the networks' initialisation and the draws of ``z`` during training.
      name: the model's name.

    #### Examples

    >>> vae = VAE((8, 8, 1), latent_size=4, posterior="real_nvp", prior="maf")
    >>> vae.likelihood.__class__.__name__, vae.posterior.context_size
    ('DequantizedPixels', 40)
    """

    def __init__(
        self,
        event_shape: int | Sequence[int],
        latent_size: int,
        posterior: str | Flow = "gaussian",
        prior: str | tfd.Distribution = "normal",
        encoder: keras.layers.Layer | None = None,
        decoder: keras.layers.Layer | None = None,
        likelihood: str | Likelihood | None = None,
        kl_warmup_steps: int = 0,
        *,
        hidden_units: Sequence[int] = (256, 256),
        context_units: int | None = None,
        posterior_kwargs: dict[str, Any] | None = None,
        prior_kwargs: dict[str, Any] | None = None,
        seed: int = 0,
        name: str = "vae",
        **kwargs: Any,
    ):
        super().__init__(name=name, **kwargs)
        self.event_shape = check_event_shape(event_shape, "VAE: event_shape")
        self.event_size = int(np.prod(self.event_shape))
        self.latent_size = check_integer("latent_size", latent_size)
        self.kl_warmup_steps = check_integer("kl_warmup_steps", kl_warmup_steps, minimum=0)
        self.hidden_units = tuple(check_integer("hidden_units", u) for u in hidden_units)
        self.context_units = (
            None if context_units is None else check_integer("context_units", context_units, 0)
        )
        self.seed = check_integer("seed", seed, minimum=0)
        spec = {
            "posterior": posterior,
            "prior": prior,
            "posterior_kwargs": dict(posterior_kwargs) if posterior_kwargs else None,
            "prior_kwargs": dict(prior_kwargs) if prior_kwargs else None,
            "encoder_given": encoder is not None,
            "decoder_given": decoder is not None,
        }
        object.__setattr__(self, "_spec", spec)  # holds distributions: out of Keras's tracking
        if likelihood is None:
            likelihood = "dequantized" if len(self.event_shape) == 3 else "gaussian"
        self.likelihood = likelihood_module.likelihood(likelihood)
        if not self.likelihood.built:
            self.likelihood.build(self.event_shape)
        self.params_shape = tuple(self.likelihood.params_shape(self.event_shape))

        posterior_dist, context_size = self._posterior(posterior, posterior_kwargs, encoder)
        self.encoder = encoder or default_encoder(
            self.event_shape, context_size, self.hidden_units, seed=self.seed
        )
        self._check_encoder(context_size)
        self.decoder = decoder or default_decoder(
            self.event_shape, self.latent_size, self.params_shape, self.hidden_units, self.seed
        )
        self._check_decoder()
        prior_dist = self._prior(prior, prior_kwargs)
        # Keep the TFP objects out of Keras's tracking: their variables are listed by hand.
        object.__setattr__(self, "posterior", posterior_dist)
        object.__setattr__(self, "prior", prior_dist)
        flow_variables, seen = [], set()
        for variable in [*posterior_dist.variables, *prior_dist.variables]:
            if id(variable) not in seen:
                seen.add(id(variable))
                flow_variables.append(variable)
        object.__setattr__(self, "_flow_variables", flow_variables)
        object.__setattr__(self, "_weights_function", None)
        self.noise = keras.random.SeedGenerator(self.seed)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.kl_tracker = keras.metrics.Mean(name="kl")
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction")
        self.built = True

    # -- construction ------------------------------------------------------------------------

    def _posterior(
        self, posterior: Any, builder_kwargs: dict | None, encoder: Any
    ) -> tuple[tfd.Distribution, int]:
        d = self.latent_size
        if isinstance(posterior, Flow):
            size = posterior.context_size
            if not size or posterior.event_shape != [d]:
                raise ValueError(
                    f"{self.name}: a posterior flow must be conditional (context_size > 0) on "
                    f"R^{d} (event shape [{d}]), got event shape "
                    f"{posterior.event_shape.as_list()} and context_size={size}."
                )
            if builder_kwargs:
                raise ValueError(
                    f"{self.name}: posterior_kwargs configure a posterior built by name; the "
                    "posterior flow was given built."
                )
            return posterior, size
        if isinstance(posterior, str) and posterior != "gaussian" and d < 2:
            raise ValueError(
                f"{self.name}: a flow posterior ({posterior!r}) needs latent_size >= 2, got {d}; "
                "use posterior='gaussian' for a 1-D latent space."
            )
        size = posterior_context_size(posterior, d, self.context_units)
        if encoder is not None:
            size = self._output_width(encoder, "encoder")
        flow = posterior_flow(
            posterior,
            d,
            size,
            seed=self.seed,
            builder_kwargs=builder_kwargs,
            name=f"{self.name}_posterior",
        )
        return flow, size

    def _prior(self, prior: Any, builder_kwargs: dict | None) -> tfd.Distribution:
        d = self.latent_size
        if isinstance(prior, tfd.Distribution):
            size = getattr(prior, "context_size", 0)
            if prior.event_shape != [d] or size or prior.batch_shape != []:
                raise ValueError(
                    f"{self.name}: the prior must be an unconditional distribution on R^{d} "
                    f"(event shape [{d}], batch shape []), got event shape "
                    f"{prior.event_shape.as_list()}, batch shape {prior.batch_shape.as_list()} "
                    f"and context_size={size}."
                )
            if builder_kwargs:
                raise ValueError(
                    f"{self.name}: prior_kwargs configure a prior built by name; the prior "
                    "was given built."
                )
            return prior
        if not isinstance(prior, str) or prior not in PRIOR_FLOWS:
            raise ValueError(
                f"prior must be one of {', '.join(repr(k) for k in PRIOR_FLOWS)} or a "
                f"tfd.Distribution on R^{d}, got {prior!r}."
            )
        if prior != "normal" and d < 2:
            raise ValueError(
                f"{self.name}: a flow prior ({prior!r}) needs latent_size >= 2, got {d}."
            )
        return prior_distribution(
            prior, d, seed=self.seed + 7, builder_kwargs=builder_kwargs, name=f"{self.name}_prior"
        )

    def _output_width(self, encoder: Any, what: str) -> int:
        out = encoder(tf.zeros([1, *self.event_shape]))
        if out.shape.rank != 2:
            raise ValueError(
                f"{self.name}: the {what} must map [n, {', '.join(map(str, self.event_shape))}] "
                f"to [n, k], got an output of shape {out.shape.as_list()}."
            )
        return int(out.shape[-1])

    def _check_encoder(self, context_size: int) -> None:
        width = self._output_width(self.encoder, "encoder")
        if width != context_size:
            raise ValueError(
                f"{self.name}: the encoder's output width must be the posterior's context_size "
                f"{context_size}, got {width}."
            )

    def _check_decoder(self) -> None:
        out = self.decoder(tf.zeros([1, self.latent_size]))
        expected = int(np.prod(self.params_shape))
        got = int(np.prod(out.shape[1:]))
        if got != expected:
            raise ValueError(
                f"{self.name}: the decoder must output {expected} parameters per row (shape "
                f"{list(self.params_shape)} for a {type(self.likelihood).__name__} likelihood "
                f"of events {list(self.event_shape)}), got {got} (shape {out.shape.as_list()})."
            )

    # -- the variables Keras does not see on its own ----------------------------------------

    @property
    def flow_variables(self) -> list[tf.Variable]:
        """The posterior's and the prior's variables (``tf.Variable`` s Keras 3 does not track)."""
        return list(self._flow_variables)

    def _with_flow_variables(self, keras_list: list) -> list:
        if not self.trainable:
            return keras_list
        seen = {id(v) for v in keras_list}
        return keras_list + [v for v in self._flow_variables if id(v) not in seen]

    @property
    def weights(self) -> list:
        return self._with_flow_variables(super().weights)

    @property
    def variables(self) -> list:
        return self._with_flow_variables(super().variables)

    def save_own_variables(self, store: Any) -> None:
        """Keras's own variables, the flows' as ``flow_0``, ``flow_1``, ..., and the state of
        the training draws' seed (``noise``; Keras does not save it)."""
        super().save_own_variables(store)
        for i, variable in enumerate(self._flow_variables):
            store[f"flow_{i}"] = variable.numpy()
        store["noise"] = np.asarray(self.noise.state.numpy())

    def load_own_variables(self, store: Any) -> None:
        """Reads what :meth:`save_own_variables` wrote; a file with other flows raises."""
        keys = [k for k in store.keys() if k != "noise"]
        flow_keys = [k for k in keys if str(k).startswith("flow_")]
        if len(flow_keys) != len(self._flow_variables):
            raise ValueError(
                f"{self.name}: the file holds {len(flow_keys)} flow variables, this model has "
                f"{len(self._flow_variables)}; it was saved from a VAE with another posterior "
                "or prior."
            )
        values = [np.asarray(store[f"flow_{i}"]) for i in range(len(flow_keys))]
        for variable, value in zip(self._flow_variables, values):
            if tuple(variable.shape) != value.shape:
                raise ValueError(
                    f"{self.name}: flow variable {variable.name} has shape "
                    f"{tuple(variable.shape)}, the file holds {value.shape}."
                )
        super().load_own_variables({k: store[k] for k in keys if k not in flow_keys})
        for variable, value in zip(self._flow_variables, values):
            variable.assign(value)
        if "noise" in store.keys():
            self.noise.state.assign(np.asarray(store["noise"]))

    # -- serialisation ------------------------------------------------------------------------

    def get_config(self) -> dict[str, Any]:
        for part in ("posterior", "prior"):
            if not isinstance(self._spec[part], str):
                raise NotImplementedError(
                    f"{self.name}: a VAE whose {part} was given as a distribution object cannot "
                    f"be written by model.save (a TFP distribution has no Keras config); build "
                    f"it by name ({part}='iaf', {part}_kwargs={{...}}), or keep the object and "
                    "use save_weights / load_weights."
                )
        serialize = keras.saving.serialize_keras_object
        return {
            "name": self.name,
            "event_shape": list(self.event_shape),
            "latent_size": self.latent_size,
            "posterior": self._spec["posterior"],
            "prior": self._spec["prior"],
            "encoder": serialize(self.encoder) if self._spec["encoder_given"] else None,
            "decoder": serialize(self.decoder) if self._spec["decoder_given"] else None,
            "likelihood": serialize(self.likelihood),
            "kl_warmup_steps": self.kl_warmup_steps,
            "hidden_units": list(self.hidden_units),
            "context_units": self.context_units,
            "posterior_kwargs": self._spec["posterior_kwargs"],
            "prior_kwargs": self._spec["prior_kwargs"],
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> VAE:
        config = dict(config)
        for part in ("encoder", "decoder", "likelihood"):
            if config.get(part) is not None:
                config[part] = keras.saving.deserialize_keras_object(config[part])
        return cls(**config)

    # -- training -----------------------------------------------------------------------------

    def compile(self, optimizer: Any = None, **kwargs: Any) -> None:
        """``keras.Model.compile``; ``optimizer=None`` is ``Adam(1e-3)``; the loss is the ELBO.

        ``loss`` and ``metrics`` are not taken (the loss is the negative ELBO).
        """
        for name in _COMPILE_REFUSED:
            if kwargs.get(name) is not None:
                raise ValueError(
                    f"{self.name}: a VAE's loss is its negative ELBO; compile takes no {name}=, "
                    f"got {kwargs[name]!r}."
                )
            kwargs.pop(name, None)
        super().compile(optimizer=optimizer or keras.optimizers.Adam(1e-3), **kwargs)
        self.optimizer.build(self.trainable_variables)

    def compile_from_config(self, config: dict[str, Any]) -> None:
        """What ``keras.models.load_model`` calls: :meth:`compile` with the saved settings."""
        config = keras.saving.deserialize_keras_object(config)
        self.compile(**{k: v for k, v in config.items() if k not in _COMPILE_REFUSED})

    @property
    def metrics(self) -> list:
        return [self.loss_tracker, self.reconstruction_tracker, self.kl_tracker]

    def _next_seed(self) -> tf.Tensor:
        return tf.cast(self.noise.next(), tf.int32)

    def _terms(
        self, x: tf.Tensor, seed: Any, num_samples: int | None = None
    ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """``(log p(x | z), log p(z), log q(z | x))`` for draws ``z ~ q(. | x)``.

        Shapes ``[n]`` (one draw a point) or ``[num_samples, n]``.
        """
        context = self.encoder(self.likelihood.encoder_input(x))
        sample_shape = () if num_samples is None else (num_samples,)
        z, log_q = self.posterior.experimental_sample_and_log_prob(
            sample_shape, seed=seed, context=context
        )
        log_prior = self.prior.log_prob(z)
        flat = tf.reshape(z, [-1, self.latent_size])
        params = self.decoder(flat)
        params = tf.reshape(params, tf.concat([tf.shape(z)[:-1], self.params_shape], 0))
        return self.likelihood.log_prob(x, params), log_prior, log_q

    def _kl_weight(self) -> tf.Tensor:
        if not self.kl_warmup_steps:
            return tf.constant(1.0)
        step = tf.cast(self.optimizer.iterations, tf.float32) + 1.0
        return tf.minimum(1.0, step / float(self.kl_warmup_steps))

    def _update_metrics(self, log_lik: tf.Tensor, kl: tf.Tensor) -> dict[str, tf.Tensor]:
        self.loss_tracker.update_state(-(log_lik - kl))
        self.reconstruction_tracker.update_state(-log_lik)
        self.kl_tracker.update_state(kl)
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data: Any) -> dict[str, tf.Tensor]:
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        x = tf.cast(x, tf.float32)
        variables = self.trainable_variables
        with tf.GradientTape() as tape:
            log_lik, log_prior, log_q = self._terms(x, self._next_seed())
            kl = log_q - log_prior
            objective = -tf.reduce_mean(log_lik - self._kl_weight() * kl)
        gradients = tape.gradient(objective, variables)
        pairs = [(g, v) for g, v in zip(gradients, variables) if g is not None]
        self.optimizer.apply_gradients(pairs)
        return self._update_metrics(log_lik, kl)

    def test_step(self, data: Any) -> dict[str, tf.Tensor]:
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        log_lik, log_prior, log_q = self._terms(tf.cast(x, tf.float32), self._next_seed())
        return self._update_metrics(log_lik, log_q - log_prior)

    def call(self, x: Any, training: bool = False) -> tf.Tensor:
        """A one-draw ELBO estimate per point, ``[n]`` (nats)."""
        log_lik, log_prior, log_q = self._terms(tf.cast(x, tf.float32), self._next_seed())
        return log_lik + log_prior - log_q

    # -- data ---------------------------------------------------------------------------------

    def check_data(self, x: Any, what: str = "data") -> np.ndarray:
        """``x`` as a ``float32`` array ``[n, *event_shape]``, or an error naming expected vs got.

        Refuses non-numeric data and floating tensors of another dtype (``TypeError``), a wrong
        event shape, no rows, non-finite values and values outside the likelihood's support
        (``ValueError``).
        """
        expected = f"[n, {', '.join(map(str, self.event_shape))}]"
        if isinstance(x, (tf.data.Dataset, dict, tf.RaggedTensor, tf.SparseTensor)):
            raise TypeError(
                f"{self.name}: expected {what} as a dense {expected} array, got a "
                f"{type(x).__name__}."
            )
        if tf.is_tensor(x) and x.dtype.is_floating and x.dtype != tf.float32:
            raise TypeError(
                f"{self.name}: expected {what} of dtype float32, got {x.dtype.name}; cast it "
                "with tf.cast(x, tf.float32)."
            )
        array = np.asarray(x)
        if array.dtype.kind not in "fiu":
            raise TypeError(
                f"{self.name}: expected {what} as real numbers (float32, or integers), got "
                f"dtype {array.dtype}."
            )
        if array.ndim == 1 and self.event_shape == (array.shape[0],) and array.shape[0] > 1:
            raise ValueError(
                f"{self.name}: expected {what} of shape {expected}, got one point of shape "
                f"{array.shape}; pass a batch of one, x[None]."
            )
        if array.shape[1:] != self.event_shape or array.ndim != 1 + len(self.event_shape):
            raise ValueError(
                f"{self.name}: expected {what} of shape {expected} (event shape "
                f"{list(self.event_shape)}), got shape {list(array.shape)}."
            )
        if array.shape[0] == 0:
            raise ValueError(f"{self.name}: {what} is empty (shape {list(array.shape)}).")
        finite = np.isfinite(array.reshape(array.shape[0], -1)).all(axis=1)
        if not finite.all():
            bad = np.flatnonzero(~finite)
            raise ValueError(
                f"{self.name}: expected finite {what}, got non-finite values (NaN or inf) in "
                f"{bad.size} rows, the first row {int(bad[0])}; remove or impute them."
            )
        self.likelihood.check_values(array, f"{self.name}: {what}")
        return array.astype(np.float32)

    def _checked_inputs(self, x: Any, kwargs: dict[str, Any]) -> Any:
        if isinstance(x, tf.data.Dataset):
            spec = x.element_spec
            spec = spec[0] if isinstance(spec, tuple) else spec
            if getattr(spec, "shape", None) is None or spec.shape[1:] != self.event_shape:
                raise ValueError(
                    f"{self.name}: expected a dataset of [batch, "
                    f"{', '.join(map(str, self.event_shape))}] batches, got elements of shape "
                    f"{getattr(spec, 'shape', spec)}."
                )
        elif x is not None and not isinstance(x, keras.utils.PyDataset):
            x = self.check_data(x)
        validation = kwargs.get("validation_data")
        if validation is not None and not isinstance(validation, tf.data.Dataset):
            if isinstance(validation, tuple):
                validation = validation[0]
            kwargs["validation_data"] = self.check_data(validation, "validation_data")
        return x

    def fit(self, x: Any = None, y: Any = None, **kwargs: Any) -> keras.callbacks.History:
        """``keras.Model.fit`` on checked data (compiles with :meth:`compile`'s defaults first
        if needed); ``y`` is not used."""
        x = self._checked_inputs(x, kwargs)
        if not self.compiled:
            self.compile()
        return super().fit(x, None, **kwargs)

    def evaluate(self, x: Any = None, y: Any = None, **kwargs: Any) -> Any:
        """``keras.Model.evaluate`` on checked data: the negative ELBO (nats) and its parts."""
        x = self._checked_inputs(x, kwargs)
        if not self.compiled:
            self.compile()
        return super().evaluate(x, None, **kwargs)

    def predict(self, x: Any, **kwargs: Any) -> np.ndarray:
        """``keras.Model.predict`` on checked data: one ELBO draw per point (nats)."""
        return super().predict(self._checked_inputs(x, kwargs), **kwargs)

    # -- scoring and generating ---------------------------------------------------------------

    def log_importance_weights(
        self, x: Any, num_samples: int, seed: Any = 0, *, compiled: bool = True
    ) -> tf.Tensor:
        """``log w_j(x_i) = log p(x_i | z_j) + log p(z_j) - log q(z_j | x_i)``, ``[num_samples, n]``.

        ``z_j ~ q(. | x_i)`` drawn with the stateless ``seed``: the same seed and weights give
        the same draws. ``compiled`` runs it as a ``tf.function`` (one trace per shape).
        What :func:`tfp_flows.metrics.importance_weighted_bound` averages.
        """
        x = tf.convert_to_tensor(self.check_data(x))
        num_samples = check_integer("num_samples", num_samples)
        seed = stateless_seed(seed)
        if not compiled:
            return self._log_weights(x, seed, num_samples)
        if self._weights_function is None:
            object.__setattr__(
                self,
                "_weights_function",
                tf.function(self._log_weights, reduce_retracing=True),
            )
        return self._weights_function(x, seed, num_samples)

    def _log_weights(self, x: tf.Tensor, seed: tf.Tensor, num_samples: int) -> tf.Tensor:
        log_lik, log_prior, log_q = self._terms(x, seed, num_samples)
        return log_lik + log_prior - log_q

    def encode(self, x: Any) -> tfd.Distribution:
        """``q(z | x)`` for the points ``x`` ``[n, *event_shape]``: a distribution of batch ``[n]``."""
        x = tf.convert_to_tensor(self.check_data(x))
        return self.posterior.condition(self.encoder(self.likelihood.encoder_input(x)))

    def decode(self, z: Any) -> tf.Tensor:
        """``E[x | z]`` for latents ``z`` ``[n, d]``: ``[n, *event_shape]`` in the data's units."""
        z = tf.convert_to_tensor(z, tf.float32)
        params = tf.reshape(self.decoder(z), [-1, *self.params_shape])
        return self.likelihood.mean(params)

    def sample(self, n: int, seed: Any = 0) -> tf.Tensor:
        """``E[x | z]`` for ``n`` draws ``z ~ p(z)``: ``[n, *event_shape]`` (the decoder's means)."""
        n = check_integer("n", n)
        return self.decode(self.prior.sample(n, seed=stateless_seed(seed)))

    def bits_per_dim_scale(self) -> float:
        """``1 / (D ln 2)``: nats per point to bits per dimension."""
        return 1.0 / (self.event_size * math.log(2.0))
