"""``iter_claims`` / ``reglab claims --jobs``: claims side by side in worker processes give the results of one process."""

from __future__ import annotations

import multiprocessing

import pytest
import torch

from reglab.claims import RunConfig, available_cores, iter_claims, run_claims

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


def test_closing_the_iterator_early_stops_the_workers():
    running = iter_claims(IDS, CONFIG, jobs=2)
    first = next(running)
    assert first.id == IDS[0]
    assert multiprocessing.active_children()  # the pool is up while the rest runs
    running.close()
    assert multiprocessing.active_children() == []


def test_bad_jobs_and_unknown_ids_fail_before_anything_runs():
    with pytest.raises(ValueError, match="jobs and threads must be at least 1"):
        next(iter_claims(IDS, CONFIG, jobs=0))
    with pytest.raises(ValueError, match="Unknown claim 'nope'"):
        next(iter_claims(["l2-decay", "nope"], CONFIG, jobs=2))
    assert multiprocessing.active_children() == []


def test_available_cores_is_a_positive_count():
    assert 1 <= available_cores() <= (multiprocessing.cpu_count() or 1)
