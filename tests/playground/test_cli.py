"""``reglab play``: registered, loopback by default, serves the app it is given."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

pytest.importorskip("fastapi")

from reglab.cli import app


def test_play_defaults_to_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    monkeypatch.setattr("reglab.playground.serve", lambda host, port, open_browser: calls.append((host, port, open_browser)))
    result = CliRunner().invoke(app, ["play", "--no-browser"])
    assert result.exit_code == 0, result.output
    assert calls == [("127.0.0.1", 8000, False)]


def test_play_warns_off_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("reglab.playground.serve", lambda host, port, open_browser: None)
    result = CliRunner().invoke(app, ["play", "--host", "0.0.0.0", "--port", "8123", "--no-browser"])
    assert result.exit_code == 0 and "anyone who can reach it" in result.output


def test_play_rejects_a_bad_port() -> None:
    assert CliRunner().invoke(app, ["play", "--port", "70000"]).exit_code == 2
