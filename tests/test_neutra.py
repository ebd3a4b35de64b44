"""NeuTra HMC (tff.inference.neutra): structure and support, exactness, accounting, errors."""

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_probability import bijectors as tfb
from tensorflow_probability import distributions as tfd

import tfp_flows as tff
from tfp_flows.bijectors import LULinear
from tfp_flows.inference import HMC, NUTS
from tfp_flows.inference.neutra import neutra, neutra_bijector


def _scale_model(dtype):
    """scale ~ LogNormal(0, 1), x | scale ~ N(0, scale^2 I_2): a positive part and a vector."""
    return tfd.JointDistributionNamedAutoBatched(
        dict(
            scale=tfd.LogNormal(tf.constant(0.0, dtype), 1.0),
            x=lambda scale: tfd.Normal(tf.zeros([2], dtype), scale),
        )
    )


def _to_scale_model():
    """R^3 -> {"scale": (0, inf), "x": R^2}: split, restructure, exp on the scale."""
    return tfb.Chain(
        [
            tfb.JointMap(
                {"scale": tfb.Chain([tfb.Exp(), tfb.Reshape([], [1])]), "x": tfb.Identity()}
            ),
            tfb.Restructure({"scale": 0, "x": 1}),
            tfb.Split([1, 2]),
        ]
    )


def _gaussian(dtype):
    """A correlated 3-D Gaussian target and its Cholesky factor."""
    mean = np.array([1.0, -2.0, 0.5])
    scale_tril = np.array([[2.0, 0.0, 0.0], [1.5, 0.5, 0.0], [-1.0, 0.3, 0.2]])
    target = tfd.MultivariateNormalTriL(tf.constant(mean, dtype), tf.constant(scale_tril, dtype))
    return target, mean, scale_tril


def _exact_surrogate(mean, scale_tril, dtype):
    """N(0, I) pushed through x = mean + C z by an LULinear set to C (W = L U, L = C D^-1, U = D)."""
    layer = LULinear(3, dtype=dtype)
    diagonal = np.diag(scale_tril)
    layer.lower_upper.assign(np.tril(scale_tril / diagonal, -1))
    layer.log_diag.assign(np.log(diagonal))
    return tfd.TransformedDistribution(
        tff.StandardNormal(loc=tf.zeros([3], dtype)),
        tfb.Chain([tfb.Shift(tf.constant(mean, dtype)), layer]),
    )


@pytest.mark.parametrize("dtype,kernel", [(tf.float32, "nuts"), (tf.float64, "hmc")])
@pytest.mark.slow
def test_draws_of_a_constrained_model_have_its_structure_support_and_dtype(dtype, kernel):
    model = _scale_model(dtype)
    flow = tff.real_nvp(
        3, num_layers=2, hidden_units=(8,), mixing=None, standardize=False, dtype=dtype
    )
    surrogate = tfd.TransformedDistribution(flow, _to_scale_model())
    # NUTS compiled with XLA (the default); HMC in float64 with XLA is in the moments test
    result = neutra(
        model,
        surrogate,
        kernel=HMC(num_leapfrog_steps=3) if kernel == "hmc" else NUTS(max_tree_depth=4),
        num_chains=3,
        num_results=20,
        num_burnin_steps=20,
        seed=1,
        jit_compile=kernel == "nuts",
    )
    assert sorted(result.draws) == ["scale", "x"]
    assert result.draws["scale"].shape == [20, 3] and result.draws["x"].shape == [20, 3, 2]
    assert all(part.dtype == dtype for part in result.draws.values())
    assert np.all(result.draws["scale"].numpy() > 0)
    assert np.all(np.isfinite(result.draws["x"].numpy()))
    assert result.r_hat["x"].shape == (2,) and result.ess["scale"].shape == ()
    if kernel == "nuts":  # one to 2^4 - 1 leapfrogs per chain and step
        assert 3 * 20 <= result.num_gradient_evaluations <= 3 * 20 * 15
    assert 0 < result.acceptance_rate <= 1 and result.step_size > 0


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
@pytest.mark.slow
def test_with_an_exact_transport_the_draws_have_the_target_moments(dtype):
    """q = p exactly: the chains see N(0, I) in base space; moments within 4 MC standard errors."""
    target, mean, scale_tril = _gaussian(dtype)
    surrogate = _exact_surrogate(mean, scale_tril, dtype)
    result = neutra(
        target,
        surrogate,
        kernel=HMC(num_leapfrog_steps=3),
        num_results=500,
        num_burnin_steps=200,
        seed=3,
    )
    assert result.max_r_hat < 1.05
    assert result.summary().startswith(f"NeuTra HMC: max R-hat {result.max_r_hat:.3f}")
    draws = result.draws.numpy().reshape(-1, 3).astype(np.float64)
    stddev = np.sqrt(np.diag(scale_tril @ scale_tril.T))
    ess = result.ess
    np.testing.assert_array_less(np.abs(draws.mean(0) - mean), 4 * stddev / np.sqrt(ess))
    np.testing.assert_array_less(np.abs(draws.std(0) - stddev), 4 * stddev / np.sqrt(2 * ess))


