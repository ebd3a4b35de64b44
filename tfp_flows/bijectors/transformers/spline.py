"""``RationalQuadraticSpline``: the monotone rational-quadratic spline of Neural Spline Flows."""

from __future__ import annotations

import math

import tensorflow as tf

from tfp_flows._internal.checks import check_integer, check_number, check_positive_float
from tfp_flows.bijectors.transformers.base import Transformer

__all__ = ["RationalQuadraticSpline"]


def _select(one_hot: tf.Tensor, values: tf.Tensor) -> tf.Tensor:
    """``values[..., bin]`` for the bin marked in ``one_hot`` (both ``[..., n, K]``)."""
    return tf.reduce_sum(one_hot * values, axis=-1)


class RationalQuadraticSpline(Transformer):
    """Elementwise monotone rational-quadratic spline on ``[-B, B]``, the identity outside.

    ``K`` bins with knots ``(x^k, y^k)``, ``k = 0..K``, from ``-B`` to ``B`` in both
    coordinates, and positive derivatives ``d^k`` at the knots; the boundary
    derivatives are 1, so the spline joins the identity tails smoothly. The
    ``3K - 1`` raw parameters of an entry are ``K`` widths, ``K`` heights and
    ``K - 1`` interior derivatives:

    ```none
    params[..., i, :] = (u_w[0:K], u_h[0:K], u_d[0:K-1])
    w = 2B * (m_w + (1 - K m_w) softmax(u_w))      bin widths  (>= 2B m_w), sum 2B
    h = 2B * (m_h + (1 - K m_h) softmax(u_h))      bin heights (>= 2B m_h), sum 2B
    d = m_d + softplus(u_d + log(e^(1 - m_d) - 1))  interior derivatives; d^0 = d^K = 1
    in bin k (x^k <= x < x^(k+1)), with s = h_k / w_k and t = (x - x^k) / w_k:
      forward:  y = y^k + h_k (s t^2 + d^k t (1 - t)) / (s + (d^(k+1) + d^k - 2s) t (1 - t))
      dy/dx = s^2 (d^(k+1) t^2 + 2 s t (1 - t) + d^k (1 - t)^2) / (s + (d^(k+1) + d^k - 2s) t (1 - t))^2
      inverse:  t = 2c / (-b - sqrt(b^2 - 4ac))  (= (sqrt(b^2 - 4ac) - b) / 2a, used for b < 0),
                x = x^k + t w_k,  with dy = y - y^k and
                a = h_k (s - d^k) + dy (d^(k+1) + d^k - 2s),  b = h_k d^k - dy (d^(k+1) + d^k - 2s),
                c = -s dy
              (computed without cancellation, see _solve, then refined by one Newton step
              whose gradient is the implicit one: finite for any parameters)
    outside [-B, B]: y = x, ildj = 0
    ildj = log(dx/dy) = -log(dy/dx) in both directions
    ```

    Raw parameters of zero give uniform bins and unit derivatives: the identity.
    The minimum width, height and derivative keep every bin invertible and the
    log-derivative bounded. The spline is evaluated at a clamped copy of the
    input and selected with ``tf.where``, so inputs far outside (1e30 in
    float32) give finite values *and* finite gradients (a ``tf.where`` whose
    other branch is NaN would poison the gradient).

    Args:
      bins: number of bins ``K`` (>= 2).
      bound: half-width ``B`` of the spline's interval (> 0).
      min_bin_width: minimum width of a bin as a fraction ``m_w`` of ``2B``
        (default 1e-3; ``K * m_w < 1``).
      min_bin_height: the same for heights (default 1e-3).
      min_derivative: minimum derivative ``m_d`` at the interior knots
        (default 1e-3; < 1).
      name: module name.

    #### Examples

    >>> spline = RationalQuadraticSpline(bins=4, bound=3.0)
    >>> spline.params_per_entry
    11
    >>> x = tf.constant([[-5.0, -1.0, 0.5, 3.0]])
    >>> y, ildj = spline.forward(x, tf.zeros([1, 4, 11]))      # zero parameters: the identity
    >>> y.numpy().tolist(), ildj.numpy().tolist()
    ([[-5.0, -1.0, 0.5, 3.0]], [[0.0, 0.0, 0.0, 0.0]])
    >>> params = tf.random.stateless_normal([1, 4, 11], seed=[1, 2])
    >>> y, forward_ildj = spline.forward(x, params)
    >>> x_back, inverse_ildj = spline.inverse(y, params)
    >>> float(tf.reduce_max(tf.abs(x_back - x))) < 1e-5
    True
    >>> float(tf.reduce_max(tf.abs(forward_ildj - inverse_ildj))) < 1e-5
    True

    #### References

    [1]: Conor Durkan, Artur Bekasov, Iain Murray, George Papamakarios. Neural
         Spline Flows. NeurIPS 2019. https://arxiv.org/abs/1906.04032
    [2]: John A. Gregory, Roger Delbourgo. Piecewise rational quadratic
         interpolation to monotonic data. IMA Journal of Numerical Analysis, 1982.
    """

    def __init__(
        self,
        bins: int = 8,
        bound: float = 4.0,
        min_bin_width: float = 1e-3,
        min_bin_height: float = 1e-3,
        min_derivative: float = 1e-3,
        name: str = "rational_quadratic_spline",
    ):
        super().__init__(name=name)
        self.bins = check_integer("bins", bins, minimum=2)
        self.bound = check_positive_float("bound", bound)
        below_one_bin = f"a number in (0, 1 / bins) = (0, {1 / self.bins:g})"
        self.min_bin_width = check_number(
            "min_bin_width", min_bin_width, below_one_bin, lambda v: 0 < v * self.bins < 1
        )
        self.min_bin_height = check_number(
            "min_bin_height", min_bin_height, below_one_bin, lambda v: 0 < v * self.bins < 1
        )
        self.min_derivative = check_number(
            "min_derivative", min_derivative, "a number in (0, 1)", lambda v: 0 < v < 1
        )
        self.params_per_entry = 3 * self.bins - 1
        # softplus(u + shift) + min_derivative == 1 at u == 0: zero parameters are the identity.
        self._derivative_shift = math.log(math.expm1(1.0 - self.min_derivative))

    def _knots(self, raw: tf.Tensor, minimum: float) -> tf.Tensor:
        """Knot positions ``[..., n, K + 1]`` from ``-B`` to ``B`` (both exact)."""
        fractions = minimum + (1.0 - minimum * self.bins) * tf.nn.softmax(raw, axis=-1)
        inner = tf.math.cumsum(fractions[..., :-1], axis=-1)
        bound = tf.constant(self.bound, raw.dtype)
        edge = tf.ones_like(fractions[..., :1])
        return tf.concat([-edge, 2.0 * inner - 1.0, edge], axis=-1) * bound

    def spline(self, params: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """The knots ``x^k``, ``y^k`` (``[..., n, K + 1]``) and derivatives ``d^k`` (``[..., n, K + 1]``)."""
        k = self.bins
        x_knots = self._knots(params[..., :k], self.min_bin_width)
        y_knots = self._knots(params[..., k : 2 * k], self.min_bin_height)
        inner = self.min_derivative + tf.nn.softplus(params[..., 2 * k :] + self._derivative_shift)
        edge = tf.ones_like(inner[..., :1])
        return x_knots, y_knots, tf.concat([edge, inner, edge], axis=-1)

    def _bin(self, value: tf.Tensor, knots: tf.Tensor) -> tf.Tensor:
        """One-hot ``[..., n, K]`` of the bin holding ``value``: ``knots[k] <= value < knots[k+1]``,
        the last bin for ``value == B``."""
        inner = knots[..., 1:-1]
        index = tf.reduce_sum(tf.cast(value[..., None] >= inner, tf.int32), axis=-1)
        return tf.one_hot(index, self.bins, dtype=knots.dtype)

    def _in_bin(self, value: tf.Tensor, knots: tf.Tensor, x_knots, y_knots, derivatives):
        """The selected bin's ``x^k, w_k, y^k, h_k, d^k, d^(k+1)``, each ``[..., n]``."""
        one_hot = self._bin(value, knots)
        x_left = _select(one_hot, x_knots[..., :-1])
        width = _select(one_hot, x_knots[..., 1:] - x_knots[..., :-1])
        y_left = _select(one_hot, y_knots[..., :-1])
        height = _select(one_hot, y_knots[..., 1:] - y_knots[..., :-1])
        d_left = _select(one_hot, derivatives[..., :-1])
        d_right = _select(one_hot, derivatives[..., 1:])
        return x_left, width, y_left, height, d_left, d_right

    @staticmethod
    def _log_slope(t, slope, d_left, d_right):
        """``log dy/dx`` at position ``t`` in a bin of slope ``s = h / w``."""
        between = t * (1.0 - t)
        denominator = slope + (d_right + d_left - 2.0 * slope) * between
        numerator = d_right * t**2 + 2.0 * slope * between + d_left * (1.0 - t) ** 2
        return 2.0 * tf.math.log(slope) + tf.math.log(numerator) - 2.0 * tf.math.log(denominator)

    def _inside(self, value: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """``(inside, safe)``: whether ``-B <= value <= B``, and ``value`` clamped to it."""
        bound = tf.constant(self.bound, value.dtype)
        inside = (value >= -bound) & (value <= bound)
        return inside, tf.clip_by_value(value, -bound, bound)

    def forward(self, x, params):
        x_knots, y_knots, derivatives = self.spline(params)
        inside, x_safe = self._inside(x)
        x_left, width, y_left, height, d_left, d_right = self._in_bin(
            x_safe, x_knots, x_knots, y_knots, derivatives
        )
        slope = height / width
        t = tf.clip_by_value((x_safe - x_left) / width, 0.0, 1.0)
        between = t * (1.0 - t)
        numerator = height * (slope * t**2 + d_left * between)
        denominator = slope + (d_right + d_left - 2.0 * slope) * between
        y = y_left + numerator / denominator
        log_slope = self._log_slope(t, slope, d_left, d_right)
        return tf.where(inside, y, x), tf.where(inside, -log_slope, tf.zeros_like(x))

    def inverse(self, y, params):
        x_knots, y_knots, derivatives = self.spline(params)
        inside, y_safe = self._inside(y)
        x_left, width, y_left, height, d_left, d_right = self._in_bin(
            y_safe, y_knots, x_knots, y_knots, derivatives
        )
        slope = height / width
        t = tf.stop_gradient(self._solve(y_safe, y_left, height, slope, d_left, d_right))
        # One Newton step from the (stopped) root: its value corrects the root's last rounding,
        # and its gradient is the implicit one, -(dF/dtheta) / (dF/dt), whatever the solver did.
        residual = self._position(t, y_left, height, slope, d_left, d_right) - y_safe
        log_slope = self._log_slope(t, slope, d_left, d_right)
        refined = t - residual / (width * tf.exp(log_slope))
        # the value stays in the bin; the gradient is the Newton step's
        t = refined + tf.stop_gradient(tf.clip_by_value(refined, 0.0, 1.0) - refined)
        x = x_left + t * width
        log_slope = self._log_slope(t, slope, d_left, d_right)
        return tf.where(inside, x, y), tf.where(inside, -log_slope, tf.zeros_like(y))

    @staticmethod
    def _position(t, y_left, height, slope, d_left, d_right):
        """The forward map ``y(t)`` in a bin (class docstring)."""
        between = t * (1.0 - t)
        numerator = height * (slope * t**2 + d_left * between)
        denominator = slope + (d_right + d_left - 2.0 * slope) * between
        return y_left + numerator / denominator

    @staticmethod
    def _solve(y, y_left, height, slope, d_left, d_right):
        """The bin position ``t`` in ``[0, 1]`` of ``y``: the root of the quadratic, without
        cancellation.

        With ``u = (y - y^k) / h_k`` and ``v = (y^(k+1) - y) / h_k = 1 - u`` (both computed from
        ``y``, so neither is ``1 - (something close to 1)``), the quadratic ``a t^2 + b t + c``
        of the class docstring divided by ``h_k`` has
        ``a = (s - d^k) v + (d^(k+1) - s) u``, ``b = d^k v + (2s - d^(k+1)) u``, ``c = -s u``
        and discriminant ``b^2 - 4ac = (d^k v - d^(k+1) u)^2 + 4 s^2 u v > 0``: a sum of
        squares, scaled by its largest part so derivatives of 1e30 do not overflow. The root is
        ``2 s u / (b + sqrt(.))`` for ``b >= 0`` and ``(sqrt(.) - b) / (2a)`` for ``b < 0``,
        where ``a > s > 0``. (Expanding ``b`` and ``a`` around ``d^k`` as the class docstring
        writes them cancels to 0 in float32 for ``d^k ~ 1e8``, and ``2c / (-b - root)`` is then
        ``0 / -0``.)
        """
        u = (y - y_left) / height
        v = tf.maximum(1.0 - u, 0.0)
        a = (slope - d_left) * v + (d_right - slope) * u
        b = d_left * v + (2.0 * slope - d_right) * u
        p = d_left * v - d_right * u
        scale = tf.maximum(tf.abs(p), slope)
        root = scale * tf.sqrt(tf.square(p / scale) + 4.0 * tf.square(slope / scale) * u * v)
        negative_b = b < 0.0
        t = tf.where(
            negative_b,
            (root - b) / (2.0 * tf.where(negative_b, a, tf.ones_like(a))),
            2.0 * slope * u / tf.where(negative_b, tf.ones_like(b), b + root),
        )
        return tf.clip_by_value(t, 0.0, 1.0)
