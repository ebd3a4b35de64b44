"""Dequantisation: densities of continuous pixels as models of discrete images.

Images with ``L`` grey levels (the digits: ``L = 17``, pixels ``x in {0..L-1}^D``)
are discrete; a flow is a density. The bridge (Theis et al. 2016; Real NVP,
Dinh et al. 2017, sec. 4.1; Flow++, Ho et al. 2019, sec. 3.1):

```none
dequantised pixels   v = (x + u) / scale,  u in [0, 1)^D     (scale = L: v in [0, 1)^D)
discrete model       P(x) = integral over [0,1)^D of p_cont((x + u) / scale) scale^-D du
bound                log P(x) >= E_{u ~ q(u|x)} [ log p_cont((x + u) / scale) - D log scale - log q(u | x) ]
```

The bound is Jensen's inequality for any density ``q(u | x)`` on the unit
cell ``[0, 1)^D``; it is tight when ``q(u | x)`` is the model's own
conditional ``p_cont((x + u)/scale) / (scale^D P(x))``.

* Uniform dequantisation, ``q = U[0, 1)^D`` (``log q = 0``):
  :func:`uniform_dequantize` draws ``v`` (seeded, stateless) to train a flow on,
  and :func:`dequantization_bound` with ``dequantizer=None`` scores it.
* Variational dequantisation (Flow++): ``q(u | x)`` a conditional flow with
  context ``x`` (:class:`VariationalDequantizer`), trained jointly with the
  model by maximising the same bound (:func:`dequantization_bound` with
  ``dequantizer=q`` is differentiable in both).
* Logit preprocessing (Real NVP): :func:`with_logit_preprocessing` puts
  :class:`~tfp_flows.bijectors.logit.Logit` (``y = logit(alpha + (1 - 2 alpha) v)``)
  under a flow on ``y``, giving a density of ``v``; its log-det is part of
  ``log_prob``, so every bound above holds unchanged.

Bits per dimension of the test images, ``-bound / (D ln 2)`` averaged over
the images, are :func:`tfp_flows.evaluation.metrics.bits_per_dim`.

#### Examples

>>> import numpy as np
>>> import tensorflow_probability as tfp
>>> x = np.array([[0.0, 16.0]])                      # two pixels, 17 levels
>>> v = uniform_dequantize(x, levels=17, seed=0)     # (x + u) / 17
>>> bool(np.all((v >= [0, 16 / 17]) & (v < [1 / 17, 1])))
True
>>> uniform = tfp.distributions.Sample(tfp.distributions.Uniform(0.0, 1.0), 2)
>>> round(float(dequantization_bound(uniform, x)[0]), 4)   # -D log 17: P(x) = 17^-2 exactly
-5.6664

#### References

[1]: Lucas Theis, Aaron van den Oord, Matthias Bethge. A note on the evaluation
     of generative models. ICLR 2016. https://arxiv.org/abs/1511.01844
[2]: Laurent Dinh, Jascha Sohl-Dickstein, Samy Bengio. Density estimation using
     Real NVP. ICLR 2017. https://arxiv.org/abs/1605.08803
[3]: Jonathan Ho, Xi Chen, Aravind Srinivas, Yan Duan, Pieter Abbeel. Flow++:
     Improving flow-based generative models with variational dequantization and
     architecture design. ICML 2019. https://arxiv.org/abs/1902.00275
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf
from tensorflow_probability import bijectors as tfb
from tensorflow_probability import distributions as tfd

from tfp_flows._internal.checks import check_event_shape, check_floating_dtype, check_integer
from tfp_flows._internal.naming import unique_name
from tfp_flows._internal.seeds import stateless_seed
from tfp_flows.bijectors.chain import FlowChain
from tfp_flows.bijectors.logit import Logit
from tfp_flows.flows import real_nvp
from tfp_flows.flows.flow import Flow
from tfp_flows.flows.log_prob import log_prob

__all__ = [
    "DequantizedImages",
    "Logit",
    "VariationalDequantizer",
    "as_pixels",
    "check_discrete",
    "dequantization_bound",
    "uniform_dequantize",
    "with_logit_preprocessing",
]


def _scale(levels: int, scale: float | None) -> float:
    if scale is None:
        return float(levels)
    if (
        isinstance(scale, bool)
        or not isinstance(scale, (int, float, np.integer, np.floating))
        or not 0 < float(scale) < math.inf
    ):
        raise ValueError(
            f"scale must be a positive finite number (or None for levels), got {scale!r}."
        )
    return float(scale)


def as_pixels(x: Any, dtype: tf.DType) -> tf.Tensor:
    """Pixels as a tensor of the floating ``dtype``: a tensor of any number dtype is cast.

    Images often come as ``int32`` / ``uint8`` tensors, which
    ``tf.convert_to_tensor(x, tf.float32)`` refuses; arrays and lists are converted.

    #### Examples

    >>> as_pixels(tf.constant([[0, 16]], tf.int32), tf.float32)
    <tf.Tensor: shape=(1, 2), dtype=float32, numpy=array([[ 0., 16.]], dtype=float32)>
    """
    if tf.is_tensor(x) or isinstance(x, tf.Variable):
        if not (x.dtype.is_integer or x.dtype.is_floating or x.dtype == tf.bool):
            raise TypeError(
                f"expected pixels as numbers (an integer or float dtype), got a "
                f"tensor of dtype {x.dtype.name}."
            )
        return tf.cast(x, dtype)
    return tf.convert_to_tensor(x, dtype)


def check_discrete(x: Any, levels: int, owner: str) -> None:
    """``ValueError`` unless every value of ``x`` is an integer in ``0..levels-1``.

    Skipped for symbolic tensors (inside ``tf.function``), where values are unknown.

    #### Examples

    >>> check_discrete(np.array([0.0, 16.0]), 17, "bits_per_dim")
    >>> check_discrete(np.array([0.2, 0.9]), 17, "bits_per_dim")
    Traceback (most recent call last):
    ...
    ValueError: bits_per_dim: expected discrete pixels, integers 0..16 (levels=17) such as tff.datasets.digits(...) returns, before dequantisation; got values in [0.2, 0.9], not all integers.
    """
    levels = check_integer("levels", levels, minimum=2)
    if tf.is_tensor(x) and not hasattr(x, "numpy"):
        return
    values = np.asarray(x)
    if values.size == 0:
        return
    integers = bool(np.all(values == np.round(values)))
    if integers and values.min() >= 0 and values.max() <= levels - 1:
        return
    raise ValueError(
        f"{owner}: expected discrete pixels, integers 0..{levels - 1} (levels={levels}) such as "
        f"tff.datasets.digits(...) returns, before dequantisation; got values in "
        f"[{values.min():.4g}, {values.max():.4g}]{'' if integers else ', not all integers'}."
    )


def uniform_dequantize(
    x: Any,
    *,
    levels: int = 17,
    scale: float | None = None,
    seed: Any = 0,
    num_samples: int | None = None,
    dtype: tf.DType = tf.float32,
) -> tf.Tensor:
    """Discrete pixels plus uniform noise: ``v = (x + u) / scale``, ``u ~ U[0, 1)`` per entry.

    Args:
      x: integer pixels ``0..levels-1`` (any shape, e.g. ``[n, 8, 8, 1]``).
      levels: the number of grey levels (17 for the digits).
      scale: divides ``x + u``; ``None`` means ``levels`` (``v`` in ``[0, 1)``),
        ``1`` keeps the raw scale ``[0, levels)``.
      seed: a stateless seed (an ``int`` ``s`` is ``[s, 0]``): the same seed
        gives the same noise.
      num_samples: ``None`` for one draw of ``x``'s shape, or ``S`` for ``S``
        independent draws stacked in front: ``[S, *x.shape]``.
      dtype: the dtype of the result.

    Returns:
      The dequantised pixels ``v``, a tensor of ``dtype``.

    #### Examples

    >>> v = uniform_dequantize(np.zeros([3, 2]), levels=17, seed=1, num_samples=5)
    >>> v.shape, bool(tf.reduce_all((v >= 0.0) & (v < 1 / 17)))
    (TensorShape([5, 3, 2]), True)
    """
    check_discrete(x, levels, "uniform_dequantize")
    scale = _scale(levels, scale)
    dtype = check_floating_dtype(dtype, "uniform_dequantize")
    x = as_pixels(x, dtype)
    shape = tf.shape(x)
    if num_samples is not None:
        shape = tf.concat([[check_integer("num_samples", num_samples)], shape], 0)
    u = tf.random.stateless_uniform(shape, seed=stateless_seed(seed), dtype=dtype)
    return (x + u) / tf.constant(scale, dtype)


class DequantizedImages(tfd.Distribution):
    """The uniformly dequantised training images as a distribution: fresh noise at every draw.

    A draw picks one of the ``N`` images ``x_i`` uniformly and adds uniform
    noise, ``v = (x_i + u) / scale`` with ``u ~ U[0, 1)^D``: a mixture of ``N``
    boxes, whose density is

    ```none
    p(v) = (1 / N) * #{i : floor(scale * v) = x_i} * scale^D
    ```

    ``tff.fit(flow, DequantizedImages(images))`` samples it afresh at every
    step (stateless seeds ``[seed, step]``, inside the compiled multi-step
    loop), so the flow never sees one fixed noise draw twice: trained on a
    single draw, a flow learns that draw's noise and its test bits/dim suffer.

    Args:
      images: integer pixels ``0..levels-1``, ``[N, *event_shape]``.
      levels: grey levels (17 for the digits).
      scale: divides ``x + u`` (``None``: ``levels``, pixels in ``[0, 1)``).
      dtype: of the draws.
      name: the distribution's name.

    #### Examples

    >>> images = np.array([[[[0.0]], [[16.0]]]])          # one 2x1 image
    >>> data = DequantizedImages(images, levels=17)
    >>> v = data.sample(4, seed=[0, 1])
    >>> v.shape, bool(tf.reduce_all(tf.floor(17.0 * v)[:, :, 0, 0] == [0.0, 16.0]))
    (TensorShape([4, 2, 1, 1]), True)
    >>> round(float(data.log_prob(v[0])), 4), round(2 * float(np.log(17.0)), 4)  # boxes of 1/17
    (5.6664, 5.6664)
    """

    def __init__(
        self,
        images: Any,
        levels: int = 17,
        scale: float | None = None,
        dtype: tf.DType = tf.float32,
        name: str = "dequantized_images",
    ):
        parameters = dict(locals())
        check_discrete(images, levels, name)
        images = np.asarray(images)
        if images.ndim < 2 or images.shape[0] == 0:
            raise ValueError(
                f"{name}: expected images [N, *event_shape] with N >= 1, got an "
                f"array of shape {images.shape}."
            )
        self._scale_value = _scale(levels, scale)
        self._images = tf.constant(images, check_floating_dtype(dtype, name))
        self._flat_images = tf.reshape(self._images, [images.shape[0], -1])
        super().__init__(
            dtype=dtype,
            reparameterization_type=tfd.NOT_REPARAMETERIZED,
            validate_args=False,
            allow_nan_stats=True,
            parameters=parameters,
            name=name,
        )

    @property
    def images(self) -> tf.Tensor:
        """The discrete images ``[N, *event_shape]``."""
        return self._images

    def _event_shape(self):
        return self._images.shape[1:]

    def _event_shape_tensor(self):
        return tf.shape(self._images)[1:]

    def _batch_shape(self):
        return tf.TensorShape([])

    def _batch_shape_tensor(self):
        return tf.constant([], tf.int32)

    def _sample_n(self, n, seed=None):
        pick_seed, noise_seed = tf.unstack(
            tf.random.experimental.stateless_split(stateless_seed(seed), 2)
        )
        count = tf.shape(self._images)[0]
        picks = tf.random.stateless_uniform([n], seed=pick_seed, maxval=count, dtype=tf.int32)
        images = tf.gather(self._images, picks)
        noise = tf.random.stateless_uniform(tf.shape(images), seed=noise_seed, dtype=self.dtype)
        return (images + noise) / tf.constant(self._scale_value, self.dtype)

    def _log_prob(self, v):
        v = tf.convert_to_tensor(v, self.dtype)
        event_rank = self._images.shape.rank - 1
        batch = tf.shape(v)[: tf.rank(v) - event_rank]
        cells = tf.reshape(tf.floor(v * self._scale_value), [-1, 1, self._flat_images.shape[1]])
        matches = tf.reduce_sum(
            tf.cast(tf.reduce_all(tf.equal(cells, self._flat_images[None]), axis=-1), self.dtype),
            axis=-1,
        )
        dimension = float(self._flat_images.shape[1])
        log_p = tf.math.log(
            matches / tf.cast(tf.shape(self._images)[0], self.dtype)
        ) + dimension * np.log(self._scale_value)
        return tf.reshape(log_p, batch)


def with_logit_preprocessing(
    flow: tfd.Distribution, alpha: float = 0.05, name: str | None = None
) -> Flow:
    """A density of pixels ``v`` in ``[0, 1]^D`` from a flow on ``y = logit(alpha + (1 - 2 alpha) v)``.

    ```none
    p(v) = q(y(v)) |det dy/dv|,   log|det dy/dv| = sum_i [log(1 - 2 alpha) - log s_i - log(1 - s_i)],
                                  s = alpha + (1 - 2 alpha) v
    ```

    The result is a :class:`~tfp_flows.flows.flow.Flow` sharing every layer of
    ``flow`` (for a ``tff.Flow``: its chain with ``tfb.Invert(Logit)`` on top,
    so a conditional flow keeps taking ``context=``; any other distribution
    is wrapped). Sampling gives pixels; ``log_prob`` takes pixels. The density
    integrates to ``q(y in [logit(alpha), logit(1 - alpha)]^D) <= 1`` over
    ``[0, 1]^D`` (see :class:`~tfp_flows.bijectors.logit.Logit`).

    Args:
      flow: a distribution on logit space with a fully defined event shape.
      alpha: the margin of the logit, ``0 < alpha < 0.5`` (Real NVP: 0.05).
      name: the new flow's name (default ``<flow name>_pixels``).

    #### Examples

    >>> import tfp_flows as tff
    >>> pixels = with_logit_preprocessing(tff.real_nvp(4, num_layers=2, hidden_units=(8,)))
    >>> v = pixels.sample(3, seed=0)
    >>> v.shape, pixels.log_prob(v).shape
    (TensorShape([3, 4]), TensorShape([3]))
    """
    event_shape = flow.event_shape
    if not event_shape.is_fully_defined() or event_shape.rank == 0:
        raise ValueError(
            f"with_logit_preprocessing: expected a flow with a fully defined, "
            f"non-scalar event shape, got {event_shape}."
        )
    name = name or f"{flow.name}_pixels"
    logit = Logit(
        event_shape.as_list(), alpha=alpha, dtype=flow.dtype, name=unique_name(f"{name}_logit")
    )
    if isinstance(flow, Flow) and flow.context is None:
        return Flow(
            flow.distribution, FlowChain([tfb.Invert(logit), flow.bijector], name=name), name=name
        )
    return Flow(flow, FlowChain([tfb.Invert(logit)], name=name), name=name)


class VariationalDequantizer(tf.Module):
    """``q(u | x)``: a conditional flow on the unit cell ``(0, 1)^D``, with context ``x``.

    ```none
    c = 2 x / (levels - 1) - 1                     (the pixels, flattened, in [-1, 1])
    z ~ f(N(0, I); c)                              a conditional flow on R^D (``tff.real_nvp``)
    u = sigmoid(z)                                 log q(u | x) = log q_z(z | c) - sum_i log[sigmoid(z_i) sigmoid(-z_i)]
    ```

    Reparameterised: the sample ``u`` and ``log q`` are differentiable in the
    weights, so ``-mean(dequantization_bound(model, x, dequantizer=q))``
    trains the model and ``q`` together (Flow++, sec. 3.1).

    Args:
      event_shape: the images' event shape (``(8, 8, 1)``, or ``D`` for vectors).
      levels: the number of grey levels of the images (the context's scale).
      num_layers, hidden_units, seed: of the conditional ``tff.real_nvp`` on ``R^D``.
      dtype: ``tf.float32`` or ``tf.float64``.
      flow: instead of building one, a conditional flow on ``R^D`` with
        ``context_size = D`` (any ``tff`` builder's ``context_size=D``).
      name: the module's name.

    #### Examples

    >>> q = VariationalDequantizer(2, levels=3, num_layers=2, hidden_units=(8,))
    >>> u, log_q = q.sample_and_log_prob(np.array([[0.0, 2.0], [1.0, 1.0]]), seed=0)
    >>> u.shape, log_q.shape, bool(tf.reduce_all((u > 0) & (u < 1)))
    (TensorShape([2, 2]), TensorShape([2]), True)
    """

    def __init__(
        self,
        event_shape: int | Sequence[int],
        *,
        levels: int = 17,
        num_layers: int = 4,
        hidden_units: Sequence[int] = (64, 64),
        seed: int = 0,
        dtype: tf.DType = tf.float32,
        flow: tfd.Distribution | None = None,
        name: str | None = None,
    ):
        super().__init__(name=name or unique_name("variational_dequantizer"))
        self.event_shape = check_event_shape(event_shape, "VariationalDequantizer: event_shape")
        self.event_size = int(np.prod(self.event_shape))
        self.levels = check_integer("levels", levels, minimum=2)
        if flow is None:
            flow = real_nvp(
                self.event_size,
                num_layers=num_layers,
                hidden_units=hidden_units,
                context_size=self.event_size,
                seed=seed,
                dtype=dtype,
            )
        size = getattr(flow, "context_size", 0)
        if flow.event_shape != [self.event_size] or size != self.event_size:
            raise ValueError(
                f"{self.name}: expected a conditional flow on R^{self.event_size} with "
                f"context_size={self.event_size}, got event shape {flow.event_shape} and "
                f"context_size={size}."
            )
        self.flow = flow
        self.dtype = flow.dtype

    def sample_and_log_prob(
        self, x: Any, seed: Any = 0, num_samples: int | None = None
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """``u ~ q(u | x)`` of ``x``'s shape and ``log q(u | x)`` per image.

        Args:
          x: integer pixels ``[..., *event_shape]``.
          seed: a stateless seed.
          num_samples: ``None`` for one ``u`` per image, or ``S`` for ``S`` stacked
            in front (``u``: ``[S, ..., *event_shape]``, ``log q``: ``[S, ...]``).

        Returns:
          ``(u, log_q)``: the noise in ``(0, 1)`` and its log-density.
        """
        x = as_pixels(x, self.dtype)
        rank = len(self.event_shape)
        if x.shape.rank is not None and (
            x.shape.rank < rank or x.shape[x.shape.rank - rank :] != self.event_shape
        ):
            raise ValueError(
                f"{self.name}: expected images of event shape "
                f"{list(self.event_shape)}, got shape {x.shape.as_list()}."
            )
        batch = tf.shape(x)[: tf.rank(x) - rank]
        context = tf.reshape(
            2.0 * x / (self.levels - 1) - 1.0, tf.concat([batch, [self.event_size]], 0)
        )
        sample_shape = [] if num_samples is None else [check_integer("num_samples", num_samples)]
        z, log_qz = self.flow.experimental_sample_and_log_prob(
            sample_shape, seed=stateless_seed(seed), context=context
        )
        log_q = log_qz - tf.reduce_sum(tf.math.log_sigmoid(z) + tf.math.log_sigmoid(-z), -1)
        u = tf.reshape(tf.sigmoid(z), tf.concat([tf.shape(z)[:-1], self.event_shape], 0))
        return u, log_q


def dequantization_bound(
    distribution: tfd.Distribution,
    x: Any,
    *,
    levels: int = 17,
    scale: float | None = None,
    dequantizer: VariationalDequantizer | None = None,
    num_samples: int = 1,
    seed: Any = 0,
    context: Any = None,
) -> tf.Tensor:
    """A lower bound on ``log P(x)`` in nats, per image, from a density of dequantised pixels.

    ```none
    log P(x) >= (1/S) sum_s [ log p((x + u_s) / scale) - D log scale - log q(u_s | x) ],
                u_s ~ q(u | x)    (q uniform when dequantizer is None: log q = 0)
    ```

    in expectation over the ``S = num_samples`` draws (each term's mean is a
    lower bound, by Jensen's inequality). ``D`` is the number of entries of
    one event of ``distribution``.

    Args:
      distribution: a density of ``v = (x + u) / scale`` (for example a flow
        trained on :func:`uniform_dequantize` d images, possibly through
        :func:`with_logit_preprocessing`), event shape ``x.shape[1:]``.
      x: integer pixels ``0..levels-1``, ``[n, *event_shape]``.
      levels: the number of grey levels.
      scale: what ``x + u`` is divided by before ``distribution`` sees it;
        ``None`` means ``levels`` (a density on ``[0, 1]^D``).
      dequantizer: ``None`` (uniform) or a :class:`VariationalDequantizer`.
      num_samples: noise draws per image.
      seed: a stateless seed for the noise.
      context: passed as ``context=`` to a conditional ``distribution``.

    Returns:
      A ``[n]`` tensor of the distribution's dtype (differentiable in the
      weights of ``distribution`` and ``dequantizer``).
    """
    check_discrete(x, levels, "dequantization_bound")
    scale = _scale(levels, scale)
    event_shape = distribution.event_shape
    if not event_shape.is_fully_defined():
        raise ValueError(
            f"dequantization_bound: expected a distribution with a fully defined "
            f"event shape, got {event_shape}."
        )
    dtype = distribution.dtype
    x = as_pixels(x, dtype)
    rank = event_shape.rank
    if x.shape.rank is not None and (
        x.shape.rank < rank + 1 or x.shape[x.shape.rank - rank :] != event_shape
    ):
        raise ValueError(
            f"dequantization_bound: expected images [n, *{event_shape.as_list()}] "
            f"(the distribution's event shape), got shape {x.shape.as_list()}."
        )
    num_samples = check_integer("num_samples", num_samples)
    event_size = int(np.prod(event_shape.as_list()))
    if dequantizer is None:
        u = tf.random.stateless_uniform(
            tf.concat([[num_samples], tf.shape(x)], 0), seed=stateless_seed(seed), dtype=dtype
        )
        log_q = tf.zeros(tf.shape(u)[: tf.rank(u) - rank], dtype)
    else:
        u, log_q = dequantizer.sample_and_log_prob(x, seed=seed, num_samples=num_samples)
        u, log_q = tf.cast(u, dtype), tf.cast(log_q, dtype)
    log_p = log_prob(distribution, (x + u) / tf.constant(scale, dtype), context)
    terms = log_p - tf.constant(event_size * math.log(scale), dtype) - log_q
    return tf.reduce_mean(terms, axis=0)
