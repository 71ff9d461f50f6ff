"""What every ``reglab`` command shares: exit codes, the one-line error, the console, JSON output."""

from __future__ import annotations

import math
from typing import Any, NoReturn

import typer
from rich.console import Console

__all__ = ["EXIT_BAD_INPUT", "EXIT_DIVERGED", "fail", "flag", "fmt", "strict_json"]

EXIT_BAD_INPUT = 2
EXIT_DIVERGED = 1


def fail(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    """Print ``Error: message`` on one line to stderr and exit with ``code``."""
    Console(stderr=True, highlight=False, soft_wrap=True).print(f"Error: {' '.join(str(message).split())}",
                                                                markup=False)
    raise typer.Exit(code)


def strict_json(value: Any) -> Any:
    """``value`` with non-finite floats as None, so the output is standard JSON (jq, browsers)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(v) for v in value]
    return value


def fmt(value: float | None) -> str:
    """A number for a table cell: 6 significant digits, an em dash for None."""
    return "—" if value is None else f"{value:.6g}"


def flag(name: str, help: str) -> Any:  # noqa: A002 - typer's own keyword
    """A boolean flag (``--name``, no value), shown in ``--help`` without a ``<bool>`` value to type after it."""
    return typer.Option(name, help=help, metavar="")
