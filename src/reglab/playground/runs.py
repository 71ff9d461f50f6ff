"""One playground run: a validated request, the :func:`reglab.fit` it stands for, and the page's data.

:class:`PlayRequest` is everything the page can set, each field typed and bounded (steps ≤ 5000,
n ≤ 2000, a cap on the run's size); :func:`spec_of` turns it into a spec (see :mod:`reglab.spec`),
the same plain data ``reglab fit spec.yaml`` reads, and :func:`run_play` fits it with recording on,
diagnoses it and returns plain JSON-ready data: the chosen weights' paths with their theory, the
losses, per-tensor summaries, the diagnosis, the claim the run illustrates, the equivalent Python
call and YAML. Nothing in a request names a file: data come from scenarios and bundled datasets only.

Examples
--------
>>> out = run_play(PlayRequest(scenario="zero_column", penalty="l2", lam=0.1, lr=0.05, steps=50))
>>> out["claim"]["id"], out["weights"][0]["name"]
('l2-decay', 'linear.weight[0,0]')
"""

from __future__ import annotations

import math
import time
from typing import Annotated, Any, Final, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from reglab.observe import diagnose
from reglab.spec import build_fit_kwargs
from reglab.training import fit

__all__ = ["CLAIM_TITLES", "MAX_N", "MAX_STEPS", "MAX_WORK", "PlayRequest", "claim_of", "run_play", "spec_of"]

MAX_STEPS: Final = 5000
MAX_N: Final = 2000
# a run's size: steps × samples × weights per sample (p, or p × hidden for the MLP); about 2 s of CPU at the cap
MAX_WORK: Final = 2.0e8
MAX_CHOSEN: Final = 8

# the claims of ``reglab claims`` a run can illustrate (ids as in reglab.claims.REGISTRY)
CLAIM_TITLES: Final = {
    "stuck-weight": "A weight whose input is zero never moves without a penalty",
    "l2-decay": "L2 shrinks an unused weight geometrically, by 1 − 2ηλ per step",
    "weak-dependence": "A weakly used weight moves slowly",
    "null-model": "On pure noise the fit is the null model",
    "l1-oscillation": "L1 by subgradient steps oscillates around zero",
    "l1-proximal": "The proximal L1 step lands on exactly zero",
    "sparsity": "L1 gives sparse weights",
    "adam-l2-vs-decay": "With Adam, L2 in the gradient is not decoupled weight decay",
    "real-data": "On real data",
}


class PlayRequest(BaseModel):
    """Everything the page can set; every field typed and bounded.

    Examples
    --------
    >>> PlayRequest(steps=10).steps
    10
    >>> from pydantic import ValidationError
    >>> try:
    ...     PlayRequest(steps=10**6)
    ... except ValidationError as err:
    ...     print(err.errors()[0]["msg"])
    Input should be less than or equal to 5000
    """

    model_config = ConfigDict(extra="forbid")

    scenario: Literal["zero_column", "weak_dependence", "pure_noise", "dataset"] = "zero_column"
    dataset: Literal["diabetes", "breast_cancer", "digits"] = "diabetes"
    scale: float = Field(0.01, gt=0, le=10, description="the weak column's scale s")
    n: int = Field(100, ge=10, le=MAX_N)
    p: int = Field(5, ge=2, le=20)
    model: Literal["linear", "logistic", "mlp"] = "linear"
    hidden: int = Field(8, ge=1, le=64)
    penalty: Literal["none", "l2", "l1", "elasticnet"] = "l1"
    l1_ratio: float = Field(0.5, ge=0, le=1)
    rule: Literal["gradient", "proximal", "decoupled", "cumulative"] = "gradient"
    optimizer: Literal["gd", "sgd", "momentum", "adam"] = "gd"
    lam: float = Field(0.1, ge=0, le=100, description="penalty strength λ")
    lr: float = Field(0.05, gt=0, le=10, description="learning rate η")
    steps: int = Field(200, ge=1, le=MAX_STEPS)
    seed: int = Field(0, ge=0, le=2**31 - 1)
    batch_size: int = Field(32, ge=1, le=MAX_N)
    weights: list[Annotated[str, Field(max_length=64)]] = Field(default_factory=list, max_length=MAX_CHOSEN)

    @model_validator(mode="after")
    def _bounded_work(self) -> PlayRequest:
        width = self.p * self.hidden if self.model == "mlp" else self.p
        work = self.steps * self.n * width
        if self.scenario == "dataset":  # the bundled datasets' own sizes (digits: 1347 × 64 in training)
            work = self.steps * 1347 * (64 * self.hidden if self.model == "mlp" else 64)
        if work > MAX_WORK:
            raise ValueError(f"this run is too large: steps × samples × weights per sample = {work:.3g} > "
                             f"{MAX_WORK:.3g}; lower steps, n, p or the hidden width")
        return self


