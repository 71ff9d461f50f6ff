"""The one registry of penalty kinds: a term from plain data (spec files, the CLI, sweeps) and back."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from reglab.penalties.base import AbstractPenalty
from reglab.penalties.separable import L1, L2, ElasticNet

__all__ = ["PENALTY_KINDS", "penalty_from_config"]


PENALTY_KINDS: Final[dict[str, type[AbstractPenalty]]] = {"l2": L2, "l1": L1, "elasticnet": ElasticNet}


def penalty_from_config(config: Mapping[str, Any]) -> AbstractPenalty:
    """Build a term from plain data: ``{"kind": "l1", "strength": 0.1, "on": "fc1.weight", ...}``."""
    allowed = {"kind", "strength", "on", "update", "l1_ratio"}
    unknown = set(config) - allowed
    if unknown:
        raise ValueError(f"Unknown penalty key(s) {sorted(unknown)}; allowed: {sorted(allowed)}.")
    if "kind" not in config or "strength" not in config:
        raise ValueError(f"A penalty needs 'kind' and 'strength'; got {dict(config)}.")
    kind = str(config["kind"]).lower()
    if kind not in PENALTY_KINDS:
        raise ValueError(f"Unknown penalty kind {config['kind']!r}. Choose one of {', '.join(PENALTY_KINDS)}.")
    kwargs: dict[str, Any] = {"on": config.get("on"), "update": config.get("update", "gradient")}
    if kind == "elasticnet":
        kwargs["l1_ratio"] = config.get("l1_ratio", 0.5)
    elif "l1_ratio" in config:
        raise ValueError(f"l1_ratio applies to elasticnet only, not {kind}.")
    return PENALTY_KINDS[kind](config["strength"], **kwargs)
