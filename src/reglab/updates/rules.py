"""The update rules: which optimizers each allows, and the refusals with their reasons."""

from __future__ import annotations

import torch

from reglab.penalties import AbstractPenalty

__all__ = ["optimizer_family"]


def optimizer_family(optimizer: torch.optim.Optimizer) -> str:
    """``"plain"`` (SGD without momentum), ``"momentum"``, ``"lbfgs"`` or ``"adaptive"`` (anything else).

    Update rules that need a plain gradient step (proximal, cumulative) are allowed only for
    ``"plain"``; an optimizer reglab does not know is treated as ``"adaptive"``.
    """
    if isinstance(optimizer, torch.optim.LBFGS):
        return "lbfgs"
    if type(optimizer) is torch.optim.SGD:
        return "plain" if all(g.get("momentum", 0) == 0 for g in optimizer.param_groups) else "momentum"
    return "adaptive"


def _check_combination(term: AbstractPenalty, family: str, opt_name: str) -> None:
    rule = term.update
    if rule == "proximal" and family != "plain":
        raise ValueError(
            f"{term!r}: update='proximal' needs a plain gradient step (optimizer 'gd' or 'sgd', SGD without "
            f"momentum); after {opt_name}'s {'momentum' if family == 'momentum' else 'preconditioned'} step, "
            "w ← prox(w, lr) is not a proximal-gradient method. Use update='decoupled' or update='gradient' "
            "with this optimizer, or optimizer='gd' / 'sgd' with update='proximal'."
        )
    if rule == "cumulative":
        if term.kind != "l1":
            raise ValueError(
                f"{term!r}: update='cumulative' is Tsuruoka et al.'s cumulative L1 penalty and applies to L1 only. "
                "For an L2 part, add a separate L2 term (update='gradient'); for elastic net use update='proximal'."
            )
        if family != "plain":
            raise ValueError(
                f"{term!r}: update='cumulative' is defined for plain (stochastic) gradient steps, not {opt_name}. "
                "Use optimizer 'gd' or 'sgd', or update='decoupled' / 'gradient' with this optimizer."
            )
    if family == "lbfgs":
        if rule != "gradient":
            raise ValueError(
                f"{term!r}: L-BFGS runs its own line search, so only update='gradient' applies with it. "
                "Use optimizer 'gd' for proximal or cumulative rules, 'adam' for decoupled."
            )
        if not term.smooth:
            raise ValueError(
                f"{term!r}: L-BFGS needs a smooth objective, and this penalty is not differentiable at 0. "
                "Use optimizer='gd' with update='proximal' for L1 or elastic net."
            )
