"""The Ray executor: each run a Ray task, on a local Ray instance or an existing cluster.

``ray.init()`` connects to the cluster named by the ``RAY_ADDRESS`` environment variable when it is
set; otherwise it starts a local instance (``num_cpus`` CPUs, no dashboard). Tasks are retried
``max_retries`` times when their worker dies (a lost node, an out-of-memory kill); an exception
inside a run is not retried: it becomes the run's ``failed`` row. Workers import reglab, so on a
cluster reglab must be installed on every node (or shipped with a ``runtime_env``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from reglab.sweep.runner import OnRow, failed_row, run_one
from reglab.sweep.spec import Run

__all__ = ["RayExecutor"]


def gpus_for(spec: Mapping[str, Any]) -> int:
    """GPUs a Ray task of ``spec`` asks for: one when its ``device`` is CUDA, else none.

    Ray then sets the task's ``CUDA_VISIBLE_DEVICES`` to the GPU it assigns, so ``device: cuda``
    is that GPU.

    >>> gpus_for({"device": "cuda"}), gpus_for({"device": "cpu"}), gpus_for({})
    (1, 0, 0)
    """
    device = spec.get("device")
    return 1 if device is not None and str(device).startswith("cuda") else 0


def _work(run: Run, threads: int) -> dict[str, Any]:
    import torch

    torch.set_num_threads(threads)
    return run_one(run, "ray")


class RayExecutor:
    """Runs as Ray tasks, one CPU and ``threads`` torch threads each (and one GPU for a run on CUDA).

    Parameters
    ----------
    num_cpus : int
        CPUs of a local instance (ignored when ``RAY_ADDRESS`` names a cluster).
    threads : int
        ``torch.set_num_threads`` in each task.
    max_retries : int
        Retries of a task whose worker process died.
    shutdown : bool
        Shut down a Ray instance this executor started, when the sweep ends.
    """

    name = "ray"

    def __init__(self, num_cpus: int = 2, threads: int = 1, max_retries: int = 3, shutdown: bool = True) -> None:
        self.num_cpus, self.threads, self.max_retries, self.shutdown = int(num_cpus), int(threads), int(max_retries), shutdown

    def run(self, runs: list[Run], on_row: OnRow) -> None:
        try:
            import ray
        except ImportError:
            raise ImportError("The ray executor needs Ray: pip install 'ray[default]' (or reglab[ray]).") from None
        started = False
        if not ray.is_initialized():
            if os.environ.get("RAY_ADDRESS"):
                ray.init(log_to_driver=False)
            else:
                ray.init(num_cpus=self.num_cpus, include_dashboard=False, log_to_driver=False)
                started = True
        try:
            task = ray.remote(num_cpus=1, max_retries=self.max_retries)(_work)
            pending = {task.options(num_gpus=gpus_for(r.spec)).remote(r, self.threads): r for r in runs}
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    run = pending.pop(ref)
                    try:
                        row = ray.get(ref)
                    except Exception as err:  # noqa: BLE001 - retries exhausted: the run fails, the sweep goes on
                        row = failed_row(run, self.name, err)
                    on_row(row)
        finally:
            if started and self.shutdown:
                ray.shutdown()
