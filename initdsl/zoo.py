"""Reference models in plain torch, buildable on any ``BaseModule`` flavour.

Benchmarks, tests and the command line (``--model initdsl.zoo:resnet50``)
need well-known architectures without depending on torchvision or timm. Each
factory here builds the same architecture — same class names, same
parameter names in the same order — on one of three *bases*:

* ``"torch"`` (the default): every composite module is a plain
  ``torch.nn.Module``, containers are ``nn.Sequential``/``nn.ModuleList``.
  Such a model has no ``init_cfg``; initialize it with :func:`initdsl.initialize`
  or a policy.
* ``"initdsl"``: composites are :class:`initdsl.BaseModule`, containers
  :class:`initdsl.Sequential`/:class:`initdsl.ModuleList`, so ``init_cfg``
  chains through the whole model and ``model.init_weights()`` works.
* ``"mmengine"``: the same with mmengine's classes (imported only when asked for).

or on any other :class:`Bases`. Leaf layers (``Conv2d``, ``Linear``,
``BatchNorm2d``, ``LayerNorm``, ``Embedding``) are always torch's, so ``layer``
matching behaves as on real OpenMMLab models::

    from initdsl import zoo

    model = zoo.resnet50(
        base="initdsl",
        init_cfg=[dict(type="Kaiming", layer="Conv2d"),
                  dict(type="Constant", val=1, layer=["_BatchNorm", "GroupNorm"])],
        block_init_cfg=dict(type="Constant", val=0, override=dict(name="bn3")),
    )
    model.init_weights()

``init_cfg`` is the root module's; ``block_init_cfg`` is given to every block
(a ResNet bottleneck, a transformer block), either as one cfg (each block gets
its own deep copy) or as a callable ``name -> cfg`` called with the block's
qualified name (``"layer2.0"``, ``"blocks.11"``). Both need a base whose module
class takes ``init_cfg``; on ``"torch"`` passing one raises ``ValueError``.

Every constructor is free of data-dependent code, so models can be built
under ``with torch.device("meta"):`` and materialized later. The classes are
generated once per base (``zoo.resnet50(base="initdsl").__class__`` is the
same class every time); they are not importable by name, so the models do
not pickle — save their ``state_dict`` instead.

Besides the three real architectures, :func:`nested_chain` and
:func:`siblings` are the two stress shapes of the benchmarks: deep nesting
with an ``override`` at every level, and thousands of small sibling blocks.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .core.base_module import BaseModule, ModuleList, Sequential

__all__ = [
    "Bases",
    "TORCH",
    "INITDSL",
    "mmengine_bases",
    "resolve_bases",
    "resnet",
    "resnet50",
    "vit",
    "vit_b16",
    "gpt",
    "nested_chain",
    "siblings",
    "parameter_count",
]

Cfg = Union[dict, list, None]
#: One cfg for every block, or a function of the block's qualified name.
BlockCfg = Union[dict, list, Callable[[str], Cfg], None]


@dataclass(frozen=True)
class Bases:
    """The classes a zoo model is built from.

    Attributes:
        module: base class of every composite module (the model, its stages,
            blocks, attention and MLP modules). ``torch.nn.Module`` or a
            ``BaseModule`` whose constructor takes ``init_cfg``.
        sequential: the ``nn.Sequential`` to use (ResNet stages, downsample
            branches); called as ``sequential(*modules)``.
        module_list: the ``nn.ModuleList`` to use (transformer blocks);
            called as ``module_list(modules)``.
        name: a label for messages and benchmark tables.
    """

    module: type = nn.Module
    sequential: type = nn.Sequential
    module_list: type = nn.ModuleList
    name: str = field(default="custom", compare=False)

    @property
    def takes_init_cfg(self) -> bool:
        """Whether ``module``'s constructor takes ``init_cfg`` (a ``BaseModule``)."""
        return _takes_init_cfg(self.module)

    def setup(self, module: nn.Module, init_cfg: Cfg) -> None:
        """Run the base constructor on ``module`` (what ``super().__init__`` would do)."""
        if self.takes_init_cfg:
            self.module.__init__(module, init_cfg=init_cfg)
            return
        if init_cfg is not None:
            raise ValueError(
                f"{type(module).__name__} got an init_cfg but is built on "
                f"{self.module.__module__}.{self.module.__qualname__}, which takes none; "
                "build it with base='initdsl' or base='mmengine'"
            )
        self.module.__init__(module)


