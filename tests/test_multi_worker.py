"""``fit`` under ``MultiWorkerMirroredStrategy``: two worker processes on localhost ports.

Both workers run the same script (below) on the same data and seed; the global batch is split
between them and the gradients all-reduced, so both end with the same weights, and the run
follows a one-process run on the same global batches (up to floating-point summation order).
"""

import json
import sys

import numpy as np
import pytest
import tensorflow as tf

import tfp_flows as tff
from tfp_flows.training import multi_worker

STEPS, BATCH, STEPS_PER_EXECUTION = 10, 64, 5

SETUP = f"""
import numpy as np
import tensorflow as tf
import tfp_flows as tff

data = tff.datasets.Banana().sample(1024, seed=0).numpy()
def make():
    return (tff.real_nvp(2, num_layers=2, hidden_units=(8,), seed=0),
            tf.keras.optimizers.Adam(1e-2))
fit_kwargs = dict(steps={STEPS}, batch_size={BATCH}, steps_per_execution={STEPS_PER_EXECUTION},
                  progress=False, seed=3)
"""

WORKER = (
    """
import json, sys
from tfp_flows.training.multi_worker import multi_worker_strategy, task_index
strategy = multi_worker_strategy()
"""
    + SETUP
    + """
with strategy.scope():
    flow, optimizer = make()
history = tff.fit(flow, data, optimizer=optimizer, strategy=strategy,
                  callbacks=[tff.training.Checkpointing(sys.argv[2], every=5)], **fit_kwargs)
with open(f"{sys.argv[1]}/worker{task_index()}.json", "w") as f:
    json.dump({"loss": history.loss, "weights": [v.numpy().tolist() for v in flow.variables]}, f)
"""
)


@pytest.mark.slow
def test_two_workers_hold_the_same_weights_and_follow_a_one_worker_run(tmp_path):
    try:
        multi_worker.free_ports(2)
    except OSError as error:
        pytest.skip(f"cannot bind a localhost port: {error}")
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    results = multi_worker.launch(
        [sys.executable, str(script), str(tmp_path), str(tmp_path / "checkpoints")],
        workers=2,
        timeout=120,
    )
    for index, result in enumerate(results):
        assert result.returncode == 0, f"worker {index} failed:\n{result.stderr[-3000:]}"
    outputs = [json.loads((tmp_path / f"worker{i}.json").read_text()) for i in range(2)]

    for first, second in zip(outputs[0]["weights"], outputs[1]["weights"]):
        np.testing.assert_array_equal(first, second)
    # only the chief wrote checkpoints (a second writer would have found the folder locked)
    assert [
        step for step, _ in tff.training.checkpoints.list_checkpoints(str(tmp_path / "checkpoints"))
    ] == [5, 10]

    namespace = {}
    exec(SETUP, namespace)  # the same flow, optimizer, data and batches in this one process
    flow, optimizer = namespace["make"]()
    history = tff.fit(
        flow, namespace["data"], optimizer=optimizer, jit_compile=False, **namespace["fit_kwargs"]
    )
    assert len(outputs[0]["loss"]) == STEPS
    np.testing.assert_allclose(outputs[0]["loss"], history.loss, rtol=1e-5)
    assert not np.allclose(history.loss[0], history.loss[-1])  # it trained
    for distributed, single in zip(outputs[0]["weights"], flow.variables):
        np.testing.assert_allclose(distributed, single.numpy(), rtol=1e-4, atol=1e-5)


def test_worker_configs_name_every_worker_and_refuse_repeated_ports():
    configs = multi_worker.worker_configs([5000, 5001, 5002])
    assert [c["task"]["index"] for c in configs] == [0, 1, 2]
    assert configs[0]["cluster"] == {
        "worker": ["localhost:5000", "localhost:5001", "localhost:5002"]
    }
    with pytest.raises(ValueError, match="distinct"):
        multi_worker.worker_configs([5000, 5000])


def test_a_failing_worker_stops_the_other_and_is_reported(tmp_path):
    script = tmp_path / "fail.py"
    script.write_text(
        "import os, sys, time, json\n"
        "if json.loads(os.environ['TF_CONFIG'])['task']['index'] == 1:\n"
        "    sys.exit('worker 1 gives up')\n"
        "time.sleep(60)\n"
    )
    results = multi_worker.launch([sys.executable, str(script)], workers=2, timeout=30)
    assert results[1].returncode == 1 and "gives up" in results[1].stderr
    assert results[0].returncode != 0  # stopped, not left waiting for 60 s


def test_fit_refuses_a_global_batch_that_the_replicas_cannot_share():
    devices = tf.config.list_logical_devices("CPU")
    if len(devices) < 2:
        pytest.skip("TensorFlow initialised its devices before conftest could split the CPU")
    strategy = tf.distribute.MirroredStrategy([d.name for d in devices[:2]])
    with strategy.scope():
        flow = tff.real_nvp(2, num_layers=1, hidden_units=(4,), seed=0)
    with pytest.raises(ValueError, match="multiple of the strategy's 2 replicas in sync, got 33"):
        tff.fit(
            flow,
            np.zeros([64, 2], np.float32) + np.arange(64)[:, None],
            steps=1,
            batch_size=33,
            strategy=strategy,
            progress=False,
        )
