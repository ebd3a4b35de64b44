"""``Additive``: the NICE transformer ``y = x + t``, volume preserving."""

from __future__ import annotations

import tensorflow as tf

from tfp_flows.bijectors.transformers.base import Transformer

__all__ = ["Additive"]


class Additive(Transformer):
    """Shift by the one parameter per entry: volume preserving.

    ```none
    params[..., i, 0] = t_i
    forward:  y_i = x_i + t_i        inverse:  x_i = y_i - t_i        ildj_i = 0
    ```

    #### Examples

    >>> x, ildj = Additive().inverse(tf.constant([2.0]), tf.constant([[0.5]]))
    >>> x.numpy().tolist(), ildj.numpy().tolist()
    ([1.5], [0.0])

    #### References

    [1]: Laurent Dinh, David Krueger, Yoshua Bengio. NICE: Non-linear
         Independent Components Estimation. https://arxiv.org/abs/1410.8516
    """

    params_per_entry = 1
    is_volume_preserving = True

    def __init__(self, name: str = "additive"):
        super().__init__(name=name)

    def forward(self, x, params):
        return x + params[..., 0], tf.zeros_like(x)

    def inverse(self, y, params):
        return y - params[..., 0], tf.zeros_like(y)
