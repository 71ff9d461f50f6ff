"""The playground's web app: a page, its static files, and one JSON endpoint that runs :func:`reglab.fit`.

Routes: ``GET /`` the page; ``GET /static/{name}`` one of a fixed set of files (the page's script and
plotly's bundled ``plotly.min.js``, read from the installed ``plotly`` package: no network at run
time); ``GET /api/presets``; ``POST /api/run`` a :class:`~reglab.playground.runs.PlayRequest`.
A bad value is a 422 whose ``error`` is one line naming the field; a combination the library refuses
(the proximal rule with Adam, say) is a 422 with the library's own message. ``/api/run`` is a sync
endpoint, so FastAPI runs each fit in its thread pool and concurrent requests do not block the page.

Examples
--------
>>> from fastapi.testclient import TestClient
>>> client = TestClient(create_app())
>>> client.post("/api/run", json={"steps": 0}).json()["error"]
'steps: Input should be greater than or equal to 1'
"""

from __future__ import annotations

import importlib.resources
import threading
from functools import cache
from typing import Any, Final

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response

from reglab.exceptions import DivergenceError
from reglab.playground.presets import PRESETS
from reglab.playground.runs import MAX_N, MAX_STEPS, PlayRequest, run_play

__all__ = ["MAX_CONCURRENT_FITS", "QUEUE_TIMEOUT_S", "create_app"]

MAX_CONCURRENT_FITS: Final = 4
# a request waits at most this long for a free fit slot, then gets a 503 (a fit itself is capped by size)
QUEUE_TIMEOUT_S: Final = 30.0
_STATIC: Final = {"play.js": "application/javascript", "play.css": "text/css"}


@cache
def _own_file(name: str) -> bytes:
    return importlib.resources.files("reglab.playground").joinpath("static", name).read_bytes()


@cache
def _plotly_js() -> bytes:
    return importlib.resources.files("plotly").joinpath("package_data", "plotly.min.js").read_bytes()


def _field_errors(errors: Any) -> str:
    parts = []
    for e in errors:
        loc = ".".join(str(x) for x in e.get("loc", ()) if x != "body")
        msg = str(e.get("msg", "invalid value")).removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


def create_app(queue_timeout: float = QUEUE_TIMEOUT_S) -> FastAPI:
    """The playground's FastAPI app (see the module docstring for its routes).

    Parameters
    ----------
    queue_timeout : float
        Seconds a request waits for a free fit slot before a 503.

    Returns
    -------
    fastapi.FastAPI
    """
    app = FastAPI(title="reglab playground", docs_url=None, redoc_url=None, openapi_url=None)
    fits = threading.BoundedSemaphore(MAX_CONCURRENT_FITS)

    @app.exception_handler(RequestValidationError)
    async def _bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        return JSONResponse(status_code=422, content={"error": _field_errors(errors),
                                                      "detail": [{"loc": list(e.get("loc", ())), "msg": e.get("msg")}
                                                                 for e in errors]})

    @app.get("/", response_class=HTMLResponse)
    def index() -> HTMLResponse:
        return HTMLResponse(_own_file("index.html"))

    @app.get("/static/{name}")
    def static(name: str) -> Response:
        if name == "plotly.min.js":
            return Response(_plotly_js(), media_type="application/javascript")
        if name not in _STATIC:  # a fixed set of names: nothing from the request reaches the file system
            raise HTTPException(status_code=404, detail="Not found")
        return Response(_own_file(name), media_type=_STATIC[name])

    @app.get("/api/presets")
    def presets() -> dict[str, Any]:
        return {"presets": {key: {"label": p.label, "claim": p.claim, "request": p.request.model_dump()}
                            for key, p in PRESETS.items()},
                "limits": {"steps": MAX_STEPS, "n": MAX_N}}

    @app.post("/api/run")
    def run(req: PlayRequest) -> Any:
        if not fits.acquire(timeout=queue_timeout):
            message = f"The server is busy ({MAX_CONCURRENT_FITS} fits running); try again."
            return JSONResponse(status_code=503, content={"error": message, "detail": message})
        try:
            return run_play(req)
        # a warning arrives here only where the filters turn warnings into errors (as the tests do)
        except (ValueError, TypeError, DivergenceError, Warning) as err:
            return JSONResponse(status_code=422, content={"error": str(err), "detail": str(err)})
        finally:
            fits.release()

    return app
