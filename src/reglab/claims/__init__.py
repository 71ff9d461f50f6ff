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
from collections.abc import Callable, Iterable, Sequence
from types import ModuleType
from typing import Final

from reglab.claims.base import VERDICTS, ClaimResult, RunConfig

__all__ = ["CLAIM_IDS", "REGISTRY", "ClaimResult", "RunConfig", "VERDICTS", "get_claim", "run_claim", "run_claims"]

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


def run_claims(ids: Sequence[str] | None = None, config: RunConfig | None = None,
               on_done: Callable[[ClaimResult], None] | None = None) -> list[ClaimResult]:
    """Run the claims ``ids`` (all when None) in registry order of the request; ``on_done`` after each."""
    chosen: Iterable[str] = CLAIM_IDS if not ids else ids
    chosen = list(dict.fromkeys(chosen))
    for cid in chosen:
        get_claim(cid)  # fail on an unknown id before running anything
    results = []
    for cid in chosen:
        result = run_claim(cid, config)
        results.append(result)
        if on_done is not None:
            on_done(result)
    return results
