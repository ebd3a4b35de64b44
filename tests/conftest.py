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
