"""``reglab sweep`` and ``reglab results`` through the Typer app."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from reglab.cli import app
from reglab.sweep import ResultStore

SWEEP = {"base": {"data": {"scenario": "zero_column", "n": 40, "p": 3}, "lr": 0.05, "steps": 20,
                  "penalties": [{"kind": "l2", "strength": 0.1}]},
         "grid": {"penalties.0.strength": [0.01, 0.1], "tie": [{"seed": 0, "lr": 0.05}, {"seed": 1, "lr": 0.1}]}}


def test_sweep_stores_every_run_and_results_prints_them_and_answers_sql(tmp_path: Path) -> None:
    spec = tmp_path / "sweep.yaml"
    spec.write_text(yaml.safe_dump(SWEEP))
    out = tmp_path / "out"
    runner = CliRunner()
    res = runner.invoke(app, ["sweep", str(spec), "--out", str(out), "--executor", "batched"])
    assert res.exit_code == 0, res.output
    assert "4 run(s) stored" in res.output
    assert len(ResultStore(out).stored_ids()) == 4
    again = runner.invoke(app, ["sweep", str(spec), "--out", str(out)])
    assert again.exit_code == 2 and "--resume" in again.output
    resumed = runner.invoke(app, ["sweep", str(spec), "--out", str(out), "--resume"])
    assert resumed.exit_code == 0 and "4 skipped" in resumed.output
    table = runner.invoke(app, ["results", str(out)])
    assert table.exit_code == 0 and "4 row(s)" in table.output
    sql = runner.invoke(app, ["results", str(out), "--sql", "SELECT count(DISTINCT p_seed) AS seeds FROM runs"])
    assert sql.exit_code == 0 and "seeds" in sql.output and "2" in sql.output
    bad = runner.invoke(app, ["results", str(out), "--sql", "SELECT nope FROM runs"])
    assert bad.exit_code == 2 and "The query failed" in bad.output


def test_sweep_refuses_an_unknown_executor_with_exit_code_2(tmp_path: Path) -> None:
    spec = tmp_path / "sweep.yaml"
    spec.write_text(yaml.safe_dump(SWEEP))
    res = CliRunner().invoke(app, ["sweep", str(spec), "--out", str(tmp_path / "o"), "--executor", "dask"])
    assert res.exit_code == 2 and "Unknown executor 'dask'" in res.output


def test_a_file_given_as_the_store_folder_is_one_line_and_exit_2(tmp_path) -> None:
    spec = tmp_path / "sweep.yaml"
    spec.write_text("base: {data: {scenario: zero_column, n: 20, p: 2}, steps: 2}\n")
    out = tmp_path / "taken.txt"
    out.write_text("not a folder")
    result = CliRunner().invoke(app, ["sweep", str(spec), "--out", str(out)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output and "is a file; the result store is a folder" in result.output
    assert out.read_text() == "not a folder"


def test_a_folder_given_as_the_sweep_file_says_it_is_a_folder(tmp_path) -> None:
    result = CliRunner().invoke(app, ["sweep", str(tmp_path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "is a folder" in result.output and "does not exist" not in result.output
