"""A pause point that makes the moment of an interruption deterministic (for tests of Ctrl-C).

A test that interrupts ``reglab sweep`` or ``reglab claims`` must send its signal while the work is
known to be running, not "probably still running". With ``REGLAB_HOLD_AT=<point>:<ready file>`` in
the environment, the first time the process reaches :func:`hold_point` of that name (the N-th time
with ``<point>#N``) it writes the ready file and waits there until a signal interrupts it (at most
:data:`HOLD_SECONDS`, then it goes on). The test waits for the ready file, then sends SIGINT: the interruption always lands at the
same point, on a fast idle machine as on a slow loaded one. Without the variable a hold point
costs one dictionary look-up.

Points: ``sweep-row`` (after the first row of a sweep is stored), ``claim`` (after the first claim's
partial results are written), ``claim-worker`` (in a worker process of ``reglab claims --jobs``, once it has
taken its first claim, before running it), ``checkpoint`` (after :func:`reglab.fit` writes its first checkpoint).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Final

from reglab._io import atomic_write_text

__all__ = ["ENV", "HOLD_SECONDS", "hold_point"]

ENV: Final = "REGLAB_HOLD_AT"
HOLD_SECONDS: Final = 600.0

_reached: dict[str, int] = {}  # times each point was reached in this process


def hold_point(name: str) -> None:
    """Wait here for a signal if ``REGLAB_HOLD_AT`` names this point (once per process)."""
    spec = os.environ.get(ENV)
    if not spec:
        return
    point, _, ready = spec.partition(":")
    point, _, nth = point.partition("#")
    if point != name or not ready:
        return
    _reached[name] = _reached.get(name, 0) + 1
    if _reached[name] < int(nth or 1):
        return
    del os.environ[ENV]  # hold once: the rest of the run goes on unhindered
    atomic_write_text(Path(ready), f"{os.getpid()}\n")  # whole or absent: the test may read it at once
    deadline = time.monotonic() + HOLD_SECONDS
    while time.monotonic() < deadline:
        time.sleep(0.05)  # a signal's handler runs (KeyboardInterrupt for SIGINT) as soon as it arrives
