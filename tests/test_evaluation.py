"""One batched ``log_prob`` (``tfp_flows.flows.log_prob``) and one stateless seed (``tfp_flows._internal.seeds``)."""

import numpy as np
import pytest
import tensorflow as tf
from conditional_toys import KwargsRecorder, LinearGaussian
from tensorflow_probability import distributions as tfd

import tfp_flows as tff
from tfp_flows._internal.seeds import stateless_seed
from tfp_flows.evaluation import batched_log_prob


@pytest.mark.parametrize("batch_size", [1, 3, 7, 100])
def test_batched_log_prob_equals_one_call_for_any_batch_size(batch_size):
    normal = tfd.MultivariateNormalDiag([1.0, -1.0], [2.0, 0.5])
    x = np.random.default_rng(0).normal(size=(7, 2))
    out = batched_log_prob(normal, x, batch_size=batch_size)
    assert out.dtype == np.float64 and out.shape == (7,)
    np.testing.assert_allclose(out, normal.log_prob(x.astype(np.float32)), rtol=1e-6)


def test_batched_log_prob_slices_a_per_row_context_and_broadcasts_a_single_one():
    model = LinearGaussian(w=2.0)
    x = np.arange(6.0, dtype=np.float32)[:, None]
    c = np.arange(6.0, dtype=np.float32)[:, None] / 2
    np.testing.assert_allclose(
        batched_log_prob(model, x, context=c, batch_size=4), model.log_prob(x, context=c), rtol=1e-6
    )
    np.testing.assert_allclose(
        batched_log_prob(model, x, context=[1.0], batch_size=4),
        model.log_prob(x, context=[1.0]),
        rtol=1e-6,
    )


def test_without_a_context_no_context_keyword_is_passed():
    recorder = KwargsRecorder()
    batched_log_prob(recorder, np.zeros((5, 2)), batch_size=2)
    assert recorder.seen == [[], [], []]


def test_nll_takes_a_context():
    model = LinearGaussian(w=1.0)
    x, c = np.ones((4, 1), np.float32), np.ones((4, 1), np.float32)
    assert tff.metrics.nll(model, x, context=c) == pytest.approx(0.5 * np.log(2 * np.pi))
    assert tff.metrics.nll(model, x) == pytest.approx(0.5 * np.log(2 * np.pi) + 0.5)


@pytest.mark.parametrize(
    "seed, expected",
    [
        (7, [7, 0]),
        (np.int64(7), [7, 0]),
        (2**31 + 5, [5, 1]),
        (-1, [-1, 0]),
    ],
)
def test_stateless_seed_maps_integers(seed, expected):
    assert stateless_seed(seed).numpy().tolist() == expected


def test_stateless_seed_keeps_a_seed_pair_and_extends_a_scalar_tensor():
    assert stateless_seed(tf.constant([3, 4])).numpy().tolist() == [3, 4]
    assert stateless_seed(tf.constant(9)).numpy().tolist() == [9, 0]
    normal = tfd.Normal(0.0, 1.0)
    assert np.array_equal(
        normal.sample(3, seed=stateless_seed(1)), normal.sample(3, seed=stateless_seed(1))
    )
