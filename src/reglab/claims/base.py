"""What every claim returns, how a verdict is written, and the small machinery claims share.

A claim is an experiment: it trains real models with :func:`reglab.fit` or a hand loop around
:class:`reglab.Regularized`, measures named numbers, and computes its verdict from those numbers by
an explicit rule whose text travels with the result. Nothing here (or in any claim) writes a
verdict or a measured number as a literal.
"""

from __future__ import annotations

import base64
import contextvars
import io
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Final

import numpy as np
import torch
from torch import Tensor, nn

from reglab.penalties import AbstractPenalty
from reglab.updates import Regularized

__all__ = [
    "HOLDS",
    "HOLDS_WITH_CORRECTION",
    "DOES_NOT_HOLD",
    "INCONCLUSIVE",
    "VERDICTS",
    "BatchedLinear",
    "ClaimResult",
    "Figure",
    "RunConfig",
    "command_for",
    "figure_from_matplotlib",
    "run_hand_loop",
    "verdict_of",
]

HOLDS: Final = "holds"
HOLDS_WITH_CORRECTION: Final = "holds with a correction"
DOES_NOT_HOLD: Final = "does not hold"
INCONCLUSIVE: Final = "inconclusive"
VERDICTS: Final = (HOLDS, HOLDS_WITH_CORRECTION, DOES_NOT_HOLD, INCONCLUSIVE)


@dataclass(frozen=True)
class RunConfig:
    """How a claim is run.

    Attributes
    ----------
    quick : bool
        Smaller runs (for the test suite); the verdict rules are the same.
    seed : int
        Seeds every random draw (data, initialization, minibatches).
    figures : bool
        Render figures (False skips the rendering: for checks that need only the numbers).
    device : str
        Where the claims that train networks (those whose module sets ``USES_DEVICE = True``) train:
        ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ... The other claims are small linear problems and run on the
        CPU whatever it says. The verdict rules are the same on every device.

    Examples
    --------
    >>> RunConfig(quick=True, seed=3).flags()
    '--seed 3 --quick'
    >>> RunConfig(device="cpu").torch_device()
    device(type='cpu')
    """

    quick: bool = False
    seed: int = 0
    figures: bool = True
    device: str = "cpu"

    def flags(self) -> str:
        """The ``reglab claims`` options that reproduce this configuration."""
        return (f"--seed {self.seed}" + (" --quick" if self.quick else "")
                + (f" --device {self.device}" if self.device != "cpu" else ""))

    def torch_device(self) -> torch.device:
        """:attr:`device` checked (a device torch knows and this machine has).

        Raises
        ------
        ValueError
            For an unknown device or one this machine lacks (``"cuda"`` without a GPU), saying which to use.
        """
        from reglab.training.resolve import check_device

        return check_device(self.device)


# whether figure_from_matplotlib renders, set by reglab.claims.run_claim from RunConfig.figures
RENDER_FIGURES: contextvars.ContextVar[bool] = contextvars.ContextVar("RENDER_FIGURES", default=True)


@dataclass(frozen=True)
class Figure:
    """A rendered figure: a PNG, base64-encoded, with what it shows."""

    title: str
    caption: str
    png_base64: str
    width: int
    height: int


@dataclass
class ClaimResult:
    """The outcome of one claim.

    Attributes
    ----------
    id : str
        The claim's stable id (``"l2-decay"``).
    title : str
    statement : str
        The claim in our words (what the argument or the literature says).
    setup : dict
        Everything needed to reproduce the runs (data, model, penalties, rules, learning rates, steps, seed).
    measurements : dict of str to float
        Named numbers, all measured.
    verdict : {"holds", "holds with a correction", "does not hold", "inconclusive"}
    rule : str
        The rule that turned the measurements into the verdict, as written beside it in code.
    explanation : str
        What the numbers say, generated from them.
    key : str
        The name of the measurement shown beside the verdict in summary tables.
    command : str
        The exact command that reproduces this result.
    figures : list of Figure
    tables : dict of str to list of dict
        Per-configuration rows (one dict per run) behind the measurements.
    elapsed : float
        Seconds the claim took.
    """

    id: str
    title: str
    statement: str
    setup: dict[str, Any]
    measurements: dict[str, float]
    verdict: str
    rule: str
    explanation: str
    key: str
    command: str
    figures: list[Figure] = field(default_factory=list)
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    elapsed: float = 0.0

    def __post_init__(self) -> None:
        self.figures = [f for f in self.figures if f is not None]
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}; got {self.verdict!r}.")
        if self.key not in self.measurements:
            raise ValueError(f"key {self.key!r} is not among the measurements {sorted(self.measurements)}.")

    @property
    def key_value(self) -> float:
        """The key measurement."""
        return self.measurements[self.key]

    def to_dict(self, *, figures: bool = False) -> dict[str, Any]:
        """A JSON-ready dict; figures (large) only when asked, otherwise their titles."""
        out = asdict(self)
        out["measurements"] = {k: _jsonable(v) for k, v in self.measurements.items()}
        out["tables"] = {k: [{c: _jsonable(v) for c, v in row.items()} for row in rows]
                         for k, rows in self.tables.items()}
        out["setup"] = _jsonable(self.setup)
        if not figures:
            out["figures"] = [{"title": f.title, "caption": f.caption} for f in self.figures]
        return out


