"""Sweep specs: a base run spec plus a grid, expanded into runs with stable ids.

A sweep is plain data (a dict, or a YAML file read with ``yaml.safe_load``)::

    base:                               # a run spec (see reglab.spec): fit()'s keyword arguments
      model: linear
      data: {scenario: linear_regression, n: 200, p: 10}
      penalties: [{kind: l1, strength: 0.1, update: proximal}]
      lr: 0.05
      steps: 500
    grid:                               # dotted key -> list of values, expanded as a product
      penalties.0.strength: [0.001, 0.01, 0.1]
      seed: [0, 1, 2]
      tie:                              # a tied group: each entry sets several keys together
        - {lr: 0.1, steps: 200}
        - {lr: 0.01, steps: 2000}

Grid keys are dotted paths into the base spec: a mapping key or a list index
(``penalties.0.strength``, ``model_args.hidden``). A key whose name is ``tie`` or starts with
``tie:`` (``tie:schedule``) is a *tied group*: its value is a list of mappings from dotted keys to
values, one mapping per grid point, all with the same keys; the group counts as one axis of the
product. Every other key is its own axis. The grid ``{a: [1, 2], tie: [{b: 1, c: 1}, {b: 2, c: 2}]}``
gives 4 runs, never ``b=1, c=2``.

A run is named by :func:`run_id`: the first 16 hex digits of the SHA-256 of its full spec as
canonical JSON (sorted keys), so the same parameters give the same id in every process, on every
machine, and a resumed sweep recognises what it has already stored.

Examples
--------
>>> runs = expand_sweep({"base": {"data": {"scenario": "pure_noise"}, "lr": 0.1},
...                      "grid": {"lr": [0.1, 0.01], "seed": [0, 1]}})
>>> len(runs), runs[0].params
(4, {'lr': 0.1, 'seed': 0})
>>> runs[0].run_id == run_id(runs[0].spec)
True
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reglab._io import read_yaml_mapping
from reglab.spec import validate_spec

__all__ = ["Run", "expand_sweep", "get_dotted", "load_sweep", "param_column", "run_id", "set_dotted"]

_SWEEP_KEYS = ("base", "grid")


@dataclass(frozen=True)
class Run:
    """One point of a sweep.

    Attributes
    ----------
    run_id : str
        Stable hash of ``spec`` (16 hex digits).
    spec : dict
        The full run spec (base with the grid values set).
    params : dict
        The grid values of this run, by dotted key (tied keys included), in grid order.
    """

    run_id: str
    spec: dict[str, Any]
    params: dict[str, Any] = field(default_factory=dict)


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=True)


def run_id(spec: Mapping[str, Any]) -> str:
    """A stable 16-hex-digit id of a run spec: SHA-256 of its canonical JSON.

    Examples
    --------
    >>> run_id({"lr": 0.1, "seed": 0}) == run_id({"seed": 0, "lr": 0.1})
    True
    """
    return hashlib.sha256(_canonical(spec).encode()).hexdigest()[:16]


def _step(container: Any, part: str, key: str) -> Any:
    if isinstance(container, list):
        if not part.lstrip("-").isdigit():
            raise ValueError(f"Grid key {key!r}: {part!r} indexes a list, so it must be an integer.")
        idx = int(part)
        if not -len(container) <= idx < len(container):
            raise ValueError(f"Grid key {key!r}: index {idx} is out of range for a list of {len(container)}.")
        return idx
    if isinstance(container, dict):
        return part
    raise ValueError(f"Grid key {key!r}: cannot go into {type(container).__name__} at {part!r}.")


def set_dotted(spec: dict[str, Any], key: str, value: Any) -> None:
    """Set ``spec[a][b][0]...`` from the dotted key ``"a.b.0"``, creating missing mapping levels.

    Examples
    --------
    >>> s = {"penalties": [{"kind": "l2", "strength": 0.1}]}
    >>> set_dotted(s, "penalties.0.strength", 1.0); s["penalties"][0]["strength"]
    1.0
    """
    parts = key.split(".")
    node: Any = spec
    for part in parts[:-1]:
        idx = _step(node, part, key)
        if isinstance(node, dict) and idx not in node:
            node[idx] = {}
        node = node[idx]
    node[_step(node, parts[-1], key)] = copy.deepcopy(value)


def get_dotted(spec: Mapping[str, Any], key: str) -> Any:
    """The value at a dotted key (``KeyError`` / ``IndexError`` when absent)."""
    node: Any = spec
    for part in key.split("."):
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def _is_tie(key: str) -> bool:
    return key == "tie" or key.startswith("tie:")


def _axes(grid: Mapping[str, Any]) -> list[list[dict[str, Any]]]:
    """Each axis of the product as a list of {dotted key: value} assignments."""
    axes: list[list[dict[str, Any]]] = []
    for key, values in grid.items():
        if not isinstance(key, str):
            raise TypeError(f"Grid keys must be strings (dotted paths); got {type(key).__name__} {key!r}.")
        if not isinstance(values, list) or not values:
            raise ValueError(f"Grid key {key!r} needs a non-empty list of values; got {values!r}.")
        if _is_tie(key):
            if not all(isinstance(v, Mapping) and v for v in values):
                raise ValueError(f"Tied group {key!r} needs a list of non-empty mappings {{dotted key: value}}.")
            keys = set(values[0])
            for v in values[1:]:
                if set(v) != keys:
                    raise ValueError(
                        f"Tied group {key!r}: every entry must set the same keys; {sorted(keys)} vs {sorted(v)}."
                    )
            axes.append([dict(v) for v in values])
        else:
            axes.append([{key: v} for v in values])
    return axes


def expand_sweep(sweep: Mapping[str, Any]) -> list[Run]:
    """Expand ``{"base": spec, "grid": {...}}`` into its runs, in product order.

    Parameters
    ----------
    sweep : mapping
        ``base`` (a run spec) and ``grid`` (dotted key -> list; see the module docstring). A
        sweep without ``grid`` is its single base run.

    Returns
    -------
    list of Run
        One per grid point; every spec is validated with :func:`reglab.spec.validate_spec`.

    Raises
    ------
    ValueError
        An unknown top-level key, a malformed grid, or a grid point that is not a valid spec
        (the message names the point).
    """
    if not isinstance(sweep, Mapping):
        raise TypeError(f"A sweep must be a mapping with 'base' and 'grid'; got {type(sweep).__name__}.")
    unknown = [k for k in sweep if k not in _SWEEP_KEYS]
    if unknown:
        raise ValueError(f"Unknown sweep key(s) {unknown}; a sweep has 'base' (a run spec) and 'grid'.")
    if "base" not in sweep or not isinstance(sweep["base"], Mapping):
        raise ValueError("A sweep needs 'base': a run spec (model, data, penalties, ...).")
    grid = sweep.get("grid") or {}
    if not isinstance(grid, Mapping):
        raise TypeError(f"'grid' must be a mapping of dotted keys to lists; got {type(grid).__name__}.")
    runs: list[Run] = []
    seen: set[str] = set()
    for point in itertools.product(*_axes(grid)):
        spec = copy.deepcopy(dict(sweep["base"]))
        params: dict[str, Any] = {}
        for assignment in point:
            for key, value in assignment.items():
                set_dotted(spec, key, value)
                params[key] = value
        try:
            spec = validate_spec(spec)
        except (TypeError, ValueError) as err:
            raise type(err)(f"Grid point {params}: {err}") from None
        rid = run_id(spec)
        if rid in seen:
            raise ValueError(f"Grid point {params} repeats an earlier point: every run must be distinct.")
        seen.add(rid)
        runs.append(Run(rid, spec, params))
    return runs


def load_sweep(path: str | Path) -> dict[str, Any]:
    """Read a sweep (``base`` + ``grid``) from YAML with ``yaml.safe_load``."""
    raw = read_yaml_mapping(path, "Sweep file", "with 'base' and 'grid'")
    return dict(raw)


def param_column(key: str) -> str:
    """The store's column for a grid key: ``p_`` and the key with dots as underscores.

    Examples
    --------
    >>> param_column("penalties.0.strength")
    'p_penalties_0_strength'
    """
    return "p_" + key.replace(".", "_").replace(":", "_")
