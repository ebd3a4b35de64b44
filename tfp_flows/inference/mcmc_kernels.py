"""The HMC and NUTS settings :func:`~tfp_flows.inference.neutra` runs with.

Each settings object builds its ``tfp.mcmc`` sampler for a target log-density,
names what a chain records per draw and counts the gradient evaluations of a
run (the cost NeuTra is judged by):

```none
HMC:  gradients = num_chains x num_results x num_leapfrog_steps
NUTS: gradients = sum over chains and draws of the leapfrog steps taken
      (at most 2^max_tree_depth - 1 per draw)
```

#### Examples

>>> HMC(num_leapfrog_steps=4).gradients(num_chains=2, num_results=10, traced={})
80
>>> as_kernel("nuts")
NUTS(step_size=0.1, target_accept_prob=0.75, max_tree_depth=6)
>>> HMC(num_leapfrog_steps=0)
Traceback (most recent call last):
...
ValueError: num_leapfrog_steps must be a positive integer, got 0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_flows._internal.checks import check_integer, check_number, check_positive_float

__all__ = ["HMC", "KERNELS", "NUTS", "as_kernel"]


@dataclass(frozen=True)
class _Settings:
    """What both samplers share: the initial step size and the acceptance rate dual
    averaging steers towards during burn-in."""

    step_size: float = 0.1
    target_accept_prob: float = 0.75
    name: ClassVar[str] = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "step_size", check_positive_float("step_size", self.step_size))
        accept = check_number(
            "target_accept_prob",
            self.target_accept_prob,
            "a number in (0, 1)",
            lambda v: 0 < v < 1,
        )
        object.__setattr__(self, "target_accept_prob", float(accept))

    def sampler(
        self, target_log_prob: Callable[..., tf.Tensor], dtype: tf.DType
    ) -> tfp.mcmc.TransitionKernel:
        """The ``tfp.mcmc`` kernel for ``target_log_prob`` (a function of the state parts)."""
        raise NotImplementedError

    def trace(self, sampler_results: Any) -> dict[str, tf.Tensor]:
        """What a chain records per draw beyond the acceptance ratio and the step size."""
        return {}

    def gradients(self, num_chains: int, num_results: int, traced: dict[str, np.ndarray]) -> int:
        """Gradient evaluations of the target in the sampling phase, summed over chains."""
        raise NotImplementedError


@dataclass(frozen=True)
class HMC(_Settings):
    """Hamiltonian Monte Carlo (``tfp.mcmc.HamiltonianMonteCarlo``) with a fixed
    number of leapfrog steps: the sampler of the NeuTra paper.

    Args:
      num_leapfrog_steps: leapfrog steps per draw.
      step_size: the initial step size (adapted during burn-in).
      target_accept_prob: the acceptance probability dual averaging aims for.
    """

    num_leapfrog_steps: int = 8
    name: ClassVar[str] = "hmc"

    def __post_init__(self) -> None:
        super().__post_init__()
        steps = check_integer("num_leapfrog_steps", self.num_leapfrog_steps, minimum=1)
        object.__setattr__(self, "num_leapfrog_steps", steps)

    def sampler(self, target_log_prob, dtype):
        return tfp.mcmc.HamiltonianMonteCarlo(
            target_log_prob,
            step_size=tf.constant(self.step_size, dtype),
            num_leapfrog_steps=self.num_leapfrog_steps,
        )

    def gradients(self, num_chains, num_results, traced):
        return num_chains * num_results * self.num_leapfrog_steps


@dataclass(frozen=True)
class NUTS(_Settings):
    """The No-U-Turn sampler (``tfp.mcmc.NoUTurnSampler``): trajectory lengths chosen per draw.

    Args:
      max_tree_depth: at most ``2^max_tree_depth - 1`` leapfrogs per draw. 6
        (TFP's default is 10): in a good flow's base space the target is near
        ``N(0, I)`` and short trajectories suffice; on the 10-D funnel (16
        chains, 3 seeds) depth 10 let one chain of one seed run into the flow's
        light tails and stick (R-hat 19.7), depth 6 mixed on all three (R-hat
        <= 1.017).
      step_size: the initial step size (adapted during burn-in).
      target_accept_prob: the acceptance probability dual averaging aims for.
    """

    max_tree_depth: int = 6
    name: ClassVar[str] = "nuts"

    def __post_init__(self) -> None:
        super().__post_init__()
        depth = check_integer("max_tree_depth", self.max_tree_depth, minimum=1)
        object.__setattr__(self, "max_tree_depth", depth)

    def sampler(self, target_log_prob, dtype):
        return tfp.mcmc.NoUTurnSampler(
            target_log_prob,
            step_size=tf.constant(self.step_size, dtype),
            max_tree_depth=self.max_tree_depth,
        )

    def trace(self, sampler_results):
        return {"leapfrogs": sampler_results.leapfrogs_taken}

    def gradients(self, num_chains, num_results, traced):
        return int(np.sum(traced["leapfrogs"], dtype=np.int64))


KERNELS = {"nuts": NUTS, "hmc": HMC}


def as_kernel(kernel: str | HMC | NUTS) -> HMC | NUTS:
    """``"hmc"`` / ``"nuts"`` (the default settings) or settings given as :class:`HMC` / :class:`NUTS`."""
    if isinstance(kernel, (HMC, NUTS)):
        return kernel
    if isinstance(kernel, str) and kernel in KERNELS:
        return KERNELS[kernel]()
    raise ValueError(
        f"kernel must be one of {', '.join(map(repr, KERNELS))} or settings "
        f"tff.inference.HMC(...) / NUTS(...), got {kernel!r}."
    )
