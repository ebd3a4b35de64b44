"""Every builder: gradients are finite wherever ``log_prob`` is, far out, on knots and at bounds.

A flow's ``log_prob`` far from the data is finite (a large negative number) until the base
density underflows: ``log N(z) = -z^2 / 2 - ...`` is ``-inf`` once ``z^2`` overflows (|z| above
~1.8e19 in float32, ~1.3e154 in float64). There ``-inf`` is the right answer, and its gradient is
not asked for. Wherever ``log_prob`` is finite, its gradients with respect to the input and to
every trainable variable must be finite too (a NaN there poisons the weights under ``tfp.vi``,
``tfp.mcmc`` or a custom loop), and ``log_prob`` itself is never NaN.

One limit comes from arithmetic rather than from the flow: a gradient can itself exceed the
largest float while ``log_prob`` is finite. ``log_prob`` grows like ``|x|^2``; the gradient
with respect to a conditioner's last weights is a hidden activation (``~|x|``) times
``d log_prob / d log-scale`` (``~|x|^2``), so for affine transformers (``real_nvp``, ``maf``,
``iaf``, ``glow``) it grows like ``|x|^3`` and overflows from ``|x| ~ finfo.max^(1/3)`` (about
7e12 in float32, 5e102 in float64; measured: 1e12 and 1e102 give ``inf`` weight gradients, and
``inf - inf`` NaNs after them). For additive ones (``nice``) it grows like ``|x|^2``; for the
identity-tailed splines, planar and radial layers no faster than ``log_prob``. Each builder's
promise holds where ``|x|^GROWTH[name] <= finfo.max * HEADROOM``; ``log_prob`` is never NaN.
"""

import numpy as np
import pytest
import tensorflow as tf

import tfp_flows as tff
from tfp_flows.bijectors import Coupling, MaskedAutoregressive
from tfp_flows.bijectors.transformers import RationalQuadraticSpline, params_from_blocks
from tfp_flows.testing import perturb_weights

EVENT, CONTEXT = 3, 2
HEADROOM = 1e-6  # room for the constants: weights, hidden widths, sums over entries and points
GROWTH = {
    "real_nvp": 3,
    "maf": 3,
    "iaf": 3,
    "glow": 3,
    "nice": 2,
    "nsf": 2,
    "nsf_autoregressive": 2,
    "maf_spline": 2,
    "planar": 2,
    "radial": 2,
}
FAR = {
    tf.float32: [1e2, 1e4, 1e8, 1e10, 1e15, 1e19, 1e25, 1e30],
    tf.float64: [1e2, 1e4, 1e8, 1e18, 1e30, 1e60, 1e100, 1e154, 1e200, 1e300],
}


def _small(**kwargs):
    return dict(num_layers=2, hidden_units=(8,), seed=1, **kwargs)


BUILDERS = {
    "real_nvp": lambda dtype, k: tff.real_nvp(EVENT, **_small(dtype=dtype, context_size=k)),
    "nice": lambda dtype, k: tff.nice(EVENT, **_small(dtype=dtype, context_size=k)),
    "nsf": lambda dtype, k: tff.nsf(
        EVENT,
        bins=5,
        bound=3.0,
        mixing=None,
        standardize=False,
        **_small(dtype=dtype, context_size=k),
    ),
    "nsf_autoregressive": lambda dtype, k: tff.nsf(
        EVENT,
        bins=5,
        bound=3.0,
        mixing=None,
        standardize=False,
        autoregressive=True,
        **_small(dtype=dtype, context_size=k),
    ),
    "maf": lambda dtype, k: tff.maf(EVENT, **_small(dtype=dtype, context_size=k)),
    "maf_spline": lambda dtype, k: tff.maf(
        EVENT, transformer="spline", standardize=False, **_small(dtype=dtype, context_size=k)
    ),
    "iaf": lambda dtype, k: tff.iaf(EVENT, **_small(dtype=dtype, context_size=k)),
    "planar": lambda dtype, k: tff.planar(
        EVENT, num_layers=2, hidden_units=(8,), seed=1, dtype=dtype, context_size=k
    ),
    "radial": lambda dtype, k: tff.radial(
        EVENT, num_layers=2, hidden_units=(8,), seed=1, dtype=dtype, context_size=k
    ),
    "glow": lambda dtype, k: tff.glow(
        (4, 4, 1),
        num_scales=0,
        steps_per_scale=1,
        hidden_channels=4,
        num_blocks=0,
        seed=1,
        dtype=dtype,
        context_size=k,
    ),
}
CASES = [(name, 0) for name in BUILDERS] + [
    (name, CONTEXT)
    for name in ("real_nvp", "nsf", "nsf_autoregressive", "maf", "iaf", "planar", "radial")
]


