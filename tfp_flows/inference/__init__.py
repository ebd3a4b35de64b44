"""Flows as posteriors: surrogate posteriors for TFP models, fitting by reverse KL, NeuTra HMC.

* :func:`surrogate_posterior` -- a flow over the unconstrained space of a
  (pinned) ``tfd.JointDistribution*``, pushed into the model's structure and
  support, for ``tfp.vi.fit_surrogate_posterior`` or :func:`tfp_flows.fit`.
"""

from __future__ import annotations

__all__: list[str] = []
