"""Seeds: one mapping from a user's seed to TFP's stateless ``int32[2]`` seed.

TFP treats a Python ``int`` seed as *stateful* (a fresh draw each call, not
reproducible across calls); a ``[2]`` integer tensor is *stateless* (the same
seed gives the same numbers). :func:`stateless_seed` makes every user-facing
``seed=`` argument of the package stateless:

```none
int s, |s| < 2^31    ->  [s, 0]
int s otherwise      ->  [s mod 2^31, (s div 2^31) mod 2^31]
scalar tensor s      ->  [s, 0]
anything else        ->  tfp.random.sanitize_seed(seed)   (a [2] tensor stays as it is)
```

#### Examples

>>> stateless_seed(7).numpy().tolist()
[7, 0]
>>> stateless_seed(2**40).numpy().tolist()
[0, 512]
>>> stateless_seed(tf.constant([3, 4])).numpy().tolist()
[3, 4]
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

__all__ = ["stateless_seed"]


def stateless_seed(seed: Any) -> tf.Tensor:
    """``seed`` as a stateless ``int32[2]`` seed (``int s -> [s, 0]``; see the module doc).

    Args:
      seed: a Python or NumPy integer, a scalar integer tensor, or anything
        ``tfp.random.sanitize_seed`` accepts (e.g. a ``[2]`` tensor).

    Returns:
      An ``int32`` tensor of shape ``[2]``.

    #### Examples

    >>> import tensorflow_probability as tfp
    >>> normal = tfp.distributions.Normal(0.0, 1.0)
    >>> bool(normal.sample(3, seed=stateless_seed(5)).numpy().tolist()
    ...      == normal.sample(3, seed=stateless_seed(5)).numpy().tolist())
    True
    """
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, (bool, np.bool_)):
        seed = int(seed)
        if -(2**31) <= seed < 2**31:
            return tf.constant([seed, 0], dtype=tf.int32)
        low, high = seed % 2**31, (seed // 2**31) % 2**31
        return tf.constant([low, high], dtype=tf.int32)
    if tf.is_tensor(seed) and seed.shape.rank == 0:
        return tf.stack([tf.cast(seed, tf.int32), tf.constant(0, tf.int32)])
    return tfp.random.sanitize_seed(seed)
