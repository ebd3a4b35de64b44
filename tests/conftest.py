"""Shared test set-up: quiet TensorFlow, deterministic seeds."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")
# The suite's flows are tiny: each op runs on one thread (two workers share two cores, and a
# second intra-op thread only spins). On 1,087 tests under `-n 2`, 559 s of CPU instead of 611 s.
# Set before TensorFlow is imported; notebook kernels and CLI subprocesses inherit it.
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")

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


# Files whose tests run in one worker: their module-scoped fixtures train flows (the CLI's runs,
# NPE's and the checkpoint tests' trained flows), built once instead of once per worker.
ONE_WORKER_FILES = ("tests/test_cli.py", "tests/test_npe.py", "tests/test_checkpoints.py")


def pytest_xdist_make_scheduler(config, log):
    """Under ``pytest -n 2``: each test is its own unit of work, except the tests of
    :data:`ONE_WORKER_FILES`, which go to one worker together.

    A worker holds at most two units it has not started, so the two workers take the tests
    almost one at a time from the shared queue and finish within one test of each other
    (xdist's default ``load`` hands out runs of consecutive tests; with the slow tests first,
    :func:`pytest_collection_modifyitems`, one worker would get all of them). xdist's own
    ``--dist loadgroup`` does not group under pytest 9 (it renames ``item._nodeid``, which
    pytest 9 no longer reads).
    """
    from xdist.scheduler import LoadScopeScheduling

    class OneTestOrOneFile(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            path = nodeid.split("::", 1)[0]
            return path if path in ONE_WORKER_FILES else nodeid

    return OneTestOrOneFile(config, log)


# The doctests that train, sample a posterior or solve an ODE (2 s of CPU or more each, measured on two
# cores): slow, as the test functions of that cost are (``@pytest.mark.slow``).
SLOW_DOCTESTS = (
    "tfp_flows.bijectors.continuous.ContinuousFlow",
    "tfp_flows.datasets.eight_schools_reference",
    "tfp_flows.diagnostics.c2st.c2st",
    "tfp_flows.inference.amortized.AmortizedPosterior.log_prob_batch",
    "tfp_flows.inference.amortized.AmortizedPosterior.sample_batch",
    "tfp_flows.inference.neutra",
    "tfp_flows.inference.neutra.neutra",
    "tfp_flows.inference.fitting",
    "tfp_flows.inference.npe",
    "tfp_flows.inference.surrogate",
    "tfp_flows.training",
    "tfp_flows.training.callbacks",
    "tfp_flows.training.callbacks.Checkpointing",
    "tfp_flows.training.callbacks.EarlyStopping",
    "tfp_flows.training.callbacks.ReduceLROnPlateau",
    "tfp_flows.training.callbacks.Validation",
    "tfp_flows.training.checkpoints.restore_flow",
    "tfp_flows.training.fitting.fit",
    "tfp_flows.training.flow_matching.FlowMatching",
    "tfp_flows.training.keras_model",
    "tfp_flows.vae.model",
)


def pytest_collection_modifyitems(config, items):
    """Marks :data:`SLOW_DOCTESTS` ``slow``; the tests marked ``slow`` run first (the order is
    otherwise the files' order).

    ``pytest -m "not slow"`` is the fast loop: every test that costs less than about 2 s of
    CPU. Longest first is how two workers end together: the last tests to start are the short
    ones, so neither worker is left running a notebook while the other is idle.
    """
    for item in items:
        if item.name in SLOW_DOCTESTS and type(item).__name__ == "DoctestItem":
            item.add_marker(pytest.mark.slow)
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
