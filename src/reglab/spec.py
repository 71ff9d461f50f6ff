"""Specs: the keyword arguments of :func:`reglab.fit` as plain data.

A spec is a plain ``dict`` (usually read from YAML) so that ``reglab fit spec.yaml``, a sweep and a
claim's setup are the same thing; a sweep addresses its entries with dotted keys such as
``penalties.0.strength``. Keys (every one but ``data`` is optional; unknown keys are errors)::

    model: mlp                         # linear | logistic | softmax | mlp (default: from the data's task)
    model_args: {hidden: [32], activation: relu}
    data: {scenario: pure_noise, n: 200, p: 20}   # a scenario of reglab.data.SCENARIOS and its arguments,
                                                  # or {dataset: diabetes | breast_cancer | digits, ...},
                                                  # or {csv: data.csv, target: y} / {parquet: ..., target: ...}
    loss: squared                      # squared | logistic | cross_entropy
    penalties:
      - {kind: l2, strength: 0.01}
      - {kind: l1, strength: 0.1, on: "fc1.weight", update: proximal}
      - {kind: weighted_l1, strength: 0.1, weights: [1, 0, 2]}   # every kind and its fields:
      - {kind: mcp, strength: 0.1, gamma: 3}                     #   reglab.penalties.KINDS
    optimizer: gd                      # gd | sgd | momentum | nesterov | adam | lbfgs
    lr: 0.1                            # a positive number or "auto"
    steps: 1000
    batch_size: 32
    seed: 0
    tol: 1.0e-8
    dtype: float64                     # float32 | float64
    record: false                      # or the options of reglab.observe.Recorder
    device: cpu                        # cpu | cuda | cuda:1 ... (default: the CPU; checked by fit)

:func:`validate_spec` checks the shape and types; the values themselves (a negative strength, an
unknown update rule) are checked by the objects they build, with the same messages as in Python.
"""

from __future__ import annotations

import copy
import inspect
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import torch
import yaml

from reglab._io import read_yaml_mapping
from reglab.data import BUNDLED, SCENARIOS, Dataset, from_file, load_dataset
from reglab.losses import LOSSES, MODEL_OF_TASK, TASK_OF_LOSS, TASK_OF_MODEL
from reglab.models import MODELS
from reglab.penalties import PENALTY_KEYS, penalty_from_config
from reglab.training import OPTIMIZERS, FitResult, fit

__all__ = ["SPEC_KEYS", "build_data", "build_fit_kwargs", "load_spec", "run_spec", "validate_spec"]

SPEC_KEYS: Final = (
    "model", "model_args", "data", "loss", "penalties", "optimizer", "lr", "steps", "batch_size",
    "seed", "tol", "dtype", "record", "momentum", "log_every", "on_divergence", "device",
)
DATA_SOURCES: Final = ("scenario", "dataset", "csv", "parquet")
DTYPES: Final = {"float32": torch.float32, "float64": torch.float64}
_FILE_DATA_KEYS: Final = ("target", "task", "test_size", "seed")


