"""Any box of a tensor filled alone equals that box of the whole tensor's single-process fill."""

from __future__ import annotations

import pytest
import torch

from initdsl.core.distributions import Constant, Normal, TruncNormal, Uniform
from initdsl.fast.executor import _fill
from initdsl.fast.rng import BLOCK_SIZE, blocks
from initdsl.fast.shards import box_blocks, fill_box

SHAPE = (1536, 1024)  # 1.5 blocks: boxes cross the block boundary
DISTS = [Normal(0.0, 0.02), Uniform(-0.1, 0.1), TruncNormal(0.0, 1.0, -0.5, 0.5),
         TruncNormal(0.0, 0.02, -2.0, 2.0), Constant(3.0)]


def _whole(shape, dist, seed=7, key="layers.0.w"):
    flat = torch.empty(torch.Size(shape).numel())
    for block in blocks(flat.numel()):
        _fill(flat, block, dist, seed, key)
    return flat.view(shape)


BOXES = [((0, 0), (768, 1024)), ((768, 0), (768, 1024)),  # Shard(0) over 2 ranks
         ((0, 0), (1536, 512)), ((0, 512), (1536, 512)),  # Shard(1)
         ((384, 256), (384, 256)), ((1020, 1000), (5, 24)),  # a 2-D tile, a corner
         ((0, 0), SHAPE)]


@pytest.mark.parametrize("dist", DISTS, ids=lambda d: type(d).__name__)
@pytest.mark.parametrize("offset, local", BOXES)
def test_a_box_equals_the_whole_fill(dist, offset, local):
    whole = _whole(SHAPE, dist)
    out = torch.empty(local)
    fill_box(out, SHAPE, offset, dist, 7, "layers.0.w")
    expected = whole[offset[0]:offset[0] + local[0], offset[1]:offset[1] + local[1]]
    assert torch.equal(out, expected)


def test_row_shards_draw_only_their_blocks():
    assert list(box_blocks(SHAPE, (0, 0), (512, 1024))) == [0]
    assert list(box_blocks(SHAPE, (1024, 0), (512, 1024))) == [1]
    assert list(box_blocks((4, 4), (0, 0), (0, 4))) == []
    assert BLOCK_SIZE == 1 << 20


def test_three_dimensions_and_an_empty_box():
    shape = (3, 700, 600)
    whole = _whole(shape, Normal(0.0, 1.0))
    out = torch.empty(2, 300, 100)
    fill_box(out, shape, (1, 400, 500), Normal(0.0, 1.0), 7, "layers.0.w")
    assert torch.equal(out, whole[1:3, 400:700, 500:600])
    empty = torch.empty(0, 600)
    fill_box(empty, (3, 600), (3, 0), Normal(0.0, 1.0), 7, "x")
