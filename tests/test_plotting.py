"""Tests of tfp_flows.plotting.trajectory and tfp_flows.plotting (headless, small flows)."""

import numpy as np
import pytest
import tensorflow as tf
from matplotlib.figure import Figure
from tensorflow_probability import bijectors as tfb
from tensorflow_probability import distributions as tfd

import tfp_flows as tff
from tfp_flows.plotting import densities as plotting
from tfp_flows.plotting.trajectory import chain_trajectory, flatten_bijector


@pytest.fixture(scope="module")
def flow():
    """A small Real NVP whose couplings are not the identity and whose Standardize is adapted."""
    flow = tff.real_nvp(2, num_layers=2, hidden_units=(8,), seed=3, mixing=None, name="flow")
    tff.testing.perturb_weights(flow, scale=0.3, seed=1)
    standardize = flow.bijector.bijectors[0]
    standardize.adapt(np.array([[0.0, 1.0], [2.0, 5.0], [1.0, 3.0]]))
    return flow


def fresh(x):
    """A new tensor with the same value: no bijector cache can answer for it."""
    return tf.constant(np.array(x))


def points(n=64, seed=0):
    return tf.random.stateless_normal([n, 2], seed=[seed, 7])


# -- chain_trajectory --------------------------------------------------------------------------


def test_forward_trajectory_ends_at_bijector_forward(flow):
    z = points()
    steps = chain_trajectory(flow, z)
    assert [name for name, _ in steps] == [
        "input",
        "flow_affine_coupling_0",
        "flow_affine_coupling_1",
        "flow_standardize",
    ]
    np.testing.assert_array_equal(steps[0][1], z)
    np.testing.assert_allclose(steps[-1][1], flow.bijector.forward(fresh(z)), atol=1e-5)
    # each step is the named layer applied to the previous value
    layers = {b.name: b for b in flow.bijector.bijectors}
    for (_, before), (name, after) in zip(steps[:-1], steps[1:]):
        np.testing.assert_allclose(after, layers[name].forward(fresh(before)), atol=1e-5)
    # the layers really move the points
    assert np.max(np.abs(steps[1][1] - steps[0][1])) > 1e-2


def test_inverse_trajectory_ends_at_bijector_inverse(flow):
    x = points(seed=1) * 2.0 + 1.0
    steps = chain_trajectory(flow, x, direction="inverse")
    assert [name for name, _ in steps] == [
        "input",
        "flow_standardize",
        "flow_affine_coupling_1",
        "flow_affine_coupling_0",
    ]
    np.testing.assert_allclose(steps[-1][1], flow.bijector.inverse(fresh(x)), atol=1e-5)
    forward_steps = chain_trajectory(flow.bijector, steps[-1][1])
    np.testing.assert_allclose(forward_steps[-1][1], x, atol=1e-4)


def test_nested_chains_flatten():
    inner = tfb.Chain([tfb.Scale(3.0, name="scale_3"), tfb.Exp(name="exp")])
    outer = tfb.Chain([tfb.Shift(1.0, name="shift"), inner, tfb.Scale(0.5, name="scale_half")])
    assert [b.name for b in flatten_bijector(outer)] == ["scale_half", "exp", "scale_3", "shift"]
    x = tf.constant([[0.0], [1.0], [-2.0]])
    steps = chain_trajectory(outer, x)
    assert [name for name, _ in steps] == ["input", "scale_half", "exp", "scale_3", "shift"]
    np.testing.assert_allclose(steps[-1][1], 1.0 + 3.0 * np.exp(0.5 * x.numpy()), rtol=1e-6)
    np.testing.assert_allclose(steps[-1][1], outer.forward(fresh(x)), rtol=1e-6)
    back = chain_trajectory(outer, steps[-1][1], direction="inverse")
    assert [name for name, _ in back] == ["input", "shift", "scale_3", "exp", "scale_half"]
    np.testing.assert_allclose(back[-1][1], x, atol=1e-5)


def test_flow_chain_nested_in_a_chain(flow):
    outer = tfb.Chain([tfb.Shift([1.0, -1.0], name="outer_shift"), flow.bijector])
    z = points(seed=2)
    steps = chain_trajectory(outer, z)
    assert [name for name, _ in steps][1:] == [
        "flow_affine_coupling_0",
        "flow_affine_coupling_1",
        "flow_standardize",
        "outer_shift",
    ]
    np.testing.assert_allclose(steps[-1][1], outer.forward(fresh(z)), atol=1e-5)


