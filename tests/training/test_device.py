"""fit on a device: the model's device (or ``device=``) decides where data, buffers and the loop live."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import reglab
from reglab.data import Dataset, zero_column
from reglab.spec import build_fit_kwargs, validate_spec
from reglab.training.resolve import check_device

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                                 reason="no CUDA device"))]


def _xy(n: int = 40, p: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, p))
    return X, X @ np.arange(1.0, p + 1) + 0.1 * rng.normal(size=n)


def test_explicit_cpu_device_equals_the_default_run_bit_for_bit() -> None:
    X, y = _xy()
    a = reglab.fit("linear", (X, y), penalties=[reglab.L2(0.1)], lr=0.05, steps=50)
    b = reglab.fit("linear", (X, y), penalties=[reglab.L2(0.1)], lr=0.05, steps=50, device="cpu")
    assert torch.equal(a.model.linear.weight, b.model.linear.weight)
    assert a.history == b.history


@pytest.mark.parametrize("device", ["cuda", "cuda:0", torch.device("cuda")])
def test_cuda_without_a_gpu_is_refused_with_advice(device: object) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    with pytest.raises(ValueError, match=r"no CUDA device is available.*use device='cpu'"):
        reglab.fit("linear", _xy(), steps=2, device=device)


def test_meta_device_is_refused_for_the_device_argument_and_for_a_meta_model() -> None:
    with pytest.raises(ValueError, match=r"device='meta' holds no data"):
        reglab.fit("linear", _xy(), steps=2, device="meta")
    with torch.device("meta"):
        net = nn.Linear(3, 1)
    with pytest.raises(ValueError, match=r"meta device.*Materialise the model"):
        reglab.fit(net, _xy(), loss="squared", steps=2)


@pytest.mark.parametrize("device", ["gpu", "cpux", "cuda:-1"])
def test_an_unknown_device_name_is_a_value_error(device: str) -> None:
    with pytest.raises(ValueError, match=r"Unknown device"):
        check_device(device)


def test_a_device_of_the_wrong_type_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"device must be a string"):
        reglab.fit("linear", _xy(), steps=2, device=0)


@pytest.mark.parametrize("device", DEVICES)
def test_fit_trains_on_the_models_device_with_numpy_data(device: str) -> None:
    X, y = _xy()
    net = nn.Linear(3, 1).double().to(device)
    res = reglab.fit(net, (X, y), loss="squared", penalties=[reglab.L1(0.01, update="proximal")], lr=0.05, steps=30)
    assert res.data is not None and res.data.X.device.type == device and res.data.y.device.type == device
    assert next(res.model.parameters()).device.type == device
    assert res.history.objective[-1] < res.history.objective[0]
    assert res.predict(X).device.type == device


@pytest.mark.parametrize("device", DEVICES)
def test_device_argument_equals_the_cpu_run_and_moves_a_given_model(device: str) -> None:
    X, y = _xy()
    cpu = reglab.fit("linear", (X, y), penalties=[reglab.L2(0.1)], lr=0.05, steps=40, fast=False)
    there = reglab.fit("linear", (torch.as_tensor(X), torch.as_tensor(y)), penalties=[reglab.L2(0.1)], lr=0.05,
                       steps=40, fast=False, device=device)
    assert there.model.linear.weight.device.type == device
    torch.testing.assert_close(there.model.linear.weight.cpu(), cpu.model.linear.weight, rtol=1e-10, atol=1e-12)
    net = nn.Linear(3, 1).double()
    reglab.fit(net, (X, y), loss="squared", lr=0.05, steps=3, device=device)
    assert net.weight.device.type == device  # moved in place, like model.to(device)


@pytest.mark.parametrize("device", DEVICES)
def test_minibatches_record_and_mlp_run_on_the_device(device: str) -> None:
    X, y = _xy(64, 4)
    res = reglab.fit("mlp", (X.astype(np.float32), y.astype(np.float32)), penalties=[reglab.L2(0.01)], lr=0.01,
                     optimizer="sgd", batch_size=16, steps=20, record=True, device=device)
    assert next(res.model.parameters()).device.type == device
    assert res.trajectory is not None and len(res.trajectory) > 1
    assert np.isfinite(res.history.objective).all()


@pytest.mark.parametrize("device", DEVICES)
def test_a_checkpoint_resumes_onto_the_runs_device(tmp_path, device: str) -> None:
    X, y = _xy()
    kwargs = dict(penalties=[reglab.L1(0.01, update="cumulative")], optimizer="sgd", batch_size=8, lr=0.05,
                  steps=30, device=device)
    whole = reglab.fit("linear", (X, y), **kwargs)
    path = tmp_path / "run.pt"
    first = reglab.fit("linear", (X, y), **{**kwargs, "steps": 30}, checkpoint=path, checkpoint_every=10)
    assert torch.equal(first.model.linear.weight, whole.model.linear.weight)
    # a fresh run resumes from the last checkpoint (step 20) on the device and ends where the whole run did
    resumed = reglab.fit("linear", (X, y), **kwargs, checkpoint=path, checkpoint_every=10, resume=True)
    assert resumed.model.linear.weight.device.type == device
    assert torch.equal(resumed.model.linear.weight, whole.model.linear.weight)


def test_the_spec_device_key_reaches_fit_and_is_type_checked() -> None:
    spec = {"data": {"scenario": "zero_column", "n": 20, "p": 3}, "steps": 5, "device": "cpu"}
    assert build_fit_kwargs(spec)["device"] == "cpu"
    with pytest.raises(TypeError, match=r"Spec key 'device' must be a device name"):
        validate_spec({**spec, "device": 0})


def test_dataset_to_device_moves_every_tensor_and_is_identity_when_already_there() -> None:
    ds = zero_column(n=20, p=3, n_test=5)
    assert ds.to_device("cpu") is ds
    meta = ds.to_device("meta")
    assert isinstance(meta, Dataset)
    assert {t.device.type for t in (meta.X, meta.y, meta.X_test, meta.y_test)} == {"meta"}
