"""Sweeps: grids of run specs, executors (batched, local processes, Ray), and a Parquet store.

>>> from reglab.sweep import expand_sweep, run_sweep
>>> sweep = {"base": {"data": {"scenario": "zero_column", "n": 40, "p": 3},
...                   "penalties": [{"kind": "l2", "strength": 0.1}], "lr": 0.05, "steps": 50},
...          "grid": {"penalties.0.strength": [0.01, 0.1, 1.0]}}
>>> import tempfile; out = tempfile.mkdtemp()
>>> summary = run_sweep(sweep, out)
>>> summary.done, summary.failed, summary.skipped
(3, 0, 0)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from reglab.sweep.batched import BatchedExecutor, batch_key, fit_batched, why_not_batched
from reglab.sweep.local import LocalExecutor
from reglab.sweep.ray_exec import RayExecutor
from reglab.sweep.runner import Executor, SerialExecutor, run_one
from reglab.sweep.spec import Run, expand_sweep, load_sweep, run_id
from reglab.sweep.store import ResultStore

__all__ = [
    "BatchedExecutor", "EXECUTORS", "Executor", "LocalExecutor", "RayExecutor", "ResultStore", "Run",
    "SerialExecutor", "SweepSummary", "batch_key", "expand_sweep", "fit_batched", "get_executor", "load_sweep",
    "run_id", "run_one", "run_sweep", "why_not_batched",
]

EXECUTORS: Final = ("batched", "local", "ray", "serial")


def get_executor(name: str, **options: Any) -> Executor:
    """An executor by name: ``batched`` (default), ``local``, ``ray`` or ``serial`` (in process)."""
    if name == "batched":
        return BatchedExecutor(**options)
    if name == "local":
        return LocalExecutor(**options)
    if name == "ray":
        return RayExecutor(**options)
    if name == "serial":
        return SerialExecutor()
    raise ValueError(f"Unknown executor {name!r}. Choose one of {', '.join(EXECUTORS)}.")


@dataclass
class SweepSummary:
    """What a call of :func:`run_sweep` did: runs stored now (``done``, of which ``failed``),
    runs skipped because already stored, and the seconds it took."""

    total: int
    done: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0


def run_sweep(sweep: Mapping[str, Any] | list[Run], out: str | Path, executor: str | Executor = "batched", *,
              resume: bool = False, keep_history: bool = False, on_progress: Callable[[SweepSummary, dict[str, Any]], None] | None = None
              ) -> SweepSummary:
    """Expand a sweep, run what is not stored yet, and store one row per run as it finishes.

    Parameters
    ----------
    sweep : mapping or list of Run
        ``{"base": spec, "grid": {...}}`` (see :mod:`reglab.sweep.spec`), or runs already expanded.
    out : str or Path
        The store folder.
    executor : str or Executor
    resume : bool
        Skip runs whose id is already stored. Without it, a folder that already holds rows is an
        error (so that no run is stored twice).
    keep_history : bool
        Keep each run's logged history (``DIR/history/<run_id>.parquet``; :meth:`ResultStore.history`).
    on_progress : callable, optional
        Called with the summary so far and the row, after each row is stored.

    Returns
    -------
    SweepSummary
    """
    runs = list(sweep) if isinstance(sweep, list) else expand_sweep(sweep)
    store = ResultStore(out)
    store.clean_temporary()
    stored = store.stored_ids()
    if stored and not resume:
        raise ValueError(
            f"{str(out)!r} already holds {len(stored)} stored run(s). Use resume=True (--resume) to skip them, "
            "or choose another folder."
        )
    if isinstance(sweep, Mapping):
        store.write_sweep(sweep)
    todo = [r for r in runs if r.run_id not in stored]
    summary = SweepSummary(total=len(runs), skipped=len(runs) - len(todo))
    ex = get_executor(executor) if isinstance(executor, str) else executor
    t0 = time.perf_counter()

    def on_row(row: dict[str, Any]) -> None:
        store.write_rows([row], keep_history=keep_history)
        summary.done += 1
        summary.failed += row.get("status") == "failed"
        summary.seconds = time.perf_counter() - t0
        if on_progress is not None:
            on_progress(summary, row)

    ex.run(todo, on_row)
    summary.seconds = time.perf_counter() - t0
    return summary
