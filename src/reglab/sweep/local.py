"""The local executor: a process pool on this machine, one run per task.

Workers start with the ``spawn`` method (a fresh interpreter: no state inherited from the parent,
no fork of a process holding torch threads), set ``torch.set_num_threads(threads)`` once, and fit
each run from its spec, whose explicit ``seed`` drives initialisation and shuffling, so a run gives
the same row whichever worker runs it.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

from reglab._workers import init_worker
from reglab.sweep.runner import OnRow, failed_row, run_one
from reglab.sweep.spec import Run

__all__ = ["LocalExecutor"]


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
        workers = min(self.workers, len(runs))
        queue = iter(runs)
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx,
                                 initializer=init_worker, initargs=(self.threads,)) as pool:
            # at most one run per worker in flight: a run is handed to the pool only when a worker is
            # free, so a Ctrl-C stops the sweep after the runs in progress (not after a queue the pool
            # drains meanwhile), and a finished run's row (with its history) leaves memory once stored
            futures: dict[Future[dict[str, Any]], Run] = {}

            def submit_next() -> None:
                run = next(queue, None)
                if run is not None:
                    futures[pool.submit(_work, run)] = run

            for _ in range(workers):
                submit_next()
            try:
                while futures:
                    done, _ = wait(futures, return_when=FIRST_COMPLETED)
                    for fut in done:
                        on_row(self._row(fut, futures.pop(fut)))
                        submit_next()
            except KeyboardInterrupt:
                # stop: let the running ones end, keep those that finished
                pool.shutdown(wait=True, cancel_futures=True)
                for fut, run in futures.items():
                    if fut.done() and not fut.cancelled() and fut.exception() is None:
                        on_row(fut.result())
                raise

    def _row(self, fut: Future[dict[str, Any]], run: Run) -> dict[str, Any]:
        try:
            return fut.result()
        except Exception as err:  # noqa: BLE001 - a dead worker fails its run, not the sweep
            return failed_row(run, self.name, err)