class _SpecLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that also reads ``1e-3`` as a float (YAML 1.1 wants ``1.0e-3``).

    Still the safe loader: no tag builds a Python object.
    """


_SpecLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def load_spec(path: str | Path) -> dict[str, Any]:
    """Read a spec from a YAML file with a safe loader and validate it.

    The loader is ``yaml.SafeLoader`` (no Python objects), reading ``1e-3`` as a number as well.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    dict
        The validated spec (see :func:`validate_spec`).

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the file is not valid YAML, is not a mapping, or is not a valid spec; the message
        names the file.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "spec.yaml"
    >>> _ = path.write_text("data: {scenario: pure_noise}\\nsteps: 10\\n")
    >>> load_spec(path)["steps"]
    10
    """
    path = Path(path)
    raw = read_yaml_mapping(path, "Spec file", "of keys to values (model: ..., data: ...)", loader=_SpecLoader)
    try:
        return validate_spec(raw)
    except (TypeError, ValueError) as err:
        raise type(err)(f"Spec file {str(path)!r}: {err}") from None


def _type_error(key: str, expected: str, value: Any) -> TypeError:
    return TypeError(f"Spec key {key!r} must be {expected}; got {type(value).__name__} {value!r}.")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_choice(key: str, value: Any, choices: tuple[str, ...] | Mapping[str, Any]) -> None:
    if not isinstance(value, str):
        raise _type_error(key, f"one of {', '.join(choices)}", value)
    if value not in choices:
        raise ValueError(f"Spec key {key!r}: unknown value {value!r}. Choose one of {', '.join(choices)}.")


def _validate_data(data: Any) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise _type_error("data", "a mapping such as {scenario: pure_noise} or {csv: FILE, target: COLUMN}", data)
    sources = [k for k in DATA_SOURCES if k in data]
    if len(sources) != 1:
        raise ValueError(
            f"Spec key 'data' needs exactly one of {', '.join(DATA_SOURCES)}; got keys {sorted(map(str, data))}."
        )
    source = sources[0]
    name = data[source]
    if not isinstance(name, str):
        raise _type_error(f"data.{source}", "a string", name)
    rest = {k: v for k, v in data.items() if k != source}
    if source == "scenario":
        if name not in SCENARIOS:
            raise ValueError(f"Spec key 'data.scenario': unknown scenario {name!r}. Choose one of {', '.join(SCENARIOS)}.")
        allowed = [p for p in inspect.signature(SCENARIOS[name]).parameters]
    elif source == "dataset":
        if name not in BUNDLED:
            raise ValueError(f"Spec key 'data.dataset': unknown dataset {name!r}. Choose one of {', '.join(BUNDLED)}.")
        allowed = ["test_size", "standardize", "seed"]
    else:
        allowed = list(_FILE_DATA_KEYS)
        if "target" not in rest:
            raise ValueError(f"Spec key 'data' with {source}: needs 'target', the name of the target column.")
        if not isinstance(rest["target"], str):
            raise _type_error("data.target", "a column name (string)", rest["target"])
    unknown = [k for k in rest if k not in allowed]
    if unknown:
        raise ValueError(
            f"Spec key 'data': unknown key(s) {unknown} for {source} {name!r}; allowed: {', '.join(allowed)}."
        )
    return {source: name, **rest}


def _validate_penalties(penalties: Any) -> list[dict[str, Any]]:
    if not isinstance(penalties, list):
        raise _type_error("penalties", "a list of {kind, strength, ...} mappings", penalties)
    out = []
    for i, entry in enumerate(penalties):
        if not isinstance(entry, Mapping):
            raise _type_error(f"penalties.{i}", "a mapping {kind: l2, strength: 0.01, ...}", entry)
        unknown = [k for k in entry if k not in PENALTY_KEYS]
        if unknown:
            raise ValueError(f"Spec key 'penalties.{i}': unknown key(s) {unknown}; allowed: {', '.join(PENALTY_KEYS)}.")
        try:
            penalty_from_config(entry)  # checks kind, strength, update and the kind's fields now, with the engine's words
        except (TypeError, ValueError) as err:
            raise type(err)(f"Spec key 'penalties.{i}': {err}") from None
        out.append(dict(entry))
    return out


def validate_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Check a spec's keys and types; return a validated deep copy (a plain dict).

    Parameters
    ----------
    spec : mapping
        The keyword arguments of :func:`reglab.fit` as data (see the module docstring).

    Returns
    -------
    dict

    Raises
    ------
    ValueError
        For an unknown key (the message names it and lists the allowed ones), an unknown name
        (model, loss, optimizer, scenario, dataset, dtype) or a missing ``data``.
    TypeError
        For a value of the wrong type; the message names the key.

    Examples
    --------
    >>> validate_spec({"data": {"scenario": "pure_noise"}, "lr": "auto"})["lr"]
    'auto'
    >>> validate_spec({"data": {"scenario": "pure_noise"}, "step": 10})
    Traceback (most recent call last):
    ...
    ValueError: Unknown spec key 'step'. Allowed keys: model, model_args, data, loss, penalties, optimizer, lr, steps, batch_size, seed, tol, dtype, record, momentum, log_every, on_divergence, device.
    """
    if not isinstance(spec, Mapping):
        raise TypeError(f"A spec must be a mapping of keys to values; got {type(spec).__name__}.")
    for key in spec:
        if key not in SPEC_KEYS:
            raise ValueError(f"Unknown spec key {key!r}. Allowed keys: {', '.join(SPEC_KEYS)}.")
    out: dict[str, Any] = copy.deepcopy(dict(spec))
    if "data" not in out:
        raise ValueError("A spec needs 'data': {scenario: NAME, ...}, {dataset: NAME} or {csv: FILE, target: COLUMN}.")
    out["data"] = _validate_data(out["data"])
    if out.get("model") is not None:
        _check_choice("model", out["model"], MODELS)
    if out.get("model_args") is not None and not isinstance(out["model_args"], Mapping):
        raise _type_error("model_args", "a mapping such as {hidden: [32]}", out["model_args"])
    if out.get("loss") is not None:
        _check_choice("loss", out["loss"], tuple(LOSSES))
    if "penalties" in out:
        out["penalties"] = _validate_penalties(out["penalties"] if out["penalties"] is not None else [])
    if "optimizer" in out:
        _check_choice("optimizer", out["optimizer"], OPTIMIZERS)
    if "lr" in out:
        lr = out["lr"]
        if lr != "auto" and not _is_number(lr):
            raise _type_error("lr", "a positive number or 'auto'", lr)
        if lr != "auto" and not (math.isfinite(lr) and lr > 0):
            raise ValueError(f"Spec key 'lr' must be a positive, finite number or 'auto'; got {lr}.")
    for key in ("steps", "seed", "batch_size", "log_every"):
        if out.get(key) is not None and not _is_int(out[key]):
            raise _type_error(key, "an integer", out[key])
    for key in ("tol", "momentum"):
        if out.get(key) is not None and not _is_number(out[key]):
            raise _type_error(key, "a number", out[key])
    if "dtype" in out:
        _check_choice("dtype", out["dtype"], DTYPES)
    if "record" in out and not isinstance(out["record"], (bool, Mapping)):
        raise _type_error("record", "true, false or a mapping of recorder options", out["record"])
    if "on_divergence" in out:
        _check_choice("on_divergence", out["on_divergence"], ("raise", "stop"))
    if out.get("device") is not None and not isinstance(out["device"], str):
        raise _type_error("device", "a device name such as 'cpu' or 'cuda:0'", out["device"])
    return out