@pytest.mark.slow
def test_identity_transport_is_the_plain_sampler():
    """A surrogate whose flow is the identity: NeuTra's draws are plain HMC's (same seed)."""
    base = tfd.MultivariateNormalDiag(tf.zeros(3))
    surrogate = tfd.TransformedDistribution(
        tfd.TransformedDistribution(base, tfb.Identity()), _to_scale_model()
    )
    model = _scale_model(tf.float32)
    runs = [
        neutra(
            model,
            surrogate,
            kernel=HMC(num_leapfrog_steps=2),
            num_results=10,
            num_burnin_steps=10,
            num_chains=2,
            plain=plain,
            jit_compile=False,
            seed=4,
        )
        for plain in (False, True)
    ]
    assert [run.plain for run in runs] == [False, True]
    for name in ("scale", "x"):
        np.testing.assert_allclose(runs[0].draws[name], runs[1].draws[name], rtol=1e-6)
    assert runs[0].step_size == pytest.approx(runs[1].step_size, rel=1e-6)


@pytest.mark.slow
def test_plain_samples_the_model_space_not_the_flow_space():
    """With a badly scaled flow (x = 100 z), plain HMC's adapted steps stay ~100x larger."""
    target, _, _ = _gaussian(tf.float32)
    base = tfd.MultivariateNormalDiag(tf.zeros(3))

    def run(flow, plain):
        surrogate = tfd.TransformedDistribution(base, flow)
        return neutra(
            target,
            surrogate,
            kernel=HMC(num_leapfrog_steps=2),
            num_results=10,
            num_burnin_steps=40,
            num_chains=2,
            plain=plain,
            jit_compile=False,
            seed=5,
        )

    scaled = run(tfb.Scale(100.0), plain=False).step_size
    plain = run(tfb.Scale(100.0), plain=True).step_size
    assert scaled < plain / 20  # NeuTra through x = 100 z needs ~100x smaller steps


@pytest.mark.slow
def test_hmc_gradient_count_is_chains_times_results_times_leapfrogs():
    """Counted: each extra result costs num_leapfrog_steps (batched) target gradients."""
    calls = tf.Variable(0, dtype=tf.int64)
    target, mean, scale_tril = _gaussian(tf.float32)

    def log_prob(x):
        calls.assign_add(1)
        return target.log_prob(x)

    surrogate = _exact_surrogate(mean, scale_tril, tf.float32)
    counted = {}
    for num_results in (8, 13):
        calls.assign(0)
        result = neutra(
            log_prob,
            surrogate,
            kernel=HMC(num_leapfrog_steps=5),
            num_chains=3,
            num_results=num_results,
            num_burnin_steps=4,
            jit_compile=False,
        )
        assert result.num_gradient_evaluations == 3 * num_results * 5
        counted[num_results] = int(calls.numpy())
    assert counted[13] - counted[8] == (13 - 8) * 5
    assert result.ess_per_gradient.shape == (3,)
    np.testing.assert_allclose(result.ess_per_gradient, result.ess / (3 * 13 * 5))