def _jsonable(v: Any) -> Any:
    """Plain Python for JSON: floats (inf / nan as strings), ints, lists, dicts."""
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, (np.generic,)):
        v = v.item()
    if isinstance(v, Tensor):
        return _jsonable(v.tolist())
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return v


def verdict_of(checks: Sequence[tuple[str, bool]], *, when_all: str, otherwise: str) -> tuple[str, list[str]]:
    """``when_all`` if every named check passed, else ``otherwise``; and the names of failed checks."""
    failed = [name for name, ok in checks if not ok]
    return (when_all if not failed else otherwise), failed


def command_for(claim_id: str, config: RunConfig) -> str:
    """The exact command reproducing one claim under ``config``."""
    return f"reglab claims --only {claim_id} {config.flags()}"


# -- figures ---------------------------------------------------------------------------------------


def new_figure(ncols: int = 1, nrows: int = 1, width: float = 5.0, height: float = 3.4) -> tuple[Any, Any]:
    """A matplotlib (Agg) figure with ``nrows × ncols`` axes."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    # fixed margins rather than a layout engine: a layout engine measures every text extent, which costs
    # more than drawing on small figures
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False)
    fig.subplots_adjust(left=0.1 / ncols + 0.02, right=0.97 - (0.04 if ncols == 1 else 0.02), bottom=0.14,
                        top=0.9, wspace=0.32)
    return fig, axes


_SUPERSCRIPT: Final = str.maketrans("0123456789-.", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻·")


def unicode_tick_label(label: str) -> str:
    r"""A log axis' mathtext tick label (``$\mathdefault{2\times10^{-3}}$``) as plain text with Unicode
    superscripts (``2×10⁻³``); any other label unchanged.

    Examples
    --------
    >>> unicode_tick_label(r"$\mathdefault{10^{-12}}$"), unicode_tick_label(r"$\mathdefault{-3\times10^{2}}$")
    ('10⁻¹²', '−3×10²')
    >>> unicode_tick_label("0.5")
    '0.5'
    """
    head, tail = r"$\mathdefault{", "}$"
    if not (label.startswith(head) and label.endswith(tail)):
        return label
    body = label[len(head):-len(tail)].replace(r"\times", "×")
    base, caret, exponent = body.partition("^{")
    if caret and not exponent.endswith("}"):
        return label
    text = base + exponent[:-1].translate(_SUPERSCRIPT) if caret else base
    return text.replace("-", "−", 1) if text.startswith("-") else text


def _plain_log_ticks(fig: Any) -> None:
    """Label log axes with :func:`unicode_tick_label`: matplotlib draws its default labels (``10^{k}``) with
    mathtext, whose parser took about a third of the figures' drawing time; the labels look the same."""
    from matplotlib import ticker

    class PlainLogFormatter(ticker.LogFormatterSciNotation):
        def __call__(self, x: float, pos: int | None = None) -> str:
            return unicode_tick_label(super().__call__(x, pos))

    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            for formatter in (axis.get_major_formatter(), axis.get_minor_formatter()):
                if type(formatter) is ticker.LogFormatterSciNotation:  # the scale's own, not one a claim chose
                    formatter.__class__ = PlainLogFormatter  # keeps its base, thresholds and locator state


