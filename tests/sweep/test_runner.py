"""Rows: recorded runs carry diagnose() counts; failures carry their error."""

from __future__ import annotations

import json

from reglab.sweep import BatchedExecutor, expand_sweep, run_one


def test_a_recorded_run_falls_back_from_batched_and_its_row_carries_diagnose_counts() -> None:
    runs = expand_sweep({"base": {"data": {"scenario": "zero_column", "n": 40, "p": 3}, "steps": 30, "record": True,
                                  "penalties": [{"kind": "l2", "strength": 0.1}]}})
    rows: list[dict] = []
    BatchedExecutor().run(runs, rows.append)
    (row,) = rows
    assert "record" in row["batch_reason"] and row["diagnose_error"] is None
    counts = json.loads(row["diagnose"])
    assert sum(counts.values()) == 4  # 3 weights and the bias, every one classified


def test_a_run_that_raises_becomes_a_failed_row_with_the_error_type_and_message() -> None:
    run = expand_sweep({"base": {"data": {"scenario": "zero_column", "n": 40, "p": 3}, "model": "linear",
                                 "model_args": {"width": 3}}})[0]
    row = run_one(run)
    assert row["status"] == "failed" and row["error"].startswith("ValueError: Unknown argument(s) ['width']")
