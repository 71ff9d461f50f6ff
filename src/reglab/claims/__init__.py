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
import os
from collections.abc import Callable, Iterator, Sequence
from types import ModuleType
from typing import Final

from reglab._workers import init_worker
from reglab.claims.base import VERDICTS, ClaimResult, RunConfig

__all__ = ["CLAIM_IDS", "REGISTRY", "ClaimResult", "RunConfig", "VERDICTS", "available_cores", "get_claim", "iter_claims",
           "run_claim", "run_claims"]

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


def available_cores() -> int:
    """The CPU cores this process may run on (its affinity mask where the platform has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def _run_in_worker(task: tuple[str, RunConfig]) -> ClaimResult:
    return run_claim(*task)


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
        side by side in ``jobs`` fresh (spawned) processes with ``threads`` torch threads each; the results are
        the same (every claim seeds its own draws), only the wall time changes. Closing the iterator early (or
        an exception in the loop that consumes it, Ctrl-C included) stops the workers at once.
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
    # spawn, not fork: a fork of a process holding torch's thread pools can hang
    pool = multiprocessing.get_context("spawn").Pool(min(jobs, len(chosen)), init_worker, (threads,))
    try:
        # ordered; chunksize 1 hands each worker the next claim as soon as it is free
        yield from pool.imap(_run_in_worker, [(cid, config) for cid in chosen], chunksize=1)
    finally:
        pool.terminate()
        pool.join()


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