@pytest.mark.slow
def test_a_callable_target_gets_list_parts_as_arguments():
    model = tfd.JointDistributionSequential(
        [tfd.Normal(0.0, 1.0), lambda a: tfd.Normal(a, 0.5), lambda b, a: tfd.Normal(a + b, 1.0)]
    )
    pinned = model.experimental_pin([None, None, 1.5])
    # a list-structured surrogate: Split gives [a, b] of shape [..., 1]; squeeze each
    to_list = tfb.Chain(
        [tfb.JointMap([tfb.Reshape([], [1]), tfb.Reshape([], [1])]), tfb.Split(2, axis=-1)]
    )
    surrogate = tfd.TransformedDistribution(tfd.MultivariateNormalDiag(tf.zeros(2)), to_list)
    seen = []

    def log_prob(a, b):
        seen.append((a.shape, b.shape))
        return pinned.unnormalized_log_prob([a, b])

    by_callable = neutra(
        log_prob,
        surrogate,
        kernel=HMC(num_leapfrog_steps=2),
        num_results=8,
        num_burnin_steps=4,
        jit_compile=False,
    )
    by_model = neutra(
        pinned,
        surrogate,
        kernel=HMC(num_leapfrog_steps=2),
        num_results=8,
        num_burnin_steps=4,
        jit_compile=False,
    )
    assert seen and seen[0] == ([4], [4])
    assert isinstance(by_callable.draws, list) and by_callable.draws[1].shape == [8, 4]
    for a, b in zip(by_callable.draws, by_model.draws):
        np.testing.assert_allclose(a, b, rtol=1e-5)


def test_the_transport_of_nested_surrogates_and_of_a_gaussian_surrogate():
    """Outermost first; a flow's normal base stays the base; a Gaussian surrogate is its own map."""
    target, mean, scale_tril = _gaussian(tf.float32)
    flow = tff.real_nvp(3, num_layers=2, hidden_units=(8,), name="flow")
    bijector, base = neutra_bijector(tfd.TransformedDistribution(flow, tfb.Exp(name="exp")))
    assert [b.name for b in bijector.bijectors] == ["exp", "flow"]
    assert base is flow.distribution
    bijector, base = neutra_bijector(target)  # x = mean + C z, z ~ N(0, I)
    z = base.sample(4, seed=[5, 6])
    assert base.event_shape == [3]
    np.testing.assert_allclose(bijector.forward(z), mean + z.numpy() @ scale_tril.T, atol=1e-5)


@pytest.mark.slow
def test_a_conditioned_flow_is_a_transport_with_its_context_bound():
    flow = tff.real_nvp(2, num_layers=2, hidden_units=(8,), context_size=1, seed=2)
    for variable in flow.trainable_variables:  # move the conditioners off their zero init
        variable.assign(variable + 0.3 * tf.random.stateless_normal(variable.shape, [1, 2]))
    given = flow.condition([0.7])
    bijector, base = neutra_bijector(given)
    z = base.sample(5, seed=[3, 4])
    np.testing.assert_allclose(
        bijector.forward(z), flow.bijector.forward(z, context=[[0.7]]), rtol=1e-6
    )
    np.testing.assert_allclose(
        bijector.forward_log_det_jacobian(z, 1),
        flow.bijector.forward_log_det_jacobian(z, 1, context=[[0.7]]),
        rtol=1e-5,
    )
    result = neutra(
        lambda x: -tf.reduce_sum(x**2, -1) / 2,
        given,
        kernel=HMC(num_leapfrog_steps=2),
        num_results=8,
        num_burnin_steps=4,
        jit_compile=False,
    )
    assert result.draws.shape == [8, 4, 2]
    with pytest.raises(ValueError, match=r"conditional flow \(context_size=1\) without a context"):
        neutra(lambda x: -tf.reduce_sum(x**2, -1) / 2, flow)


