"""Run folders: resume what was saved or say why not, never touch files outside the folder."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import tfp_flows as tff
from tfp_flows.datasets import Banana
from tfp_flows.training import (
    Checkpointing,
    EarlyStopping,
    LambdaCallback,
    Validation,
    default_optimizer,
)
from tfp_flows.training.checkpoints import (
    CheckpointMismatchError,
    Checkpoints,
    NoReadableCheckpointError,
    RunFolderNotEmptyError,
    restore_flow,
)
from tfp_flows.training.run_folder import RunFolderBusyError, list_checkpoints


def _flow(layers=2, hidden=(8,), seed=0):
    return tff.real_nvp(2, num_layers=layers, hidden_units=hidden, seed=seed)


VALIDATION = Banana().sample(200, seed=1).numpy()


def _fit(folder, steps, flow=None, resume=False, metadata=None, callbacks=(), **kwargs):
    """Tiny deterministic training on the banana: validation every 10 steps, a checkpoint
    every 20. Without XLA unless asked: checkpoints are written between the compiled chunks,
    and an XLA compilation costs more than the 40 steps (test_training covers XLA)."""
    kwargs.setdefault("jit_compile", False)
    return tff.fit(
        flow or _flow(),
        Banana(),
        steps=steps,
        batch_size=64,
        validation_data=VALIDATION,
        callbacks=[
            Validation(every=10),
            *callbacks,
            Checkpointing(str(folder), every=20, resume=resume, metadata=metadata),
        ],
        progress=False,
        seed=0,
        **kwargs,
    )


def _values(flow):
    return [v.numpy().copy() for v in flow.trainable_variables]  # fit adapts Standardize first


def _steps_trained(folder, steps, **kwargs):
    """Resumes to ``steps``; returns the history and the log points seen (= steps trained now)."""
    seen = []
    record = LambdaCallback(lambda step, logs: seen.append(step), every=10)
    history = _fit(folder, steps, callbacks=[record], **kwargs)
    return history, seen


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A run folder with ckpt-20 and ckpt-40, the history of those 40 steps, and the flow."""
    folder = tmp_path_factory.mktemp("run") / "checkpoint"
    flow = _flow()
    history = _fit(folder, 40, flow=flow)
    assert [step for step, _ in list_checkpoints(str(folder))] == [20, 40]
    return folder, history, flow


@pytest.fixture
def run(trained, tmp_path):
    """A private copy of the trained run folder (tests may damage it)."""
    import shutil

    folder, history, _ = trained
    copy = tmp_path / "run" / "checkpoint"
    shutil.copytree(folder, copy)
    return copy, history


# -- resume what was saved, or say why not ----------------------------------------------


@pytest.mark.parametrize(
    "layers, hidden, expected",
    [
        (
            2,
            (16,),
            "bijector/bijectors/4/conditioner/biases/0: shape [8] float32 in the checkpoint, "
            "shape [16] float32 in the flow",
        ),
        (3, (8,), "bijector/bijectors/6/conditioner/biases/0 only in the flow"),
    ],
)
def test_resume_into_another_architecture_names_the_difference_and_restores_nothing(
    run, layers, hidden, expected
):
    folder, _ = run
    other = _flow(layers, hidden)
    before = _values(other)
    with pytest.raises(CheckpointMismatchError, match="does not hold this flow") as error:
        _fit(folder, 60, flow=other, resume=True)
    assert expected in str(error.value)
    for old, new in zip(before, _values(other)):
        np.testing.assert_array_equal(old, new)  # not even a partial restore
    assert [step for step, _ in list_checkpoints(str(folder))] == [20, 40]  # nothing written
    assert not (folder / ".lock").exists()  # and the folder is free again


def test_resume_with_another_optimizer_is_refused_and_leaves_the_flow_as_it_was(run):
    folder, _ = run
    flow = _flow()
    before = [v.numpy().copy() for v in flow.variables]
    with pytest.raises(CheckpointMismatchError, match="does not match the objects"):
        _fit(
            folder,
            60,
            flow=flow,
            resume=True,
            optimizer=tf.keras.optimizers.SGD(1e-3, momentum=0.9),
        )
    for old, variable in zip(before, flow.variables):
        np.testing.assert_array_equal(old, variable.numpy())  # restored values put back


