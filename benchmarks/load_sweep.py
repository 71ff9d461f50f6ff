"""Load: a sweep of many small runs on the local executor; every row stored once, memory flat.

Runs one sweep of ``--runs`` tiny fits (a grid over strength × seed) with ``LocalExecutor`` and, as
rows are stored, reads memory from ``/proc`` (Linux): the parent's resident set (VmRSS) and peak
(VmHWM), and the workers' (the parent's child processes). At every quarter of the runs it prints
one line; at the end it checks that the store holds every run id exactly once.

Usage::

    .venv/bin/python benchmarks/load_sweep.py --runs 1000 --workers 2

Prints a Markdown table (pasted into docs/reliability.md).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from reglab.sweep import LocalExecutor, ResultStore, expand_sweep, run_sweep


def _status_kb(pid: int, field: str) -> int:
    """A ``/proc/<pid>/status`` field in KiB (0 when the process is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def children(pid: int) -> list[int]:
    """Direct child processes of ``pid`` (from ``/proc/<pid>/task/*/children``)."""
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out.extend(int(c) for c in (task / "children").read_text().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return out


def memory() -> dict[str, float]:
    """MiB: parent RSS and peak RSS, and the sum over its children (the pool's workers and
    multiprocessing's resource tracker) of RSS and peak."""
    me = os.getpid()
    kids = children(me)
    return {"parent_rss": _status_kb(me, "VmRSS") / 1024, "parent_peak": _status_kb(me, "VmHWM") / 1024,
            "workers_rss": sum(_status_kb(k, "VmRSS") for k in kids) / 1024,
            "workers_peak": sum(_status_kb(k, "VmHWM") for k in kids) / 1024, "n_workers": len(kids)}


def load_sweep(n_runs: int) -> dict[str, Any]:
    """A sweep of ``n_runs`` tiny runs (strength × seed), each a 40×3 least-squares fit of 20 steps."""
    seeds = 10
    strengths = [round(1e-3 * (i + 1), 6) for i in range(-(-n_runs // seeds))]
    sweep = {"base": {"data": {"scenario": "zero_column", "n": 40, "p": 3}, "steps": 20, "lr": 0.05,
                      "penalties": [{"kind": "l2", "strength": 0.1}]},
             "grid": {"penalties.0.strength": strengths, "seed": list(range(seeds))}}
    return sweep


def measure(n_runs: int, workers: int, out: Path, marks: int = 4) -> tuple[list[dict[str, float]], dict[str, Any]]:
    """Run the sweep into ``out``; memory at every ``n_runs / marks`` stored rows, and the store check."""
    sweep = load_sweep(n_runs)
    runs = expand_sweep(sweep)[:n_runs]
    at = {round(n_runs * (i + 1) / marks) for i in range(marks)}
    lines: list[dict[str, float]] = []
    t0 = time.perf_counter()

    def on_progress(summary: Any, row: dict[str, Any]) -> None:
        if summary.done in at:
            lines.append({"rows": summary.done, "seconds": time.perf_counter() - t0, **memory()})

    summary = run_sweep(runs, out, LocalExecutor(workers=workers, threads=1), on_progress=on_progress)
    ids = ResultStore(out).query("SELECT run_id FROM runs")["run_id"].tolist()
    check = {"expected": len(runs), "stored_rows": len(ids), "distinct": len(set(ids)),
             "missing": len({r.run_id for r in runs} - set(ids)), "failed": summary.failed,
             "seconds": summary.seconds}
    return lines, check


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        lines, check = measure(args.runs, args.workers, Path(tmp) / "store")
    print(f"`{' '.join([Path(sys.executable).name, *sys.argv])}` — {platform.machine()}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}, torch {torch.__version__}, {args.workers} workers × 1 thread\n")
    print("| rows stored | s | parent RSS MiB | parent peak MiB | child processes | children RSS MiB (sum) "
          "| children peak MiB (sum) |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for ln in lines:
        print(f"| {ln['rows']:.0f} | {ln['seconds']:.1f} | {ln['parent_rss']:.1f} | {ln['parent_peak']:.1f} | "
              f"{ln['n_workers']:.0f} | {ln['workers_rss']:.1f} | {ln['workers_peak']:.1f} |")
    print(f"\nStore: {check['stored_rows']} rows for {check['expected']} runs, {check['distinct']} distinct run ids, "
          f"{check['missing']} missing, {check['failed']} failed; {check['seconds']:.1f} s.")
    ok = check["stored_rows"] == check["distinct"] == check["expected"] and check["missing"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
