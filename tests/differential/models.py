"""Model builders parameterized by a kit (initdsl's or mmengine's base classes).

Every builder defines its classes inside the function, so the initdsl model
and the mmengine model have the same class names and structure; only the
base classes differ. Builders are called under a fixed seed by the harness.
"""

from __future__ import annotations

import torch
from torch import nn


class MyConv(nn.Conv2d):
    """Direct subclass of Conv2d: matches 'MyConv', 'Conv2d'."""


class MyConv2(MyConv):
    """Grandchild of Conv2d: matches 'MyConv2', 'MyConv' — not 'Conv2d'."""


class Custom(nn.Module):
    """A user leaf whose weight has an unusual shape (direct base Module)."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(2, 3, 4))
        self.bias = nn.Parameter(torch.randn(2))


def zoo(kit, init_cfg=None):
    """One BaseModule holding many layer kinds (every leaf of the spec's tables)."""

    class Zoo(kit.BaseModule):
        def __init__(self):
            super().__init__(init_cfg)
            self.conv1d = nn.Conv1d(2, 3, 3)
            self.conv2d = nn.Conv2d(3, 4, 3)
            self.conv3d = nn.Conv3d(2, 2, 2, bias=False)
            self.deconv = nn.ConvTranspose2d(4, 6, 2, groups=2)
            self.bn1 = nn.BatchNorm1d(3)
            self.bn2 = nn.BatchNorm2d(4)
            self.gn = nn.GroupNorm(2, 4)
            self.ln = nn.LayerNorm(5)
            self.inorm = nn.InstanceNorm2d(4, affine=True)
            self.emb = nn.Embedding(10, 5)
            self.fc = nn.Linear(5, 7)
            self.fc_nobias = nn.Linear(7, 3, bias=False)
            self.fc64 = nn.Linear(3, 3, dtype=torch.float64)
            self.attn = nn.MultiheadAttention(8, 2)
            self.prelu = nn.PReLU()
            self.myconv = MyConv(2, 3, 1)
            self.myconv2 = MyConv2(3, 2, 1)
            self.custom = Custom()
            self.head = nn.Sequential(nn.Linear(7, 7), nn.ReLU(), nn.Linear(7, 2))
            self.lstm = nn.LSTM(2, 2)  # no `weight`; bool `bias`: never matched here
            # class ParametrizedLinear (base Linear): writes go to a temporary weight
            self.wn = nn.utils.parametrizations.weight_norm(nn.Linear(3, 3))

    return Zoo()


def plain_zoo(kit=None):
    """A plain nn.Module tree (for ``initialize``): no BaseModule anywhere."""

    class Plain(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU())
            self.deconv = nn.ConvTranspose1d(4, 2, 3)
            self.ln = nn.LayerNorm(4)
            self.fc = nn.Linear(4, 5)
            self.head = nn.ModuleDict({"cls": nn.Linear(5, 3), "reg": nn.Linear(5, 4)})

    return Plain()


def nested(kit, net_cfg=None, backbone_cfg=None, layers_cfg=None, block_cfg=None,
           head_cfg=None):
    """Nested BaseModules, each with its own cfg; blocks inside a BaseModule Sequential."""

    class Block(kit.BaseModule):
        def __init__(self, c):
            super().__init__(block_cfg)
            self.conv = nn.Conv2d(c, c, 3, padding=1)
            self.bn = nn.BatchNorm2d(c)

    class Backbone(kit.BaseModule):
        def __init__(self):
            super().__init__(backbone_cfg)
            self.stem = nn.Conv2d(3, 4, 3)
            self.layers = kit.Sequential(Block(4), Block(4), init_cfg=layers_cfg)

    class Head(kit.BaseModule):
        def __init__(self):
            super().__init__(head_cfg)
            self.fc = nn.Linear(4, 6)
            self.cls = nn.Linear(6, 3)

    class Net(kit.BaseModule):
        def __init__(self):
            super().__init__(net_cfg)
            self.backbone = Backbone()
            self.head = Head()

    return Net()


def user_children(kit, net_cfg=None, style="all"):
    """Children with their own ``init_weights``: plain modules and a BaseModule subclass."""

    class PlainData(nn.Module):  # writes through .data and by replacing .data
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 3)
            self.scale = nn.Parameter(torch.ones(3))

        def init_weights(self):
            self.fc.weight.data.normal_(0, 0.5)
            self.scale.data = torch.full((3,), 2.0)

    class PlainInplace(nn.Module):  # writes through nn.init on the parameter
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 3)

        def init_weights(self):
            nn.init.uniform_(self.fc.weight, -0.1, 0.1)
            with torch.no_grad():
                self.fc.bias.add_(1.0)

    class PlainCallsInitialize(nn.Module):  # user code that calls initialize()
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(2, 2, 1)
            self.fc = nn.Linear(2, 2)

        def init_weights(self):
            kit.initialize(self, dict(type="Kaiming", layer="Conv2d", mode="fan_in"))
            nn.init.constant_(self.fc.weight, 0.5)

    class Overriding(kit.BaseModule):  # BaseModule subclass, calls super() then writes
        def __init__(self):
            super().__init__(init_cfg=dict(type="Constant", val=3.0, layer="Linear"))
            self.fc = nn.Linear(2, 2)
            self.extra = nn.Linear(2, 2)
            self.inner = PlainInplace()

        def init_weights(self):
            super().init_weights()
            nn.init.constant_(self.extra.weight, 5.0)

    class NoSuper(kit.BaseModule):  # overrides init_weights without super(): own cfg skipped
        def __init__(self):
            super().__init__(init_cfg=dict(type="Constant", val=9.0, layer="Linear"))
            self.fc = nn.Linear(2, 2)

        def init_weights(self):
            nn.init.constant_(self.fc.bias, -1.0)

    class Net(kit.BaseModule):
        def __init__(self):
            super().__init__(net_cfg)
            self.data = PlainData()
            self.inplace = PlainInplace()
            self.calls = PlainCallsInitialize()
            self.overriding = Overriding()
            self.nosuper = NoSuper()
            self.plain_fc = nn.Linear(3, 3)

    return Net()


