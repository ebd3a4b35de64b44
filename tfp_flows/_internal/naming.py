"""Unique default names, so two flows (or layers) built alike never clash in a TFP model.

``tfd.JointDistributionCoroutine`` refuses two distributions of one name and
``tfb.Chain`` routes keyword arguments by bijector name: every builder and
layer without an explicit ``name=`` takes the next free one.

#### Examples

>>> unique_name("doc_example"), unique_name("doc_example")
('doc_example', 'doc_example_1')
"""

from __future__ import annotations

import itertools

__all__ = ["unique_name"]

_counters: dict[str, itertools.count] = {}


def unique_name(base: str) -> str:
    """``base`` on the first call, then ``base_1``, ``base_2``, ..."""
    index = next(_counters.setdefault(base, itertools.count()))
    return base if index == 0 else f"{base}_{index}"
