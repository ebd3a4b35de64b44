"""``StandardNormal``: the base distribution of the flows, sampled with the Philox generator."""

from __future__ import annotations

import tensorflow as tf
from tensorflow_probability import distributions as tfd
from tensorflow_probability.python.internal import prefer_static as ps
from tensorflow_probability.python.internal import samplers

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
        sample_shape = ps.reshape(ps.convert_to_shape_tensor(sample_shape, dtype=tf.int32), [-1])
        shape = ps.concat([sample_shape, self.batch_shape_tensor(), self.event_shape_tensor()], 0)
        z = tf.random.stateless_normal(
            shape, seed=samplers.sanitize_seed(seed), alg="philox", dtype=self.dtype
        )
        return self.bijector.forward(z)
