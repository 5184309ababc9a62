"""Small models for the language tests, buildable on initdsl's or mmengine's BaseModule.

Each factory takes ``base``, the ``BaseModule`` class to build composites
on, so one architecture can be initialized by a policy (``initdsl.apply``),
by initdsl's ``init_weights`` and by mmengine's ``init_weights``, and the
results compared byte for byte.
"""

from __future__ import annotations

import torch
from torch import nn

import initdsl


def same_bytes(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Whether two tensors hold exactly the same bits (so -0.0 != 0.0 and NaN == NaN)."""
    a = a.detach().reshape(-1).contiguous()
    b = b.detach().reshape(-1).contiguous()
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    return torch.equal(a.view(torch.uint8), b.view(torch.uint8))


def assert_same_state(a: nn.Module, b: nn.Module) -> None:
    """Same parameter and buffer names, in order, with the same bytes."""
    state_a, state_b = a.state_dict(), b.state_dict()
    assert list(state_a) == list(state_b)
    for name in state_a:
        assert same_bytes(state_a[name], state_b[name]), name


def writers(model: nn.Module) -> dict[str, str | None]:
    return {name: record.writer for name, record in initdsl.provenance(model).items()}


# -- the models of mmengine's weight-initialization tutorial --------------------------------


def toy_pretrained(base=initdsl.BaseModule, init_cfg=None):
    class ToyNet(base):
        def __init__(self, init_cfg=None):
            super().__init__(init_cfg)
            self.conv1 = nn.Linear(1, 1)

    return ToyNet(init_cfg)


def toy_linear_conv(base=initdsl.BaseModule, init_cfg=None):
    class ToyNet(base):
        def __init__(self, init_cfg=None):
            super().__init__(init_cfg)
            self.linear = nn.Linear(1, 1)
            self.conv = nn.Conv2d(1, 1, 1)

    return ToyNet(init_cfg)


def toy_two_convs(base=initdsl.BaseModule, init_cfg=None):
    class ToyNet(base):
        def __init__(self, init_cfg=None):
            super().__init__(init_cfg)
            self.conv1 = nn.Conv2d(1, 1, 1)
            self.conv2 = nn.Conv2d(1, 1, 1)

    return ToyNet(init_cfg)


class ToyConv(nn.Module):
    """The tutorial's plain module with its own ``init_weights``."""

    def __init__(self):
        super().__init__()
        self.custom_weight = nn.Parameter(torch.empty(1, 1, 1, 1))
        self.custom_bias = nn.Parameter(torch.empty(1))

    def init_weights(self):
        with torch.no_grad():
            self.custom_weight = self.custom_weight.fill_(1)
            self.custom_bias = self.custom_bias.fill_(0)


def toy_custom(base=initdsl.BaseModule, init_cfg=None):
    class ToyNet(base):
        def __init__(self, init_cfg=None):
            super().__init__(init_cfg)
            self.conv1 = nn.Conv2d(1, 1, 1)
            self.conv2 = nn.Conv2d(1, 1, 1)
            self.custom_conv = ToyConv()

    return ToyNet(init_cfg)


# -- a RetinaNet-style detector (examples/resnet.init) ---------------------------------------


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or inplanes != planes * 4:
            self.downsample = nn.Sequential(
                nn.Conv2d(inplanes, planes * 4, 1, stride, bias=False), nn.BatchNorm2d(planes * 4))


def detector(base=initdsl.BaseModule, backbone_cfg=None, neck_cfg=None, head_cfg=None,
             width: int = 2, depths=(2, 1, 1, 1)):
    """torchvision ResNet-50 module names (tiny widths), an FPN neck, a RetinaNet head."""

    class ResNet(base):
        def __init__(self, init_cfg=None):
            super().__init__(init_cfg)
            self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(width)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            inplanes = width
            for index, count in enumerate(depths):
                planes = width * 2**index
                blocks = []
                for number in range(count):
                    blocks.append(Bottleneck(inplanes, planes, 2 if number == 0 and index else 1))
                    inplanes = planes * 4
                self.add_module(f"layer{index + 1}", nn.Sequential(*blocks))

    class FPN(base):
        def __init__(self, init_cfg=None):
            super().__init__(init_cfg)
            ins = [width * 4 * 2**i for i in range(1, len(depths))]
            self.lateral_convs = nn.ModuleList(nn.Conv2d(c, 4, 1) for c in ins)
            self.fpn_convs = nn.ModuleList(nn.Conv2d(4, 4, 3, padding=1) for _ in ins)

    class RetinaHead(base):
        def __init__(self, init_cfg=None):
            super().__init__(init_cfg)
            self.cls_convs = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.ReLU())
            self.reg_convs = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.ReLU())
            self.retina_cls = nn.Conv2d(4, 9 * 3, 3, padding=1)
            self.retina_reg = nn.Conv2d(4, 9 * 4, 3, padding=1)

    class RetinaNet(base):
        def __init__(self):
            super().__init__(None)
            self.backbone = ResNet(backbone_cfg)
            self.neck = FPN(neck_cfg)
            self.head = RetinaHead(head_cfg)

    return RetinaNet()


# -- a ViT-style classifier (examples/vit.init) ------------------------------------------------


class Attention(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)


class Mlp(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, dim * 4)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(dim * 4, dim)


class Block(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim)


class PatchEmbed(nn.Module):
    def __init__(self, dim: int, patch: int = 4):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, patch, patch)


def vit(base=initdsl.BaseModule, init_cfg=None, dim: int = 8, depth: int = 2,
        classes: int = 5):
    """timm VisionTransformer module and parameter names, tiny sizes."""

    class VisionTransformer(base):
        def __init__(self, init_cfg=None):
            super().__init__(init_cfg)
            self.patch_embed = PatchEmbed(dim)
            self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
            self.pos_embed = nn.Parameter(torch.randn(1, 17, dim) * 0.02)
            self.blocks = nn.Sequential(*(Block(dim) for _ in range(depth)))
            self.norm = nn.LayerNorm(dim)
            self.head = nn.Linear(dim, classes)

    return VisionTransformer(init_cfg)


# -- a tiny model for the property tests --------------------------------------------------------


class Tiny(nn.Module):
    """Every kind of target the generated configurations use, as small as possible."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(2, 3, 1)
        self.conv2 = nn.Conv2d(3, 2, 1)
        self.bn = nn.BatchNorm2d(2)
        self.fc = nn.Linear(2, 3)
        self.seq = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Sequential(nn.Conv2d(2, 2, 1)))
