"""Binary masks that split an event into conditioning and transformed parts.

A coupling layer reads the entries where ``mask == 1`` (the conditioning part
``x_a``, passed through unchanged) and transforms the entries where
``mask == 0`` (the transformed part ``x_b``) with parameters computed from
``x_a``. Every helper returns a ``numpy`` array of 0/1 ``int32`` of the
event's shape (1-D for vectors, ``[H, W, C]`` for images), checked by
:func:`validate_mask`.

#### Examples

>>> alternating_mask(5)
array([1, 1, 0, 0, 0], dtype=int32)
>>> alternating_mask(5, flip=True)
array([0, 0, 1, 1, 1], dtype=int32)
>>> checkerboard_mask((2, 2))
array([[1, 0],
       [0, 1]], dtype=int32)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "alternating_mask",
    "channel_mask",
    "checkerboard_mask",
    "random_mask",
    "validate_mask",
]


def validate_mask(mask: Sequence[int] | np.ndarray, event_size: int | None = None) -> np.ndarray:
    """Checks a user mask and returns it as an ``int32`` array of 0/1 of the event's shape.

    A valid mask has rank >= 1 (the event's shape), holds only 0 and 1, has at
    least one conditioning entry (1) and at least one transformed entry (0),
    and, when ``event_size`` is given, has exactly that many entries.

    Args:
      mask: (nested) sequence or array of 0/1 (booleans are accepted).
      event_size: expected number of entries, or ``None`` to accept any ``>= 2``.

    Returns:
      The mask as ``np.ndarray`` of ``int32``.

    Raises:
      ValueError: naming what is wrong.

    #### Examples

    >>> validate_mask([True, False, True])
    array([1, 0, 1], dtype=int32)
    >>> validate_mask([1, 1])
    Traceback (most recent call last):
    ...
    ValueError: mask [1 1] has no transformed entries (0); a coupling layer needs at least one.
    """
    array = np.asarray(mask)
    if array.ndim == 0:
        raise ValueError(f"mask must have the event's shape (rank >= 1), got the scalar {array}.")
    if array.dtype == bool:
        array = array.astype(np.int32)
    if not np.all((array == 0) | (array == 1)):
        raise ValueError(f"mask must hold only 0 and 1, got {array}.")
    array = array.astype(np.int32)
    if event_size is not None and array.size != event_size:
        raise ValueError(f"mask has {array.size} entries but the event size is {event_size}.")
    if not np.any(array == 1):
        raise ValueError(
            f"mask {array} has no conditioning entries (1); a coupling layer needs at least one."
        )
    if not np.any(array == 0):
        raise ValueError(
            f"mask {array} has no transformed entries (0); a coupling layer needs at least one."
        )
    return array


def alternating_mask(event_size: int, flip: bool = False) -> np.ndarray:
    """Half-split mask of the classic Real NVP layer.

    The first ``event_size // 2`` entries condition (``1``) and the rest are
    transformed (``0``); ``flip=True`` swaps the roles, so that consecutive
    layers with ``flip = False, True, False, ...`` transform every entry.

    #### Examples

    >>> alternating_mask(2), alternating_mask(2, flip=True)
    (array([1, 0], dtype=int32), array([0, 1], dtype=int32))
    """
    if event_size < 2:
        raise ValueError(f"a coupling layer needs an event size of at least 2, got {event_size}.")
    mask = (np.arange(event_size) < event_size // 2).astype(np.int32)
    return validate_mask(1 - mask if flip else mask)


def checkerboard_mask(shape: Sequence[int], flip: bool = False) -> np.ndarray:
    """Checkerboard over an image-shaped event ``[H, W, ...]``, of that shape.

    Entry ``(i, j, ...)`` conditions when ``(i + j) % 2 == 0`` (every channel of
    a pixel shares its colour).

    #### Examples

    >>> checkerboard_mask((2, 3))
    array([[1, 0, 1],
           [0, 1, 0]], dtype=int32)
    >>> checkerboard_mask((2, 2, 2), flip=True).reshape(-1)
    array([0, 0, 1, 1, 1, 1, 0, 0], dtype=int32)
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) < 2:
        raise ValueError(
            f"checkerboard_mask needs an image shape (height, width[, ...]), got {shape}."
        )
    rows, cols = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    board = ((rows + cols) % 2 == 0).astype(np.int32)
    mask = np.broadcast_to(board.reshape(shape[:2] + (1,) * (len(shape) - 2)), shape)
    return validate_mask(1 - mask if flip else mask)


def channel_mask(shape: Sequence[int], flip: bool = False) -> np.ndarray:
    """Channel-wise mask over an image-shaped event ``[H, W, C]``, of that shape.

    The first ``C // 2`` channels of every pixel condition (``1``), the other
    ``C - C // 2`` are transformed (``0``); ``flip=True`` swaps the roles. Real
    NVP alternates it with :func:`checkerboard_mask` after a squeeze
    (:class:`~tfp_flows.bijectors.Squeeze`), which turns space into channels.

    ```none
    mask[h, w, c] = 1  if c < C // 2  else 0          (flip: 1 - mask)
    ```

    #### Examples

    >>> channel_mask((1, 2, 4))
    array([[[1, 1, 0, 0],
            [1, 1, 0, 0]]], dtype=int32)
    >>> channel_mask((2, 2, 1))
    Traceback (most recent call last):
    ...
    ValueError: channel_mask needs an image shape (height, width, channels) with at least 2 channels, got (2, 2, 1).
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) != 3 or shape[-1] < 2 or min(shape) < 1:
        raise ValueError(
            "channel_mask needs an image shape (height, width, channels) with at "
            f"least 2 channels, got {shape}."
        )
    mask = np.broadcast_to((np.arange(shape[-1]) < shape[-1] // 2).astype(np.int32), shape)
    return validate_mask(1 - mask if flip else mask)


def random_mask(event_size: int, seed: int | None = None) -> np.ndarray:
    """Random mask with ``event_size // 2`` conditioning entries.

    #### Examples

    >>> mask = random_mask(6, seed=0)
    >>> int(mask.sum()), mask.shape
    (3, (6,))
    """
    if event_size < 2:
        raise ValueError(f"a coupling layer needs an event size of at least 2, got {event_size}.")
    rng = np.random.default_rng(seed)
    mask = np.zeros(event_size, np.int32)
    mask[rng.permutation(event_size)[: event_size // 2]] = 1
    return validate_mask(mask)
