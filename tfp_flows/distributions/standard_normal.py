"""``StandardNormal``: the base distribution of the flows, sampled with the Philox generator."""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from tensorflow_probability import distributions as tfd

__all__ = ["StandardNormal"]


class StandardNormal(tfd.MultivariateNormalDiag):
    """``N(0, I)`` over vectors; identical to ``tfd.MultivariateNormalDiag`` except sampling.

    ``z ~ N(0, I)`` is drawn with ``tf.random.stateless_normal(..., alg="philox")``.
    TFP's default ``alg="auto_select"`` compiles under XLA on the CPU to a
    generator about 20 times slower, which was about half of a flow's sampling
    time (``benchmarks/README.md``). ``experimental_sample_and_log_prob`` (what
    ``tfp.vi.fit_surrogate_posterior`` calls through the flow) draws the same
    way: the same samples as ``sample`` for the same seed. Densities are untouched; samples remain a
    deterministic function of the (stateless) seed.

    #### Examples

    >>> base = StandardNormal(loc=tf.zeros(2))
    >>> base.sample(3, seed=0).shape, float(base.log_prob([0.0, 0.0]))
    (TensorShape([3, 2]), -1.8378770351409912)
    """

    def _call_sample_and_log_prob(self, sample_shape, seed, **kwargs):
        # TFP's route (MultivariateNormalDiag -> Sample(Normal)) draws with its own slow
        # generator; `TransformedDistribution.experimental_sample_and_log_prob` (the path of
        # `tfp.vi`) calls this, so draw with Philox here too and score the draw:
        # log N(x; loc, I) = -|x - loc|^2 / 2 - (d / 2) log(2 pi).
        x = self._call_sample_n(sample_shape, seed, **kwargs)
        return x, self.log_prob(x)

    def _call_sample_n(self, sample_shape, seed, **kwargs):
        z = tf.random.stateless_normal(
            self._draws_shape(sample_shape),
            seed=tfp.random.sanitize_seed(seed),
            alg="philox",
            dtype=self.dtype,
        )
        return self.bijector.forward(z)

    def _draws_shape(self, sample_shape):
        """``sample_shape + batch_shape + event_shape``: a list of ints where all are static,
        else an int32 tensor."""
        sample = tf.convert_to_tensor(sample_shape, dtype_hint=tf.int32)
        static = tf.get_static_value(sample)
        rest = self.batch_shape.concatenate(self.event_shape)
        if static is not None and rest.is_fully_defined():
            return [int(d) for d in np.reshape(static, [-1])] + rest.as_list()
        return tf.concat(
            [
                tf.reshape(tf.cast(sample, tf.int32), [-1]),
                tf.cast(self.batch_shape_tensor(), tf.int32),
                tf.cast(self.event_shape_tensor(), tf.int32),
            ],
            axis=0,
        )
