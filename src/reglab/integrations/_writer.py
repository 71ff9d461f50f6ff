"""The shared life cycle of the integrations' writers: numbers every N steps, a recorder beside them,
and the diagnosis at close.

A writer subclasses :class:`StepWriter` and says how its sink takes scalars and a diagnosis
(``_write_scalars``, ``_write_diagnosis``) and how it ends (``_finish``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from reglab.integrations._scalars import ScalarLog
from reglab.observe import Diagnosis, Recorder, diagnose

__all__ = ["StepWriter"]


class StepWriter:
    """Log ``model``'s numbers every ``every`` steps of ``optimizer``; diagnose at :meth:`close`.

    Subclasses call ``super().__init__`` once their sink is ready (the first numbers, those of the
    start, are written then).
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, *, every: int,
                 track: str | Sequence[str] | None, record: bool, **recorder_options: Any) -> None:
        self._log = ScalarLog(model, optimizer, every=every, track=track, emit=self._write_scalars)
        self.recorder: Recorder | None = None
        if record:
            self.recorder = Recorder(model, optimizer, every=every, track=self._log.chosen.tensor_patterns or None,
                                     **recorder_options)
        self.diagnosis: Diagnosis | None = None
        self._closed = False
        self._log.start()

    @property
    def step(self) -> int:
        """Optimizer steps taken since the writer was attached."""
        return self._log.step

    def _write_scalars(self, step: int, scalars: dict[str, float]) -> None:
        raise NotImplementedError

    def _write_diagnosis(self, diagnosis: Diagnosis, step: int) -> None:
        raise NotImplementedError

    def _finish(self) -> None:
        raise NotImplementedError

    def close(self) -> Diagnosis | None:
        """Write the last step (if not yet written) and the diagnosis, detach from the optimizer, and
        end the sink. Returns the diagnosis (None without a recorder, or before two recorded rows)."""
        if self._closed:
            return self.diagnosis
        self._closed = True
        self._log.close()
        if self.recorder is not None:
            trajectory = self.recorder.close().trajectory()
            if len(trajectory) >= 2:
                self.diagnosis = diagnose(trajectory)
                self._write_diagnosis(self.diagnosis, self.step)
        self._finish()
        return self.diagnosis

    def __enter__(self) -> StepWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def _state(self) -> str:
        return f"every={self._log.every}, step={self.step}, {'closed' if self._closed else 'open'}"