@pytest.mark.slow
def test_a_tfp_iaf_surrogate_works():
    made = tfb.AutoregressiveNetwork(params=2, hidden_units=[8], event_shape=[3])
    iaf = tfd.TransformedDistribution(
        tfd.MultivariateNormalDiag(tf.zeros(3)), tfb.Invert(tfb.MaskedAutoregressiveFlow(made))
    )
    target, _, _ = _gaussian(tf.float32)
    result = neutra(
        target,
        iaf,
        kernel=HMC(num_leapfrog_steps=2),
        num_results=8,
        num_burnin_steps=8,
        jit_compile=False,
    )
    assert result.draws.shape == [8, 4, 3] and np.all(np.isfinite(result.draws.numpy()))


def test_bad_input_gets_a_clear_error():
    target, mean, scale_tril = _gaussian(tf.float32)
    surrogate = _exact_surrogate(mean, scale_tril, tf.float32)
    with pytest.raises(
        ValueError,
        match=r"kernel must be one of 'nuts', 'hmc' or settings tff.inference.HMC\(...\) / NUTS\(...\), got 'mala'",
    ):
        neutra(target, surrogate, kernel="mala")
    with pytest.raises(
        TypeError, match="expected a surrogate tfd.TransformedDistribution.*got Sample"
    ):
        neutra(target, tfd.Sample(tfd.Normal(0.0, 1.0), 3))
    with pytest.raises(
        TypeError,
        match=r"surrogate's samples have dtypes float32, but the "
        r"target .* takes float64",
    ):
        neutra(_gaussian(tf.float64)[0], surrogate)
    with pytest.raises(
        TypeError, match="log-density has dtype float64, but the surrogate samples float32"
    ):
        neutra(lambda x: tf.zeros(tf.shape(x)[:-1], tf.float64), surrogate, jit_compile=False)
    with pytest.raises(TypeError, match="takes {'scale': 'float32', 'x': 'float32'}"):
        neutra(_scale_model(tf.float32), surrogate)  # a vector surrogate for a dict model
    with pytest.raises(TypeError, match="target must be .* got int"):
        neutra(3, surrogate)
    with pytest.raises(ValueError, match="num_chains must be an integer >= 2, got 1"):
        neutra(target, surrogate, num_chains=1)
    with pytest.raises(
        ValueError,
        match=r"one distribution \(batch shape \[\]\), got batch "
        r"shape \(2,\)",
    ):
        neutra(target, tfd.TransformedDistribution(tfd.Normal([0.0, 0.0], 1.0), tfb.Exp()))
    with pytest.raises(TypeError, match="unexpected keyword argument 'num_leapfrog_steps'"):
        neutra(target, surrogate, num_leapfrog_steps=3)  # a sampler's settings go in HMC(...)


def test_sampler_settings_are_checked_when_made():
    with pytest.raises(ValueError, match="num_leapfrog_steps must be a positive integer, got 0"):
        HMC(num_leapfrog_steps=0)
    with pytest.raises(ValueError, match="max_tree_depth must be a positive integer, got 0"):
        NUTS(max_tree_depth=0)
    with pytest.raises(ValueError, match=r"target_accept_prob must be a number in \(0, 1\)"):
        NUTS(target_accept_prob=1.0)
    with pytest.raises(ValueError, match="step_size"):
        HMC(step_size=-0.1)
    assert HMC(num_leapfrog_steps=3) == HMC(num_leapfrog_steps=3) != HMC()
