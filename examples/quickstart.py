"""Initialize a small detector-style model from mmengine-style ``init_cfg`` and
print, for every parameter, which rule wrote it.

Run:  python examples/quickstart.py
"""

import logging
import os
import tempfile

import torch
from torch import nn

import initdsl
from initdsl import BaseModule, Sequential


class Backbone(BaseModule):
    def __init__(self, init_cfg=None):
        super().__init__(init_cfg)
        self.conv1 = nn.Conv2d(3, 16, 3)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 32, 3)
        self.bn2 = nn.BatchNorm2d(32)


class Head(BaseModule):
    def __init__(self, init_cfg=None):
        super().__init__(init_cfg)
        self.fc = nn.Linear(32, 10)

    def init_weights(self):
        super().init_weights()
        # user code after the cfg: initdsl attributes this write to Head.init_weights
        nn.init.zeros_(self.fc.bias)


class Detector(BaseModule):
    def __init__(self, checkpoint):
        super().__init__(
            init_cfg=[
                dict(type="Kaiming", layer="Conv2d", mode="fan_out"),
                dict(type="Constant", layer="_BatchNorm", val=1, bias=0),
            ]
        )
        # Kaiming for the backbone's convs, with a Xavier override on conv2
        self.backbone = Backbone(
            init_cfg=[
                dict(type="Kaiming", layer="Conv2d",
                     override=dict(name="conv2", type="Xavier", distribution="uniform")),
                # Pretrained at the top level of a cfg list runs last, after the children
                dict(type="Pretrained", checkpoint=checkpoint, prefix="backbone."),
            ]
        )
        self.neck = Sequential(nn.Conv2d(32, 32, 1), nn.ReLU())
        self.head = Head(init_cfg=dict(type="Normal", layer="Linear", std=0.01, bias_prob=0.01))


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    with tempfile.TemporaryDirectory() as tmp:
        # A checkpoint holding only the backbone's first conv, as a partial load.
        checkpoint = os.path.join(tmp, "backbone.pth")
        donor = Backbone()
        torch.save({"state_dict": {f"backbone.conv1.{k}": v for k, v in donor.conv1.state_dict().items()}},
                   checkpoint)

        torch.manual_seed(0)
        model = Detector(checkpoint)
        model.init_weights()

        report = initdsl.provenance(model)
        print(f"{'parameter':<22} {'shape':<16} {'writer':<22} rule")
        for name, record in report.items():
            shape = "x".join(map(str, report.shape(name)))
            print(f"{name:<22} {shape:<16} {record.writer or '-':<22} {record.origin or ''}")
        for load in report.loads:
            print(f"\nloaded {len(load.loaded)} tensors from {os.path.basename(load.checkpoint)}"
                  f" (prefix {load.prefix!r}); missing: {', '.join(load.missing) or 'none'}")


if __name__ == "__main__":
    main()
