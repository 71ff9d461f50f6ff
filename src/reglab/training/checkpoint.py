"""Checkpoint files of :func:`reglab.fit`: written atomically, checked on load, never unpickled.

A checkpoint holds everything the training loop needs to continue bit-identically: the model's
``state_dict``, the :class:`~reglab.updates.Regularized` optimizer's (inner optimizer state and
cumulative-L1 totals), the recorder's buffers, the history, the step counter, the minibatch
generator's RNG state and order, and the stopping rule's memory. It is written with
``torch.save`` (tensors, dicts, lists and primitives only), followed by a trailer: the SHA-256 of
those bytes and a magic tag. Loading checks the trailer first (a truncated or altered file is
refused with its name), then reads with ``torch.load(weights_only=True)``, then compares the
saved *spec* (model shape, terms, optimizer, data fingerprint, ...) with the run being resumed.

Examples
--------
>>> import tempfile, torch
>>> from pathlib import Path
>>> path = Path(tempfile.mkdtemp()) / "ck.pt"
>>> save_checkpoint(path, {"step": 3, "w": torch.ones(2)})
>>> load_checkpoint(path)["step"]
3
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import torch

from reglab._io import atomic_write_bytes
from reglab.data import is_sparse

__all__ = ["FORMAT", "CheckpointError", "save_checkpoint", "load_checkpoint", "check_spec", "run_spec"]


FORMAT: Final = 1


_MAGIC: Final = b"REGLABCK"


_DIGEST: Final = 32


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: truncated, corrupted, of another format or another run."""


def save_checkpoint(path: str | os.PathLike[str], state: Mapping[str, Any]) -> None:
    """Write ``state`` to ``path`` atomically (temp file, fsync, ``os.replace``) with a SHA-256 trailer.

    Parameters
    ----------
    path : str or PathLike
    state : mapping
        Tensors, dicts, lists, tuples and primitives only (what ``weights_only`` loading accepts).
    """
    buf = io.BytesIO()
    torch.save({"format": FORMAT, **state}, buf)
    body = buf.getvalue()
    atomic_write_bytes(path, body + hashlib.sha256(body).digest() + _MAGIC)


def load_checkpoint(path: str | os.PathLike[str],
                    map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`; :class:`CheckpointError` names the file if bad.

    Its tensors are loaded onto ``map_location`` (the run's device; a checkpoint written on a GPU
    loads on a CPU-only machine with the default).

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    CheckpointError
        The file is truncated, altered, not a reglab checkpoint, or of another format version.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"No checkpoint at {str(p)!r}: nothing to resume from.")
    raw = p.read_bytes()
    advice = "delete it to start the run afresh, or resume from another copy."
    if len(raw) < _DIGEST + len(_MAGIC) or not raw.endswith(_MAGIC):
        raise CheckpointError(f"Checkpoint {str(p)!r} is truncated or not a reglab checkpoint "
                              f"(no end marker; {len(raw)} bytes): {advice}")
    body, digest = raw[: -_DIGEST - len(_MAGIC)], raw[-_DIGEST - len(_MAGIC): -len(_MAGIC)]
    if hashlib.sha256(body).digest() != digest:
        raise CheckpointError(f"Checkpoint {str(p)!r} is corrupted (its SHA-256 does not match its content): {advice}")
    try:
        state = torch.load(io.BytesIO(body), map_location=map_location, weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling failure is a bad file, named
        raise CheckpointError(f"Checkpoint {str(p)!r} could not be read safely ({type(err).__name__}: {err}); "
                              f"{advice}") from err
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(f"Checkpoint {str(p)!r} has format {found!r}; this reglab reads format {FORMAT}.")
    return state


def check_spec(path: str | os.PathLike[str], saved: Mapping[str, Any], current: Mapping[str, Any]) -> None:
    """Refuse a checkpoint whose run spec differs from the run resuming it, saying what differs."""
    keys = sorted(set(saved) | set(current))
    diffs = [f"{k}: checkpoint {saved.get(k)!r}, this run {current.get(k)!r}"
             for k in keys if saved.get(k) != current.get(k)]
    if diffs:
        raise CheckpointError(f"Checkpoint {str(path)!r} was written by a different run; refusing to resume. "
                              "Differences: " + "; ".join(diffs)
                              + ". Resume with the same model, data, terms and options, or start afresh.")


def _digest(*tensors: torch.Tensor) -> str:
    """A short SHA-256 of tensors' shapes, dtypes and bytes."""
    digest = hashlib.sha256()
    for t in tensors:
        digest.update(str((tuple(t.shape), t.dtype, t.layout)).encode())
        # a sparse CSR X by its three arrays (never densified)
        parts = (t.crow_indices(), t.col_indices(), t.values()) if is_sparse(t) else (t,)
        for part in parts:
            digest.update(part.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def run_spec(model: torch.nn.Module, X: torch.Tensor, y: torch.Tensor, loss: str, terms: Any, optimizer: Any,
             *, sample_weight: torch.Tensor | None = None, **options: Any) -> dict[str, Any]:
    """What a checkpoint must match to be resumed: model shape, data fingerprint, terms, optimizer, options.

    The sample weights, when given, have a fingerprint of their own (``"sample_weight"``). Only
    strings and numbers, so it is stored as is and compared with ``==``.
    """
    opt = optimizer if isinstance(optimizer, str) else getattr(optimizer, "__qualname__", type(optimizer).__name__)
    spec: dict[str, Any] = {
        "model": type(model).__qualname__,
        "parameters": ", ".join(f"{n}{tuple(p.shape)}:{str(p.dtype).removeprefix('torch.')}"
                                for n, p in model.named_parameters()),
        "data": _digest(X, y),
        "data_shape": f"X{tuple(X.shape)} y{tuple(y.shape)}",
        "loss": loss,
        "terms": repr(list(terms)),
        "optimizer": str(opt),
    }
    spec.update({k: repr(v) for k, v in options.items()})
    if sample_weight is not None:
        spec["sample_weight"] = _digest(sample_weight)
    return spec
