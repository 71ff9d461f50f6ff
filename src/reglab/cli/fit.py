"""``reglab fit``: train one spec (a YAML file or flags) and print its summary."""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from reglab.cli._common import EXIT_DIVERGED, fail, flag, fmt, strict_json
from reglab.data import BUNDLED, SCENARIOS
from reglab.losses import LOSSES
from reglab.models import MODELS
from reglab.penalties import KINDS, RULES
from reglab.spec import build_fit_kwargs, load_spec, validate_spec
from reglab.training import OPTIMIZERS, DivergenceError, FitResult

__all__ = ["FitProgressBar", "fit_command", "largest_coefficients", "parse_penalty", "print_fit_summary", "save_run"]


def parse_penalty(text: str) -> dict[str, Any]:
    """Parse ``KIND:STRENGTH[:FIELD...][:UPDATE]`` into a spec's penalty entry.

    The fields after ``STRENGTH`` are the kind's, in the order of its row of
    :data:`reglab.penalties.KINDS` (``L1_RATIO`` for ``elasticnet``, ``GAMMA`` for ``mcp``, comma-separated
    ``WEIGHTS`` for ``weighted_l1`` and ``weighted_l2``); ``l2`` and ``l1`` have none.

    Examples
    --------
    >>> parse_penalty("l1:0.1:proximal")
    {'kind': 'l1', 'strength': 0.1, 'update': 'proximal'}
    >>> parse_penalty("elasticnet:0.1:0.5")
    {'kind': 'elasticnet', 'strength': 0.1, 'l1_ratio': 0.5}
    >>> parse_penalty("weighted_l1:0.1:1,0,2:proximal")
    {'kind': 'weighted_l1', 'strength': 0.1, 'weights': [1.0, 0.0, 2.0], 'update': 'proximal'}
    """
    parts = text.split(":")
    kind = parts[0].strip().lower()
    usage = _penalty_usage()
    if kind not in KINDS:
        raise ValueError(f"--penalty {text!r}: unknown kind {kind!r}; choose one of {', '.join(KINDS)} ({usage}).")
    fields = KINDS[kind].fields
    n_values = 1 + len(fields)
    if not n_values + 1 <= len(parts) <= n_values + 2:
        raise ValueError(f"--penalty {text!r}: {usage}.")
    entry: dict[str, Any] = {"kind": kind}
    readers = [("strength", float, "a number"), *((f.name, f.parse, f.what) for f in fields)]
    for (key, read, what), value in zip(readers, parts[1 : 1 + n_values]):
        try:
            entry[key] = read(value)
        except ValueError:
            raise ValueError(f"--penalty {text!r}: {key} {value!r} is not {what} ({usage}).") from None
    if len(parts) == n_values + 2:
        rule = parts[-1].strip()
        if rule not in RULES:
            raise ValueError(f"--penalty {text!r}: unknown update rule {rule!r}; choose one of {', '.join(RULES)}.")
        entry["update"] = rule
    return entry


def _penalty_usage() -> str:
    """How ``--penalty`` is written, from the registry of kinds."""
    examples = ", ".join(row.example for row in KINDS.values())
    forms = ", ".join(row.cli_form for row in KINDS.values() if row.fields)
    return f"write KIND:STRENGTH[:L1_RATIO][:UPDATE], e.g. {examples}; with a kind's fields: {forms}"


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
    largest = largest_coefficients(result)
    if largest:
        top = Table(title=f"largest coefficients (|w|, {len(largest)} of the penalized tensors' elements)")
        top.add_column("weight")
        top.add_column("value", justify="right")
        for name, value in largest:
            top.add_row(name, fmt(value))
        console.print(top)
    if result.trajectory is not None:
        from reglab.observe import diagnose

        console.print("diagnosis of the recorded weights:", markup=False)
        console.print(str(diagnose(result)), markup=False, highlight=False)


def largest_coefficients(result: FitResult, k: int = 10) -> list[tuple[str, float]]:
    """The ``k`` largest weights by magnitude among the tensors with two or more dimensions (biases and
    normalisation gains left out), as ``("name[i,j]", value)`` pairs, largest first."""
    import torch

    named = [(n, p.detach()) for n, p in result.model.named_parameters() if p.ndim >= 2]
    if not named:
        return []
    flat = torch.cat([p.reshape(-1).to(torch.float64).cpu() for _, p in named])
    top = torch.topk(flat.abs(), min(k, flat.numel())).indices.tolist()
    starts = [0]
    for _, p in named:
        starts.append(starts[-1] + p.numel())
    out = []
    for i in top:
        t = max(j for j in range(len(named)) if starts[j] <= i)
        name, p = named[t]
        index = ",".join(str(int(j)) for j in torch.unravel_index(torch.tensor(i - starts[t]), p.shape))
        out.append((f"{name}[{index}]", float(flat[i])))
    return out


def save_run(result: FitResult, spec: dict[str, Any], folder: Path) -> list[Path]:
    """Write a run into ``folder``: the model's weights (``model.pt``, a state_dict of tensors only: load it
    with ``torch.load(path, weights_only=True)``), ``summary.json``, the spec run (``spec.yaml``), and when
    it was recorded the trajectory (``trajectory.npz``, :meth:`reglab.Trajectory.load`) and its diagnosis
    (``diagnosis.txt``). Every file is written atomically."""
    import io

    import torch
    import yaml

    from reglab._io import atomic_write_bytes, atomic_write_text

    folder.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in result.model.state_dict().items()}, buf)
    written = [atomic_write_bytes(folder / "model.pt", buf.getvalue()),
               atomic_write_text(folder / "summary.json",
                                 json.dumps(strict_json(result.summary()), default=str, allow_nan=False, indent=1)),
               atomic_write_text(folder / "spec.yaml", yaml.safe_dump(strict_json(spec), sort_keys=False))]
    if result.trajectory is not None:
        from reglab.observe import diagnose

        written.append(result.trajectory.save(folder / "trajectory.npz"))
        written.append(atomic_write_text(folder / "diagnosis.txt", str(diagnose(result)) + "\n"))
    return written


