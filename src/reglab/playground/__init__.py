"""``reglab play``: a local web page where every control reruns :func:`reglab.fit` and redraws.

:func:`create_app` builds the FastAPI app (the page, its static files, ``POST /api/run``);
:func:`serve` runs it on uvicorn, bound to loopback by default. A run is a validated
:class:`PlayRequest`; :func:`run_play` fits it with recording on and returns the page's data.
:data:`PRESETS` holds one state per claim of ``reglab claims``. Needs the ``play`` extra
(``pip install reglab[play]``: fastapi, uvicorn, plotly).

Examples
--------
>>> from reglab.playground import PRESETS, run_play
>>> out = run_play(PRESETS["l1-proximal"].request)
>>> out["weights"][0]["theory"]["kind"]
'l1_prox_zero'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reglab.playground.presets import PRESETS, Preset
from reglab.playground.runs import (
    MAX_N,
    MAX_STEPS,
    PlayRequest,
    claim_of,
    run_play,
    spec_of,
)

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["MAX_N", "MAX_STEPS", "PRESETS", "PlayRequest", "Preset", "claim_of", "create_app", "run_play", "serve",
           "spec_of"]


def create_app(**options: float) -> FastAPI:
    """The playground's FastAPI app; see :func:`reglab.playground.app.create_app` (its options pass through)."""
    from reglab.playground.app import create_app as _create_app

    return _create_app(**options)


def serve(host: str = "127.0.0.1", port: int = 8000, *, open_browser: bool = True) -> None:
    """Run the playground on uvicorn at ``http://host:port/`` until interrupted.

    Parameters
    ----------
    host : str
        The address to bind; loopback by default (the page runs fits for whoever can reach it).
    port : int
    open_browser : bool
        Open the page in the default browser once the server is up.
    """
    import threading
    import webbrowser

    import uvicorn

    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}/"
    if open_browser:
        threading.Timer(1.0, webbrowser.open, args=(url,)).start()
    uvicorn.run(create_app(), host=host, port=port, log_level="warning")
