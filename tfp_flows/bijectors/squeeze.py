"""``Squeeze``: space to depth by a factor 2, the reshaping step of Real NVP's multiscale flow.

Each 2x2 block of pixels of an image ``[H, W, C]`` becomes one pixel with
``4 C`` channels, in the order of Real NVP's ``squeeze_2x2`` and Glow's
``squeeze2d`` (each input channel's four sub-pixels are contiguous, row by row):

```none
y[i, j, 4 c + 2 a + b] = x[2 i + a, 2 j + b, c]       a, b in {0, 1}
```

For ``C = 1`` the four channels of an output pixel are its block's top-left,
top-right, bottom-left and bottom-right pixels. (``tf.nn.space_to_depth``
orders the channels the other way round, ``(2 a + b) C + c``.)
:func:`squeeze_2x2` and :func:`unsqueeze_2x2` are the two maps on tensors of
any batch shape.

#### References

[1]: Laurent Dinh, Jascha Sohl-Dickstein, Samy Bengio. Density estimation using
     Real NVP. ICLR 2017, section 3.6. https://arxiv.org/abs/1605.08803
[2]: Diederik P. Kingma, Prafulla Dhariwal. Glow: Generative Flow with
     Invertible 1x1 Convolutions. NeurIPS 2018. https://arxiv.org/abs/1807.03039
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from tfp_flows._internal.naming import unique_name
from tfp_flows.bijectors.base import FlowBijector

__all__ = ["Squeeze", "squeeze_2x2", "unsqueeze_2x2"]


def squeeze_2x2(x: tf.Tensor) -> tf.Tensor:
    """``[..., H, W, C] -> [..., H/2, W/2, 4C]``: ``y[i, j, 4c + 2a + b] = x[2i + a, 2j + b, c]``.

    ``H`` and ``W`` must be even and known statically.

    #### Examples

    >>> x = tf.reshape(tf.range(4.0), [1, 2, 2, 1])   # [[0, 1], [2, 3]]
    >>> squeeze_2x2(x).numpy().tolist()
    [[[[0.0, 1.0, 2.0, 3.0]]]]
    """
    height, width, channels = x.shape[-3:]
    batch_shape = tf.shape(x)[:-3]
    blocks = tf.reshape(x, [-1, height // 2, 2, width // 2, 2, channels])
    blocks = tf.transpose(blocks, [0, 1, 3, 5, 2, 4])  # [n, H/2, W/2, C, a, b]
    return tf.reshape(
        blocks, tf.concat([batch_shape, [height // 2, width // 2, 4 * channels]], axis=0)
    )


def unsqueeze_2x2(y: tf.Tensor) -> tf.Tensor:
    """``[..., H, W, 4C] -> [..., 2H, 2W, C]``, the inverse of :func:`squeeze_2x2`.

    #### Examples

    >>> y = tf.reshape(tf.range(4.0), [1, 1, 1, 4])
    >>> unsqueeze_2x2(y)[0, ..., 0].numpy().tolist()
    [[0.0, 1.0], [2.0, 3.0]]
    """
    height, width, depth = y.shape[-3:]
    batch_shape = tf.shape(y)[:-3]
    blocks = tf.reshape(y, [-1, height, width, depth // 4, 2, 2])
    blocks = tf.transpose(blocks, [0, 1, 4, 2, 5, 3])  # [n, H, a, W, b, C]
    return tf.reshape(blocks, tf.concat([batch_shape, [2 * height, 2 * width, depth // 4]], axis=0))


class Squeeze(FlowBijector):
    """Space to depth by 2: ``[H, W, C] -> [H/2, W/2, 4C]``, a fixed rearrangement (log-det 0).

    ```none
    forward:  y[i, j, 4 c + 2 a + b] = x[2 i + a, 2 j + b, c]        (a, b in {0, 1})
    inverse:  x[h, w, c] = y[h // 2, w // 2, 4 c + 2 (h % 2) + w % 2]
    forward_log_det_jacobian = inverse_log_det_jacobian = 0           (a permutation)
    ```

    The order is Real NVP's ``squeeze_2x2`` and Glow's ``squeeze2d`` (module
    docstring). The layer's event shape is its *input* ``[H, W, C]``;
    ``forward_event_shape`` gives ``[H/2, W/2, 4C]``, so in a
    ``tfd.TransformedDistribution`` the base has the shape of the input side.
    A permutation of the entries is linear, so ``is_constant_jacobian`` is ``True``.

    Args:
      event_shape: ``(H, W, C)`` with ``H`` and ``W`` even.
      validate_args: check inputs are finite.
      dtype: ``tf.float32`` or ``tf.float64``.
      name: layer name (default: the next free ``squeeze``, ``squeeze_1``, ...).

    #### Examples

    >>> layer = Squeeze((2, 2, 1))
    >>> x = tf.reshape(tf.range(4.0), [1, 2, 2, 1])     # one image [[0, 1], [2, 3]]
    >>> layer.forward(x).numpy().tolist()
    [[[[0.0, 1.0, 2.0, 3.0]]]]
    >>> layer.forward_event_shape([2, 2, 1])
    TensorShape([1, 1, 4])
    >>> float(layer.forward_log_det_jacobian(x, event_ndims=3)[0])
    0.0
    >>> Squeeze((3, 4, 1), name="squeeze_odd")
    Traceback (most recent call last):
    ...
    ValueError: squeeze_odd: a 2x2 squeeze needs an even height and width, got event_shape (3, 4, 1).
    """

    def __init__(
        self,
        event_shape: Sequence[int],
        *,
        validate_args: bool = False,
        dtype: tf.DType = tf.float32,
        name: str | None = None,
    ):
        parameters = dict(locals())
        name = name or unique_name("squeeze")
        shape = tuple(int(s) for s in event_shape) if isinstance(event_shape, Sequence) else None
        if shape is None or len(shape) != 3 or min(shape) < 1 or shape[0] % 2 or shape[1] % 2:
            raise ValueError(
                f"{name}: a 2x2 squeeze needs an even height and width, got "
                f"event_shape {shape if shape is not None else event_shape!r}."
            )
        height, width, channels = shape
        super().__init__(
            shape,
            output_event_shape=(height // 2, width // 2, 4 * channels),
            is_constant_jacobian=True,
            validate_args=validate_args,
            dtype=dtype,
            parameters=parameters,
            name=name,
        )

    @staticmethod
    def _zeros(x: tf.Tensor) -> tf.Tensor:
        return tf.zeros(tf.shape(x)[:-3], x.dtype)

    def _forward_and_ildj(self, x):
        return squeeze_2x2(x), self._zeros(x)

    def _inverse_and_ildj(self, y):
        return unsqueeze_2x2(y), self._zeros(y)