def test_single_bijector_is_one_step_and_bad_arguments_raise():
    steps = chain_trajectory(tfb.Exp(), tf.constant([0.0, 1.0]))
    assert [name for name, _ in steps] == ["input", "exp"]
    np.testing.assert_allclose(steps[1][1], [1.0, np.e], rtol=1e-6)
    with pytest.raises(ValueError, match="direction"):
        chain_trajectory(tfb.Exp(), tf.constant([0.0]), direction="sideways")
    with pytest.raises(TypeError):
        chain_trajectory(tfd.Normal(0.0, 1.0), tf.constant([0.0]))


# -- plot_training_curve -----------------------------------------------------------------------


def test_training_curve_lines_and_floor(tmp_path):
    rng = np.random.default_rng(0)
    loss = 3.0 + 2.0 * np.exp(-np.arange(500) / 80.0) + 0.1 * rng.standard_normal(500)
    history = tff.History(
        loss=loss.tolist(), val_steps=[100, 200, 300, 400, 500], val_loss=[4.0, 3.6, 3.3, 3.2, 3.1]
    )
    fig = plotting.plot_training_curve(history, entropy=tf.constant(2.9))
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    ax = fig.axes[0]
    assert ax.get_ylabel() == "NLL (nats)"
    raw, smooth, val, floor = ax.lines
    np.testing.assert_allclose(raw.get_ydata(), loss)
    assert len(smooth.get_ydata()) == 500 - 10 + 1  # window 500 // 50
    np.testing.assert_allclose(smooth.get_ydata()[0], loss[:10].mean())
    np.testing.assert_array_equal(val.get_xdata(), history.val_steps)
    np.testing.assert_allclose(floor.get_ydata(), [2.9, 2.9], rtol=1e-6)
    assert floor.get_linestyle() == "--"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "entropy (best possible NLL)" in labels and "validation" in labels
    assert ax.get_ylim()[0] < 2.9
    fig.savefig(tmp_path / "curve.png")


def test_training_curve_on_given_axes_without_validation():
    fig = Figure()
    ax = fig.add_subplot(1, 2, 2)
    assert plotting.plot_training_curve([2.0, 1.5, 1.2], ax=ax) is fig
    assert len(ax.lines) == 2  # raw + moving average, no validation, no floor


# -- plot_density ------------------------------------------------------------------------------


def test_density_image_is_exp_log_prob_on_the_grid(flow, tmp_path):
    limits = ((-2.0, 4.0), (-1.0, 7.0))
    target = tff.datasets.Banana()
    fig = plotting.plot_density(flow, limits=limits, target=target, grid_size=24, batch_size=100)
    assert len(fig.axes) == 3  # model, target, colourbar
    model_ax, target_ax = fig.axes[:2]
    assert (model_ax.get_title(), target_ax.get_title()) == ("model", "target")
    xs = -2.0 + 6.0 * (np.arange(24) + 0.5) / 24
    ys = -1.0 + 8.0 * (np.arange(24) + 0.5) / 24
    grid = np.stack(np.meshgrid(xs, ys, indexing="ij"), -1).reshape(-1, 2).astype(np.float32)
    for ax, distribution in [(model_ax, flow), (target_ax, target)]:
        image = ax.images[0]
        expected = np.exp(distribution.log_prob(grid).numpy()).reshape(24, 24).T  # rows are y
        np.testing.assert_allclose(np.asarray(image.get_array()), expected, rtol=1e-5, atol=1e-7)
        assert image.origin == "lower"
        np.testing.assert_allclose(image.get_extent(), [-2.0, 4.0, -1.0, 7.0])
    assert model_ax.images[0].get_clim() == target_ax.images[0].get_clim()
    assert model_ax.images[0].get_clim()[0] == 0.0
    # pixel [row j, column i] is the density at (xs[i], ys[j]): check one point off the diagonal
    value = np.exp(flow.log_prob([[xs[3], ys[17]]]).numpy()[0])
    np.testing.assert_allclose(model_ax.images[0].get_array()[17, 3], value, rtol=1e-5)
    fig.savefig(tmp_path / "density.png")