@pytest.mark.slow
def test_resume_with_other_metadata_names_the_setting(tmp_path):
    _fit(tmp_path, 20, metadata={"target": "banana", "seed": 0})
    with pytest.raises(CheckpointMismatchError, match="seed: 0 in the checkpoint, 1 now"):
        _fit(tmp_path, 40, resume=True, metadata={"target": "banana", "seed": 1})
    assert restore_flow(str(tmp_path), _flow()) == 20  # without metadata: only the flow checked
    with pytest.raises(CheckpointMismatchError, match="target: 'banana' in the checkpoint, None"):
        restore_flow(str(tmp_path), _flow(), metadata={"seed": 0})


@pytest.mark.slow
def test_resume_continues_from_the_checkpoints_step_with_its_history(run):
    folder, original = run
    history, seen = _steps_trained(folder, 60, resume=True)
    assert seen == [50, 60]  # trained steps 41..60 only
    assert history.steps == 60 and history.loss[:40] == original.loss
    assert history.val_steps == original.val_steps + [50, 60]


@pytest.mark.slow
def test_the_step_and_history_come_from_the_checkpoint_not_history_json(run):
    folder, original = run
    (folder / "history.json").write_text('{"loss": [1.0, 2.0], "garbled')
    history, seen = _steps_trained(folder, 60, resume=True)
    assert seen == [50, 60] and history.loss[:40] == original.loss
    saved = json.loads((folder / "history.json").read_text())
    assert saved["checkpoint"] == "ckpt-60" and saved["loss"] == history.loss


@pytest.mark.parametrize("state", [None, "garbled \x00 not a state file", ""])
@pytest.mark.slow
def test_a_missing_or_garbled_state_file_finds_the_checkpoints_by_listing(run, state, capsys):
    folder, original = run
    if state is None:
        (folder / "checkpoint").unlink()
    else:
        (folder / "checkpoint").write_text(state)
    history, seen = _steps_trained(folder, 60, resume=True)
    assert seen == [50, 60] and history.loss[:40] == original.loss  # not restarted from 0
    err = capsys.readouterr().err
    assert "using the checkpoints found in the folder: ['ckpt-20', 'ckpt-40']" in err
    assert tf.train.latest_checkpoint(str(folder)).endswith("ckpt-60")


@pytest.mark.slow
def test_a_corrupt_newest_checkpoint_falls_back_to_the_previous_one(run, capsys):
    folder, original = run
    data = folder / "ckpt-40.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])
    flow = _flow()
    optimizer = default_optimizer(60)
    optimizer.build(flow.trainable_variables)
    checkpoints = Checkpoints(str(folder), flow, optimizer)
    history = checkpoints.begin(resume=True)
    checkpoints.close()
    err = capsys.readouterr().err
    assert "ckpt-40 is unreadable" in err and "falling back to the previous checkpoint" in err
    assert history.steps == 20 and history.loss == original.loss[:20]
    assert history.val_steps == [10, 20] and history.val_loss == original.val_loss[:2]
    saved = json.loads((folder / "history.json").read_text())  # truncated to the restored step
    assert saved["checkpoint"] == "ckpt-20" and saved["loss"] == original.loss[:20]
    assert (folder / "ckpt-40.index.corrupt").exists()  # set aside, not deleted
    assert [step for step, _ in list_checkpoints(str(folder))] == [20]
    # training resumes from step 20 and reaches the same weights as the uninterrupted run
    history, seen = _steps_trained(folder, 40, resume=True)
    assert seen == [30, 40]
    np.testing.assert_allclose(history.loss, original.loss, rtol=1e-5)


def test_no_readable_checkpoint_is_an_error_not_a_fresh_start(run):
    folder, _ = run
    for name in ("ckpt-20.index", "ckpt-40.index"):
        (folder / name).write_bytes(b"garbage")
    with pytest.raises(NoReadableCheckpointError, match="nothing was overwritten"):
        _fit(folder, 60, resume=True)
    assert (folder / "ckpt-40.index").read_bytes() == b"garbage"


