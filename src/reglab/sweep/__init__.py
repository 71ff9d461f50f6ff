"""Sweeps: grids of run specs, executors (batched, local processes, Ray), and a Parquet store.

:func:`run_sweep` stores one row per run in a folder; :func:`run_grid` returns the rows as a
DataFrame in memory (the claims suite's curves over λ).

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

import pandas as pd

from reglab._hold import hold_point
from reglab.data import Dataset
from reglab.losses import MODEL_OF_TASK
from reglab.sweep.batched import (
    BatchedExecutor,
    batch_key,
    fit_batched,
    why_not_batched,
)
from reglab.sweep.local import LocalExecutor
from reglab.sweep.ray_exec import RayExecutor
from reglab.sweep.runner import (
    HISTORY_KEY,
    Executor,
    SerialExecutor,
    failed_row,
    fit_run,
    row_from_result,
    run_one,
)
from reglab.sweep.spec import Run, expand_sweep, load_sweep, param_column, run_id
from reglab.sweep.store import ResultStore
from reglab.training import FitResult

__all__ = [
    "BatchedExecutor", "EXECUTORS", "Executor", "LocalExecutor", "RayExecutor", "ResultStore", "Run",
    "SerialExecutor", "SweepSummary", "batch_key", "expand_sweep", "fit_batched", "get_executor", "load_sweep",
    "run_grid", "run_id", "run_one", "run_sweep", "why_not_batched",
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
        hold_point("sweep-row")

    ex.run(todo, on_row)
    summary.seconds = time.perf_counter() - t0
    return summary


def _fit_on(spec: Mapping[str, Any], data: Dataset) -> FitResult:
    """``fit()`` on a run spec with ``data`` in place of the one the spec names (divergence stops)."""
    from reglab.penalties import penalty_from_config
    from reglab.spec import DTYPES, validate_spec
    from reglab.training import fit

    s = validate_spec(spec)
    kwargs: dict[str, Any] = {k: v for k, v in s.items() if k not in ("data", "penalties", "dtype", "model")}
    kwargs.update(model=s.get("model") or MODEL_OF_TASK[data.task], data=data, on_divergence="stop",
                  penalties=[penalty_from_config(p) for p in s.get("penalties") or []])
    if "dtype" in s:
        kwargs["dtype"] = DTYPES[s["dtype"]]
    return fit(**kwargs)


def _rows_in_process(runs: list[Run], executor: str, data: Dataset | None
                     ) -> dict[str, tuple[dict[str, Any], FitResult | None]]:
    """Row and FitResult of every run, trained in this process (stacked groups where they batch)."""
    out: dict[str, tuple[dict[str, Any], FitResult | None]] = {}
    alone: list[tuple[Run, str | None]] = [(r, None) for r in runs]
    if executor == "batched":
        groups, refused = BatchedExecutor().plan(runs)
        alone = [(r, why) for r, why in refused]
        for group in groups:
            t0 = time.perf_counter()
            try:
                results = fit_batched(group, data=data)
            except Exception as err:  # noqa: BLE001 - a failed group is reported run by run
                for r in group:
                    out[r.run_id] = (failed_row(r, executor, err, (time.perf_counter() - t0) / len(group)), None)
                continue
            for r, (res, seconds) in zip(group, results):
                out[r.run_id] = (row_from_result(r, res, executor, elapsed=seconds, batched_with=len(group)), res)
    for r, why in alone:
        t0 = time.perf_counter()
        try:
            res = fit_run(r.spec) if data is None else _fit_on(r.spec, data)
        except Exception as err:  # noqa: BLE001 - a failed run is a row with its error
            out[r.run_id] = ({**failed_row(r, executor, err, time.perf_counter() - t0), "batch_reason": why}, None)
            continue
        out[r.run_id] = ({**row_from_result(r, res, executor), "batch_reason": why}, res)
    return out


def run_grid(base: Mapping[str, Any], grid: Mapping[str, Any] | None = None, executor: str | Executor = "batched",
             *, data: Dataset | None = None, keep_fits: bool = False) -> pd.DataFrame:
    """Run a grid around a base spec and return its summary rows as a DataFrame, in grid order (no store).

    The in-memory counterpart of :func:`run_sweep`, for code that wants the numbers of a curve
    over λ (or seeds, or learning rates) rather than a folder: the claims suite uses it. With the
    default ``batched`` executor, runs that differ only in strength, ``l1_ratio``, learning rate or
    seed train as one stacked model; the others (see :func:`why_not_batched`) run one by one.

    Parameters
    ----------
    base : mapping
        A run spec (see :mod:`reglab.spec`).
    grid : mapping, optional
        Dotted key -> list of values, tied groups allowed (see :mod:`reglab.sweep.spec`); no grid
        is the single base run.
    executor : str or Executor
        ``batched`` (default), ``serial``, ``local`` or ``ray``, or an executor object. With
        ``data`` or ``keep_fits`` only ``batched`` and ``serial`` (in this process) are allowed.
    data : Dataset, optional
        Train every run on this dataset instead of the one ``base["data"]`` names, which is then
        only a label (it still enters the run ids). For data no spec can name, such as a
        validation split carved from a training part.
    keep_fits : bool
        Add a ``fit`` column holding each run's :class:`~reglab.training.FitResult` (None for a failed
        run), for numbers the row does not carry (per-sample losses, a tensor's entries).

    Returns
    -------
    pandas.DataFrame
        One row per run, in the order of :func:`expand_sweep`: a ``p_<key>`` column per grid key
        (:func:`~reglab.sweep.spec.param_column`), then the row of
        :func:`~reglab.sweep.runner.row_from_result` (``status``, ``train_loss``, ``test_loss``,
        ``null_train_loss``, ``null_test_loss``, ``l2_norm``, ``exact_zeros``, ``tensors`` as JSON,
        ...) without the logged history; ``batch_reason`` says why a run did not batch.

    Raises
    ------
    ValueError
        A malformed grid or spec, or an executor that cannot take ``data`` / ``keep_fits``.

    Examples
    --------
    >>> df = run_grid({"data": {"scenario": "pure_noise", "n": 40, "p": 3}, "steps": 20, "dtype": "float64",
    ...                "penalties": [{"kind": "l2", "strength": 0.0}]},
    ...               {"penalties.0.strength": [0.0, 0.1, 1.0]})
    >>> list(df["p_penalties_0_strength"]), list(df["batched_with"]), list(df["status"].unique())
    ([0.0, 0.1, 1.0], [3, 3, 3], ['max_steps'])
    >>> bool(df["l2_norm"].is_monotonic_decreasing)
    True
    """
    runs = expand_sweep({"base": dict(base), "grid": dict(grid or {})})
    if data is not None or keep_fits:
        if executor not in ("batched", "serial"):
            raise ValueError(f"run_grid with data= or keep_fits=True trains in this process: use executor='batched' "
                             f"or 'serial', not {executor!r}.")
        by_id = _rows_in_process(runs, str(executor), data)
    else:
        ex = get_executor(executor) if isinstance(executor, str) else executor
        collected: dict[str, tuple[dict[str, Any], FitResult | None]] = {}
        ex.run(runs, lambda row: collected.__setitem__(row["run_id"], (row, None)))
        by_id = collected
    missing = [r.run_id for r in runs if r.run_id not in by_id]
    if missing:
        raise RuntimeError(f"The executor returned no row for {len(missing)} run(s) ({', '.join(missing[:3])}...).")
    records = []
    for r in runs:
        row, res = by_id[r.run_id]
        rec: dict[str, Any] = {param_column(k): v for k, v in r.params.items()}
        rec.update({k: v for k, v in row.items() if k != HISTORY_KEY})
        rec.setdefault("batch_reason", None)
        if keep_fits:
            rec["fit"] = res
        records.append(rec)
    return pd.DataFrame.from_records(records)