def _data_spec(req: PlayRequest) -> dict[str, Any]:
    if req.scenario == "zero_column":
        return {"scenario": "zero_column", "n": req.n, "p": req.p, "column": 0, "seed": req.seed}
    if req.scenario == "weak_dependence":
        return {"scenario": "linear_regression", "n": req.n, "p": req.p, "scales": [req.scale] + [1.0] * (req.p - 1),
                "seed": req.seed}
    if req.scenario == "pure_noise":
        return {"scenario": "pure_noise", "n": req.n, "p": req.p, "seed": req.seed}
    return {"dataset": req.dataset, "seed": req.seed}


def _penalty_spec(req: PlayRequest) -> list[dict[str, Any]]:
    if req.penalty == "none":
        return []
    term: dict[str, Any] = {"kind": req.penalty, "strength": req.lam, "update": req.rule}
    if req.penalty == "elasticnet":
        term["l1_ratio"] = req.l1_ratio
    return [term]


def spec_of(req: PlayRequest) -> dict[str, Any]:
    """The spec (the plain data of ``reglab fit spec.yaml``) of a request.

    Examples
    --------
    >>> spec_of(PlayRequest(steps=10))["penalties"]
    [{'kind': 'l1', 'strength': 0.1, 'update': 'gradient'}]
    """
    spec: dict[str, Any] = {"model": req.model, "data": _data_spec(req), "penalties": _penalty_spec(req),
                            "optimizer": req.optimizer, "lr": req.lr, "steps": req.steps, "seed": req.seed}
    if req.model == "mlp":
        spec["model_args"] = {"hidden": [req.hidden]}
    if req.optimizer == "sgd":
        spec["batch_size"] = req.batch_size
    # every step recorded (the page plots each), and a diverging run is shown, not refused
    spec.update(record={"every": 1}, on_divergence="stop")
    return spec


def claim_of(req: PlayRequest) -> str:
    """The id of the claim of ``reglab claims`` a run illustrates best.

    Examples
    --------
    >>> claim_of(PlayRequest(rule="proximal"))
    'l1-proximal'
    """
    l1 = req.penalty in ("l1", "elasticnet") and req.lam > 0
    if req.optimizer == "adam" and req.penalty == "l2":
        return "adam-l2-vs-decay"
    if req.scenario == "pure_noise":
        return "null-model"
    if req.scenario == "weak_dependence":
        return "weak-dependence"
    if req.scenario == "dataset":
        return "real-data"
    if l1:
        return {"gradient": "l1-oscillation", "proximal": "l1-proximal"}.get(req.rule, "sparsity")
    if req.penalty == "l2" and req.lam > 0:
        return "l2-decay"
    return "stuck-weight"


def _python_call(spec: dict[str, Any]) -> str:
    data = dict(spec["data"])
    if "scenario" in data:
        make = data.pop("scenario")
        data_expr = f"{make}({', '.join(f'{k}={v!r}' for k, v in data.items())})"
        head = f"from reglab.data import {make}\n"
    else:
        name = data.pop("dataset")
        data_expr = f"load_dataset({name!r}, seed={data['seed']!r})"
        head = "from reglab.data import load_dataset\n"
    names = {"l2": "L2", "l1": "L1", "elasticnet": "ElasticNet"}
    terms = []
    for t in spec["penalties"]:
        extra = f", l1_ratio={t['l1_ratio']!r}" if "l1_ratio" in t else ""
        terms.append(f"reglab.{names[t['kind']]}({t['strength']!r}{extra}, update={t['update']!r})")
    args = [repr(spec["model"]), data_expr, f"penalties=[{', '.join(terms)}]", f"optimizer={spec['optimizer']!r}",
            f"lr={spec['lr']!r}", f"steps={spec['steps']!r}", f"seed={spec['seed']!r}"]
    if "batch_size" in spec:
        args.append(f"batch_size={spec['batch_size']!r}")
    if "model_args" in spec:
        args.append(f"model_args={spec['model_args']!r}")
    args += [f"record={spec['record']!r}", f"on_divergence={spec['on_divergence']!r}"]
    return (f"import reglab\n{head}\nres = reglab.fit(\n    " + ",\n    ".join(args) + ",\n)\n"
            "print(reglab.diagnose(res))\n")


def _floats(a: np.ndarray) -> list[float | None]:
    """A float array as a JSON list (NaN and ±inf as null)."""
    return [float(x) if math.isfinite(x) else None for x in np.asarray(a, dtype=np.float64).tolist()]


