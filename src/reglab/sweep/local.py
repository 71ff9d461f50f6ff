"""The local executor: a process pool on this machine, one run per task.

Workers start with the ``spawn`` method (a fresh interpreter: no state inherited from the parent,
no fork of a process holding torch threads), set ``torch.set_num_threads(threads)`` once, and fit
each run from its spec, whose explicit ``seed`` drives initialisation and shuffling, so a run gives
the same row whichever worker runs it.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from typing import Any

import torch

from reglab.sweep.runner import OnRow, failed_row, run_one
from reglab.sweep.spec import Run

__all__ = ["LocalExecutor"]


def _init_worker(threads: int) -> None:
    # Ctrl-C reaches the whole process group: the parent decides (stop, keep what finished), and a
    # worker interrupted mid-run would only turn its run into a spurious failed row
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(threads)


def _work(run: Run) -> dict[str, Any]:
    return run_one(run, "local")


class LocalExecutor:
    """Runs in a pool of ``workers`` processes with ``threads`` torch threads each.

    Parameters
    ----------
    workers : int, optional
        Processes (default: CPU count // threads, at least 1).
    threads : int
        ``torch.set_num_threads`` in every worker.

    Examples
    --------
    >>> from reglab.sweep import expand_sweep
    >>> runs = expand_sweep({"base": {"data": {"scenario": "zero_column", "n": 30, "p": 3}, "steps": 5}})
    >>> rows = []; LocalExecutor(workers=1).run(runs, rows.append)  # doctest: +SKIP
    """

    name = "local"

    def __init__(self, workers: int | None = None, threads: int = 1) -> None:
        if threads < 1:
            raise ValueError(f"threads must be ≥ 1; got {threads}.")
        self.threads = int(threads)
        self.workers = int(workers or max(1, (os.cpu_count() or 1) // self.threads))
        if self.workers < 1:
            raise ValueError(f"workers must be ≥ 1; got {workers}.")

    def run(self, runs: list[Run], on_row: OnRow) -> None:
        if not runs:
            return
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(self.workers, len(runs)), mp_context=ctx,
                                 initializer=_init_worker, initargs=(self.threads,)) as pool:
            # a future leaves this dict once its row is handed on: a finished run's row (with its
            # history) is not kept for the rest of the sweep, so memory stays flat in the run count
            futures: dict[Future[dict[str, Any]], Run] = {pool.submit(_work, r): r for r in runs}
            try:
                for fut in as_completed(futures):
                    run = futures.pop(fut)
                    try:
                        row = fut.result()
                    except Exception as err:  # noqa: BLE001 - a dead worker fails its run, not the sweep
                        row = failed_row(run, self.name, err)
                    del fut
                    on_row(row)
            except KeyboardInterrupt:
                # stop: drop the queued runs, let the running ones end, keep those that finished
                pool.shutdown(wait=True, cancel_futures=True)
                for fut in futures:
                    if fut.done() and not fut.cancelled() and fut.exception() is None:
                        on_row(fut.result())
                raise
