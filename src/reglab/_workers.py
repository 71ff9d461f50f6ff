"""What every worker process of reglab's process pools runs first (``reglab sweep``'s local executor, ``reglab
claims --jobs``)."""

from __future__ import annotations

import signal

__all__ = ["init_worker"]


def init_worker(threads: int) -> None:
    """Torch on ``threads`` threads; SIGINT ignored.

    Ctrl-C reaches the whole process group: the parent decides (stop, keep what finished), and a worker
    interrupted mid-run would only turn its work into a spurious failure.
    """
    import torch

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(threads)
