"""The numbers the integrations log every N optimizer steps, read from the device in one transfer.

Per parameter tensor the optimizer updates: its L2 norm, L1 norm and fraction of exact zeros; the
penalty value when the optimizer is a :class:`~reglab.Regularized`; and the values of the weights
chosen by ``track`` (element names such as ``"fc.weight[0,1]"``, or parameter names and globs
whose every element is chosen, as :class:`~reglab.Recorder`'s ``track`` takes them).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import torch
from torch import Tensor, nn

from reglab.updates import Regularized

__all__ = ["ChosenWeights", "ScalarLog", "choose_weights", "read_scalars", "updated_parameters"]


MAX_CHOSEN: Final = 1000  # one scalar tag per chosen weight: more than this is a mistake, not a plot

_ELEMENT: Final = re.compile(r"^(?P<tensor>.+)\[(?P<index>\d+(?:,\d+)*)\]$")


def updated_parameters(model: nn.Module, optimizer: torch.optim.Optimizer) -> list[tuple[str, Tensor]]:
    """``model``'s named floating-point parameters that ``optimizer`` updates, in the model's order."""
    owned = {id(p) for g in optimizer.param_groups for p in g["params"]}
    named = [(n, p) for n, p in model.named_parameters() if p.is_floating_point() and id(p) in owned]
    if not named:
        raise ValueError("The optimizer updates none of the model's floating-point parameters; nothing to log.")
    return named


@dataclass(frozen=True)
class ChosenWeights:
    """The weights whose values are logged: per tensor position, flat indices, and their names."""

    flat: dict[int, np.ndarray]  # position in ``updated_parameters`` → sorted flat indices
    names: list[str]  # in the order of ``flat``'s tensors, then indices
    tensor_patterns: list[str]  # the names and globs of ``track`` that chose whole tensors


def _element_name(tensor: str, shape: Sequence[int], flat: int) -> str:
    if len(shape) == 0:
        return tensor
    return f"{tensor}[{','.join(str(int(i)) for i in np.unravel_index(flat, tuple(shape)))}]"


def choose_weights(named: Sequence[tuple[str, Tensor]], track: str | Sequence[str] | None) -> ChosenWeights:
    """The weights ``track`` names: an element name (``"fc.weight[0,1]"``) chooses that element; a
    parameter name or glob (``"fc.*"``) chooses every element of the tensors it matches.

    Raises
    ------
    ValueError
        When a name or glob matches nothing, or more than ``MAX_CHOSEN`` weights are chosen.
    """
    patterns = [track] if isinstance(track, str) else list(track or [])
    if not all(isinstance(t, str) for t in patterns):
        raise TypeError(f"track must be a weight or parameter name, a glob, or a list of them; got {track!r}.")
    position = {n: i for i, (n, _) in enumerate(named)}
    chosen: dict[int, set[int]] = {}
    tensor_patterns: list[str] = []
    for pattern in patterns:
        element = _ELEMENT.match(pattern)
        if element is not None and element["tensor"] in position:
            i = position[element["tensor"]]
            shape = tuple(named[i][1].shape)
            index = tuple(int(k) for k in element["index"].split(","))
            if len(index) != len(shape) or any(k >= s for k, s in zip(index, shape)):
                raise ValueError(f"track={pattern!r}: {element['tensor']} has shape {list(shape)}.")
            chosen.setdefault(i, set()).add(int(np.ravel_multi_index(index, shape)))
            continue
        hits = [i for n, i in position.items() if fnmatch.fnmatchcase(n, pattern)]
        if not hits:
            raise ValueError(f"track={pattern!r} matches no weight or parameter; parameters are "
                             f"{', '.join(position)}.")
        tensor_patterns.append(pattern)
        for i in hits:
            chosen.setdefault(i, set()).update(range(named[i][1].numel()))
    n_chosen = sum(len(ix) for ix in chosen.values())
    if n_chosen > MAX_CHOSEN:
        raise ValueError(f"track chooses {n_chosen} weights, one plot each; name at most {MAX_CHOSEN} "
                         "(element names such as 'fc.weight[0,1]' choose one weight each).")
    flat = {i: np.array(sorted(chosen[i]), dtype=np.int64) for i in sorted(chosen)}
    names = [_element_name(named[i][0], tuple(named[i][1].shape), int(k)) for i, ix in flat.items() for k in ix]
    return ChosenWeights(flat=flat, names=names, tensor_patterns=tensor_patterns)


def _at(p: Tensor, flat: np.ndarray) -> Tensor:
    """The elements of ``p`` at flat indices ``flat``."""
    return p.detach().reshape(-1)[torch.as_tensor(flat, device=p.device)]


@torch.no_grad()
def read_scalars(named: Sequence[tuple[str, Tensor]], optimizer: torch.optim.Optimizer,
                 chosen: ChosenWeights) -> dict[str, float]:
    """The numbers at this moment, by tag: ``norms/l2/<p>``, ``norms/l1/<p>``, ``zeros/<p>`` per
    parameter, ``penalty`` (a :class:`~reglab.Regularized` optimizer only) and ``weights/<name>``.

    Computed on the parameters' device and copied to the host in one transfer.

    Examples
    --------
    >>> lin = torch.nn.Linear(2, 1)
    >>> with torch.no_grad():
    ...     _ = lin.weight.copy_(torch.tensor([[3.0, 0.0]])), lin.bias.fill_(-4.0)
    >>> opt = torch.optim.SGD(lin.parameters(), lr=0.1)
    >>> named = updated_parameters(lin, opt)
    >>> for tag, value in read_scalars(named, opt, choose_weights(named, "weight[0,0]")).items():
    ...     print(tag, value)
    norms/l2/weight 3.0
    norms/l1/weight 3.0
    zeros/weight 0.5
    norms/l2/bias 4.0
    norms/l1/bias 4.0
    zeros/bias 0.0
    weights/weight[0,0] 3.0
    """
    device = named[0][1].device
    tags: list[str] = []
    parts: list[Tensor] = []
    for name, p in named:
        w = p.detach()
        tags += [f"norms/l2/{name}", f"norms/l1/{name}", f"zeros/{name}"]
        parts += [torch.linalg.vector_norm(w, 2, dtype=torch.float64),
                  torch.linalg.vector_norm(w, 1, dtype=torch.float64),
                  (w == 0).sum().to(torch.float64) / w.numel()]
    if isinstance(optimizer, Regularized):
        tags.append("penalty")
        parts.append(optimizer.penalty_value())
    numbers = torch.stack([t.to(device) for t in parts])
    if chosen.flat:
        tags += [f"weights/{n}" for n in chosen.names]
        values = [_at(named[i][1], ix).to(device, torch.float64) for i, ix in chosen.flat.items()]
        numbers = torch.cat([numbers, *values])
    return dict(zip(tags, numbers.cpu().tolist()))


class ScalarLog:
    """Hand ``emit(step, scalars)`` the numbers of :func:`read_scalars` when :meth:`start` is called
    and after every ``every``-th optimizer step from then on (through a step post-hook, so in any
    training loop).

    ``step`` counts optimizer steps from ``start``. :meth:`close` emits the last step if it was not
    emitted yet and removes the hook.
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, *, every: int,
                 track: str | Sequence[str] | None, emit: Callable[[int, dict[str, float]], Any],
                 start: int = 0) -> None:
        if isinstance(every, bool) or not isinstance(every, (int, np.integer)) or every < 1:
            raise ValueError(f"every must be a positive integer; got {every!r}.")
        self.every = int(every)
        self.named = updated_parameters(model, optimizer)
        self.chosen = choose_weights(self.named, track)
        self.optimizer, self._emit = optimizer, emit
        self.step = int(start)
        self._emitted = -1
        self._handle: Any = None

    def start(self) -> None:
        """Emit the numbers now and after every ``every``-th step from now on."""
        if self._handle is None:
            self._handle = self.optimizer.register_step_post_hook(self._after_step)
            self.emit_now()

    def emit_now(self) -> None:
        """Read the numbers now and hand them over (once per step)."""
        if self._emitted != self.step:
            self._emit(self.step, read_scalars(self.named, self.optimizer, self.chosen))
            self._emitted = self.step

    def _after_step(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        self.step += 1
        if self.step % self.every == 0:
            self.emit_now()

    def detach(self) -> None:
        """Stop counting steps (remove the hook)."""
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    def close(self) -> None:
        """Emit the last step if it was not, and stop counting steps."""
        if self._handle is not None:
            self.emit_now()
            self.detach()
