"""FitResult's history holds what the docs say it holds (docs/design.md drifted once: it named per-tensor
norms and zeros the history never had)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from reglab import L2, fit
from reglab.training import History

DESIGN = Path(__file__).resolve().parents[2] / "docs" / "design.md"


def _documented_history_fields() -> list[str]:
    line = next(ln for ln in DESIGN.read_text(encoding="utf-8").splitlines() if ln.startswith("result.history"))
    listed = re.split(r"per logged step:\s*", line, maxsplit=1)[1]
    return [name.strip().replace(" ", "_") for name in listed.split(",")]


def test_design_md_names_exactly_the_history_fields() -> None:
    assert _documented_history_fields() == [f.name for f in dataclasses.fields(History)]


def test_every_history_column_has_one_entry_per_logged_step() -> None:
    res = fit("linear", ([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], [1.0, 2.0, 3.0]), penalties=[L2(0.1)],
              steps=10, log_every=5, seed=0)
    columns = res.history.to_dict()
    assert set(columns) == {f.name for f in dataclasses.fields(History)}
    assert {len(v) for v in columns.values()} == {len(res.history.step)} == {3}
