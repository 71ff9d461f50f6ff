"""Model builders: linear, logistic, softmax and MLP, initialised from an explicit generator.

Any ``nn.Module`` is accepted by :func:`reglab.fit` as it is; these builders exist so that a spec
(``model: mlp``) names a model, and so that initialisation is driven by a ``torch.Generator``
rather than the global RNG. Parameter names are stable: ``linear.weight`` / ``linear.bias`` for
the linear family, ``fc1.weight``, ``fc2.weight``, ... for an MLP.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Final

import torch
from torch import Tensor, nn

from reglab.losses import LOSS_OF_MODEL

__all__ = ["MLP", "MODELS", "LinearModel", "build_model", "linear", "logistic", "mlp", "softmax"]

ACTIVATIONS: Final[dict[str, type[nn.Module]]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
    "sigmoid": nn.Sigmoid,
    "identity": nn.Identity,
}


def _init_linear_(layer: nn.Linear, generator: torch.Generator | None) -> None:
    # torch's default for nn.Linear (U(−1/√fan_in, 1/√fan_in) for weight and bias), seeded explicitly
    bound = 1.0 / math.sqrt(layer.in_features) if layer.in_features > 0 else 0.0
    with torch.no_grad():
        layer.weight.uniform_(-bound, bound, generator=generator)
        if layer.bias is not None:
            layer.bias.uniform_(-bound, bound, generator=generator)


class LinearModel(nn.Module):
    """``f(x) = x Wᵀ + b``: the model behind linear, logistic and softmax regression.

    Parameters
    ----------
    n_features : int
    n_outputs : int
        1 for linear and logistic regression, the number of classes for softmax.
    kind : {"linear", "logistic", "softmax"}
        Which canonical loss the model pairs with.
    fit_intercept : bool

    Shapes: input (n, n_features), output (n, n_outputs) — logits for logistic and softmax.
    """

    def __init__(
        self,
        n_features: int,
        n_outputs: int = 1,
        kind: str = "linear",
        fit_intercept: bool = True,
        *,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float64,
    ) -> None:
        super().__init__()
        if kind not in LOSS_OF_MODEL:
            raise ValueError(f"Unknown linear model kind {kind!r}; choose linear, logistic or softmax.")
        self.kind = kind
        # skip_init: no draw from the global RNG; the weights come from ``generator`` only
        self.linear = nn.utils.skip_init(nn.Linear, n_features, n_outputs, bias=fit_intercept, dtype=dtype)
        _init_linear_(self.linear, generator)

    @property
    def default_loss(self) -> str:
        """The canonical loss of the model's kind (:data:`reglab.losses.LOSS_OF_MODEL`)."""
        return LOSS_OF_MODEL[self.kind]

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x)


class MLP(nn.Module):
    """A fully connected network: ``fc1 → act → fc2 → act → ... → fcK``.

    Parameters
    ----------
    n_features : int
    hidden : sequence of int
        Widths of the hidden layers (``[32]`` is one hidden layer of 32 units).
    n_outputs : int
    activation : {"relu", "tanh", "gelu", "sigmoid", "identity"}

    Shapes: input (n, n_features), output (n, n_outputs).
    """

    kind: Final = "mlp"

    def __init__(
        self,
        n_features: int,
        hidden: Sequence[int] = (32,),
        n_outputs: int = 1,
        activation: str = "relu",
        *,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"Unknown activation {activation!r}. Choose one of {', '.join(ACTIVATIONS)}.")
        if isinstance(hidden, (str, bytes)) or not isinstance(hidden, Sequence) or not all(
                isinstance(h, numbers.Integral) and not isinstance(h, bool) for h in hidden):
            raise TypeError(f"hidden must be a list of layer widths (integers), such as [32] or [64, 32]; "
                            f"got {hidden!r}.")
        widths = [int(n_features), *[int(h) for h in hidden], int(n_outputs)]
        if any(w <= 0 for w in widths):
            raise ValueError(f"Layer widths must be positive; got hidden={list(hidden)}.")
        self.activation = activation
        self.n_layers = len(widths) - 1
        for i in range(self.n_layers):
            layer = nn.utils.skip_init(nn.Linear, widths[i], widths[i + 1], dtype=dtype)
            _init_linear_(layer, generator)
            self.add_module(f"fc{i + 1}", layer)
        self.act = ACTIVATIONS[activation]()

    def forward(self, x: Tensor) -> Tensor:
        for i in range(1, self.n_layers):
            x = self.act(getattr(self, f"fc{i}")(x))
        return getattr(self, f"fc{self.n_layers}")(x)


def linear(n_features: int, *, fit_intercept: bool = True, generator: torch.Generator | None = None,
           dtype: torch.dtype = torch.float64) -> LinearModel:
    """Linear regression model (pairs with the ``squared`` loss).

    Examples
    --------
    >>> m = linear(3, generator=torch.Generator().manual_seed(0))
    >>> [n for n, _ in m.named_parameters()]
    ['linear.weight', 'linear.bias']
    """
    return LinearModel(n_features, 1, "linear", fit_intercept, generator=generator, dtype=dtype)


def logistic(n_features: int, *, fit_intercept: bool = True, generator: torch.Generator | None = None,
             dtype: torch.dtype = torch.float64) -> LinearModel:
    """Binary logistic regression model: one logit (pairs with the ``logistic`` loss)."""
    return LinearModel(n_features, 1, "logistic", fit_intercept, generator=generator, dtype=dtype)


def softmax(n_features: int, n_classes: int, *, fit_intercept: bool = True,
            generator: torch.Generator | None = None, dtype: torch.dtype = torch.float64) -> LinearModel:
    """Multinomial logistic regression: one logit per class (pairs with ``cross_entropy``)."""
    return LinearModel(n_features, n_classes, "softmax", fit_intercept, generator=generator, dtype=dtype)


def mlp(n_features: int, hidden: Sequence[int] = (32,), n_outputs: int = 1, activation: str = "relu", *,
        generator: torch.Generator | None = None, dtype: torch.dtype = torch.float32) -> MLP:
    """A multilayer perceptron (see :class:`MLP`)."""
    return MLP(n_features, hidden, n_outputs, activation, generator=generator, dtype=dtype)


MODELS: Final = (*LOSS_OF_MODEL, "mlp")  # the linear family (one kind per task), then the MLP


def build_model(
    name: str,
    n_features: int,
    n_outputs: int,
    *,
    generator: torch.Generator | None = None,
    dtype: torch.dtype | None = None,
    **model_args: object,
) -> nn.Module:
    """Build a model by name for data with ``n_features`` inputs and ``n_outputs`` outputs.

    ``dtype`` defaults to float64 for the linear family and float32 for an MLP.
    """
    if name not in MODELS:
        raise ValueError(f"Unknown model {name!r}. Choose one of {', '.join(MODELS)}, or pass an nn.Module.")
    if name == "mlp":
        allowed = {"hidden", "activation"}
    else:
        allowed = {"fit_intercept"}
    unknown = set(model_args) - allowed
    if unknown:
        raise ValueError(f"Unknown argument(s) {sorted(unknown)} for model {name!r}; allowed: {sorted(allowed)}.")
    if name == "mlp":
        return mlp(n_features, n_outputs=n_outputs, generator=generator, dtype=dtype or torch.float32,
                   **model_args)  # type: ignore[arg-type]
    kind_outputs = n_outputs if name == "softmax" else 1
    return LinearModel(n_features, kind_outputs, name, bool(model_args.get("fit_intercept", True)),
                       generator=generator, dtype=dtype or torch.float64)
