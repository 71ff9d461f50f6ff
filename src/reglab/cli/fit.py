"""``reglab fit``: train one spec (a YAML file or flags) and print its summary."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from reglab.cli._common import EXIT_DIVERGED, fail, flag, fmt, strict_json
from reglab.data import BUNDLED, SCENARIOS
from reglab.losses import LOSSES
from reglab.models import MODELS
from reglab.penalties import PENALTY_KINDS, RULES
from reglab.spec import build_fit_kwargs, load_spec, validate_spec
from reglab.training import OPTIMIZERS, DivergenceError, FitResult

__all__ = ["fit_command", "parse_penalty", "print_fit_summary"]


def parse_penalty(text: str) -> dict[str, Any]:
    """Parse ``KIND:STRENGTH[:L1_RATIO][:UPDATE]`` into a spec's penalty entry.

    ``L1_RATIO`` is given for ``elasticnet`` only.

    Examples
    --------
    >>> parse_penalty("l1:0.1:proximal")
    {'kind': 'l1', 'strength': 0.1, 'update': 'proximal'}
    >>> parse_penalty("elasticnet:0.1:0.5")
    {'kind': 'elasticnet', 'strength': 0.1, 'l1_ratio': 0.5}
    """
    parts = text.split(":")
    kind = parts[0].strip().lower()
    usage = "write KIND:STRENGTH[:L1_RATIO][:UPDATE], e.g. l2:0.01, l1:0.1:proximal, elasticnet:0.1:0.5:proximal"
    if kind not in PENALTY_KINDS:
        raise ValueError(f"--penalty {text!r}: unknown kind {kind!r}; choose one of {', '.join(PENALTY_KINDS)} ({usage}).")
    n_numbers = 2 if kind == "elasticnet" else 1
    if not n_numbers + 1 <= len(parts) <= n_numbers + 2:
        raise ValueError(f"--penalty {text!r}: {usage}.")
    entry: dict[str, Any] = {"kind": kind}
    for key, value in zip(("strength", "l1_ratio"), parts[1 : 1 + n_numbers]):
        try:
            entry[key] = float(value)
        except ValueError:
            raise ValueError(f"--penalty {text!r}: {key} {value!r} is not a number ({usage}).") from None
    if len(parts) == n_numbers + 2:
        rule = parts[-1].strip()
        if rule not in RULES:
            raise ValueError(f"--penalty {text!r}: unknown update rule {rule!r}; choose one of {', '.join(RULES)}.")
        entry["update"] = rule
    return entry


def _parse_lr(text: str) -> float | str:
    if text == "auto":
        return text
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"--lr {text!r} is not a number or 'auto'.") from None
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"--lr must be a positive, finite number or 'auto'; got {text}.")
    return value


def _data_entry(data: str | None, data_file: Path | None, target: str | None) -> dict[str, Any] | None:
    if data is not None and data_file is not None:
        raise ValueError("Give --data or --data-file, not both.")
    if data is not None and Path(data).suffix.lower() in (".csv", ".parquet", ".pq"):
        data_file, data = Path(data), None
    if data_file is not None:
        if target is None:
            raise ValueError(f"--target COLUMN is needed with the data file {str(data_file)!r}.")
        source = "parquet" if data_file.suffix.lower() in (".parquet", ".pq") else "csv"
        return {source: str(data_file), "target": target, "test_size": 0.25}
    if target is not None:
        raise ValueError("--target applies to a data file (--data-file my.csv --target y).")
    if data is None:
        return None
    if data in SCENARIOS:
        return {"scenario": data}
    if data in BUNDLED:
        return {"dataset": data}
    raise ValueError(
        f"--data {data!r} is not a scenario ({', '.join(SCENARIOS)}), a bundled dataset "
        f"({', '.join(BUNDLED)}) or a .csv / .parquet file."
    )


def print_fit_summary(result: FitResult, console: Console) -> None:
    """Print a fit's final numbers and per-tensor norms as two small tables."""
    s = result.summary()
    model = getattr(result.model, "kind", type(result.model).__name__)
    numbers = Table(title=f"reglab fit: {model} on {result.data.name}, "
                          f"{', '.join(map(repr, result.terms)) or 'no penalty'}", show_header=False)
    numbers.add_column("quantity")
    numbers.add_column("value", justify="right")
    rows: list[tuple[str, str]] = [
        ("status", s["status"]),
        ("steps", str(s["steps"])),
        ("lr", fmt(s["lr"])),
        ("data loss (train)", fmt(s["train_loss"])),
        ("penalty", fmt(s["penalty"])),
        ("objective", fmt(s["objective"])),
        ("null-model loss (train)", fmt(s["null_train_loss"])),
    ]
    if s["test_loss"] is not None:
        rows += [("data loss (held-out)", fmt(s["test_loss"])), ("null-model loss (held-out)", fmt(s["null_test_loss"]))]
    for name, value in rows:
        numbers.add_row(name, value)
    tensors = Table(title="parameters")
    for col, justify in (("tensor", "left"), ("shape", "left"), ("L2 norm", "right"), ("L1 norm", "right"),
                         ("exact zeros", "right")):
        tensors.add_column(col, justify=justify)  # type: ignore[arg-type]
    for name, t in s["tensors"].items():
        size = math.prod(t["shape"]) if t["shape"] else 1
        tensors.add_row(name, "×".join(map(str, t["shape"])) or "scalar", fmt(t["l2_norm"]), fmt(t["l1_norm"]),
                        f"{t['exact_zeros']}/{size}")
    console.print(numbers)
    console.print(tensors)


