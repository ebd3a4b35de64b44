"""Shared test set-up: quiet TensorFlow, deterministic seeds."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

# Two logical CPU devices, so tf.distribute strategies can be tested on one machine. This
# must happen before TensorFlow initialises its devices (the first op of the session).
try:
    _cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        _cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
    )
except RuntimeError:  # devices already initialised by an earlier import
    pass


# No Grappler graph optimisation in the test processes. Grappler rewrites each traced graph
# before its first run, which for the thousands of ops of a training loop costs more than the
# tens of steps a test runs: a 60-step tff.fit of real_nvp(2) took 8.3 s of CPU with it and
# 6.9 s without (nsf: 9.8 and 7.8 s). Only the speed of a graph's first call changes; the
# notebooks' kernels and the CLI's subprocess test keep TensorFlow's defaults.
tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})


@pytest.fixture
def made_calls(monkeypatch):
    """The names of the MADEs called from now on in the test, one entry per call."""
    from tfp_flows.nn.made import MADE

    calls = []
    original = MADE.__call__

    def counting(self, x, context=None):
        calls.append(self.name)
        return original(self, x, context)

    monkeypatch.setattr(MADE, "__call__", counting)
    return calls


def pytest_configure(config):
    """Under ``pytest -n 2``, the workers take the tests one at a time from a shared queue.

    xdist's default hands each worker runs of about a quarter of its share of consecutive
    tests; with the slow tests first (:func:`pytest_collection_modifyitems`) one worker would
    get all of them. One at a time, the two workers finish within one test of each other.
    """
    if getattr(config.option, "maxschedchunk", "no xdist") is None:
        config.option.maxschedchunk = 1


def pytest_collection_modifyitems(config, items):
    """The tests marked ``slow`` run first (the order is otherwise the files' order).

    Longest first is how two workers end together: the last tests to start are the short
    ones, so neither worker is left running a notebook while the other is idle.
    """
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(autouse=True)
def fit_without_xla_unless_asked(request, monkeypatch):
    """``tff.fit(..., jit_compile=None)`` and ``FlowModel.compile(jit_compile="auto")`` train
    without XLA in tests, unless marked ``xla``.

    The tests train tiny flows for tens or hundreds of steps, where XLA's compilation is
    most of the time and repays nothing: a 2-layer ``real_nvp(2)`` fitted for 200 steps took
    10 s with XLA and 4.4 s without (20 steps: 10 s and 4.7 s). ``fit``'s default for a
    vector flow stays XLA for users (8x more steps per second on the default flows); the tests
    that are about that default path, or that must run the XLA-compiled loop, are marked
    ``@pytest.mark.xla`` or pass ``jit_compile=True`` themselves.
    """
    if request.node.get_closest_marker("xla") is None:
        from tfp_flows.training import preflight

        monkeypatch.setattr(preflight, "default_jit_compile", lambda distribution: False)
