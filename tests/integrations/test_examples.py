"""Every script under examples/ runs, at small sizes, and checks what it says (each asserts its claim).

The scripts are imported by name from examples/ (on ``sys.path``, so that the processes the DDP
example spawns import it too) and their ``main()`` is called.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

def example(name: str, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(EXAMPLES))
    sys.modules.pop(name, None)
    return importlib.import_module(name)


def test_every_example_script_has_a_test_here() -> None:
    tested = {"closure_lbfgs_loop", "amp_gradscaler", "onecycle_adamw", "lightning_example", "compile_example",
              "ddp_gloo", "skorch_example", "hf_trainer"}
    assert {p.stem for p in EXAMPLES.glob("*.py")} == tested


def test_closure_loops_record_each_gradient_at_its_own_row_s_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    out = example("closure_lbfgs_loop", monkeypatch).main(steps=8)
    assert set(out) == {"sgd", "lbfgs"} and all(len(t) == 9 for t in out.values())


def test_autocast_with_grad_scaler_on_the_cpu_is_the_run_without_the_scaler(monkeypatch: pytest.MonkeyPatch) -> None:
    assert example("amp_gradscaler", monkeypatch).main(steps=10).steps[-1] == 10


def test_decoupled_l2_under_onecycle_equals_adamw_bit_for_bit(monkeypatch: pytest.MonkeyPatch) -> None:
    assert example("onecycle_adamw", monkeypatch).main(steps=30) == 30


# third-party warnings, as in test_lightning.py: Lightning 2.6 under torch 2.13 warns from its own data
# loading whatever the user does, and suggests more DataLoader workers on a machine with more than 2 cores
@pytest.mark.filterwarnings(r"ignore:`isinstance\(treespec, LeafSpec\)` is deprecated:FutureWarning")
@pytest.mark.filterwarnings("ignore:The 'train_dataloader' does not have many workers")
def test_the_lightning_example_trains_logs_and_diagnoses(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    diagnosis = example("lightning_example", monkeypatch).main(steps=40, log_dir=str(tmp_path), every=10)
    assert sum(diagnosis.counts.values()) == 11  # net.weight (10) and net.bias
    assert list(tmp_path.rglob("events.out.tfevents.*"))


@pytest.mark.parametrize("backend", [
    "eager",  # TorchDynamo captures the graph, no code generated: a few seconds
    # generates C++: ~30 s cold, ~8 s with inductor's cache. Importing inductor, torch 2.13 warns about
    # its own torch.utils.mkldnn (third party: filtered here, by message)
    pytest.param("inductor", marks=[pytest.mark.slow, pytest.mark.filterwarnings(
        r"ignore:`torch\.jit\.script_method` is deprecated:DeprecationWarning")]),
])
def test_a_compiled_model_trains_under_regularized(monkeypatch: pytest.MonkeyPatch, backend: str) -> None:
    assert example("compile_example", monkeypatch).main(steps=5, backend=backend).steps[-1] == 5


@pytest.mark.slow  # two spawned processes each import torch and reglab
def test_ddp_with_gloo_ends_with_bit_identical_ranks(monkeypatch: pytest.MonkeyPatch) -> None:
    state = example("ddp_gloo", monkeypatch).main(steps=10)
    assert set(state) == {"0.weight", "0.bias", "2.weight", "2.bias"}


def test_a_skorch_estimator_under_regularized_records_each_gradient_at_its_row_s_weights(
        monkeypatch: pytest.MonkeyPatch) -> None:
    traj = example("skorch_example", monkeypatch).main(epochs=3)
    assert traj.steps[-1] == 12  # 3 epochs of 4 batches


def test_a_hugging_face_trainer_under_proximal_l1_zeroes_exactly_the_uninformative_weights(
        monkeypatch: pytest.MonkeyPatch) -> None:
    w = example("hf_trainer", monkeypatch).main(epochs=10)
    assert w[2:].eq(0).all() and w[:2].abs().gt(0.5).all()