def figure_from_matplotlib(fig: Any, title: str, caption: str, dpi: int = 90) -> Figure | None:
    """Render a matplotlib figure to an inline PNG and close it (None when rendering is switched off)."""
    import matplotlib.pyplot as plt

    if not RENDER_FIGURES.get():
        plt.close(fig)
        return None
    _plain_log_ticks(fig)
    buf = io.BytesIO()
    # zlib level 1: a third faster to encode than the default 6, and 3 % larger on these line plots
    fig.savefig(buf, format="png", dpi=dpi, pil_kwargs={"compress_level": 1})
    width, height = (int(round(v * dpi)) for v in fig.get_size_inches())
    plt.close(fig)
    return Figure(title=title, caption=caption, png_base64=base64.b64encode(buf.getvalue()).decode("ascii"),
                  width=width, height=height)


# -- many small independent models at once -----------------------------------------------------------


class BatchedLinear(nn.Module):
    """K independent linear models ``f_k(x) = x_k · w_k + b_k`` trained as one module.

    The loss of the batch is the *sum* over members of each member's mean data loss, so each
    member's gradient is exactly the gradient of its own loss: one gradient step of the batch is one
    independent gradient step of every member. Penalty terms select members by element masks.

    Parameters
    ----------
    weight : Tensor of shape (K, p)
        Initial weights, one row per member.
    bias : Tensor of shape (K,), optional
        Initial intercepts; no intercept when None.

    Shapes: input (K, n, p) or (n, p) shared by all members; output (K, n).
    """

    def __init__(self, weight: Tensor, bias: Tensor | None = None) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight.detach().clone())
        self.bias = None if bias is None else nn.Parameter(bias.detach().clone())

    def forward(self, x: Tensor) -> Tensor:
        out = torch.einsum("knp,kp->kn", x, self.weight) if x.ndim == 3 else self.weight @ x.T
        return out if self.bias is None else out + self.bias[:, None]


def squared_sum_over_members(out: Tensor, y: Tensor) -> Tensor:
    """Σ_k mean_i (y_ki − out_ki)², for outputs and targets of shape (K, n) (y may be (n,))."""
    return (y - out).square().mean(dim=-1).sum()


def run_hand_loop(
    model: nn.Module,
    loss_of: Callable[[nn.Module], Tensor],
    terms: Sequence[AbstractPenalty],
    optimizer: torch.optim.Optimizer,
    steps: int,
    watch: Callable[[nn.Module], Tensor],
    *,
    scheduler: Callable[[torch.optim.Optimizer], Any] | None = None,
    stop: Callable[[Tensor], bool] | None = None,
) -> np.ndarray:
    """Train with ``Regularized(optimizer, model, terms)`` and return what ``watch`` saw at every step.

    Parameters
    ----------
    loss_of : callable(model) -> 0-d Tensor
        The data loss (penalties are applied by the terms' update rules).
    watch : callable(model) -> Tensor of shape (W,)
        What to record; called before the first step and after every step.
    scheduler : callable(optimizer) -> LR scheduler, optional
        Built on the inner optimizer and stepped after every step.
    stop : callable(last watched values) -> bool, optional
        Stop early when it returns True.

    Returns
    -------
    ndarray of shape (steps_run + 1, W)
        Row t is the state after t steps.

    Examples
    --------
    >>> m = BatchedLinear(torch.ones(1, 2, dtype=torch.float64))
    >>> x = torch.zeros(5, 2, dtype=torch.float64)
    >>> from reglab import L2
    >>> path = run_hand_loop(m, lambda m: m(x).square().mean(), [L2(0.5)],
    ...                      torch.optim.SGD(m.parameters(), lr=0.1), 3, lambda m: m.weight[0])
    >>> path[:, 0].round(4).tolist()  # (1 − 2·0.1·0.5)^t
    [1.0, 0.9, 0.81, 0.729]
    """
    opt = Regularized(optimizer, model, terms)
    sched = None if scheduler is None else scheduler(optimizer)
    rows = [watch(model).detach().clone()]
    for _ in range(steps):
        opt.zero_grad()
        loss_of(model).backward()
        opt.step()
        if sched is not None:
            sched.step()
        with torch.no_grad():
            rows.append(watch(model).detach().clone())
        if stop is not None and stop(rows[-1]):
            break
    return torch.stack(rows).cpu().numpy()


