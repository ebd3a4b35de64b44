"""What installing tfp_flows asks of an environment, and how it runs on the NumPy it finds.

The package installs beside any TensorFlow 2.21 distribution (``tensorflow``, ``tensorflow-cpu``,
...) and any NumPy >= 1.26 (TFP 0.25's ``tfb.Pad`` is patched for NumPy 2.4). The full install
beside ``tensorflow-cpu`` is checked by ``.ci/check_install_beside_tensorflow_cpu.sh``.
"""

import configparser
import inspect
import pathlib
import sys

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
from packaging.requirements import Requirement

import tfp_flows
from tfp_flows.bijectors import _numpy_compat

tfd, tfb = tfp.distributions, tfp.bijectors
SETUP_CFG = pathlib.Path(__file__).resolve().parents[1] / "setup.cfg"


def _requirements(section, key):
    config = configparser.ConfigParser()
    config.read(SETUP_CFG)
    lines = config[section][key].splitlines()
    return [Requirement(line) for line in (x.strip() for x in lines) if line and line[0] != "#"]


def test_installing_the_package_asks_for_no_tensorflow_distribution_and_no_numpy_ceiling():
    required = {r.name.lower(): r for r in _requirements("options", "install_requires")}
    # tf-keras requires the `tensorflow` distribution: either would install a second TensorFlow
    # beside tensorflow-cpu
    assert not {"tensorflow", "tensorflow-cpu", "tf-keras", "tf_keras"} & set(required)
    tfp_requirement = required["tensorflow-probability"]
    assert tfp_requirement.specifier.contains("0.25.0"), str(tfp_requirement)
    # pinned to its minor release: the package overrides subclass hooks of TFP 0.25 (setup.cfg)
    assert not tfp_requirement.specifier.contains("0.26.0"), str(tfp_requirement)
    numpy = required["numpy"]
    assert all(spec.operator in (">=", ">", "!=") for spec in numpy.specifier), str(numpy)
    assert numpy.specifier.contains("2.4.6") and numpy.specifier.contains("3.0.0")


def test_the_tf_extra_and_the_test_extra_bring_tensorflow_and_tf_keras():
    tf_extra = {r.name.lower(): r for r in _requirements("options.extras_require", "tf")}
    assert set(tf_extra) == {"tensorflow", "tf-keras"}
    for requirement in tf_extra.values():
        assert requirement.specifier.contains("2.21.0"), str(requirement)
        assert requirement.specifier.contains("2.22.0"), str(requirement)
        assert not requirement.specifier.contains("2.23.0"), str(requirement)
    test_extra = _requirements("options.extras_require", "test")
    assert any(r.name == "tfp-flows" and r.extras == {"tf"} for r in test_extra)


@pytest.mark.parametrize(
    "missing, command",
    [
        (["tf_keras"], 'pip install --no-deps "tf-keras~=2.21.0"'),  # this TensorFlow: 2.21
        (["tensorflow", "tf_keras"], 'pip install "tfp-flows[tf]"'),
        (["tensorflow"], 'pip install "tfp-flows[tf]"'),
    ],
)
def test_importing_without_tensorflow_or_tf_keras_names_the_command_that_installs_them(
    monkeypatch, missing, command
):
    for name in missing:
        monkeypatch.setitem(sys.modules, name, None)  # find_spec answers None, as if not installed
    with pytest.raises(ImportError) as raised:
        tfp_flows._check_tensorflow_stack()
    message = str(raised.value)
    assert "\n" not in message
    assert command in message
    assert " and ".join(missing) + " cannot be imported" in message


def test_importing_with_tensorflow_and_tf_keras_installed_passes_the_check():
    tfp_flows._check_tensorflow_stack()


def test_dirichlet_event_space_bijector_maps_onto_the_simplex_and_back():
    # TFP 0.25 builds it from tfb.Pad, whose constructor NumPy 2.4 broke
    bijector = tfd.Dirichlet(tf.ones([3], tf.float64)).experimental_default_event_space_bijector()
    x = tf.constant([[0.0, 0.0], [1.5, -2.0]], tf.float64)
    y = bijector.forward(x)
    np.testing.assert_allclose(tf.reduce_sum(y, axis=-1), [1.0, 1.0], rtol=1e-12)
    np.testing.assert_allclose(y[0], [1 / 3] * 3, rtol=1e-12)
    np.testing.assert_allclose(bijector.inverse(y), x, atol=1e-12)


