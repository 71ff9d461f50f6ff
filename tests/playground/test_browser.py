"""The page in a real browser: Playwright drives headless Chromium against a loopback server.

Loads preset "L1 subgradient", checks the plotted weight oscillates between ε and ε − ηλ and equals a
direct fit(), switches the rule to proximal and checks it lands on exactly 0 at ⌈|w₀|/(ηλ)⌉, moves the
η slider, reopens the shared URL, enters a bad value and an invalid combination, and checks the page
asked nothing of any other host. Saves a screenshot to artifacts/playground.png.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest

sync_api = pytest.importorskip("playwright.sync_api")

import reglab
from reglab.data import zero_column

CHROMIUM = os.environ.get("REGLAB_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
TIMEOUT_MS = 600_000  # a hang guard: each wait ends as soon as the page has redrawn

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM}")


def _direct_path(lam: float, lr: float, rule: str, steps: int = 200) -> np.ndarray:
    res = reglab.fit("linear", zero_column(n=100, p=5, column=0, seed=0), penalties=[reglab.L1(lam, update=rule)],
                     optimizer="gd", lr=lr, steps=steps, seed=0, record={"every": 1})
    return res.trajectory.path("linear.weight[0,0]")


def _wait_run(page, count: int, state: str = "ready") -> dict:
    """Wait until the page has finished run number ``count + 1``; its data (None after an error)."""
    page.wait_for_function(f"window.runCount > {count} && document.body.dataset.state === '{state}'",
                           timeout=TIMEOUT_MS)
    return page.evaluate("window.lastRun")


def _zero_column_weight(run: dict) -> dict:
    return next(w for w in run["weights"] if w["name"] == "linear.weight[0,0]")


def test_page_l1_subgradient_then_proximal(server_url: str) -> None:
    requests: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1300})
            page.on("request", lambda r: requests.append(r.url))

            # preset "L1 subgradient": the weight of the zero column oscillates between ε and ε − ηλ
            page.goto(f"{server_url}/?preset=l1-subgradient")
            run = _wait_run(page, 0)
            assert run["request"]["rule"] == "gradient" and run["claim"]["id"] == "l1-oscillation"
            w = _zero_column_weight(run)
            path = np.array(w["values"], dtype=float)
            np.testing.assert_array_equal(path, _direct_path(0.1, 0.05, "gradient"))
            th = w["theory"]
            assert th["kind"] == "l1_band"
            tail = path[th["crossing"] + 1:]
            assert len(tail) > 20 and np.all(np.sign(tail[1:]) != np.sign(tail[:-1]))
            assert np.allclose(sorted(set(np.round(tail, 12))), sorted([th["eps"], th["other"]]), atol=1e-12)
            assert math.isclose(abs(th["eps"] - th["other"]), 0.05 * 0.1, rel_tol=1e-12)
            assert not np.any(path == 0.0)
            assert page.get_attribute("#claim-link", "href") == "reglab-report/index.html#l1-oscillation"
            assert "reglab.L1(0.1, update='gradient')" in page.inner_text("#python")

            # switch the rule to proximal: lands on exactly 0 at the predicted step
            n = page.evaluate("window.runCount")
            page.select_option("select[name=rule]", "proximal")
            run = _wait_run(page, n)
            w = _zero_column_weight(run)
            path = np.array(w["values"], dtype=float)
            np.testing.assert_array_equal(path, _direct_path(0.1, 0.05, "proximal"))
            k = w["theory"]["step"]
            assert k == math.ceil(abs(path[0]) / (0.05 * 0.1))
            assert path[k] == 0.0 and path[k - 1] != 0.0 and np.all(path[k:] == 0.0)
            assert "rule=proximal" in page.url

            # move the η slider: the field and the run follow
            n = page.evaluate("window.runCount")
            page.locator("#lr-slider").fill("-1.5")
            run = _wait_run(page, n)
            lr = float(page.input_value("input[name=lr]"))
            assert lr == pytest.approx(10 ** -1.5, rel=1e-2) and run["request"]["lr"] == lr
            np.testing.assert_array_equal(_zero_column_weight(run)["values"], _direct_path(0.1, lr, "proximal"))
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "playground.png"), full_page=True)

            # the URL reproduces the run in a fresh page
            shared, before = page.url, run
            other = browser.new_page()
            other.on("request", lambda r: requests.append(r.url))
            other.goto(shared)
            again = _wait_run(other, 0)
            assert again["weights"] == before["weights"] and again["history"] == before["history"]
            other.close()

            # a bad value shows the server's message; so does a combination the library refuses
            n = page.evaluate("window.runCount")
            page.fill("input[name=lam]", "-1")
            page.dispatch_event("input[name=lam]", "change")
            _wait_run(page, n, state="error")
            assert page.inner_text("#error").startswith("lam: Input should be greater than or equal to 0")
            page.fill("input[name=lam]", "0.1")
            n = page.evaluate("window.runCount")
            page.select_option("select[name=optimizer]", "adam")
            _wait_run(page, n, state="error")
            assert "update='proximal' needs a plain gradient step" in page.inner_text("#error")
        finally:
            browser.close()
    outside = [u for u in requests if not u.startswith(server_url + "/")]
    assert requests and not outside, outside


def test_a_report_link_by_claim_opens_that_claim_s_preset(server_url: str) -> None:
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page()
            page.goto(f"{server_url}/?claim=l1-proximal")
            run = _wait_run(page, 0)
            assert run["request"]["rule"] == "proximal" and run["claim"]["id"] == "l1-proximal"
        finally:
            browser.close()
