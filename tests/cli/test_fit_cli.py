"""``reglab fit``: --save, --record's diagnosis, the largest coefficients, --device, and the progress bar."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from rich.console import Console
from typer.testing import CliRunner

from reglab.cli import app
from reglab.cli.fit import FitProgressBar, largest_coefficients
from reglab.observe import Trajectory
from reglab.spec import load_spec, run_spec

DEMO = str(Path(__file__).resolve().parents[2] / "examples" / "demo.yaml")
runner = CliRunner()
SHORT = ["--steps", "60"]


def test_save_writes_the_model_summary_spec_and_trajectory(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = runner.invoke(app, ["fit", DEMO, *SHORT, "--record", "--save", str(out)])
    assert result.exit_code == 0, result.output
    names = {"model.pt", "summary.json", "spec.yaml", "trajectory.npz", "diagnosis.txt"}
    assert {p.name for p in out.iterdir()} == names
    assert "Saved to" in result.stdout
    spec = yaml.safe_load((out / "spec.yaml").read_text())
    assert spec["steps"] == 60 and spec["record"] is True
    again = run_spec(spec)  # the saved spec reproduces the run
    state = torch.load(out / "model.pt", weights_only=True)
    fresh = run_spec({**spec, "steps": 0}).model
    fresh.load_state_dict(state)
    for a, b in zip(fresh.parameters(), again.model.parameters()):
        assert torch.equal(a, b)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "max_steps" and summary["steps"] == 60
    traj = Trajectory.load(out / "trajectory.npz")
    np.testing.assert_array_equal(traj.values, again.trajectory.values)
    assert (out / "diagnosis.txt").read_text().startswith("class")


def test_save_without_recording_writes_no_trajectory(tmp_path: Path) -> None:
    result = runner.invoke(app, ["fit", DEMO, *SHORT, "--save", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    assert {p.name for p in (tmp_path / "r").iterdir()} == {"model.pt", "summary.json", "spec.yaml"}


def test_save_to_a_file_exits_2(tmp_path: Path) -> None:
    target = tmp_path / "f.txt"
    target.write_text("x")
    result = runner.invoke(app, ["fit", DEMO, *SHORT, "--save", str(target)])
    assert result.exit_code == 2 and "is a file; give a folder" in result.output


def test_record_prints_a_diagnosis() -> None:
    result = runner.invoke(app, ["fit", DEMO, *SHORT, "--record"])
    assert result.exit_code == 0, result.output
    assert "diagnosis of the recorded weights:" in result.stdout
    assert "class" in result.stdout and "count" in result.stdout
    plain = runner.invoke(app, ["fit", DEMO, *SHORT])
    assert "diagnosis" not in plain.stdout


def test_the_largest_coefficients_table_lists_the_biggest_weights_first() -> None:
    result = runner.invoke(app, ["fit", DEMO, *SHORT])
    assert result.exit_code == 0, result.output
    assert "largest coefficients" in result.stdout
    res = run_spec({**load_spec(DEMO), "steps": 60})
    top = largest_coefficients(res)
    w = res.model.linear.weight.detach().reshape(-1)
    assert len(top) == 5  # the demo's 5 weights; the bias is left out
    assert [v for _, v in top] == sorted(w.tolist(), key=abs, reverse=True)
    assert top[0][0] == f"linear.weight[0,{int(w.abs().argmax())}]"
    for name, _ in top:
        assert name in result.stdout


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
def test_device_cuda_without_a_gpu_exits_2_with_one_line() -> None:
    result = runner.invoke(app, ["fit", DEMO, *SHORT, "--device", "cuda"])
    assert result.exit_code == 2
    assert "no CUDA device is available" in result.output and "Traceback" not in result.output


def test_device_cpu_gives_the_same_json_and_json_stdout_is_only_the_document() -> None:
    a = runner.invoke(app, ["fit", DEMO, *SHORT, "--json"])
    b = runner.invoke(app, ["fit", DEMO, *SHORT, "--device", "cpu", "--json"])
    assert a.exit_code == b.exit_code == 0
    da, db = json.loads(a.stdout), json.loads(b.stdout)
    assert db["spec"].pop("device") == "cpu"
    da.pop("elapsed"), db.pop("elapsed")
    assert da == db
    assert a.stdout.count("\n") == 1  # one JSON line, no progress output


def test_the_progress_bar_shows_on_a_terminal_after_its_delay_and_is_transient() -> None:
    buf = io.StringIO()
    with FitProgressBar(Console(file=buf, force_terminal=True, width=80), delay=0.0) as bar:
        bar(0, 100)
        assert bar.progress is not None
        bar(50, 100)
        assert bar.progress.tasks[0].completed == 50
    assert bar.progress is None
    quiet = io.StringIO()
    with FitProgressBar(Console(file=quiet, force_terminal=True), delay=3600.0) as bar:
        bar(0, 100), bar(100, 100)  # a run shorter than the delay: no bar
    assert bar.progress is None and quiet.getvalue() == ""
    with FitProgressBar(Console(file=io.StringIO(), force_terminal=False), delay=0.0) as bar:
        bar(0, 10)  # not a terminal (a pipe, a log file): no bar
        assert bar.progress is None
