"""What sharded initialization refuses, and that a refusal leaves the model as it was.

A one-rank gloo group in this process is enough: the checks run before any
communication and before anything is allocated.
"""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist
from torch import nn

import initdsl
from initdsl import zoo
from initdsl.fast.sharded import is_sharded

pytestmark = pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(),
                                reason="torch.distributed with gloo is not available")


@pytest.fixture(scope="module")
def mesh(tmp_path_factory):
    from torch.distributed.device_mesh import init_device_mesh

    store = tmp_path_factory.mktemp("group") / "store"
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=0, world_size=1)
    try:
        yield init_device_mesh("cpu", (1,))
    finally:
        dist.destroy_process_group()


def _sharded_gpt(mesh, meta=True):
    from torch.distributed.fsdp import fully_shard

    with torch.device("meta" if meta else "cpu"):
        model = zoo.gpt(vocab=50, dim=16, depth=2, heads=2, mlp=32, max_len=8)
    for block in model.blocks:
        fully_shard(block, mesh=mesh)
    fully_shard(model, mesh=mesh)
    return model


def _all_meta(model):
    return all(p._local_tensor.is_meta for p in model.parameters())


POLICY = "Linear -> normal(std=0.02)\nEmbedding -> normal(std=0.02)\nLayerNorm -> ones"


def test_sharded_parameters_are_recognised(mesh):
    model = _sharded_gpt(mesh)
    assert all(is_sharded(p) for p in model.parameters())
    assert not is_sharded(torch.empty(2))


def test_exact_mode_on_a_sharded_model_names_both_ways_out(mesh):
    model = _sharded_gpt(mesh, meta=False)
    with pytest.raises(initdsl.InitValueError, match=r"materialize.*scatter=True"):
        initdsl.apply(model, POLICY)


def test_scatter_is_only_for_exact_mode_on_a_sharded_model(mesh):
    with pytest.raises(initdsl.InitValueError, match="scatter=True is for exact mode"):
        initdsl.apply(nn.Linear(2, 2), "Linear -> zeros", scatter=True)
    with pytest.raises(initdsl.InitValueError, match="scatter=True is for exact mode"):
        initdsl.apply(_sharded_gpt(mesh, meta=False), POLICY, mode="fast", scatter=True)


class OwnInit(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = nn.Linear(8, 8)
        self.inner.init_weights = lambda: nn.init.ones_(self.inner.weight)  # user code


def test_user_code_is_refused_before_anything_is_allocated(mesh):
    from torch.distributed.fsdp import fully_shard

    with torch.device("meta"):
        model = OwnInit()
    fully_shard(model, mesh=mesh)
    with pytest.raises(initdsl.InitValueError, match=r"user code.*capture.*scatter=True"):
        initdsl.materialize(model, "Linear -> zeros")
    assert _all_meta(model)


def test_a_dtype_is_refused_on_a_sharded_model(mesh):
    model = _sharded_gpt(mesh)
    with pytest.raises(initdsl.InitValueError, match="cast the model on meta before sharding"):
        initdsl.materialize(model, POLICY, dtype=torch.bfloat16)
    assert _all_meta(model)


def test_materialize_wants_meta_and_fast_apply_wants_allocated(mesh):
    allocated = _sharded_gpt(mesh, meta=False)
    with pytest.raises(ValueError, match="already holds data.*mode='fast'"):
        initdsl.materialize(allocated, POLICY)
    with pytest.raises(initdsl.InitValueError, match="meta device.*materialize"):
        initdsl.apply(_sharded_gpt(mesh), POLICY, mode="fast")


def test_unwritten_error_is_raised_before_allocation(mesh):
    model = _bare(mesh)  # b: no rule, and a bare Parameter has no module default
    with pytest.raises(initdsl.InitValueError, match="written by no rule.*: b"):
        initdsl.materialize(model, "param a -> zeros", unwritten="error")
    assert _all_meta(model)


def _bare(mesh):
    from torch.distributed.tensor import Shard, distribute_tensor

    class Bare(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Parameter(torch.empty(4, 4, device="meta"))
            self.b = nn.Parameter(torch.empty(4, 4, device="meta"))

    model = Bare()
    for name in ("a", "b"):
        setattr(model, name, nn.Parameter(distribute_tensor(getattr(model, name), mesh,
                                                            [Shard(0)])))
    return model


def test_one_rank_materialize_equals_one_process(mesh):
    model = _sharded_gpt(mesh)
    initdsl.materialize(model, POLICY, seed=7)
    with torch.device("meta"):
        plain = zoo.gpt(vocab=50, dim=16, depth=2, heads=2, mlp=32, max_len=8)
    initdsl.materialize(plain, POLICY, seed=7)
    plain_params = dict(plain.named_parameters())
    for name, param in model.named_parameters():
        assert torch.equal(param.full_tensor(), plain_params[name]), name
    assert initdsl.provenance(model).to_json() == initdsl.provenance(plain).to_json()
