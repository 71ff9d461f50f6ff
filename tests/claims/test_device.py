"""``reglab claims --device``: the claims that train networks run on the device asked for, with the
same verdicts as on the CPU; an unavailable device is refused before anything runs."""

from __future__ import annotations

import importlib

import pytest
import torch
from typer.testing import CliRunner

from reglab.claims import CLAIM_IDS, REGISTRY, RunConfig, run_claim
from reglab.cli import app

NETWORK_CLAIMS = [cid for cid in CLAIM_IDS
                  if getattr(importlib.import_module(f"reglab.claims.{REGISTRY[cid]}"), "USES_DEVICE", False)]
DEVICES = [pytest.param("cpu"),
           pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"))]


def test_the_claims_that_train_networks_declare_it() -> None:
    assert {"dead-units", "normalization"} <= set(NETWORK_CLAIMS)


def test_the_command_and_report_config_carry_the_device() -> None:
    config = RunConfig(quick=True, seed=2, device="cuda:1")
    assert config.flags() == "--seed 2 --quick --device cuda:1"
    assert RunConfig(seed=2).flags() == "--seed 2"  # the default device is not spelled out


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("claim_id", NETWORK_CLAIMS)
def test_a_network_claim_on_a_device_gives_the_cpu_verdict_and_numbers(claim_id: str, device: str) -> None:
    on_cpu = run_claim(claim_id, RunConfig(quick=True, figures=False))
    on_device = run_claim(claim_id, RunConfig(quick=True, figures=False, device=device))
    assert on_device.setup["device"] == str(RunConfig(device=device).torch_device())
    assert on_device.verdict == on_cpu.verdict
    assert on_device.measurements.keys() == on_cpu.measurements.keys()
    for name, value in on_cpu.measurements.items():  # float64 runs: a GPU changes only the rounding of reductions
        assert on_device.measurements[name] == pytest.approx(value, rel=1e-6, abs=1e-9), name
    assert on_device.command.endswith("--quick" if device == "cpu" else f"--quick --device {device}")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_refused_by_the_claim_and_by_the_cli(tmp_path) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match="no CUDA device is available"):
        run_claim("dead-units", RunConfig(quick=True, figures=False, device="cuda"))
    result = CliRunner().invoke(app, ["claims", "--only", "dead-units", "--quick", "--device", "cuda",
                                      "--out", str(tmp_path / "r")])
    assert result.exit_code == 2
    assert "Error: --device: device='cuda': no CUDA device is available" in result.stderr
    assert not (tmp_path / "r").exists()  # refused before any claim ran
