"""Load: a local-executor sweep of 200 runs stores every row exactly once, with the parent's memory flat.

The full measurement (1,000 runs, parent and workers) is benchmarks/load_sweep.py; its output is in
docs/reliability.md.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

_SPEC = importlib.util.spec_from_file_location("load_sweep", Path(__file__).resolve().parents[2] / "benchmarks" / "load_sweep.py")
assert _SPEC is not None and _SPEC.loader is not None
load_sweep = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(load_sweep)

# a leak of one 40×3 dataset, model or history per run (≥ ~5 KiB each) over the last 150 rows
# would exceed this; allocator noise (a few hundred KiB) does not
GROWTH_MIB = 0.75


def test_local_sweep_of_200_runs_stores_each_row_once_and_parent_memory_stays_flat(tmp_path: Path) -> None:
    assert torch.get_num_threads() == 1
    lines, check = load_sweep.measure(200, workers=2, out=tmp_path / "store")
    assert check == {**check, "expected": 200, "stored_rows": 200, "distinct": 200, "missing": 0, "failed": 0}
    assert [ln["rows"] for ln in lines] == [50, 100, 150, 200]
    assert all(ln["n_workers"] >= 2 for ln in lines)  # measured while the pool was alive
    growth = lines[-1]["parent_rss"] - lines[0]["parent_rss"]
    assert growth < GROWTH_MIB, lines
