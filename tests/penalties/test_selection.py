"""Which parameters a term applies to: the default ``on=`` (trainable tensors with ndim ≥ 2), frozen
parameters, names behind wrappers (DistributedDataParallel's ``module.``, torch.compile's
``_orig_mod.``), and a strength that is checked when assigned."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from reglab import L1, L2, Regularized
from reglab.penalties import WeightedL1, default_on
from reglab.penalties.base import unwrapped_parameters


class _Zoo(nn.Module):
    """Linear, Conv2d, Embedding, LayerNorm, RMSNorm, MultiheadAttention, a scalar and a frozen layer."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(10, 4)
        self.conv = nn.Conv2d(1, 2, 3)
        self.attn = nn.MultiheadAttention(4, 2)
        self.norm = nn.LayerNorm(4)
        self.rms = nn.RMSNorm(4)
        self.fc = nn.Linear(4, 3)
        self.temperature = nn.Parameter(torch.tensor(1.0))
        self.frozen = nn.Linear(3, 3)
        self.frozen.requires_grad_(False)


# torch.compile's first use imports torch.jit code that warns of its own deprecation
_TORCH_COMPILE_IMPORT = pytest.mark.filterwarnings(
    r"ignore:`torch\.jit\.script_method` is deprecated:DeprecationWarning")

TRAINABLE_2D = ["embed.weight", "conv.weight", "attn.in_proj_weight", "attn.out_proj.weight", "fc.weight"]


class _Wrapper(nn.Module):
    """A stand-in for DistributedDataParallel: the wrapped model is its child ``module``."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module


def test_default_on_selects_exactly_the_trainable_tensors_with_two_or_more_dimensions() -> None:
    zoo = _Zoo()
    assert [s.name for s in L2(0.01).select(zoo)] == TRAINABLE_2D
    keep = default_on(zoo)
    params = dict(zoo.named_parameters())
    for name in ("attn.in_proj_bias", "norm.weight", "rms.weight", "temperature", "fc.bias", "frozen.weight"):
        assert not keep(name, params[name])


def test_the_default_skips_a_frozen_layer_the_optimizer_does_not_update() -> None:
    zoo = _Zoo()
    zoo.fc.requires_grad_(False)
    # the fine-tuning pattern: an optimizer over the trainable parameters only
    opt = Regularized(torch.optim.SGD([p for p in zoo.parameters() if p.requires_grad], lr=0.1), zoo, [L2(0.01)])
    assert [s.name for s in opt.selections[0]] == TRAINABLE_2D[:-1]


def test_the_default_skips_a_trainable_parameter_outside_the_optimizer() -> None:
    net = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 1))
    opt = Regularized(torch.optim.SGD(net[1].parameters(), lr=0.1), net, [L2(0.01)])
    assert [s.name for s in opt.selections[0]] == ["1.weight"]


def test_an_explicit_on_naming_a_parameter_the_optimizer_does_not_update_still_raises() -> None:
    net = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 1))
    with pytest.raises(ValueError, match=r"L2\(0.01, on='0.weight'\) applies to \['0.weight'\], which the "
                                         r"optimizer does not update\."):
        Regularized(torch.optim.SGD(net[1].parameters(), lr=0.1), net, [L2(0.01, on="0.weight")])


def test_the_default_is_unchanged_on_reglabs_models() -> None:
    from reglab.models import linear, mlp

    assert [s.name for s in L2(0.1).select(mlp(3, hidden=[4]))] == ["fc1.weight", "fc2.weight"]
    assert [s.name for s in L2(0.1).select(linear(3))] == ["linear.weight"]


def test_a_term_selecting_nothing_says_so() -> None:
    net = nn.Sequential(nn.LayerNorm(3))
    with pytest.raises(ValueError, match=r"on=None matches no parameter of the model"):
        L2(0.01).select(net)


@_TORCH_COMPILE_IMPORT
@pytest.mark.parametrize("wrap", [_Wrapper, torch.compile, lambda m: _Wrapper(torch.compile(m))],
                         ids=["module", "compile", "module+compile"])
@pytest.mark.parametrize("on", ["0.weight", ["0.*"], "*.weight"])
def test_names_match_through_wrapper_prefixes(wrap, on) -> None:
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    wrapped = wrap(net)
    plain = L2(0.01, on=on).select(net)
    through = L2(0.01, on=on).select(wrapped)
    assert [s.name for s in through] == [s.name for s in plain]
    assert all(a.param is b.param for a, b in zip(through, plain))


@_TORCH_COMPILE_IMPORT
def test_masks_and_weights_match_through_wrapper_prefixes() -> None:
    net = nn.Sequential(nn.Linear(3, 1))
    wrapped = _Wrapper(torch.compile(net))
    mask = torch.tensor([[True, False, True]])
    (s,) = L1(0.01, on={"0.weight": mask}).select(wrapped)
    assert s.param is net[0].weight and torch.equal(s.mask, mask)
    (w,) = WeightedL1(0.01, weights={"0.weight": [1.0, 0.0, 2.0]}, on="0.weight").select(wrapped)
    assert w.weight.tolist() == [[1.0, 0.0, 2.0]]


def test_regularized_accepts_a_wrapped_model_with_on_names_of_the_plain_one() -> None:
    net = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 1))
    wrapped = _Wrapper(net)
    opt = Regularized(torch.optim.SGD(wrapped.parameters(), lr=0.1), wrapped, [L2(0.01, on="0.weight")])
    assert [s.param for s in opt.selections[0]] == [net[0].weight]


def test_a_prefix_is_stripped_only_when_every_name_has_it() -> None:
    class _WithChildNamedModule(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.module = nn.Linear(2, 2)
            self.weight = nn.Parameter(torch.zeros(2, 2))

    plain = _WithChildNamedModule()
    assert list(unwrapped_parameters(plain)) == ["weight", "module.weight", "module.bias"]
    assert list(unwrapped_parameters(_Wrapper(_Wrapper(plain)))) == ["weight", "module.weight", "module.bias"]


@pytest.mark.parametrize("value, error, pattern", [
    (-1, ValueError, r"strength of L2\(0.01\) must be non-negative; got -1.0"),
    ("abc", TypeError, r"strength of L2\(0.01\) must be a real number; got str 'abc'"),
    (math.inf, ValueError, r"strength of L2\(0.01\) must be finite"),
    (math.nan, ValueError, r"strength of L2\(0.01\) must be finite"),
    (True, TypeError, r"must be a real number; got bool"),
])
def test_assigning_a_bad_strength_raises_naming_the_term(value, error, pattern) -> None:
    term = L2(0.01)
    with pytest.raises(error, match=pattern):
        term.strength = value
    assert term.strength == 0.01


def test_assigning_a_strength_reads_back_as_a_float() -> None:
    term = L1(0.01)
    term.strength = 2
    assert term.strength == 2.0 and isinstance(term.strength, float)
    assert repr(term) == "L1(2)"


def test_regularized_repr_names_the_optimizer_its_lr_and_each_term_with_rule_and_tensor_count() -> None:
    net = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 1))
    opt = Regularized(torch.optim.SGD(net.parameters(), lr=0.1), net,
                      [L2(0.01), L1(1e-3, on="1.*", update="proximal")])
    assert repr(opt) == ("Regularized(SGD(lr=0.1), [L2(0.01) gradient on 2 tensors, "
                         "L1(0.001, on='1.*', update='proximal') on 2 tensors])")
