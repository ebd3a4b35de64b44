"""``FactorOut``: the multiscale step of Real NVP: half of the channels leave the flow.

At each scale of Real NVP's multiscale architecture, half of the channels are
"factored out": they go to the base distribution unchanged, and only the other
half is transformed further (at a coarser scale, after a squeeze). On the data
side this is a layer that applies an ``inner`` bijector to the first half of the
channels and passes the second half through.

#### References

[1]: Laurent Dinh, Jascha Sohl-Dickstein, Samy Bengio. Density estimation using
     Real NVP. ICLR 2017, section 3.6. https://arxiv.org/abs/1605.08803
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf
from tensorflow_probability import bijectors as tfb

from tfp_flows._internal.naming import unique_name
from tfp_flows.bijectors.base import FlowBijector
from tfp_flows.bijectors.chain import context_size_of
from tfp_flows.bijectors.squeeze import squeeze_2x2, unsqueeze_2x2
from tfp_flows.bijectors.walk import forward_and_log_det, inverse_and_log_det, walk

__all__ = ["FactorOut"]


def _squeezes(inner_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> int | None:
    """``k`` with ``out_shape = [H / 2^k, W / 2^k, 4^k C]`` for ``inner_shape = [H, W, C]``, else ``None``."""
    height, width, channels = inner_shape
    for k in range(int(np.log2(max(min(height, width), 1))) + 1):
        if out_shape == (height >> k, width >> k, channels * 4**k) and not (
            height % 2**k or width % 2**k
        ):
            return k
    return None


class FactorOut(FlowBijector):
    """``y = [inner(x_1), x_2]``: an inner bijector on the first half of the channels only.

    With ``x = [x_1, x_2]`` split on the channel axis of an event ``[H, W, C]``
    (``x_1`` the first ``C_1 = C // 2`` channels, ``x_2`` the other ``C - C_1``):

    ```none
    forward:  y_1 = unsqueeze^k(inner(x_1, c)),   y_2 = x_2
    inverse:  x_1 = inner^{-1}(squeeze^k(y_1), c),  x_2 = y_2
    forward_log_det_jacobian(x) = inner.forward_log_det_jacobian(x_1)
    ```

    ``x_2`` is factored out: in a flow ``TransformedDistribution(base, layer)``
    whose base is a standard normal on ``[H, W, C]``, those channels are
    modelled by the base directly, and only ``x_1`` goes through the ``inner``
    layers. The inner bijector may end in squeezes (Real NVP's next, coarser
    scale: ``[H, W, C_1] -> [H / 2^k, W / 2^k, 4^k C_1]``); its output is
    unsqueezed back (:func:`~tfp_flows.bijectors.squeeze.unsqueeze_2x2`, ``k``
    times), so ``y`` has the shape of ``x`` and each scale's latent
    variables sit at the pixels they describe. Nesting gives the multiscale
    architecture: ``FactorOut(FlowChain([FactorOut(...), Squeeze(...),
    couplings...]), ...)``.

    A conditional inner bijector (a conditional layer, or a
    :class:`~tfp_flows.bijectors.FlowChain` with conditional layers) makes
    this layer conditional with the same ``context_size``; the context is
    passed to the inner bijector. Within one call, the inner bijector's value
    and log-det come from one pass.

    Args:
      inner: a bijector on events ``[H, W, C // 2]`` (``forward_min_event_ndims``
        at most 3; a :class:`~tfp_flows.bijectors.FlowBijector` must have that
        event shape) whose output has that shape, or that shape squeezed ``k``
        times.
      event_shape: ``(H, W, C)``, ``C >= 2``.
      validate_args: check inputs are finite.
      name: layer name (default: the next free ``factor_out``, ``factor_out_1``, ...).

    #### Examples

    >>> from tfp_flows.bijectors import Conv1x1
    >>> inner = Conv1x1((2, 2, 1), seed=0)
    >>> _ = inner.log_diag.assign([0.5])            # scales channel 0 by e^0.5
    >>> layer = FactorOut(inner, (2, 2, 2))
    >>> x = tf.ones([1, 2, 2, 2])
    >>> y = layer.forward(x)
    >>> y[0, 0, 0].numpy().round(4).tolist()        # channel 1 is factored out, untouched
    [1.6487, 1.0]
    >>> float(layer.forward_log_det_jacobian(x, event_ndims=3)[0])   # 4 pixels * 0.5
    2.0
    """

    def __init__(
        self,
        inner: tfb.Bijector,
        event_shape: Sequence[int],
        *,
        validate_args: bool = False,
        name: str | None = None,
    ):
        parameters = dict(locals())
        name = name or unique_name("factor_out")
        if not isinstance(inner, tfb.Bijector):
            raise TypeError(f"{name}: inner must be a tfb.Bijector, got {type(inner).__name__}.")
        shape = tuple(int(s) for s in event_shape) if isinstance(event_shape, Sequence) else ()
        if len(shape) != 3 or shape[-1] < 2:
            raise ValueError(
                f"{name}: expected an image event_shape (H, W, C) with C >= 2 "
                f"channels to split, got {event_shape!r}."
            )
        inner_shape = (*shape[:2], shape[-1] // 2)
        min_ndims = inner.forward_min_event_ndims
        if not isinstance(min_ndims, (int, np.integer)) or min_ndims > 3:
            raise ValueError(
                f"{name}: inner must act on events of rank at most 3 (an image), "
                f"got forward_min_event_ndims={min_ndims}."
            )
        if isinstance(inner, FlowBijector) and inner.event_shape != inner_shape:
            raise ValueError(
                f"{name}: inner acts on the first C // 2 = {inner_shape[-1]} channels of "
                f"{list(shape)}, so it needs event_shape {list(inner_shape)}, got "
                f"{list(inner.event_shape)}."
            )
        out_shape = tf.TensorShape(inner.forward_event_shape(inner_shape))
        self._squeezes = _squeezes(
            inner_shape, tuple(out_shape.as_list()) if out_shape.is_fully_defined() else ()
        )
        if self._squeezes is None:
            raise ValueError(
                f"{name}: inner maps {list(inner_shape)} to {out_shape}; FactorOut needs an "
                f"output of the same shape or that shape squeezed k times "
                f"[H / 2^k, W / 2^k, 4^k C]."
            )
        dtypes = [layer.bijector.dtype for layer in walk(inner) if layer.bijector.dtype is not None]
        dtype = dtypes[0] if dtypes else tf.float32
        self._inner = inner
        self._split = inner_shape[-1]
        super().__init__(
            shape,
            is_constant_jacobian=bool(inner.is_constant_jacobian),
            validate_args=validate_args,
            dtype=dtype,
            parameters=parameters,
            name=name,
            context_size=context_size_of(inner),
        )

    @property
    def inner(self) -> tfb.Bijector:
        """The bijector applied to the first ``C // 2`` channels."""
        return self._inner

    def inner_outputs(self, y: tf.Tensor) -> tf.Tensor:
        """What the inner bijector's forward pass gave within this layer's output ``y``.

        ``squeeze^k(y[..., :C // 2])``: the coordinates in which the inner
        layers meet the data (``fit`` adapts an ``ActNorm`` inside to them).
        """
        y_1 = tf.convert_to_tensor(y, self.dtype)[..., : self._split]
        for _ in range(self._squeezes):
            y_1 = squeeze_2x2(y_1)
        return y_1

    def _split_channels(self, x: tf.Tensor, context: tf.Tensor | None):
        if context is not None and not (
            x.shape[:-3].is_fully_defined() and x.shape[:-3] == context.shape[:-1]
        ):
            batch = tf.broadcast_dynamic_shape(tf.shape(x)[:-3], tf.shape(context)[:-1])
            x = tf.broadcast_to(x, tf.concat([batch, tf.shape(x)[-3:]], axis=0))
        kwargs: dict[str, Any] = {} if context is None else {"context": context}
        return x[..., : self._split], x[..., self._split :], kwargs

    def _forward_and_ildj(self, x, context=None):
        x_1, x_2, kwargs = self._split_channels(x, context)
        y_1, fldj = forward_and_log_det(self._inner, x_1, 3, **kwargs)  # one inner pass
        ildj = -fldj
        for _ in range(self._squeezes):
            y_1 = unsqueeze_2x2(y_1)
        return tf.concat([y_1, x_2], axis=-1), tf.broadcast_to(ildj, tf.shape(x_2)[:-3])

    def _inverse_and_ildj(self, y, context=None):
        y_1, y_2, kwargs = self._split_channels(y, context)
        for _ in range(self._squeezes):
            y_1 = squeeze_2x2(y_1)
        x_1, ildj = inverse_and_log_det(self._inner, y_1, 3, **kwargs)  # one inner pass
        return tf.concat([x_1, y_2], axis=-1), tf.broadcast_to(ildj, tf.shape(y_2)[:-3])
