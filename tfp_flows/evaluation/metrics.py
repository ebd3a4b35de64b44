"""How far a flow is from the truth, in nats (and in bits per dimension for images).

```none
nll(q, x)          = -(1/n) sum_i log q(x_i)
kl_gap(q, p, n)    = KL(p || q) ~= (1/n) sum_i [log p(x_i) - log q(x_i)],   x_i ~ p
conditional_kl_gap(q, p, c, n)
                   = KL(p(.|c) || q(.|c)) ~= (1/n) sum_i [log p(x_i|c) - log q(x_i|c)],  x_i ~ p(.|c)
bits_per_dim(q, x) = -(1/n) sum_i B(x_i) / (D ln 2),   B(x_i) <= log P(x_i)  (discrete images)
```

``kl_gap`` needs a target with an exact ``log_prob`` (``tfp_flows.datasets``);
it equals the model's test NLL minus the target's entropy, estimated on the same
fresh samples, and comes with its Monte-Carlo standard error.

#### Examples

>>> import tensorflow_probability as tfp
>>> p = tfp.distributions.MultivariateNormalDiag([0.0, 0.0])
>>> gap = kl_gap(p, p, n=1000, seed=0)
>>> float(gap.mean), float(gap.stderr)
(0.0, 0.0)
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import tensorflow as tf
from tensorflow_probability import distributions as tfd

from tfp_flows._internal.checks import check_integer
from tfp_flows._internal.seeds import stateless_seed
from tfp_flows.flows.log_prob import batched_log_prob, context_rows
from tfp_flows.images.dequantization import VariationalDequantizer, dequantization_bound

__all__ = [
    "Estimate",
    "ImportanceWeightedBound",
    "bits_per_dim",
    "conditional_kl_gap",
    "importance_weighted_bound",
    "kl_gap",
    "nll",
]


class Estimate(NamedTuple):
    """A Monte-Carlo estimate: ``mean`` with its standard error ``stderr``."""

    mean: float
    stderr: float

    def __str__(self) -> str:
        return f"{self.mean:.4f} ± {self.stderr:.4f}"


def nll(
    distribution: tfd.Distribution, x: Any, batch_size: int = 65536, *, context: Any = None
) -> float:
    """Mean negative log-likelihood of the rows of ``x`` under ``distribution``, in nats.

    ``-(1/n) sum_i log q(x_i | c_i)`` with a ``context``: ``[n, context_size]``
    (row ``i`` for point ``i``) or one context for all points (``[context_size]``
    or ``[1, context_size]``); any other context raises a ``ValueError`` naming
    both shapes, whatever ``batch_size`` is. NumPy arrays are converted to the
    distribution's dtype, tensors must have it. See
    :func:`tfp_flows.flows.log_prob.batched_log_prob`.

    #### Examples

    >>> import tensorflow_probability as tfp
    >>> round(nll(tfp.distributions.MultivariateNormalDiag([0.0, 0.0]), [[0.0, 0.0]]), 4)
    1.8379
    """
    return float(
        -np.mean(batched_log_prob(distribution, x, context=context, batch_size=batch_size))
    )


def _check_target(function: str, target: Any, needs: tuple[str, ...]) -> None:
    missing = [name for name in needs if not callable(getattr(target, name, None))]
    if missing:
        raise TypeError(
            f"{function} needs a target with an exact density: {' and '.join(needs)} methods "
            f"(e.g. tfp_flows.datasets.Banana() or a tfp.distributions.Distribution), got "
            f"{type(target).__name__}, which has no {' or '.join(missing)}."
        )


def _differences(
    function: str,
    distribution: Any,
    target: Any,
    x: tf.Tensor,
    batch_size: int,
    context: Any = None,
) -> np.ndarray:
    """``log p(x_i [| c]) - log q(x_i [| c])``; ``x`` (drawn from ``target``) is cast to the
    model's dtype, so a float64 flow can be scored against a float32 target and back."""
    model_dtype = getattr(distribution, "dtype", None)
    if not isinstance(model_dtype, tf.DType) or not model_dtype.is_floating:
        raise TypeError(
            f"{function}: expected a distribution with a floating dtype "
            f"(float32 or float64), got {type(distribution).__name__} of dtype "
            f"{model_dtype!r}."
        )
    target_dtype = x.dtype
    target_context = None if context is None else tf.cast(context, target_dtype)
    model_context = None if context is None else tf.cast(context, model_dtype)
    return batched_log_prob(
        target, x, context=target_context, batch_size=batch_size
    ) - batched_log_prob(
        distribution, tf.cast(x, model_dtype), context=model_context, batch_size=batch_size
    )


