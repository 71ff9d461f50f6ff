"""Ctrl-C (SIGINT) on ``reglab sweep`` and ``reglab claims``: clean stop, what finished kept, exit 130."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from reglab._hold import ENV
from reglab.sweep import ResultStore, expand_sweep, run_sweep

REGLAB = str(Path(sys.executable).with_name("reglab"))
ROOT = Path(__file__).resolve().parents[2]

SWEEP = {
    "base": {"data": {"scenario": "zero_column", "n": 40, "p": 3}, "penalties": [{"kind": "l2", "strength": 0.1}],
             "lr": 0.05, "steps": 30},
    "grid": {"penalties.0.strength": [round(0.001 * (i + 1), 4) for i in range(20)], "seed": [0, 1]},
}


def _interrupt_at(cmd: list[str], point: str, tmp_path: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Start ``cmd`` held at hold point ``point`` (``reglab._hold``), send SIGINT once it waits there,
    and return the finished process.

    The command writes the ready file only when it has reached the point, and then waits for the
    signal: the interruption lands at the same moment of the work on any machine, fast or loaded.
    """
    ready = tmp_path / f"hold-{point}.ready"
    env = {**os.environ, ENV: f"{point}:{ready}"}
    # SIGINT at its default disposition in the child, whatever this process inherited (a background
    # job of a non-interactive shell starts with SIGINT ignored, and so would the command)
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + timeout
    while not ready.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)  # waiting for the command to reach the point; it holds there, so nothing races
    if not ready.exists():
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"{cmd} never reached hold point {point!r} (exit {proc.returncode}):\n{err[-2000:]}")
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"{cmd} did not stop within 300 s of SIGINT:\n{err[-2000:]}")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


@pytest.mark.parametrize("executor", ["serial", "local"])
def test_sweep_interrupted_by_sigint_keeps_stored_runs_and_resumes(executor: str, tmp_path: Path) -> None:
    spec = tmp_path / "sweep.yaml"
    spec.write_text(yaml.safe_dump(SWEEP))
    out = tmp_path / "runs"
    cmd = [REGLAB, "sweep", str(spec), "--out", str(out), "--executor", executor]
    if executor == "local":
        cmd += ["--workers", "2"]
    done = _interrupt_at(cmd, "sweep-row", tmp_path)
    assert done.returncode == 130, done.stderr
    assert "Traceback" not in done.stderr
    assert f"--out {out} --executor {executor} --resume" in done.stderr
    store = ResultStore(out)
    rows = store.read()
    total = len(expand_sweep(SWEEP))
    # held after the first stored row: at most the runs then in flight (one per worker) finish too
    assert 1 <= len(rows) <= 1 + (2 if executor == "local" else 0)
    assert rows["run_id"].is_unique
    assert f"Interrupted: {len(rows)} of {total} run(s)" in " ".join(done.stderr.split())
    summary = run_sweep(SWEEP, out, "serial", resume=True)
    assert summary.skipped == len(rows) and summary.done == total - len(rows)
    after = store.read()
    assert len(after) == total and after["run_id"].is_unique


@pytest.mark.parametrize("jobs", [1, 2])
def test_claims_interrupted_by_sigint_write_a_partial_report_and_say_how_to_resume(tmp_path: Path, jobs: int) -> None:
    out = tmp_path / "report"
    ids = ["stuck-weight", "l2-decay", "null-model", "weak-dependence", "sparsity", "l1-proximal"]
    cmd = [REGLAB, "claims", "--quick", "--out", str(out), "--jobs", str(jobs), "--only", *ids]
    results = out / "results.json"
    done = _interrupt_at(cmd, "claim", tmp_path)
    assert done.returncode == 130, done.stderr
    assert "Traceback" not in done.stderr
    payload = json.loads(results.read_text())
    finished = [c["id"] for c in payload["claims"]]
    assert payload["partial"] is True
    assert finished == ids[:1]  # held after the first claim: the interruption lands in the second
    assert payload["remaining"] == ids[len(finished):]
    assert "Partial report" in (out / "claims.md").read_text()
    assert "Partial report" in (out / "index.html").read_text()
    message = " ".join(done.stderr.split())
    assert f"reglab claims --only {' '.join(ids[len(finished):])} --out {out}-rest --seed 0 --quick" in message
