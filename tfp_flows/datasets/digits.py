"""The 8x8 handwritten digits of scikit-learn, with a fixed train/validation/test split.

``sklearn.datasets.load_digits`` ships 1,797 grey-level images of the digits
0-9 (UCI "Optical Recognition of Handwritten Digits", test part), each 8 x 8
pixels with integer grey levels ``0..16`` (17 levels); nothing is downloaded.
:func:`digits` returns them as ``float32`` arrays of shape ``[n, 8, 8, 1]``
(``[H, W, C]`` events) holding those integers, to be dequantised before a
density model sees them (:mod:`tfp_flows.images.dequantization`).

The split is fixed and stratified by label, so every version of the package
(and every machine) uses the same images:

```none
order = RandomState(0).permutation(1797), then stably sorted by label
        (the images of each digit together, in a random order)
test       = the positions i of `order` where floor((i + 1) * 300 / 1797) > floor(i * 300 / 1797)
validation = the same rule with 300 / 1497 on the positions that are left
train      = the remaining 1,197
```

Evenly spaced picks along a label-sorted order give every digit its share of
the test and the validation split to within one image (29-31 images of each
digit), and of the training split to within two. Within a split, the images keep the order of
``load_digits``. ``RandomState`` is NumPy's legacy generator, whose stream is
frozen across NumPy versions.

scikit-learn is needed only here: ``pip install scikit-learn`` (or the
package's extra, ``pip install "tfp-flows[digits]"``).

#### Examples

>>> train = digits("train")
>>> train.shape, train.dtype, float(train.min()), float(train.max())
((1197, 8, 8, 1), dtype('float32'), 0.0, 16.0)
>>> images, labels = digits("test", return_labels=True)
>>> images.shape, labels.shape, sorted(set(labels.tolist())) == list(range(10))
((300, 8, 8, 1), (300,), True)
>>> digits("valid")
Traceback (most recent call last):
...
ValueError: digits: split must be one of 'train', 'validation', 'test', got 'valid'.
"""

from __future__ import annotations

import functools
from typing import Literal, overload

import numpy as np

__all__ = ["DIGITS_LEVELS", "DIGITS_SHAPE", "DIGITS_SPLIT_SIZES", "digits", "digits_split_indices"]

DIGITS_LEVELS = 17
"""Number of grey levels of the digits: the pixels are the integers ``0..16``."""

DIGITS_SHAPE = (8, 8, 1)
"""Event shape ``[H, W, C]`` of one digit image."""

DIGITS_SPLIT_SIZES = {"train": 1197, "validation": 300, "test": 300}
"""Number of images in each split (1,797 in all)."""

_SPLIT_SEED = 0
_INSTALL_HINT = 'pip install scikit-learn  (or pip install "tfp-flows[digits]")'


@functools.lru_cache(maxsize=1)
def _load() -> tuple[np.ndarray, np.ndarray]:
    """All 1,797 images ``[1797, 8, 8]`` (float64 integers 0..16) and labels ``[1797]``."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as error:
        raise ImportError(
            f"tfp_flows.datasets.digits needs scikit-learn, which is not installed ({error}); "
            f"install it with: {_INSTALL_HINT}"
        ) from None
    bunch = load_digits()
    images, labels = np.asarray(bunch.images), np.asarray(bunch.target)
    if (
        images.shape != (1797, 8, 8)
        or not np.all(images == np.round(images))
        or (images.min() < 0 or images.max() > DIGITS_LEVELS - 1)
    ):
        raise RuntimeError(
            "sklearn.datasets.load_digits returned unexpected data: expected 1797 images of "
            f"8 x 8 integer grey levels 0..{DIGITS_LEVELS - 1}, got shape {images.shape} with "
            f"values in [{images.min()}, {images.max()}]."
        )
    return images, labels


def _evenly_spaced(n: int, k: int) -> np.ndarray:
    """Boolean mask picking ``k`` of ``n`` positions, evenly spaced (``floor`` steps)."""
    i = np.arange(n)
    return (i + 1) * k // n > i * k // n


def _check_split(split: str) -> str:
    if split not in DIGITS_SPLIT_SIZES:
        raise ValueError(
            f"digits: split must be one of 'train', 'validation', 'test', got {split!r}."
        )
    return split


@functools.cache
def _split_indices(split: str) -> np.ndarray:
    _, labels = _load()
    order = np.random.RandomState(_SPLIT_SEED).permutation(len(labels))
    order = order[np.argsort(labels[order], kind="stable")]
    test = _evenly_spaced(len(order), DIGITS_SPLIT_SIZES["test"])
    rest = order[~test]
    validation = _evenly_spaced(len(rest), DIGITS_SPLIT_SIZES["validation"])
    chosen = {"test": order[test], "validation": rest[validation], "train": rest[~validation]}
    return np.sort(chosen[split])


def digits_split_indices(split: str) -> np.ndarray:
    """Rows of ``sklearn.datasets.load_digits()`` that make up ``split`` (ascending ``int64``).

    #### Examples

    >>> parts = [digits_split_indices(s) for s in ("train", "validation", "test")]
    >>> sorted(np.concatenate(parts).tolist()) == list(range(1797))   # a partition
    True
    >>> sum(len(digits_split_indices(s)) for s in ("train", "validation", "test"))
    1797
    """
    return _split_indices(_check_split(split)).copy()


@overload
def digits(
    split: Literal["train", "validation", "test"] | str, return_labels: Literal[False] = False
) -> np.ndarray: ...


@overload
def digits(
    split: Literal["train", "validation", "test"] | str, return_labels: Literal[True]
) -> tuple[np.ndarray, np.ndarray]: ...


def digits(split: str, return_labels: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """One split of scikit-learn's 8x8 digits: ``[n, 8, 8, 1]`` float32 grey levels ``0..16``.

    Args:
      split: ``"train"`` (1,197 images), ``"validation"`` (300) or ``"test"``
        (300); the fixed split of the module docstring.
      return_labels: also return the digit shown by each image (``int64`` ``[n]``).

    Returns:
      The images (integers ``0..16`` stored as ``float32``), or ``(images, labels)``.

    Raises:
      ValueError: an unknown split name.
      ImportError: scikit-learn is not installed (the message says how to install it).

    #### Examples

    >>> images, labels = digits("validation", return_labels=True)
    >>> images.shape, int(np.bincount(labels).min())
    ((300, 8, 8, 1), 29)
    """
    indices = _split_indices(_check_split(split))
    images, labels = _load()
    x = images[indices].astype(np.float32)[..., np.newaxis]
    if return_labels:
        return x, labels[indices].astype(np.int64)
    return x
