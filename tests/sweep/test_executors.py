"""The local process pool and Ray give the same rows (Ray on a local instance, started in the test)."""

from __future__ import annotations

import pytest

from reglab.sweep import LocalExecutor, RayExecutor, expand_sweep

SWEEP = {"base": {"data": {"scenario": "linear_regression", "n": 40, "p": 3, "n_test": 10}, "steps": 30,
                  "lr": 0.05, "penalties": [{"kind": "l1", "strength": 0.1, "update": "proximal"}]},
         "grid": {"tie": [{"penalties.0.strength": 0.01, "seed": 0, "model_args": {}},
                          {"penalties.0.strength": 1.0, "seed": 1, "model_args": {}},
                          # fails: hidden is not an argument of a linear model
                          {"penalties.0.strength": 0.1, "seed": 0, "model_args": {"hidden": [3]}}]}}

COMPARED = ("status", "steps", "lr", "seed", "train_loss", "test_loss", "null_test_loss", "l2_norm", "l1_norm",
            "exact_zeros", "threads")


def _rows(executor) -> dict[str, dict]:
    rows: list[dict] = []
    executor.run(expand_sweep(SWEEP), rows.append)
    return {r["run_id"]: r for r in rows}


@pytest.mark.slow
def test_ray_on_a_local_instance_gives_the_same_rows_as_the_local_process_pool() -> None:
    local = _rows(LocalExecutor(workers=1, threads=1))  # one process each: start-up dominates here
    ray_rows = _rows(RayExecutor(num_cpus=1, threads=1))
    assert set(local) == set(ray_rows) == {r.run_id for r in expand_sweep(SWEEP)}
    for rid, row in local.items():
        other = ray_rows[rid]
        assert (row["executor"], other["executor"]) == ("local", "ray")
        if row["status"] == "failed":
            assert other["status"] == "failed"
            assert row["error"].split(" (at ")[0] == other["error"].split(" (at ")[0]
            continue
        for key in COMPARED:
            assert other[key] == (row[key] if isinstance(row[key], str) else pytest.approx(row[key], rel=1e-12)), key
    assert sorted(r["status"] for r in local.values()) == ["failed", "max_steps", "max_steps"]