def _task_for(spec: Mapping[str, Any]) -> str | None:
    """The task the model or loss asks of the data, if either says."""
    task = TASK_OF_MODEL.get(spec.get("model") or "")
    if task is None and spec.get("loss") is not None:
        task = TASK_OF_LOSS[spec["loss"]]
    return task


def _resolve_path(path: str, base_dir: str | Path | None) -> Path:
    p = Path(path)
    return p if p.is_absolute() or base_dir is None else Path(base_dir) / p


def build_data(spec: Mapping[str, Any], base_dir: str | Path | None = None) -> Dataset:
    """The :class:`~reglab.data.Dataset` a (validated) spec's ``data`` names.

    A scenario that takes a ``task`` argument gets the task the model or loss needs (a logistic
    model on ``pure_noise`` gets binary labels) unless the spec sets it. A relative CSV / Parquet
    path is taken relative to ``base_dir`` (the spec file's folder) when it is given.
    """
    data = dict(spec["data"])
    task = _task_for(spec)
    if "scenario" in data:
        make = SCENARIOS[data.pop("scenario")]
        if task is not None and "task" in inspect.signature(make).parameters:
            data.setdefault("task", task)
        return make(**data)
    if "dataset" in data:
        return load_dataset(data.pop("dataset"), **data)
    source = "csv" if "csv" in data else "parquet"
    path = _resolve_path(data[source], base_dir)
    ds = from_file(path, data["target"], task=data.get("task", task))
    if data.get("test_size"):
        ds = ds.split(data["test_size"], data.get("seed", 0))
    return ds


def build_fit_kwargs(spec: Mapping[str, Any], base_dir: str | Path | None = None) -> dict[str, Any]:
    """Turn a spec into the keyword arguments of :func:`reglab.fit`: a Dataset, penalty terms, a dtype.

    ``model`` defaults to the canonical model of the data's task (linear, logistic, softmax).

    Examples
    --------
    >>> kw = build_fit_kwargs({"data": {"scenario": "zero_column", "n": 20, "p": 3},
    ...                        "penalties": [{"kind": "l2", "strength": 0.1}]})
    >>> kw["model"], kw["penalties"]
    ('linear', [L2(0.1)])
    """
    s = validate_spec(spec)
    kwargs: dict[str, Any] = {k: v for k, v in s.items() if k not in ("data", "penalties", "dtype", "model")}
    kwargs["data"] = build_data(s, base_dir)
    kwargs["model"] = s.get("model") or MODEL_OF_TASK[kwargs["data"].task]
    kwargs["penalties"] = [penalty_from_config(p) for p in s.get("penalties") or []]
    if "dtype" in s:
        kwargs["dtype"] = DTYPES[s["dtype"]]
    return kwargs


def run_spec(spec: Mapping[str, Any], base_dir: str | Path | None = None) -> FitResult:
    """Run :func:`reglab.fit` on a spec.

    Examples
    --------
    >>> res = run_spec({"data": {"scenario": "zero_column", "n": 20, "p": 3}, "steps": 5})
    >>> res.steps_run
    5
    """
    return fit(**build_fit_kwargs(spec, base_dir))