@lru_cache(maxsize=None)
def _takes_init_cfg(cls: type) -> bool:
    try:
        return "init_cfg" in inspect.signature(cls.__init__).parameters
    except (TypeError, ValueError):
        return False


#: Plain torch: ``nn.Module``, ``nn.Sequential``, ``nn.ModuleList``.
TORCH = Bases(nn.Module, nn.Sequential, nn.ModuleList, name="torch")


#: initdsl's ``BaseModule``, ``Sequential``, ``ModuleList``.
INITDSL = Bases(BaseModule, Sequential, ModuleList, name="initdsl")


def mmengine_bases() -> Bases:
    """mmengine's ``BaseModule``, ``Sequential``, ``ModuleList`` (imports mmengine)."""
    from mmengine.model import BaseModule, ModuleList, Sequential

    return Bases(BaseModule, Sequential, ModuleList, name="mmengine")


def resolve_bases(base: Bases | str) -> Bases:
    """A :class:`Bases` from itself or from ``"torch"``, ``"initdsl"``, ``"mmengine"``."""
    if isinstance(base, Bases):
        return base
    if base == "torch":
        return TORCH
    if base == "initdsl":
        return INITDSL
    if base == "mmengine":
        return mmengine_bases()
    raise ValueError(f"base must be a Bases or one of 'torch', 'initdsl', 'mmengine'; got {base!r}")


def _block_cfg(block_init_cfg: BlockCfg, name: str) -> Cfg:
    if callable(block_init_cfg):
        return block_init_cfg(name)
    return block_init_cfg  # BaseModule deep-copies it


def _named(cls: type, name: str) -> type:
    cls.__qualname__ = name
    cls.__module__ = __name__
    return cls


# -- ResNet -------------------------------------------------------------------------------


