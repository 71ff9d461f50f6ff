"""The claims report: self-contained HTML, results.json and claims.md, written atomically."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from reglab.claims.base import HOLDS, ClaimResult, RunConfig
from reglab.report.html import render_html, write_atomic, write_report


def test_index_html_is_self_contained(quick_report: dict[str, Any]):
    html = (quick_report["out"] / "index.html").read_text(encoding="utf-8")
    # no external scripts, styles, fonts or images: every src / href is inline data or an in-page anchor
    assert "<script" not in html
    for attr in re.findall(r'(?:src|href)="([^"]*)"', html):
        assert attr.startswith(("data:image/png;base64,", "#")), attr
    assert "@import" not in html and "url(" not in html


def test_index_html_has_a_section_with_rule_figures_and_command_per_claim(quick_report: dict[str, Any]):
    html = (quick_report["out"] / "index.html").read_text(encoding="utf-8")
    for c in quick_report["results"]["claims"]:
        section = html.split(f'id="claim-{c["id"]}"')[1].split('<section class="claim"')[0]
        assert c["verdict"] in section and "Rule." in section
        assert section.count("data:image/png;base64,") == len(c["figures"]) > 0
        assert c["command"] in section


def test_results_json_and_claims_md_carry_every_verdict(quick_report: dict[str, Any]):
    results = json.loads((quick_report["out"] / "results.json").read_text(encoding="utf-8"))
    md = (quick_report["out"] / "claims.md").read_text(encoding="utf-8")
    assert results["config"] == {"quick": True, "seed": 0, "device": "cpu"}
    for c in results["claims"]:
        assert f"| [{c['id']}](#{c['id']}) | {c['verdict']} |" in md
        assert c["measurements"] and c["rule"]
    assert not [p.name for p in quick_report["out"].iterdir() if p.name.startswith(".")]  # no temp files left


def _result(explanation: str) -> ClaimResult:
    return ClaimResult(id="demo", title="<b>t</b>", statement="s", setup={"x": 1}, measurements={"m": 0.5},
                       verdict=HOLDS, rule="r", explanation=explanation, key="m", command="reglab claims --only demo")


def test_html_escapes_text_from_results():
    html = render_html([_result("<script>alert(1)</script>")], RunConfig())
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html


def test_write_report_refuses_an_empty_result_list(tmp_path):
    with pytest.raises(ValueError, match="No claim results"):
        write_report([], tmp_path, RunConfig())


def test_write_atomic_replaces_the_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "a" / "f.txt"
    write_atomic(target, "one")
    write_atomic(target, "two")
    assert target.read_text() == "two"
    assert [p.name for p in target.parent.iterdir()] == ["f.txt"]


def test_each_claim_section_names_its_playground_link(quick_report: dict[str, Any]):
    html = (quick_report["out"] / "index.html").read_text(encoding="utf-8")
    for c in quick_report["results"]["claims"]:
        assert f"http://127.0.0.1:8000/?claim={c['id']}" in html