FIT_HELP = (
    "Train one model from a spec file and/or flags, and print its final numbers.\n\n"
    "Flags override the spec's entries. Prints the data loss, penalty, objective, held-out and null-model "
    "losses, and each tensor's L2 / L1 norms and exact zeros. Exit code 2 on bad input, 1 when training diverges."
)


def fit_command(
    spec_file: Annotated[Path | None, typer.Argument(
        metavar="SPEC.yaml", help="A YAML spec: fit()'s keyword arguments as data (see examples/demo.yaml).",
        show_default=False)] = None,
    model: Annotated[str | None, typer.Option(
        help=f"Model: {' | '.join(MODELS)}. Replaces the spec's model (and drops its model_args when it "
        "names a different model). Default: the canonical model of the data's task.", show_default=False)] = None,
    data: Annotated[str | None, typer.Option(
        help=f"A scenario ({', '.join(SCENARIOS)}), a bundled dataset ({', '.join(BUNDLED)}) or a .csv / "
        ".parquet file (with --target). Replaces the spec's data.", show_default=False)] = None,
    data_file: Annotated[Path | None, typer.Option(
        help="A CSV or Parquet file of your own; every column but --target is a feature; 25% is held out.",
        show_default=False)] = None,
    target: Annotated[str | None, typer.Option(help="The target column of the data file.", show_default=False)] = None,
    loss: Annotated[str | None, typer.Option(help=f"Loss: {' | '.join(LOSSES)}.", show_default=False)] = None,
    penalty: Annotated[list[str] | None, typer.Option(
        help="A penalty term KIND:STRENGTH[:L1_RATIO][:UPDATE], e.g. l2:0.01, l1:0.1:proximal, "
        f"elasticnet:0.1:0.5:proximal (update: {' | '.join(RULES)}). Repeatable; replaces the spec's penalties.",
        show_default=False)] = None,
    optimizer: Annotated[str | None, typer.Option(help=f"Optimizer: {' | '.join(OPTIMIZERS)}.",
                                                  show_default=False)] = None,
    lr: Annotated[str | None, typer.Option(help="Learning rate: a positive number, or 'auto' (1/L, linear models).",
                                           show_default=False)] = None,
    steps: Annotated[int | None, typer.Option(help="Number of optimizer steps.", show_default=False)] = None,
    batch_size: Annotated[int | None, typer.Option(help="Minibatch size (sgd, momentum, nesterov, adam).",
                                                   show_default=False)] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of initialisation and shuffling.", show_default=False)] = None,
    as_json: Annotated[bool, flag(
        "--json", help="Print the summary (and the spec run) as JSON instead of tables; non-finite numbers are null.")] = False,
) -> None:
    """``reglab fit``: build a spec from the file and flags, run :func:`reglab.fit`, print the summary."""
    try:
        spec: dict[str, Any] = {}
        base_dir: Path | None = None
        if spec_file is not None:
            spec = load_spec(spec_file)
            base_dir = spec_file.parent
        if model is not None:
            if spec.get("model") != model:
                spec.pop("model_args", None)
            spec["model"] = model
        entry = _data_entry(data, data_file, target)
        if entry is not None:
            spec["data"] = entry
            base_dir = None  # paths on the command line are relative to the working directory
        if "data" not in spec:
            raise ValueError("Give a spec file or --data (a scenario, a bundled dataset, or a file with --target).")
        overrides = {"loss": loss, "optimizer": optimizer, "steps": steps, "batch_size": batch_size, "seed": seed}
        spec.update({k: v for k, v in overrides.items() if v is not None})
        if lr is not None:
            spec["lr"] = _parse_lr(lr)
        if penalty:
            spec["penalties"] = [parse_penalty(p) for p in penalty]
        spec = validate_spec(spec)
        from reglab.training import fit

        result = fit(**build_fit_kwargs(spec, base_dir))
    except DivergenceError as err:
        fail(str(err), EXIT_DIVERGED)
    except (ValueError, TypeError, OSError) as err:  # OSError: a missing file, a folder given as a file
        fail(str(err))
    if as_json:
        summary = strict_json({"spec": spec, **result.summary()})
        sys.stdout.write(json.dumps(summary, default=str, allow_nan=False) + "\n")
    else:
        print_fit_summary(result, Console())
