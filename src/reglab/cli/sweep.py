"""``reglab sweep`` and ``reglab results``: run a grid of specs into a store, and query the store.

Registered on the ``reglab`` Typer app in :mod:`reglab.cli`.

Examples
--------
::

    reglab sweep sweep.yaml --executor batched --out runs/
    reglab sweep sweep.yaml --out runs/ --resume            # after an interruption: skip stored runs
    reglab results runs/
    reglab results runs/ --sql "SELECT p_penalties_0_strength, avg(test_loss) FROM runs GROUP BY 1"
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from reglab.cli._common import fail, flag

__all__ = ["results_command", "sweep_command"]

DEFAULT_COLUMNS = "status, COLUMNS('^p_'), train_loss, test_loss, null_test_loss, exact_zeros, elapsed, run_id"


def sweep_command(
    spec: Annotated[Path, typer.Argument(help="A sweep YAML file: 'base' (a run spec) and 'grid' (dotted keys to lists).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The result store folder.")],
    executor: Annotated[str, typer.Option(help="batched | local | ray | serial.")] = "batched",
    resume: Annotated[bool, flag("--resume", help="Skip runs already stored in --out.")] = False,
    workers: Annotated[int | None, typer.Option(help="Processes (local) or CPUs of a local Ray instance (ray).")] = None,
    threads: Annotated[int, typer.Option(help="torch threads per worker (local, ray).")] = 1,
    keep_history: Annotated[bool, flag("--keep-history", help="Keep each run's logged history.")] = False,
) -> None:
    """Run every point of a grid of specs and store one summary row per run (Parquet, in --out)."""
    from reglab.sweep import (
        EXECUTORS,
        expand_sweep,
        get_executor,
        load_sweep,
        run_sweep,
    )

    try:
        if out.exists() and not out.is_dir():
            raise ValueError(f"--out {str(out)!r} is a file; the result store is a folder. Choose a folder "
                             "(it is created if missing).")
        sweep = load_sweep(spec)
        runs = expand_sweep(sweep)
        if executor not in EXECUTORS:
            raise ValueError(f"Unknown executor {executor!r}. Choose one of {', '.join(EXECUTORS)}.")
        options: dict[str, Any] = {}
        if executor == "local":
            options = {"workers": workers, "threads": threads}
        elif executor == "ray":
            options = {"num_cpus": workers or 2, "threads": threads}
        ex = get_executor(executor, **options)
    except (ValueError, TypeError, OSError) as err:  # OSError: a missing file, a folder given as a file
        fail(str(err))
        return
    console = Console(stderr=True)
    columns = (TextColumn("[bold]sweep[/]"), BarColumn(), MofNCompleteColumn(),
               TextColumn("[red]{task.fields[failed]} failed[/]"), TimeElapsedColumn(), TextColumn("ETA"),
               TimeRemainingColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("sweep", total=len(runs), failed=0)

        def on_progress(summary: Any, row: dict[str, Any]) -> None:
            progress.update(task, completed=summary.skipped + summary.done, failed=summary.failed)

        try:
            summary = run_sweep(sweep, out, ex, resume=resume, keep_history=keep_history, on_progress=on_progress)
        except ValueError as err:
            progress.stop()
            fail(str(err))
            return
        except KeyboardInterrupt:  # Ctrl-C: what finished is stored (one atomic part per row)
            progress.stop()
            from reglab.sweep import ResultStore

            stored = len(ResultStore(out).stored_ids() & {r.run_id for r in runs})
            again = f"reglab sweep {spec} --out {out} --executor {executor} --resume" + (
                f" --workers {workers}" if workers else "") + (f" --threads {threads}" if threads != 1 else "") + (
                " --keep-history" if keep_history else "")
            Console(stderr=True, soft_wrap=True, highlight=False).print(
                f"Interrupted: {stored} of {len(runs)} run(s) are stored in {out}. Resume with: {again}", markup=False)
            raise typer.Exit(130) from None
        progress.update(task, completed=len(runs))
    Console(soft_wrap=True).print(f"{summary.done} run(s) stored in {out} ({summary.failed} failed, {summary.skipped} skipped as "
                    f"already stored) in {summary.seconds:.1f} s. Query them with: reglab results {out}")


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def results_command(
    store: Annotated[Path, typer.Argument(help="A result store folder written by reglab sweep.")],
    sql: Annotated[str | None, typer.Option("--sql", help="A DuckDB query over the table 'runs'.")] = None,
    limit: Annotated[int, typer.Option(help="Rows to print at most.")] = 50,
) -> None:
    """Print the stored runs as a table, or the result of a DuckDB query over them (table 'runs')."""
    from reglab.sweep import ResultStore

    if not (store / "parts").is_dir():
        fail(f"{str(store)!r} is not a result store (no parts/ folder); run reglab sweep ... --out {store} first.")
        return
    query = sql or f"SELECT {DEFAULT_COLUMNS} FROM runs ORDER BY ALL"
    try:
        df = ResultStore(store).query(query)
    except Exception as err:  # noqa: BLE001 - duckdb's errors (parser, binder, catalog) are the user's query
        fail(f"The query failed: {err}")
        return
    table = Table(title=f"{len(df)} row(s) from {store}" + ("" if len(df) <= limit else f" (first {limit})"))
    for col in df.columns:
        table.add_column(str(col), overflow="fold")
    for row in df.head(limit).itertuples(index=False):
        table.add_row(*(_cell(v) for v in row))
    Console().print(table)
