"""``Flow``: the ``tfd.TransformedDistribution`` that the builders return.

A ``Flow`` is TFP's transformed distribution (the very class that
``tfd.TransformedDistribution(base, bijector)`` returns for bijectors that are
not ``CompositeTensor`` s) with two things a user of a flow needs:

- values of the wrong dtype get an error naming both dtypes and the fix, not
  TFP's generic tensor-conversion message;
- ``log_prob``, ``prob`` and ``experimental_sample_and_log_prob`` are each one
  :func:`~tfp_flows.bijectors.cache.call_scope`: under a gradient tape, their
  layers still run each conditioner once, and no later call reuses a result
  the tape did not record;
- ``mean``/``mode``/``stddev``/``variance``/``covariance``/``entropy`` are TFP's
  closed forms when every layer is affine (``is_constant_jacobian``), and
  otherwise raise ``NotImplementedError`` pointing at
  :func:`tfp_flows.estimate_moments` (Monte Carlo, with standard errors) —
  never a closed form that does not hold.

```none
x = f(z),  z ~ base          log q(x) = log base(f^{-1}(x)) + log|det J_{f^{-1}}(x)|
```

#### Examples

>>> import tensorflow as tf
>>> import tfp_flows as tff
>>> flow = tff.real_nvp(2, num_layers=2, hidden_units=(8,))
>>> isinstance(flow, Flow), flow.log_prob(tf.zeros([1, 2])).dtype.name
(True, 'float32')
>>> flow.log_prob(tf.zeros([1, 2], tf.float64))  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
TypeError: real_nvp...: expected values of dtype float32, got float64; ...
>>> flow.mean()  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
NotImplementedError: real_nvp...: the mean of a flow with non-affine layers has no closed form; ...
"""

from __future__ import annotations

from typing import Any

from tensorflow_probability.python.distributions.transformed_distribution import (
    _TransformedDistribution,
)

from tfp_flows.bijectors.cache import call_scope
from tfp_flows.checks import check_tensor_dtype

__all__ = ["Flow"]


class Flow(_TransformedDistribution):
    """A ``tfd.TransformedDistribution`` with dtype checks and honest moments."""

    def _call_log_prob(self, value, name, **kwargs):
        check_tensor_dtype(value, self.dtype, self.name, "values")
        with call_scope():
            return super()._call_log_prob(value, name, **kwargs)

    def _call_prob(self, value, name, **kwargs):
        check_tensor_dtype(value, self.dtype, self.name, "values")
        with call_scope():
            return super()._call_prob(value, name, **kwargs)

    def _call_sample_and_log_prob(self, sample_shape, seed, **kwargs):
        with call_scope():
            return super()._call_sample_and_log_prob(sample_shape, seed, **kwargs)

    def copy(self, **override_parameters_kwargs: Any) -> Flow:
        """TFP's ``copy``; an unnamed flow's copy keeps the name the builder showed."""
        copied = super().copy(**override_parameters_kwargs)
        if "name" not in override_parameters_kwargs and self.parameters.get("name") is None:
            copied._name = self._name
        return copied

    def _no_closed_form(self, what: str) -> None:
        if not self.bijector.is_constant_jacobian:
            raise NotImplementedError(
                f"{self.name}: the {what} of a flow with non-affine layers has no closed form; "
                f"estimate it with tfp_flows.estimate_moments(flow) (Monte Carlo, with standard "
                f"errors).")

    def _mean(self, **kwargs):
        self._no_closed_form("mean")
        return super()._mean(**kwargs)

    def _mode(self, **kwargs):
        self._no_closed_form("mode")
        return super()._mode(**kwargs)

    def _stddev(self, **kwargs):
        self._no_closed_form("standard deviation")
        return super()._stddev(**kwargs)

    def _covariance(self, **kwargs):
        self._no_closed_form("covariance")
        return super()._covariance(**kwargs)

    def _entropy(self, **kwargs):
        self._no_closed_form("entropy")
        return super()._entropy(**kwargs)