def is_init_children(kit, net_cfg=None, child_cfg=None, mark=("a",)):
    """Children marked ``is_init`` before the parent runs."""

    class Child(kit.BaseModule):
        def __init__(self):
            super().__init__(child_cfg)
            self.fc = nn.Linear(3, 3)
            self.bn = nn.BatchNorm1d(3)

    class Net(kit.BaseModule):
        def __init__(self):
            super().__init__(net_cfg)
            self.a = Child()
            self.b = Child()

    net = Net()
    for name in mark:
        getattr(net, name).is_init = True
    return net


def child_initialized_first(kit, net_cfg=None, child_cfg=None):
    """``child.init_weights()`` then ``parent.init_weights()``: the parent clobbers, no re-run."""
    net = is_init_children(kit, net_cfg, child_cfg, mark=())
    return net


def shared(kit, cfg=None, child_cfg=None):
    """A leaf registered under two parents and a BaseModule child shared by two parents."""

    class Child(kit.BaseModule):
        def __init__(self):
            super().__init__(child_cfg)
            self.fc = nn.Linear(3, 3)

    class Holder(kit.BaseModule):
        def __init__(self, leaf, child):
            super().__init__()
            self.leaf = leaf
            self.child = child

    class Net(kit.BaseModule):
        def __init__(self):
            super().__init__(cfg)
            leaf = nn.Linear(4, 4)
            child = Child()
            self.left = Holder(leaf, child)
            self.right = Holder(leaf, child)
            self.plain = nn.Sequential(leaf)

    return Net()


def containers(kit, seq_cfg=None, list_cfg=None, dict_cfg=None, inner_cfg=None, net_cfg=None):
    """kit containers chain; a plain nn.Sequential blocks the chain."""

    class Inner(kit.BaseModule):
        def __init__(self):
            super().__init__(inner_cfg)
            self.fc = nn.Linear(2, 2)

    class Net(kit.BaseModule):
        def __init__(self):
            super().__init__(net_cfg)
            self.seq = kit.Sequential(Inner(), nn.Linear(2, 2), init_cfg=seq_cfg)
            self.lst = kit.ModuleList([Inner(), nn.Conv1d(2, 2, 1)], init_cfg=list_cfg)
            self.dct = kit.ModuleDict({"x": Inner(), "y": nn.Linear(2, 2)}, init_cfg=dict_cfg)
            self.blocked = nn.Sequential(Inner(), nn.Linear(2, 2))
            self.blocked_list = nn.ModuleList([Inner()])

    return Net()


def transformer(kit, cfg=None, layer_cfg=None):
    """A small ViT-like encoder."""

    class EncoderLayer(kit.BaseModule):
        def __init__(self, d):
            super().__init__(layer_cfg)
            self.norm1 = nn.LayerNorm(d)
            self.attn = nn.MultiheadAttention(d, 2)
            self.norm2 = nn.LayerNorm(d)
            self.ffn = kit.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))

    class Encoder(kit.BaseModule):
        def __init__(self):
            super().__init__(cfg)
            self.patch = nn.Conv2d(3, 8, 4, stride=4)
            self.pos = nn.Embedding(16, 8)
            self.layers = kit.ModuleList([EncoderLayer(8) for _ in range(2)])
            self.norm = nn.LayerNorm(8)
            self.torch_layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16)
            self.head = nn.Linear(8, 5)

    return Encoder()


