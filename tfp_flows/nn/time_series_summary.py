"""``TimeSeriesSummary``: 1-D convolutions, global pooling and an optional GRU on a time series.

A summary network ``s = h(x)`` for observations that are sequences
``x [T, C]`` (``T`` time steps of ``C`` channels; ``[T]`` means one channel),
trained jointly with the posterior flow by :func:`tfp_flows.inference.npe`:

```none
h_0 = x                                                         [B, T, C]
h_l = act(conv1d_l(h_{l-1}))  (kernel k, "same" padding), then  [B, T_l, f_l]
      max-pooled by 2 in time (except after the last layer)
p   = [ mean_t h_L,  max_t h_L  (, GRU(h_L)'s last state) ]     [B, 2 f_L (+ g)]
s   = MLP(p)                                                    [B, output_size]
```

The convolutions see local patterns (oscillations, jumps) anywhere in the
series; the global mean and max make ``s`` independent of where they occur and
of ``T``; the GRU (``gru_units > 0``) reads the pooled-in-time features in
order, for statistics that depend on the sequence as a whole (a trend, a
phase). Every weight is a Keras 3 weight that
:func:`~tfp_flows.nn.summary_variables` exposes to the flow's
``trainable_variables`` and checkpoints.

#### Examples

>>> import numpy as np
>>> net = TimeSeriesSummary(4, filters=(8, 8), gru_units=6, hidden_units=(16,), seed=0)
>>> x = np.random.default_rng(0).normal(size=(3, 50, 2)).astype("float32")
>>> net(x).shape
TensorShape([3, 4])
>>> net(x[..., 0])
Traceback (most recent call last):
...
ValueError: time_series_summary: expected shape [batch, time, 2] (2 channels), got shape (3, 50).

#### References

[1] Stefan T. Radev, Marvin Schmitt, Lukas Schumacher, Lasse Elsemueller, Valentin
    Pratz, Yannik Schaelte, Ullrich Koethe and Paul-Christian Buerkner. BayesFlow:
    Amortized Bayesian workflows with neural networks. JOSS 2023 (time-series
    summary networks).
[2] Kyunghyun Cho et al. Learning phrase representations using RNN encoder-decoder
    for statistical machine translation. EMNLP 2014 (the GRU).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import tensorflow as tf

from tfp_flows._internal.checks import check_integer
from tfp_flows.nn.summary import (
    _ChannelsChecked,
    _check_units,
    _convolutions,
    _convolve,
    _dense_stack,
)

__all__ = ["TimeSeriesSummary"]


class TimeSeriesSummary(_ChannelsChecked):
    """A summary of time series ``[B, T, C]`` (or ``[B, T]``): convolutions, pooling, optional GRU.

    Args:
      output_size: width of the summary ``s`` (the posterior flow's context size).
      filters: the channels of each 1-D convolution.
      kernel_size: the convolutions' width in time steps.
      gru_units: width of a GRU over the last convolution's features (0: none).
        It is unrolled over the time steps (known when the network is traced),
        because the gradient of Keras's GRU loop does not compile with XLA
        (``fit``'s default); the pooling keeps that loop short.
      hidden_units: widths of the hidden layers of the final MLP.
      activation: the activation of the convolutions and the MLP.
      seed: seed of the initial weights (``None``: unseeded).

    The number of channels is fixed by the first call; a later call with
    other channels, or of another rank, raises a ``ValueError`` naming the
    expected and the received shape.

    #### Examples

    >>> import numpy as np
    >>> TimeSeriesSummary(3, filters=(4,), seed=0)(np.zeros([2, 20], "float32")).shape
    TensorShape([2, 3])
    """

    axes = "time"

    def __init__(
        self,
        output_size: int,
        filters: Sequence[int] = (32, 32, 32),
        kernel_size: int = 5,
        gru_units: int = 0,
        hidden_units: Sequence[int] = (64,),
        activation: Any = "gelu",
        seed: int | None = 0,
        **kwargs: Any,
    ):
        kwargs.setdefault("name", "time_series_summary")
        super().__init__(**kwargs)
        self.output_size = check_integer("output_size", output_size)
        self.filters = _check_units(filters, "filters", non_empty=True)
        self.kernel_size = check_integer("kernel_size", kernel_size)
        self.gru_units = check_integer("gru_units", gru_units, minimum=0)
        self.hidden_units = _check_units(hidden_units)
        self.convolutions = _convolutions(
            keras.layers.Conv1D, self.filters, self.kernel_size, activation, seed
        )
        self.gru = None
        if self.gru_units:
            self.gru = keras.layers.GRU(
                self.gru_units,
                kernel_initializer=keras.initializers.GlorotUniform(
                    seed=None if seed is None else seed + 100
                ),
                recurrent_initializer=keras.initializers.Orthogonal(
                    seed=None if seed is None else seed + 101
                ),
                unroll=True,  # a static loop: XLA compiles it, and its gradient
                name="gru",
            )
        head_seed = None if seed is None else seed + 1000
        self.head = _dense_stack(self.hidden_units, self.output_size, activation, head_seed, "head")

    def call(self, x: Any) -> tf.Tensor:
        x = keras.ops.convert_to_tensor(x)
        if len(x.shape) == 2:
            x = x[..., None]
        h = _convolve(self.convolutions, x, keras.ops.max_pool)
        pooled = [keras.ops.mean(h, axis=1), keras.ops.max(h, axis=1)]
        if self.gru is not None:
            pooled.append(self.gru(h))
        return self.head(keras.ops.concatenate(pooled, axis=-1))
