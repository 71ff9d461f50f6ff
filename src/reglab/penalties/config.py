"""The one registry of penalty kinds: a term from plain data (spec files, the CLI, sweeps) and back.

Each row of :data:`KINDS` is a penalty class and the fields its constructor takes besides
``strength``, ``on`` and ``update``: their spec keys, defaults, and how the CLI's
``--penalty KIND:STRENGTH[:FIELD...][:UPDATE]`` writes them. Spec validation (:data:`PENALTY_KEYS`),
:func:`penalty_from_config`, the CLI's parser and help text, and the sweeps all read this table: a
new penalty kind is its class plus one row here.

Examples
--------
>>> KINDS["elasticnet"].cli_form
'elasticnet:STRENGTH:L1_RATIO[:UPDATE]'
>>> penalty_from_config({"kind": "mcp", "strength": 0.1, "gamma": 4})
MCP(0.1, gamma=4)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from reglab.penalties.base import AbstractPenalty
from reglab.penalties.mcp import MCP
from reglab.penalties.separable import L1, L2, ElasticNet, WeightedL1, WeightedL2

__all__ = ["KINDS", "PENALTY_KEYS", "PENALTY_KINDS", "Field", "PenaltyKind", "penalty_from_config"]


REQUIRED: Final = object()


def _number(text: str) -> float:
    return float(text)


def _numbers(text: str) -> list[float]:
    return [float(x) for x in text.split(",")]


@dataclass(frozen=True)
class Field:
    """A constructor parameter of a penalty kind besides ``strength``, ``on`` and ``update``.

    Attributes
    ----------
    name : str
        The constructor's keyword, the spec's key and the term's attribute.
    placeholder : str
        Its name in the CLI's ``KIND:STRENGTH:...`` form (e.g. ``L1_RATIO``).
    parse : callable
        The CLI's text to the value (raises ValueError).
    what : str
        What the CLI's text must be, for its error message.
    default : Any
        The value when a spec omits it (:data:`REQUIRED`: the spec must give it).
    """

    name: str
    placeholder: str
    parse: Callable[[str], Any] = _number
    what: str = "a number"
    default: Any = REQUIRED


@dataclass(frozen=True)
class PenaltyKind:
    """One row of the registry: a penalty class, its fields, and an example of its CLI form."""

    cls: type[AbstractPenalty]
    fields: tuple[Field, ...] = ()
    example: str = ""

    @property
    def kind(self) -> str:
        return self.cls.kind

    @property
    def cli_form(self) -> str:
        """``kind:STRENGTH[:FIELD...][:UPDATE]`` as ``--penalty`` takes it."""
        return ":".join([self.kind, "STRENGTH", *(f.placeholder for f in self.fields)]) + "[:UPDATE]"


KINDS: Final[dict[str, PenaltyKind]] = {row.kind: row for row in (
    PenaltyKind(L2, example="l2:0.01"),
    PenaltyKind(L1, example="l1:0.1:proximal"),
    PenaltyKind(ElasticNet, (Field("l1_ratio", "L1_RATIO", default=0.5),), example="elasticnet:0.1:0.5:proximal"),
    PenaltyKind(WeightedL1, (Field("weights", "WEIGHTS", _numbers, "comma-separated numbers"),),
                example="weighted_l1:0.1:1,0,2:proximal"),
    PenaltyKind(WeightedL2, (Field("weights", "WEIGHTS", _numbers, "comma-separated numbers"),),
                example="weighted_l2:0.1:1,0,2"),
    PenaltyKind(MCP, (Field("gamma", "GAMMA", default=3.0),), example="mcp:0.1:3:proximal"),
)}
"""kind → its row. A new penalty kind: its class, plus one row here."""


PENALTY_KINDS: Final[dict[str, type[AbstractPenalty]]] = {kind: row.cls for kind, row in KINDS.items()}
"""kind → penalty class."""


PENALTY_KEYS: Final[tuple[str, ...]] = ("kind", "strength", "on", "update", *dict.fromkeys(
    f.name for row in KINDS.values() for f in row.fields))
"""Every key a spec's penalty entry may have (each field only for the kinds that take it)."""


def penalty_from_config(config: Mapping[str, Any]) -> AbstractPenalty:
    """Build a term from plain data: ``{"kind": "l1", "strength": 0.1, "on": "fc1.weight", ...}``.

    Examples
    --------
    >>> penalty_from_config({"kind": "elasticnet", "strength": 0.1, "l1_ratio": 0.3, "update": "proximal"})
    ElasticNet(0.1, l1_ratio=0.3, update='proximal')
    """
    allowed = set(PENALTY_KEYS)
    unknown = set(config) - allowed
    if unknown:
        raise ValueError(f"Unknown penalty key(s) {sorted(unknown)}; allowed: {sorted(allowed)}.")
    if "kind" not in config or "strength" not in config:
        raise ValueError(f"A penalty needs 'kind' and 'strength'; got {dict(config)}.")
    kind = str(config["kind"]).lower()
    if kind not in KINDS:
        raise ValueError(f"Unknown penalty kind {config['kind']!r}. Choose one of {', '.join(KINDS)}.")
    row = KINDS[kind]
    own = {f.name for f in row.fields}
    for key in config:
        if key in PENALTY_KEYS[4:] and key not in own:
            takers = [k for k, r in KINDS.items() if any(f.name == key for f in r.fields)]
            raise ValueError(f"{key} applies to {', '.join(takers)} only, not {kind}.")
    kwargs: dict[str, Any] = {"on": config.get("on"), "update": config.get("update", "gradient")}
    for f in row.fields:
        if f.name in config:
            kwargs[f.name] = config[f.name]
        elif f.default is REQUIRED:
            raise ValueError(f"A {kind} penalty needs {f.name!r}; got {dict(config)}.")
        else:
            kwargs[f.name] = f.default
    return row.cls(config["strength"], **kwargs)
