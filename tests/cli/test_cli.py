"""The ``reglab`` command, through typer's CliRunner: output, overrides, JSON, and exit codes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from reglab.cli import app, parse_penalty
from reglab.spec import load_spec, run_spec

DEMO = str(Path(__file__).resolve().parents[2] / "examples" / "demo.yaml")
runner = CliRunner()


def _json(args: list[str]) -> dict:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_fit_demo_spec_prints_the_result_tables() -> None:
    result = runner.invoke(app, ["fit", DEMO])
    assert result.exit_code == 0, result.output
    for text in ("status", "max_steps", "data loss (train)", "penalty", "objective", "null-model loss (train)",
                 "linear.weight", "linear.bias", "L2 norm", "L1 norm", "exact zeros", "L2(0.05)"):
        assert text in result.stdout


def test_fit_demo_json_equals_the_spec_run_in_python() -> None:
    out = _json(["fit", DEMO])
    expected = run_spec(load_spec(DEMO)).summary()
    for key in ("status", "steps", "lr", "train_loss", "penalty", "objective", "null_train_loss", "exact_zeros"):
        assert out[key] == expected[key]
    assert out["tensors"]["linear.weight"] == expected["tensors"]["linear.weight"]
    assert out["spec"]["model"] == "linear"


def test_flags_override_the_spec() -> None:
    out = _json(["fit", DEMO, "--steps", "7", "--penalty", "l1:0.05:proximal", "--lr", "0.05", "--seed", "2"])
    assert out["steps"] == 7 and out["lr"] == 0.05
    assert out["spec"]["penalties"] == [{"kind": "l1", "strength": 0.05, "update": "proximal"}]
    assert out["spec"]["seed"] == 2


def test_repeated_penalty_flags_give_several_terms() -> None:
    out = _json(["fit", "--data", "zero_column", "--steps", "5", "--penalty", "l2:0.01",
                 "--penalty", "elasticnet:0.1:0.5:proximal"])
    assert out["spec"]["penalties"] == [
        {"kind": "l2", "strength": 0.01},
        {"kind": "elasticnet", "strength": 0.1, "l1_ratio": 0.5, "update": "proximal"},
    ]


def test_proximal_l1_on_the_zero_column_reports_an_exact_zero() -> None:
    out = _json(["fit", DEMO, "--penalty", "l1:0.05:proximal", "--steps", "300"])
    assert out["tensors"]["linear.weight"]["exact_zeros"] >= 1


def test_data_flag_takes_a_scenario_or_bundled_dataset_with_held_out_numbers() -> None:
    out = _json(["fit", "--data", "pure_noise", "--model", "logistic", "--steps", "20"])
    assert out["test_loss"] is not None and out["null_test_loss"] is not None
    out = _json(["fit", "--data", "diabetes", "--lr", "auto", "--steps", "20"])
    assert out["test_loss"] is not None and out["spec"]["data"] == {"dataset": "diabetes"}


def test_data_file_with_target(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=40), "b": rng.normal(size=40)})
    frame["y"] = frame["a"] - frame["b"]
    frame.to_csv(tmp_path / "my.csv", index=False)
    for flag in ("--data-file", "--data"):
        out = _json(["fit", flag, str(tmp_path / "my.csv"), "--target", "y", "--lr", "auto", "--steps", "100"])
        assert out["test_loss"] < out["null_test_loss"]
        assert list(out["tensors"]) == ["linear.weight", "linear.bias"]


def test_model_override_drops_model_args_of_another_model(tmp_path: Path) -> None:
    spec = tmp_path / "mlp.yaml"
    spec.write_text("model: mlp\nmodel_args: {hidden: [4]}\ndata: {scenario: pure_noise, n: 30, p: 3}\nsteps: 3\n")
    out = _json(["fit", str(spec), "--model", "linear"])
    assert out["spec"]["model"] == "linear" and "model_args" not in out["spec"]
    assert out["n_parameters"] == 4


BAD_INVOCATIONS = {
    "steps_not_an_int": (["fit", DEMO, "--steps", "abc"], r"Invalid value for '--steps'"),
    "unknown_option": (["fit", DEMO, "--stepz", "3"], r"No such option: --stepz"),
    "penalty_unknown_kind": (["fit", DEMO, "--penalty", "l3:0.1"], r"Error: --penalty 'l3:0.1': unknown kind 'l3'"),
    "penalty_not_a_number": (["fit", DEMO, "--penalty", "l2:lots"], r"Error: --penalty 'l2:lots': strength 'lots' is not a number"),
    "penalty_negative": (["fit", DEMO, "--penalty", "l2:-1"], r"Error: .*Penalty strength must be non-negative"),
    "penalty_unknown_rule": (["fit", DEMO, "--penalty", "l1:0.1:lazy"], r"Error: --penalty 'l1:0.1:lazy': unknown update rule 'lazy'"),
    "lr_negative": (["fit", DEMO, "--lr", "-0.1"], r"Error: --lr must be a positive, finite number"),
    "lr_word": (["fit", DEMO, "--lr", "fast"], r"Error: --lr 'fast' is not a number or 'auto'"),
    "unknown_optimizer": (["fit", DEMO, "--optimizer", "rmsprop"], r"Error: Spec key 'optimizer': unknown value 'rmsprop'"),
    "unknown_model": (["fit", DEMO, "--model", "cnn"], r"Error: Spec key 'model': unknown value 'cnn'"),
    "unknown_data": (["fit", "--data", "moons"], r"Error: --data 'moons' is not a scenario"),
    "no_spec_no_data": (["fit"], r"Error: Give a spec file or --data"),
    "missing_spec_file": (["fit", "missing.yaml"], r"Error: Spec file 'missing\.yaml' does not exist"),
    "file_without_target": (["fit", "--data-file", "my.csv"], r"Error: --target COLUMN is needed"),
    "gd_with_batch_size": (["fit", DEMO, "--batch-size", "8"], r"Error: optimizer 'gd' is full-batch"),
    "proximal_with_adam": (["fit", DEMO, "--optimizer", "adam", "--penalty", "l1:0.1:proximal"],
                           r"Error: .*update='proximal' needs a plain gradient step"),
    "claims_unknown_device": (["claims", "--only", "dead-units", "--device", "gpu0"],
                              r"Error: --device: Unknown device 'gpu0'"),
    "claims_meta_device": (["claims", "--only", "dead-units", "--device", "meta"],
                           r"Error: --device: device='meta' holds no data"),
    "claims_no_jobs": (["claims", "--only", "l2-decay", "--jobs", "0"], r"Invalid value for '--jobs'"),
}


@pytest.mark.parametrize("name", list(BAD_INVOCATIONS))
def test_bad_input_exits_2_with_a_one_line_message_and_no_traceback(name: str) -> None:
    args, pattern = BAD_INVOCATIONS[name]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert re.search(pattern, result.output), result.output
    assert "Traceback" not in result.output
    if pattern.startswith("Error:"):
        assert len([line for line in result.stderr.splitlines() if line.strip()]) == 1
        assert result.stdout == ""


def test_a_spec_file_with_an_unknown_key_exits_2_naming_it(tmp_path: Path) -> None:
    spec = tmp_path / "typo.yaml"
    spec.write_text("data: {scenario: pure_noise}\nlearning_rate: 0.1\n")
    result = runner.invoke(app, ["fit", str(spec)])
    assert result.exit_code == 2
    assert re.search(r"Error: Spec file '.*typo\.yaml': Unknown spec key 'learning_rate'", result.stderr)


def test_divergence_exits_1_with_the_largest_stable_learning_rate() -> None:
    result = runner.invoke(app, ["fit", DEMO, "--lr", "5"])
    assert result.exit_code == 1
    assert re.search(r"Error: Training diverged at step \d+ with lr=5: .* 2/L = ", result.stderr)
    assert "Traceback" not in result.output


def test_help_lists_the_fit_command_and_its_options() -> None:
    top = runner.invoke(app, ["--help"])
    assert top.exit_code == 0 and re.search(r"\bfit\b", top.stdout)
    sub = runner.invoke(app, ["fit", "--help"])
    assert sub.exit_code == 0
    for flag in ("--model", "--data", "--data-file", "--target", "--loss", "--penalty", "--optimizer", "--lr",
                 "--steps", "--batch-size", "--seed", "--json", "SPEC.yaml"):
        assert flag in sub.stdout, flag


def test_no_arguments_shows_help() -> None:
    result = runner.invoke(app, [])
    assert "Usage" in result.output and "fit" in result.output


@pytest.mark.parametrize("text, entry", [
    ("l2:0.01", {"kind": "l2", "strength": 0.01}),
    ("L1:0.1:proximal", {"kind": "l1", "strength": 0.1, "update": "proximal"}),
    ("elasticnet:0.1:0.5", {"kind": "elasticnet", "strength": 0.1, "l1_ratio": 0.5}),
    ("elasticnet:0.1:0.5:proximal", {"kind": "elasticnet", "strength": 0.1, "l1_ratio": 0.5, "update": "proximal"}),
])
def test_parse_penalty(text: str, entry: dict) -> None:
    assert parse_penalty(text) == entry


@pytest.mark.parametrize("text", ["l2", "l2:0.1:proximal:extra", "elasticnet:0.1", "l1:0.1:0.5:proximal"])
def test_parse_penalty_refuses_the_wrong_number_of_fields(text: str) -> None:
    with pytest.raises(ValueError, match=r"KIND:STRENGTH\[:L1_RATIO\]\[:UPDATE\]|unknown update rule"):
        parse_penalty(text)


def test_json_of_a_diverged_run_is_standard_json_with_null_for_non_finite_numbers(tmp_path: Path) -> None:
    spec = tmp_path / "stop.yaml"
    spec.write_text("data: {scenario: zero_column, n: 30, p: 3}\nlr: 1.0e+200\nsteps: 100\non_divergence: stop\n")
    result = runner.invoke(app, ["fit", str(spec), "--json"])
    assert result.exit_code == 0, result.output
    assert "NaN" not in result.stdout and "Infinity" not in result.stdout
    out = json.loads(result.stdout)
    assert out["status"] == "diverged"
    # the weights overflowed: their norms are not finite, and JSON says so with null
    assert out["train_loss"] is None and out["tensors"]["linear.weight"]["l2_norm"] is None


def test_a_folder_given_as_the_spec_says_it_is_a_folder(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["fit", str(tmp_path)])
    assert result.exit_code == 2 and "is a folder" in result.output and "does not exist" not in result.output


@pytest.mark.parametrize("command", ["fit", "sweep", "claims"])
def test_flags_are_shown_without_a_value_to_type(command: str) -> None:
    out = CliRunner().invoke(app, [command, "--help"], terminal_width=200).output
    for line in out.splitlines():
        if any(f in line for f in ("--json", "--resume", "--keep-history", "--quick", "--list ")):
            assert "<bool>" not in line, line
