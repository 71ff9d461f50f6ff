"""Open the report in headless Chromium: no console errors, every figure rendered, every claim summarised."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]


def test_report_renders_in_headless_chromium(quick_report: dict[str, Any]):
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install it with `apt-get update && apt-get install -y chromium` (`make test` does, as root).")
    from playwright.sync_api import sync_playwright

    index = (quick_report["out"] / "index.html").resolve()
    ids = [c["id"] for c in quick_report["results"]["claims"]]
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(index.as_uri(), wait_until="load")
            sizes = page.eval_on_selector_all(
                "figure img", "imgs => imgs.map(i => [i.complete, i.naturalWidth, i.getBoundingClientRect().width,"
                " i.getBoundingClientRect().height])")
            summary_ids = page.eval_on_selector_all("#summary tbody tr", "rows => rows.map(r => r.dataset.claim)")
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "claims-report.png"), full_page=True)
        finally:
            browser.close()
    assert errors == []
    assert len(sizes) == sum(len(c["figures"]) for c in quick_report["results"]["claims"]) > 0
    for complete, natural_width, width, height in sizes:
        assert complete and natural_width > 0 and width > 0 and height > 0
    assert summary_ids == ids
    assert (ARTIFACTS / "claims-report.png").stat().st_size > 0
