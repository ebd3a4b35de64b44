"""Tiny distributions for the training tests: a conditional Gaussian and a kwargs recorder.

``LinearGaussian``: ``x | c ~ N(w * c, I)`` with one trainable ``w``; its
``log_prob`` takes ``context=`` like a conditional flow's (real conditional
flows are wired in elsewhere).
"""

import numpy as np
import tensorflow as tf
from tensorflow_probability import distributions as tfd

LOG_2PI = float(np.log(2 * np.pi))


class LinearGaussian(tfd.Distribution):
    """``x | c ~ N(w * c, I)`` on ``event_size`` dimensions (``c``: ``[..., 1]`` or ``[..., event_size]``)."""

    def __init__(self, w=0.0, event_size=1, dtype=tf.float32):
        parameters = dict(locals())
        self.w = tf.Variable(w, dtype=dtype, name="w")
        self._size = event_size
        super().__init__(
            dtype=dtype,
            reparameterization_type=tfd.FULLY_REPARAMETERIZED,
            validate_args=False,
            allow_nan_stats=True,
            parameters=parameters,
            name="linear_gaussian",
        )

    def _event_shape(self):
        return tf.TensorShape([self._size])

    def _batch_shape(self):
        return tf.TensorShape([])

    def _log_prob(self, x, context=None):
        mean = 0.0 if context is None else self.w * context
        return tf.reduce_sum(-0.5 * (x - mean) ** 2 - 0.5 * LOG_2PI, axis=-1)


class KwargsRecorder(tfd.Distribution):
    """``N(loc, I)`` in 2-D that records the keyword arguments every ``log_prob`` call got."""

    def __init__(self):
        parameters = dict(locals())
        self.loc = tf.Variable([0.0, 0.0], name="loc")
        self.seen = []
        super().__init__(
            dtype=tf.float32,
            reparameterization_type=tfd.FULLY_REPARAMETERIZED,
            validate_args=False,
            allow_nan_stats=True,
            parameters=parameters,
            name="recorder",
        )

    def _event_shape(self):
        return tf.TensorShape([2])

    def _batch_shape(self):
        return tf.TensorShape([])

    def _log_prob(self, x, **kwargs):
        self.seen.append(sorted(kwargs))
        return tf.reduce_sum(-0.5 * (x - self.loc) ** 2 - 0.5 * LOG_2PI, axis=-1)


def linear_gaussian_data(n=1000, w=1.5, seed=0):
    """``(x, c)``: ``c ~ U(-2, 2)``, ``x = w * c + N(0, 1)``, float32 ``[n, 1]`` each."""
    rng = np.random.default_rng(seed)
    c = rng.uniform(-2.0, 2.0, size=(n, 1)).astype(np.float32)
    x = (w * c + rng.normal(size=(n, 1))).astype(np.float32)
    return x, c
