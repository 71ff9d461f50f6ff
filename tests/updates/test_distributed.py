"""Regularized under torch.distributed on the CPU (gloo, 2 processes): FSDP2's ``fully_shard`` hands each
rank a shard of every parameter (a DTensor), and every element-wise rule — L2, L1 and elastic net under
the ``gradient``, ``proximal``, ``decoupled`` and ``cumulative`` rules — applies to the shard; gathered
at the end, the weights equal those of one process training on the whole batch (float64: equal up to
the rounding of the gradient's reduction, and the same exact zeros). DistributedDataParallel likewise.
"""

from __future__ import annotations


import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from reglab import L1, L2, ElasticNet, Regularized

pytestmark = pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(),
                                reason="torch.distributed with gloo is not available")

WORLD, STEPS, LR = 2, 6, 0.1
# (name, terms): every rule, and each penalty family
CASES = {
    "l2-gradient": lambda: [L2(0.05)],
    "l2-decoupled": lambda: [L2(0.05, update="decoupled")],
    "l1-proximal": lambda: [L1(0.02, update="proximal")],
    "l1-cumulative": lambda: [L1(0.02, update="cumulative")],
    "elasticnet-proximal+l2-bias": lambda: [ElasticNet(0.03, l1_ratio=0.7, update="proximal"),
                                             L2(0.01, on="*.bias")],
}


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3)).double()


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.randn(64, 8, generator=g, dtype=torch.float64), torch.randn(64, 3, generator=g, dtype=torch.float64)


def _train(model: nn.Module, case: str, rank: int = 0, world: int = 1) -> None:
    """STEPS of SGD on this rank's equal share of the batch (the whole batch for one process)."""
    opt = Regularized(torch.optim.SGD(model.parameters(), lr=LR), model, CASES[case]())
    X, y = _data()
    share = slice(rank * len(X) // world, (rank + 1) * len(X) // world)
    for _ in range(STEPS):
        opt.zero_grad()
        (model(X[share]) - y[share]).square().mean().backward()  # the mean of the ranks' means: the whole mean
        opt.step()


def _worker(rank: int, init_file: str, wrapper: str, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD)
    try:
        results = {}
        for case in CASES:
            model = _model()
            if wrapper == "fsdp":
                from torch.distributed.device_mesh import init_device_mesh
                from torch.distributed.fsdp import fully_shard

                mesh = init_device_mesh("cpu", (WORLD,))
                for layer in (model[0], model[2]):
                    fully_shard(layer, mesh=mesh)
                fully_shard(model, mesh=mesh)
                _train(model, case, rank, WORLD)
                results[case] = {k: v.full_tensor() for k, v in model.state_dict().items()}
            else:
                ddp = nn.parallel.DistributedDataParallel(model)
                _train(ddp, case, rank, WORLD)
                results[case] = {k: v.detach().clone() for k, v in model.state_dict().items()}
        torch.save(results, f"{out}.{rank}")
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module", params=["fsdp", "ddp"])
def distributed_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp(request.param)
    out = str(tmp / "weights")
    mp.spawn(_worker, args=(str(tmp / "init"), request.param, out), nprocs=WORLD, join=True)
    return request.param, [torch.load(f"{out}.{rank}", weights_only=True) for rank in range(WORLD)]


@pytest.mark.parametrize("case", list(CASES))
def test_each_rule_on_shards_ends_where_one_process_ends(distributed_run, case: str) -> None:  # noqa: ANN001
    wrapper, ranks = distributed_run
    alone = _model()
    _train(alone, case)
    expected = alone.state_dict()
    for rank, results in enumerate(ranks):
        got = results[case]
        assert got.keys() == expected.keys()
        for name, value in expected.items():
            # one process sums the batch in one reduction, two ranks in two halves: rounding only
            torch.testing.assert_close(got[name], value, rtol=1e-12, atol=1e-13, msg=f"{wrapper} rank {rank} {name}")
            assert torch.equal(got[name] == 0, value == 0), f"{wrapper} rank {rank} {name}: other exact zeros"
    if case.startswith(("l1-proximal", "l1-cumulative", "elasticnet")):
        assert sum(int((v == 0).sum()) for v in expected.values()) > 0  # the sparse rules made exact zeros
