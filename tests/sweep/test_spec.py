"""Grid expansion: products, tied groups, dotted keys, stable run ids, errors that say what to fix."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from reglab.sweep import expand_sweep, run_id

BASE = {"data": {"scenario": "zero_column", "n": 20, "p": 3},
        "penalties": [{"kind": "l2", "strength": 0.1}, {"kind": "l1", "strength": 0.1, "update": "proximal"}]}


def test_grid_is_the_product_of_its_axes_with_a_tied_group_as_one_axis() -> None:
    runs = expand_sweep({"base": BASE, "grid": {
        "penalties.0.strength": [0.01, 0.1, 1.0],
        "tie": [{"lr": 0.1, "steps": 10}, {"lr": 0.01, "steps": 100}],
    }})
    assert len(runs) == 6
    pairs = {(r.spec["lr"], r.spec["steps"]) for r in runs}
    assert pairs == {(0.1, 10), (0.01, 100)}  # never lr=0.1 with steps=100
    assert [r.spec["penalties"][0]["strength"] for r in runs] == [0.01, 0.01, 0.1, 0.1, 1.0, 1.0]
    assert all(r.spec["penalties"][1]["strength"] == 0.1 for r in runs)  # untouched entries stay


def test_run_ids_are_stable_across_processes_and_distinct_across_runs() -> None:
    sweep = {"base": BASE, "grid": {"seed": [0, 1, 2]}}
    ids = [r.run_id for r in expand_sweep(sweep)]
    assert len(set(ids)) == 3
    code = f"import json; from reglab.sweep.spec import expand_sweep; print(json.dumps([r.run_id for r in expand_sweep({sweep!r})]))"
    other = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert other == ids
    assert run_id({"a": 1, "b": [1, 2]}) == run_id({"b": [1, 2], "a": 1}) != run_id({"a": 1, "b": [2, 1]})


@pytest.mark.parametrize(("grid", "error", "match"), [
    ({"penalties.5.strength": [0.1]}, ValueError, "index 5 is out of range"),
    ({"penalties.x.strength": [0.1]}, ValueError, "must be an integer"),
    ({"seed": []}, ValueError, "non-empty list"),
    ({"tie": [{"lr": 0.1}, {"steps": 3}]}, ValueError, "same keys"),
    ({"stepz": [1, 2]}, ValueError, "Unknown spec key 'stepz'"),
    ({"seed": [0, 0]}, ValueError, "repeats an earlier point"),
    ({"penalties.0.strength": [-1.0]}, ValueError, "Grid point .*non-negative"),
])
def test_malformed_grids_are_refused_with_a_message_naming_the_problem(grid, error, match) -> None:
    with pytest.raises(error, match=match):
        expand_sweep({"base": BASE, "grid": grid})


def test_a_sweep_needs_a_base_and_knows_only_base_and_grid() -> None:
    with pytest.raises(ValueError, match="needs 'base'"):
        expand_sweep({"grid": {"seed": [0]}})
    with pytest.raises(ValueError, match="Unknown sweep key"):
        expand_sweep({"base": BASE, "grids": {}})
