"""The matcher: class / direct-base names, post-order walk, shared modules."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import initdsl
from initdsl.core.matcher import class_names, matching, post_order

from .helpers import Custom


class MyConv(nn.Conv2d):
    pass


class MyConv2(MyConv):
    pass


class Linear(nn.Module):
    """Unrelated to nn.Linear, but named 'Linear'."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(2, 2))


def zoo():
    return nn.ModuleDict({
        "conv1d": nn.Conv1d(1, 1, 1), "conv2d": nn.Conv2d(1, 1, 1), "conv3d": nn.Conv3d(1, 1, 1),
        "deconv": nn.ConvTranspose2d(1, 1, 1), "bn": nn.BatchNorm2d(2),
        "sync": nn.SyncBatchNorm(2), "inorm": nn.InstanceNorm1d(2, affine=True),
        "gn": nn.GroupNorm(1, 2), "ln": nn.LayerNorm(2), "emb": nn.Embedding(3, 2),
        "fc": nn.Linear(2, 2), "attn": nn.MultiheadAttention(4, 1), "prelu": nn.PReLU(),
        "my": MyConv(1, 1, 1), "my2": MyConv2(1, 1, 1), "custom": Custom(), "fake": Linear(),
        "seq": nn.Sequential(nn.Linear(2, 2), nn.ReLU()),
    })


MATCHES = {
    "Conv2d": ["conv2d", "my"],  # direct subclass matches, the grandchild does not
    "MyConv": ["my", "my2"],
    "MyConv2": ["my2"],
    "_ConvNd": ["conv1d", "conv2d", "conv3d"],
    "_ConvTransposeNd": ["deconv"],
    "_BatchNorm": ["bn", "sync"],
    "_InstanceNorm": ["inorm"],
    "Linear": ["fc", "attn.out_proj", "fake", "seq.0"],
    "Module": ["gn", "ln", "emb", "fc", "attn", "prelu", "custom", "fake", "seq.0", "seq.1",
               "seq", ""],  # containers too: their direct base is Module
    "ModuleDict": [""],
    "Sequential": ["seq"],
    "NonDynamicallyQuantizableLinear": ["attn.out_proj"],
    "linear": [],  # case-sensitive
    "nn.Linear": [],
}


@pytest.mark.parametrize("layer", sorted(MATCHES))
def test_layer_matches_class_and_direct_bases(layer):
    model = zoo()
    assert [p for p, _ in matching(model, "", [layer])] == MATCHES[layer]


def test_class_names_are_own_and_direct_bases_only():
    assert class_names(MyConv2) == frozenset({"MyConv2", "MyConv"})
    assert class_names(nn.Conv2d) == frozenset({"Conv2d", "_ConvNd"})
    assert class_names(nn.BatchNorm2d) == frozenset({"BatchNorm2d", "_BatchNorm"})
    assert "_ConvNd" not in class_names(nn.ConvTranspose2d)


def test_layer_list_is_a_union_in_walk_order():
    model = zoo()
    got = [p for p, _ in matching(model, "", ["_BatchNorm", "_ConvNd", "Conv2d"])]
    assert got == ["conv1d", "conv2d", "conv3d", "bn", "sync", "my"]


@pytest.mark.parametrize("layers", [[], [nn.Linear]])
def test_empty_or_non_string_layers_match_nothing(layers):
    assert list(matching(zoo(), "", layers)) == []


def test_whole_module_mode_yields_everything():
    model = zoo()
    assert [m for _, m in matching(model, "", None)] == [m for _, m in post_order(model)]


def test_unhashable_layer_entry_is_a_type_error():
    with pytest.raises(TypeError) as info:
        initdsl.initialize(nn.Linear(2, 2), [dict(type="Constant", val=1, layer=[["Linear"]])])
    assert isinstance(info.value, initdsl.InitError) and "init_cfg[0]" in str(info.value)


def test_post_order_equals_apply_order():
    model = nn.Sequential(
        nn.Sequential(nn.Linear(1, 1), nn.Sequential(nn.ReLU(), nn.Linear(1, 1))),
        nn.ModuleDict({"b": nn.Linear(1, 1), "a": nn.Tanh()}),
        nn.Linear(1, 1),
    )
    applied = []
    model.apply(applied.append)
    walked = list(post_order(model))
    assert [m for _, m in walked] == applied
    assert [p for p, _ in walked] == ["0.0", "0.1.0", "0.1.1", "0.1", "0", "1.b", "1.a", "1",
                                      "2", ""]


def test_shared_module_is_visited_and_drawn_twice():
    shared = nn.Linear(3, 3)
    model = nn.Sequential(nn.Sequential(shared), nn.Sequential(shared, nn.ReLU()))
    assert [p for p, _ in post_order(model)].count("0.0") == 1
    assert [m for _, m in post_order(model)].count(shared) == 2
    assert len(list(model.named_parameters())) == 2

    torch.manual_seed(0)
    initdsl.initialize(model, dict(type="Normal", layer="Linear"))
    ours = shared.weight.clone()
    state = torch.get_rng_state()
    torch.manual_seed(0)
    w = torch.empty(3, 3)
    w.normal_()
    w.normal_()  # second visit overwrites the first draw
    assert torch.equal(ours, w)
    assert torch.equal(state, torch.get_rng_state())


def test_same_child_twice_under_one_parent_is_visited_once():
    lin = nn.Linear(2, 2)
    model = nn.Module()
    model.a = lin
    model.b = lin
    applied = []
    model.apply(applied.append)
    assert [m for _, m in post_order(model)] == applied == [lin, model]


def test_unmatched_layers_draw_nothing():
    model = zoo()
    state = torch.get_rng_state()
    for cfg in (dict(type="Normal"), dict(type="Kaiming", layer=[]),
                dict(type="Xavier", layer="Conv4d"), dict(type="Normal", layer=None)):
        initdsl.initialize(model, cfg)
    assert torch.equal(state, torch.get_rng_state())
    assert all(r.writer is None for r in initdsl.provenance(model).values())
