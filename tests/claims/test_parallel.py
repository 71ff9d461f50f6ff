"""``iter_claims`` / ``reglab claims --jobs``: claims side by side in worker processes give the results of one process."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from pathlib import Path

import pytest
import torch

from reglab._hold import ENV
from reglab.claims import RunConfig, _receive, available_cores, iter_claims, run_claims

IDS = ["l2-decay", "sparsity", "l1-oscillation"]
CONFIG = RunConfig(quick=True, seed=1, figures=False)


@pytest.fixture(scope="module")
def one_process():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # what every worker runs at
    try:
        return run_claims(IDS, CONFIG)
    finally:
        torch.set_num_threads(threads)


def test_two_workers_give_the_results_of_one_process_in_the_order_asked(one_process):
    side_by_side = list(iter_claims(IDS, CONFIG, jobs=2))
    assert [r.id for r in side_by_side] == IDS
    for alone, parallel in zip(one_process, side_by_side):
        assert parallel.verdict == alone.verdict
        assert parallel.measurements.keys() == alone.measurements.keys()
        for name, value in alone.measurements.items():  # the same draws on the same single thread
            assert parallel.measurements[name] == pytest.approx(value, rel=1e-12, abs=1e-300, nan_ok=True), name


def _held_worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make the claims worker hold (``reglab._hold``) once it has taken its first claim; the file it then writes."""
    ready = tmp_path / "worker.ready"
    monkeypatch.setenv(ENV, f"claim-worker:{ready}")  # spawned workers inherit it
    return ready


def _wait_for(ready: Path, timeout: float = 600) -> int:
    """The pid the held process wrote into ``ready``, once it has (the process holds: nothing races)."""
    deadline = time.monotonic() + timeout
    while not ready.exists():
        assert time.monotonic() < deadline, "the worker never reached its hold point"
        time.sleep(0.01)
    return int(ready.read_text())


def test_closing_the_iterator_early_stops_the_workers(tmp_path, monkeypatch):
    _held_worker(tmp_path, monkeypatch)
    running = iter_claims(IDS, CONFIG, jobs=2)
    first = next(running)  # run in this process, from the front of the list
    assert first.id == IDS[0]
    assert multiprocessing.active_children()  # the worker holds its claim from the back: still up
    running.close()
    assert multiprocessing.active_children() == []


def test_a_worker_killed_mid_claim_is_an_error_naming_that_claim(tmp_path, monkeypatch):
    ready = _held_worker(tmp_path, monkeypatch)
    running = iter_claims(IDS, CONFIG, jobs=2)
    assert next(running).id == IDS[0]  # this process now waits at the yield: the worker took IDS[-1]
    os.kill(_wait_for(ready), signal.SIGKILL)
    with pytest.raises(RuntimeError, match=rf"stopped before finishing claim '{IDS[-1]}' \(worker exit codes: -9\)"):
        list(running)  # IDS[1] runs here; IDS[-1] never comes back
    assert multiprocessing.active_children() == []


def test_a_claim_failing_in_a_worker_raises_here_with_its_traceback():
    reader, writer = multiprocessing.Pipe(duplex=False)
    writer.send((3, None, (ValueError("bad grid"), "Traceback ...\nValueError: bad grid\n")))
    writer.close()
    finished: dict = {}
    with pytest.raises(ValueError, match="bad grid") as caught:
        _receive([reader], finished, block=True)
    assert "In the claims worker process" in str(caught.value.__cause__)
    assert finished == {}


def test_bad_jobs_and_unknown_ids_fail_before_anything_runs():
    with pytest.raises(ValueError, match="jobs and threads must be at least 1"):
        next(iter_claims(IDS, CONFIG, jobs=0))
    with pytest.raises(ValueError, match="Unknown claim 'nope'"):
        next(iter_claims(["l2-decay", "nope"], CONFIG, jobs=2))
    assert multiprocessing.active_children() == []


def test_available_cores_is_a_positive_count():
    assert 1 <= available_cores() <= (multiprocessing.cpu_count() or 1)
