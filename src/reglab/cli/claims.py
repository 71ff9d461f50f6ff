"""``reglab claims``: run the claims, print a table of verdicts, write the report.

Registered on the Typer app in :mod:`reglab.cli`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from reglab.cli._common import flag

if TYPE_CHECKING:
    from reglab.claims import RunConfig

__all__ = ["claims"]

_STYLE = {"holds": "green", "holds with a correction": "yellow", "does not hold": "red", "inconclusive": "dim"}


def claims(
    more: Annotated[list[str] | None, typer.Argument(metavar="ID", help="More claim ids: `--only a b c` runs a, b and c.",
                                                     show_default=False)] = None,
    only: Annotated[list[str] | None, typer.Option("--only", help="Run only these claim ids (repeat, or space-separated).")] = None,
    out: Annotated[Path, typer.Option("--out", help="Folder for index.html, results.json and claims.md.")] = Path("reglab-report"),
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of every random draw.")] = 0,
    quick: Annotated[bool, flag("--quick", help="Smaller runs (for tests); same verdict rules.")] = False,
    list_: Annotated[bool, flag("--list", help="List the claim ids and exit.")] = False,
    device: Annotated[str, typer.Option(
        "--device", help="Where the claims that train networks train (cpu, cuda, cuda:1, ...); the linear ones run "
                         "on the CPU. Same verdict rules.")] = "cpu",
    jobs: Annotated[int | None, typer.Option(
        "--jobs", min=1, show_default=False,
        help="Run the claims side by side in this many processes: this one plus JOBS - 1 workers, one torch thread "
             "each. Default: the cores this process may use, at most 4 (each worker holds its own torch, about "
             "0.5 GB). 1 runs them one after the other in this process. The results do not depend on it.")] = None,
) -> None:
    """Run the claims about L2 and L1 regularization; print verdicts and write an HTML report."""
    import torch

    from reglab._hold import hold_point
    from reglab.claims import CLAIM_IDS, RunConfig, get_claim, iter_claims
    from reglab.report.html import write_report, write_results

    console = Console(highlight=False, soft_wrap=True)  # paths and commands stay whole, to copy
    if list_:
        for cid in CLAIM_IDS:
            console.print(f"{cid}  {get_claim(cid).TITLE}", markup=False)
        return
    ids = [part for item in [*(only or []), *(more or [])] for part in item.replace(",", " ").split()]
    ids = ids or list(CLAIM_IDS)
    unknown = [i for i in ids if i not in CLAIM_IDS]
    if unknown:
        Console(stderr=True, highlight=False, soft_wrap=True).print(
            f"Error: unknown claim id(s) {', '.join(unknown)}; known: {', '.join(CLAIM_IDS)}.", markup=False)
        raise typer.Exit(2)
    ids = list(dict.fromkeys(ids))
    config = RunConfig(quick=quick, seed=seed, device=device)
    try:
        config.torch_device()
    except (TypeError, ValueError) as err:
        Console(stderr=True, highlight=False, soft_wrap=True).print(f"Error: --device: {err}", markup=False)
        raise typer.Exit(2) from None
    torch.set_num_threads(1)  # tiny problems: threads cost more than they give, and the machine is shared
    from reglab.claims import default_jobs

    jobs = min(jobs or default_jobs(), len(ids))
    results = []
    t0 = time.perf_counter()
    interrupted = False
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeElapsedColumn(), console=console, transient=False) as progress:
        task = progress.add_task("claims", total=len(ids))
        running = iter_claims(ids, config, jobs=jobs)
        try:
            progress.update(task, description=f"running {ids[0]}" + (f" (+{jobs - 1} beside it)" if jobs > 1 else ""))
            for result in running:
                results.append(result)
                progress.advance(task)
                if len(results) < len(ids):  # kept if the run is killed; the full report replaces it
                    progress.update(task, description=f"running {ids[len(results)]}")
                    write_results(results, out, config, time.perf_counter() - t0, remaining=ids[len(results):])
                    hold_point("claim")
        except KeyboardInterrupt:  # Ctrl-C: keep the claims that finished, say how to run the rest
            running.close()  # stops the worker processes
            interrupted = True
            progress.update(task, description="interrupted")
        else:
            progress.update(task, description="claims done")
    elapsed = time.perf_counter() - t0
    remaining = ids[len(results):]
    if interrupted and not results:
        Console(stderr=True, highlight=False, soft_wrap=True).print(
            f"Interrupted before any claim finished; nothing written. Run again: {_command(ids, out, config)}",
            markup=False)
        raise typer.Exit(130)
    table = Table(title=f"reglab claims (seed {seed}{', quick' if quick else ''}"
                        f"{f', networks on {device}' if device != 'cpu' else ''}, {elapsed:.1f} s"
                        f"{f', {jobs} processes' if jobs > 1 else ''})")
    for col in ("claim", "verdict", "key number", "value", "s"):
        table.add_column(col, justify="right" if col in ("value", "s") else "left")
    from reglab.claims.base import fmt

    for r in results:
        table.add_row(r.id, f"[{_STYLE[r.verdict]}]{r.verdict}[/]", r.key, fmt(r.key_value), f"{r.elapsed:.1f}")
    console.print(table)
    index = write_report(results, out, config, elapsed, remaining=remaining)
    console.print(f"Report: {index.resolve()}", markup=False)
    if interrupted:
        rest = out.with_name(out.name + "-rest")
        Console(stderr=True, highlight=False, soft_wrap=True).print(
            f"Interrupted: {len(results)} of {len(ids)} claim(s) finished; the report in {out} is marked partial. "
            f"Run the remaining ones with: {_command(remaining, rest, config)}", markup=False)
        raise typer.Exit(130)


def _command(ids: list[str], out: Path, config: RunConfig) -> str:
    """The ``reglab claims`` command line that runs ``ids`` into ``out``."""
    return f"reglab claims --only {' '.join(ids)} --out {out} {config.flags()}"
