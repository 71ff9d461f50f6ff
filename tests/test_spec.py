"""Specs: YAML loading (safe only), validation with named keys, building fit()'s arguments, running."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import reglab
from reglab import L2
from reglab.data import zero_column
from reglab.spec import SPEC_KEYS, build_fit_kwargs, load_spec, run_spec, validate_spec

DEMO = Path(__file__).resolve().parents[1] / "examples" / "demo.yaml"
SMALL = {"model": "linear", "data": {"scenario": "zero_column", "n": 30, "p": 3}, "steps": 20, "lr": 0.1}


def test_demo_spec_loads_as_a_plain_dict() -> None:
    spec = load_spec(DEMO)
    assert type(spec) is dict
    assert spec["model"] == "linear" and spec["data"]["scenario"] == "zero_column"
    assert spec["penalties"] == [{"kind": "l2", "strength": 0.05}]
    assert json.loads(json.dumps(spec)) == spec


def test_run_spec_equals_fit_with_the_same_arguments() -> None:
    spec = {**SMALL, "penalties": [{"kind": "l2", "strength": 0.05}], "seed": 3}
    res = run_spec(spec)
    direct = reglab.fit("linear", zero_column(n=30, p=3), penalties=[L2(0.05)], steps=20, lr=0.1, seed=3)
    assert all(torch.equal(p, q) for p, q in zip(res.model.parameters(), direct.model.parameters()))
    assert res.history.objective == direct.history.objective


def test_build_fit_kwargs_builds_terms_data_and_dtype() -> None:
    spec = {**SMALL, "model": "mlp", "model_args": {"hidden": [4]}, "dtype": "float64",
            "penalties": [{"kind": "elasticnet", "strength": 0.1, "l1_ratio": 0.3, "update": "proximal",
                           "on": "fc1.weight"}]}
    kw = build_fit_kwargs(spec)
    assert kw["dtype"] is torch.float64 and kw["model_args"] == {"hidden": [4]}
    (term,) = kw["penalties"]
    assert (term.kind, term.strength, term.l1_ratio, term.update, term.on) == ("elasticnet", 0.1, 0.3, "proximal", "fc1.weight")
    assert isinstance(kw["data"], reglab.Dataset) and kw["data"].n_features == 3
    res = run_spec(spec)
    assert all(p.dtype == torch.float64 for p in res.model.parameters())


def test_validate_spec_returns_a_copy_and_leaves_its_input_alone() -> None:
    spec = {**SMALL, "penalties": [{"kind": "l1", "strength": 0.1}]}
    out = validate_spec(spec)
    out["penalties"][0]["strength"] = 5.0
    out["data"]["n"] = 7
    assert spec["penalties"][0]["strength"] == 0.1 and spec["data"]["n"] == 30


def test_model_defaults_to_the_canonical_model_of_the_datas_task() -> None:
    assert build_fit_kwargs({"data": {"dataset": "breast_cancer"}})["model"] == "logistic"
    assert build_fit_kwargs({"data": {"dataset": "digits"}})["model"] == "softmax"
    assert build_fit_kwargs({"data": {"scenario": "pure_noise", "n": 10}})["model"] == "linear"


def test_a_classification_model_on_a_scenario_gets_labels_of_its_task() -> None:
    kw = build_fit_kwargs({"model": "logistic", "data": {"scenario": "pure_noise", "n": 30, "p": 2}})
    assert kw["data"].task == "binary"
    kw = build_fit_kwargs({"model": "softmax", "data": {"scenario": "pure_noise", "n": 30, "p": 2, "n_classes": 4}})
    assert kw["data"].task == "multiclass" and kw["data"].n_outputs == 4


def test_csv_path_is_relative_to_the_spec_file(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=40), "b": rng.normal(size=40)})
    frame["y"] = 2 * frame["a"] + 0.1 * rng.normal(size=40)
    (tmp_path / "data").mkdir()
    frame.to_csv(tmp_path / "data" / "d.csv", index=False)
    (tmp_path / "spec.yaml").write_text("data: {csv: data/d.csv, target: y, test_size: 0.25}\nsteps: 50\nlr: auto\n")
    spec = load_spec(tmp_path / "spec.yaml")
    res = run_spec(spec, base_dir=tmp_path)
    assert res.data.feature_names == ["a", "b"]
    assert res.data.n_samples == 30 and res.data.X_test is not None and len(res.data.X_test) == 10
    assert res.summary()["test_loss"] < res.summary()["null_test_loss"]


def test_unknown_key_is_an_error_naming_it_and_listing_the_allowed_ones() -> None:
    with pytest.raises(ValueError, match=r"Unknown spec key 'stepz'\. Allowed keys: model, model_args, data, .*seed"):
        validate_spec({**SMALL, "stepz": 10})
    assert "stepz" not in SPEC_KEYS


BAD_SPECS = {
    "no_data": ({"model": "linear"}, ValueError, r"A spec needs 'data'"),
    "two_data_sources": ({"data": {"scenario": "pure_noise", "dataset": "digits"}}, ValueError,
                         r"'data' needs exactly one of scenario, dataset, csv, parquet"),
    "unknown_scenario": ({"data": {"scenario": "moons"}}, ValueError, r"unknown scenario 'moons'\. Choose one of linear_regression"),
    "unknown_dataset": ({"data": {"dataset": "iris"}}, ValueError, r"unknown dataset 'iris'"),
    "unknown_scenario_argument": ({"data": {"scenario": "pure_noise", "rows": 3}}, ValueError,
                                  r"unknown key\(s\) \['rows'\] for scenario 'pure_noise'; allowed: n, p, task"),
    "csv_without_target": ({"data": {"csv": "d.csv"}}, ValueError, r"needs 'target'"),
    "unknown_penalty_key": ({**SMALL, "penalties": [{"kind": "l2", "strength": 0.1, "lam": 1}]}, ValueError,
                            r"'penalties\.0': unknown key\(s\) \['lam'\]; allowed: kind, strength, on, update, l1_ratio"),
    "negative_strength": ({**SMALL, "penalties": [{"kind": "l2", "strength": -1}]}, ValueError,
                          r"'penalties\.0': Penalty strength must be non-negative"),
    "l1_ratio_out_of_range": ({**SMALL, "penalties": [{"kind": "elasticnet", "strength": 1, "l1_ratio": 2}]}, ValueError,
                              r"'penalties\.0': l1_ratio must be in \[0, 1\]"),
    "unknown_rule": ({**SMALL, "penalties": [{"kind": "l1", "strength": 1, "update": "lazy"}]}, ValueError,
                     r"Unknown update rule 'lazy'"),
    "penalties_not_a_list": ({**SMALL, "penalties": {"kind": "l2", "strength": 0.1}}, TypeError,
                             r"Spec key 'penalties' must be a list"),
    "unknown_model": ({**SMALL, "model": "cnn"}, ValueError, r"Spec key 'model': unknown value 'cnn'\. Choose one of linear"),
    "unknown_optimizer": ({**SMALL, "optimizer": "rmsprop"}, ValueError, r"Spec key 'optimizer': unknown value 'rmsprop'"),
    "unknown_loss": ({**SMALL, "loss": "hinge"}, ValueError, r"Spec key 'loss': unknown value 'hinge'"),
    "unknown_dtype": ({**SMALL, "dtype": "float16"}, ValueError, r"Spec key 'dtype': unknown value 'float16'"),
    "steps_as_text": ({**SMALL, "steps": "ten"}, TypeError, r"Spec key 'steps' must be an integer; got str 'ten'"),
    "steps_as_float": ({**SMALL, "steps": 10.5}, TypeError, r"Spec key 'steps' must be an integer"),
    "lr_as_text": ({**SMALL, "lr": "fast"}, TypeError, r"Spec key 'lr' must be a positive number or 'auto'"),
    "lr_negative": ({**SMALL, "lr": -0.1}, ValueError, r"Spec key 'lr' must be a positive, finite number"),
    "model_args_list": ({**SMALL, "model_args": [32]}, TypeError, r"Spec key 'model_args' must be a mapping"),
    "record_text": ({**SMALL, "record": "yes"}, TypeError, r"Spec key 'record' must be true, false or a mapping"),
    "seed_bool": ({**SMALL, "seed": True}, TypeError, r"Spec key 'seed' must be an integer"),
}


@pytest.mark.parametrize("name", list(BAD_SPECS))
def test_bad_spec_is_refused_with_the_key_named(name: str) -> None:
    spec, error, pattern = BAD_SPECS[name]
    with pytest.raises(error, match=pattern):
        validate_spec(spec)


def test_missing_spec_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"Spec file '.*nope\.yaml' does not exist"):
        load_spec(tmp_path / "nope.yaml")


def test_malformed_yaml_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("model: linear\ndata: {scenario: pure_noise\n")
    with pytest.raises(ValueError, match=r"Spec file '.*bad\.yaml' is not valid YAML"):
        load_spec(path)


def test_a_spec_file_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- model\n- data\n")
    with pytest.raises(ValueError, match=r"Spec file '.*list\.yaml' must hold a mapping .*; got list"):
        load_spec(path)


def test_spec_file_errors_name_the_file_and_the_key(tmp_path: Path) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text("data: {scenario: pure_noise}\nlearning_rate: 0.1\n")
    with pytest.raises(ValueError, match=r"Spec file '.*typo\.yaml': Unknown spec key 'learning_rate'"):
        load_spec(path)


def test_python_object_tags_are_refused_and_never_executed(tmp_path: Path) -> None:
    marker = tmp_path / "created_by_yaml"
    path = tmp_path / "evil.yaml"
    path.write_text(f"data: {{scenario: pure_noise}}\nseed: !!python/object/apply:os.mkdir [{str(marker)!r}]\n")
    with pytest.raises(ValueError, match=r"is not valid YAML: .*python/object/apply:os\.mkdir"):
        load_spec(path)
    assert not marker.exists()


def test_record_and_on_divergence_pass_through_to_fit() -> None:
    recorded = run_spec({**SMALL, "record": True})
    assert recorded.trajectory is not None
    assert run_spec(SMALL).trajectory is None
    diverged = run_spec({**SMALL, "lr": 5.0, "on_divergence": "stop"})
    assert diverged.status == "diverged"


def test_exponent_notation_without_a_dot_is_read_as_a_number(tmp_path: Path) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text("data: {scenario: pure_noise}\nlr: 1e-3\npenalties:\n  - {kind: l1, strength: 5E-4}\n"
                    "tol: -1e+2\nseed: 10\n")
    spec = load_spec(path)
    assert spec["lr"] == 1e-3 and spec["penalties"][0]["strength"] == 5e-4 and spec["tol"] == -100.0
    assert spec["seed"] == 10 and type(spec["seed"]) is int
