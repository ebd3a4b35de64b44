"""``Affine``: the Real NVP transformer ``y = x * exp(s) + t`` (or TFP's ``(x + t) * exp(s)``), bounded log-scale."""

from __future__ import annotations

import tensorflow as tf

from tfp_flows._internal.checks import check_floating_dtype, check_integer, check_positive_float
from tfp_flows.bijectors.transformers.base import Transformer

__all__ = ["Affine"]


class Affine(Transformer):
    """Elementwise affine map with a bounded, learned log-scale.

    ```none
    params[..., i, 0] = t_i (shift),   params[..., i, 1] = r_i (raw log-scale)
    s_i = c_i * tanh(r_i)                     c_i learned, one per entry
    forward:  y_i = x_i * exp(s_i) + t_i      ildj_i = -s_i
    inverse:  x_i = (y_i - t_i) * exp(-s_i)   ildj_i = -s_i

    shift_inside=True (the form of TFP's MaskedAutoregressiveFlow):
    forward:  y_i = (x_i + t_i) * exp(s_i)    inverse:  x_i = y_i * exp(-s_i) - t_i
    ```

    Both forms give the same family of maps; they differ in how a step of the
    optimizer moves them (with the shift inside, ``t`` is measured in units of
    the input, before scaling). In variational fits of the 10-D funnel, TFP's
    form trained to a better ELBO (``benchmarks/README.md``, ``inference.py``).

    Every scale stays within ``[exp(-|c_i|), exp(|c_i|)]``, so inputs of
    magnitude 1e4 still give finite outputs and log-densities. With
    ``log_scale_bound=None`` the log-scale is unbounded, ``s_i = r_i`` (as in
    TFP's MAF / IAF): no such guarantee, but no saturation either -- for a
    variational surrogate, whose inputs are base draws, that trained to better
    ELBOs (``benchmarks/README.md``, ``inference.py``).

    Args:
      num_entries: number of entries ``n`` it transforms (one bound each).
      log_scale_bound: initial value of every bound ``c_i``; ``None``: unbounded.
      shift_inside: use ``y = (x + t) * exp(s)`` instead of ``x * exp(s) + t``.
      dtype: ``tf.float32`` or ``tf.float64``.
      name: module name.

    #### Examples

    >>> affine = Affine(1, log_scale_bound=2.0)
    >>> params = tf.constant([[[1.0, 100.0]]])          # shift 1, raw log-scale saturates
    >>> y, ildj = affine.forward(tf.constant([[1.0]]), params)
    >>> round(float(y[0, 0]), 4), round(float(ildj[0, 0]), 4)   # 1 * e^2 + 1, -2
    (8.3891, -2.0)
    >>> inside = Affine(1, log_scale_bound=2.0, shift_inside=True)
    >>> round(float(inside.forward(tf.constant([[1.0]]), params)[0][0, 0]), 4)  # (1 + 1) * e^2
    14.7781
    >>> unbounded = Affine(1, log_scale_bound=None)
    >>> float(unbounded.forward(tf.constant([[1.0]]), tf.constant([[[0.0, 3.0]]]))[1][0, 0])  # -s
    -3.0
    """

    params_per_entry = 2

    def __init__(
        self,
        num_entries: int,
        log_scale_bound: float | None = 2.0,
        dtype: tf.DType = tf.float32,
        name: str = "affine",
        shift_inside: bool = False,
    ):
        super().__init__(name=name)
        self.shift_inside = bool(shift_inside)
        num_entries = check_integer("num_entries", num_entries, minimum=1)
        dtype = check_floating_dtype(dtype, name)
        self.log_scale_bound = None
        if log_scale_bound is not None:
            check_positive_float("log_scale_bound", log_scale_bound)
            with self.name_scope:
                self.log_scale_bound = tf.Variable(
                    tf.fill([num_entries], tf.cast(log_scale_bound, dtype)), name="log_scale_bound"
                )

    def shift_and_log_scale(self, params: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """``(t, s)`` with ``s = c * tanh(r)`` (``s = r`` if unbounded), each of shape ``[..., n]``."""
        if self.log_scale_bound is None:
            return params[..., 0], params[..., 1]
        return params[..., 0], self.log_scale_bound * tf.math.tanh(params[..., 1])

    def forward(self, x, params):
        shift, log_scale = self.shift_and_log_scale(params)
        if self.shift_inside:
            return (x + shift) * tf.exp(log_scale), -log_scale
        return x * tf.exp(log_scale) + shift, -log_scale

    def inverse(self, y, params):
        shift, log_scale = self.shift_and_log_scale(params)
        if self.shift_inside:
            return y * tf.exp(-log_scale) - shift, -log_scale
        return (y - shift) * tf.exp(-log_scale), -log_scale