def test_density_without_target_or_exact_log_prob(flow, monkeypatch):
    fig = plotting.plot_density(flow, limits=((-3, 3), (-3, 3)), grid_size=10)
    assert len(fig.axes) == 2  # model + colourbar
    monkeypatch.setattr(plotting, "has_exact_log_prob", lambda target: False)
    fig = plotting.plot_density(flow, target=tff.datasets.Banana(), grid_size=10)
    assert [ax.get_title() for ax in fig.axes[:1]] == ["model"] and len(fig.axes) == 2


def test_densities_side_by_side_share_one_scale_and_clip_the_log_floor(flow, tmp_path):
    limits = ((-2.0, 4.0), (-1.0, 7.0))
    other = tfd.MultivariateNormalDiag(loc=[1.0, 3.0], scale_diag=[0.3, 0.5])
    target = tff.datasets.Banana()
    fig = plotting.plot_densities(
        {"flow": flow, "gaussian": other},
        target=target,
        limits=limits,
        grid_size=12,
        log_scale=True,
        floor=1e-3,
    )
    assert [ax.get_title() for ax in fig.axes[:3]] == ["flow", "gaussian", "target"]
    assert len(fig.axes) == 4  # three panels and one colourbar
    xs = -2.0 + 6.0 * (np.arange(12) + 0.5) / 12
    ys = -1.0 + 8.0 * (np.arange(12) + 0.5) / 12
    grid = np.stack(np.meshgrid(xs, ys, indexing="ij"), -1).reshape(-1, 2).astype(np.float32)
    logs = [d.log_prob(grid).numpy().reshape(12, 12).T for d in (flow, other, target)]
    top = max(v.max() for v in logs)
    for ax, values in zip(fig.axes[:3], logs):
        expected = np.maximum(values, top + np.log(1e-3)) / np.log(10.0)
        np.testing.assert_allclose(np.asarray(ax.images[0].get_array()), expected, rtol=1e-5)
        np.testing.assert_allclose(
            ax.images[0].get_clim(),
            [(top + np.log(1e-3)) / np.log(10), top / np.log(10)],
            rtol=1e-5,
        )
    linear = plotting.plot_densities({"flow": flow}, limits=limits, grid_size=12)
    np.testing.assert_allclose(
        np.asarray(linear.axes[0].images[0].get_array()), np.exp(logs[0]), rtol=1e-5, atol=1e-8
    )
    fig.savefig(tmp_path / "densities.png")
    with pytest.raises(ValueError, match="at least one model"):
        plotting.plot_densities({})


# -- plot_samples ------------------------------------------------------------------------------


def test_samples_scatter_model_over_data(flow, tmp_path):
    data = np.random.default_rng(0).normal(size=(150, 2))
    fig = plotting.plot_samples(flow, data=data, n=300, seed=4)
    assert len(fig.axes) == 1
    data_points, model_points = fig.axes[0].collections
    np.testing.assert_allclose(data_points.get_offsets(), data)
    expected = flow.sample(300, seed=tf.constant([4, 0]))
    np.testing.assert_allclose(model_points.get_offsets(), expected, atol=1e-6)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["data (150)", "model (300)"]
    fig.savefig(tmp_path / "samples.png")
    # deterministic, and data may be a distribution
    again = plotting.plot_samples(flow, data=tff.datasets.Moons(), n=300, seed=4)
    np.testing.assert_array_equal(
        again.axes[0].collections[1].get_offsets(), model_points.get_offsets()
    )
    assert again.axes[0].collections[0].get_offsets().shape == (300, 2)


# -- plot_trajectory ---------------------------------------------------------------------------


@pytest.mark.slow
def test_forward_trajectory_panels(flow, tmp_path):
    fig = plotting.plot_trajectory(flow, n=200, seed=5)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == [
        "base N(0, I)",
        "1: affine_coupling_0",
        "2: affine_coupling_1",
        "3: standardize",
    ]
    z = flow.distribution.sample(200, seed=tf.constant([5, 0]))
    np.testing.assert_allclose(fig.axes[0].collections[-1].get_offsets(), z)
    last = fig.axes[-1].collections[-1].get_offsets()
    np.testing.assert_allclose(last, flow.bijector.forward(fresh(z)), atol=1e-5)
    np.testing.assert_allclose(last, flow.sample(200, seed=tf.constant([5, 0])), atol=1e-5)
    # a point keeps its colour from panel to panel
    np.testing.assert_array_equal(
        fig.axes[0].collections[-1].get_array(), fig.axes[-1].collections[-1].get_array()
    )
    fig.savefig(tmp_path / "trajectory.png")


