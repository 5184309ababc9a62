"""Any part of a tensor filled alone equals that part of the whole tensor's single-process fill."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from initdsl.core.distributions import Constant, Normal, TruncNormal, Uniform
from initdsl.fast.executor import _fill
from initdsl.fast.rng import BLOCK_SIZE, blocks
from initdsl.fast.shards import box, fill_box, fill_selection, selection_blocks, take

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
    assert selection_blocks(SHAPE, box((0, 0), (512, 1024))) == [0]
    assert selection_blocks(SHAPE, box((1024, 0), (512, 1024))) == [1]
    assert selection_blocks(SHAPE, box((1000, 0), (100, 1024))) == [0, 1]
    assert selection_blocks((4, 4), box((0, 0), (0, 4))) == []
    assert BLOCK_SIZE == 1 << 20


def test_strided_rows_and_columns_equal_the_whole_fill():
    # FSDP2 over tensor parallelism holds interleaved rows (_StridedShard)
    whole = _whole(SHAPE, Normal(0.0, 1.0))
    rows = torch.cat([torch.arange(0, 192), torch.arange(768, 960)])
    cols = torch.arange(3, 1024, 7)
    out = torch.empty(len(rows), len(cols))
    fill_selection(out, SHAPE, (rows, cols), Normal(0.0, 1.0), 7, "layers.0.w")
    assert torch.equal(out, whole[rows][:, cols])
    assert torch.equal(take(whole, (rows, cols)), whole[rows][:, cols])


def test_a_zero_dim_tensor_and_take_of_ranges_is_a_view():
    scalar = torch.empty(())
    fill_selection(scalar, (), (), Normal(0.0, 1.0), 7, "s")
    assert torch.equal(scalar, _whole((), Normal(0.0, 1.0), key="s"))
    whole = torch.arange(24.0).view(4, 6)
    part = take(whole, box((1, 2), (2, 3)))
    assert part.data_ptr() == whole[1, 2].data_ptr()  # sliced, not copied
    assert torch.equal(part, whole[1:3, 2:5])


def test_a_wrong_part_shape_is_refused():
    with pytest.raises(ValueError, match="shape"):
        fill_selection(torch.empty(3, 4), (8, 8), box((0, 0), (4, 4)), Normal(0.0, 1.0), 1, "w")
    with pytest.raises(ValueError, match="contiguous"):
        fill_box(torch.empty(4, 4).t(), (8, 8), (0, 0), Normal(0.0, 1.0), 1, "w")


@st.composite
def _selections(draw):
    shape = tuple(draw(st.lists(st.integers(1, 9), min_size=1, max_size=3)))
    selection = tuple(
        torch.tensor(sorted(draw(st.sets(st.integers(0, n - 1), min_size=1))), dtype=torch.int64)
        for n in shape)
    return shape, selection


@settings(max_examples=60, deadline=None)
@given(_selections(), st.sampled_from(DISTS[:3]))
def test_any_selection_equals_the_whole_fill(case, dist):
    # small tensors: many blocks would be slow, and the block arithmetic is the same
    shape, selection = case
    whole = _whole(shape, dist)
    out = torch.empty(tuple(len(i) for i in selection))
    fill_selection(out, shape, selection, dist, 7, "layers.0.w")
    assert torch.equal(out, whole[torch.meshgrid(*selection, indexing="ij")])


def test_three_dimensions_and_an_empty_box():
    shape = (3, 700, 600)
    whole = _whole(shape, Normal(0.0, 1.0))
    out = torch.empty(2, 300, 100)
    fill_box(out, shape, (1, 400, 500), Normal(0.0, 1.0), 7, "layers.0.w")
    assert torch.equal(out, whole[1:3, 400:700, 500:600])
    empty = torch.empty(0, 600)
    fill_box(empty, (3, 600), (3, 0), Normal(0.0, 1.0), 7, "x")