@lru_cache(maxsize=None)
def _resnet_classes(B: Bases) -> tuple[type, type]:
    class Bottleneck(B.module):
        """1x1 reduce, 3x3 (carries the stride, as torchvision's v1.5), 1x1 expand, + shortcut."""

        expansion = 4

        def __init__(self, inplanes: int, planes: int, stride: int = 1,
                     init_cfg: Cfg = None) -> None:
            B.setup(self, init_cfg)
            out = planes * self.expansion
            self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.conv3 = nn.Conv2d(planes, out, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(out)
            self.relu = nn.ReLU(inplace=True)
            self.downsample = None
            if stride != 1 or inplanes != out:
                self.downsample = B.sequential(
                    nn.Conv2d(inplanes, out, 1, stride=stride, bias=False), nn.BatchNorm2d(out)
                )

        def forward(self, x: Tensor) -> Tensor:
            identity = x if self.downsample is None else self.downsample(x)
            y = self.relu(self.bn1(self.conv1(x)))
            y = self.relu(self.bn2(self.conv2(y)))
            y = self.bn3(self.conv3(y))
            return self.relu(y + identity)

    class BasicBlock(B.module):
        """3x3 (carries the stride), 3x3, + shortcut: ResNet-18/34's block (timm's names)."""

        expansion = 1

        def __init__(self, inplanes: int, planes: int, stride: int = 1,
                     init_cfg: Cfg = None) -> None:
            B.setup(self, init_cfg)
            self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.relu = nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.downsample = None
            if stride != 1 or inplanes != planes:
                self.downsample = B.sequential(
                    nn.Conv2d(inplanes, planes, 1, stride=stride, bias=False),
                    nn.BatchNorm2d(planes))

        def forward(self, x: Tensor) -> Tensor:
            identity = x if self.downsample is None else self.downsample(x)
            y = self.relu(self.bn1(self.conv1(x)))
            return self.relu(self.bn2(self.conv2(y)) + identity)

    blocks_by_kind = {"bottleneck": Bottleneck, "basic": BasicBlock}

    class ResNet(B.module):
        """Stem (conv7x7/2 + BN + ReLU + maxpool/2), four stages of blocks, pool, fc."""

        def __init__(self, depths: Sequence[int], width: int, num_classes: int, in_chans: int,
                     init_cfg: Cfg, block_init_cfg: BlockCfg, block: str = "bottleneck"
                     ) -> None:
            B.setup(self, init_cfg)
            self.conv1 = nn.Conv2d(in_chans, width, 7, stride=2, padding=3, bias=False)
            self.bn1 = nn.BatchNorm2d(width)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
            inplanes = width
            for index, count in enumerate(depths):
                planes = width * 2**index
                blocks = []
                for number in range(count):
                    stride = 2 if index > 0 and number == 0 else 1
                    cfg = _block_cfg(block_init_cfg, f"layer{index + 1}.{number}")
                    kind = blocks_by_kind[block]
                    blocks.append(kind(inplanes, planes, stride, init_cfg=cfg))
                    inplanes = planes * kind.expansion
                setattr(self, f"layer{index + 1}", B.sequential(*blocks))
            self.num_stages = len(depths)
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(inplanes, num_classes)

        def forward(self, x: Tensor) -> Tensor:
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            for index in range(self.num_stages):
                x = getattr(self, f"layer{index + 1}")(x)
            return self.fc(torch.flatten(self.avgpool(x), 1))

    _named(BasicBlock, "BasicBlock")
    return _named(Bottleneck, "Bottleneck"), _named(ResNet, "ResNet")


def resnet(depths: Sequence[int] = (3, 4, 6, 3), width: int = 64, num_classes: int = 1000,
           in_chans: int = 3, *, base: Bases | str = "torch", init_cfg: Cfg = None,
           block_init_cfg: BlockCfg = None, block: str = "bottleneck") -> nn.Module:
    """A bottleneck ResNet with torchvision's layout and parameter names.

    ``conv1``, ``bn1`` (stem), ``layer1`` … ``layerN`` (``Sequential`` of
    ``Bottleneck`` blocks with ``conv1..3``, ``bn1..3`` and, on the first
    block of a stage, ``downsample.0/1``), ``fc``. Convolutions have no bias.

    Args:
        depths: bottleneck blocks per stage; ``(3, 4, 6, 3)`` is ResNet-50.
        width: stem channels (stage ``i`` has ``width * 2**i`` bottleneck
            channels and four times that at its output).
        num_classes, in_chans: classifier outputs and input channels.
        base, init_cfg, block_init_cfg: see the module documentation; blocks
            are named as in torchvision: ``"layer1.0"`` is the first block of
            the first stage.
        block: ``"bottleneck"`` (ResNet-50 and up) or ``"basic"``
            (``BasicBlock``: ``conv1``, ``bn1``, ``conv2``, ``bn2``; ResNet-18/34).
    """
    if block not in ("bottleneck", "basic"):
        raise ValueError(f"block must be 'bottleneck' or 'basic', got {block!r}")
    _, cls = _resnet_classes(resolve_bases(base))
    return cls(tuple(depths), width, num_classes, in_chans, init_cfg, block_init_cfg, block)


def resnet18(num_classes: int = 1000, *, base: Bases | str = "torch", init_cfg: Cfg = None,
             block_init_cfg: BlockCfg = None) -> nn.Module:
    """ResNet-18 (timm's ``resnet18`` layout): ``BasicBlock`` s, depths ``(2, 2, 2, 2)``.

    11,689,512 parameters with ``num_classes=1000``. See :func:`resnet`.
    """
    return resnet((2, 2, 2, 2), 64, num_classes, base=base, init_cfg=init_cfg,
                  block_init_cfg=block_init_cfg, block="basic")


def resnet50(num_classes: int = 1000, *, base: Bases | str = "torch", init_cfg: Cfg = None,
             block_init_cfg: BlockCfg = None) -> nn.Module:
    """ResNet-50: depths ``(3, 4, 6, 3)``, width 64.

    25,557,032 parameters with ``num_classes=1000`` (torchvision's
    ``resnet50`` exactly); 161 parameter tensors, 53 ``Conv2d``, 53
    ``BatchNorm2d``, one ``Linear``. See :func:`resnet` for the arguments.
    """
    return resnet((3, 4, 6, 3), 64, num_classes, base=base, init_cfg=init_cfg,
                  block_init_cfg=block_init_cfg)


# -- Transformers ----------------------------------------------------------------------------


@lru_cache(maxsize=None)
def _transformer_classes(B: Bases) -> tuple[type, type, type]:
    class Attention(B.module):
        """Multi-head self-attention: one ``qkv`` Linear, one ``proj`` Linear."""

        def __init__(self, dim: int, heads: int, causal: bool) -> None:
            B.setup(self, None)
            if dim % heads:
                raise ValueError(f"dim ({dim}) must be divisible by heads ({heads})")
            self.heads = heads
            self.causal = causal
            self.qkv = nn.Linear(dim, 3 * dim)
            self.proj = nn.Linear(dim, dim)

        def forward(self, x: Tensor) -> Tensor:
            batch, length, dim = x.shape
            qkv = self.qkv(x).reshape(batch, length, 3, self.heads, dim // self.heads)
            q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
            y = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal)
            return self.proj(y.transpose(1, 2).reshape(batch, length, dim))

    class Mlp(B.module):
        """``fc1`` → GELU → ``fc2``."""

        def __init__(self, dim: int, hidden: int) -> None:
            B.setup(self, None)
            self.fc1 = nn.Linear(dim, hidden)
            self.act = nn.GELU()
            self.fc2 = nn.Linear(hidden, dim)

        def forward(self, x: Tensor) -> Tensor:
            return self.fc2(self.act(self.fc1(x)))

    class Block(B.module):
        """Pre-norm transformer block: ``x + attn(norm1(x))``, then ``x + mlp(norm2(x))``."""

        def __init__(self, dim: int, heads: int, hidden: int, causal: bool,
                     init_cfg: Cfg = None) -> None:
            B.setup(self, init_cfg)
            self.norm1 = nn.LayerNorm(dim)
            self.attn = Attention(dim, heads, causal)
            self.norm2 = nn.LayerNorm(dim)
            self.mlp = Mlp(dim, hidden)

        def forward(self, x: Tensor) -> Tensor:
            x = x + self.attn(self.norm1(x))
            return x + self.mlp(self.norm2(x))

    return _named(Attention, "Attention"), _named(Mlp, "Mlp"), _named(Block, "Block")


@lru_cache(maxsize=None)
def _vit_classes(B: Bases) -> tuple[type, type]:
    _, _, Block = _transformer_classes(B)

    class PatchEmbed(B.module):
        """Non-overlapping patches → tokens: one strided ``proj`` Conv2d."""

        def __init__(self, patch_size: int, in_chans: int, dim: int) -> None:
            B.setup(self, None)
            self.proj = nn.Conv2d(in_chans, dim, patch_size, stride=patch_size)

        def forward(self, x: Tensor) -> Tensor:
            return self.proj(x).flatten(2).transpose(1, 2)

    class VisionTransformer(B.module):
        """ViT with a class token and learned position embeddings (timm's layout)."""

        def __init__(self, num_classes: int, img_size: int, patch_size: int, in_chans: int,
                     depth: int, dim: int, heads: int, mlp_ratio: float, init_cfg: Cfg,
                     block_init_cfg: BlockCfg) -> None:
            B.setup(self, init_cfg)
            if img_size % patch_size:
                raise ValueError(f"img_size ({img_size}) must be a multiple of patch_size "
                                 f"({patch_size})")
            tokens = (img_size // patch_size) ** 2 + 1
            hidden = int(dim * mlp_ratio)
            self.patch_embed = PatchEmbed(patch_size, in_chans, dim)
            self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
            self.pos_embed = nn.Parameter(torch.zeros(1, tokens, dim))
            self.blocks = B.module_list([
                Block(dim, heads, hidden, False, init_cfg=_block_cfg(block_init_cfg, f"blocks.{i}"))
                for i in range(depth)
            ])
            self.norm = nn.LayerNorm(dim)
            self.head = nn.Linear(dim, num_classes)

        def forward(self, x: Tensor) -> Tensor:
            x = self.patch_embed(x)
            x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
            for block in self.blocks:
                x = block(x)
            return self.head(self.norm(x)[:, 0])

    return _named(PatchEmbed, "PatchEmbed"), _named(VisionTransformer, "VisionTransformer")


def vit(num_classes: int = 1000, img_size: int = 224, depth: int = 12, dim: int = 768,
        heads: int = 12, mlp_ratio: float = 4, *, patch_size: int = 16, in_chans: int = 3,
        base: Bases | str = "torch", init_cfg: Cfg = None,
        block_init_cfg: BlockCfg = None) -> nn.Module:
    """A Vision Transformer with timm's layout and parameter names.

    ``patch_embed.proj`` (Conv2d), ``cls_token`` and ``pos_embed``
    (``nn.Parameter``, zeros at construction: no ``init_cfg`` writes them, as
    they belong to no layer), ``blocks.{i}`` (``Block``: ``norm1``,
    ``attn.qkv``, ``attn.proj``, ``norm2``, ``mlp.fc1``, ``mlp.fc2``),
    ``norm``, ``head``. Blocks are named ``blocks.{i}`` for ``block_init_cfg``.
    """
    _, cls = _vit_classes(resolve_bases(base))
    return cls(num_classes, img_size, patch_size, in_chans, depth, dim, heads, mlp_ratio,
               init_cfg, block_init_cfg)


def vit_b16(num_classes: int = 1000, img_size: int = 224, depth: int = 12, dim: int = 768,
            heads: int = 12, mlp_ratio: float = 4, *, base: Bases | str = "torch",
            init_cfg: Cfg = None, block_init_cfg: BlockCfg = None) -> nn.Module:
    """ViT-B/16: 16x16 patches; defaults give 86,567,656 parameters (timm's
    ``vit_base_patch16_224`` exactly): 152 tensors, 7,087,872 per block.
    See :func:`vit` for the arguments.
    """
    return vit(num_classes, img_size, depth, dim, heads, mlp_ratio, patch_size=16, base=base,
               init_cfg=init_cfg, block_init_cfg=block_init_cfg)


@lru_cache(maxsize=None)
def _gpt_class(B: Bases) -> type:
    _, _, Block = _transformer_classes(B)

    class GPT(B.module):
        """Decoder-only transformer: token + position ``Embedding``, causal blocks, LM head."""

        def __init__(self, vocab: int, dim: int, depth: int, heads: int, mlp: int, max_len: int,
                     init_cfg: Cfg, block_init_cfg: BlockCfg, tie: bool = False) -> None:
            B.setup(self, init_cfg)
            self.max_len = max_len
            self.tok_emb = nn.Embedding(vocab, dim)
            self.pos_emb = nn.Embedding(max_len, dim)
            self.blocks = B.module_list([
                Block(dim, heads, mlp, True, init_cfg=_block_cfg(block_init_cfg, f"blocks.{i}"))
                for i in range(depth)
            ])
            self.ln_f = nn.LayerNorm(dim)
            self.head = nn.Linear(dim, vocab, bias=False)
            if tie:
                self.head.weight = self.tok_emb.weight

        def forward(self, idx: Tensor) -> Tensor:
            positions = torch.arange(idx.shape[1], device=idx.device)
            x = self.tok_emb(idx) + self.pos_emb(positions)
            for block in self.blocks:
                x = block(x)
            return self.head(self.ln_f(x))

    return _named(GPT, "GPT")


def gpt(vocab: int = 32000, dim: int = 768, depth: int = 12, heads: int = 12, mlp: int = 3072,
        max_len: int = 1024, *, base: Bases | str = "torch", init_cfg: Cfg = None,
        block_init_cfg: BlockCfg = None, tie: bool = False) -> nn.Module:
    """A GPT-2-style decoder: ``tok_emb``, ``pos_emb``, ``blocks.{i}`` (the same
    ``Block`` as :func:`vit`, causal), ``ln_f``, ``head`` (Linear without bias,
    *not* tied to ``tok_emb``).

    Defaults give 134,994,432 parameters: 2 × 24,576,000 for the embedding
    and the head, 786,432 for positions, 7,087,872 per block, 1,536 for
    ``ln_f``. Input: token ids ``(batch, length)`` with ``length <= max_len``;
    output: logits ``(batch, length, vocab)``.
    """
    return _gpt_class(resolve_bases(base))(vocab, dim, depth, heads, mlp, max_len, init_cfg,
                                           block_init_cfg, tie)


# -- ConvNeXt (timm's layout) ----------------------------------------------------------------


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of an ``(N, C, H, W)`` tensor, as timm's ``LayerNorm2d``."""

    def forward(self, x: Tensor) -> Tensor:
        return F.layer_norm(x.permute(0, 2, 3, 1), self.normalized_shape, self.weight,
                            self.bias, self.eps).permute(0, 3, 1, 2)


@lru_cache(maxsize=None)
def _convnext_classes(B: Bases) -> type:
    class ConvMlp(B.module):
        """1x1 ``fc1`` → GELU → 1x1 ``fc2`` (timm's ``conv_mlp=True``)."""

        def __init__(self, dim: int, hidden: int) -> None:
            B.setup(self, None)
            self.fc1 = nn.Conv2d(dim, hidden, 1)
            self.act = nn.GELU()
            self.fc2 = nn.Conv2d(hidden, dim, 1)

        def forward(self, x: Tensor) -> Tensor:
            return self.fc2(self.act(self.fc1(x)))

    class ConvNeXtBlock(B.module):
        """Depthwise 7x7 ``conv_dw``, ``norm``, ``mlp``, layer scale ``gamma``, + shortcut."""

        def __init__(self, dim: int, ls_init_value: float) -> None:
            B.setup(self, None)
            self.conv_dw = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
            self.norm = LayerNorm2d(dim)
            self.mlp = ConvMlp(dim, 4 * dim)
            self.gamma = nn.Parameter(ls_init_value * torch.ones(dim))

        def forward(self, x: Tensor) -> Tensor:
            y = self.mlp(self.norm(self.conv_dw(x)))
            return x + y * self.gamma.reshape(1, -1, 1, 1)

    class ConvNeXtStage(B.module):
        """``downsample`` (LayerNorm2d + 2x2/2 conv; identity in the first stage), ``blocks``."""

        def __init__(self, in_dim: int, dim: int, depth: int, first: bool,
                     ls_init_value: float) -> None:
            B.setup(self, None)
            self.downsample = nn.Identity() if first else B.sequential(
                LayerNorm2d(in_dim), nn.Conv2d(in_dim, dim, 2, stride=2))
            self.blocks = B.sequential(*(ConvNeXtBlock(dim, ls_init_value) for _ in range(depth)))

        def forward(self, x: Tensor) -> Tensor:
            return self.blocks(self.downsample(x))

    class ClassifierHead(B.module):
        """Global average pool, ``norm`` (LayerNorm2d), ``fc``."""

        def __init__(self, dim: int, num_classes: int) -> None:
            B.setup(self, None)
            self.norm = LayerNorm2d(dim)
            self.fc = nn.Linear(dim, num_classes)

        def forward(self, x: Tensor) -> Tensor:
            return self.fc(self.norm(x.mean((2, 3), keepdim=True)).flatten(1))

    class ConvNeXt(B.module):
        """``stem`` (4x4/4 conv + LayerNorm2d), ``stages.{s}``, ``head``."""

        def __init__(self, depths: Sequence[int], dims: Sequence[int], num_classes: int,
                     in_chans: int, ls_init_value: float, init_cfg: Cfg) -> None:
            B.setup(self, init_cfg)
            self.stem = B.sequential(nn.Conv2d(in_chans, dims[0], 4, stride=4),
                                     LayerNorm2d(dims[0]))
            self.stages = B.sequential(*(
                ConvNeXtStage(dims[max(index - 1, 0)], dims[index], depth, index == 0,
                              ls_init_value)
                for index, depth in enumerate(depths)))
            self.head = ClassifierHead(dims[-1], num_classes)

        def forward(self, x: Tensor) -> Tensor:
            return self.head(self.stages(self.stem(x)))

    for cls in (ConvMlp, ConvNeXtBlock, ConvNeXtStage, ClassifierHead):
        _named(cls, cls.__name__)
    return _named(ConvNeXt, "ConvNeXt")


def convnext(depths: Sequence[int] = (2, 2, 6, 2), dims: Sequence[int] = (40, 80, 160, 320),
             num_classes: int = 1000, in_chans: int = 3, ls_init_value: float = 1e-6, *,
             base: Bases | str = "torch", init_cfg: Cfg = None) -> nn.Module:
    """A ConvNeXt with timm's layout and parameter names (``conv_mlp=True``, as ``convnext_atto``).

    ``stem.0`` (Conv2d), ``stem.1`` (``LayerNorm2d``), ``stages.{s}.downsample.{0,1}``
    (after the first stage), ``stages.{s}.blocks.{b}`` (``conv_dw``, ``norm``,
    ``mlp.fc1``, ``mlp.fc2``, the raw parameter ``gamma`` = ``ls_init_value``),
    ``head.norm``, ``head.fc``. The defaults are ``convnext_atto``'s depths and widths.
    """
    if len(depths) != len(dims):
        raise ValueError(f"depths and dims must have the same length, got {depths} and {dims}")
    cls = _convnext_classes(resolve_bases(base))
    return cls(tuple(depths), tuple(dims), num_classes, in_chans, ls_init_value, init_cfg)


# -- Llama (torchtitan's layout) -------------------------------------------------------------


@lru_cache(maxsize=None)
def _titan_classes(B: Bases) -> type:
    class FusedQKV(B.module):
        """One ``wqkv`` Linear for queries, keys and values (torchtitan 0.3's ``qkv_linear``)."""

        def __init__(self, dim: int, out: int) -> None:
            B.setup(self, None)
            self.wqkv = nn.Linear(dim, out, bias=False)

        def forward(self, x: Tensor) -> Tensor:
            return self.wqkv(x)

    class RoPE(B.module):
        """Rotary embedding: the non-persistent complex buffer ``cache``, computed at build
        and again by ``reset_parameters`` (what ``materialize`` runs for a model built on
        meta, where the build computed nothing)."""

        def __init__(self, head_dim: int, max_seq_len: int, theta: float) -> None:
            B.setup(self, None)
            self.head_dim, self.max_seq_len, self.theta = head_dim, max_seq_len, theta
            self.register_buffer("cache", self._angles(None), persistent=False)

        def _angles(self, device: torch.device | None) -> Tensor:
            d = self.head_dim
            exponents = torch.arange(0, d, 2, device=device)[: d // 2].float() / d
            freqs = 1.0 / self.theta ** exponents
            angles = torch.outer(torch.arange(self.max_seq_len, device=device).float(), freqs)
            return torch.polar(torch.ones_like(angles), angles)

        def reset_parameters(self) -> None:
            with torch.no_grad():
                self.cache.copy_(self._angles(self.cache.device))

    class Attention(B.module):
        """``qkv_linear.wqkv``, ``wo`` and ``rope`` (no biases)."""

        def __init__(self, dim: int, heads: int, kv_heads: int, max_seq_len: int,
                     theta: float) -> None:
            B.setup(self, None)
            head_dim = dim // heads
            self.heads, self.kv_heads, self.head_dim = heads, kv_heads, head_dim
            self.qkv_linear = FusedQKV(dim, (heads + 2 * kv_heads) * head_dim)
            self.wo = nn.Linear(heads * head_dim, dim, bias=False)
            self.rope = RoPE(head_dim, max_seq_len, theta)

        def forward(self, x: Tensor) -> Tensor:
            batch, length, _ = x.shape
            q, k, v = self.qkv_linear(x).split(
                [self.heads * self.head_dim, self.kv_heads * self.head_dim,
                 self.kv_heads * self.head_dim], dim=-1)
            q, k, v = (t.reshape(batch, length, -1, self.head_dim).transpose(1, 2)
                       for t in (q, k, v))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                               enable_gqa=self.heads != self.kv_heads)
            return self.wo(y.transpose(1, 2).reshape(batch, length, -1))

    class FeedForward(B.module):
        """SwiGLU: ``w2(silu(w1(x)) * w3(x))``."""

        def __init__(self, dim: int, hidden: int) -> None:
            B.setup(self, None)
            self.w1 = nn.Linear(dim, hidden, bias=False)
            self.w2 = nn.Linear(hidden, dim, bias=False)
            self.w3 = nn.Linear(dim, hidden, bias=False)

        def forward(self, x: Tensor) -> Tensor:
            return self.w2(F.silu(self.w1(x)) * self.w3(x))

    class TransformerBlock(B.module):
        """``attention``, ``feed_forward``, ``attention_norm``, ``ffn_norm`` (RMSNorm)."""

        def __init__(self, dim: int, heads: int, kv_heads: int, hidden: int, max_seq_len: int,
                     theta: float) -> None:
            B.setup(self, None)
            self.attention = Attention(dim, heads, kv_heads, max_seq_len, theta)
            self.feed_forward = FeedForward(dim, hidden)
            self.attention_norm = nn.RMSNorm(dim, eps=1e-5)
            self.ffn_norm = nn.RMSNorm(dim, eps=1e-5)

        def forward(self, x: Tensor) -> Tensor:
            x = x + self.attention(self.attention_norm(x))
            return x + self.feed_forward(self.ffn_norm(x))

    class Llama3Model(B.module):
        """``tok_embeddings``, ``layers.{i}``, ``norm``, ``lm_head`` (not tied)."""

        def __init__(self, vocab: int, dim: int, n_layers: int, heads: int, kv_heads: int,
                     hidden: int, max_seq_len: int, theta: float, init_cfg: Cfg) -> None:
            B.setup(self, init_cfg)
            self.tok_embeddings = nn.Embedding(vocab, dim)
            self.layers = B.module_list([
                TransformerBlock(dim, heads, kv_heads, hidden, max_seq_len, theta)
                for _ in range(n_layers)])
            self.norm = nn.RMSNorm(dim, eps=1e-5)
            self.lm_head = nn.Linear(dim, vocab, bias=False)

        def forward(self, tokens: Tensor) -> Tensor:
            x = self.tok_embeddings(tokens)
            for layer in self.layers:
                x = layer(x)
            return self.lm_head(self.norm(x))

    for cls in (FusedQKV, RoPE, Attention, FeedForward, TransformerBlock):
        _named(cls, cls.__name__)
    return _named(Llama3Model, "Llama3Model")


def titan_llama3(vocab: int = 256, dim: int = 64, n_layers: int = 3, heads: int = 4,
                 kv_heads: int | None = None, hidden: int = 256, max_seq_len: int = 128,
                 theta: float = 500000.0, *, base: Bases | str = "torch",
                 init_cfg: Cfg = None) -> nn.Module:
    """A Llama 3 with torchtitan 0.3's layout and names (defaults: its shrunk ``debugmodel``).

    ``tok_embeddings``, ``layers.{i}.attention.qkv_linear.wqkv`` (fused q, k, v),
    ``layers.{i}.attention.wo``, ``layers.{i}.attention.rope.cache`` (a
    non-persistent complex buffer), ``layers.{i}.feed_forward.w1/w2/w3``,
    ``layers.{i}.attention_norm``, ``ffn_norm``, ``norm`` (``nn.RMSNorm``),
    ``lm_head``. No biases.
    """
    if dim % heads:
        raise ValueError(f"dim ({dim}) must be divisible by heads ({heads})")
    cls = _titan_classes(resolve_bases(base))
    return cls(vocab, dim, n_layers, heads, kv_heads or heads, hidden, max_seq_len, theta,
               init_cfg)


# -- Stress shapes ---------------------------------------------------------------------------


@lru_cache(maxsize=None)
def _stress_classes(B: Bases) -> tuple[type, type, type]:
    class Level(B.module):
        """One level of :func:`nested_chain`: ``fc``, ``norm`` and the next level ``inner``."""

        def __init__(self, width: int, inner: nn.Module | None, init_cfg: Cfg) -> None:
            B.setup(self, init_cfg)
            self.fc = nn.Linear(width, width)
            self.norm = nn.LayerNorm(width)
            self.inner = inner

        def forward(self, x: Tensor) -> Tensor:
            y = self.norm(self.fc(x))
            return x + (y if self.inner is None else self.inner(y))

    class Leaf(B.module):
        """One block of :func:`siblings`: ``fc`` then ``norm``."""

        def __init__(self, width: int, init_cfg: Cfg) -> None:
            B.setup(self, init_cfg)
            self.fc = nn.Linear(width, width)
            self.norm = nn.LayerNorm(width)

        def forward(self, x: Tensor) -> Tensor:
            return self.norm(self.fc(x))

    class Siblings(B.module):
        """Many :class:`Leaf` blocks side by side under one ``blocks`` ModuleList."""

        def __init__(self, count: int, width: int, init_cfg: Cfg,
                     block_init_cfg: BlockCfg) -> None:
            B.setup(self, init_cfg)
            self.blocks = B.module_list([
                Leaf(width, _block_cfg(block_init_cfg, f"blocks.{i}")) for i in range(count)
            ])

        def forward(self, x: Tensor) -> Tensor:
            return sum(block(x) for block in self.blocks)

    return _named(Level, "Level"), _named(Leaf, "Leaf"), _named(Siblings, "Siblings")


def nested_chain(depth: int = 64, width: int = 16, *, base: Bases | str = "torch",
                 init_cfg: BlockCfg = None) -> nn.Module:
    """``depth`` nested ``Level`` modules: level ``i`` holds ``fc`` (Linear), ``norm``
    (LayerNorm) and level ``i+1`` as ``inner`` (the deepest has ``inner=None``).

    ``init_cfg`` is every level's (one cfg, or a callable of the level's
    qualified name: ``""``, ``"inner"``, ``"inner.inner"``, …). A cfg with
    ``layer='Linear'`` at every level draws for every deeper ``fc`` too —
    ``depth * (depth + 1) / 2`` draws, the quadratic cost mmengine's
    semantics prescribe. ``(width + 1) * width + 2 * width`` parameters per level.
    """
    level, _, _ = _stress_classes(resolve_bases(base))
    inner: nn.Module | None = None
    for index in reversed(range(depth)):
        inner = level(width, inner, _block_cfg(init_cfg, ".".join(["inner"] * index)))
    return inner


def siblings(count: int = 4096, width: int = 8, *, base: Bases | str = "torch",
             init_cfg: Cfg = None, block_init_cfg: BlockCfg = None) -> nn.Module:
    """``count`` small ``Leaf`` blocks (``fc`` Linear + ``norm`` LayerNorm, named
    ``blocks.{i}``) under one ``blocks`` ModuleList; ``init_cfg`` is the root's.
    ``(width + 1) * width + 2 * width`` parameters per block.
    """
    _, _, cls = _stress_classes(resolve_bases(base))
    return cls(count, width, init_cfg, block_init_cfg)


def parameter_count(model: nn.Module) -> int:
    """Number of parameter elements (shared parameters counted once)."""
    return sum(p.numel() for p in model.parameters())