class FitProgressBar:
    """A transient progress bar for :func:`reglab.fit`'s ``progress=`` callback, shown only on a terminal and
    only once a run has lasted ``delay`` seconds (a quick run prints nothing).

    Use it as a context manager around the fit; it is a callable ``bar(step, steps)``.

    Examples
    --------
    >>> with FitProgressBar(Console(file=__import__("io").StringIO())) as bar:
    ...     bar(0, 10); bar(10, 10)
    >>> bar.progress is None
    True
    """

    def __init__(self, console: Console, delay: float = 1.0) -> None:
        self.console, self.delay = console, delay
        self.start = time.perf_counter()
        self.progress: Progress | None = None
        self.task: Any = None

    def __enter__(self) -> FitProgressBar:
        self.start = time.perf_counter()
        return self

    def __call__(self, step: int, steps: int) -> None:
        if self.progress is None:
            if not self.console.is_terminal or time.perf_counter() - self.start < self.delay:
                return
            self.progress = Progress(TextColumn("training"), BarColumn(), TextColumn("step {task.completed}/{task.total}"),
                                     TimeElapsedColumn(), TimeRemainingColumn(), console=self.console, transient=True)
            self.progress.start()
            self.task = self.progress.add_task("fit", total=steps)
        self.progress.update(self.task, completed=step, total=steps)

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


FIT_HELP = (
    "Train one model from a spec file and/or flags, and print its final numbers.\n\n"
    "Flags override the spec's entries. Prints the data loss, penalty, objective, held-out and null-model "
    "losses, each tensor's L2 / L1 norms and exact zeros, the largest coefficients, and with recording "
    "(--record, or record: true in the spec) the diagnosis of every weight. --save DIR keeps the model, "
    "the summary and the trajectory. Exit code 2 on bad input, 1 when training diverges."
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
        help="A penalty term KIND:STRENGTH[:FIELD...][:UPDATE]: "
        f"{' | '.join(row.cli_form for row in KINDS.values())}, e.g. {', '.join(row.example for row in KINDS.values())} "
        f"(update: {' | '.join(RULES)}; WEIGHTS comma-separated). Repeatable; replaces the spec's penalties.",
        show_default=False)] = None,
    optimizer: Annotated[str | None, typer.Option(help=f"Optimizer: {' | '.join(OPTIMIZERS)}.",
                                                  show_default=False)] = None,
    lr: Annotated[str | None, typer.Option(help="Learning rate: a positive number, or 'auto' (1/L, linear models).",
                                           show_default=False)] = None,
    steps: Annotated[int | None, typer.Option(help="Number of optimizer steps.", show_default=False)] = None,
    batch_size: Annotated[int | None, typer.Option(help="Minibatch size (sgd, momentum, nesterov, adam).",
                                                   show_default=False)] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of initialisation and shuffling.", show_default=False)] = None,
    record: Annotated[bool, flag("--record", help="Record every weight's trajectory and print its diagnosis.")] = False,
    save: Annotated[Path | None, typer.Option(
        "--save", metavar="DIR", help="Write the model's weights (model.pt, a state_dict), summary.json, spec.yaml, "
        "and when recorded trajectory.npz and diagnosis.txt into DIR.", show_default=False)] = None,
    device: Annotated[str | None, typer.Option(
        help="Where to train: cpu, cuda, cuda:1, ... Replaces the spec's device (default: the CPU).",
        show_default=False)] = None,
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
        overrides = {"loss": loss, "optimizer": optimizer, "steps": steps, "batch_size": batch_size, "seed": seed,
                     "device": device}
        spec.update({k: v for k, v in overrides.items() if v is not None})
        if lr is not None:
            spec["lr"] = _parse_lr(lr)
        if penalty:
            spec["penalties"] = [parse_penalty(p) for p in penalty]
        if record:
            spec["record"] = True
        if save is not None and save.exists() and not save.is_dir():
            raise ValueError(f"--save {str(save)!r} is a file; give a folder (it is created if missing).")
        spec = validate_spec(spec)
        from reglab.training import fit

        kwargs = build_fit_kwargs(spec, base_dir)
        if as_json:  # nothing but the JSON document on stdout, and no bar on stderr either
            result = fit(**kwargs)
        else:
            with FitProgressBar(Console(stderr=True)) as bar:
                result = fit(**kwargs, progress=bar)
    except DivergenceError as err:
        fail(str(err), EXIT_DIVERGED)
    except (ValueError, TypeError, OSError) as err:  # OSError: a missing file, a folder given as a file
        fail(str(err))
    written = save_run(result, spec, save) if save is not None else []
    if as_json:
        summary = strict_json({"spec": spec, **result.summary()})
        sys.stdout.write(json.dumps(summary, default=str, allow_nan=False) + "\n")
    else:
        console = Console(soft_wrap=True)
        print_fit_summary(result, console)
        if written:
            console.print(f"Saved to {save}: {', '.join(p.name for p in written)}", markup=False)
