"""The claims: each a module with ``ID``, ``TITLE``, ``STATEMENT`` and ``run(config) -> ClaimResult``.

:data:`REGISTRY` maps each stable id to its module, in the order the report shows them.

Examples
--------
>>> from reglab.claims import REGISTRY, run_claim
>>> "l2-decay" in REGISTRY
True
"""

from __future__ import annotations

import importlib
import multiprocessing
import multiprocessing.connection
import os
import traceback
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from types import ModuleType
from typing import Any, Final

from reglab._hold import hold_point
from reglab._workers import init_worker
from reglab.claims.base import VERDICTS, ClaimResult, RunConfig

__all__ = ["CLAIM_IDS", "MAX_DEFAULT_JOBS", "REGISTRY", "VERDICTS", "ClaimResult", "RunConfig", "available_cores",
           "default_jobs", "get_claim", "iter_claims", "run_claim", "run_claims"]

# id -> module name under reglab.claims; the order is the report's order
_MODULES: Final = {
    "stuck-weight": "stuck_weight",
    "l2-decay": "l2_decay",
    "weak-dependence": "weak_dependence",
    "null-model": "null_model",
    "init-independence": "init_independence",
    "l1-oscillation": "l1_oscillation",
    "l1-proximal": "l1_proximal",
    "sparsity": "sparsity",
    "adam-l2-vs-decay": "adam_l2_vs_decay",
    "real-data": "real_data",
    "dead-units": "dead_units",
    "normalization": "normalization",
    "tsuruoka": "tsuruoka",
    "decoupled-lr": "decoupled_lr",
}


REGISTRY: Final[dict[str, str]] = dict(_MODULES)
CLAIM_IDS: Final = tuple(REGISTRY)


def get_claim(claim_id: str) -> ModuleType:
    """The module of claim ``claim_id``.

    Raises
    ------
    ValueError
        For an unknown id, naming the known ones.
    """
    if claim_id not in REGISTRY:
        raise ValueError(f"Unknown claim {claim_id!r}. Known claims: {', '.join(CLAIM_IDS)}.")
    module = importlib.import_module(f"reglab.claims.{REGISTRY[claim_id]}")
    if getattr(module, "ID", None) != claim_id:
        raise RuntimeError(f"reglab.claims.{REGISTRY[claim_id]} declares ID {getattr(module, 'ID', None)!r}, "
                           f"not {claim_id!r}.")
    return module


def run_claim(claim_id: str, config: RunConfig | None = None) -> ClaimResult:
    """Run one claim and return its :class:`ClaimResult`."""
    import torch

    from reglab.claims.base import RENDER_FIGURES

    config = config or RunConfig()
    torch.manual_seed(config.seed)
    token = RENDER_FIGURES.set(config.figures)
    try:
        result = get_claim(claim_id).run(config)
    finally:
        RENDER_FIGURES.reset(token)
    if result.id != claim_id:
        raise RuntimeError(f"claim {claim_id!r} returned a result for {result.id!r}.")
    return result


MAX_DEFAULT_JOBS: Final = 4  # each worker holds its own torch (~0.5 GB resident) and pays its imports (~5 s)


def default_jobs() -> int:
    """``reglab claims``' default ``--jobs``: the cores this process may use, at most :data:`MAX_DEFAULT_JOBS`."""
    return min(available_cores(), MAX_DEFAULT_JOBS)


