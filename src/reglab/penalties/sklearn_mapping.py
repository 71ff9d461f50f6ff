"""scikit-learn's parametrisations of reglab's penalties (a tested function, not prose)."""

from __future__ import annotations

from reglab.penalties.base import AbstractElasticNet, AbstractPenalty

__all__ = ["sklearn_params"]


def sklearn_params(term: AbstractPenalty, n_samples: int, estimator: str) -> dict[str, float]:
    """scikit-learn's parameters for the same optimum as ``term`` on ``n_samples`` samples.

    reglab minimises ``mean (y − f)² + λ·pen(w)`` (squared) or ``mean NLL + λ·pen(w)`` (logistic).

    Parameters
    ----------
    term : L2, L1 or ElasticNet
    n_samples : int
    estimator : {"Ridge", "Lasso", "ElasticNet", "LogisticRegression"}

    Returns
    -------
    dict
        ``{"alpha": ...}`` for Ridge / Lasso, ``{"alpha": ..., "l1_ratio": ...}`` for ElasticNet,
        ``{"C": ..., "l1_ratio": ...}`` for LogisticRegression (``l1_ratio`` 0 for L2, 1 for L1).

    Examples
    --------
    >>> from reglab import L1, L2
    >>> sklearn_params(L1(0.2), 100, "Lasso")
    {'alpha': 0.1}
    >>> sklearn_params(L2(0.01), 100, "Ridge")
    {'alpha': 1.0}
    """
    if not isinstance(term, AbstractElasticNet) or term.weights is not None:
        raise ValueError(f"{term!r} has no scikit-learn equivalent among these estimators: they take an L2, L1 or "
                         "elastic-net penalty with one strength for every weight.")
    lam, n = term.strength, int(n_samples)
    rho = term.l1_ratio
    if lam <= 0:
        raise ValueError("A zero strength has no scikit-learn equivalent among these estimators; use LinearRegression.")
    if estimator == "Ridge":
        if term.kind != "l2":
            raise ValueError(f"Ridge is an L2 estimator; got {term!r}.")
        # ‖y − Xw‖² + α‖w‖²  =  n · (mean (y − Xw)² + λ‖w‖²)
        return {"alpha": n * lam}
    if estimator == "Lasso":
        if term.kind != "l1":
            raise ValueError(f"Lasso is an L1 estimator; got {term!r}.")
        # ‖y − Xw‖²/(2n) + α‖w‖₁  =  ½ · (mean (y − Xw)² + λ‖w‖₁)
        return {"alpha": lam / 2.0}
    if estimator == "ElasticNet":
        # ‖r‖²/(2n) + αρ'‖w‖₁ + ½α(1 − ρ')‖w‖² = ½ · ours  ⇒  α = λ(1 − ρ/2), ρ' = ρ / (2 − ρ)
        return {"alpha": lam * (1.0 - rho / 2.0), "l1_ratio": rho / (2.0 - rho)}
    if estimator == "LogisticRegression":
        # C·Σ NLL + ρ'‖w‖₁ + ½(1 − ρ')‖w‖² = nC · ours  ⇒  C = 1 / (nλ(2 − ρ)), ρ' = ρ / (2 − ρ)
        return {"C": 1.0 / (n * lam * (2.0 - rho)), "l1_ratio": rho / (2.0 - rho)}
    raise ValueError(f"Unknown estimator {estimator!r}. Choose Ridge, Lasso, ElasticNet or LogisticRegression.")
