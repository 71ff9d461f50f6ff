"""The batched executor: K runs that differ only in λ, ``l1_ratio``, learning rate or seed train as
one stacked model, so that one pass over the data serves all K.

Runs are grouped by their spec with ``seed``, ``lr`` and every ``penalties.i.strength`` /
``penalties.i.l1_ratio`` removed. Each group's K models are built exactly as :func:`reglab.fit`
builds them (``build_model`` with ``torch.Generator().manual_seed(seed)``), their parameters are
stacked along a new leading axis, and every step evaluates all K with ``torch.func.vmap`` over
``torch.func.functional_call`` — for the linear family that is one matrix product ``X @ [W₁ … W_K]``
per step, for an MLP one batched forward and backward. Least squares (linear model, squared loss,
full batch, float64, p ≤ n) goes further: one pass forms XᵀX and Xᵀy, and every step after it costs
O(K·p²) whatever n is (the loss and gradient from these moments, see ``_GramSquared``).

The step reproduces :class:`reglab.Regularized` around ``torch.optim.SGD`` term by term (the same
:data:`~reglab.updates.rules.STEP` and rule objects, on each term's parts stacked per run), with a
per-run λ, ``l1_ratio`` and learning rate: ``gradient`` terms add their (sub)gradient to the
gradient, ``decoupled`` terms decay the pre-step weights, the plain gradient step follows, then
``proximal`` terms apply their prox with step ``lr``. Logging, the divergence test (non-finite, or
objective above 10⁶ × its start) and the final state are fit's, run by run: a diverging run is
frozen at the step it diverged and reported ``diverged`` while the others go on.

What batches: models ``linear``, ``logistic``, ``softmax``, ``mlp`` given by name; optimizers
``gd`` (full batch) and ``sgd`` (each run draws its own minibatches from its own seed, as fit does);
rules ``gradient``, ``proximal`` and ``decoupled``. What does not, with the reason a row's
``batch_reason`` gives, runs through the fallback executor (in process by default):

- ``momentum`` / ``nesterov`` / ``adam`` / ``lbfgs``: optimizer state per run (or a line search) is
  not stacked here;
- ``cumulative`` rule: its per-run penalty ledger is not stacked here;
- a penalty outside the elastic-net family (``mcp``): the stacked step applies each term by its L1
  and L2 parts (:class:`~reglab.penalties.ElasticNetParts`), per run;
- ``tol``: early stopping per run would end the runs at different steps;
- ``record``: trajectories are recorded per model by hooks on its own optimizer.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any, Final, NamedTuple

import torch
from torch import Tensor
from torch.func import functional_call, vmap

from reglab.data import Dataset
from reglab.models import LinearModel
from reglab.penalties import (
    PENALTY_KINDS,
    AbstractElasticNet,
    AbstractPenalty,
    ElasticNetParts,
    penalty_from_config,
)
from reglab.spec import DTYPES, build_data, validate_spec
from reglab.sweep.runner import (
    Executor,
    OnRow,
    SerialExecutor,
    failed_row,
    row_from_result,
)
from reglab.sweep.spec import Run
from reglab.training import (
    Batches,
    FitResult,
    RunLog,
    check_device,
    lipschitz_constant,
    log_every_for,
    resolve_batch_size,
    resolve_inputs,
)
from reglab.updates import Regularized
from reglab.updates.rules import INNER, RULES, STEP, AbstractDirectionRule, AbstractParameterRule, AbstractRule

__all__ = ["BatchedExecutor", "batch_key", "fit_batched", "why_not_batched"]

BATCHED_OPTIMIZERS: Final = ("gd", "sgd")
BATCHED_RULES: Final = tuple(name for name, rule in RULES.items() if rule.batchable)


def why_not_batched(spec: Mapping[str, Any]) -> str | None:
    """Why a run spec cannot train in a stacked group, or None when it can."""
    optimizer = spec.get("optimizer", "gd")
    if optimizer not in BATCHED_OPTIMIZERS:
        return f"optimizer {optimizer!r} keeps per-run state; batched supports {', '.join(BATCHED_OPTIMIZERS)}"
    for i, p in enumerate(spec.get("penalties") or []):
        rule = p.get("update", "gradient")
        if rule not in BATCHED_RULES:
            return f"penalties.{i} uses update={rule!r}; batched supports {', '.join(BATCHED_RULES)}"
        kind = str(p.get("kind", "")).lower()
        if kind in PENALTY_KINDS and not issubclass(PENALTY_KINDS[kind], AbstractElasticNet):
            return (f"penalties.{i} is {kind!r}, which is not in the elastic-net family: batched applies a penalty "
                    "by its L1 and L2 parts, stacked per run")
    if spec.get("tol") is not None:
        return "tol stops each run at its own step; batched runs every run for `steps`"
    if spec.get("record"):
        return "record=true keeps per-run trajectories through hooks on each run's own optimizer"
    return None


def batch_key(spec: Mapping[str, Any]) -> str:
    """The spec without what may differ inside a stacked group (seed, lr, strengths, l1_ratios)."""
    s = copy.deepcopy(dict(spec))
    for key in ("seed", "lr", "on_divergence"):
        s.pop(key, None)
    for p in s.get("penalties") or []:
        p.pop("strength", None)
        p.pop("l1_ratio", None)
    return json.dumps(s, sort_keys=True)


def _per_run(values: Sequence[float], like: Tensor) -> Tensor:
    """Per-run scalars (K,) shaped to broadcast against a stacked parameter (K, *shape)."""
    return torch.tensor(list(values), dtype=torch.float64).to(like.dtype).reshape(-1, *([1] * (like.ndim - 1)))


class _StackedSelection(NamedTuple):
    """One parameter a stacked term applies to: its mask, and the K runs' parts on it (in the
    parameter's dtype for the steps, in float64 for the penalty's value)."""

    name: str
    mask: Tensor | None
    parts: ElasticNetParts
    parts64: ElasticNetParts


class _StackedTerm:
    """One penalty term across K runs: its rule and selection shared; its parts (λ, ρ) per run.

    Each run's term gives its parts on each selected parameter (:meth:`~reglab.penalties.AbstractPenalty.acting_on`,
    per-element weights included); they are stacked along a leading axis of K, so that the family's one
    set of kernels (:class:`~reglab.penalties.ElasticNetParts`) applies all K at once.
    """

    def __init__(self, terms: Sequence[AbstractPenalty], template: torch.nn.Module) -> None:
        t0 = terms[0]
        self.rule: AbstractRule = RULES[t0.update]
        self.selection: list[_StackedSelection] = []
        for s in t0.select(template):
            per_run = [t.acting_on(s) for t in terms]
            self.selection.append(_StackedSelection(s.name, s.mask, _stack_parts(per_run, s.param, s.param.dtype),
                                                    _stack_parts(per_run, s.param, torch.float64)))

    def value(self, w: Tensor, s: _StackedSelection) -> Tensor:
        """Penalty value per run, shape (K,), in float64."""
        return s.parts64.value(w.to(torch.float64), s.mask, dim=tuple(range(1, w.ndim)))


def _stack_parts(per_run: Sequence[ElasticNetParts], param: Tensor, dtype: torch.dtype) -> ElasticNetParts:
    """K runs' parts on one parameter as tensors with a leading axis K: (K, 1, …) when every run's part
    is a scalar, (K, *shape) when some are per element; a run without the part has zeros."""
    def stack(values: list[float | Tensor | None]) -> Tensor | None:
        if all(v is None for v in values):
            return None
        if all(not isinstance(v, Tensor) for v in values):
            scalars = [0.0 if v is None else v for v in values]
            return torch.tensor(scalars, dtype=torch.float64).to(param.device, dtype).reshape(-1, *([1] * param.ndim))
        return torch.stack([torch.zeros(param.shape, dtype=dtype, device=param.device) if v is None
                            else torch.as_tensor(v).to(param.device, dtype).expand(param.shape) for v in values])
    return ElasticNetParts.of(stack([p.l1 for p in per_run]), stack([p.l2 for p in per_run]))


def _stacked_output(template: torch.nn.Module, params: dict[str, Tensor], x: Tensor) -> Tensor:
    """Outputs of the K stacked models, shape (K, n, n_outputs); ``x`` shared (n, p) or per run (K, n, p).

    The linear family is one matrix product: ``X @ [W₁ … W_K]ᵀ`` (shared ``x``) or a batched one;
    other models go through ``vmap`` over ``functional_call``.
    """
    if isinstance(template, LinearModel):
        W = params["linear.weight"]  # (K, o, p)
        K, o, p = W.shape
        if x.ndim == 2:
            out = (x @ W.reshape(K * o, p).T).reshape(len(x), K, o).transpose(0, 1)
        else:
            out = torch.bmm(x, W.transpose(1, 2))
        b = params.get("linear.bias")
        return out if b is None else out + b[:, None, :]
    return vmap(lambda ps, xx: functional_call(template, ps, (xx,)), in_dims=(0, None if x.ndim == 2 else 0))(params, x)


class _GramSquared:
    """Squared loss of K linear models from the data's moments, computed once: XᵀX, Xᵀy, Σx, Σy, yᵀy.

    mean (y − Xw − b)² = (yᵀy − 2wᵀXᵀy − 2bΣy + wᵀXᵀXw + 2b·wᵀΣx + n·b²) / n, and its gradient
    (2/n)(XᵀXw + bΣx − Xᵀy), (2/n)(wᵀΣx + nb − Σy): after one pass over the data (forming XᵀX) a
    step costs O(K·p²), not O(K·n·p). Used for float64 full-batch steps with p ≤ n, where the
    rounding of the expanded form stays far below the 1e-10 agreement with fit() that the tests check.
    """

    def __init__(self, X: Tensor, y: Tensor) -> None:
        y = y.reshape(-1).to(X.dtype)
        self.n = len(X)
        self.G = X.T @ X
        self.Xty = X.T @ y
        self.sx = X.sum(0)
        self.sy = y.sum()
        self.yy = y @ y

    def loss_and_grads(self, P: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        w = P["linear.weight"][:, 0, :]  # (K, p)
        Gw = w @ self.G
        wGw = (w * Gw).sum(1)
        wXty = w @ self.Xty
        n = self.n
        if "linear.bias" not in P:
            loss = (self.yy - 2.0 * wXty + wGw) / n
            return loss, {"linear.weight": ((2.0 / n) * (Gw - self.Xty))[:, None, :]}
        b = P["linear.bias"][:, 0]
        wsx = w @ self.sx
        loss = (self.yy - 2.0 * wXty - 2.0 * b * self.sy + wGw + 2.0 * b * wsx + n * b * b) / n
        gw = (2.0 / n) * (Gw + b[:, None] * self.sx - self.Xty)
        gb = (2.0 / n) * (wsx + n * b - self.sy)
        return loss, {"linear.weight": gw[:, None, :], "linear.bias": gb[:, None]}


def fit_batched(runs: Sequence[Run], data: Dataset | None = None) -> list[tuple[FitResult, float]]:
    """Train ``runs`` (one batch group) as one stacked model; one ``(FitResult, seconds)`` per run.

    Every result is what ``fit(**build_fit_kwargs(run.spec), on_divergence="stop")`` returns, up
    to floating-point rounding; ``seconds`` is the group's training time divided by K.

    Parameters
    ----------
    runs : sequence of Run
        Specs that share :func:`batch_key` and for which :func:`why_not_batched` is None.
    data : Dataset, optional
        Train on this dataset instead of the one the specs' ``data`` names (which is then only a
        label: it is not built).

    Examples
    --------
    >>> from reglab.sweep import expand_sweep
    >>> runs = expand_sweep({"base": {"data": {"scenario": "zero_column", "n": 30, "p": 3},
    ...                                "penalties": [{"kind": "l2", "strength": 0.1}], "steps": 20},
    ...                      "grid": {"penalties.0.strength": [0.01, 0.1]}})
    >>> [r.status for r, _ in fit_batched(runs)]
    ['max_steps', 'max_steps']
    """
    if not runs:
        return []
    specs = [validate_spec(r.spec) for r in runs]
    keys = {batch_key(s) for s in specs}
    if len(keys) != 1:
        raise ValueError("fit_batched needs runs that differ only in seed, lr, strength and l1_ratio.")
    reasons = {why_not_batched(s) for s in specs} - {None}
    if reasons:
        raise ValueError(f"These runs do not batch: {'; '.join(map(str, reasons))}.")
    s0 = specs[0]
    data = build_data(s0) if data is None else data
    model_name = s0.get("model") or {"regression": "linear", "binary": "logistic", "multiclass": "softmax"}[data.task]
    dtype = DTYPES[s0["dtype"]] if "dtype" in s0 else None
    steps = int(s0.get("steps", 1000))
    optimizer = s0.get("optimizer", "gd")
    batch_size = resolve_batch_size(optimizer, s0.get("batch_size"))
    K = len(specs)
    # the group's device (one per group: device is part of batch_key), checked as fit checks it
    device = check_device(s0["device"]) if s0.get("device") is not None else torch.device("cpu")

    nets, terms, lrs, seeds = [], [], [], []
    ds = loss_fn = None
    for s in specs:
        seed = int(s.get("seed", 0))
        net, ds, loss_fn = resolve_inputs(model_name, data, s.get("loss"), seed, dtype, s.get("model_args"))
        net.to(device)  # built on the CPU from the seed (as fit builds it), then moved once
        ts = [penalty_from_config(p) for p in s.get("penalties") or []]
        lr = s.get("lr", 0.1)
        lr = 1.0 / lipschitz_constant(net, ds, loss_fn, ts) if lr == "auto" else float(lr)
        nets.append(net), terms.append(ts), lrs.append(lr), seeds.append(seed)
    assert ds is not None and loss_fn is not None
    template = nets[0]
    names = [n for n, p in template.named_parameters() if p.requires_grad]
    P = {n: torch.stack([dict(net.named_parameters())[n].detach() for net in nets]).clone() for n in names}
    stacked = [_StackedTerm([ts[j] for ts in terms], template) for j in range(len(terms[0]))]
    # optimizer.param_groups check of Regularized: every selected parameter must be trained
    for net, ts, lr in zip(nets, terms, lrs):
        Regularized(torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=lr), net, ts)

    ds = ds.to_device(device)
    X, y = ds.X, ds.y
    batchers = [Batches(len(X), batch_size, torch.Generator().manual_seed(seed + 1)) for seed in seeds]
    full = batchers[0].full
    use_gram = (full and isinstance(template, LinearModel) and loss_fn.name == "squared"
                and X.dtype == torch.float64 and X.shape[1] <= X.shape[0])
    gram = _GramSquared(X, y) if use_gram else None
    log_every = int(s0.get("log_every") or log_every_for(steps))

    per_run_loss = vmap(loss_fn)

    def batched_loss(params: dict[str, Tensor], x: Tensor, t: Tensor) -> Tensor:
        """Data loss of each run, shape (K,): x, t shared (n, p) / (n,), or per run (K, B, p) / (K, B)."""
        out = _stacked_output(template, params, x)
        return per_run_loss(out, t.expand(K, *t.shape) if t.ndim == y.ndim else t)

    full_loss = batched_loss

    # each run's history and verdict (fit's divergence rule); a diverged run is frozen where it diverged
    run_logs = [RunLog() for _ in range(K)]
    strengths = [[t.strength for t in ts] for ts in terms]  # constant: the batched executor schedules none
    steps_run = [steps] * K
    final: list[dict[str, Tensor] | None] = [None] * K
    active = [True] * K

    def penalty_values() -> Tensor:
        total = torch.zeros(K, dtype=torch.float64, device=device)
        for t in stacked:
            for sel in t.selection:
                total = total + t.value(P[sel.name], sel)
        return total

    def log(step: int, data_losses: Tensor) -> None:
        pens = penalty_values().tolist()
        dl = data_losses.detach().to(torch.float64).tolist()
        finite = {n: torch.isfinite(P[n]).flatten(1).all(1).tolist() for n in names}
        for k in range(K):
            if not active[k]:
                continue
            if run_logs[k].append(step, dl[k], pens[k], lrs[k], parameters_finite=all(finite[n][k] for n in names),
                                  strength=strengths[k]):
                steps_run[k], active[k] = step, False
                final[k] = {n: P[n][k].clone() for n in names}

    lr_of = {n: _per_run(lrs, P[n]) for n in names}  # each run's learning rate, shaped to its parameters
    t0 = time.perf_counter()
    for step in range(steps):
        if not any(active):
            break
        if full:
            xb, yb = X, y
        else:
            idx = torch.stack([b.next() for b in batchers])  # type: ignore[misc]
            xb, yb = X[idx], y[idx]
        if gram is not None:
            losses, grads = gram.loss_and_grads(P)
        else:
            params = {n: P[n].requires_grad_(True) for n in names}
            losses = batched_loss(params, xb, yb)
            grads = dict(zip(names, torch.autograd.grad(losses.sum(), [params[n] for n in names])))
        with torch.no_grad():
            for n in names:
                P[n] = P[n].detach()
            if step % log_every == 0:
                log(step, losses if full else full_loss(P, X, y))
            for stage in STEP:  # Regularized's step, by the same rule objects, K runs at once
                if stage == INNER:  # the plain gradient step
                    for n in names:
                        P[n] = P[n] - lr_of[n] * grads[n]
                    continue
                for t in stacked:
                    if t.rule is not stage:
                        continue
                    for sel in t.selection:
                        if isinstance(stage, AbstractDirectionRule):
                            grads[sel.name] = stage.add_to_direction(sel.parts, P[sel.name], grads[sel.name], sel.mask)
                        elif isinstance(stage, AbstractParameterRule):
                            P[sel.name] = P[sel.name].clone()
                            stage.apply_(sel.parts, P[sel.name], lr_of[sel.name], sel.mask)
    else:
        with torch.no_grad():
            log(steps, full_loss(P, X, y))
    elapsed = time.perf_counter() - t0

    results = []
    for k in range(K):
        state = final[k] if final[k] is not None else {n: P[n][k] for n in names}
        net = nets[k]
        with torch.no_grad():
            for n, p in net.named_parameters():
                if n in state:
                    p.copy_(state[n])
        opt = Regularized(torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=lrs[k]), net, terms[k])
        results.append((FitResult(model=net, data=ds, loss=loss_fn, terms=terms[k], optimizer=opt,
                                  history=run_logs[k].history, status=run_logs[k].status, steps_run=steps_run[k],
                                  lr=lrs[k],
                                  seed=seeds[k], elapsed=elapsed / K), elapsed / K))
    return results


class BatchedExecutor:
    """Train runs that batch as stacked groups; hand the others to ``fallback`` (in process by default).

    Parameters
    ----------
    fallback : Executor, optional
        Runs :func:`why_not_batched` refuses (default :class:`~reglab.sweep.runner.SerialExecutor`).
    max_group : int
        Largest number of runs stacked at once (memory grows with it).
    """

    name = "batched"

    def __init__(self, fallback: Executor | None = None, max_group: int = 256) -> None:
        self.fallback = fallback or SerialExecutor()
        self.max_group = int(max_group)

    def plan(self, runs: Sequence[Run]) -> tuple[list[list[Run]], list[tuple[Run, str]]]:
        """``(groups that batch, [(run, reason) for runs that do not])``."""
        groups: dict[str, list[Run]] = {}
        alone: list[tuple[Run, str]] = []
        for r in runs:
            reason = why_not_batched(r.spec)
            if reason is None:
                groups.setdefault(batch_key(r.spec), []).append(r)
            else:
                alone.append((r, reason))
        chunks = [g[i : i + self.max_group] for g in groups.values() for i in range(0, len(g), self.max_group)]
        return chunks, alone

    def run(self, runs: list[Run], on_row: OnRow) -> None:
        groups, alone = self.plan(runs)
        for group in groups:
            t0 = time.perf_counter()
            try:
                results = fit_batched(group)
            except Exception as err:  # noqa: BLE001 - a failed group is stored run by run, the sweep goes on
                for r in group:
                    on_row(failed_row(r, self.name, err, (time.perf_counter() - t0) / len(group)))
                continue
            for r, (res, seconds) in zip(group, results):
                on_row(row_from_result(r, res, self.name, elapsed=seconds, batched_with=len(group)))
        if alone:
            reasons = {r.run_id: why for r, why in alone}

            def tagged(row: dict[str, Any]) -> None:
                on_row({**row, "batch_reason": reasons.get(row["run_id"])})

            self.fallback.run([r for r, _ in alone], tagged)
