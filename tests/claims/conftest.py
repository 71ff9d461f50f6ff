"""One quick run of every claim through the CLI, shared by the claims and report tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner


@pytest.fixture(scope="session")
def quick_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``reglab claims --quick --seed 0`` into a temporary folder: its output, folder and results.json."""
    from reglab.cli import app

    out = tmp_path_factory.mktemp("report")
    result = CliRunner().invoke(app, ["claims", "--quick", "--seed", "0", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return {"out": Path(out), "output": result.output,
            "results": json.loads((out / "results.json").read_text(encoding="utf-8"))}
