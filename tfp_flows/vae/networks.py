"""The VAE's default encoder and decoder: dense for vectors, convolutional for small images.

Small on purpose (a few seconds per epoch of the digits on 2 CPU cores):

```none
vectors [n, D]:       encoder  x -> Dense(h_1, relu) -> ... -> Dense(k)                  (k: the context width)
                      decoder  z -> Dense(h_L, relu) -> ... -> Dense(prod(params_shape))
images [n, H, W, C]:  encoder  x -> Conv(32, 3x3, stride 2) -> Conv(64, 3x3, stride 2) -> Dense(h_1) -> Dense(k)
                      decoder  z -> Dense(h_1) -> Dense(H/4 * W/4 * 64) -> ConvT(32, 3x3, stride 2)
                                 -> ConvT(C * P, 3x3, stride 2)                         (H, W divisible by 4)
```

(relu activations, ``same`` padding; images whose sides are not divisible by 4 get the dense
decoder on the flattened parameters). Every kernel is Glorot-uniform with a seed derived from
``seed``, so two networks built with one seed are equal.

#### Examples

>>> encoder = default_encoder((8, 8, 1), output_size=10, hidden_units=(32,), seed=0)
>>> encoder(np.zeros([2, 8, 8, 1], np.float32)).shape
TensorShape([2, 10])
>>> default_decoder((8, 8, 1), latent_size=2, params_shape=(8, 8, 1, 17), hidden_units=(32,), seed=0)(np.zeros([2, 2], np.float32)).shape
TensorShape([2, 8, 8, 1, 17])
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

__all__ = ["default_decoder", "default_encoder"]


def _dense(units: int, seed: int, activation: str | None = None) -> keras.layers.Dense:
    return keras.layers.Dense(
        units, activation=activation, kernel_initializer=keras.initializers.GlorotUniform(seed)
    )


def _conv(channels: int, seed: int, transpose: bool = False, activation: str | None = "relu"):
    layer = keras.layers.Conv2DTranspose if transpose else keras.layers.Conv2D
    return layer(
        channels,
        3,
        strides=2,
        padding="same",
        activation=activation,
        kernel_initializer=keras.initializers.GlorotUniform(seed),
    )


def default_encoder(
    event_shape: tuple[int, ...],
    output_size: int,
    hidden_units: Sequence[int] = (256, 256),
    seed: int = 0,
    name: str = "encoder",
) -> keras.Sequential:
    """``x [n, *event_shape] -> [n, output_size]``: dense for vectors, two strided convolutions
    then dense layers for images ``[H, W, C]`` (see the module docstring)."""
    layers: list[keras.layers.Layer] = [keras.Input(shape=tuple(event_shape))]
    if len(event_shape) == 3:
        layers += [_conv(32, seed + 101), _conv(64, seed + 102)]
    if len(event_shape) != 1:
        layers.append(keras.layers.Flatten())
    layers += [_dense(u, seed + i, "relu") for i, u in enumerate(hidden_units)]
    layers.append(_dense(output_size, seed + 100))
    return keras.Sequential(layers, name=name)


def default_decoder(
    event_shape: tuple[int, ...],
    latent_size: int,
    params_shape: tuple[int, ...],
    hidden_units: Sequence[int] = (256, 256),
    seed: int = 0,
    name: str = "decoder",
) -> keras.Sequential:
    """``z [n, latent_size] -> [n, *params_shape]``: dense layers (the encoder's widths reversed),
    for images ``[H, W, C]`` with ``H`` and ``W`` divisible by 4 a dense layer and two strided
    transposed convolutions (see the module docstring)."""
    seed = seed + 1000  # apart from the encoder's kernels
    layers: list[keras.layers.Layer] = [keras.Input(shape=(latent_size,))]
    layers += [_dense(u, seed + i, "relu") for i, u in enumerate(reversed(tuple(hidden_units)))]
    params_size = int(np.prod(params_shape))
    height, width = (event_shape[0], event_shape[1]) if len(event_shape) == 3 else (0, 0)
    if len(event_shape) == 3 and height % 4 == 0 and width % 4 == 0 and height and width:
        per_pixel = params_size // (height * width)
        layers += [
            _dense(height // 4 * width // 4 * 64, seed + 100, "relu"),
            keras.layers.Reshape((height // 4, width // 4, 64)),
            _conv(32, seed + 101, transpose=True),
            _conv(per_pixel, seed + 102, transpose=True, activation=None),
        ]
    else:
        layers.append(_dense(params_size, seed + 100))
    layers.append(keras.layers.Reshape(tuple(params_shape)))
    return keras.Sequential(layers, name=name)
