"""``Transformer``: an elementwise invertible map whose parameters come from a conditioner.

A transformer acts on each entry ``x_i`` of the transformed part of an event
separately, with ``k = params_per_entry`` parameters per entry computed by a
conditioner network (Papamakarios et al. 2021, section 3.1). Coupling layers
(:class:`~tfp_flows.bijectors.Coupling`) route the parameters; the transformer
only knows the elementwise map.

Parameter layout: ``params`` has shape ``[..., n, k]``: ``params[..., i, j]`` is
parameter ``j`` of entry ``i``. (A conditioner returns ``[..., k * n]`` in
blocks, block ``j`` holding parameter ``j`` of every entry; the coupling layer
reshapes it, see :func:`params_from_blocks`.)

Sign convention, the same for every hook in the package: both directions
return the *inverse* log-det-Jacobian ``ildj = log|dx/dy|``, elementwise,
shape ``[..., n]``:

```none
forward(x, params) -> (y, ildj)    ildj_i = -log|dy_i/dx_i|
inverse(y, params) -> (x, ildj)    ildj_i = +log|dx_i/dy_i|
```

#### Examples

>>> import tensorflow as tf
>>> from tfp_flows.bijectors.transformers import Additive
>>> shift = Additive()
>>> y, ildj = shift.forward(tf.constant([[1.0, 2.0]]), tf.constant([[[0.5], [-1.0]]]))
>>> y.numpy().tolist(), ildj.numpy().tolist()
([[1.5, 1.0]], [[0.0, 0.0]])

#### References

[1]: George Papamakarios, Eric Nalisnick, Danilo Jimenez Rezende, Shakir
     Mohamed, Balaji Lakshminarayanan. Normalizing Flows for Probabilistic
     Modeling and Inference. JMLR 2021. https://arxiv.org/abs/1912.02762
"""

from __future__ import annotations

import tensorflow as tf

__all__ = ["Transformer", "params_from_blocks"]


def params_from_blocks(blocks: tf.Tensor, params_per_entry: int) -> tf.Tensor:
    """``[..., k * n]`` in ``k`` blocks of ``n`` (block ``j`` = parameter ``j``) -> ``[..., n, k]``.

    #### Examples

    >>> params_from_blocks(tf.constant([[1.0, 2.0, 10.0, 20.0]]), 2).numpy().tolist()
    [[[1.0, 10.0], [2.0, 20.0]]]
    """
    k = params_per_entry
    n = blocks.shape[-1] // k
    shape = tf.concat([tf.shape(blocks)[:-1], [k, n]], axis=0)
    split = tf.reshape(blocks, shape)
    rank = split.shape.rank
    return tf.transpose(split, list(range(rank - 2)) + [rank - 1, rank - 2])


class Transformer(tf.Module):
    """An elementwise invertible map ``y_i = tau(x_i; params_i)`` with its log-derivative.

    Subclasses set :attr:`params_per_entry` and implement :meth:`forward` and
    :meth:`inverse`, both returning the elementwise ``ildj`` (module docstring).
    A transformer may own variables (tracked by the layer that holds it).
    :attr:`is_constant_jacobian` is ``True`` only when the map is affine in
    ``x`` with parameters that do not depend on the input (never for a coupling
    layer's conditioned parameters); :attr:`is_volume_preserving` when
    ``ildj`` is identically zero.
    """

    params_per_entry: int = 1
    is_volume_preserving: bool = False

    def forward(self, x: tf.Tensor, params: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """``(y, ildj)`` for ``x`` of shape ``[..., n]`` and ``params`` of shape ``[..., n, k]``."""
        raise NotImplementedError

    def inverse(self, y: tf.Tensor, params: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """``(x, ildj)`` for ``y`` of shape ``[..., n]`` and ``params`` of shape ``[..., n, k]``."""
        raise NotImplementedError