def _estimate(diff: np.ndarray) -> Estimate:
    n = diff.shape[0]
    return Estimate(float(np.mean(diff)), float(np.std(diff, ddof=1) / np.sqrt(n)))


def kl_gap(
    distribution: tfd.Distribution,
    target: tfd.Distribution,
    n: int = 20_000,
    seed: Any = 0,
    batch_size: int = 65536,
) -> Estimate:
    """``KL(target || distribution)`` on ``n`` fresh target samples, with its standard error.

    ```none
    kl_gap = (1/n) sum_i [log p(x_i) - log q(x_i)],   x_i ~ p = target,   stderr = sd / sqrt(n)
    ```

    Args:
      distribution: the model ``q`` (any ``tfd.Distribution``, float32 or float64).
      target: ``p``, with ``sample(n, seed=...)`` and an exact ``log_prob`` (a
        ``tfp_flows.datasets`` target or any TFP distribution); its samples are
        cast to the model's dtype, so the two dtypes may differ.
      n: number of samples, at least 2 (a standard error needs two).
      seed: an ``int`` or a stateless ``[2]`` seed: the same seed gives the same
        estimate, for any target (an ``int`` ``s`` is the stateless ``[s, 0]``).
      batch_size: rows per ``log_prob`` call.

    #### Examples

    >>> import tensorflow_probability as tfp
    >>> p = tfp.distributions.MultivariateNormalDiag([0.0, 0.0])
    >>> q = tfp.distributions.MultivariateNormalDiag([1.0, 0.0])
    >>> kl_gap(q, p, n=1000, seed=3) == kl_gap(q, p, n=1000, seed=3)
    True
    """
    n = check_integer("n", n, minimum=2)
    _check_target("kl_gap", target, ("sample", "log_prob"))
    x = tf.convert_to_tensor(target.sample(n, seed=stateless_seed(seed)))
    return _estimate(_differences("kl_gap", distribution, target, x, batch_size))


def conditional_kl_gap(
    distribution: Any,
    target: Any,
    context: Any,
    n: int = 20_000,
    seed: Any = 0,
    batch_size: int = 65536,
) -> Estimate:
    """``KL(p(.|c) || q(.|c))`` at one context ``c``, on ``n`` fresh samples of ``p(.|c)``.

    ``target`` is a conditional target with an exact density
    (``tfp_flows.datasets.ConditionalBanana``, ``LinearGaussianSimulator``) and
    ``distribution`` any conditional model with ``log_prob(x, context=c)`` (a
    flow built with ``context_size``). ``context`` is one context vector, shape
    ``[context_size]``, broadcast against every sample; call it once per
    context to report a gap per context. ``n >= 2``; ``seed`` as :func:`kl_gap`
    (the same seed gives the same estimate).

    #### Examples

    >>> import tfp_flows as tff
    >>> p = tff.datasets.ConditionalBanana()
    >>> flow = tff.real_nvp(2, num_layers=2, hidden_units=(8,), context_size=1)
    >>> gap = conditional_kl_gap(flow, p, context=[0.25], n=1000, seed=0)
    >>> gap.mean > 0.5     # an untrained flow is N(0, I), far from the banana
    True
    """
    n = check_integer("n", n, minimum=2)
    _check_target("conditional_kl_gap", target, ("sample", "log_prob"))
    if np.ndim(context) != 1:
        raise ValueError(
            f"context must be one context vector of shape [context_size], got "
            f"shape {list(np.shape(context))}."
        )
    x = tf.convert_to_tensor(target.sample(n, seed=stateless_seed(seed), context=context))
    context = tf.cast(context if tf.is_tensor(context) else np.asarray(context), x.dtype)
    return _estimate(
        _differences("conditional_kl_gap", distribution, target, x, batch_size, context)
    )


