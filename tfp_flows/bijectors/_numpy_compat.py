"""TFP 0.25's ``tfb.Pad`` on NumPy >= 2.4.

``tfb.Pad.__init__`` in TFP 0.25 calls ``np.reshape(axis, newshape=[-1])``. NumPy 2.1
deprecated the ``newshape`` keyword and NumPy 2.4 removed it, so on NumPy 2.4 every
``Pad`` construction raises ``TypeError: reshape() got an unexpected keyword argument
'newshape'``. TFP builds a ``Pad`` inside ``SoftmaxCentered`` (the event space of
``Dirichlet`` and ``RelaxedOneHotCategorical``, and part of those of ``VonMisesFisher``,
``PowerSpherical`` and ``SphericalUniform``), inside ``UnitVector`` and in
``Deterministic``'s event space, so a model with such a part could not get a
``tff.inference.surrogate_posterior`` (nor a ``tfp.vi`` one).

:func:`let_tfp_pad_accept_newshape` hands TFP's ``pad`` module, and only that module, a view
of NumPy whose ``reshape`` also takes ``newshape=``; every other name it reads is NumPy's
own, so ``Pad`` computes exactly what it computes on NumPy < 2.4. It changes nothing where
NumPy still takes ``newshape``, where TFP's ``pad`` module no longer passes the keyword (a
later TFP release), or where the ``pad`` module no longer reads NumPy through a module-level ``np``.
``tfp_flows.bijectors`` calls it on import; calling it again is a no-op.

This is the package's one change to a TFP module (no TFP or TensorFlow internals are
imported: ``tests/test_public_imports.py``). No public route avoids it: TFP builds the
``Pad`` inside its own distributions' event-space bijectors. Installing NumPy < 2.4 makes it
unnecessary.

#### Examples

>>> import tensorflow_probability as tfp
>>> import tfp_flows.bijectors
>>> simplex = tfp.distributions.Dirichlet([1.0, 2.0, 3.0]).experimental_default_event_space_bijector()
>>> [round(float(p), 4) for p in simplex.forward([0.0, 0.0])]
[0.3333, 0.3333, 0.3333]
"""

from __future__ import annotations

import sys
import types
import warnings
from typing import Any

import numpy as np


def numpy_reshape_accepts_newshape() -> bool:
    """Whether this NumPy's ``np.reshape`` still takes the ``newshape=`` keyword (NumPy < 2.4)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            np.reshape(np.zeros(1), newshape=[-1])
        except TypeError:
            return False
    return True


def tfp_pad_passes_newshape() -> bool:
    """Whether TFP's ``pad`` module passes ``newshape=`` to NumPy (read from its source).

    Reads the source and runs nothing: building a ``tfb.Pad`` to find out would create a
    tensor and so start TensorFlow's runtime at import, after which a program can no
    longer configure it (threads, devices, ``MultiWorkerMirroredStrategy``: ``tests/test_multi_worker.py``).
    """
    import inspect

    from tensorflow_probability import bijectors as tfb

    try:
        source = inspect.getsource(sys.modules[tfb.Pad.__module__])
    except (OSError, TypeError):
        return False
    return "newshape=" in source


def _reshape(a: Any, *args: Any, newshape: Any = None, **kwargs: Any) -> np.ndarray:
    """``np.reshape`` that also takes NumPy < 2.4's ``newshape=`` for the ``shape`` argument."""
    if newshape is not None:
        args = (newshape, *args)
    return np.reshape(a, *args, **kwargs)


class _NumpyWithNewshape(types.ModuleType):
    """NumPy as seen by TFP's ``pad`` module: NumPy's names, and a ``reshape`` taking ``newshape``."""

    reshape = staticmethod(_reshape)

    def __getattr__(self, name: str) -> Any:
        return getattr(np, name)


def let_tfp_pad_accept_newshape() -> bool:
    """Make TFP's ``tfb.Pad`` constructible on NumPy >= 2.4; True if a change was made.

    Idempotent. Does nothing (returns False) on NumPy < 2.4, where TFP's ``pad`` module
    does not pass ``newshape=``, when already applied, or when TFP's ``pad`` module does not read NumPy through a
    module-level ``np``.
    """
    if numpy_reshape_accepts_newshape() or not tfp_pad_passes_newshape():
        return False
    from tensorflow_probability import bijectors as tfb

    pad_module = sys.modules[tfb.Pad.__module__]
    if getattr(pad_module, "np", None) is not np:
        return False
    pad_module.np = _NumpyWithNewshape("numpy", "NumPy, with reshape(newshape=) for tfb.Pad")
    return True
