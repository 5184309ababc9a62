"""``initdsl.zoo``: parameter counts, forward shapes, meta construction, bases."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import initdsl
from initdsl import zoo

from .helpers import snapshot

try:
    import mmengine.model  # noqa: F401

    BASES = ["torch", "initdsl", "mmengine"]
except ImportError:  # mmengine is only needed for the differential parts
    BASES = ["torch", "initdsl"]

TINY = {
    "resnet": lambda **kw: zoo.resnet((1, 1, 1, 1), width=8, num_classes=10, **kw),
    "vit": lambda **kw: zoo.vit_b16(num_classes=10, img_size=32, depth=2, dim=32, heads=2, **kw),
    "gpt": lambda **kw: zoo.gpt(vocab=50, dim=32, depth=2, heads=2, mlp=64, max_len=16, **kw),
    "chain": lambda **kw: zoo.nested_chain(4, width=8, **kw),
    "siblings": lambda **kw: zoo.siblings(5, width=8, **kw),
}
INPUTS = {
    "resnet": lambda: torch.randn(2, 3, 32, 32),
    "vit": lambda: torch.randn(2, 3, 32, 32),
    "gpt": lambda: torch.randint(0, 50, (2, 10)),
    "chain": lambda: torch.randn(2, 8),
    "siblings": lambda: torch.randn(2, 8),
}
OUTPUTS = {"resnet": (2, 10), "vit": (2, 10), "gpt": (2, 10, 50), "chain": (2, 8),
           "siblings": (2, 8)}


def meta(factory, **kwargs) -> nn.Module:
    with torch.device("meta"):
        return factory(**kwargs)


@pytest.mark.parametrize(
    "factory, params, tensors",
    [
        (zoo.resnet50, 25_557_032, 161),  # torchvision resnet50
        (zoo.vit_b16, 86_567_656, 152),  # timm vit_base_patch16_224
        (zoo.gpt, 134_994_432, 149),
    ],
    ids=["resnet50", "vit_b16", "gpt"],
)
@pytest.mark.parametrize("base", BASES)
def test_full_size_parameter_counts(factory, params, tensors, base):
    model = meta(factory, base=base)
    assert zoo.parameter_count(model) == params
    assert len(list(model.parameters())) == tensors


def test_resnet50_layout():
    model = meta(zoo.resnet50)
    kinds = [type(m).__name__ for m in model.modules()]
    assert kinds.count("Conv2d") == 53 and kinds.count("BatchNorm2d") == 53
    assert kinds.count("Bottleneck") == 16 and kinds.count("Linear") == 1
    assert [len(getattr(model, f"layer{i}")) for i in range(1, 5)] == [3, 4, 6, 3]
    assert all(m.bias is None for m in model.modules() if isinstance(m, nn.Conv2d))
    assert model.layer2[0].conv2.stride == (2, 2) and model.layer2[0].conv1.stride == (1, 1)
    assert tuple(model.fc.weight.shape) == (1000, 2048)


def test_vit_b16_layout():
    model = meta(zoo.vit_b16)
    assert tuple(model.pos_embed.shape) == (1, 197, 768)
    assert tuple(model.cls_token.shape) == (1, 1, 768)
    assert tuple(model.patch_embed.proj.weight.shape) == (768, 3, 16, 16)
    block = model.blocks[0]
    assert tuple(block.attn.qkv.weight.shape) == (2304, 768)
    assert tuple(block.mlp.fc1.weight.shape) == (3072, 768)
    assert len(model.blocks) == 12


@pytest.mark.parametrize("name", sorted(TINY))
@pytest.mark.parametrize("base", BASES)
def test_forward_shape_on_a_tiny_config(name, base):
    torch.manual_seed(0)
    model = TINY[name](base=base).eval()
    with torch.no_grad():
        out = model(INPUTS[name]())
    assert tuple(out.shape) == OUTPUTS[name]
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("factory", [zoo.resnet50, zoo.vit_b16, zoo.gpt], ids=lambda f: f.__name__)
@pytest.mark.parametrize("base", BASES)
def test_constructs_on_meta(factory, base):
    model = meta(factory, base=base)
    assert all(t.device.type == "meta" for t in [*model.parameters(), *model.buffers()])
    model.to_empty(device="cpu")  # materializes without touching the constructor again
    assert all(t.device.type == "cpu" for t in model.parameters())


@pytest.mark.parametrize("name", sorted(TINY))
def test_same_architecture_on_every_base(name):
    models = {base: meta(TINY[name], base=base) for base in BASES}
    reference = models["torch"]
    names = [(n, tuple(p.shape)) for n, p in reference.named_parameters()]
    kinds = [(n, type(m).__name__) for n, m in reference.named_modules()]
    for base, model in models.items():
        assert [(n, tuple(p.shape)) for n, p in model.named_parameters()] == names, base
        assert [(n, type(m).__name__) for n, m in model.named_modules()] == kinds, base


def test_bases_select_the_module_and_container_classes():
    model = meta(TINY["resnet"], base="initdsl")
    assert isinstance(model, initdsl.BaseModule)
    assert isinstance(model.layer1, initdsl.Sequential)
    assert isinstance(model.layer1[0], initdsl.BaseModule)
    vit = meta(TINY["vit"], base="initdsl")
    assert isinstance(vit.blocks, initdsl.ModuleList)
    assert isinstance(vit.blocks[0].attn, initdsl.BaseModule)
    plain = meta(TINY["vit"])
    assert not isinstance(plain, initdsl.BaseModule)
    assert type(plain.blocks) is nn.ModuleList and type(plain.blocks[0]).__bases__ == (nn.Module,)
    # leaves are always torch's, whatever the base
    assert type(vit.blocks[0].attn.qkv) is nn.Linear


def test_custom_bases_and_resolution():
    custom = zoo.Bases(initdsl.BaseModule, initdsl.Sequential, initdsl.ModuleList)
    assert custom == zoo.INITDSL and zoo.resolve_bases(custom) is custom
    assert zoo.resolve_bases("torch") is zoo.TORCH
    assert zoo.INITDSL.takes_init_cfg and not zoo.TORCH.takes_init_cfg
    with pytest.raises(ValueError, match="base must be"):
        zoo.resolve_bases("timm")


def test_classes_are_generated_once_per_base():
    a, b = TINY["vit"](base="initdsl"), TINY["vit"](base="initdsl")
    assert type(a) is type(b) and type(a.blocks[0]) is type(b.blocks[0])
    assert type(a) is not type(TINY["vit"]())
    assert type(a).__name__ == "VisionTransformer" and type(a).__module__ == "initdsl.zoo"


def test_block_init_cfg_every_block_gets_its_own_copy():
    cfg = [dict(type="TruncNormal", std=0.02, layer="Linear")]
    model = meta(TINY["vit"], base="initdsl", init_cfg=dict(type="Constant", val=1,
                                                               layer="LayerNorm"),
                 block_init_cfg=cfg)
    assert model.init_cfg == dict(type="Constant", val=1, layer="LayerNorm")
    assert [block.init_cfg for block in model.blocks] == [cfg, cfg]
    assert model.blocks[0].init_cfg is not model.blocks[1].init_cfg
    assert model.blocks[0].attn.init_cfg is None


def test_block_init_cfg_callable_gets_qualified_names():
    seen = []

    def cfg_of(name):
        seen.append(name)
        return dict(type="Constant", val=len(seen), layer="Conv2d")

    model = meta(zoo.resnet, depths=(2, 1), width=8, base="initdsl", block_init_cfg=cfg_of)
    assert seen == ["layer1.0", "layer1.1", "layer2.0"]
    assert model.layer2[0].init_cfg["val"] == 3
    levels = []
    meta(zoo.nested_chain, depth=3, base="initdsl", init_cfg=lambda n: levels.append(n))
    assert sorted(levels) == ["", "inner", "inner.inner"]


def test_init_cfg_on_a_plain_torch_base_is_an_error():
    with pytest.raises(ValueError, match="takes none"):
        TINY["resnet"](init_cfg=dict(type="Kaiming", layer="Conv2d"))
    with pytest.raises(ValueError, match="takes none"):
        TINY["vit"](block_init_cfg=dict(type="Kaiming", layer="Conv2d"))


def test_stress_shapes():
    chain = meta(zoo.nested_chain, depth=5, width=4)
    names = [n for n, _ in chain.named_modules() if n.endswith("fc")]
    assert names == ["fc", "inner.fc", "inner.inner.fc", "inner.inner.inner.fc",
                     "inner.inner.inner.inner.fc"]
    assert chain.inner.inner.inner.inner.inner is None
    assert zoo.parameter_count(chain) == 5 * (4 * 4 + 4 + 2 * 4)
    wide = meta(zoo.siblings, count=7, width=4)
    assert len(wide.blocks) == 7 and zoo.parameter_count(wide) == 7 * (4 * 4 + 4 + 2 * 4)


def test_init_weights_runs_through_every_block():
    model = TINY["vit"](base="initdsl", block_init_cfg=dict(type="Constant", val=0.5,
                                                             layer="Linear"))
    model.init_weights()
    for block in model.blocks:
        assert block.is_init
        assert (block.attn.qkv.weight == 0.5).all() and (block.mlp.fc2.weight == 0.5).all()
    record = initdsl.provenance(model)["blocks.1.mlp.fc1.weight"]
    assert record.writer == "Constant" and record.origin.owner == "blocks.1"


@pytest.mark.mmengine
@pytest.mark.parametrize("name", ["resnet", "vit", "chain", "siblings"])
def test_initdsl_and_mmengine_bases_initialize_identically(name):
    pytest.importorskip("mmengine")
    cfgs = {
        "resnet": dict(init_cfg=[dict(type="Kaiming", layer="Conv2d"),
                                 dict(type="Constant", val=1, layer=["_BatchNorm", "GroupNorm"]),
                                 dict(type="Normal", std=0.01, layer="Linear")],
                       block_init_cfg=dict(type="Constant", val=0, override=dict(name="bn3"))),
        "vit": dict(init_cfg=dict(type="TruncNormal", std=0.02, override=dict(name="head")),
                    block_init_cfg=[dict(type="TruncNormal", std=0.02, layer="Linear"),
                                    dict(type="Constant", val=1, bias=0, layer="LayerNorm")]),
        "chain": dict(init_cfg=dict(type="Kaiming", layer="Linear",
                                    override=dict(name="norm", type="Constant", val=1))),
        "siblings": dict(block_init_cfg=dict(type="Normal", std=0.02, layer="Linear")),
    }[name]
    states = []
    for base in ("initdsl", "mmengine"):
        torch.manual_seed(0)
        model = TINY[name](base=base, **cfgs)
        torch.manual_seed(1)
        model.init_weights()
        states.append((snapshot(model), torch.get_rng_state()))
    assert states[0][0] == states[1][0]
    assert torch.equal(states[0][1], states[1][1])