def _theory(traj: Any, k: int, optimizer: str, rule: str) -> dict[str, Any]:
    """The theory for one weight's path when it applies: an unused weight (zero data gradient) under GD."""
    path = traj.values[:, k]
    grads = None if traj.grads is None else traj.grads[:, k]
    unused = grads is not None and bool(np.all(np.nan_to_num(np.abs(grads), nan=0.0) <= 1e-12))
    w0 = float(path[0])
    lr, l1, l2 = (float(traj.weights[key][k]) for key in ("lr", "l1", "l2"))
    rate = float(traj.weights["theory_rate"][k])
    if not unused or optimizer != "gd" or w0 == 0.0:
        return {"kind": None}
    if l1 == 0.0 and l2 > 0.0 and math.isfinite(rate):
        return {"kind": "l2_decay", "rate": rate, "w0": w0,
                "values": _floats(w0 * rate ** traj.steps.astype(np.float64)),
                "text": f"w₀·(1 − 2ηλ)^t with 1 − 2ηλ = {rate:.6g}"}
    if l2 == 0.0 and l1 > 0.0:
        step_size = lr * l1
        if rule == "gradient":
            sign = math.copysign(1.0, w0)
            eps = sign * math.fmod(abs(w0), step_size)
            return {"kind": "l1_band", "eps": eps, "other": eps - sign * step_size, "eta_lambda": step_size,
                    "crossing": math.floor(abs(w0) / step_size),
                    "text": f"band between ε = {eps:.6g} and ε − ηλ = {eps - sign * step_size:.6g}"}
        if rule == "proximal":
            at = math.ceil(abs(w0) / step_size)
            return {"kind": "l1_prox_zero", "step": at, "w0": w0, "eta_lambda": step_size,
                    "text": f"lands on 0 at step ⌈|w₀|/(ηλ)⌉ = {at}"}
    return {"kind": None}


def _chosen(req: PlayRequest, names: list[str]) -> list[int]:
    if req.weights:
        index = {n: i for i, n in enumerate(names)}
        unknown = [w for w in req.weights if w not in index]
        if unknown:
            raise ValueError(f"Weight {unknown[0]!r} is not tracked. Tracked weights include: "
                             f"{', '.join(names[:6])}{', ...' if len(names) > 6 else ''}.")
        return [index[w] for w in req.weights]
    return list(range(min(3, len(names))))


def run_play(req: PlayRequest) -> dict[str, Any]:
    """Fit a request with recording on, diagnose it, and return the page's data (plain, JSON-ready).

    Raises
    ------
    ValueError, TypeError
        The library's own refusals (e.g. the proximal rule with Adam), with its message.
    """
    spec = spec_of(req)
    kwargs = build_fit_kwargs(spec)
    t0 = time.perf_counter()
    res = fit(**kwargs)
    seconds = time.perf_counter() - t0
    traj = res.trajectory
    diag = diagnose(res)
    chosen = _chosen(req, traj.names)
    steps = traj.steps.tolist()
    weights = [{"name": traj.names[k], "values": _floats(traj.values[:, k]),
                "theory": _theory(traj, k, req.optimizer, req.rule)} for k in chosen]
    table = diag.per_weight
    per_weight = [{"name": str(row["name"]), "cls": str(row["cls"]),
                   **{c: (float(row[c]) if math.isfinite(float(row[c])) else None)
                      for c in ("w0", "w_end", "rate", "theory_rate", "amplitude", "zero_step", "steps_needed")}}
                  for _, row in table.iterrows()]
    summaries = [{"tensor": t, "l2_norm": _floats(traj.summary(t, "l2_norm")),
                  "zero_fraction": _floats(traj.summary(t, "frac_zero"))}
                 for t in traj.tensor_names] if traj.summaries is not None else []
    h = res.history
    claim = claim_of(req)
    return {
        "request": req.model_dump(),
        "status": res.status,
        "steps_run": res.steps_run,
        "seconds": seconds,
        "steps": steps,
        "weights": weights,
        "names": traj.names[:200],
        "history": {"step": list(h.step), "data_loss": _floats(np.asarray(h.data_loss)),
                    "penalty": _floats(np.asarray(h.penalty)), "objective": _floats(np.asarray(h.objective))},
        "summaries": summaries,
        "diagnosis": {"per_weight": per_weight[:200], "counts": diag.counts,
                      "is_null": diag.is_null},
        "claim": {"id": claim, "title": CLAIM_TITLES[claim], "href": f"reglab-report/index.html#{claim}"},
        "python": _python_call(spec),
        "yaml": yaml.safe_dump(spec, sort_keys=False),
    }
