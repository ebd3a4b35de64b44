"""The ``tfp-flows`` command end to end (small budgets)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tfp_flows.cli import main


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "banana"
    status = main(["train", "banana", "--steps", "300", "--layers", "4", "--hidden", "32", "32",
                   "--out", str(out), "--quiet"])
    assert status == 0
    return out


def test_train_writes_checkpoint_metrics_and_figures(run_dir):
    for name in ("config.json", "metrics.json", "loss.png", "density.png", "samples.png",
                 "trajectory.png"):
        assert (run_dir / name).stat().st_size > 0, name
    assert any((run_dir / "checkpoint").glob("ckpt-300.index"))


def test_metrics_json_holds_consistent_numbers(run_dir):
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["steps"] == 300 and metrics["wall_time_s"] > 0
    assert metrics["entropy"] == pytest.approx(4.2242, abs=1e-4)
    # KL gap = test NLL - entropy, up to Monte-Carlo noise of two sample sets
    assert metrics["kl_gap"] == pytest.approx(metrics["test_nll"] - metrics["entropy"], abs=0.05)
    assert 0 <= metrics["kl_gap"] < 0.5
    assert metrics["settings"]["layers"] == 4 and metrics["settings"]["target"] == "banana"


def test_evaluate_recomputes_the_same_metrics_from_the_checkpoint(run_dir, capsys):
    assert main(["evaluate", str(run_dir)]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    written = json.loads((run_dir / "metrics.json").read_text())
    assert evaluated["test_nll"] == pytest.approx(written["test_nll"], abs=1e-5)
    assert evaluated["kl_gap"] == pytest.approx(written["kl_gap"], abs=1e-5)


@pytest.mark.parametrize("suffix", [".npy", ".csv"])
def test_sample_writes_files(run_dir, tmp_path, suffix):
    path = tmp_path / f"samples{suffix}"
    assert main(["sample", str(run_dir), "-n", "50", "-o", str(path)]) == 0
    samples = np.load(path) if suffix == ".npy" else np.loadtxt(path, delimiter=",", skiprows=1)
    assert samples.shape == (50, 2) and np.all(np.isfinite(samples))


def test_resume_continues_to_more_steps(run_dir):
    assert main(["train", "banana", "--steps", "400", "--layers", "4", "--hidden", "32", "32",
                 "--out", str(run_dir), "--resume", "--quiet"]) == 0
    assert json.loads((run_dir / "metrics.json").read_text())["steps"] == 400


def test_targets_lists_every_target(capsys):
    assert main(["targets"]) == 0
    out = capsys.readouterr().out
    assert "banana" in out and "moons" in out and "4.2242" in out


@pytest.mark.parametrize("argv, message", [
    (["train", "nowhere"], "unknown target 'nowhere'; valid targets: banana"),
    (["train", "--steps", "0"], "--steps must be positive, got 0"),
    (["train", "--steps", "-5"], "--steps must be positive, got -5"),
    (["evaluate", "/nonexistent/run"], "holds no trained run"),
    (["sample", "/nonexistent/run", "-o", "x.npy"], "holds no trained run"),
    (["train", "--out", "/proc/forbidden/run", "--steps", "1"], "cannot write to output folder"),
])
def test_errors_are_one_line_and_a_non_zero_exit(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_python_dash_m_is_the_same_command():
    result = subprocess.run([sys.executable, "-m", "tfp_flows", "train", "nowhere"],
                            capture_output=True, text=True, env=dict(os.environ))
    assert result.returncode == 2
    assert result.stderr.startswith("tfp-flows: error: unknown target")
    assert result.stderr.count("\n") == 1  # one line, no TensorFlow start-up noise
