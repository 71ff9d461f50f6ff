"""The same sweep gives the same rows under every executor.

Stated tolerances (float64): losses, penalty, objective and norms agree to 1e-10 relative across
``batched`` (stacked models), ``serial``, ``local`` (spawned processes) and ``ray``; status, steps
and exact-zero counts (in total and per tensor) agree exactly. Rerun under the same executor and
thread count, rows are bit-identical.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import torch

from reglab.sweep import BatchedExecutor, LocalExecutor, RayExecutor, SerialExecutor, expand_sweep
from reglab.sweep.spec import Run

REL: float = 1e-10
FLOATS = ("lr", "train_loss", "test_loss", "null_train_loss", "null_test_loss", "penalty", "objective", "l2_norm",
          "l1_norm")
EXACT = ("status", "steps", "seed", "exact_zeros", "n_parameters")

# batched groups (gd, gradient/proximal/decoupled rules) beside runs batched cannot take (sgd, tol)
BASE: dict[str, Any] = {"data": {"scenario": "linear_regression", "n": 60, "p": 6, "n_test": 20}, "steps": 60,
                        "lr": 0.05, "penalties": [{"kind": "l1", "strength": 0.05, "update": "proximal"}]}
SWEEPS: list[dict[str, Any]] = [
    {"base": BASE, "grid": {"tie": [{"penalties.0.strength": 0.01, "seed": 0, "lr": 0.05},
                                    {"penalties.0.strength": 0.3, "seed": 1, "lr": 0.05},
                                    {"penalties.0.strength": 0.1, "seed": 2, "lr": 0.02}]}},
    {"base": {**BASE, "penalties": [{"kind": "l2", "strength": 0.1, "update": "decoupled"}]},
     "grid": {"seed": [3, 4]}},
    {"base": {**BASE, "penalties": [{"kind": "elasticnet", "strength": 0.1, "l1_ratio": 0.5, "update": "proximal"}]},
     "grid": {"seed": [5, 6]}},
    {"base": {**BASE, "optimizer": "sgd", "batch_size": 16, "seed": 7}},
    {"base": {**BASE, "tol": 1e-8, "steps": 200, "seed": 8}},
]


def _runs() -> list[Run]:
    return [run for sweep in SWEEPS for run in expand_sweep(sweep)]


def _rows(executor: Any, runs: list[Run] | None = None) -> dict[str, dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    executor.run(runs or _runs(), rows.append)
    return {r["run_id"]: r for r in rows}


def _comparable(row: dict[str, Any]) -> dict[str, Any]:
    """The row without what legitimately differs between two runs (timing, executor, batching)."""
    return {k: v for k, v in row.items()
            if k not in ("executor", "finished_at", "elapsed", "batched_with", "threads")}


def _assert_within_tolerance(a: dict[str, dict[str, Any]], b: dict[str, dict[str, Any]]) -> None:
    assert set(a) == set(b) == {r.run_id for r in _runs()}
    for rid, ra in a.items():
        rb = b[rid]
        assert ra["status"] != "failed", ra["error"]
        for key in EXACT:
            assert ra[key] == rb[key], (rid, key)
        for key in FLOATS:
            assert rb[key] == pytest.approx(ra[key], rel=REL, abs=0.0), (rid, key, ra[key], rb[key])
        ta, tb = json.loads(ra["tensors"]), json.loads(rb["tensors"])
        assert {n: t["exact_zeros"] for n, t in ta.items()} == {n: t["exact_zeros"] for n, t in tb.items()}
        for name in ta:
            for what in ("l2_norm", "l1_norm"):
                assert tb[name][what] == pytest.approx(ta[name][what], rel=REL, abs=0.0), (rid, name, what)


@pytest.fixture(scope="module")
def batched_rows() -> dict[str, dict[str, Any]]:
    rows = _rows(BatchedExecutor())
    assert sum(r["batched_with"] > 1 for r in rows.values()) >= 3  # the comparison covers stacked runs
    assert any(r["exact_zeros"] > 0 for r in rows.values())  # and exact zeros
    return rows


def test_batched_serial_and_local_rows_agree_within_stated_tolerances(batched_rows: dict[str, dict[str, Any]]) -> None:
    serial = _rows(SerialExecutor())
    _assert_within_tolerance(batched_rows, serial)
    # the local pool gets every run twice, so each run may land in two different worker processes
    runs = _runs()
    rows: list[dict[str, Any]] = []
    LocalExecutor(workers=2, threads=torch.get_num_threads()).run(runs + runs, rows.append)
    by_id: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_id.setdefault(r["run_id"], []).append(r)
    assert all(len(v) == 2 for v in by_id.values()) and len(by_id) == len(runs)
    for first, second in by_id.values():
        assert _comparable(first) == _comparable(second)  # bit-identical in two fresh processes
    _assert_within_tolerance(batched_rows, {k: v[0] for k, v in by_id.items()})
    # local workers and this process both run one thread: the same arithmetic, so the same bits
    assert torch.get_num_threads() == 1
    for rid, row in serial.items():
        assert _comparable(row) == _comparable(by_id[rid][0]), rid


def test_batched_and_serial_rows_are_bit_identical_when_rerun(batched_rows: dict[str, dict[str, Any]]) -> None:
    again = _rows(BatchedExecutor())
    assert {k: _comparable(v) for k, v in again.items()} == {k: _comparable(v) for k, v in batched_rows.items()}
    s1, s2 = _rows(SerialExecutor()), _rows(SerialExecutor())
    assert {k: _comparable(v) for k, v in s1.items()} == {k: _comparable(v) for k, v in s2.items()}


@pytest.mark.slow
def test_ray_rows_agree_with_batched_and_are_bit_identical_on_rerun(batched_rows: dict[str, dict[str, Any]]) -> None:
    import ray

    ex = RayExecutor(num_cpus=1, threads=1, shutdown=False)  # one Ray instance for both passes
    try:
        first = _rows(ex)
        second = _rows(ex)
    finally:
        ray.shutdown()
    _assert_within_tolerance(batched_rows, first)
    assert {k: _comparable(v) for k, v in first.items()} == {k: _comparable(v) for k, v in second.items()}