def bits_per_dim(
    distribution: tfd.Distribution,
    x: Any,
    *,
    levels: int = 17,
    scale: float | None = None,
    dequantizer: VariationalDequantizer | None = None,
    num_samples: int = 1,
    seed: Any = 0,
    context: Any = None,
    batch_size: int = 4096,
) -> float:
    """Bits per dimension of discrete images ``x`` under a density of their dequantised pixels.

    ```none
    bits/dim = -(1/n) sum_i B(x_i) / (D ln 2)
    B(x)     = E_{u ~ q(u|x)} [ log p((x + u) / scale) - D log scale - log q(u | x) ]  <=  log P(x)
    ```

    ``p`` is ``distribution``, a density of the dequantised pixels
    ``v = (x + u) / scale``; ``P(x) = integral of p((x + u)/scale) scale^-D over
    the cell u in [0, 1)^D`` is the probability it gives the discrete image
    ``x``; ``B`` is the dequantisation bound
    (:func:`tfp_flows.images.dequantization.dequantization_bound`, estimated with
    ``num_samples`` draws of ``u``; ``q`` uniform unless a ``dequantizer`` is
    given). The scale bookkeeping: a density on ``[0, 1]^D`` of images with
    ``L = levels`` grey levels (``scale = L``, the default) has
    ``log P(x) >= log p(v) - D log L``, so its bits/dim are
    ``(-log p(v) + D log L) / (D ln 2)``; a density on the raw scale
    ``[0, L)^D`` (``scale=1``) needs no correction. A model that knows nothing
    (uniform on ``[0, 1]^D``) scores ``log2(L)`` (4.087 for the digits' 17
    levels); a model with ``P(x) = 1`` would score 0. Because ``B <= log P``,
    the result is an upper bound on the model's true bits/dim of the discrete
    images (up to Monte Carlo noise, which ``num_samples`` reduces).

    Args:
      distribution: a density of dequantised pixels, event shape ``x.shape[1:]``.
      x: integer pixels ``0..levels-1``, ``[n, *event_shape]`` (e.g.
        ``tff.datasets.digits("test")``); anything else raises ``ValueError``.
      levels: the number of grey levels (17 for the digits).
      scale: what ``x + u`` is divided by (``None``: ``levels``).
      dequantizer: ``None`` (uniform noise) or a trained
        :class:`~tfp_flows.images.dequantization.VariationalDequantizer`.
      num_samples: noise draws per image.
      seed: a stateless seed; the noise of a row depends on ``seed`` and on
        ``batch_size`` (batch ``k`` draws with ``seed`` folded with ``k``).
      context: a context for a conditional ``distribution``: one row per image
        (``[n, k]``, sliced with ``x``) or one for all images (``[k]`` or
        ``[1, k]``); any other shape raises a ``ValueError`` naming both shapes.
      batch_size: images per ``log_prob`` call.

    Returns:
      Bits per dimension (a Python ``float``).

    #### Examples

    >>> import numpy as np
    >>> import tensorflow_probability as tfp
    >>> uniform = tfp.distributions.Sample(tfp.distributions.Uniform(0.0, 1.0), 64)
    >>> x = np.zeros([10, 64])
    >>> round(bits_per_dim(uniform, x), 4), round(float(np.log2(17)), 4)
    (4.0875, 4.0875)
    """
    batch_size = check_integer("batch_size", batch_size)
    event_size = int(np.prod(distribution.event_shape.as_list()))
    x = x if tf.is_tensor(x) else np.asarray(x)
    if context is not None and not tf.is_tensor(context):
        context = np.asarray(context)
    n = int(x.shape[0]) if x.ndim else 0
    if n == 0:
        raise ValueError("bits_per_dim: expected at least one image, got none.")
    per_row_context = context is not None and context_rows(  # the images are the points: [n]
        x.shape,
        len(x.shape) - 1,
        np.shape(context) if not tf.is_tensor(context) else context.shape,
        "bits_per_dim",
    )
    seed = stateless_seed(seed)
    bounds = []
    for index, start in enumerate(range(0, n, batch_size)):
        rows = slice(start, start + batch_size)
        part_context = context[rows] if per_row_context else context
        bound = dequantization_bound(
            distribution,
            x[rows],
            levels=levels,
            scale=scale,
            dequantizer=dequantizer,
            num_samples=num_samples,
            seed=tf.random.experimental.stateless_fold_in(seed, index),
            context=part_context,
        )
        bounds.append(np.asarray(bound, np.float64))
    return float(-np.mean(np.concatenate(bounds)) / (event_size * np.log(2.0)))


# after Estimate, which it uses: tff.metrics.importance_weighted_bound
from tfp_flows.evaluation.importance_weighted import (  # noqa: E402
    ImportanceWeightedBound,
    importance_weighted_bound,
)
