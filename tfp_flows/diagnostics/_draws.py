"""Posterior draws for many observations: batched where the posterior can, one by one otherwise.

A posterior with ``sample_batch(n, x_obs [b, ...], seed=s) -> [b, n, d]`` (an
:class:`~tfp_flows.inference.AmortizedPosterior`) is asked for ``batch_size``
observations per call; anything else with ``sample(n, x_obs, seed=...)`` one
observation per call. Either way observation ``i`` is drawn with seed
``seed + i`` (``sample_batch(n, x[a:b], seed=seed + a)`` gives its row
``i - a`` exactly those draws), so the results do not depend on the batching.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

# a batched call draws at most this many points (observations x samples) unless told otherwise
DRAWS_PER_CALL = 100_000


def batch_size_for(batch_size: int | None, num_samples: int, owner: str) -> int:
    """Observations per call: ``batch_size``, or as many as keep a call under ``DRAWS_PER_CALL``."""
    if batch_size is None:
        return max(1, DRAWS_PER_CALL // max(1, int(num_samples)))
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, (int, np.integer))
        or batch_size < 1
    ):
        raise ValueError(
            f"{owner}: expected batch_size a positive int or None, got {batch_size!r}."
        )
    return int(batch_size)


def posterior_draws(
    posterior: Any, x: Any, num_samples: int, seed: int, batch_size: int | None, owner: str
) -> Iterator[tuple[int, np.ndarray]]:
    """Yields ``(start, draws [b, num_samples, d])`` for consecutive observations ``x[start:start + b]``."""
    count = len(x)
    if callable(getattr(posterior, "sample_batch", None)):
        size = batch_size_for(batch_size, num_samples, owner)
        for start in range(0, count, size):
            draws = posterior.sample_batch(num_samples, x[start : start + size], seed=seed + start)
            yield start, np.asarray(draws)
        return
    batch_size_for(batch_size, num_samples, owner)  # still check it
    for i in range(count):
        yield i, np.asarray(posterior.sample(num_samples, x[i], seed=seed + i))[None]


def check_finite(values: np.ndarray, what: str, row: str, owner: str, first: int = 0) -> None:
    """Refuses NaN or inf in ``values``, naming the first bad ``row`` (numbered from ``first``):
    a NaN compares ``False`` (a rank would be wrong) and turns a z-score into NaN."""
    finite = np.isfinite(values.reshape(len(values), -1)).all(axis=1)
    if not finite.all():
        bad = int(np.flatnonzero(~finite)[0]) + first
        raise ValueError(
            f"{owner}: expected finite values in {what}, got NaN or inf in {row} {bad}."
        )


def check_draws(draws: np.ndarray, count: int, num_samples: int, d: int, owner: str) -> None:
    """Refuses posterior draws that are not ``[count, num_samples, d]``."""
    if draws.shape != (count, num_samples, d):
        raise ValueError(
            f"{owner}: expected posterior draws of shape [{count}, {num_samples}, {d}] "
            f"(observations, samples, parameters), got shape {list(draws.shape)}."
        )