def available_cores() -> int:
    """The CPU cores this process may run on (its affinity mask where the platform has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def iter_claims(ids: Sequence[str] | None = None, config: RunConfig | None = None, jobs: int = 1,
                threads: int = 1) -> Iterator[ClaimResult]:
    """Run the claims ``ids`` (all when None) and yield their results in the order of ``ids``.

    Parameters
    ----------
    ids : sequence of str, optional
        Claim ids; unknown ids raise ``ValueError`` before anything runs.
    config : RunConfig, optional
    jobs : int
        1 runs the claims one after the other in this process (at this process's torch threads). More runs them
        side by side: this process takes claims from the front of the list and ``jobs - 1`` fresh (spawned)
        worker processes, ``threads`` torch threads each, take them from the back, until the two ends meet. The
        results are the same (every claim seeds its own draws), only the wall time changes. A claim that fails
        in a worker raises here with the worker's traceback chained. Closing the iterator early (or an exception
        in the loop that consumes it, Ctrl-C included) stops the workers at once.
    threads : int
        Torch threads of each worker process when ``jobs > 1``.

    Yields
    ------
    ClaimResult
        In the order of ``ids``, each as soon as it and the ones before it have finished.

    Examples
    --------
    >>> from reglab.claims import RunConfig, iter_claims
    >>> [r.id for r in iter_claims(["l2-decay"], RunConfig(quick=True, figures=False))]
    ['l2-decay']
    """
    if jobs < 1 or threads < 1:
        raise ValueError(f"jobs and threads must be at least 1, got jobs={jobs}, threads={threads}.")
    chosen = list(dict.fromkeys(CLAIM_IDS if not ids else ids))
    for cid in chosen:
        get_claim(cid)  # fail on an unknown id before running anything
    config = config or RunConfig()
    if jobs == 1 or len(chosen) == 1:
        for cid in chosen:
            yield run_claim(cid, config)
        return
    yield from _side_by_side(chosen, config, min(jobs, len(chosen)), threads)


def _side_by_side(chosen: list[str], config: RunConfig, jobs: int, threads: int) -> Iterator[ClaimResult]:
    """:func:`iter_claims` for ``jobs > 1``: this process takes claims from the front of ``chosen`` while
    ``jobs - 1`` spawned workers take them from the back, until the two ends meet.

    This process starts at once (its imports are done) while the workers import torch, so their start-up
    overlaps the work instead of delaying it; each side takes its next claim the moment it is free, so the
    load balances itself. Results travel back through one pipe per worker; a worker's end of it closes when
    it exits, whether it finished or died, so waiting on the pipes never needs a timeout.
    """
    # spawn, not fork: a fork of a process holding torch's thread pools can hang
    ctx = multiprocessing.get_context("spawn")
    bounds = ctx.Array("i", [0, len(chosen)])  # chosen[front:back] is not taken yet
    workers: dict[Connection, BaseProcess] = {}
    try:
        for _ in range(jobs - 1):
            reader, writer = ctx.Pipe(duplex=False)
            process = ctx.Process(target=_work_from_the_back, args=(chosen, config, bounds, writer, threads),
                                  daemon=True)
            process.start()
            writer.close()  # the worker holds the only write end: its exit closes the pipe
            workers[reader] = process
        finished: dict[int, ClaimResult] = {}
        live = list(workers)
        for index in range(len(chosen)):
            while index not in finished:
                mine = _take(bounds, from_back=False)
                if mine is not None:
                    finished[mine] = run_claim(chosen[mine], config)
                    _receive(live, finished, block=False)
                elif live:
                    _receive(live, finished, block=True)
                else:
                    codes = ", ".join(str(p.exitcode) for p in workers.values())
                    raise RuntimeError(f"A claims worker process stopped before finishing claim {chosen[index]!r} "
                                       f"(worker exit codes: {codes}). Run it alone with --jobs 1 to see why.")
            yield finished.pop(index)
    finally:
        for process in workers.values():
            if process.is_alive():
                process.terminate()
            process.join()
        for reader in workers:
            reader.close()


def _take(bounds: Any, from_back: bool) -> int | None:
    """Reserve the next index of ``bounds = [front, back)`` from one end; None once none is left."""
    with bounds.get_lock():
        front, back = bounds[0], bounds[1]
        if front >= back:
            return None
        if from_back:
            bounds[1] = back - 1
            return back - 1
        bounds[0] = front + 1
        return front


def _receive(live: list[Connection], finished: dict[int, ClaimResult], block: bool) -> None:
    """Store what the workers sent (waiting for at least one message or exit when ``block``); drop the pipes
    of workers that exited. A claim that failed in a worker raises here, as it would in this process."""
    for reader in multiprocessing.connection.wait(live, timeout=None if block else 0):
        try:
            index, result, failure = reader.recv()
        except EOFError:  # the worker exited: everything it sent was read before this
            live.remove(reader)
            continue
        if failure is not None:
            error, remote = failure
            raise error from _RemoteTraceback(remote)
        finished[index] = result


class _RemoteTraceback(Exception):
    """A worker's traceback, chained to the exception re-raised here (as :mod:`multiprocessing.pool` does)."""

    def __str__(self) -> str:
        return f"\n\nIn the claims worker process:\n{self.args[0]}"


def _work_from_the_back(chosen: list[str], config: RunConfig, bounds: Any, writer: Connection, threads: int) -> None:
    """A worker of :func:`_side_by_side`: claims from the back of the list until none is left, or the first failure."""
    init_worker(threads)
    with writer:
        while (index := _take(bounds, from_back=True)) is not None:
            hold_point("claim-worker")
            try:
                writer.send((index, run_claim(chosen[index], config), None))
            except Exception as err:  # noqa: BLE001 - sent to the parent, which re-raises it
                remote = traceback.format_exc()
                try:
                    writer.send((index, None, (err, remote)))
                except Exception:  # noqa: BLE001 - the exception itself does not pickle
                    writer.send((index, None, (RuntimeError(f"{type(err).__name__}: {err}"), remote)))
                return


def run_claims(ids: Sequence[str] | None = None, config: RunConfig | None = None,
               on_done: Callable[[ClaimResult], None] | None = None, jobs: int = 1) -> list[ClaimResult]:
    """Run the claims ``ids`` (all when None) in the order of the request; ``on_done`` after each.

    ``jobs`` as in :func:`iter_claims`.
    """
    results = []
    for result in iter_claims(ids, config, jobs=jobs):
        results.append(result)
        if on_done is not None:
            on_done(result)
    return results