def resnet(kit, cfg=None, block_cfg=None):
    """A small ResNet-like network: blocks with BN, a plain-Sequential downsample."""

    class BasicBlock(kit.BaseModule):
        def __init__(self, cin, cout, stride=1):
            super().__init__(block_cfg)
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.downsample = None
            if stride != 1 or cin != cout:
                self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                                nn.BatchNorm2d(cout))

    class ResNet(kit.BaseModule):
        def __init__(self):
            super().__init__(cfg)
            self.conv1 = nn.Conv2d(3, 4, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(4)
            self.layer1 = kit.Sequential(BasicBlock(4, 4), BasicBlock(4, 4))
            self.layer2 = kit.Sequential(BasicBlock(4, 8, 2), BasicBlock(8, 8))
            self.fc = nn.Linear(8, 10)

    return ResNet()


def small(kit, init_cfg=None, child_cfg=None):
    """The fixed family the hypothesis tests draw cfgs for."""

    class Branch(kit.BaseModule):
        def __init__(self):
            super().__init__(child_cfg)
            self.conv = nn.Conv2d(2, 3, 3)
            self.bn = nn.BatchNorm2d(3)
            self.myconv = MyConv(3, 3, 1)

    class Small(kit.BaseModule):
        def __init__(self):
            super().__init__(init_cfg)
            self.stem = nn.Conv1d(2, 2, 3)
            self.branch = Branch()
            self.deconv = nn.ConvTranspose2d(3, 2, 2)
            self.ln = nn.LayerNorm(4)
            self.fc = nn.Linear(4, 6)
            self.head = nn.Sequential(nn.Linear(6, 6), nn.ReLU(), nn.Linear(6, 2, bias=False))

    return Small()


# Names usable in `layer` for `small`, split by whether the matched weights are >= 2-D
# (Kaiming/Xavier need that) — class names and direct-base names.
SMALL_LAYERS_2D = ["Conv1d", "Conv2d", "ConvTranspose2d", "Linear", "_ConvNd",
                   "_ConvTransposeNd", "MyConv"]
SMALL_LAYERS_1D = ["BatchNorm2d", "_BatchNorm", "LayerNorm"]
SMALL_LAYERS_OTHER = ["Module", "Branch", "Sequential", "Small", "Conv3d", "ReLU", "_NormBase"]
SMALL_CHILDREN_2D = ["stem", "deconv", "fc", "head"]  # overridable with Kaiming/Xavier
SMALL_CHILDREN_1D = ["branch", "ln"]  # contain 1-D weights


def user_root(kit):
    """The root itself overrides ``init_weights``: writes before and after ``super()``."""

    class Leaf(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 2)

        def init_weights(self):
            nn.init.uniform_(self.fc.weight, 2.0, 3.0)

    class Root(kit.BaseModule):
        def __init__(self):
            super().__init__(dict(type="Normal", layer="Linear"))
            self.fc = nn.Linear(2, 2)
            self.extra = nn.Linear(2, 2)
            self.leaf = Leaf()
            self.free = nn.Parameter(torch.zeros(2))

        def init_weights(self):
            nn.init.constant_(self.fc.weight, 7.0)  # overwritten by super()
            self.free.data.normal_()  # nothing later writes it
            super().init_weights()
            self.extra.weight.data.fill_(5.0)

    return Root()


class NeedsArgs(nn.Module):
    """Old mmcv signature: called with no arguments by the parent."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 2)

    def init_weights(self, pretrained):
        pass


def err_net(kit, init_cfg=None, child_cfg=None, extra=None):
    """The model of the error tables (same layout as tests/core/test_errors.py)."""

    class Child(kit.BaseModule):
        def __init__(self):
            super().__init__(child_cfg)
            self.fc = nn.Linear(3, 3)

    class Net(kit.BaseModule):
        def __init__(self):
            super().__init__(init_cfg)
            self.conv = nn.Conv2d(2, 3, 3)
            self.bn = nn.BatchNorm2d(3)
            self.ln = nn.LayerNorm(3)
            self.fc = nn.Linear(3, 3)
            self.lstm = nn.LSTM(2, 2)
            self.child = Child()
            if extra is not None:
                self.extra = extra()

    return Net()
