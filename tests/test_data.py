"""Input validation of user data (scikit-learn's words), targets and tasks, scenarios, files."""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

import reglab
from reglab.data import (
    SCENARIOS,
    BatchStream,
    Dataset,
    as_dataset,
    from_file,
    is_batch_source,
    load_dataset,
    pure_noise,
    zero_column,
)

RNG = np.random.default_rng(0)
X = RNG.normal(size=(20, 3))
Y = X @ np.array([1.0, 2.0, 3.0])


def _with(a: np.ndarray, index: tuple[int, ...], value: float) -> np.ndarray:
    b = a.copy()
    b[index] = value
    return b


# (X, y, model, error type, message regex): every entry must fail in fit() with that error
BAD_DATA = {
    "nan_in_X": (_with(X, (0, 0), np.nan), Y, "linear", ValueError, r"^Input X contains NaN\."),
    "inf_in_X": (_with(X, (1, 2), np.inf), Y, "linear", ValueError, r"^Input X contains infinity"),
    "nan_in_y": (X, _with(Y, (3,), np.nan), "linear", ValueError, r"^Input y contains NaN\."),
    "inf_in_y": (X, _with(Y, (3,), -np.inf), "linear", ValueError, r"^Input y contains infinity"),
    "inconsistent_samples": (X, Y[:-1], "linear", ValueError,
                             r"Found input variables with inconsistent numbers of samples: \[20, 19\]"),
    "one_dimensional_X": (X[:, 0], Y, "linear", ValueError, r"Expected 2D array, got 1D array instead"),
    "empty": (np.empty((0, 3)), np.empty(0), "linear", ValueError, r"Found array with 0 sample\(s\)"),
    "non_numeric_X": (np.array([["a", "b"], ["c", "d"]]), np.array([1.0, 2.0]), "linear", ValueError,
                      r"could not convert string to float"),
    "non_numeric_regression_y": (X, np.array(["a"] * 10 + ["b", "c"] * 5), "linear", TypeError,
                                 r"A regression target must be numeric"),
    "y_of_two_columns": (X, np.stack([Y, Y], 1), "linear", ValueError, r"y should be a 1d array"),
    "continuous_y_for_logistic": (X, Y, "logistic", ValueError, r"Unknown label type: continuous"),
    "continuous_y_for_softmax": (X, Y, "softmax", ValueError, r"Unknown label type: continuous"),
    "three_classes_for_logistic": (X, np.arange(20) % 3, "logistic", ValueError,
                                   r"A binary task needs exactly 2 classes in y; got 3"),
    "single_class": (X, np.zeros(20, dtype=int), "logistic", ValueError, r"(single class|exactly 2 classes)"),
}


@pytest.mark.parametrize("name", list(BAD_DATA))
def test_bad_data_is_refused_by_fit_with_a_clear_message(name: str) -> None:
    Xb, yb, model, error, pattern = BAD_DATA[name]
    with pytest.raises(error, match=pattern):
        reglab.fit(model, (Xb, yb), steps=1)


def test_continuous_target_with_classification_loss_on_mlp_is_refused() -> None:
    with pytest.raises(ValueError, match=r"Unknown label type: continuous"):
        reglab.fit("mlp", (X, Y), loss="logistic", steps=1)


def test_held_out_data_with_other_columns_is_refused() -> None:
    with pytest.raises(ValueError, match=r"X_test has 2 features, but X has 3 features"):
        Dataset.from_arrays(X, Y, X[:5, :2], Y[:5])


def test_held_out_labels_unseen_in_training_are_refused() -> None:
    y = np.arange(20) % 2
    with pytest.raises(ValueError, match=r"labels not seen in the training data: \[7\]"):
        Dataset.from_arrays(X, y, X[:2], np.array([0, 7]))


def test_only_one_of_X_test_and_y_test_is_refused() -> None:
    with pytest.raises(ValueError, match=r"Give both X_test and y_test"):
        Dataset.from_arrays(X, Y, X[:2], None)


def test_y_of_shape_n_and_n_by_1_give_the_same_dataset() -> None:
    a = Dataset.from_arrays(X, Y)
    b = Dataset.from_arrays(X, Y.reshape(-1, 1))
    assert a.y.shape == (20,)
    assert torch.equal(a.y, b.y)


def test_string_labels_are_mapped_to_indices_in_sorted_class_order() -> None:
    labels = np.array(["b", "a", "b", "c"] * 5)
    ds = Dataset.from_arrays(X, labels)
    assert ds.task == "multiclass"
    assert ds.classes.tolist() == ["a", "b", "c"]
    assert ds.y.dtype == torch.int64
    assert ds.y[:4].tolist() == [1, 0, 1, 2]


def test_as_dataset_refuses_a_task_other_than_the_datasets() -> None:
    with pytest.raises(ValueError, match=r"The dataset's task is 'regression', but 'binary' was asked for"):
        as_dataset(zero_column(n=10, p=2), task="binary")


def test_as_dataset_refuses_other_containers() -> None:
    with pytest.raises(TypeError, match=r"data must be a reglab.data.Dataset, an \(X, y\) pair"):
        as_dataset({"X": X, "y": Y})


def test_zero_column_scenario_has_an_identically_zero_column() -> None:
    ds = zero_column(n=30, p=4, column=2)
    assert torch.count_nonzero(ds.X[:, 2]) == 0
    assert torch.count_nonzero(ds.X[:, [0, 1, 3]]) == 30 * 3
    assert ds.info["zero_column"] == 2


