"""``MaskedAutoregressive``: an autoregressive layer from a transformer and a conditioner (MAF, IAF).

Every entry is transformed by an elementwise
:class:`~tfp_flows.bijectors.transformers.Transformer` whose parameters an
autoregressive conditioner (:class:`~tfp_flows.nn.AutoregressiveConditioner`:
a :class:`~tfp_flows.nn.MADE` or any network that declares its order and
connectivity) computes from the entries before it in an autoregressive order. One MADE pass gives every entry's parameters in the
direction where the conditioning entries are known; the other direction takes
``n`` passes, run in a ``tf.while_loop`` with a fixed trip count (compiled,
XLA-compatible).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from tfp_flows._internal.checks import check_floating_dtype, check_integer
from tfp_flows._internal.naming import unique_name
from tfp_flows.bijectors.base import FlowBijector, broadcast_batch
from tfp_flows.bijectors.transformers import Transformer, params_from_blocks
from tfp_flows.nn.conditioners import (
    AutoregressiveConditioner,
    ConditionerSpec,
    as_autoregressive_conditioner,
    check_input_order,
)
from tfp_flows.nn.made import MADEFactory

__all__ = ["ONE_PASS_DIRECTIONS", "MaskedAutoregressive"]

ONE_PASS_DIRECTIONS = ("inverse", "forward")
"""``"inverse"``: MAF (density in one pass); ``"forward"``: IAF (sampling in one pass)."""


class MaskedAutoregressive(FlowBijector):
    """Masked autoregressive layer: MAF (``one_pass="inverse"``) or IAF (``one_pass="forward"``).

    ``forward`` maps base samples ``z`` to data ``x``; ``tau`` is the
    transformer and ``p(., c)`` the conditioner (a MADE by default), whose
    output for entry ``i`` depends only on the entries before ``i`` in the
    order and on the context ``c``:

    ```none
    MAF (one_pass="inverse"):  x_i = tau(z_i; p_i(x_<i, c))
        inverse:  z = tau^{-1}(x; p(x, c))                      one MADE pass (log_prob)
        forward:  x <- tau(z; p(x, c)), n times from x = 0      n MADE passes (sample)
    IAF (one_pass="forward"):  x_i = tau(z_i; p_i(z_<i, c))
        forward:  x = tau(z; p(z, c))                           one MADE pass (sample)
        inverse:  z <- tau^{-1}(x; p(z, c)), n times from z = 0 n MADE passes (log_prob)
    inverse_log_det_jacobian = sum_i ildj_i   (the transformer's, at the final parameters)
    ```

    After ``t`` passes of the sequential direction the first ``t`` entries of
    the order are exact, so ``n`` passes give the exact result (and its
    gradient); the passes run in a ``tf.while_loop`` of ``n`` iterations.
    The Jacobian is triangular in the order, so its log-determinant is the sum
    of the transformer's elementwise log-derivatives.

    Args:
      event_size: ``n``, the number of entries (vector events).
      transformer: a :class:`~tfp_flows.bijectors.transformers.Transformer`
        (``Affine``, ``Additive``, ``BijectorTransformer``, ...) for ``n`` entries.
      conditioner: an :class:`~tfp_flows.nn.AutoregressiveConditioner` ``[..., n]
        -> [..., k n]`` (``k = transformer.params_per_entry``; it declares its
        ``input_order`` and a ``connectivity`` that respects it: a
        :class:`~tfp_flows.nn.MADE`, or any masked network through
        ``TrackedConditioner(network, ..., input_order=o)``), or a factory that
        builds one (:class:`~tfp_flows.nn.MADEFactory`). ``None``:
        ``MADEFactory()`` (hidden units ``(64, 64)``, relu, unseeded). A
        network not known to be autoregressive raises ``TypeError``.
      one_pass: ``"inverse"`` (MAF: density in one pass) or ``"forward"``
        (IAF: sampling in one pass).
      input_order: the order a factory builds for, a permutation of ``range(n)``
        (``input_order[i]``: position of entry ``i``; ``None``: the factory's
        default, ``0..n-1``). A built network has its own: ``None`` or equal to it.
      context_size: width ``k`` of the context ``[..., k]`` (0: unconditional).
      validate_args: check inputs and context are finite.
      dtype: ``tf.float32`` or ``tf.float64``.
      name: layer name (unique by default, so ``tfb.Chain`` can route kwargs).

    #### Examples

    >>> import tensorflow as tf
    >>> from tfp_flows.bijectors.transformers import Affine
    >>> from tfp_flows.nn import MADEFactory
    >>> from tfp_flows.testing.properties import perturb_weights
    >>> maf = MaskedAutoregressive(3, Affine(3), MADEFactory(hidden_units=(8,), seed=0))
    >>> perturb_weights(maf)
    >>> z = tf.constant([[0.5, -1.0, 2.0]])
    >>> x = maf.forward(z)                            # sampling: 3 MADE passes
    >>> bool(tf.reduce_all(tf.abs(maf.inverse(x) - z) < 1e-5))   # density: 1 pass
    True
    >>> iaf = MaskedAutoregressive(3, Affine(3), one_pass="forward", context_size=1)
    >>> iaf.forward(z, context=tf.constant([[1.0]])).numpy().tolist()  # fresh: identity
    [[0.5, -1.0, 2.0]]

    #### References

    [1]: George Papamakarios, Theo Pavlakou, Iain Murray. Masked Autoregressive
         Flow for Density Estimation. NeurIPS 2017. https://arxiv.org/abs/1705.07057
    [2]: Diederik P. Kingma, Tim Salimans, Rafal Jozefowicz, Xi Chen, Ilya
         Sutskever, Max Welling. Improving Variational Inference with Inverse
         Autoregressive Flow. NeurIPS 2016. https://arxiv.org/abs/1606.04934
    """

    def __init__(
        self,
        event_size: int,
        transformer: Transformer,
        conditioner: Any = None,
        *,
        one_pass: str = "inverse",
        input_order: Sequence[int] | np.ndarray | None = None,
        context_size: int = 0,
        validate_args: bool = False,
        dtype: tf.DType = tf.float32,
        name: str | None = None,
    ):
        parameters = dict(locals())
        name = name or unique_name("masked_autoregressive")
        dtype = check_floating_dtype(dtype, name)
        if isinstance(event_size, (tuple, list)) and len(event_size) == 1:
            event_size = event_size[0]
        event_size = check_integer(f"{name}: event_size", event_size, minimum=1)
        context_size = check_integer(f"{name}: context_size", context_size, minimum=0)
        if one_pass not in ONE_PASS_DIRECTIONS:
            raise ValueError(
                f"{name}: one_pass must be 'inverse' (MAF) or 'forward' (IAF), got {one_pass!r}."
            )
        if not isinstance(transformer, Transformer):
            raise TypeError(
                f"{name}: transformer must be a tfp_flows.bijectors.transformers.Transformer "
                f"(wrap an elementwise TFP bijector in BijectorTransformer), got "
                f"{type(transformer).__name__}."
            )
        spec = ConditionerSpec(
            input_size=event_size,
            params_per_entry=transformer.params_per_entry,
            num_transformed=event_size,
            context_size=context_size,
            dtype=dtype,
            input_order=(
                None
                if input_order is None
                else check_input_order(input_order, event_size, f"{name}: input_order")
            ),
        )
        with tf.name_scope(name):
            conditioner = as_autoregressive_conditioner(
                MADEFactory() if conditioner is None else conditioner, spec, name
            )
        # the attribute keeps its name (`_made`): checkpoints written before name it so
        self._made = conditioner
        self._input_order = check_input_order(conditioner.input_order, event_size)
        self._transformer = transformer
        self._one_pass = one_pass
        parameters = dict(parameters, conditioner=conditioner, input_order=None, name=name)
        super().__init__(
            event_size,
            validate_args=validate_args,
            dtype=dtype,
            parameters=parameters,
            name=name,
            context_size=context_size,
        )

    @property
    def conditioner(self) -> AutoregressiveConditioner:
        """The autoregressive network ``(x, context) -> params`` (``[..., k * n]``)."""
        return self._made

    @property
    def made(self) -> AutoregressiveConditioner:
        """The conditioner (a :class:`~tfp_flows.nn.MADE` unless another network was given)."""
        return self._made

    @property
    def transformer(self) -> Transformer:
        """The elementwise map of every entry."""
        return self._transformer

    @property
    def one_pass(self) -> str:
        """The direction that runs in one MADE pass: ``"inverse"`` (MAF) or ``"forward"`` (IAF)."""
        return self._one_pass

    @property
    def input_order(self) -> np.ndarray:
        """``input_order[i]``: the position of entry ``i`` in the autoregressive order."""
        return self._input_order.copy()

    # -- the autoregressive mechanics -------------------------------------------------------

    def _params(self, conditioning: tf.Tensor, context: tf.Tensor | None) -> tf.Tensor:
        """The transformer's parameters ``[..., n, k]`` computed from ``conditioning``."""
        return params_from_blocks(
            self._made(conditioning, context), self._transformer.params_per_entry
        )

    def _in_one_pass(self, u: tf.Tensor, step: Callable, context: tf.Tensor | None):
        """``step(u, p(u, c))``: the conditioning entries are the input's own."""
        if context is not None:
            u, context = broadcast_batch(u, context)
        result, ildj = step(u, self._params(u, context))
        return result, tf.reduce_sum(ildj, axis=-1)

    def _in_n_passes(self, u: tf.Tensor, step: Callable, context: tf.Tensor | None):
        """The fixed point ``r = step(u, p(r, c))``, exact after ``n`` passes from ``r = 0``."""
        if context is not None:
            u, context = broadcast_batch(u, context)

        def one_step(i, result, ildj):
            result, ildj = step(u, self._params(result, context))
            return i + 1, result, ildj

        _, result, ildj = tf.while_loop(
            lambda i, result, ildj: i < self.event_size,
            one_step,
            (tf.constant(0), tf.zeros_like(u), tf.zeros_like(u)),
            maximum_iterations=self.event_size,
        )
        return result, tf.reduce_sum(ildj, axis=-1)

    def _forward_and_ildj(self, x, context=None):
        run = self._in_one_pass if self._one_pass == "forward" else self._in_n_passes
        return run(x, self._transformer.forward, context)

    def _inverse_and_ildj(self, y, context=None):
        run = self._in_one_pass if self._one_pass == "inverse" else self._in_n_passes
        return run(y, self._transformer.inverse, context)
