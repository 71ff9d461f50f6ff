"""``reglab play``: start the playground's local web server and open its page."""

from __future__ import annotations

import typer

from reglab.cli._common import fail

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def play_command(
    host: str = typer.Option("127.0.0.1", help="Address to bind (loopback by default; anything else exposes "
                             "the page, which runs fits, to the network)."),
    port: int = typer.Option(8000, min=1, max=65535, help="Port to listen on."),
    no_browser: bool = typer.Option(False, "--no-browser", help="Do not open the page in a browser."),
) -> None:
    """Start a local page where every slider and menu reruns reglab.fit and redraws the weights."""
    try:
        import fastapi  # noqa: F401
        import plotly  # noqa: F401
        import uvicorn  # noqa: F401

        from reglab.playground import serve
    except ImportError as err:
        fail(f"reglab play needs the 'play' extra (pip install 'reglab[play]'): {err}.")
    if host not in LOOPBACK:
        typer.echo(f"Warning: binding {host}: anyone who can reach it can run fits on this machine.", err=True)
    typer.echo(f"reglab playground on http://{host}:{port}/ (Ctrl-C to stop)")
    serve(host, port, open_browser=not no_browser)
