"""The claims report: a self-contained ``index.html`` (figures inline), ``results.json`` and ``claims.md``.

Every file is written atomically (a temporary file in the same folder, fsync, ``os.replace``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import jinja2

from reglab._io import atomic_write_text
from reglab.claims.base import ClaimResult, RunConfig, fmt

__all__ = ["render_html", "render_markdown", "write_atomic", "write_report"]

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
        "command_all": f"reglab claims --only {ids} --seed {config.seed}" + (" --quick" if config.quick else ""),
        "counts": {v: sum(r.verdict == v for r in results) for v in dict.fromkeys(r.verdict for r in results)},
        "setup_json": {r.id: r.to_dict()["setup"] for r in results},
    }


def render_html(results: Sequence[ClaimResult], config: RunConfig, elapsed: float | None = None) -> str:
    """The self-contained HTML report (figures as inline PNG data, no external resources)."""
    return _environment().get_template("report.html.j2").render(**_context(results, config, elapsed))


def render_markdown(results: Sequence[ClaimResult], config: RunConfig, elapsed: float | None = None) -> str:
    """The report as Markdown (no figures: their titles and captions)."""
    return _environment().get_template("claims.md.j2").render(**_context(results, config, elapsed))


def write_report(results: Sequence[ClaimResult], out: str | Path, config: RunConfig,
                 elapsed: float | None = None) -> Path:
    """Write ``index.html``, ``results.json`` and ``claims.md`` into ``out``; return the path of ``index.html``.

    Examples
    --------
    >>> from reglab.claims import run_claims, RunConfig
    >>> path = write_report(run_claims(["l2-decay"], RunConfig(quick=True)), "reglab-report", RunConfig(quick=True))
    ... # doctest: +SKIP
    """
    if not results:
        raise ValueError("No claim results to report; run at least one claim.")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    payload = {"reglab_version": _context(results, config, elapsed)["version"],
               "config": {"quick": config.quick, "seed": config.seed}, "elapsed": elapsed,
               "claims": [r.to_dict() for r in results]}
    write_atomic(out / "results.json", json.dumps(payload, indent=2, ensure_ascii=False, allow_nan=False) + "\n")
    write_atomic(out / "claims.md", render_markdown(results, config, elapsed))
    index = out / "index.html"
    write_atomic(index, render_html(results, config, elapsed))
    return index