def test_inverse_trajectory_and_max_panels(flow, tmp_path):
    data = np.random.default_rng(1).normal(size=(120, 2)) * [1.0, 2.0] + [1.0, 3.0]
    fig = plotting.plot_trajectory(flow, direction="inverse", data=data)
    assert len(fig.axes) == 4
    assert fig.axes[0].get_title() == "data"
    np.testing.assert_allclose(fig.axes[0].collections[-1].get_offsets(), data, rtol=1e-6)
    np.testing.assert_allclose(
        fig.axes[-1].collections[-1].get_offsets(),
        flow.bijector.inverse(fresh(data.astype(np.float32))),
        atol=1e-5,
    )
    fig.savefig(tmp_path / "inverse.png")

    big = tff.real_nvp(2, num_layers=7, hidden_units=(4,), mixing=None)  # 8 layers -> 9 panels
    fig = plotting.plot_trajectory(big, n=50, max_panels=3)
    assert [ax.get_title() for ax in fig.axes] == [
        "base N(0, I)",
        "4: affine_coupling_3",
        "8: standardize",
    ]
    fig = plotting.plot_trajectory(big, n=50, data=tff.datasets.Moons())
    assert len(fig.axes) == 9
    assert len(fig.axes[-1].collections) == 2  # data behind the model's points
    with pytest.raises(ValueError, match="needs data"):
        plotting.plot_trajectory(flow, direction="inverse")


# -- 1-D lessons -------------------------------------------------------------------------------


@pytest.mark.parametrize("scale, shift", [(2.0, 1.0), (-0.5, 3.0), (3.0, -2.0)])
def test_change_of_variables_integrals(scale, shift, tmp_path):
    fig, integrals = plotting.plot_change_of_variables(scale=scale, shift=shift, n=2000)
    assert len(fig.axes) == 2
    for base in ("uniform", "normal"):
        # x = s z + t, dx = |s| dz: the density without the Jacobian has area |s|
        assert integrals[f"{base}_naive"] == pytest.approx(abs(scale), abs=1e-3)
        assert integrals[f"{base}_corrected"] == pytest.approx(1.0, abs=1e-3)
    legend = " ".join(t.get_text() for t in fig.axes[1].get_legend().get_texts())
    assert f"{integrals['normal_naive']:.4f}" in legend
    fig.savefig(tmp_path / "change_of_variables.png")
    with pytest.raises(ValueError):
        plotting.plot_change_of_variables(scale=0.0)


def test_corrected_density_matches_tfp_transformed_distribution():
    fig, _ = plotting.plot_change_of_variables(scale=2.0, shift=1.0, n=100)
    line = fig.axes[1].lines[-1]  # p_X of the normal panel
    x = line.get_xdata()
    tfp_density = tfd.TransformedDistribution(
        tfd.Normal(np.float64(0), np.float64(1)), tfb.Shift(np.float64(1))(tfb.Scale(np.float64(2)))
    )
    np.testing.assert_allclose(line.get_ydata(), tfp_density.prob(x).numpy(), rtol=1e-10)


def test_bijector_chain_1d_stages_are_normalised(tmp_path):
    fig, integrals = plotting.plot_bijector_chain_1d(n=1000, grid_size=20001)
    assert list(integrals) == ["normal", "sigmoid", "spline", "logit"]
    for name, value in integrals.items():
        assert value == pytest.approx(1.0, abs=1e-2), name
    assert len(fig.axes) == 8
    # the spline is not the identity: the densities before and after it differ
    sigmoid_curve = fig.axes[1].lines[0].get_ydata()
    spline_curve = fig.axes[2].lines[0].get_ydata()
    assert np.max(np.abs(sigmoid_curve - spline_curve)) > 0.5
    fig.savefig(tmp_path / "chain_1d.png")
