"""``VelocityMLP``: the velocity field ``v(x, t, c)`` of a continuous-time flow.

A multilayer perceptron on plain ``tf.Variable`` s that reads the state ``x``
``[B, n]``, sinusoidal features of the time ``t`` ``[B, 1]`` and, when
conditional, a context ``c`` ``[B, k]``, concatenated:

```none
phi(t) = [sin(pi t), cos(pi t), sin(2 pi t), cos(2 pi t), ..., sin(m pi t), cos(m pi t)]
s      = x / sqrt((1 - t)^2 + t^2)    with scale_state (else s = x)
psi(s) = [sin(w s_j), cos(w s_j)]  for w = 1..q and every entry j   (q = state_frequencies)
h_0    = [s, psi(s), phi(t), c]
h_l    = act(h_{l-1} W_l + b_l),   l = 1..L
v      = h_L W_out + b_out          (W_out, b_out start at zero: v = 0, the flow is the identity)
v      = a(t) x + h_L W_out + b_out,   a(t) = (2t - 1) / ((1 - t)^2 + t^2)     with gaussian_skip
```

With ``gaussian_skip`` the network learns the velocity's departure from
``a(t) x``, the exact flow-matching velocity when the data are ``N(0, I)``:
on straight paths ``z_t = (1 - t) z_0 + t z_1`` between independent ``z_0``,
``z_1 ~ N(0, I)``, ``E[z_1 - z_0 | z_t] = a(t) z_t`` (the covariance of
``z_1 - z_0`` with ``z_t``, ``2t - 1``, over the variance of ``z_t``). After a
``Standardize`` layer the data have those first two moments, so the network's
part is the non-Gaussian rest. Its time-1 map is the identity (the path's
marginals are all ``N(0, sigma_t^2 I)`` with ``sigma_0 = sigma_1 = 1``:
``x(t) = x(0) sigma_t``, ``sigma_t = sqrt((1 - t)^2 + t^2)``, log-det
``n log(sigma_1 / sigma_0) = 0``), so a fresh flow is still ``N(0, I)`` (up
to the solver's error; ``a(1 - t) = -a(t)``, so a symmetric quadrature of its
integral is exactly 0).

``sqrt((1 - t)^2 + t^2)`` is the standard deviation of ``z_t = (1 - t) z_0 + t
z_1`` on flow matching's straight paths between independent ``z_0`` and ``z_1``
of unit variance (``N(0, I)`` and standardised data): ``s`` keeps the
network's input at unit scale at every ``t`` (as in Karras et al. 2022's input
preconditioning). The sines and cosines of ``s`` (fixed frequencies ``1..q``
per entry) let a small network resolve structure finer than its input's
scale, which a plain MLP learns slowly (Tancik et al. 2020).

Besides ``v`` it computes the exact divergence ``tr(dv/dx)`` by propagating
the Jacobian ``dh_l/dx`` ``[B, width_l, n]`` forward through the layers (no
gradient tape: plain matmuls that XLA compiles), which a
:class:`~tfp_flows.bijectors.ContinuousFlow` integrates for its log-det:

```none
dh_1/dx = act'(a_1) * (W_1^T dh_0/dx),   dh_l/dx = act'(a_l) * (W_l^T dh_{l-1}/dx),
dh_0/dx = [1; w cos(w s); -w sin(w s)] ds/dx   (per entry; ds/dx = 1 / sqrt((1 - t)^2 + t^2) or 1)
tr(dv/dx) = sum_{i, j} dh_L/dx[i, j] W_out[i, j]   (+ n a(t) with gaussian_skip)
```

It costs about ``n`` times the hidden matmuls of one evaluation, for event
sizes up to ~16. For larger events, ``velocity_and_jvp`` propagates one
direction ``u`` instead of ``n`` (``dh_l/dx u``, ``[B, width_l]``): ``(dv/dx) u``
at about the cost of one more evaluation, for Hutchinson's estimate
``u^T (dv/dx) u`` of the trace.

#### Examples

>>> import tensorflow as tf
>>> net = VelocityMLP(2, hidden_units=(8,), seed=0)
>>> net(tf.ones([3, 2]), tf.zeros([3, 1])).numpy().tolist()  # zero-initialised output
[[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]]
>>> v, divergence = net.velocity_and_divergence(tf.ones([3, 2]), tf.zeros([3, 1]))
>>> divergence.shape
TensorShape([3])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import tensorflow as tf

from tfp_flows._internal.checks import check_floating_dtype, check_integer
from tfp_flows._internal.context import with_context
from tfp_flows.nn.mlp import check_hidden_units, dense_forward, dense_weights, get_activation

__all__ = ["VelocityMLP", "time_features"]

# Derivatives of the named activations in closed form (any other: elementwise autodiff).
_DERIVATIVES: dict[Callable, Callable[[tf.Tensor, tf.Tensor], tf.Tensor]] = {
    tf.math.tanh: lambda a, h: 1.0 - h * h,
    tf.nn.silu: lambda a, h: tf.sigmoid(a) * (1.0 + a * (1.0 - tf.sigmoid(a))),
    tf.math.softplus: lambda a, h: tf.sigmoid(a),
    tf.math.sigmoid: lambda a, h: h * (1.0 - h),
}


def _activation_and_derivative(
    activation: Callable[[tf.Tensor], tf.Tensor], a: tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor]:
    """``(act(a), act'(a))`` elementwise."""
    derivative = _DERIVATIVES.get(activation)
    if derivative is not None:
        h = activation(a)
        return h, derivative(a, h)
    with tf.GradientTape() as tape:
        tape.watch(a)
        h = activation(a)
    return h, tape.gradient(h, a)


def time_features(t: tf.Tensor, frequencies: int) -> tf.Tensor:
    """``[sin(pi t), cos(pi t), ..., sin(m pi t), cos(m pi t)]`` of ``t`` ``[B, 1]``: ``[B, 2m]``.

    #### Examples

    >>> time_features(tf.zeros([2, 1]), 2).numpy().tolist()
    [[0.0, 1.0, 0.0, 1.0], [0.0, 1.0, 0.0, 1.0]]
    """
    k = tf.range(1, frequencies + 1, dtype=t.dtype) * tf.constant(np.pi, t.dtype)
    angles = t * k
    return tf.reshape(
        tf.stack([tf.sin(angles), tf.cos(angles)], axis=-1),
        tf.concat([tf.shape(t)[:-1], [2 * frequencies]], 0),
    )


class VelocityMLP(tf.Module):
    """Velocity field ``v(x, t, c)``: an MLP on ``[x, phi(t), c]``, last layer at zero.

    Hidden kernels use Glorot-uniform initialisation; biases start at zero; the
    output layer starts at zero, so a fresh continuous flow is the identity.

    Args:
      event_size: width ``n`` of the state ``x``.
      context_size: width ``k`` of the context (0: unconditional).
      hidden_units: widths of the hidden layers.
      activation: name or callable; smooth ones (``"tanh"``, ``"silu"``, ``"softplus"``)
        suit an ODE (a ReLU's divergence is piecewise constant in ``x``).
      time_frequencies: ``m``, the number of sine/cosine pairs of ``t``.
      state_frequencies: ``q``, the number of sine/cosine pairs of each entry of the
        state (0: the state alone).
      scale_state: read ``x / sqrt((1 - t)^2 + t^2)`` instead of ``x`` (for flow
        matching between ``N(0, I)`` and standardised data).
      gaussian_skip: add ``a(t) x``, ``a(t) = (2t - 1) / ((1 - t)^2 + t^2)``, to the
        output: the exact flow-matching velocity between ``N(0, I)`` and ``N(0, I)``
        data, so the network learns the rest (see the module docstring); its
        time-1 map is the identity.
      zero_init_output: start the last layer at zero.
      seed: integer seed for a deterministic initialisation.
      dtype: ``tf.float32`` or ``tf.float64``.
      name: module name.

    #### Examples

    >>> net = VelocityMLP(2, context_size=1, hidden_units=(8,), seed=1, zero_init_output=False)
    >>> net(tf.zeros([4, 2]), tf.fill([4, 1], 0.5), tf.ones([4, 1])).shape
    TensorShape([4, 2])
    >>> net = VelocityMLP(2, hidden_units=(8,), state_frequencies=3, scale_state=True, seed=1)
    >>> net.kernels[0].shape  # 2 entries, 2 x 3 x 2 of their sines and cosines, 2 x 4 of t
    TensorShape([22, 8])
    """

    def __init__(
        self,
        event_size: int,
        *,
        context_size: int = 0,
        hidden_units: Sequence[int] = (64, 64),
        activation: str | Callable[[tf.Tensor], tf.Tensor] = "tanh",
        time_frequencies: int = 4,
        state_frequencies: int = 0,
        scale_state: bool = False,
        gaussian_skip: bool = False,
        zero_init_output: bool = True,
        seed: int | None = None,
        dtype: tf.DType = tf.float32,
        name: str = "velocity_mlp",
    ):
        super().__init__(name=name)
        self.event_size = check_integer(f"{name}: event_size", event_size, minimum=1)
        self.context_size = check_integer(f"{name}: context_size", context_size, minimum=0)
        self.time_frequencies = check_integer(
            f"{name}: time_frequencies", time_frequencies, minimum=1
        )
        dtype = check_floating_dtype(dtype, name)
        self.state_frequencies = check_integer(
            f"{name}: state_frequencies", state_frequencies, minimum=0
        )
        self.scale_state = bool(scale_state)
        self.gaussian_skip = bool(gaussian_skip)
        self._activation = get_activation(activation)
        sizes = [
            self.event_size * (1 + 2 * self.state_frequencies)
            + 2 * self.time_frequencies
            + self.context_size,
            *check_hidden_units(hidden_units),
            self.event_size,
        ]
        with self.name_scope:
            self.kernels, self.biases = dense_weights(sizes, zero_init_output, seed, dtype)

    def _state(self, x: tf.Tensor, t: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """``(s, ds/dx)``: the state as the network reads it, ``s = x / sqrt((1 - t)^2 + t^2)``
        with ``scale_state`` (``[B, n]``, and the factor ``[B, 1]``), else ``(x, 1)``."""
        if not self.scale_state:
            return x, tf.ones_like(t)
        scale = tf.math.rsqrt(tf.square(1.0 - t) + tf.square(t))
        return x * scale, scale

    def _state_features(self, s: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """``(sin(w s), cos(w s), w)`` of shapes ``[B, n, m]``, ``[B, n, m]``, ``[m]``,
        ``w = 1, 2, ..., m`` (``m = state_frequencies``)."""
        w = tf.range(1, self.state_frequencies + 1, dtype=s.dtype)
        angles = s[..., None] * w
        return tf.sin(angles), tf.cos(angles), w

    def _inputs(self, x: tf.Tensor, t: tf.Tensor, context: tf.Tensor | None) -> tf.Tensor:
        t = tf.broadcast_to(tf.cast(t, x.dtype), tf.concat([tf.shape(x)[:-1], [1]], 0))
        s, _ = self._state(x, t)
        parts = [s]
        if self.state_frequencies:
            sin, cos, _ = self._state_features(s)
            flat = tf.concat([tf.shape(s)[:-1], [self.event_size * self.state_frequencies]], 0)
            parts += [tf.reshape(sin, flat), tf.reshape(cos, flat)]
        h = tf.concat([*parts, time_features(t, self.time_frequencies)], axis=-1)
        return with_context(h, context, self.context_size, self.name)

    def _input_jacobian(self, x: tf.Tensor, t: tf.Tensor, kernel: tf.Tensor) -> tf.Tensor:
        """``d(h_0 W_1)/dx``: ``[B, width, n]`` (``[1, width, n]`` when it does not vary)."""
        n, m = self.event_size, self.state_frequencies
        if not (self.scale_state or m):
            return tf.transpose(kernel[:n])[None]
        t = tf.broadcast_to(tf.cast(t, x.dtype), tf.concat([tf.shape(x)[:-1], [1]], 0))
        s, scale = self._state(x, t)
        da = tf.transpose(kernel[:n])[None] * tf.ones_like(s)[:, None, :]  # [B, width, n]
        if m:
            sin, cos, w = self._state_features(s)
            width = tf.shape(kernel)[-1]
            w_sin = tf.reshape(kernel[n : n + n * m], [n, m, width])
            w_cos = tf.reshape(kernel[n + n * m : n + 2 * n * m], [n, m, width])
            da += tf.einsum("bjk,jkw->bwj", w * cos, w_sin) - tf.einsum(
                "bjk,jkw->bwj", w * sin, w_cos
            )
        return da * scale[:, :, None]

    def _skip_slope(self, x: tf.Tensor, t: tf.Tensor) -> tf.Tensor:
        """``a(t) = (2t - 1) / ((1 - t)^2 + t^2)``, ``[B, 1]``: the Gaussian skip's ``dv/dx = a(t) I``."""
        t = tf.broadcast_to(tf.cast(t, x.dtype), tf.concat([tf.shape(x)[:-1], [1]], 0))
        return (2.0 * t - 1.0) / (tf.square(1.0 - t) + tf.square(t))

    def __call__(self, x: tf.Tensor, t: tf.Tensor, context: tf.Tensor | None = None) -> tf.Tensor:
        """``v(x, t, c)``: ``x`` ``[B, n]``, ``t`` ``[B, 1]`` (or a scalar), ``c`` ``[B, k]``."""
        v = dense_forward(self._inputs(x, t, context), self.kernels, self.biases, self._activation)
        if self.gaussian_skip:
            v += self._skip_slope(x, t) * x
        return v

    def velocity_and_divergence(
        self, x: tf.Tensor, t: tf.Tensor, context: tf.Tensor | None = None
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """``(v(x, t, c), tr(dv/dx))`` of shapes ``[B, n]`` and ``[B]``: the exact trace."""
        h, jacobian = self._hidden_layers(
            x,
            t,
            context,
            first=lambda kernel: self._input_jacobian(x, t, kernel),  # [B or 1, width, n]
            through=lambda jacobian, kernel: tf.einsum("bin,ij->bjn", jacobian, kernel),
            times_slope=lambda slope, da: slope[..., None] * da,
        )
        out_kernel = self.kernels[-1]
        v = tf.matmul(h, out_kernel) + self.biases[-1]
        if jacobian is None:  # no hidden layer: v is linear in the input features
            divergence = tf.linalg.trace(self._input_jacobian(x, t, out_kernel))
            divergence = tf.broadcast_to(divergence, tf.shape(v)[:-1])
        else:
            divergence = tf.einsum("bij,ij->b", jacobian, out_kernel)
        if self.gaussian_skip:
            slope = self._skip_slope(x, t)
            v += slope * x
            divergence += tf.cast(self.event_size, x.dtype) * slope[..., 0]
        return v, divergence

    def velocity_and_jvp(
        self, x: tf.Tensor, t: tf.Tensor, context: tf.Tensor | None, direction: tf.Tensor
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """``(v(x, t, c), (dv/dx) u)`` for a direction ``u`` ``[B, n]``: both ``[B, n]``.

        The Jacobian-vector product in closed form (forward mode, one vector: about
        the cost of one more evaluation), for Hutchinson's trace estimate
        ``u^T (dv/dx) u``:

        ```none
        du_1 = act'(a_1) * ((dh_0/dx) u) W_1,   du_l = act'(a_l) * (du_{l-1} W_l),   (dv/dx) u = du_L W_out (+ a(t) u)
        ```

        #### Examples

        The columns ``(dv/dx) e_j`` give the trace back:

        >>> net = VelocityMLP(2, hidden_units=(8,), seed=0, zero_init_output=False)
        >>> x, t = tf.ones([1, 2]), tf.zeros([1, 1])
        >>> diagonal = [net.velocity_and_jvp(x, t, None, tf.one_hot([j], 2))[1][0, j] for j in (0, 1)]
        >>> _, divergence = net.velocity_and_divergence(x, t)
        >>> abs(float(sum(diagonal) - divergence[0])) < 1e-6
        True
        """
        h, tangent = self._hidden_layers(  # tangent: (dh/dx) u, [B, width]
            x,
            t,
            context,
            first=lambda kernel: self._input_tangent(x, t, kernel, direction),
            through=tf.matmul,
            times_slope=tf.multiply,
        )
        out_kernel = self.kernels[-1]
        v = tf.matmul(h, out_kernel) + self.biases[-1]
        if tangent is None:  # no hidden layer: v is linear in the input features
            jvp = self._input_tangent(x, t, out_kernel, direction)
        else:
            jvp = tf.matmul(tangent, out_kernel)
        if self.gaussian_skip:
            slope = self._skip_slope(x, t)
            v += slope * x
            jvp += slope * tf.cast(direction, x.dtype)
        return v, jvp

    def _hidden_layers(
        self,
        x: tf.Tensor,
        t: tf.Tensor,
        context: tf.Tensor | None,
        first: Callable[[tf.Tensor], tf.Tensor],
        through: Callable[[tf.Tensor, tf.Tensor], tf.Tensor],
        times_slope: Callable[[tf.Tensor, tf.Tensor], tf.Tensor],
    ) -> tuple[tf.Tensor, tf.Tensor | None]:
        """The last hidden layer ``h_L`` and its derivative in forward mode (``None``: no
        hidden layer).

        ``first(W_1)`` is the derivative of the first pre-activation ``a_1 = h_0 W_1``,
        ``through(d, W)`` carries a derivative ``d`` of ``h_l`` through ``W`` to ``a_{l+1}``, and
        ``times_slope(act'(a), da)`` is the chain rule through the activation: the Jacobian
        (``[B, width, n]``) and a Jacobian-vector product (``[B, width]``) walk the same layers.
        """
        h = self._inputs(x, t, context)
        derivative = None
        for kernel, bias in zip(self.kernels[:-1], self.biases[:-1]):
            h, slope = _activation_and_derivative(self._activation, tf.matmul(h, kernel) + bias)
            da = first(kernel) if derivative is None else through(derivative, kernel)
            derivative = times_slope(slope, da)
        return h, derivative

    def _input_tangent(
        self, x: tf.Tensor, t: tf.Tensor, kernel: tf.Tensor, direction: tf.Tensor
    ) -> tf.Tensor:
        """``d(h_0 W)/dx u``: ``[B, width]``."""
        n, m = self.event_size, self.state_frequencies
        if not (self.scale_state or m):
            return tf.matmul(direction, kernel[:n])
        t = tf.broadcast_to(tf.cast(t, x.dtype), tf.concat([tf.shape(x)[:-1], [1]], 0))
        s, scale = self._state(x, t)
        ds = direction * scale  # d s = (ds/dx) u: [B, n]
        da = tf.matmul(ds, kernel[:n])
        if m:
            sin, cos, w = self._state_features(s)
            width = tf.shape(kernel)[-1]
            w_sin = tf.reshape(kernel[n : n + n * m], [n, m, width])
            w_cos = tf.reshape(kernel[n + n * m : n + 2 * n * m], [n, m, width])
            da += tf.einsum("bjk,jkw->bw", w * cos * ds[..., None], w_sin) - tf.einsum(
                "bjk,jkw->bw", w * sin * ds[..., None], w_cos
            )
        return da
