"""Every bijector the package ships, as factories ``(event_size, dtype) -> bijector``.

The property suite (``test_bijector_properties.py``) runs ``tfp_flows.testing``
over this registry: a new bijector is checked by adding one line here.
Conditional layers declare their ``context_size``; layers on image-shaped
events declare the event shape they build for a given ``n``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np
import pytest
import tensorflow as tf
import tf_keras
from tensorflow_probability import bijectors as tfb

import tfp_flows as tff
from tfp_flows.bijectors import (
    ActNorm,
    AdditiveCoupling,
    AffineCoupling,
    BatchNorm,
    ContinuousFlow,
    Conv1x1,
    Coupling,
    FactorOut,
    FlowChain,
    Logit,
    LULinear,
    MaskedAutoregressive,
    Permute,
    Planar,
    Radial,
    Squeeze,
    Standardize,
    alternating_mask,
    channel_mask,
    checkerboard_mask,
    random_mask,
)
from tfp_flows.bijectors.transformers import (
    Additive,
    Affine,
    BijectorTransformer,
    RationalQuadraticSpline,
)
from tfp_flows.nn import ConvResNetFactory, MADEFactory, MLPFactory


@dataclass(frozen=True)
class Entry:
    """How to build one bijector for an event of ``n`` entries (or an image with ``n`` rows)."""

    build: Callable[[int, tf.DType], tfb.Bijector]
    context_size: int = 0
    event_shape: Callable[[int], tuple[int, ...]] = lambda n: (n,)
    composite: bool = False
    """A builder's chain of layers that have entries of their own: the suite checks the chain
    at one event size (its layers are checked at every size)."""
    inputs: Callable[[tf.Tensor], tf.Tensor] | None = None
    """Maps the suite's normal inputs into the layer's domain (``None``: all of R^n)."""
    bounded_domain: bool = False
    """Its domain is bounded: far-out points have zero density (``-inf``), not a finite one."""
    slow: bool = False
    """Its compiled checks take most of a minute even at size 3 (XLA compiling float64
    convolutions or spline searches): the property suite marks all of its cases ``slow``
    (measured: 30-60 s at size 3 on 2 loaded cores)."""


def keras3_conditioner(n_out: int, dtype: tf.DType) -> keras.Model:
    """A small Keras 3 network (its variables are invisible to tf.Module on their own)."""
    return keras.Sequential(
        [  # seeded initialisers: the registry is the same on every run
            keras.layers.Dense(
                16,
                activation="tanh",
                dtype=dtype.name,
                kernel_initializer=keras.initializers.GlorotUniform(seed=31),
            ),
            keras.layers.Dense(
                n_out,
                dtype=dtype.name,
                kernel_initializer=keras.initializers.GlorotUniform(seed=32),
            ),
        ]
    )


def tf_keras_conditioner(n_out: int, dtype: tf.DType) -> tf_keras.Model:
    """A small tf_keras (Keras 2) network."""
    return tf_keras.Sequential(
        [
            tf_keras.layers.Dense(
                16,
                activation="tanh",
                dtype=dtype.name,
                kernel_initializer=tf_keras.initializers.GlorotUniform(seed=33),
            ),
            tf_keras.layers.Dense(
                n_out,
                dtype=dtype.name,
                kernel_initializer=tf_keras.initializers.GlorotUniform(seed=34),
            ),
        ]
    )


class MaskedDense(keras.layers.Layer):
    """A user's Keras 3 layer: ``act(x (W * M) + b)`` with a fixed 0/1 mask ``M`` ``[fan_in, fan_out]``."""

    def __init__(self, mask: np.ndarray, activation=None, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.connections = np.asarray(mask, np.float64)
        self.activation = keras.activations.get(activation)
        self.seed = seed

    def build(self, input_shape):
        self.kernel = self.add_weight(
            shape=self.connections.shape,
            initializer=keras.initializers.GlorotUniform(seed=self.seed),
        )
        self.bias = self.add_weight(shape=self.connections.shape[1:], initializer="zeros")

    def call(self, x):
        mask = keras.ops.convert_to_tensor(self.connections, dtype=self.compute_dtype)
        return self.activation(keras.ops.matmul(x, self.kernel * mask) + self.bias)


def keras3_masked_network(
    n: int, params_per_entry: int, order: np.ndarray, dtype: tf.DType, hidden: int = 16
) -> keras.Sequential:
    """A plain ``keras.Sequential`` of two :class:`MaskedDense` layers, autoregressive in ``order``
    (MADE's degrees, written out): output ``j n + i`` reads input ``m`` only if ``order[m] < order[i]``."""
    inputs = np.asarray(order) + 1
    units = 1 + np.arange(hidden) % max(n - 1, 1)
    outputs = np.tile(inputs, params_per_entry)
    return keras.Sequential(
        [
            MaskedDense(units[None, :] >= inputs[:, None], "tanh", seed=51, dtype=dtype.name),
            MaskedDense(outputs[None, :] > units[:, None], seed=52, dtype=dtype.name),
        ]
    )


class LinearAutoregressive(tf.Module):
    """A user's ``tf.Module`` that meets the autoregressive conditioner protocol by itself:
    ``params = x (W * C) + b``, ``C`` the strict pattern of its order."""

    def __init__(self, n: int, params_per_entry: int, order: np.ndarray, dtype: tf.DType):
        super().__init__(name="linear_autoregressive")
        self.input_size, self.output_size, self.context_size = n, params_per_entry * n, 0
        self.input_order = np.asarray(order)
        self.connectivity = tff.nn.autoregressive_connectivity(order, params_per_entry)
        self.kernel = tf.Variable(tf.zeros([n, self.output_size], dtype))
        self.bias = tf.Variable(tf.zeros([self.output_size], dtype))

    def __call__(self, x, context=None):
        return tf.matmul(x, self.kernel * tf.constant(self.connectivity, x.dtype)) + self.bias


class Keras3Conditioner(keras.layers.Layer):
    """A user's Keras 3 layer that meets the conditioner protocol: declared sizes, and it reads
    ``x_a`` and the context apart (``[x_a, 2 c]`` through two dense layers)."""

    def __init__(self, input_size: int, output_size: int, context_size: int, dtype: tf.DType):
        super().__init__(dtype=dtype.name)
        self.input_size, self.output_size, self.context_size = (
            input_size,
            output_size,
            context_size,
        )
        init = keras.initializers.GlorotUniform
        self.hidden = keras.layers.Dense(
            8, "tanh", kernel_initializer=init(seed=53), dtype=dtype.name
        )
        self.out = keras.layers.Dense(
            output_size, kernel_initializer=init(seed=54), dtype=dtype.name
        )

    def call(self, x_a, context=None):
        return self.out(self.hidden(keras.ops.concatenate([x_a, 2.0 * context], axis=-1)))


def _n_transformed(n: int) -> int:
    return int((alternating_mask(n) == 0).sum())


def _adapted_standardize(n: int, dtype: tf.DType) -> Standardize:
    layer = Standardize(n, dtype=dtype)
    layer.adapt(np.random.default_rng(0).normal(3.0, 5.0, size=(100, n)))
    return layer


def _adapted(layer: tfb.Bijector) -> tfb.Bijector:
    """``layer`` adapted to data of mean 1 and scale 2 (per feature): statistics other than 0 and 1.

    (Small enough for the 2-D density of the property suite to fit in its +-12 box.)
    """
    shape = (100, *layer.event_shape)
    layer.adapt(np.random.default_rng(0).normal(1.0, 2.0, size=shape))
    return layer


def _batch_norm(event_shape: tuple[int, ...], dtype: tf.DType) -> BatchNorm:
    """An adapted ``BatchNorm`` whose trainable affine part is not the identity either."""
    layer = _adapted(BatchNorm(event_shape, dtype=dtype))
    features = event_shape[-1]
    layer.loc.assign(np.linspace(-0.5, 0.5, features))
    layer.log_scale.assign(np.linspace(0.3, -0.3, features))
    return layer


def sinh_arcsinh() -> BijectorTransformer:
    """A user's elementwise TFP bijector as a transformer (bounded skewness and tail weight).

    Bounded parameters keep inputs of 1e4 finite: |y| <= sinh(2 * asinh(1e4) + 2) ~ 1e9.
    """
    return BijectorTransformer(
        lambda p: tfb.SinhArcsinh(
            skewness=2.0 * tf.tanh(p[..., 0]), tailweight=0.5 + 1.5 * tf.sigmoid(p[..., 1])
        ),
        params_per_entry=2,
    )


def spline(bins: int = 4, bound: float = 4.0) -> BijectorTransformer:
    """``tfb.RationalQuadraticSpline`` as a transformer: 3 * bins - 1 parameters per entry."""

    def bijector_fn(p):
        widths = tf.nn.softmax(p[..., :bins]) * (2 * bound - 1e-2 * bins) + 1e-2
        heights = tf.nn.softmax(p[..., bins : 2 * bins]) * (2 * bound - 1e-2 * bins) + 1e-2
        slopes = tf.nn.softplus(p[..., 2 * bins :]) + 1e-2
        return tfb.RationalQuadraticSpline(widths, heights, slopes, range_min=-bound)

    return BijectorTransformer(bijector_fn, params_per_entry=3 * bins - 1)


def multiscale(n: int, dtype: tf.DType, context_size: int = 0) -> FactorOut:
    """Two scales of Real NVP on ``[4, 4, n]`` (``n >= 2``): nested ``FactorOut`` s and squeezes.

    ``x [4, 4, n]`` -> the first ``m = n // 2`` channels: a checkerboard coupling, a squeeze
    to ``[2, 2, 4m]``, then half of those: a squeeze to ``[1, 1, 8m]`` and a channel coupling.
    (MLP conditioners: the conv conditioner has its own entry, and XLA compiles convolutions
    in float64 slowly.)
    """
    m = n // 2
    mlp = dict(context_size=context_size, dtype=dtype)
    coarse = FlowChain(
        [
            AffineCoupling(channel_mask((1, 1, 8 * m)), MLPFactory((8,), seed=41), **mlp),
            Squeeze((2, 2, 2 * m), dtype=dtype),
        ]
    )
    fine = FlowChain(
        [
            FactorOut(coarse, (2, 2, 4 * m)),
            Squeeze((4, 4, m), dtype=dtype),
            AffineCoupling(checkerboard_mask((4, 4, m)), MLPFactory((8,), seed=42), **mlp),
        ]
    )
    return FactorOut(fine, (4, 4, n))


REGISTRY = {
    "affine_coupling": Entry(
        lambda n, dtype: AffineCoupling(n, MLPFactory(hidden_units=(16, 16), seed=1), dtype=dtype)
    ),
    "affine_coupling_random_mask": Entry(
        lambda n, dtype: AffineCoupling(
            random_mask(n, seed=3),
            MLPFactory(hidden_units=(16,), activation="tanh", seed=2),
            dtype=dtype,
        )
    ),
    "affine_coupling_keras3": Entry(
        lambda n, dtype: AffineCoupling(
            n, keras3_conditioner(2 * _n_transformed(n), dtype), dtype=dtype
        )
    ),
    "affine_coupling_tf_keras": Entry(
        lambda n, dtype: AffineCoupling(
            n, tf_keras_conditioner(2 * _n_transformed(n), dtype), dtype=dtype
        )
    ),
    "additive_coupling": Entry(
        lambda n, dtype: AdditiveCoupling(n, MLPFactory(hidden_units=(16,), seed=4), dtype=dtype)
    ),
    "standardize": Entry(_adapted_standardize),
    "actnorm": Entry(lambda n, dtype: _adapted(ActNorm(n, dtype=dtype))),
    "actnorm_image": Entry(
        lambda n, dtype: _adapted(ActNorm((n, 2, 2), dtype=dtype)), event_shape=lambda n: (n, 2, 2)
    ),
    "batch_norm": Entry(lambda n, dtype: _batch_norm((n,), dtype)),
    "batch_norm_image": Entry(
        lambda n, dtype: _batch_norm((n, 2, 2), dtype), event_shape=lambda n: (n, 2, 2)
    ),
    # pixels in (0, 1) to logits (the image flows' preprocessing): inputs squashed into (0, 1)
    "logit": Entry(lambda n, dtype: Logit(n, dtype=dtype), inputs=tf.sigmoid, bounded_domain=True),
    "logit_image": Entry(
        lambda n, dtype: Logit((n, 2, 1), alpha=0.1, dtype=dtype),
        event_shape=lambda n: (n, 2, 1),
        inputs=tf.sigmoid,
        bounded_domain=True,
    ),
    "lu_linear": Entry(lambda n, dtype: LULinear(n, permutation=np.arange(n)[::-1], dtype=dtype)),
    "real_nvp_chain": Entry(
        lambda n, dtype: (
            tff.real_nvp(n, num_layers=4, hidden_units=(16,), seed=5, dtype=dtype).bijector
        ),
        composite=True,
    ),
    "nice_chain": Entry(
        lambda n, dtype: (
            tff.nice(n, num_layers=4, hidden_units=(16,), seed=6, dtype=dtype).bijector
        ),
        composite=True,
    ),
    # autoregressive layers (MADE conditioners): MAF and IAF
    "maf_affine": Entry(
        lambda n, dtype: MaskedAutoregressive(
            n, Affine(n, dtype=dtype), MADEFactory(hidden_units=(16,), seed=15), dtype=dtype
        )
    ),
    "iaf_affine": Entry(
        lambda n, dtype: MaskedAutoregressive(  # TFP's form: (x + t) e^s
            n,
            Affine(n, dtype=dtype, shift_inside=True),
            MADEFactory(hidden_units=(16,), seed=16),
            one_pass="forward",
            input_order=np.arange(n)[::-1].copy(),
            dtype=dtype,
        )
    ),
    "maf_additive": Entry(
        lambda n, dtype: MaskedAutoregressive(
            n,
            Additive(),
            MADEFactory(hidden_units=(16, 16), activation="tanh", seed=17),
            dtype=dtype,
        )
    ),
    "maf_affine_context": Entry(
        lambda n, dtype: MaskedAutoregressive(
            n,
            Affine(n, dtype=dtype),
            MADEFactory(hidden_units=(16,), seed=18),
            context_size=2,
            dtype=dtype,
        ),
        context_size=2,
    ),
    # user networks in an autoregressive layer: a plain keras.Sequential of masked Keras 3
    # layers (declared autoregressive through TrackedConditioner, checked on its Jacobian),
    # and a tf.Module that declares its order and connectivity itself
    "maf_keras3_masked": Entry(
        lambda n, dtype: MaskedAutoregressive(
            n,
            Affine(n, dtype=dtype),
            tff.nn.TrackedConditioner(
                keras3_masked_network(n, 2, np.arange(n)[::-1], dtype),
                input_size=n,
                output_size=2 * n,
                dtype=dtype,
                input_order=np.arange(n)[::-1],
            ),
            dtype=dtype,
        )
    ),
    "iaf_tf_module_linear": Entry(
        lambda n, dtype: MaskedAutoregressive(
            n,
            Affine(n, dtype=dtype, shift_inside=True),
            LinearAutoregressive(n, 2, (np.arange(n) + 1) % n, dtype),
            one_pass="forward",
            dtype=dtype,
        )
    ),
    "maf_chain": Entry(
        lambda n, dtype: (
            tff.maf(n, num_layers=2, hidden_units=(16,), seed=19, dtype=dtype).bijector
        ),
        composite=True,
    ),
    "iaf_chain": Entry(
        lambda n, dtype: (
            tff.iaf(n, num_layers=2, hidden_units=(16,), seed=20, dtype=dtype).bijector
        ),
        composite=True,
    ),
    "nsf_autoregressive_chain": Entry(
        lambda n, dtype: (
            tff.nsf(
                n,
                num_layers=2,
                hidden_units=(16,),
                bins=4,
                bound=3.0,
                autoregressive=True,
                seed=21,
                dtype=dtype,
            ).bijector
        ),
        composite=True,
    ),
    # transformers from TFP bijectors, through the adapter
    "coupling_sinh_arcsinh": Entry(
        lambda n, dtype: Coupling(
            n, sinh_arcsinh(), MLPFactory(hidden_units=(16,), seed=7), dtype=dtype
        )
    ),
    # rational-quadratic splines (bound 3: the suite's inputs of scale 2 fall inside and outside)
    "coupling_rq_spline": Entry(
        lambda n, dtype: Coupling(
            n,
            RationalQuadraticSpline(bins=5, bound=3.0),
            MLPFactory(hidden_units=(16,), seed=15),
            dtype=dtype,
        )
    ),
    "coupling_rq_spline_context": Entry(
        lambda n, dtype: Coupling(
            random_mask(n, seed=2),
            RationalQuadraticSpline(bins=5, bound=3.0),
            MLPFactory(hidden_units=(16,), seed=16),
            context_size=2,
            dtype=dtype,
        ),
        context_size=2,
        slow=True,  # the same transformer as coupling_rq_spline, with a context
    ),
    "nsf_chain": Entry(
        lambda n, dtype: (
            tff.nsf(
                n, num_layers=3, hidden_units=(16,), bins=5, bound=3.0, seed=17, dtype=dtype
            ).bijector
        ),
        composite=True,
    ),
    # conditional layers (conditional flows, through FlowChain: test_conditional_flows.py)
    "additive_coupling_context": Entry(
        lambda n, dtype: AdditiveCoupling(
            n, MLPFactory(hidden_units=(16,), seed=10), context_size=1, dtype=dtype
        ),
        context_size=1,
    ),
    "affine_coupling_keras3_context": Entry(
        lambda n, dtype: AffineCoupling(
            n, keras3_conditioner(2 * _n_transformed(n), dtype), context_size=3, dtype=dtype
        ),
        context_size=3,
    ),
    "affine_coupling_keras3_protocol_context": Entry(
        lambda n, dtype: AffineCoupling(
            n,
            Keras3Conditioner(n - _n_transformed(n), 2 * _n_transformed(n), 2, dtype),
            context_size=2,
            dtype=dtype,
        ),
        context_size=2,
    ),
    "coupling_spline_context": Entry(
        lambda n, dtype: Coupling(
            random_mask(n, seed=1),
            spline(),
            MLPFactory(hidden_units=(16,), seed=11),
            context_size=2,
            dtype=dtype,
        ),
        context_size=2,
        slow=True,
    ),
    # planar and radial flows (Rezende & Mohamed, 2015), permutations
    "planar": Entry(lambda n, dtype: Planar(n, seed=20, dtype=dtype)),
    "planar_context": Entry(
        lambda n, dtype: Planar(n, context_size=2, hidden_units=(16,), seed=21, dtype=dtype),
        context_size=2,
    ),
    "radial": Entry(lambda n, dtype: Radial(n, seed=22, dtype=dtype)),
    "radial_context": Entry(
        lambda n, dtype: Radial(n, context_size=2, hidden_units=(16,), seed=23, dtype=dtype),
        context_size=2,
    ),
    # a neural ODE (fixed-step RK4): its round trip and log-det are exact up to the solver's
    # error, within the suite's float64 bounds (1e-10, 1e-8) at 32 steps of a small network
    # (measured at size 3: round trip 1.1e-11, log-det vs autodiff 1.3e-11); slow: 128
    # evaluations of the network per solve, ~40 s at size 3 (test_continuous_flow.py checks
    # it in the fast loop)
    "continuous_flow": Entry(
        lambda n, dtype: ContinuousFlow(
            n, num_steps=32, hidden_units=(8,), time_frequencies=1, seed=26, dtype=dtype
        ),
        slow=True,
    ),
    # the same neural ODE by fixed-step Dormand-Prince 5 (32 steps, six evaluations each), and
    # conditional (the context reaches the velocity); slow like the RK4 entry
    "continuous_flow_dopri5_context": Entry(
        lambda n, dtype: ContinuousFlow(
            n,
            num_steps=32,
            solver="dopri5",
            context_size=2,
            hidden_units=(8,),
            time_frequencies=1,
            seed=27,
            dtype=dtype,
        ),
        context_size=2,
        slow=True,
    ),
    # the builder's flow: tff.cnf's default velocity adds the Gaussian skip a(t) z (the layers
    # above use ContinuousFlow's own network, without it). The skip's field makes the solver's
    # error larger: at size 3 the float64 round trip was 2.8e-8 by 32 RK4 steps and 1.02e-10
    # by 32 Dopri5 steps, so Dopri5 with 48 steps (within the suite's 1e-10)
    "cnf_chain": Entry(
        lambda n, dtype: (
            tff.cnf(
                n,
                hidden_units=(8,),
                time_frequencies=1,
                solver="dopri5",
                num_steps=48,
                seed=28,
                dtype=dtype,
            ).bijector
        ),
        composite=True,
        slow=True,
    ),
    "permute_reverse": Entry(lambda n, dtype: Permute.reverse(n, dtype=dtype)),
    "permute_random": Entry(lambda n, dtype: Permute.random(n, seed=5, dtype=dtype)),
    "planar_chain": Entry(
        lambda n, dtype: tff.planar(n, num_layers=3, seed=24, dtype=dtype).bijector, composite=True
    ),
    "radial_chain": Entry(
        lambda n, dtype: tff.radial(n, num_layers=3, seed=25, dtype=dtype).bijector, composite=True
    ),
    # image-shaped events [H, W, C]
    "affine_coupling_checkerboard": Entry(
        lambda n, dtype: AffineCoupling(
            checkerboard_mask((n, 2, 1)), MLPFactory(hidden_units=(16,), seed=13), dtype=dtype
        ),
        event_shape=lambda n: (n, 2, 1),
    ),
    "affine_coupling_checkerboard_context": Entry(
        lambda n, dtype: AffineCoupling(
            checkerboard_mask((n, 2, 2), flip=True),
            MLPFactory(hidden_units=(16,), seed=14),
            context_size=1,
            dtype=dtype,
        ),
        context_size=1,
        event_shape=lambda n: (n, 2, 2),
    ),
    # the multiscale architecture: squeeze, factor-out, 1x1 convolutions, conv conditioners
    "squeeze": Entry(
        lambda n, dtype: Squeeze((2, 4, n), dtype=dtype), event_shape=lambda n: (2, 4, n)
    ),
    "conv1x1": Entry(
        lambda n, dtype: Conv1x1((2, 2, n), seed=36, dtype=dtype), event_shape=lambda n: (2, 2, n)
    ),
    "factor_out": Entry(
        lambda n, dtype: FactorOut(Conv1x1((n, 2, 2), seed=37, dtype=dtype), (n, 2, 4)),
        event_shape=lambda n: (n, 2, 4),
    ),
    # (no residual block: XLA compiles each float64 convolution slowly; test_image_bijectors
    # checks the blocks' gradients)
    "affine_coupling_conv_checkerboard_context": Entry(
        lambda n, dtype: AffineCoupling(
            checkerboard_mask((n, 4, 1)),
            ConvResNetFactory(hidden_channels=4, num_blocks=0, seed=38),
            context_size=2,
            dtype=dtype,
        ),
        context_size=2,
        event_shape=lambda n: (n, 4, 1),
        slow=True,
    ),
    # (its layers have entries of their own: checked at size 3)
    "multiscale_context": Entry(
        lambda n, dtype: multiscale(n, dtype, context_size=1),
        context_size=1,
        event_shape=lambda n: (4, 4, n),
        composite=True,
    ),
}


def entry_params(names: list[str]) -> list:
    """``names`` as ``pytest.param``s, the composite and slow entries marked ``slow``.

    The fast loop (``-m "not slow"``) runs a registry-wide test on every single layer; a
    builder's chain (whose layers have entries of their own) and the entries whose compiled
    checks are slow run in the full suite only."""
    return [
        pytest.param(
            name,
            marks=[pytest.mark.slow] if REGISTRY[name].composite or REGISTRY[name].slow else [],
        )
        for name in names
    ]
