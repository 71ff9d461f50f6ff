"""The GPU benchmark script runs end to end (a smoke run on the CPU: it measures nothing, it only keeps
the script from rotting while no GPU is at hand)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_gpu_small_run_writes_a_table_with_every_row(tmp_path: Path) -> None:
    out = tmp_path / "RESULTS_gpu.md"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_gpu.py"), "--device", "cpu", "--small",
                           "--out", str(out)], capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = [line for line in out.read_text(encoding="utf-8").splitlines() if line.startswith("| ")]
    rows = {line.split("|")[1].strip() for line in table[1:]}
    assert rows == {"decoupled-adam", "decoupled-adam-fused", "proximal-sgd", "gradient-sgd", "decoupled-sgd", "watch", "sweep"}
    for line in table[1:]:
        ratio = float(line.split("|")[7])
        assert ratio > 0
