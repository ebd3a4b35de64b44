"""``BijectorTransformer``: any elementwise TFP bijector as a transformer.

TFP's ``tfb.RealNVP(bijector_fn=...)`` and distrax's ``MaskedCoupling`` take a
function from parameters to an elementwise bijector; so does this adapter. It
lets a user's own elementwise bijector (``tfb.SinhArcsinh``,
``tfb.RationalQuadraticSpline``, a ``tfb.Chain`` of scalar bijectors) serve in
a coupling layer without a new subclass.
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf
from tensorflow_probability import bijectors as tfb

from tfp_flows._internal.checks import check_integer
from tfp_flows.bijectors.transformers.base import Transformer

__all__ = ["BijectorTransformer"]


class BijectorTransformer(Transformer):
    """The elementwise bijector ``bijector_fn(params)`` as a transformer.

    ```none
    params: [..., n, k]          (k = params_per_entry; params[..., i, :] belong to entry i)
    b = bijector_fn(params)      an elementwise (event_ndims = 0) bijector, batch shape [..., n]
    forward:  y = b.forward(x)   ildj = -b.forward_log_det_jacobian(x, event_ndims=0)
    inverse:  x = b.inverse(y)   ildj =  b.inverse_log_det_jacobian(y, event_ndims=0)
    ```

    ``bijector_fn`` receives the raw conditioner output: constrain it inside
    (for example ``tf.nn.softplus`` for a positive parameter). Wrap trainable
    variables the function closes over in a ``tf.Module`` and pass it as
    ``module`` so the layer tracks them.

    Args:
      bijector_fn: ``params -> tfb.Bijector``, elementwise.
      params_per_entry: ``k``, the number of parameters per entry it reads.
      module: optional ``tf.Module`` holding variables that ``bijector_fn`` uses.
      name: module name.

    #### Examples

    A sinh-arcsinh transformer (skewness and a positive tail weight per entry):

    >>> import tensorflow as tf
    >>> from tensorflow_probability import bijectors as tfb
    >>> sinh_arcsinh = BijectorTransformer(
    ...     lambda p: tfb.SinhArcsinh(skewness=p[..., 0],
    ...                               tailweight=tf.nn.softplus(p[..., 1]) + 0.1),
    ...     params_per_entry=2)
    >>> x = tf.constant([[0.3, -2.0]])
    >>> y, ildj = sinh_arcsinh.forward(x, tf.zeros([1, 2, 2]))
    >>> x_back, _ = sinh_arcsinh.inverse(y, tf.zeros([1, 2, 2]))
    >>> bool(tf.reduce_all(tf.abs(x_back - x) < 1e-5))
    True
    """

    def __init__(
        self,
        bijector_fn: Callable[[tf.Tensor], tfb.Bijector],
        params_per_entry: int,
        module: tf.Module | None = None,
        name: str = "bijector_transformer",
    ):
        super().__init__(name=name)
        if not callable(bijector_fn):
            raise TypeError(
                f"bijector_fn must be a callable params -> tfb.Bijector, got "
                f"{type(bijector_fn).__name__}."
            )
        self.params_per_entry = check_integer("params_per_entry", params_per_entry, minimum=1)
        self._bijector_fn = bijector_fn
        self.module = module

    def bijector(self, params: tf.Tensor) -> tfb.Bijector:
        """``bijector_fn(params)``, checked to be a ``tfb.Bijector``."""
        bijector = self._bijector_fn(params)
        if not isinstance(bijector, tfb.Bijector):
            raise TypeError(
                f"{self.name}: bijector_fn must return a tfb.Bijector, got "
                f"{type(bijector).__name__}."
            )
        return bijector

    def forward(self, x, params):
        bijector = self.bijector(params)
        return bijector.forward(x), -bijector.forward_log_det_jacobian(x, event_ndims=0)

    def inverse(self, y, params):
        bijector = self.bijector(params)
        return bijector.inverse(y), bijector.inverse_log_det_jacobian(y, event_ndims=0)