def fitted_rate(path: np.ndarray) -> float:
    """Least-squares factor r in w_{t+1} ≈ r·w_t over a 1-D path (steps with w_t = 0 carry no weight).

    Returns nan when every step is at zero.
    """
    a, b = path[:-1], path[1:]
    finite = np.isfinite(a) & np.isfinite(b)
    a, b = a[finite], b[finite]
    den = float(np.dot(a, a))
    return float(np.dot(a, b) / den) if den > 0 else float("nan")


def fmt(x: float, digits: int = 3) -> str:
    """A number for prose: ``g`` format, with inf / nan spelled out."""
    if isinstance(x, (int, np.integer)) and not isinstance(x, bool):
        return str(int(x))
    if not math.isfinite(x):
        return str(x)
    return f"{x:.{digits}g}"


class Heads(nn.Module):
    """Independent models trained side by side, each in its own optimizer parameter group.

    ``heads.h{k}`` is member k; the loss is the sum of the members' own losses, so one step of the
    whole is one independent step of each member, each at its own learning rate.
    """

    def __init__(self, members: Sequence[nn.Module]) -> None:
        super().__init__()
        self.members = nn.ModuleDict({f"h{k}": m for k, m in enumerate(members)})

    def param_groups(self, lrs: Sequence[float]) -> list[dict[str, Any]]:
        """One parameter group per member, with learning rate ``lrs[k]``."""
        return [{"params": list(m.parameters()), "lr": float(lr)} for m, lr in zip(self.members.values(), lrs)]


def zero_column_heads(data: Any, n_members: int, column: int, seed: int) -> Heads:
    """``n_members`` linear models (float64) for ``data``, each initialised from the same seeded draw."""
    from reglab.models import linear

    members = [linear(data.n_features, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
               for _ in range(n_members)]
    return Heads(members)


def train_zero_column_weight(
    data: Any,
    heads: Heads,
    column: int,
    grid: Sequence[tuple[float, float]],
    make_term: Callable[..., AbstractPenalty],
    steps: int,
) -> np.ndarray:
    """Train each head by GD with its own (η, λ) from ``grid``, the term on the zero column's weight only.

    ``make_term(λ, on=...)`` builds the term (``L2``, or ``functools.partial(L1, update=...)``);
    the loss is the sum of the heads' squared losses, so each head gets exactly its own gradient.

    Returns
    -------
    ndarray of shape (steps + 1, len(grid))
        The weight ``linear.weight[0, column]`` of every head, from its initial value on.
    """
    terms = []
    for name, (_, lam) in zip(heads.members, grid):
        mask = torch.zeros_like(heads.members[name].linear.weight, dtype=torch.bool)
        mask[0, column] = True
        terms.append(make_term(lam, on={f"members.{name}.linear.weight": mask}))
    X, y = data.X, data.y
    opt = torch.optim.SGD(heads.param_groups([lr for lr, _ in grid]))
    return run_hand_loop(
        heads, lambda h: sum(((m(X)[:, 0] - y) ** 2).mean() for m in h.members.values()), terms, opt, steps,
        lambda h: torch.stack([m.linear.weight[0, column] for m in h.members.values()]))


class BatchedMLP(nn.Module):
    """K independent one-hidden-layer MLPs trained as one module (see :class:`BatchedLinear`).

    Built from K ``reglab.models.MLP`` instances (one hidden layer), whose weights it stacks:
    ``fc1.weight`` (K, h, p), ``fc1.bias`` (K, h), ``fc2.weight`` (K, h), ``fc2.bias`` (K,).

    Shapes: input (n, p) shared by all members; output (K, n).
    """

    def __init__(self, members: Sequence[nn.Module]) -> None:
        super().__init__()
        self.fc1_weight = nn.Parameter(torch.stack([m.fc1.weight.detach() for m in members]))
        self.fc1_bias = nn.Parameter(torch.stack([m.fc1.bias.detach() for m in members]))
        self.fc2_weight = nn.Parameter(torch.stack([m.fc2.weight.detach()[0] for m in members]))
        self.fc2_bias = nn.Parameter(torch.stack([m.fc2.bias.detach()[0] for m in members]))
        self.act = members[0].act

    def forward(self, x: Tensor) -> Tensor:
        hidden = self.act(torch.einsum("np,khp->knh", x, self.fc1_weight) + self.fc1_bias[:, None, :])
        return torch.einsum("knh,kh->kn", hidden, self.fc2_weight) + self.fc2_bias[:, None]
