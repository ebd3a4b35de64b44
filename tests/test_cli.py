"""The ``tfp-flows`` command end to end (small budgets)."""

import json
import os
import shutil
import socket
import subprocess
import sys
import wave

import numpy as np
import pytest

import tfp_flows as tff
from tfp_flows.cli.app import _parameter_count, main
from tfp_flows.datasets import espeak
from tfp_flows.flows import real_nvp

SMALL = ["--steps", "20", "--layers", "2", "--hidden", "8", "--quiet"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "banana"
    status = main(
        [
            "train",
            "banana",
            "--steps",
            "300",
            "--layers",
            "4",
            "--hidden",
            "32",
            "32",
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert status == 0
    return out


@pytest.mark.slow
def test_train_writes_checkpoint_metrics_and_figures(run_dir):
    for name in (
        "config.json",
        "metrics.json",
        "loss.png",
        "density.png",
        "samples.png",
        "trajectory.png",
    ):
        assert (run_dir / name).stat().st_size > 0, name
    assert any((run_dir / "checkpoint").glob("ckpt-300.index"))


@pytest.mark.slow
def test_metrics_json_holds_consistent_numbers(run_dir):
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["steps"] == 300 and metrics["wall_time_s"] > 0
    assert metrics["entropy"] == pytest.approx(4.2242, abs=1e-4)
    # KL gap = test NLL - entropy, up to Monte-Carlo noise of two sample sets
    assert metrics["kl_gap"] == pytest.approx(metrics["test_nll"] - metrics["entropy"], abs=0.05)
    assert 0 <= metrics["kl_gap"] < 0.5
    assert metrics["settings"]["layers"] == 4 and metrics["settings"]["target"] == "banana"


@pytest.mark.slow
def test_evaluate_recomputes_the_same_metrics_from_the_checkpoint(run_dir, capsys):
    assert main(["evaluate", str(run_dir)]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    written = json.loads((run_dir / "metrics.json").read_text())
    assert evaluated["test_nll"] == pytest.approx(written["test_nll"], abs=1e-5)
    assert evaluated["kl_gap"] == pytest.approx(written["kl_gap"], abs=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".npy", ".csv"])
def test_sample_writes_files(run_dir, tmp_path, suffix):
    path = tmp_path / f"samples{suffix}"
    assert main(["sample", str(run_dir), "-n", "50", "-o", str(path)]) == 0
    samples = np.load(path) if suffix == ".npy" else np.loadtxt(path, delimiter=",", skiprows=1)
    assert samples.shape == (50, 2) and np.all(np.isfinite(samples))


@pytest.mark.slow
def test_resume_continues_to_more_steps_and_keeps_config_json(run_dir, tmp_path):
    run = tmp_path / "banana"  # a copy: the module's run stays at 300 steps for the other tests
    shutil.copytree(run_dir, run)
    config = (run / "config.json").read_bytes()
    assert (
        main(
            [
                "train",
                "banana",
                "--steps",
                "400",
                "--layers",
                "4",
                "--hidden",
                "32",
                "32",
                "--out",
                str(run),
                "--resume",
                "--quiet",
            ]
        )
        == 0
    )
    assert json.loads((run / "metrics.json").read_text())["steps"] == 400
    assert (run / "config.json").read_bytes() == config


@pytest.mark.slow
def test_targets_lists_every_target(capsys):
    assert main(["targets"]) == 0
    out = capsys.readouterr().out
    assert "banana" in out and "moons" in out and "4.2242" in out and "digits" in out
    assert "speech" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "nowhere"], "unknown target 'nowhere'; valid targets: banana"),
        (
            ["train", "--steps", "0"],
            "--steps must be a positive integer up to 1,000,000,000, got 0",
        ),
        (
            ["train", "--steps", "-5"],
            "--steps must be a positive integer up to 1,000,000,000, got -5",
        ),
        (["train", "--steps", "10000000000"], "--steps must be a positive integer up to"),
        (["train", "--layers", "0"], "--layers must be a positive integer up to 1,000, got 0"),
        (
            ["train", "--layers", "1001"],
            "--layers must be a positive integer up to 1,000, got 1001",
        ),
        (["train", "--batch-size", "0"], "--batch-size must be a positive integer up to"),
        (
            ["train", "--batch-size", "10000000"],
            "--batch-size must be a positive integer up to 1,000,000",
        ),
        (["train", "--hidden", "-4"], "--hidden must be one or more positive integers, got [-4]"),
        (
            ["train", "--hidden", "8", "0"],
            "--hidden must be one or more positive integers, got [8, 0]",
        ),
        (
            ["train", "--hidden", "100000", "100000", "--layers", "8"],
            "--layers 8, --hidden [100000, 100000] and --batch-size 256 need about 1,196.7 GiB to train "
            "(80,004,000,072 parameters: 298.0 GiB as float32",
        ),
        (["train", "--noise", "nan"], "--noise must be a finite number >= 0, got nan"),
        (["train", "--noise", "inf"], "--noise must be a finite number >= 0, got inf"),
        (["train", "--noise", "-0.1"], "--noise must be a finite number >= 0, got -0.1"),
        (
            ["train", "moons", "--noise", "0"],
            "target 'moons' rejects --noise 0.0: noise must be positive",
        ),
        (["train", "banana", "--noise", "0.1"], "target 'banana' takes no --noise"),
        (["train", "--learning-rate", "0"], "--learning-rate must be a finite number > 0, got 0.0"),
        (["train", "--learning-rate=-1e-3"], "--learning-rate must be a finite number > 0"),
        (
            ["train", "--learning-rate", "nan"],
            "--learning-rate must be a finite number > 0, got nan",
        ),
        (
            ["train", "--learning-rate", "inf"],
            "--learning-rate must be a finite number > 0, got inf",
        ),
        (["train", "--seed", "-1"], "--seed must be an integer from 0 to 2,147,483,647, got -1"),
        (
            ["train", "--layers", "2.5"],
            "argument --layers: invalid int value: '2.5' (see 'tfp-flows train --help')",
        ),
        (["train", "--bogus"], "unrecognized arguments: --bogus (see 'tfp-flows --help')"),
        ([], "the following arguments are required: command"),
        (
            ["sample", "/nonexistent/run", "-n", "1e12", "-o", "x.npy"],
            "argument -n: invalid int value: '1e12' (see 'tfp-flows sample --help')",
        ),
        (
            ["sample", "/nonexistent/run", "-n", "1000000000000", "-o", "x.npy"],
            "-n must be an integer from 1 to 10,000,000, got 1000000000000",
        ),
        (["sample", "/nonexistent/run", "-n", "0", "-o", "x.npy"], "-n must be an integer from 1"),
        (["sample", "/nonexistent/run", "-o", "x.txt"], "must end in .npy or .csv, got 'x.txt'"),
        (["evaluate", "/nonexistent/run"], "holds no trained run"),
        (["sample", "/nonexistent/run", "-o", "x.npy"], "holds no trained run"),
        (
            ["train", "--out", "/proc/forbidden/run", "--steps", "1"],
            "cannot write to output folder",
        ),
        (["train", "moons", "--sentences", "20"], "--sentences is for the speech target only"),
        (["train", "speech", "--hidden", "8", "8"], "--hidden must be one number for speech"),
        (["train", "speech", "--sentences", "5"], "--sentences must be an integer from 10"),
        (["train", "speech", "--resume"], "speech runs keep no checkpoint"),
    ],
)
def test_errors_are_one_line_and_a_non_zero_exit(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.slow
def test_python_dash_m_is_the_same_command():
    result = subprocess.run(
        [sys.executable, "-m", "tfp_flows", "train", "nowhere"],
        capture_output=True,
        text=True,
        env=dict(os.environ),
    )
    assert result.returncode == 2
    assert result.stderr.startswith("tfp-flows: error: unknown target")
    assert result.stderr.count("\n") == 1  # one line, no TensorFlow start-up noise


def test_the_parameter_estimate_is_the_built_flows_parameter_count():
    for layers, hidden in [(2, [8]), (3, [16, 8]), (1, [5, 7, 3])]:
        flow = real_nvp(2, num_layers=layers, hidden_units=tuple(hidden))
        built = sum(int(np.prod(v.shape)) for v in flow.trainable_variables)
        assert _parameter_count(layers, hidden) == built, (layers, hidden)


# -- run folders: resume what was saved, or say why not ------------------------------------------


def _assert_one_line_error(capsys, *messages):
    err = capsys.readouterr().err
    assert err.startswith("tfp-flows: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for message in messages:
        assert message in err, err


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("small") / "run"
    assert main(["train", "banana", *SMALL, "--out", str(out)]) == 0
    return out


@pytest.fixture
def run_copy(small_run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(small_run, copy)
    return copy


@pytest.mark.slow
def test_resume_with_other_settings_is_refused_naming_them(run_copy, capsys):
    config = (run_copy / "config.json").read_bytes()
    assert (
        main(
            [
                "train",
                "banana",
                "--steps",
                "40",
                "--layers",
                "3",
                "--hidden",
                "8",
                "--seed",
                "1",
                "--quiet",
                "--out",
                str(run_copy),
                "--resume",
            ]
        )
        == 2
    )
    _assert_one_line_error(
        capsys,
        "--resume with settings that differ from",
        "layers 2 in config.json, 3 given; seed 0 in config.json, 1 given",
    )
    assert (run_copy / "config.json").read_bytes() == config
    assert sorted(p.name for p in (run_copy / "checkpoint").glob("ckpt-*.index")) == [
        "ckpt-20.index"
    ]


def test_train_without_resume_refuses_a_folder_holding_a_run(run_copy, capsys):
    config = (run_copy / "config.json").read_bytes()
    assert main(["train", "banana", *SMALL, "--layers", "3", "--out", str(run_copy)]) == 2
    _assert_one_line_error(capsys, "already holds a run; continue it with --resume")
    assert (run_copy / "config.json").read_bytes() == config


@pytest.mark.parametrize(
    "edit, message",
    [
        ({"layers": 3}, "settings differ (layers: 2 in the checkpoint, 3 now)"),
        ({"hidden": [16]}, "settings differ (hidden: [8] in the checkpoint, [16] now)"),
        ({"target": "moons"}, "settings differ (target: 'banana' in the checkpoint, 'moons' now)"),
    ],
)
@pytest.mark.parametrize("command", [["evaluate"], ["sample", "-o", "samples.npy"]])
def test_evaluate_and_sample_refuse_a_config_edited_after_training(
    run_copy, edit, message, command, capsys, tmp_path
):
    config = json.loads((run_copy / "config.json").read_text())
    (run_copy / "config.json").write_text(json.dumps({**config, **edit}))
    argv = [
        command[0],
        str(run_copy),
        *[str(tmp_path / a) if a.endswith(".npy") else a for a in command[1:]],
    ]
    assert main(argv) == 2
    _assert_one_line_error(capsys, "does not hold this flow", message, "config.json edited?")
    assert not (tmp_path / "samples.npy").exists()


@pytest.mark.slow
def test_resume_takes_the_history_from_the_checkpoint_not_a_corrupt_history_json(run_copy):
    (run_copy / "checkpoint" / "history.json").write_text("{garbled")
    assert (
        main(["train", "banana", *SMALL, "--steps", "40", "--out", str(run_copy), "--resume"]) == 0
    )
    history = json.loads((run_copy / "checkpoint" / "history.json").read_text())
    assert history["checkpoint"] == "ckpt-40" and len(history["loss"]) == 40
    assert json.loads((run_copy / "metrics.json").read_text())["steps"] == 40


@pytest.mark.parametrize(
    "content, message",
    [
        ("{garbled", "config.json is not valid JSON (Expecting property name"),
        ("[1, 2]", "config.json must hold a JSON object, got list"),
        (
            json.dumps(
                {
                    "target": "banana",
                    "noise": None,
                    "layers": -1,
                    "hidden": [8],
                    "steps": 20,
                    "batch_size": 256,
                    "learning_rate": None,
                    "seed": 0,
                }
            ),
            "config.json: layers must be a positive integer up to 1,000, got -1",
        ),
        (
            json.dumps(
                {
                    "target": "banana",
                    "noise": None,
                    "layers": 2,
                    "hidden": [8],
                    "steps": 20,
                    "batch_size": 256,
                    "learning_rate": None,
                }
            ),
            "config.json: seed must be an integer from 0 to 2,147,483,647, got None",
        ),
    ],
)
@pytest.mark.parametrize("command", ["evaluate", "resume"])
def test_a_corrupt_config_json_is_a_one_line_error(run_copy, content, message, command, capsys):
    (run_copy / "config.json").write_text(content)
    argv = (
        ["evaluate", str(run_copy)]
        if command == "evaluate"
        else ["train", "banana", *SMALL, "--out", str(run_copy), "--resume"]
    )
    assert main(argv) == 2
    _assert_one_line_error(capsys, message)


def test_sample_to_a_folder_is_a_one_line_error(small_run, tmp_path, capsys):
    (tmp_path / "somedir.npy").mkdir()
    assert main(["sample", str(small_run), "-o", str(tmp_path / "somedir.npy")]) == 2
    _assert_one_line_error(capsys, "somedir.npy' is a folder; give a file name")


def test_a_non_finite_loss_is_a_one_line_error(tmp_path, capsys):
    assert (
        main(["train", "banana", *SMALL, "--learning-rate", "1e30", "--out", str(tmp_path / "run")])
        == 2
    )
    _assert_one_line_error(capsys, "training became non-finite at step")
    assert not (tmp_path / "run").exists()  # no checkpoint was saved: nothing is left behind


def test_a_second_run_in_a_busy_folder_is_refused(tmp_path, capsys):
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        out = tmp_path / "run"
        out.mkdir()
        (out / ".lock").write_text(json.dumps({"pid": other.pid, "host": socket.gethostname()}))
        assert main(["train", "banana", *SMALL, "--out", str(out)]) == 2
        _assert_one_line_error(capsys, f"is in use by another run (process {other.pid}")
        assert not (out / "config.json").exists()
    finally:
        other.kill()
        other.wait()


@pytest.mark.slow
def test_a_crafted_state_file_in_the_run_folder_deletes_nothing_outside(tmp_path):
    victim = tmp_path / "outside" / "precious.index"
    victim.parent.mkdir()
    victim.write_text("keep me")
    state = tmp_path / "run" / "checkpoint" / "checkpoint"
    state.parent.mkdir(parents=True)
    state.write_text(
        f'model_checkpoint_path: "{victim.with_suffix("")}"\n'
        f'all_model_checkpoint_paths: "{victim.with_suffix("")}"\n'
        "all_model_checkpoint_timestamps: 2.0\nlast_preserved_timestamp: 1.0\n"
    )
    assert main(["train", "banana", *SMALL, "--steps", "2000", "--out", str(tmp_path / "run")]) == 0
    assert victim.read_text() == "keep me"


@pytest.mark.slow
def test_train_digits_writes_bits_per_dim_and_image_figures(tmp_path, capsys):
    out = tmp_path / "digits"
    assert (
        main(
            [
                "train",
                "digits",
                "--steps",
                "30",
                "--layers",
                "1",
                "--hidden",
                "4",
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    assert "bits/dim" in capsys.readouterr().out
    for name in (
        "config.json",
        "metrics.json",
        "loss.png",
        "samples.png",
        "reconstructions.png",
        "interpolations.png",
    ):
        assert (out / name).stat().st_size > 0, name
    metrics = json.loads((out / "metrics.json").read_text())
    # 30 steps from N(0, I) in logit space: worse than a trained flow, better than nothing sane
    assert 1.0 < metrics["test_bits_per_dim"] < 8.0
    assert metrics["test_images"] == 300 and metrics["settings"]["hidden"] == [4]
    assert main(["evaluate", str(out)]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["test_bits_per_dim"] == metrics["test_bits_per_dim"]
    assert main(["sample", str(out), "-n", "3", "-o", str(tmp_path / "s.npy")]) == 0
    samples = np.load(tmp_path / "s.npy")
    edge = 0.05 / 0.9  # the logit preprocessing's alpha = 0.05: pixels in (-edge, 1 + edge)
    assert samples.shape == (3, 8, 8, 1) and np.all((samples > -edge) & (samples < 1 + edge))
    assert main(["train", "digits", "--noise", "0.1", "--out", str(tmp_path / "x")]) == 2
    assert "takes no --noise" in capsys.readouterr().err
    assert main(["train", "digits", "--hidden", "4", "4", "--out", str(tmp_path / "x")]) == 2
    assert "--hidden must be one number for digits" in capsys.readouterr().err


@pytest.mark.parametrize(
    "setting, flag",
    [
        (["--hidden", "100000"], "--hidden [100000]"),
        (["--batch-size", "1000000"], "--batch-size 1000000"),
    ],
)
def test_a_digits_run_too_large_for_memory_is_refused_before_a_run_folder_is_made(
    setting, flag, tmp_path, capsys
):
    from tfp_flows.cli.app import MAX_TRAINING_BYTES
    from tfp_flows.cli.images import IMAGE_DEFAULTS, image_training_bytes

    out = tmp_path / "digits"
    assert main(["train", "digits", *setting, "--out", str(out), "--quiet"]) == 2
    config = {
        **IMAGE_DEFAULTS,
        "hidden": [int(setting[1])] if setting[0] == "--hidden" else IMAGE_DEFAULTS["hidden"],
        "batch_size": int(setting[1])
        if setting[0] == "--batch-size"
        else IMAGE_DEFAULTS["batch_size"],
    }
    needed = image_training_bytes(config)[1]
    assert needed > MAX_TRAINING_BYTES
    _assert_one_line_error(
        capsys, flag, f"need about {needed / 2**30:,.1f} GiB to train", "the limit is 4 GiB"
    )
    assert not out.exists()
    assert image_training_bytes(IMAGE_DEFAULTS)[1] < MAX_TRAINING_BYTES / 100  # defaults fit


def test_the_digits_parameter_estimate_is_the_built_flows_parameter_count():
    from tfp_flows.cli.images import build_image_flow, image_training_bytes

    for layers, hidden in [(1, 4), (2, 3)]:
        config = {
            "target": "digits",
            "layers": layers,
            "hidden": [hidden],
            "batch_size": 8,
            "seed": 0,
        }
        built = sum(int(np.prod(v.shape)) for v in build_image_flow(config).trainable_variables)
        assert image_training_bytes(config)[0] == built


def test_a_run_that_fails_before_its_first_checkpoint_leaves_no_run_folder(
    tmp_path, capsys, monkeypatch
):
    import tfp_flows.training as training
    from tfp_flows.training.checkpoints import CheckpointError

    def fails_in_its_first_step(flow, target, *, callbacks, **kwargs):
        os.makedirs(callbacks[0].directory)  # as fit does before its first step
        raise CheckpointError("simulated failure in the first step")

    monkeypatch.setattr(training, "fit", fails_in_its_first_step)
    out = tmp_path / "run"
    assert main(["train", "banana", *SMALL, "--out", str(out)]) == 2
    _assert_one_line_error(capsys, "simulated failure in the first step")
    assert not out.exists()
    mine = tmp_path / "mine"  # a folder the user made: kept, with only what was there before
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    assert main(["train", "banana", *SMALL, "--out", str(mine)]) == 2
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]


def test_an_unexpected_failure_while_building_leaves_no_run_folder(tmp_path, monkeypatch):
    import tfp_flows.cli.app as cli

    def out_of_memory(config):
        raise MemoryError("simulated")

    monkeypatch.setattr(cli, "_build_flow", out_of_memory)
    out = tmp_path / "run"
    with pytest.raises(MemoryError):
        main(["train", "banana", *SMALL, "--out", str(out)])
    assert not out.exists()


@pytest.mark.skipif(
    not espeak.espeak_available(),
    reason="eSpeak NG is not installed: pip install espeakng-loader (the `speech` extra)",
)
@pytest.mark.slow
def test_train_speech_writes_metrics_a_mel_figure_and_wavs(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TFP_FLOWS_DATA", str(tmp_path / "data"))  # the corpus cache
    out = tmp_path / "speech"
    argv = ["train", "speech", "--sentences", "10", "--steps", "1", "--hidden", "4"]
    assert main([*argv, "--layers", "1", "--batch-size", "2", "--out", str(out), "--quiet"]) == 0
    assert "MCD" in capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test_sentences"] == 1 and metrics["settings"]["hidden"] == [4]
    flow = metrics["flow"]
    assert np.isfinite(flow["nll"]) and np.isfinite(metrics["gaussian"]["nll"])
    assert flow["mcd@0.0"] != flow["mcd@0.667"]  # the temperature reaches the samples
    assert "nll" not in metrics["l1"] and metrics["l1"]["mcd@0.0"] > 0
    assert (out / "mels.png").stat().st_size > 0
    wavs = ["target.wav", "flow_T0.wav", "flow_T0.667.wav", "L1.wav", "Gaussian_mean.wav"]
    assert metrics["wavs"] == wavs
    frames = len(tff.datasets.speech("test", num_sentences=10).mels[0]) // 2 * 2
    for name in wavs:
        with wave.open(str(out / name)) as audio:  # every row has the target's frames
            assert audio.getnframes() == (frames - 1) * 256, name
    assert main(["evaluate", str(out)]) == 2
    assert "is a speech run" in capsys.readouterr().err
    assert main([*argv, "--out", str(out)]) == 2
    assert "already holds a run" in capsys.readouterr().err
