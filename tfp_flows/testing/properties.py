"""Property checks for any bijector or flow — ours or yours.

Each ``assert_*`` function raises ``AssertionError`` naming the property, the
execution mode and the measured error, and returns the measured error so it can
be reported. :func:`check_bijector` runs them all in eager mode, in
``tf.function`` and in ``tf.function(jit_compile=True)``, always on fresh
tensors (a new tensor for every call, so a bijector cache cannot hide a wrong
inverse or log-det-Jacobian).

The properties, for a bijector ``f`` acting on events of rank
``f.forward_min_event_ndims`` (vectors, or images ``[H, W, C]``), and for a
conditional bijector at a given context ``c`` (every check takes
``context=c``, shape ``[..., k]``, passed to every call). A bijector whose
output event has another shape than its input (a squeeze
``[H, W, C] -> [H/2, W/2, 4C]``, as ``forward_event_shape`` says) is checked
at ``x`` and, on the output side, at ``y = x`` reshaped to the output shape:

```none
finite:        f(x), f^{-1}(y), log|det J_f(x)| are finite
round trip:    f^{-1}(f(x)) = x   and   f(f^{-1}(y)) = y
log-det:       log|det J_f(x)| = -log|det J_{f^{-1}}(f(x))|
autodiff:      log|det J_f(x)| = log|det(d f(x) / d x)|   (tf.GradientTape.batch_jacobian)
normalised:    integral of exp(log p(x)) dx = 1            (2-D flows, on a grid)
gradients:     every trainable variable gets a finite gradient of the NLL
modes agree:   eager = tf.function = XLA
no stale cache: results follow the weights and the context, never an earlier call's
```

#### Examples

>>> import tensorflow as tf
>>> from tfp_flows.bijectors import AffineCoupling
>>> from tfp_flows.nn import MLPFactory
>>> layer = AffineCoupling(3, MLPFactory(seed=0), dtype=tf.float64)
>>> perturb_weights(layer, seed=1)
>>> x = tf.random.stateless_normal([16, 3], seed=[0, 0], dtype=tf.float64)
>>> errors = check_bijector(layer, x)
>>> errors["autodiff_log_det"] < 1e-8
True
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import tensorflow as tf
from tensorflow_probability import bijectors as tfb
from tensorflow_probability import distributions as tfd

__all__ = [
    "MODES",
    "assert_all_variables_get_gradients",
    "assert_cache_follows_context",
    "assert_cache_follows_weights",
    "assert_declared_constant_jacobian",
    "assert_finite",
    "assert_log_det_consistent",
    "assert_log_det_matches_autodiff",
    "assert_modes_agree",
    "assert_normalized",
    "assert_round_trip",
    "check_bijector",
    "default_tolerance",
    "evaluate",
    "output_point",
    "perturb_weights",
]

MODES = ("eager", "function", "xla")


def default_tolerance(dtype: tf.DType) -> float:
    """Absolute tolerance for round trips: 1e-4 in float32, 1e-10 in float64."""
    return 1e-10 if tf.as_dtype(dtype) == tf.float64 else 1e-4


def perturb_weights(module: tf.Module, scale: float = 0.3, seed: int = 0) -> None:
    """Adds ``N(0, scale^2)`` noise to every trainable variable of ``module``.

    Flows start at the identity; checks on a fresh flow would pass for a
    layer that ignores its conditioner. Perturb first.
    """
    for i, variable in enumerate(module.trainable_variables):
        noise = tf.random.stateless_normal(variable.shape, seed=[seed, i], dtype=variable.dtype)
        variable.assign_add(scale * noise)


def _compile(fn: Callable, mode: str) -> Callable:
    if mode == "eager":
        return fn
    if mode == "function":
        return tf.function(fn, autograph=False)
    if mode == "xla":
        return tf.function(fn, autograph=False, jit_compile=True)
    raise ValueError(f"unknown mode {mode!r}; expected one of {MODES}.")


def _fresh(x: tf.Tensor) -> tf.Tensor:
    """A new tensor with the same value, so no cache keyed by identity can answer."""
    return tf.constant(np.array(x))


def _max_abs(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)), initial=0.0))


def _fail_if(error: float, tolerance: float, what: str, mode: str) -> float:
    if not error <= tolerance:  # also catches NaN
        raise AssertionError(
            f"{what} [{mode}]: max abs error {error:.3g} > tolerance {tolerance:.3g}"
        )
    return error


def _kwargs(context: tf.Tensor | None) -> dict[str, tf.Tensor]:
    return {} if context is None else {"context": context}


def _ndims(bijector: tfb.Bijector) -> int:
    return int(bijector.forward_min_event_ndims)


def output_point(bijector: tfb.Bijector, x: tf.Tensor) -> tf.Tensor:
    """``x`` as a point of the output space: ``x`` itself, or reshaped to ``forward_event_shape``.

    For a bijector that rearranges its event (same size, another shape), the
    values of ``x`` in the output's shape: where the output-side checks
    (``inverse``, ``inverse_log_det_jacobian``) are evaluated.
    """
    output_shape = tf.TensorShape(bijector.forward_event_shape(x.shape))
    if output_shape == x.shape:
        return x
    return tf.reshape(x, output_shape)


def _identity(t: tf.Tensor) -> tf.Tensor:
    """A new tensor object (cache miss) with the same value, inside or outside a graph."""
    return tf.identity(t)


def _evaluate_body(
    bijector: tfb.Bijector, t: tf.Tensor, u: tf.Tensor, c: tf.Tensor | None
) -> dict[str, tf.Tensor]:
    """The six values of :func:`evaluate`, each call on a new tensor object.

    ``forward`` is called on ``t`` and ``inverse`` on ``u`` themselves, so the
    cache probes that follow in the same call see them as tensors seen before.
    """
    nd, kw = _ndims(bijector), _kwargs(c)
    y = bijector.forward(t, **kw)
    x_inv = bijector.inverse(u, **kw)
    return {
        "forward": y,
        "inverse": x_inv,
        "there_and_back": bijector.inverse(_identity(y), **kw),
        "back_and_there": bijector.forward(_identity(x_inv), **kw),
        "fldj": bijector.forward_log_det_jacobian(_identity(t), nd, **kw),
        "ildj_of_forward": bijector.inverse_log_det_jacobian(_identity(y), nd, **kw),
    }


def evaluate(
    bijector: tfb.Bijector, x: tf.Tensor, mode: str = "eager", context: tf.Tensor | None = None
) -> dict[str, np.ndarray]:
    """Everything the checks need, from one (compiled) function of fresh tensors.

    Returns ``forward`` at ``x``, ``inverse`` at ``u`` = :func:`output_point`
    of ``x`` (``x`` itself unless the event changes shape), ``there_and_back`` =
    ``f^{-1}(f(x))``, ``back_and_there`` = ``f(f^{-1}(u))``, ``fldj`` at ``x`` and
    ``ildj_of_forward`` = ``ildj(f(x))``. Each call gets a new tensor object so
    no cache keyed by tensor identity can answer.

    #### Examples

    >>> from tfp_flows.bijectors import AdditiveCoupling
    >>> from tfp_flows.nn import MLPFactory
    >>> layer = AdditiveCoupling(2, MLPFactory(seed=0))
    >>> values = evaluate(layer, tf.ones([4, 2]), mode="function")
    >>> sorted(values)
    ['back_and_there', 'fldj', 'forward', 'ildj_of_forward', 'inverse', 'there_and_back']
    """

    def everything(t, u, c):
        return _evaluate_body(bijector, t, u, c)

    values = _compile(everything, mode)(_fresh(x), _fresh(output_point(bijector, x)), context)
    return {k: np.asarray(v) for k, v in values.items()}


def assert_finite(bijector: tfb.Bijector, x: tf.Tensor, mode: str = "eager", _values=None) -> None:
    """``forward``, ``inverse`` and both log-det-Jacobians are finite at ``x``."""
    values = evaluate(bijector, x, mode) if _values is None else _values
    for what, value in values.items():
        if not np.all(np.isfinite(value)):
            raise AssertionError(f"{what} [{mode}] is not finite: {value[~np.isfinite(value)][:5]}")


def assert_round_trip(
    bijector: tfb.Bijector,
    x: tf.Tensor,
    atol: float | None = None,
    mode: str = "eager",
    _values=None,
) -> float:
    """``inverse(forward(x)) ~= x`` and ``forward(inverse(u)) ~= u`` (``u``: :func:`output_point`)."""
    atol = default_tolerance(x.dtype) if atol is None else atol
    values = evaluate(bijector, x, mode) if _values is None else _values
    error = max(
        _max_abs(values["there_and_back"], x),
        _max_abs(values["back_and_there"], output_point(bijector, x)),
    )
    return _fail_if(error, atol, "round trip", mode)


def assert_log_det_consistent(
    bijector: tfb.Bijector,
    x: tf.Tensor,
    atol: float | None = None,
    mode: str = "eager",
    _values=None,
) -> float:
    """``forward_log_det_jacobian(x) == -inverse_log_det_jacobian(forward(x))`` (no cache)."""
    atol = 10 * default_tolerance(x.dtype) if atol is None else atol
    values = evaluate(bijector, x, mode) if _values is None else _values
    error = _max_abs(values["fldj"], -values["ildj_of_forward"])
    return _fail_if(error, atol, "fldj(x) = -ildj(f(x))", mode)


def _jacobians(bijector: tfb.Bijector, x: tf.Tensor, context: tf.Tensor | None) -> tf.Tensor:
    """Autodiff Jacobians ``[batch, n, n]`` of the flattened event, ``x`` of shape ``[batch, *event]``.

    Up to 16 entries, one eager backward pass per output entry: in eager mode
    ``pfor`` traces the vectorised backward pass into a graph first, which for
    a spline chain of 3 entries costs 5x more than the three passes (same values
    to 1e-15). Larger (image) events are vectorised.
    """
    x = _fresh(x)
    use_pfor = x.shape[1:].num_elements() > 16
    with tf.GradientTape(persistent=not use_pfor) as tape:
        tape.watch(x)
        y = bijector.forward(x, **_kwargs(context))
        y = tf.reshape(y, [tf.shape(y)[0], -1])
    jacobian = tape.batch_jacobian(y, x, experimental_use_pfor=use_pfor)
    return tf.reshape(jacobian, [tf.shape(y)[0], y.shape[-1], -1])


def assert_log_det_matches_autodiff(
    bijector: tfb.Bijector,
    x: tf.Tensor,
    atol: float | None = None,
    context: tf.Tensor | None = None,
    _jacobian=None,
) -> float:
    """``forward_log_det_jacobian(x)`` equals ``log|det|`` of the autodiff Jacobian.

    Uses ``tf.GradientTape.batch_jacobian`` on ``x`` of shape ``[batch, *event]``
    (the event flattened); run it in float64 for a tight tolerance (default
    1e-8; 1e-3 in float32).
    """
    atol = (1e-8 if x.dtype == tf.float64 else 1e-3) if atol is None else atol
    jacobian = _jacobians(bijector, x, context) if _jacobian is None else _jacobian
    _, log_abs_det = tf.linalg.slogdet(jacobian)
    fldj = bijector.forward_log_det_jacobian(_fresh(x), _ndims(bijector), **_kwargs(context))
    return _fail_if(_max_abs(fldj, log_abs_det), atol, "log-det vs autodiff Jacobian", "eager")


def assert_declared_constant_jacobian(
    bijector: tfb.Bijector,
    x: tf.Tensor,
    atol: float | None = None,
    context: tf.Tensor | None = None,
    _jacobian=None,
) -> float:
    """If ``bijector.is_constant_jacobian``, its autodiff Jacobian *matrix* is the same at every row.

    TFP reads the flag as "affine" (closed-form ``mean()``/``covariance()``), so
    a volume-preserving but nonlinear map must not declare it. Returns the
    largest difference between the rows' Jacobians (0 when not declared).
    """
    if not bijector.is_constant_jacobian:
        return 0.0
    atol = (1e-8 if x.dtype == tf.float64 else 1e-4) if atol is None else atol
    jacobians = np.asarray(_jacobians(bijector, x, context) if _jacobian is None else _jacobian)
    return _fail_if(
        _max_abs(jacobians, jacobians[:1]),
        atol,
        "is_constant_jacobian=True but the Jacobian varies with x",
        "eager",
    )


def _floating_variables(bijector: tfb.Bijector) -> list[tf.Variable]:
    return [v for v in bijector.variables if v.dtype.is_floating]


def _seen(bijector, t, u, c):
    """``forward(t)`` and ``inverse(u)`` at ``c``: the calls a cache could remember.

    TFP holds cached outputs weakly: the caller keeps these alive, or there is
    nothing to go stale.
    """
    return bijector.forward(t, **_kwargs(c)), bijector.inverse(u, **_kwargs(c))


def _other_context(bijector, t, u, c):
    """The same tensors (seen at context ``c``) at ``c + 1``."""
    return _all_four(bijector, t, u, c + 1)


def _moved(bijector, variables, t, u, c):
    """Moves every variable by 0.1, then calls on the tensors seen before."""
    for variable in variables:
        variable.assign_add(tf.fill(tf.shape(variable), tf.constant(0.1, variable.dtype)))
    return _all_four(bijector, t, u, c)


def assert_cache_follows_weights(
    bijector: tfb.Bijector, x: tf.Tensor, mode: str = "eager", context: tf.Tensor | None = None
) -> float:
    """After a weight change, results for a tensor seen before equal those for a fresh copy.

    Moves every floating variable of ``bijector`` by 0.1 between two calls on
    the same tensor (inside one function in the compiled modes), then compares
    ``forward``, ``inverse`` and both log-dets with those of a fresh tensor.
    The variables stay moved. Returns the largest difference.
    """
    variables = _floating_variables(bijector)

    def seen_then_moved(t, u, c):
        kept = _seen(bijector, t, u, c)
        return _moved(bijector, variables, t, u, c), kept

    seen, _ = _compile(seen_then_moved, mode)(_fresh(x), _fresh(output_point(bijector, x)), context)
    return _compare_with_fresh(
        bijector, x, context, seen, "a tensor seen before a weight change", mode
    )


def assert_cache_follows_context(
    bijector: tfb.Bijector, x: tf.Tensor, context: tf.Tensor, mode: str = "eager"
) -> float:
    """Results for a tensor seen with one context equal a fresh tensor's under another context.

    Calls the conditional ``bijector`` on ``x`` with ``context``, then on the
    same tensor with ``context + 1`` (inside one function in the compiled
    modes), and compares the second results with those of a fresh tensor.
    Returns the largest difference.
    """

    def seen_then_other_context(t, u, c):
        kept = _seen(bijector, t, u, c)
        return _other_context(bijector, t, u, c), kept

    seen, _ = _compile(seen_then_other_context, mode)(
        _fresh(x), _fresh(output_point(bijector, x)), context
    )
    return _compare_with_fresh(
        bijector, x, context + 1, seen, "a tensor seen before with another context", mode
    )


def _all_four(
    bijector: tfb.Bijector, t: tf.Tensor, u: tf.Tensor, c: tf.Tensor | None
) -> dict[str, tf.Tensor]:
    """``forward`` and ``fldj`` at ``t``, ``inverse`` and ``ildj`` at ``u`` (output side)."""
    nd, kw = _ndims(bijector), _kwargs(c)
    return {
        "forward": bijector.forward(t, **kw),
        "inverse": bijector.inverse(u, **kw),
        "fldj": bijector.forward_log_det_jacobian(t, nd, **kw),
        "ildj": bijector.inverse_log_det_jacobian(u, nd, **kw),
    }


def _fresh_four(bijector, x, context) -> dict[str, np.ndarray]:
    """:func:`_all_four` eagerly, on fresh tensors: what a seen tensor must give."""
    fresh = _all_four(bijector, _fresh(x), _fresh(output_point(bijector, x)), context)
    return {key: np.asarray(value) for key, value in fresh.items()}


def _compare_with_fresh(bijector, x, context, seen, what: str, mode: str, fresh=None) -> float:
    fresh = _fresh_four(bijector, x, context) if fresh is None else fresh
    error = 0.0
    for key, value in seen.items():
        error = max(
            error,
            _fail_if(
                _max_abs(value, fresh[key]),
                10 * default_tolerance(x.dtype),
                f"{key} of {what} (stale cache)",
                mode,
            ),
        )
    return error


def assert_modes_agree(
    bijector: tfb.Bijector,
    x: tf.Tensor,
    atol: float | None = None,
    modes: tuple[str, ...] = MODES,
    _values=None,
) -> float:
    """Eager, ``tf.function`` and XLA give the same ``forward``, ``inverse`` and log-dets."""
    atol = 10 * default_tolerance(x.dtype) if atol is None else atol
    results = _values or {mode: evaluate(bijector, x, mode) for mode in modes}
    reference = results[modes[0]]
    error = 0.0
    for mode in modes[1:]:
        for key, value in results[mode].items():
            error = max(error, _max_abs(value, reference[key]))
        _fail_if(error, atol, f"{mode} vs {modes[0]}", mode)
    return error


def assert_all_variables_get_gradients(
    target: tfb.Bijector | tfd.Distribution, x: tf.Tensor, context: tf.Tensor | None = None
) -> int:
    """Every trainable variable gets a finite, not-``None`` gradient of the NLL at ``x``.

    For a distribution the loss is ``-mean(log_prob(x))``; for a bijector, the
    NLL of ``x`` under a standard normal pushed through it. Returns the number
    of variables checked.
    """
    variables = target.trainable_variables
    if not variables:
        raise AssertionError(f"{getattr(target, 'name', target)} has no trainable variables")
    kw = _kwargs(context)
    with tf.GradientTape() as tape:
        if isinstance(target, tfd.Distribution):
            loss = -tf.reduce_mean(target.log_prob(_fresh(x), **kw))
        else:
            y = output_point(target, x)
            z = target.inverse(_fresh(y), **kw)
            ildj = target.inverse_log_det_jacobian(_fresh(y), _ndims(target), **kw)
            loss = 0.5 * tf.reduce_mean(tf.square(z)) - tf.reduce_mean(ildj)
    gradients = tape.gradient(loss, variables)
    for variable, gradient in zip(variables, gradients):
        if gradient is None:
            raise AssertionError(f"variable {variable.name} gets no gradient")
        if not np.all(np.isfinite(np.asarray(tf.convert_to_tensor(gradient)))):
            raise AssertionError(f"variable {variable.name} gets a non-finite gradient")
    return len(variables)


def assert_normalized(
    distribution: tfd.Distribution,
    low: tuple[float, float] = (-6.0, -6.0),
    high: tuple[float, float] = (6.0, 6.0),
    grid_size: int = 400,
    atol: float = 1e-2,
) -> float:
    """A 2-D density integrates to one on the box ``[low, high]`` (midpoint rule).

    Returns the integral. The box must hold (almost) all of the mass.
    """
    dtype = distribution.dtype
    xs = [low[i] + (high[i] - low[i]) * (np.arange(grid_size) + 0.5) / grid_size for i in (0, 1)]
    grid = np.stack(np.meshgrid(*xs, indexing="ij"), axis=-1).reshape(-1, 2)
    log_prob = distribution.log_prob(tf.constant(grid, dtype=dtype))
    cell = (high[0] - low[0]) * (high[1] - low[1]) / grid_size**2
    integral = float(np.sum(np.exp(np.asarray(log_prob, np.float64))) * cell)
    _fail_if(abs(integral - 1.0), atol, f"integral of exp(log_prob) = {integral:.5f}", "eager")
    return integral


def _one_call(
    bijector: tfb.Bijector, variables: list[tf.Variable] | None, modes: tuple[str, ...]
) -> dict[str, tuple[Callable, Callable | None]]:
    """For each mode, two functions of ``(t, u, c)``: :func:`evaluate`'s values, and the probes.

    The values: :func:`_evaluate_body`. The probes: ``forward(t)`` and
    ``inverse(u)`` (the calls a cache could remember), then, with a context, the
    results on the same tensors at ``context + 1``
    (:func:`assert_cache_follows_context`) and, with ``variables``, the results
    after moving them by 0.1 (:func:`assert_cache_follows_weights`; they stay
    moved). The compiled modes share one trace of the values: ``"function"``
    runs it, ``"xla"`` compiles that same graph (as ``tf.function(jit_compile=True)``
    does with its own trace). The probes run eagerly and in ``tf.function``, and
    under XLA only when XLA is the one mode checked: a cache takes its decisions
    in Python while the function is traced, and ``jit_compile`` changes how the
    traced graph runs, not the trace, so XLA would see the decisions the
    ``tf.function`` probe checked (compiling the probes too was half of the
    property suite's XLA time).
    """

    def values(t, u, c):
        return _evaluate_body(bijector, t, u, c)

    def probes(t, u, c):
        seen = _seen(bijector, t, u, c)  # held until the probes are done
        found = {}
        if c is not None:
            found["context"] = _other_context(bijector, t, u, c)
        if variables is not None:
            found["weights"] = _moved(bijector, variables, t, u, c)
        del seen
        return found

    traced_values, traced_probes = _compile(values, "function"), _compile(probes, "function")
    xla_values = tf.function(
        lambda t, u, c: traced_values(t, u, c), autograph=False, jit_compile=True
    )
    compiled = {
        "eager": (values, probes),
        "function": (traced_values, traced_probes),
        "xla": (xla_values, _compile(probes, "xla") if modes == ("xla",) else None),
    }
    for mode in modes:
        if mode not in compiled:
            _compile(values, mode)  # raises: unknown mode
    return {mode: compiled[mode] for mode in modes}


def _as_numpy(values: dict) -> dict:
    return {k: _as_numpy(v) if isinstance(v, dict) else np.asarray(v) for k, v in values.items()}


def check_bijector(
    bijector: tfb.Bijector,
    x: tf.Tensor,
    *,
    atol: float | None = None,
    modes: tuple[str, ...] = MODES,
    autodiff_atol: float | None = None,
    context: tf.Tensor | None = None,
    weight_changes: bool = False,
) -> dict[str, float]:
    """Runs every bijector property at ``x`` (shape ``[batch, *event]``) in every mode.

    Returns the largest error measured for each property. Perturb a fresh
    flow's weights first (:func:`perturb_weights`). A conditional bijector is
    checked at ``context`` (shape ``[batch, k]``), and its cache against
    another context (``"cache_follows_context"``). With ``weight_changes=True``
    its cache is also checked against a weight change
    (``"cache_follows_weights"``: every floating variable moved by 0.1 between
    two calls on the same tensor, then put back exactly); leave it off for a
    ``tfb.Chain``, whose own cache TFP keys by tensor identity.

    One function returns the values of :func:`evaluate`, another the cache
    probes, and the checks read them: the values are traced once for both
    compiled modes, and XLA compiles that trace; the probes run eagerly and in
    ``tf.function`` (the cache decides while tracing, which XLA does not change;
    see :func:`_one_call`). The autodiff Jacobian is computed once, eagerly, for the
    log-det and the constant-Jacobian checks.

    #### Examples

    >>> from tfp_flows.bijectors import AdditiveCoupling
    >>> from tfp_flows.nn import MLPFactory
    >>> layer = AdditiveCoupling(2, MLPFactory(seed=0))
    >>> perturb_weights(layer)
    >>> sorted(check_bijector(layer, tf.random.stateless_normal([8, 2], seed=[1, 2])))
    ['autodiff_log_det', 'constant_jacobian', 'gradients', 'log_det_consistent', 'modes_agree', 'round_trip']
    >>> errors = check_bijector(layer, tf.ones([4, 2]), modes=("eager",), weight_changes=True)
    >>> errors["cache_follows_weights"] < 1e-3
    True
    """
    variables = _floating_variables(bijector) if weight_changes else None
    values, probes = {}, {}
    fresh_moved = fresh_other_context = None
    probing = context is not None or variables is not None
    for mode, (values_of, probes_of) in _one_call(bijector, variables, modes).items():
        inputs = lambda: (_fresh(x), _fresh(output_point(bijector, x)), context)  # noqa: E731
        values[mode] = _as_numpy(values_of(*inputs()))
        if not probing or probes_of is None:
            continue
        saved = None if variables is None else [v.numpy() for v in variables]
        try:
            probes[mode] = _as_numpy(probes_of(*inputs()))
            if saved is not None and fresh_moved is None:  # the same moved weights in every mode
                fresh_moved = _fresh_four(bijector, x, context)
        finally:
            for variable, value in zip(variables or (), saved or ()):
                variable.assign(value)
    results = {"round_trip": 0.0, "log_det_consistent": 0.0}
    for mode in modes:
        assert_finite(bijector, x, mode, _values=values[mode])
        results["round_trip"] = max(
            results["round_trip"],
            assert_round_trip(bijector, x, atol=atol, mode=mode, _values=values[mode]),
        )
        results["log_det_consistent"] = max(
            results["log_det_consistent"],
            assert_log_det_consistent(
                bijector,
                x,
                atol=None if atol is None else 10 * atol,
                mode=mode,
                _values=values[mode],
            ),
        )
    results["modes_agree"] = assert_modes_agree(
        bijector, x, atol=None if atol is None else 10 * atol, modes=modes, _values=values
    )
    jacobian = _jacobians(bijector, x, context)
    results["autodiff_log_det"] = assert_log_det_matches_autodiff(
        bijector, x, atol=autodiff_atol, context=context, _jacobian=jacobian
    )
    results["constant_jacobian"] = assert_declared_constant_jacobian(
        bijector, x, context=context, _jacobian=jacobian
    )
    if context is not None:
        fresh_other_context = _fresh_four(bijector, x, context + 1)
        results["cache_follows_context"] = max(
            _compare_with_fresh(
                bijector,
                x,
                context + 1,
                probes[mode]["context"],
                "a tensor seen before with another context",
                mode,
                fresh=fresh_other_context,
            )
            for mode in probes
        )
    if variables is not None:
        results["cache_follows_weights"] = max(
            _compare_with_fresh(
                bijector,
                x,
                context,
                probes[mode]["weights"],
                "a tensor seen before a weight change",
                mode,
                fresh=fresh_moved,
            )
            for mode in probes
        )
    if bijector.trainable_variables:  # e.g. a fitted normalisation has none
        results["gradients"] = float(
            assert_all_variables_get_gradients(bijector, x, context=context)
        )
    return results
