"""The Parquet store: atomic parts, resume, DuckDB queries, and a sweep killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from reglab._hold import ENV
from reglab.sweep import ResultStore, expand_sweep, run_sweep

SWEEP = {
    "base": {"data": {"scenario": "linear_regression", "n": 50, "p": 4, "n_test": 10},
             "penalties": [{"kind": "l1", "strength": 0.1, "update": "proximal"}], "lr": 0.05, "steps": 30},
    "grid": {"penalties.0.strength": [0.0, 0.01, 0.1], "seed": [0, 1]},
}


def test_rows_carry_parameters_losses_null_model_norms_zeros_status_and_environment(tmp_path: Path) -> None:
    summary = run_sweep(SWEEP, tmp_path, "batched")
    assert (summary.total, summary.done, summary.failed) == (6, 6, 0)
    df = ResultStore(tmp_path).query(
        "SELECT p_penalties_0_strength AS lam, p_seed, status, train_loss, test_loss, null_train_loss, "
        "null_test_loss, l1_norm, exact_zeros, torch_version, threads FROM runs ORDER BY lam, p_seed")
    assert df["lam"].tolist() == [0.0, 0.0, 0.01, 0.01, 0.1, 0.1]
    assert set(df["status"]) == {"max_steps"}
    assert (df["train_loss"] < df["null_train_loss"]).all()
    assert df["test_loss"].notna().all() and df["null_test_loss"].notna().all()
    assert df["threads"].min() >= 1 and df["torch_version"].str.len().min() > 0
    # a larger λ never leaves a larger L1 norm, seed by seed
    for seed in (0, 1):
        norms = df[df.p_seed == seed]["l1_norm"].tolist()
        assert norms == sorted(norms, reverse=True)


def test_a_stored_folder_refuses_a_second_sweep_without_resume(tmp_path: Path) -> None:
    run_sweep(SWEEP, tmp_path, "batched")
    with pytest.raises(ValueError, match="--resume"):
        run_sweep(SWEEP, tmp_path, "batched")
    again = run_sweep(SWEEP, tmp_path, "batched", resume=True)
    assert (again.done, again.skipped) == (0, 6)


def test_a_failing_run_is_stored_with_its_error_and_the_sweep_goes_on(tmp_path: Path) -> None:
    sweep = {"base": {"data": {"scenario": "zero_column", "n": 30, "p": 3}, "steps": 5},
             "grid": {"model_args": [{}, {"hidden": [4]}]}}  # hidden is not an argument of linear
    summary = run_sweep(sweep, tmp_path, "batched")
    assert (summary.done, summary.failed) == (2, 1)
    df = ResultStore(tmp_path).query("SELECT status, error FROM runs ORDER BY status")
    assert df["status"].tolist() == ["failed", "max_steps"]
    assert "hidden" in df["error"][0] and "ValueError" in df["error"][0]


def test_a_sweep_killed_with_sigkill_then_resumed_stores_every_run_exactly_once(tmp_path: Path) -> None:
    sweep = {"base": {"data": {"scenario": "linear_regression", "n": 200, "p": 10}, "steps": 300, "lr": 0.01,
                      "penalties": [{"kind": "l2", "strength": 0.01}]},
             "grid": {"penalties.0.strength": [0.001 * i for i in range(16)]}}
    script = textwrap.dedent(f"""
        from reglab.sweep import run_sweep
        run_sweep({sweep!r}, {str(tmp_path)!r}, "serial")
    """)
    # the sweep holds after its third stored row (reglab._hold) until it is killed: the kill lands
    # mid-sweep on any machine, fast or loaded
    parts = tmp_path / "parts"
    ready = tmp_path.parent / f"{tmp_path.name}.ready"
    proc = subprocess.Popen([sys.executable, "-c", script], env={**os.environ, ENV: f"sweep-row#3:{ready}"})
    deadline = time.monotonic() + 600
    try:
        while time.monotonic() < deadline and not ready.exists() and proc.poll() is None:
            time.sleep(0.01)  # waiting for the sweep to reach the point; it holds there, so nothing races
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    store = ResultStore(tmp_path)
    before = store.stored_ids()
    assert len(before) == 3, "the kill lands after the third stored run"
    for part in store.part_files():  # every complete part reads back whole
        assert pq.read_table(part).num_rows == 1
    summary = run_sweep(sweep, tmp_path, "batched", resume=True)  # any executor resumes any other
    assert summary.skipped == len(before) and summary.done == 16 - len(before)
    ids = store.query("SELECT run_id FROM runs")["run_id"].tolist()
    assert sorted(ids) == sorted(r.run_id for r in expand_sweep(sweep))
    assert not list(parts.glob(".tmp-*"))


def test_a_temporary_part_left_by_a_killed_writer_is_ignored_and_removed(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    (store.parts / ".tmp-part-dead.parquet").write_bytes(b"PAR1 truncated")
    assert store.stored_ids() == set()
    summary = run_sweep(SWEEP, tmp_path, "batched")
    assert summary.done == 6 and not list(store.parts.glob(".tmp-*"))


def test_kept_histories_are_the_fits_own_history_run_by_run(tmp_path: Path) -> None:
    from reglab.sweep.runner import fit_run

    run_sweep(SWEEP, tmp_path, "batched", keep_history=True)
    store = ResultStore(tmp_path)
    run = expand_sweep(SWEEP)[3]
    hist = store.history(run.run_id)
    expected = fit_run(run.spec).history
    assert hist["step"].tolist() == expected.step
    assert hist["objective"].tolist() == pytest.approx(expected.objective, rel=1e-10)
    with pytest.raises(FileNotFoundError, match="keep_history"):
        ResultStore(tmp_path / "other").history(run.run_id)