@pytest.mark.parametrize("task", ["regression", "binary", "multiclass"])
def test_pure_noise_has_held_out_data_of_its_task(task: str) -> None:
    ds = pure_noise(n=40, p=3, task=task, n_test=50)
    assert ds.task == task and ds.X_test is not None and ds.X_test.shape == (50, 3)


def test_scenarios_are_reproducible_from_their_seed_and_differ_across_seeds() -> None:
    for make in SCENARIOS.values():
        a, b, c = make(seed=3), make(seed=3), make(seed=4)
        assert torch.equal(a.X, b.X) and torch.equal(a.y, b.y)
        assert not torch.equal(a.X, c.X)


def test_bundled_dataset_is_standardized_with_training_statistics() -> None:
    ds = load_dataset("diabetes", test_size=0.25, seed=0)
    assert ds.X_test is not None and ds.n_samples + len(ds.X_test) == 442
    np.testing.assert_allclose(ds.X.mean(0).numpy(), 0.0, atol=1e-12)
    np.testing.assert_allclose(ds.X.std(0).numpy(), 1.0, atol=1e-12)


def test_unknown_bundled_dataset_is_refused() -> None:
    with pytest.raises(ValueError, match=r"Unknown dataset 'iris'\. Bundled datasets: diabetes, breast_cancer, digits"):
        load_dataset("iris")


def test_csv_and_parquet_files_load_with_a_named_target(tmp_path) -> None:
    frame = pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "y": Y})
    frame.to_csv(tmp_path / "d.csv", index=False)
    frame.to_parquet(tmp_path / "d.parquet")
    for name in ("d.csv", "d.parquet"):
        ds = from_file(tmp_path / name, "y")
        assert ds.feature_names == ["a", "b"]
        np.testing.assert_array_equal(ds.y.numpy(), Y)


def test_file_errors_name_the_problem(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match=re.escape("does not exist")):
        from_file(tmp_path / "missing.csv", "y")
    pd.DataFrame({"a": [1.0, 2.0], "y": [0.0, 1.0]}).to_csv(tmp_path / "d.csv", index=False)
    with pytest.raises(ValueError, match=r"Target column 'z' is not in d.csv; its columns are: a, y"):
        from_file(tmp_path / "d.csv", "z")
    pd.DataFrame({"a": ["x", "y"], "y": [0.0, 1.0]}).to_csv(tmp_path / "s.csv", index=False)
    with pytest.raises(TypeError, match=r"Feature column\(s\) \['a'\] of s.csv are not numeric"):
        from_file(tmp_path / "s.csv", "y")


# -- devices and minibatch sources -------------------------------------------------------------------


def test_dataset_to_device_moves_every_tensor_and_keeps_dtypes() -> None:
    ds = replace(zero_column(n=20, p=3, n_test=4), sample_weight=torch.ones(20, dtype=torch.float64))
    assert ds.to_device(torch.device("cpu")) is ds
    moved = ds.to_device("meta")
    for a, b in ((moved.X, ds.X), (moved.y, ds.y), (moved.X_test, ds.X_test), (moved.y_test, ds.y_test),
                 (moved.sample_weight, ds.sample_weight)):
        assert a.device.type == "meta" and a.dtype == b.dtype and a.shape == b.shape
    assert moved.device.type == "meta"


def test_is_batch_source_tells_loaders_from_data_in_memory() -> None:
    from torch.utils.data import DataLoader, TensorDataset

    X, y = np.zeros((4, 2)), np.zeros(4)
    for data in [(X, y), [X, y], (X, y, X, y), Dataset.from_arrays(X, y), X, torch.zeros(4, 2), "file.csv"]:
        assert not is_batch_source(data)
    assert is_batch_source(DataLoader(TensorDataset(torch.zeros(4, 2), torch.zeros(4)), batch_size=2))
    assert is_batch_source(iter([(X, y)]))


def test_batch_stream_cycles_epochs_casts_and_flattens_a_column_target() -> None:
    batches = [(np.ones((3, 2), dtype=np.float32), np.arange(3.0)[:, None]), (np.zeros((1, 2)), [5.0])]
    stream = BatchStream(batches, torch.float64, torch.device("cpu"))
    seen = [stream.next() for _ in range(5)]
    assert [len(x) for x, _ in seen] == [3, 1, 3, 1, 3] and stream.epoch == 2
    assert all(x.dtype == torch.float64 and y.dtype == torch.float64 and y.ndim == 1 for x, y in seen)
    assert [len(x) for x, _ in stream.one_epoch()] == [3, 1]
    labels = BatchStream([(np.ones((2, 2)), np.array([0.0, 2.0]))], torch.float32, torch.device("cpu"),
                         task="multiclass")
    assert labels.next()[1].dtype == torch.int64


def test_batch_stream_names_a_bad_batch() -> None:
    with pytest.raises(ValueError, match=r"must have shape \(batch_size, n_features\)"):
        BatchStream([(np.ones(3), np.ones(3))], torch.float64, torch.device("cpu")).next()
    with pytest.raises(ValueError, match=r"y must have shape \(3,\)"):
        BatchStream([(np.ones((3, 2)), np.ones(2))], torch.float64, torch.device("cpu")).next()
