"""The classifier two-sample test (C2ST) as the SBI benchmark computes it.

Lueckmann et al. (2021) score a posterior approximation by how well a
classifier tells its samples ``Y`` from reference posterior samples ``X``:

```none
X' = (X - mean(X)) / std(X),   Y' = (Y - mean(X)) / std(X)   (z-scored by the reference; std with n - 1)
classifier: scikit-learn MLPClassifier, ReLU, two hidden layers of 10 d units, Adam,
            max_iter 10 000, random_state = seed
C2ST = mean accuracy over a shuffled 5-fold cross-validation of [X'; Y'] with labels [0; 1]
```

0.5: the classifier cannot tell them apart (the approximation is perfect);
1.0: it always can. The benchmark's published numbers use this definition
(``sbibm.metrics.c2st``, seed 1), so ours are comparable with them.

#### References

[1] David Lopez-Paz and Maxime Oquab. Revisiting classifier two-sample tests. ICLR 2017.
[2] Jan-Matthis Lueckmann, Jan Boelts, David Greenberg, Pedro Goncalves and Jakob
    Macke. Benchmarking simulation-based inference. AISTATS 2021.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["c2st"]

INSTALL_SKLEARN = 'pip install scikit-learn  (or pip install "tfp-flows[sbi]")'


def c2st(
    reference: Any,
    samples: Any,
    *,
    seed: int = 1,
    n_folds: int = 5,
    z_score: bool = True,
) -> float:
    """The C2ST accuracy of ``samples`` against ``reference`` (sbibm's definition; 0.5 is perfect).

    Args:
      reference: reference samples ``X`` ``[n, d]`` (the z-scoring uses their
        mean and standard deviation).
      samples: the approximation's samples ``Y`` ``[n, d]`` (as many as the reference:
        with unequal sets the chance accuracy is not 0.5).
      seed: the classifier's and the folds' ``random_state`` (sbibm: 1).
      n_folds: folds of the cross-validation (sbibm: 5).
      z_score: z-score both sets by the reference's mean and std (sbibm: yes).

    Returns:
      The mean cross-validated accuracy, a float in ``[0, 1]``.

    Raises:
      ImportError: scikit-learn is not installed (the message names the command).
      ValueError: the sets are not 2-D of the same shape, have non-finite values,
        too few rows for ``n_folds``, or a reference column is constant.

    #### Examples

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> same = c2st(rng.normal(size=(500, 2)), rng.normal(size=(500, 2)))
    >>> shifted = c2st(rng.normal(size=(500, 2)), rng.normal(3.0, 1.0, size=(500, 2)))
    >>> same < 0.6, shifted > 0.9
    (True, True)
    """
    try:
        from sklearn.model_selection import KFold, cross_val_score
        from sklearn.neural_network import MLPClassifier
    except ImportError as error:
        raise ImportError(f"c2st needs scikit-learn: {INSTALL_SKLEARN}.") from error
    x = np.asarray(reference, np.float64)
    y = np.asarray(samples, np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(
            f"c2st: expected reference [n, d] and samples [m, d] of the same width d, got "
            f"shapes {list(x.shape)} and {list(y.shape)}."
        )
    if len(x) != len(y):
        # the classifier's chance accuracy is max(n, m) / (n + m), not 0.5: 10,000 reference
        # samples against 1,000 score 0.91 for a perfect approximation
        raise ValueError(
            f"c2st: expected as many samples as reference samples (0.5 is chance only for "
            f"equal sets), got {len(x)} reference and {len(y)} samples; draw {len(x)} samples "
            f"or pass reference[:{len(y)}]."
        )
    if isinstance(n_folds, bool) or not isinstance(n_folds, (int, np.integer)) or n_folds < 2:
        raise ValueError(f"c2st: n_folds must be an integer of at least 2, got {n_folds!r}.")
    if 2 * len(x) < n_folds:
        raise ValueError(
            f"c2st: expected at least {-(-n_folds // 2)} samples in each set for {n_folds} "
            f"folds (one row per fold at least), got {len(x)}."
        )
    for what, values in (("reference", x), ("samples", y)):
        if not np.all(np.isfinite(values)):
            raise ValueError(f"c2st: the {what} must be finite, got NaN or inf.")
    if z_score:
        mean, std = x.mean(axis=0), x.std(axis=0, ddof=1)
        if np.any(std == 0):
            raise ValueError(
                f"c2st: reference column(s) {np.flatnonzero(std == 0).tolist()} are constant; "
                "cannot z-score by them."
            )
        x, y = (x - mean) / std, (y - mean) / std
    d = x.shape[1]
    classifier = MLPClassifier(
        activation="relu",
        hidden_layer_sizes=(10 * d, 10 * d),
        max_iter=10000,
        solver="adam",
        random_state=seed,
    )
    data = np.concatenate([x, y])
    labels = np.concatenate([np.zeros(len(x)), np.ones(len(y))])
    folds = KFold(n_splits=n_folds, shuffle=True, random_state=seed)
    scores = cross_val_score(classifier, data, labels, cv=folds, scoring="accuracy")
    return float(np.float32(np.mean(scores)))