def test_a_fresh_run_refuses_a_folder_holding_checkpoints(run):
    folder, _ = run

    def files():  # the state file `checkpoint` may be normalised; nothing else changes
        return {p.name: p.read_bytes() for p in folder.iterdir() if p.name != "checkpoint"}

    before = files()
    with pytest.raises(RunFolderNotEmptyError, match=r"ckpt-20, ckpt-40\); pass resume=True"):
        _fit(folder, 60)
    assert files() == before


def test_restore_flow_restores_the_newest_checkpoint_read_only(trained, run):
    folder, _ = run
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    flow, trained_flow = _flow(seed=5), trained[2]
    x = tf.constant(Banana().sample(100, seed=3))
    assert np.abs(flow.log_prob(x) - trained_flow.log_prob(tf.identity(x))).max() > 0.1
    assert restore_flow(str(folder), flow) == 40
    np.testing.assert_array_equal(flow.log_prob(tf.identity(x)), trained_flow.log_prob(x))
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before


# -- one run per folder ----------------------------------------------------------------


def _write_lock(folder, pid):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ".lock").write_text(json.dumps({"pid": pid, "host": socket.gethostname()}))


def test_a_live_runs_lock_keeps_a_second_run_out(tmp_path):
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _write_lock(tmp_path, other.pid)
        busy = f"in use by another run \\(process {other.pid}"
        with pytest.raises(RunFolderBusyError, match=busy):
            _fit(tmp_path, 20)
        assert json.loads((tmp_path / ".lock").read_text())["pid"] == other.pid
        assert list_checkpoints(str(tmp_path)) == []
    finally:
        other.kill()
        other.wait()


@pytest.mark.slow
def test_a_dead_runs_lock_is_taken_over_and_released_after_training(tmp_path, capsys):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    _write_lock(tmp_path, dead.pid)
    assert _fit(tmp_path, 20).steps == 20
    assert f"taking over the stale lock {tmp_path / '.lock'} of process {dead.pid}" in (
        capsys.readouterr().err
    )
    assert not (tmp_path / ".lock").exists()


# -- never touch files outside the run folder ---------------------------------------------


@pytest.mark.slow
def test_a_crafted_state_file_never_deletes_files_outside_the_folder(tmp_path, capsys):
    outside = tmp_path / "outside"
    outside.mkdir()
    victims = [outside / "precious.index", outside / "precious.data-00000-of-00001"]
    for victim in victims:
        victim.write_text("keep me")
    folder = tmp_path / "run"
    folder.mkdir()
    paths = [str(outside / "precious"), "../outside/precious"]
    (folder / "checkpoint").write_text(
        f'model_checkpoint_path: "{paths[0]}"\n'
        + "".join(f'all_model_checkpoint_paths: "{p}"\n' for p in paths)
        + "all_model_checkpoint_timestamps: 2.0\n" * 2
        + "last_preserved_timestamp: 1.0\n"
    )
    assert _fit(folder, 80).steps == 80  # saves 4 checkpoints, keeps 2: clean-up runs twice
    assert all(victim.read_text() == "keep me" for victim in victims)
    assert "ignoring it (never touching" in capsys.readouterr().err
    assert [step for step, _ in list_checkpoints(str(folder))] == [60, 80]


def test_restore_flow_falls_back_from_a_corrupt_newest_checkpoint_without_writing(run, capsys):
    folder, _ = run
    (folder / "ckpt-40.index").write_bytes(b"garbage")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert restore_flow(str(folder), _flow()) == 20
    assert "ckpt-40 is unreadable" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before  # read-only


@pytest.mark.slow
def test_after_a_resume_the_best_weights_are_tracked_from_the_resumed_step(run):
    folder, _ = run
    flow = _flow()
    history = _fit(folder, 60, flow=flow, resume=True, callbacks=[EarlyStopping(patience=100)])
    assert history.best_step is not None and history.best_step > 40  # never a step before
    np.testing.assert_allclose(
        tff.metrics.nll(flow, VALIDATION), history.best_val_loss, rtol=1e-5
    )  # the weights restored are the ones best_step names


def test_a_lock_with_this_pid_on_another_host_is_not_taken_for_our_own(tmp_path):
    (tmp_path / ".lock").write_text(json.dumps({"pid": os.getpid(), "host": "elsewhere"}))
    with pytest.raises(RunFolderBusyError, match="on host elsewhere"):
        _fit(tmp_path, 20)
