"""Fast mode's values depend only on (seed, tensor name, block): each invariance, tested."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

import initdsl

from .models import POLICY, Net, by_name, fast, meta, orders


def test_module_registration_order_does_not_change_values():
    results = [by_name(fast(Net(order))) for order in orders(3)]
    for other in results[1:]:
        assert other == results[0]


def test_exact_mode_does_depend_on_order():
    # the reason the invariance above is a property of fast mode
    a = Net()
    torch.manual_seed(0)
    initdsl.apply(a, POLICY)
    b = Net(orders(3)[1])
    torch.manual_seed(0)
    initdsl.apply(b, POLICY)
    assert by_name(a)["fc.weight"] != by_name(b)["fc.weight"]


@pytest.mark.parametrize("threads", [2, 3, 8])
def test_thread_count_does_not_change_values(threads):
    assert by_name(fast(Net(), threads=threads)) == by_name(fast(Net(), threads=1))


def test_materialize_thread_count_does_not_change_values():
    one = initdsl.materialize(meta(Net), POLICY, seed=3, threads=1)
    many = initdsl.materialize(meta(Net), POLICY, seed=3, threads=4)
    assert by_name(one) == by_name(many)


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_partial_checkpoint_leaves_other_tensors_identical(tmp_path, suffix):
    source = Net()
    state = {k: v.clone() for k, v in source.state_dict().items() if k.startswith(("fc.", "bn."))}
    path = tmp_path / f"part{suffix}"
    if suffix == ".pt":
        torch.save(state, path)
    else:
        save_file(state, str(path))
    without = by_name(fast(Net()))
    with_load = by_name(fast(Net(), POLICY + f'load "{path}"\n'))
    loaded = {f"{k}" for k in state}
    for name, value in without.items():
        if name in loaded:
            assert with_load[name] == by_name(source)[name]
        else:
            assert with_load[name] == value, name


def test_values_depend_only_on_name_not_on_the_rest_of_the_model():
    small = nn.Module()
    small.fc = nn.Linear(1536, 1024)
    fast(small, "Linear -> trunc_normal(std=0.02, a=-0.04, b=0.04, bias=0.1)")
    assert by_name(small)["fc.weight"] == by_name(fast(Net()))["fc.weight"]


def test_tied_weights_draw_the_same_values_whatever_the_order():
    class Tied(nn.Module):
        def __init__(self, first: str) -> None:
            super().__init__()
            emb, head = nn.Embedding(100, 16), nn.Linear(16, 100, bias=False)
            head.weight = emb.weight
            for name in (first, "head" if first == "emb" else "emb"):
                self.add_module(name, emb if name == "emb" else head)

    a, b = Tied("emb"), Tied("head")
    fast(a, "Embedding -> normal(std=0.02)")
    fast(b, "Embedding -> normal(std=0.02)")
    assert a.head.weight is a.emb.weight
    assert torch.equal(a.emb.weight, b.emb.weight)


def test_seed_selects_the_values():
    assert by_name(fast(Net(), seed=1))["fc.weight"] != by_name(fast(Net(), seed=2))["fc.weight"]


def test_explicit_seed_leaves_the_global_generator_alone():
    model = Net()
    torch.manual_seed(123)
    state = torch.get_rng_state()
    fast(model, seed=5)
    assert torch.equal(torch.get_rng_state(), state)


def test_no_seed_draws_one_from_the_global_generator():
    torch.manual_seed(7)
    a = by_name(initdsl.materialize(meta(Net), POLICY))
    torch.manual_seed(7)
    b = by_name(initdsl.materialize(meta(Net), POLICY))
    c = by_name(initdsl.materialize(meta(Net), POLICY))
    assert a == b
    assert a["fc.weight"] != c["fc.weight"]


def test_low_precision_holds_the_rounded_float32_values():
    full = initdsl.materialize(meta(Net), POLICY, seed=0)
    half = initdsl.materialize(meta(Net), POLICY, seed=0, dtype=torch.bfloat16)
    for (name, a), (_, b) in zip(full.named_parameters(), half.named_parameters()):
        assert b.dtype == torch.bfloat16
        assert torch.equal(a.to(torch.bfloat16), b), name
    assert half.bn.num_batches_tracked.dtype == torch.long


def test_apply_fast_matches_fast_module():
    a, b = Net(), Net()
    initdsl.apply(a, POLICY, mode="fast", seed=11)
    initdsl.fast.executor.apply(b, POLICY, seed=11)
    assert by_name(a) == by_name(b)


def test_exact_is_still_the_default_and_unchanged():
    a, b = Net(), Net()
    torch.manual_seed(0)
    initdsl.apply(a, POLICY)
    initdsl.apply(b, POLICY, mode="exact", seed=0)
    assert by_name(a) == by_name(b)


def test_unknown_mode_is_rejected():
    with pytest.raises(ValueError, match="mode"):
        initdsl.apply(Net(), POLICY, mode="quick")
