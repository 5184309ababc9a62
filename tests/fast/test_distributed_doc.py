"""docs/distributed.md shows what examples/distributed/sharded_init.py prints under torchrun."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch.distributed as dist

REPO = Path(__file__).resolve().parents[2]
DOC = (REPO / "docs" / "distributed.md").read_text()

pytestmark = pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(),
                                reason="torch.distributed with gloo is not available")


@pytest.mark.parametrize("layout", ["fsdp", "tp"])
def test_the_recipe_prints_what_the_doc_shows(layout, tmp_path):
    command = f"torchrun --nproc-per-node 2 examples/distributed/sharded_init.py {layout}"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         "examples/distributed/sharded_init.py", layout],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"$ {command}\n{done.stdout}```" in DOC
    assert "equal to one process, bit for bit: True" in done.stdout
