"""A recorded trajectory: values, gradients and per-tensor summaries over steps, saved and loaded safely."""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import torch

from reglab._io import atomic_path

__all__ = ["SUMMARY_FIELDS", "Trajectory", "FORMAT"]


SUMMARY_FIELDS: Final = ("l2_norm", "l1_norm", "frac_zero", "frac_small", "update_norm")


FORMAT: Final = "reglab.trajectory/1"


_NP: Final = {torch.float32: np.float32, torch.float64: np.float64}


@dataclass
class Trajectory:
    """Recorded paths of the tracked weights, and per-tensor summaries, over recorded steps.

    Attributes
    ----------
    steps : ndarray of int64, shape (T,)
        Optimizer steps completed at each recorded row (0: the initial values).
    names : list of str, length W
        ``"fc1.weight[3,7]"``: parameter name and element index.
    values : ndarray of shape (T, W)
        Weight values after ``steps[t]`` updates.
    grads : ndarray of shape (T, W) or None
        Data-loss gradient at ``values[t]`` (NaN where it was not seen, e.g. the final row).
    tensor_names : list of str, length P
        The parameter tensors summarised.
    summaries : ndarray of shape (T, P, 5) or None
        Per tensor: ``SUMMARY_FIELDS`` = L2 norm, L1 norm, fraction of exact zeros, fraction of
        ``|w| < tol`` (``tol`` as the weights' dtype rounds it), norm of the update applied at that
        step (NaN at step 0). The fractions are NaN where the tensor holds a NaN.
    weights : dict of str to ndarray of shape (W,)
        Per tracked weight: ``lr``, ``l2`` (total L2 strength on it), ``l1`` (total L1 strength),
        ``theory_rate`` (the factor by which the penalty alone shrinks it per step, 1 − 2ηλ for
        L2 by rule gradient or decoupled with a plain step; NaN when there is no such rate).
    meta : dict
        Plain-data facts: ``every``, ``tail``, ``seed``, ``optimizer``, ``family``, ``tol``, ``dtype``.

    Examples
    --------
    >>> import reglab
    >>> from reglab.data import zero_column
    >>> res = reglab.fit("linear", zero_column(n=20, p=2), lr=0.05, steps=10, record=True)
    >>> traj = res.trajectory
    >>> traj.values.shape, traj.names[:2]
    ((11, 3), ['linear.weight[0,0]', 'linear.weight[0,1]'])
    """

    steps: np.ndarray
    names: list[str]
    values: np.ndarray
    grads: np.ndarray | None = None
    tensor_names: list[str] = field(default_factory=list)
    summaries: np.ndarray | None = None
    weights: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.steps = np.asarray(self.steps, dtype=np.int64)
        self.names = list(self.names)
        T, W = len(self.steps), len(self.names)
        if self.values.shape != (T, W):
            raise ValueError(f"values has shape {self.values.shape}; expected (steps, names) = {(T, W)}.")
        if self.grads is not None and self.grads.shape != (T, W):
            raise ValueError(f"grads has shape {self.grads.shape}; expected {(T, W)}.")
        if self.summaries is not None and self.summaries.shape != (T, len(self.tensor_names), len(SUMMARY_FIELDS)):
            raise ValueError(f"summaries has shape {self.summaries.shape}; expected "
                             f"{(T, len(self.tensor_names), len(SUMMARY_FIELDS))}.")
        self._index = {n: i for i, n in enumerate(self.names)}

    def __len__(self) -> int:
        return len(self.steps)

    def __repr__(self) -> str:
        """Shapes and counts, never the arrays.

        >>> Trajectory(np.arange(3), ["w[0]", "w[1]"], np.zeros((3, 2)))
        Trajectory(3 recorded steps (0 to 2), 2 weights, 0 tensors summarised, grads=no)
        """
        span = f" ({int(self.steps[0])} to {int(self.steps[-1])})" if len(self.steps) else ""
        return (f"Trajectory({len(self.steps)} recorded steps{span}, {len(self.names)} weights, "
                f"{len(self.tensor_names)} tensors summarised, grads={'no' if self.grads is None else 'yes'})")

    def index(self, name: str) -> int:
        """Column of weight ``name`` in ``values`` / ``grads``.

        Raises
        ------
        KeyError
            If the weight was not tracked (the message lists a few that were).
        """
        try:
            return self._index[name]
        except KeyError:
            raise KeyError(f"Weight {name!r} was not tracked. Tracked weights include: "
                           f"{', '.join(self.names[:5])}{', ...' if len(self.names) > 5 else ''}.") from None

    def path(self, name: str) -> np.ndarray:
        """Values of one weight over the recorded steps, shape (T,)."""
        return self.values[:, self.index(name)]

    def summary(self, tensor: str, what: str = "l2_norm") -> np.ndarray:
        """One per-tensor summary (one of ``SUMMARY_FIELDS``) over the recorded steps, shape (T,)."""
        if self.summaries is None:
            raise ValueError("This trajectory holds no per-tensor summaries (recorded with summaries=False).")
        if what not in SUMMARY_FIELDS:
            raise ValueError(f"Unknown summary {what!r}. Choose one of {', '.join(SUMMARY_FIELDS)}.")
        if tensor not in self.tensor_names:
            raise KeyError(f"No tensor {tensor!r}; tensors are {', '.join(self.tensor_names)}.")
        return self.summaries[:, self.tensor_names.index(tensor), SUMMARY_FIELDS.index(what)]

    # -- tables --------------------------------------------------------------------------------------
    def to_pandas(self, form: Literal["long", "wide"] = "long") -> Any:
        """The trajectory as a DataFrame.

        ``"long"``: one row per (step, weight): columns ``step, name, value`` (and ``grad``).
        ``"wide"``: one row per step, indexed by ``step``, one column per weight name.
        """
        import pandas as pd

        if form == "wide":
            return pd.DataFrame(self.values, index=pd.Index(self.steps, name="step"), columns=self.names)
        if form != "long":
            raise ValueError(f"form must be 'long' or 'wide'; got {form!r}.")
        T, W = self.values.shape
        cols: dict[str, Any] = {
            "step": np.repeat(self.steps, W),
            "name": pd.Categorical.from_codes(np.tile(np.arange(W), T), categories=self.names),
            "value": self.values.reshape(-1),
        }
        if self.grads is not None:
            cols["grad"] = self.grads.reshape(-1)
        return pd.DataFrame(cols)

    def summaries_to_pandas(self) -> Any:
        """Per-tensor summaries as a long DataFrame: ``step, tensor`` and one column per summary."""
        import pandas as pd

        if self.summaries is None:
            raise ValueError("This trajectory holds no per-tensor summaries (recorded with summaries=False).")
        T, P, _ = self.summaries.shape
        out = {"step": np.repeat(self.steps, P), "tensor": np.tile(np.asarray(self.tensor_names, dtype=object), T)}
        for k, f in enumerate(SUMMARY_FIELDS):
            out[f] = self.summaries[:, :, k].reshape(-1)
        return pd.DataFrame(out)

    # -- files -------------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the trajectory to one ``.npz`` file (arrays plus a JSON metadata entry), atomically.

        No object arrays are written, so :meth:`load` reads it with ``allow_pickle=False``.
        """
        path = Path(path)
        arrays: dict[str, np.ndarray] = {
            "steps": self.steps,
            "values": self.values,
            "names": np.asarray(self.names, dtype=np.str_),
            "tensor_names": np.asarray(self.tensor_names, dtype=np.str_),
            "meta": np.asarray(json.dumps({"format": FORMAT, **self.meta}), dtype=np.str_),
        }
        if self.grads is not None:
            arrays["grads"] = self.grads
        if self.summaries is not None:
            arrays["summaries"] = self.summaries
        for k, v in self.weights.items():
            arrays[f"weights.{k}"] = np.asarray(v)
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Trajectory:
        """Read a trajectory written by :meth:`save` (``numpy.load(allow_pickle=False)``).

        Raises
        ------
        ValueError
            If the file holds pickled objects, or is not a reglab trajectory.
        """
        path = Path(path)
        with open(path, "rb") as fh:
            magic = fh.read(4)
        if magic != b"PK\x03\x04":
            if magic[:1] == b"\x80":
                raise ValueError(f"{path} is a pickle; reglab never unpickles a file (it could run arbitrary "
                                 "code). Save trajectories with Trajectory.save, which writes plain arrays.")
            raise ValueError(f"{path} is not a reglab trajectory file (not an .npz archive).")
        try:
            with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as npz:  # closes fh on a bad file
                data = {k: npz[k] for k in npz.files}
        except ValueError as exc:
            if "pickle" in str(exc).lower():
                raise ValueError(
                    f"{path} holds pickled Python objects; reglab never unpickles a file (it could run "
                    "arbitrary code). Save trajectories with Trajectory.save, which writes plain arrays."
                ) from exc
            raise ValueError(f"{path} is not a reglab trajectory file: {exc}") from exc
        except (zipfile.BadZipFile, OSError) as exc:
            raise ValueError(f"{path} is not a reglab trajectory file (.npz): {exc}") from exc
        missing = {"steps", "values", "names", "meta"} - set(data)
        if missing:
            raise ValueError(f"{path} is not a reglab trajectory file: missing {sorted(missing)}.")
        try:
            meta = json.loads(str(data["meta"]))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path} is not a reglab trajectory file (damaged metadata: {exc}).") from exc
        if meta.pop("format", None) != FORMAT:
            raise ValueError(f"{path} is not a reglab trajectory file of format {FORMAT}.")
        weights = {k.split(".", 1)[1]: v for k, v in data.items() if k.startswith("weights.")}
        return cls(steps=data["steps"], names=[str(n) for n in data["names"]], values=data["values"],
                   grads=data.get("grads"), tensor_names=[str(n) for n in data.get("tensor_names", [])],
                   summaries=data.get("summaries"), weights=weights, meta=meta)


def _element_names(name: str, shape: Sequence[int], flat: np.ndarray) -> list[str]:
    if len(shape) == 0:
        return [name] * len(flat)
    coords = np.unravel_index(flat, tuple(shape))
    return [f"{name}[{','.join(map(str, c))}]" for c in zip(*(cc.tolist() for cc in coords))]
