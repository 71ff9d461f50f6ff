"""Shared test fixtures and settings: kept small on purpose."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, settings

# modest example counts: the whole suite runs on two shared cores
settings.register_profile("reglab", max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("reglab")

# the tests use small tensors on two shared, often oversubscribed cores: torch's intra-op threads only
# add spin-waiting there (binary_cross_entropy_with_logits on 569 samples: 0.1 ms on one thread,
# 7-12 ms on two under load)
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def quick_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One ``reglab claims --quick --seed 0`` run for the session (tests/claims and tests/report share it):
    the CLI output, the report folder and the parsed results.json."""
    import json

    from typer.testing import CliRunner

    from reglab.cli import app

    out = tmp_path_factory.mktemp("report")
    result = CliRunner().invoke(app, ["claims", "--quick", "--seed", "0", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return {"out": Path(out), "output": result.output,
            "results": json.loads((out / "results.json").read_text(encoding="utf-8"))}