def test_von_mises_fisher_event_space_bijector_maps_onto_the_sphere():
    # its event space is built on SoftmaxCentered too
    bijector = tfd.VonMisesFisher([0.0, 0.0, 1.0], 1.0).experimental_default_event_space_bijector()
    y = bijector.forward(tf.constant([0.3, -0.7]))
    np.testing.assert_allclose(tf.norm(y), 1.0, rtol=1e-6)


@pytest.fixture
def pad_module_on_numpy_without_newshape(monkeypatch):
    """TFP's ``pad`` module as it is on NumPy 2.4: its ``np`` is NumPy, which refuses ``newshape``."""
    pad_module = sys.modules[tfb.Pad.__module__]
    monkeypatch.setattr(pad_module, "np", np)
    monkeypatch.setattr(_numpy_compat, "numpy_reshape_accepts_newshape", lambda: False)
    monkeypatch.setattr(_numpy_compat, "tfp_pad_passes_newshape", lambda: True)
    return pad_module


def test_the_patch_lets_pad_build_and_pads_as_tfp_defines(pad_module_on_numpy_without_newshape):
    assert _numpy_compat.let_tfp_pad_accept_newshape() is True
    assert _numpy_compat.let_tfp_pad_accept_newshape() is False  # applied once
    pad = tfb.Pad(paddings=[[1, 2]], constant_values=7.0)
    np.testing.assert_array_equal(pad.forward([[1.0, 2.0]]), [[7.0, 1.0, 2.0, 7.0, 7.0]])
    np.testing.assert_array_equal(pad.inverse([[7.0, 1.0, 2.0, 7.0, 7.0]]), [[1.0, 2.0]])
    assert tfb.Pad(paddings=[[0, 1], [1, 0]], axis=[-3, -1]).forward_min_event_ndims == 3


def test_numpy_as_tfp_pad_sees_it_is_numpy_with_reshape_taking_newshape(
    pad_module_on_numpy_without_newshape,
):
    _numpy_compat.let_tfp_pad_accept_newshape()
    shim = pad_module_on_numpy_without_newshape.np
    a = np.arange(6)
    np.testing.assert_array_equal(shim.reshape(a, newshape=[2, 3]), a.reshape(2, 3))
    np.testing.assert_array_equal(shim.reshape(a, [3, 2], order="F"), a.reshape(3, 2, order="F"))
    assert shim.pad is np.pad and shim.min is np.min and shim.int32 is np.int32


def test_the_patch_changes_nothing_where_numpy_still_takes_newshape(monkeypatch):
    pad_module = sys.modules[tfb.Pad.__module__]
    monkeypatch.setattr(pad_module, "np", np)
    monkeypatch.setattr(_numpy_compat, "numpy_reshape_accepts_newshape", lambda: True)
    assert _numpy_compat.let_tfp_pad_accept_newshape() is False
    assert pad_module.np is np


def test_the_patch_changes_nothing_where_tfp_pad_no_longer_passes_newshape(monkeypatch):
    """A TFP release whose Pad no longer passes ``newshape=``: its module is left as it is."""
    pad_module = sys.modules[tfb.Pad.__module__]
    monkeypatch.setattr(pad_module, "np", np)
    monkeypatch.setattr(_numpy_compat, "numpy_reshape_accepts_newshape", lambda: False)
    monkeypatch.setattr(_numpy_compat, "tfp_pad_passes_newshape", lambda: False)
    assert _numpy_compat.let_tfp_pad_accept_newshape() is False
    assert pad_module.np is np


def test_tfp_pad_passes_newshape_reads_tfps_pad_module():
    passes_newshape = "newshape=" in inspect.getsource(sys.modules[tfb.Pad.__module__])
    assert _numpy_compat.tfp_pad_passes_newshape() is passes_newshape


def test_numpy_reshape_accepts_newshape_tells_this_numpys_behaviour():
    expected = tuple(int(p) for p in np.__version__.split(".")[:2]) < (2, 4)
    assert _numpy_compat.numpy_reshape_accepts_newshape() is expected
