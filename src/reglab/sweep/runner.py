"""One run of a sweep, in process: a spec in, one summary row out, whatever happens.

Every executor produces its rows through :func:`row_from_result` (a finished fit) or
:func:`failed_row` (an exception), so the rows of ``batched``, ``local`` and ``ray`` have the same
columns and the same meaning. In a sweep a diverging run is a result, not an error: fits run with
``on_divergence="stop"`` and their row says ``status = "diverged"``.
"""

from __future__ import annotations

import json
import math
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

import torch

from reglab.sweep.spec import Run
from reglab.training import FitResult

__all__ = ["Executor", "SerialExecutor", "failed_row", "row_from_result", "run_one", "diagnose_counts"]

OnRow = Callable[[dict[str, Any]], None]
HISTORY_KEY = "_history"  # the run's logged history rides with its row; the store keeps it on request


class Executor(Protocol):
    """Runs a list of runs and hands every row to ``on_row`` as soon as it is known.

    ``on_row`` is called in the calling process, one row at a time; a run that fails yields a row
    with ``status = "failed"`` and its error, and the executor goes on with the others.
    """

    name: str

    def run(self, runs: list[Run], on_row: OnRow) -> None:
        """Run every run of ``runs`` and call ``on_row(row)`` once for each."""
        ...


def _base_row(run: Run, executor: str) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "spec": json.dumps(run.spec, sort_keys=True),
        "params": json.dumps(run.params, sort_keys=True),
        "executor": executor,
        "torch_version": torch.__version__,
        "threads": torch.get_num_threads(),
        "finished_at": time.time(),
    }


def diagnose_counts(result: FitResult) -> tuple[str | None, str | None]:
    """``(json of diagnose(result).counts, error)``.

    ``(None, None)`` when the run was not recorded (``record`` unset: diagnose reads trajectories).
    """
    if result.recorder is None:
        return None, None
    try:
        from reglab.observe import diagnose
    except ImportError:
        return None, None
    try:
        counts = diagnose(result).counts
    except Exception as err:  # noqa: BLE001 - a diagnosis that fails must not lose the run's row
        return None, f"{type(err).__name__}: {err}"
    return json.dumps({str(k): int(v) for k, v in dict(counts).items()}, sort_keys=True), None


def _finite_or_none(x: float | None) -> float | None:
    return None if x is None else float(x)


def row_from_result(run: Run, result: FitResult, executor: str, *, elapsed: float | None = None,
                    batched_with: int = 1) -> dict[str, Any]:
    """The summary row of a finished fit.

    Parameters
    ----------
    run : Run
    result : FitResult
    executor : str
        Which executor produced it (``"batched"``, ``"local"``, ``"ray"``, ``"serial"``).
    elapsed : float, optional
        Seconds attributed to this run (default: the fit's own training time).
    batched_with : int
        How many runs trained together in one stacked model (1 when alone).

    Returns
    -------
    dict
        ``run_id``, ``status``, losses (train, held-out, the null model's), ``penalty``,
        ``objective``, ``l2_norm`` / ``l1_norm`` over every parameter, ``exact_zeros``,
        ``tensors`` (JSON: per-tensor norms and zeros), ``diagnose`` (JSON counts), timing,
        torch version and thread count; and ``_history`` (the logged history as lists), which the
        store writes to its own file when asked to keep histories.
    """
    s = result.summary()
    tensors = s["tensors"]
    diag, diag_error = diagnose_counts(result)
    row = _base_row(run, executor)
    row.update(
        status=s["status"],
        error=None,
        steps=int(s["steps"]),
        lr=float(s["lr"]),
        seed=int(result.seed),
        train_loss=_finite_or_none(s["train_loss"]),
        test_loss=_finite_or_none(s["test_loss"]),
        null_train_loss=_finite_or_none(s["null_train_loss"]),
        null_test_loss=_finite_or_none(s["null_test_loss"]),
        penalty=float(s["penalty"]),
        objective=_finite_or_none(s["objective"]),
        l2_norm=math.sqrt(sum(t["l2_norm"] ** 2 for t in tensors.values())),
        l1_norm=sum(t["l1_norm"] for t in tensors.values()),
        exact_zeros=int(s["exact_zeros"]),
        n_parameters=int(s["n_parameters"]),
        tensors=json.dumps(tensors, sort_keys=True),
        diagnose=diag,
        diagnose_error=diag_error,
        elapsed=float(result.elapsed if elapsed is None else elapsed),
        batched_with=int(batched_with),
    )
    row[HISTORY_KEY] = result.history.to_dict()
    return row


def failed_row(run: Run, executor: str, error: BaseException | str, elapsed: float = 0.0) -> dict[str, Any]:
    """The row of a run that raised: ``status = "failed"`` and the error's type, message and last frame."""
    if isinstance(error, BaseException):
        where = traceback.extract_tb(error.__traceback__)[-1:] if error.__traceback__ else []
        at = f" (at {where[0].filename}:{where[0].lineno})" if where else ""
        text = f"{type(error).__name__}: {error}{at}"
    else:
        text = str(error)
    row = _base_row(run, executor)
    row.update(status="failed", error=text, elapsed=float(elapsed), batched_with=1)
    return row


def fit_run(spec: Mapping[str, Any]) -> FitResult:
    """``fit()`` on a run spec, with ``on_divergence="stop"`` (divergence is a status in a sweep)."""
    from reglab.spec import build_fit_kwargs
    from reglab.training import fit

    kwargs = build_fit_kwargs(spec)
    kwargs["on_divergence"] = "stop"
    return fit(**kwargs)


def run_one(run: Run, executor: str = "serial") -> dict[str, Any]:
    """Fit one run and return its row; an exception becomes a ``failed`` row, never a raise."""
    t0 = time.perf_counter()
    try:
        result = fit_run(run.spec)
    except Exception as err:  # noqa: BLE001 - a failed run is stored with its error, the sweep goes on
        return failed_row(run, executor, err, time.perf_counter() - t0)
    return row_from_result(run, result, executor)


class SerialExecutor:
    """Runs one after another in this process (the fallback of ``batched`` for what does not batch)."""

    name = "serial"

    def run(self, runs: Iterable[Run], on_row: OnRow) -> None:
        for run in runs:
            on_row(run_one(run, self.name))
