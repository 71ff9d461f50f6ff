"""Presets: one playground state per claim of ``reglab claims``, each a valid :class:`PlayRequest`.

Examples
--------
>>> PRESETS["l1-subgradient"].claim, PRESETS["l1-subgradient"].request.rule
('l1-oscillation', 'gradient')
>>> PRESET_OF_CLAIM["l1-proximal"]
'l1-proximal'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from reglab.playground.runs import PlayRequest

__all__ = ["PRESETS", "PRESET_OF_CLAIM", "Preset"]


@dataclass(frozen=True)
class Preset:
    """A named playground state and the claim it illustrates.

    Attributes
    ----------
    label : str
        What the menu shows.
    claim : str
        The id of the claim (as in ``reglab.claims.REGISTRY``).
    request : PlayRequest
    """

    label: str
    claim: str
    request: PlayRequest


PRESETS: Final = {
    "l1-subgradient": Preset("L1 subgradient oscillation", "l1-oscillation",
                             PlayRequest(penalty="l1", rule="gradient", lam=0.1, lr=0.05, steps=200)),
    "l1-proximal": Preset("Proximal lands on zero", "l1-proximal",
                          PlayRequest(penalty="l1", rule="proximal", lam=0.1, lr=0.05, steps=200)),
    "adam-l2-vs-decoupled": Preset("Adam L2 vs decoupled", "adam-l2-vs-decay",
                                   PlayRequest(optimizer="adam", penalty="l2", rule="gradient", lam=0.1, lr=0.05,
                                               steps=300)),
    "l2-decay": Preset("L2 decay", "l2-decay", PlayRequest(penalty="l2", rule="gradient", lam=0.1, lr=0.05, steps=300)),
    "stuck-weight": Preset("Stuck weight", "stuck-weight", PlayRequest(penalty="none", lr=0.05, steps=200)),
    "weak-dependence": Preset("Weak dependence", "weak-dependence",
                              PlayRequest(scenario="weak_dependence", scale=0.01, penalty="l2", lam=0.01, lr=0.05,
                                          steps=500)),
    "null-model": Preset("Null model", "null-model",
                         PlayRequest(scenario="pure_noise", n=200, p=10, penalty="l2", lam=1.0, lr=0.05, steps=300)),
}

# claim id -> the key of its preset (for a link from the report's section: ``/?preset=KEY``)
PRESET_OF_CLAIM: Final = {p.claim: key for key, p in PRESETS.items()}