def _far_points(dtype):
    """Rows mixing far values of both signs with ordinary ones: ``[n, EVENT]``."""
    rows = []
    for value in FAR[dtype]:
        for sign in (1.0, -1.0):
            v = sign * value
            rows += [[v, 0.3, -v], [v, v, v], [0.1, v, 0.2], [-0.5, 0.4, v]]
    return np.array(rows)


def _spline_points(flow, dtype, context):
    """Points whose first inverse step lands on the data-side spline's y-knots, and on its
    bounds ``+-B`` exactly (the first knot and the last), with the other entries at 0.3."""
    layer = flow.bijector.bijectors[0]  # log_prob inverts the last layer first
    spline = getattr(layer, "transformer", None)
    if not isinstance(spline, RationalQuadraticSpline):
        return np.zeros([0, EVENT])
    base = np.full([1, EVENT], 0.3)
    if isinstance(layer, Coupling):
        free = np.flatnonzero(layer.mask == 0)
        raw = layer.conditioner(tf.constant(base[:, layer.mask == 1], dtype), context)
    else:  # MAF: the first entry in the order depends on nothing (its parameters are constant)
        assert isinstance(layer, MaskedAutoregressive) and layer.one_pass == "inverse"
        free = np.flatnonzero(layer.input_order == 0)
        raw = layer.made(tf.constant(base, dtype), context)
    _, y_knots, _ = spline.spline(params_from_blocks(raw, spline.params_per_entry))
    y_knots = y_knots.numpy()[0]  # [entries, K + 1]: the free entries (coupling), all (MAF)
    rows = np.repeat(base, y_knots.shape[-1], axis=0)
    rows[:, free] = y_knots.T if isinstance(layer, Coupling) else y_knots[free].T
    bounds = np.repeat(base, 2, axis=0)
    bounds[:, free] = np.array([[-spline.bound], [spline.bound]])
    return np.concatenate([rows, bounds])


def _as_event(points, flow):
    if flow.event_shape.rank == 1:
        return points
    # images: the same values spread over the pixels with varying signs and sizes
    pattern = np.linspace(-1.0, 1.0, 16).reshape(1, 4, 4, 1)
    return points[:, :1, None, None] * pattern + points[:, 1:2, None, None] * pattern[:, ::-1]


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64], ids=["float32", "float64"])
@pytest.mark.parametrize(
    "name, context_size", CASES, ids=[f"{n}{'_conditional' if k else ''}" for n, k in CASES]
)
def test_gradients_are_finite_wherever_log_prob_is_finite(name, context_size, dtype):
    flow = BUILDERS[name](dtype, context_size)
    perturb_weights(flow, scale=0.5, seed=4)  # far from the identity each layer starts at
    context = tf.constant([[0.5, -1.0]], dtype) if context_size else None
    kwargs = {"context": context} if context_size else {}
    points = np.concatenate(
        [
            [[0.0, 0.0, 0.0], [1.0, -2.0, 0.5]],
            _far_points(dtype),
            _spline_points(flow, dtype, context),
        ]
    )
    x = tf.constant(_as_event(points, flow), dtype)
    variables = flow.trainable_variables
    assert variables
    log_prob = flow.log_prob(x, **kwargs)
    assert not np.any(np.isnan(log_prob)), points[np.isnan(log_prob)]
    near = np.abs(points).max(axis=1) <= 1e2
    assert np.all(np.isfinite(log_prob.numpy()[near]))
    log_size = np.log10(np.maximum(np.abs(points).max(axis=1), 1.0))
    covered = np.isfinite(log_prob.numpy()) & (
        GROWTH[name] * log_size <= np.log10(np.finfo(dtype.as_numpy_dtype).max * HEADROOM)
    )
    assert covered.sum() > len(_far_points(dtype)) // 2  # far points are covered
    inside = tf.constant(x.numpy()[covered])
    with tf.GradientTape() as tape:
        tape.watch(inside)
        total = tf.reduce_sum(flow.log_prob(inside, **kwargs))
    x_gradient, *weight_gradients = tape.gradient(total, [inside, *variables])
    rows = x_gradient.numpy().reshape(len(inside), -1)
    failing = ~np.all(np.isfinite(rows), axis=1)
    assert not np.any(failing), points[covered][failing]  # w.r.t. x: point by point
    for variable, gradient in zip(variables, weight_gradients):
        assert gradient is None or np.all(np.isfinite(gradient)), variable.name
    assert np.any(rows != 0)  # the gradients are not all cut off
