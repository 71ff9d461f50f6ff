"""The ``reglab`` command.

Each command is a small function in its own module, registered on :data:`app` here; it turns its
arguments into a spec (see :mod:`reglab.spec`), calls the library, and prints with rich. Bad input
ends with a one-line ``Error: ...`` on stderr and exit code 2, never a traceback
(:func:`reglab.cli._common.fail`).
"""

from __future__ import annotations

import typer

from reglab.cli._common import EXIT_BAD_INPUT, EXIT_DIVERGED, fail
from reglab.cli.claims import claims
from reglab.cli.fit import FIT_HELP, fit_command, parse_penalty
from reglab.cli.play import play_command
from reglab.cli.sweep import results_command, sweep_command

__all__ = ["EXIT_BAD_INPUT", "EXIT_DIVERGED", "app", "fail", "parse_penalty"]

app = typer.Typer(
    name="reglab",
    help="Train PyTorch models under explicit L2 / L1 / elastic-net penalties and update rules, watch what "
    "every weight does, sweep grids of runs, and test what is said about regularization by measurement.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def main() -> None:
    """The ``reglab`` command group: each subcommand is registered on :data:`app`."""


app.command("fit", help=FIT_HELP)(fit_command)
app.command("sweep")(sweep_command)
app.command("results")(results_command)
app.command("claims")(claims)
app.command("play")(play_command)
