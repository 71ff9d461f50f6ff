"""The benchmark scripts run end to end (smoke runs on the CPU: they measure nothing, they only keep the
scripts from rotting: the GPU one while no GPU is at hand, the peers one without its peers installed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_bench_gpu_small_run_writes_a_table_with_every_row(tmp_path: Path) -> None:
    out = tmp_path / "RESULTS_gpu.md"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_gpu.py"), "--device", "cpu", "--small",
                           "--out", str(out)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = [line for line in out.read_text(encoding="utf-8").splitlines() if line.startswith("| ")]
    rows = {line.split("|")[1].strip() for line in table[1:]}
    assert rows == {"decoupled-adam", "decoupled-adam-fused", "proximal-sgd", "gradient-sgd", "decoupled-sgd", "watch", "sweep"}
    for line in table[1:]:
        ratio = float(line.split("|")[7])
        assert ratio > 0


# the peers hidden from the script: an import of a module whose sys.modules entry is None raises ImportError
_WITHOUT_PEERS = ("import sys; sys.modules['skglm'] = sys.modules['celer'] = None; "
                  "sys.argv[0] = {script!r}; sys.path.insert(0, {src!r}); import runpy; "
                  "runpy.run_path({script!r}, run_name='__main__')")


def test_bench_peers_without_the_bench_extra_times_reglab_and_sklearn_and_names_the_missing_peers(
        tmp_path: Path) -> None:
    out = tmp_path / "RESULTS_peers.md"
    script = str(ROOT / "benchmarks" / "bench_peers.py")
    code = _WITHOUT_PEERS.format(script=script, src=str(ROOT / "src"))
    proc = subprocess.run([sys.executable, "-c", code, "--groups", "single", "--only", "500×600 ρ=0 α=0.5",
                           "--repeats", "1", "--out", str(out)], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text(encoding="utf-8")
    assert "skglm not measured: not installed" in text and "celer not measured: not installed" in text
    table = [line for line in text.splitlines() if line.startswith("| ")]
    assert table[0].startswith("| case | reglab ms | sklearn ms | best peer |")
    (row,) = table[1:]
    assert row.split("|")[1].strip() == "500×600 ρ=0 α=0.5·α_max"
    assert float(row.split("|")[5]) > 0      # ratio ours / sklearn


def test_benchopt_design_is_skglms_make_correlated_data() -> None:
    data = pytest.importorskip("skglm.utils.data")
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from bench_peers import benchopt_design
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    for n, p, rho in ((30, 50, 0.0), (30, 50, 0.6)):
        X, y = benchopt_design(n, p, rho)
        Xs, ys, _ = data.make_correlated_data(n, p, rho=rho, random_state=np.random.RandomState(27))
        np.testing.assert_array_equal(X, Xs)
        np.testing.assert_array_equal(y, ys)
