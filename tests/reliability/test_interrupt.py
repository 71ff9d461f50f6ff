"""Ctrl-C (SIGINT) on ``reglab sweep`` and ``reglab claims``: clean stop, what finished kept, exit 130."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from reglab.sweep import ResultStore, expand_sweep, run_sweep

REGLAB = str(Path(sys.executable).with_name("reglab"))
ROOT = Path(__file__).resolve().parents[2]

SWEEP = {
    "base": {"data": {"scenario": "zero_column", "n": 40, "p": 3}, "penalties": [{"kind": "l2", "strength": 0.1}],
             "lr": 0.05, "steps": 30},
    "grid": {"penalties.0.strength": [round(0.001 * (i + 1), 4) for i in range(20)], "seed": [0, 1]},
}


def _interrupt_when(cmd: list[str], ready: Callable[[], bool], timeout: float = 90) -> subprocess.CompletedProcess[str]:
    """Start ``cmd``, send SIGINT as soon as ``ready()`` holds, and return the finished process."""
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout
    while not ready() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    assert proc.poll() is None, "the command ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


@pytest.mark.parametrize("executor", ["serial", "local"])
def test_sweep_interrupted_by_sigint_keeps_stored_runs_and_resumes(executor: str, tmp_path: Path) -> None:
    spec = tmp_path / "sweep.yaml"
    spec.write_text(yaml.safe_dump(SWEEP))
    out = tmp_path / "runs"
    cmd = [REGLAB, "sweep", str(spec), "--out", str(out), "--executor", executor]
    if executor == "local":
        cmd += ["--workers", "2"]
    done = _interrupt_when(cmd, lambda: (out / "parts").is_dir() and any((out / "parts").glob("*.parquet")))
    assert done.returncode == 130, done.stderr
    assert "Traceback" not in done.stderr
    assert f"--out {out} --executor {executor} --resume" in done.stderr
    store = ResultStore(out)
    rows = store.read()
    total = len(expand_sweep(SWEEP))
    assert 1 <= len(rows) < total
    assert rows["run_id"].is_unique
    assert f"Interrupted: {len(rows)} of {total} run(s)" in " ".join(done.stderr.split())
    summary = run_sweep(SWEEP, out, "serial", resume=True)
    assert summary.skipped == len(rows) and summary.done == total - len(rows)
    after = store.read()
    assert len(after) == total and after["run_id"].is_unique


def test_claims_interrupted_by_sigint_write_a_partial_report_and_say_how_to_resume(tmp_path: Path) -> None:
    out = tmp_path / "report"
    ids = ["stuck-weight", "l2-decay", "null-model", "weak-dependence", "sparsity", "l1-proximal"]
    cmd = [REGLAB, "claims", "--quick", "--out", str(out), "--only", *ids]
    results = out / "results.json"
    done = _interrupt_when(cmd, results.exists)
    assert done.returncode == 130, done.stderr
    assert "Traceback" not in done.stderr
    payload = json.loads(results.read_text())
    finished = [c["id"] for c in payload["claims"]]
    assert payload["partial"] is True
    assert 1 <= len(finished) < len(ids) and finished == ids[: len(finished)]
    assert payload["remaining"] == ids[len(finished):]
    assert "Partial report" in (out / "claims.md").read_text()
    assert "Partial report" in (out / "index.html").read_text()
    message = " ".join(done.stderr.split())
    assert f"reglab claims --only {' '.join(ids[len(finished):])} --out {out}-rest --seed 0 --quick" in message
