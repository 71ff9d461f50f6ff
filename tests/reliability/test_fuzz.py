"""Fuzzing reglab's front doors with generated bad input.

Every generated case must end in a typed error whose message names the problem (``ValueError`` /
``TypeError`` / ``FileNotFoundError`` / :class:`reglab.DivergenceError`; scikit-learn's own errors
are ``ValueError`` subclasses), or, for a fit that returns, in finite parameters and losses (or
status ``"diverged"``). An ``IndexError``, ``KeyError``, a bare ``RuntimeError`` from torch or a
silent NaN fails the test.

What was tried is counted per front door, category and outcome and written to
``fuzz_counts.json`` in pytest's temporary folder (``docs/reliability.md`` tabulates one run).
"""

from __future__ import annotations

import json
import math
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import reglab
from reglab.data import Dataset, as_dataset
from reglab.sklearn import GDClassifier, GDRegressor, MLPClassifier, MLPRegressor
from reglab.spec import SPEC_KEYS, load_spec, validate_spec
from reglab.sweep.spec import expand_sweep, load_sweep

COUNTS: Counter[tuple[str, str, str]] = Counter()
TYPED = (ValueError, TypeError, FileNotFoundError, reglab.DivergenceError)
FUZZ = settings(max_examples=40, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
FUZZ_CHEAP = settings(FUZZ, max_examples=100)  # spec checks: no training, so more cases


@pytest.fixture(scope="module", autouse=True)
def _write_counts(tmp_path_factory: pytest.TempPathFactory) -> Any:
    yield
    rows = [{"door": d, "category": c, "outcome": o, "count": n} for (d, c, o), n in sorted(COUNTS.items())]
    path = tmp_path_factory.getbasetemp() / "fuzz_counts.json"
    path.write_text(json.dumps(rows, indent=1))
    print(f"\nfuzz counts: {path}")


def _outcome(door: str, category: str, call: Any, words: tuple[str, ...] = ()) -> Any:
    """Run ``call``; count and check its outcome. Returns the result, or None after a typed error."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = call()
    except TYPED as err:
        msg = str(err)
        assert msg.strip(), f"{door}/{category}: {type(err).__name__} with an empty message"
        if words:
            assert any(w.lower() in msg.lower() for w in words), (
                f"{door}/{category}: {type(err).__name__} message does not name the problem "
                f"(expected one of {words}): {msg}")
        COUNTS[(door, category, type(err).__name__)] += 1
        return None
    except Exception as err:  # anything else is a bug: report it with its type
        COUNTS[(door, category, "UNHANDLED " + type(err).__name__)] += 1
        raise AssertionError(f"{door}/{category}: unhandled {type(err).__name__}: {err}") from err
    kinds = sorted({w.category.__name__ for w in caught})
    COUNTS[(door, category, "returned" + (f" + {'/'.join(kinds)}" if kinds else ""))] += 1
    return result


def _check_fit_result(res: Any) -> None:
    if res is None:
        return
    if res.status == "diverged":
        return
    for name, p in res.model.named_parameters():
        assert torch.isfinite(p).all(), f"fit returned non-finite parameter {name} with status {res.status}"
    for key in ("data_loss", "penalty", "objective"):
        vals = getattr(res.history, key)
        assert all(math.isfinite(v) for v in vals), f"fit returned non-finite {key} with status {res.status}"


# -- bad data -------------------------------------------------------------------------------------

NAN_WORDS = ("nan", "infinity", "inf", "too large", "finite")


@st.composite
def bad_data(draw: Any) -> tuple[str, Any, Any, tuple[str, ...]]:
    """(category, X, y, words the error must contain) for one kind of bad data."""
    category = draw(st.sampled_from([
        "nan_inf", "empty", "one_sample", "constant_target", "magnitude", "wrong_shape", "wrong_dtype",
        "length_mismatch",
    ]))
    n = draw(st.integers(2, 12))
    p = draw(st.integers(1, 4))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    X = rng.normal(size=(n, p))
    y = rng.normal(size=n)
    words: tuple[str, ...] = ()
    if category == "nan_inf":
        bad = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
        if draw(st.booleans()):
            X[draw(st.integers(0, n - 1)), draw(st.integers(0, p - 1))] = bad
        else:
            y[draw(st.integers(0, n - 1))] = bad
        words = NAN_WORDS
    elif category == "empty":
        X, y = (np.empty((0, p)), np.empty(0)) if draw(st.booleans()) else (np.empty((n, 0)), y)
        words = ("0 sample", "0 feature", "empty", "minimum")
    elif category == "one_sample":
        X, y = X[:1], y[:1]
    elif category == "constant_target":
        y = np.full(n, draw(st.sampled_from([0.0, 1.0, -3.5])))
    elif category == "magnitude":
        scale = draw(st.sampled_from([1e300, 1e-300, 1e150, 1e-150]))
        if draw(st.booleans()):
            X = X * scale
        else:
            y = y * scale
    elif category == "wrong_shape":
        kind = draw(st.sampled_from(["X_1d", "X_3d", "y_2d", "X_scalar"]))
        if kind == "X_1d":
            X = X[:, 0]
        elif kind == "X_3d":
            X = X[:, :, None]
        elif kind == "X_scalar":
            X = np.float64(1.0)
        else:
            y = np.stack([y, y], axis=1)
        words = ("dimension", "1d", "2d", "shape", "array")
    elif category == "wrong_dtype":
        kind = draw(st.sampled_from(["str_X", "complex_X", "object_X", "dict_X", "str_y"]))
        if kind == "str_X":
            X = X.astype(str).astype(object)
            X[0, 0] = "abc"
        elif kind == "complex_X":
            X = X + 1j
        elif kind == "object_X":
            X = X.astype(object)
            X[0, 0] = None
        elif kind == "dict_X":
            X = {"a": 1}
        else:
            y = np.array(["x"] * (n - 1) + ["y"], dtype=object)  # labels: fine for a classifier
        words = ()
    else:  # length_mismatch
        y = y[:-1] if n > 2 else np.append(y, 0.0)
        words = ("inconsistent", "samples", "length")
    return category, X, y, words


@FUZZ
@given(bad_data())
def test_dataset_from_arrays_refuses_bad_data_with_typed_errors(case: Any) -> None:
    category, X, y, words = case
    res = _outcome("Dataset.from_arrays", category, lambda: Dataset.from_arrays(X, y), words)
    if res is not None:
        assert torch.isfinite(res.X).all() and (not res.y.is_floating_point() or torch.isfinite(res.y).all())


@FUZZ
@given(bad_data())
def test_as_dataset_refuses_bad_data_and_bad_containers(case: Any) -> None:
    category, X, y, words = case
    _outcome("as_dataset", category, lambda: as_dataset((X, y)), words)
    _outcome("as_dataset", "wrong_container", lambda: as_dataset([X]), ("data must be",))


@FUZZ
@given(bad_data(), st.sampled_from([0.1, "auto"]), st.sampled_from(["gd", "fista", "adam"]))
def test_fit_ends_in_typed_error_or_finite_result(case: Any, lr: Any, optimizer: str) -> None:
    category, X, y, words = case
    res = _outcome("fit", category, lambda: reglab.fit("linear", (X, y), lr=lr, optimizer=optimizer, steps=20,
                                                        penalties=[reglab.L2(0.01)]), words)
    _check_fit_result(res)


@pytest.mark.parametrize("which", ["gd_regressor", "gd_classifier", "mlp_regressor", "mlp_classifier"])
@settings(FUZZ, max_examples=20)
@given(case=bad_data())
def test_estimators_end_in_typed_error_or_finite_coefficients(case: Any, which: str) -> None:
    category, X, y, words = case
    if which.endswith("classifier") and category not in ("wrong_dtype",) and isinstance(y, np.ndarray) \
            and y.dtype.kind == "f" and y.ndim == 1 and np.isfinite(y).all():
        y = (y > np.median(y)).astype(int) if category != "constant_target" else np.zeros(len(y), int)
    est = {"gd_regressor": lambda: GDRegressor(max_iter=20),
           "gd_classifier": lambda: GDClassifier(max_iter=20),
           "mlp_regressor": lambda: MLPRegressor(hidden_layer_sizes=(4,), max_iter=20),
           "mlp_classifier": lambda: MLPClassifier(hidden_layer_sizes=(4,), max_iter=20)}[which]()
    fitted = _outcome(type(est).__name__, category, lambda: est.fit(X, y),
                      words if category != "constant_target" else ("class",))
    if fitted is not None:
        pred = fitted.predict(np.asarray(X, dtype=float).reshape(len(X), -1))
        assert np.isfinite(np.asarray(pred, dtype=float)).all() or which.endswith("classifier"), \
            f"{type(est).__name__} predicted non-finite values on {category} data"
        if hasattr(fitted, "coef_"):
            assert np.isfinite(fitted.coef_).all(), f"{type(est).__name__} kept non-finite coef_ on {category}"


# -- bad arguments --------------------------------------------------------------------------------

BAD_FIT_ARGS: dict[str, list[Any]] = {
    "model": ["linearr", 3, None, object()],
    "loss": ["hinge", 1.5],
    "optimizer": ["rmsprop", 7, "GD"],
    "lr": [0.0, -1.0, math.nan, math.inf, "fast", None, True],
    "steps": [-1, 1.5, "10", None],
    "batch_size": [0, -3, 2.5],
    "seed": [-1, 0.5, "a"],
    "tol": [-1.0, "small", math.nan],
    "penalties": [[object()], "l2", [3]],
    "on_divergence": ["ignore", 0],
    "dtype": ["float64", torch.int64],
    "record": ["yes"],
    "model_args": [{"hidden": "x"}, {"nope": 1}],
    "log_every": [0, -5, 2.5],
}


@FUZZ_CHEAP
@given(st.sampled_from(sorted(BAD_FIT_ARGS)), st.data())
def test_fit_refuses_each_wrong_argument_naming_it(key: str, data: Any) -> None:
    value = data.draw(st.sampled_from(BAD_FIT_ARGS[key]))
    X = np.random.default_rng(0).normal(size=(10, 3))
    y = X @ np.array([1.0, -2.0, 0.5])
    kwargs: dict[str, Any] = {"model": "linear", "steps": 5}
    kwargs[key] = value
    if key == "batch_size":
        kwargs["optimizer"] = "sgd"
    if key == "model_args":
        kwargs["model"] = "mlp"
    words = {"model": ("model",), "loss": ("loss",), "optimizer": ("optimizer",), "lr": ("lr",),
             "steps": ("steps",), "batch_size": ("batch_size",), "seed": ("seed",), "tol": ("tol",),
             "penalties": ("penalt", "term"), "on_divergence": ("on_divergence",), "dtype": ("dtype",),
             "record": ("record",), "model_args": ("hidden", "nope", "argument"),
             "log_every": ("log_every",)}[key]
    res = _outcome("fit", f"bad_arg:{key}", lambda: reglab.fit(data=(X, y), **kwargs), words)
    assert res is None, f"fit accepted {key}={value!r}"


BAD_EST_PARAMS: dict[str, list[Any]] = {
    "penalty": ["l3", 2], "alpha": [-1.0, "big", math.nan], "l1_ratio": [1.5, -0.1, "half"],
    "update": ["sideways"], "optimizer": ["rmsprop"], "lr": [0.0, -1.0, "fast"], "max_iter": [0, 1.5],
    "tol": [-1.0], "batch_size": [0], "fit_intercept": ["yes"],
}


@FUZZ_CHEAP
@given(st.sampled_from(sorted(BAD_EST_PARAMS)), st.data(), st.sampled_from([GDRegressor, GDClassifier]))
def test_estimators_refuse_each_wrong_parameter_naming_it(key: str, data: Any, cls: Any) -> None:
    value = data.draw(st.sampled_from(BAD_EST_PARAMS[key]))
    X = np.random.default_rng(0).normal(size=(12, 3))
    y = X[:, 0] if cls is GDRegressor else (X[:, 0] > 0).astype(int)
    params: dict[str, Any] = {"max_iter": 5, key: value}
    if key == "l1_ratio":
        params["penalty"] = "elasticnet"
    res = _outcome(cls.__name__, f"bad_param:{key}", lambda: cls(**params).fit(X, y), (key,))
    assert res is None, f"{cls.__name__} accepted {key}={value!r}"


# -- specs ----------------------------------------------------------------------------------------

GOOD_SPEC: dict[str, Any] = {
    "model": "linear", "data": {"scenario": "linear_regression", "n": 20, "p": 3}, "loss": "squared",
    "penalties": [{"kind": "l2", "strength": 0.1}], "optimizer": "gd", "lr": 0.1, "steps": 5,
    "seed": 0, "tol": 1e-6, "dtype": "float64", "record": False, "momentum": 0.9, "log_every": 1,
    "on_divergence": "raise", "model_args": {},
}
WRONG_VALUES = st.one_of(st.integers(-5, 5), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=5),
                         st.booleans(), st.none(), st.lists(st.integers(), max_size=2),
                         st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


@FUZZ_CHEAP
@given(st.sampled_from(SPEC_KEYS), WRONG_VALUES)
def test_validate_spec_refuses_a_wrong_value_for_every_key_or_run_refuses_it(key: str, value: Any) -> None:
    from reglab.spec import run_spec

    spec = json.loads(json.dumps(GOOD_SPEC))
    spec[key] = value
    checked = _outcome("validate_spec", f"wrong_type:{key}", lambda: validate_spec(spec), (key,))
    if checked is not None:  # accepted as a well-typed value: running it must still end cleanly
        res = _outcome("run_spec", f"wrong_value:{key}", lambda: run_spec(checked))
        _check_fit_result(res)


@FUZZ_CHEAP
@given(st.text(min_size=1, max_size=8).filter(lambda k: k not in SPEC_KEYS), WRONG_VALUES)
def test_validate_spec_names_an_extra_key(key: str, value: Any) -> None:
    spec = dict(GOOD_SPEC, **{key: value})
    assert _outcome("validate_spec", "extra_key", lambda: validate_spec(spec), (repr(key),)) is None


@FUZZ_CHEAP
@given(st.sampled_from(["penalties.0", "data"]), st.text(min_size=1, max_size=6), WRONG_VALUES)
def test_validate_spec_names_wrong_nested_keys_and_values(where: str, key: str, value: Any) -> None:
    spec = json.loads(json.dumps(GOOD_SPEC))
    target = spec["penalties"][0] if where == "penalties.0" else spec["data"]
    target[key] = value
    _outcome("validate_spec", f"nested:{where}", lambda: validate_spec(spec), (where.split(".")[0],))


YAML_TEXTS = st.one_of(
    st.text(max_size=40),
    st.sampled_from([
        "data: [unclosed", "- a\n- b\n", "42\n", "", "data: {scenario: pure_noise}\nsteps: ten\n",
        "data: {scenario: nope}\n", "!!python/object/apply:os.system ['echo pwned']\n",
        "data: !!python/object/new:list []\n", "data: {scenario: pure_noise}\n\tsteps: 3\n",
        "data: {scenario: pure_noise}\nlr: 1e-3\nlr: 2\n", "\x00\x01binary", "data: &a {scenario: *a}\n",
    ]),
)


@FUZZ
@given(YAML_TEXTS)
def test_load_spec_and_load_sweep_end_in_typed_errors_naming_the_file(tmp_path_factory: Any, text: str) -> None:
    path = tmp_path_factory.mktemp("yaml") / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    spec = _outcome("load_spec", "yaml_text", lambda: load_spec(path))
    if spec is None:
        try:
            load_spec(path)
        except TYPED as err:
            assert str(path) in str(err) or isinstance(err, TypeError), f"load_spec error does not name the file: {err}"
    sweep = _outcome("load_sweep", "yaml_text", lambda: load_sweep(path))
    if sweep is not None:
        _outcome("expand_sweep", "yaml_text", lambda: expand_sweep(sweep))


def test_yaml_python_tags_are_refused_not_executed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.yaml"
    path.write_text(f"!!python/object/apply:os.system ['touch {marker}']\n", encoding="utf-8")
    with pytest.raises(ValueError, match="evil.yaml"):
        load_spec(path)
    with pytest.raises(ValueError, match="evil.yaml"):
        load_sweep(path)
    assert not marker.exists()


GRIDS = st.one_of(
    st.dictionaries(st.text(max_size=12), WRONG_VALUES, max_size=3),
    st.sampled_from([
        {"lr": []}, {"lr": 0.1}, {"tie": [{"lr": 0.1}, {"steps": 3}]}, {"tie": [1, 2]}, {"lr": [0.1, 0.1]},
        {"penalties.5.strength": [0.1]}, {"penalties.x.strength": [0.1]}, {"data.scenario": ["nope"]},
        {"steps.a": [1]}, {3: [1]}, {"lr": [-1.0]}, {"model": ["x"]}, {"": [1]}, {"..": [1]},
    ]),
)


@FUZZ_CHEAP
@given(GRIDS, st.sampled_from(["grid", "extra", "no_base", "base_type"]))
def test_expand_sweep_ends_in_typed_errors(grid: Any, how: str) -> None:
    sweep: dict[Any, Any] = {"base": json.loads(json.dumps(GOOD_SPEC)), "grid": grid}
    if how == "extra":
        sweep["grids"] = grid
    elif how == "no_base":
        del sweep["base"]
    elif how == "base_type":
        sweep["base"] = [1, 2]
    runs = _outcome("expand_sweep", how if how != "grid" else "bad_grid", lambda: expand_sweep(sweep))
    if runs is not None:
        assert all(isinstance(r.spec, dict) for r in runs)
