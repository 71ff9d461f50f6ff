"""The claims report: a self-contained ``index.html`` (figures inline), ``results.json`` and ``claims.md``.

Every file is written atomically (a temporary file in the same folder, fsync, ``os.replace``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timezone
from html import escape as _escape
from pathlib import Path
from typing import Any

import jinja2

from reglab._io import atomic_write_text
from reglab.claims.base import ClaimResult, RunConfig, fmt

__all__ = ["render_html", "render_markdown", "write_atomic", "write_report", "write_results"]

_TEMPLATES = Path(__file__).parent / "templates"


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (``reglab._io.atomic_write_text``)."""
    atomic_write_text(path, text)


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(_TEMPLATES), autoescape=jinja2.select_autoescape(["html", "html.j2"]),
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = lambda v: fmt(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else str(v)
    env.filters["slug"] = lambda s: "claim-" + str(s)
    env.filters["tojson_pretty"] = lambda v: json.dumps(v, indent=2, ensure_ascii=False, default=str)
    return env


def _context(results: Sequence[ClaimResult], config: RunConfig, elapsed: float | None) -> dict[str, Any]:
    import reglab

    ids = " ".join(r.id for r in results)
    return {
        "results": results,
        "config": config,
        "elapsed": elapsed,
        "version": reglab.__version__,
        "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command_all": f"reglab claims --only {ids} {config.flags()}",
        "counts": {v: sum(r.verdict == v for r in results) for v in dict.fromkeys(r.verdict for r in results)},
        "setup_json": {r.id: r.to_dict()["setup"] for r in results},
    }


def render_html(results: Sequence[ClaimResult], config: RunConfig, elapsed: float | None = None) -> str:
    """The self-contained HTML report (figures as inline PNG data, no external resources)."""
    return _environment().get_template("report.html.j2").render(**_context(results, config, elapsed))


def render_markdown(results: Sequence[ClaimResult], config: RunConfig, elapsed: float | None = None) -> str:
    """The report as Markdown (no figures: their titles and captions)."""
    return _environment().get_template("claims.md.j2").render(**_context(results, config, elapsed))


def write_results(results: Sequence[ClaimResult], out: str | Path, config: RunConfig,
                  elapsed: float | None = None, *, remaining: Sequence[str] = ()) -> Path:
    """Write only ``results.json`` into ``out`` (atomically); ``remaining`` non-empty marks it partial.

    ``reglab claims`` calls it after each claim, so a killed run keeps the claims that finished.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    payload = {"reglab_version": _context(results, config, elapsed)["version"],
               "config": {"quick": config.quick, "seed": config.seed, "device": config.device}, "elapsed": elapsed,
               "claims": [r.to_dict() for r in results],
               "partial": bool(remaining), "remaining": list(remaining)}
    path = out / "results.json"
    write_atomic(path, json.dumps(payload, indent=2, ensure_ascii=False, allow_nan=False) + "\n")
    return path


def write_report(results: Sequence[ClaimResult], out: str | Path, config: RunConfig,
                 elapsed: float | None = None, *, remaining: Sequence[str] = ()) -> Path:
    """Write ``index.html``, ``results.json`` and ``claims.md`` into ``out``; return the path of ``index.html``.

    ``remaining``: ids of claims that did not run (an interrupted ``reglab claims``): the report is
    then marked partial (``"partial": true`` and ``"remaining"`` in results.json, a notice at the
    top of claims.md and index.html).

    Examples
    --------
    >>> from reglab.claims import run_claims, RunConfig
    >>> path = write_report(run_claims(["l2-decay"], RunConfig(quick=True)), "reglab-report", RunConfig(quick=True))
    ... # doctest: +SKIP
    """
    if not results:
        raise ValueError("No claim results to report; run at least one claim.")
    out = Path(out)
    write_results(results, out, config, elapsed, remaining=remaining)
    markdown, page = render_markdown(results, config, elapsed), render_html(results, config, elapsed)
    if remaining:
        notice = f"Partial report: interrupted before these claims ran: {', '.join(remaining)}."
        markdown = markdown.replace("\n", f"\n\n**{notice}**\n", 1)
        page = page.replace("</h1>", f"</h1>\n<p class=\"partial\"><strong>{_escape(notice)}</strong></p>", 1)
    write_atomic(out / "claims.md", markdown)
    index = out / "index.html"
    write_atomic(index, page)
    return index
