"""``initdsl apply``: initialize, save, and load back bit for bit."""

from __future__ import annotations

import os

import pytest
import torch
from safetensors.torch import load_file

import initdsl
from tests.tools import models
from tests.tools.conftest import NET, cli, run

POLICY = """\
Conv2d -> kaiming(mode=fan_in)
Linear -> trunc_normal(std=0.02)
name head -> normal(std=0.5, bias_prob=0.1)
_BatchNorm -> constant(1)
scope blocks.1 { load "full.pth" prefix "blocks.1." }
"""


def _in_process(workdir, seed: int) -> dict[str, torch.Tensor]:
    """What the policy gives when run here: seed, build, apply."""
    torch.manual_seed(seed)
    model = models.net()
    cwd = os.getcwd()
    try:
        os.chdir(workdir)
        initdsl.apply(model, POLICY, filename="apply.init")
    finally:
        os.chdir(cwd)
    return model.state_dict()


def _same(saved: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> None:
    assert sorted(saved) == sorted(expected)
    for key, tensor in expected.items():
        assert torch.equal(saved[key], tensor), key
    # ... and the file loads back into the model, strictly.
    fresh = models.net()
    fresh.load_state_dict(saved, strict=True)
    for key, tensor in fresh.state_dict().items():
        assert torch.equal(tensor, expected[key]), key


def test_apply_writes_safetensors_equal_to_an_in_process_run(workdir):
    (workdir / "apply.init").write_text(POLICY)
    result = run("apply", "apply.init", "--model", NET, "--out", "out.safetensors", "--seed",
                 "7", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "Net: 21 parameters (1,101 values) initialized with apply.init (seed 7): "
        "not written 5, Constant 4, TruncNormal 3, Kaiming 2, Normal 2, "
        "UserInit.init_weights 1; 4 loaded from a checkpoint\n"
        "wrote 24 tensors (parameters and buffers) to out.safetensors\n")
    assert result.stderr == ""
    _same(load_file(workdir / "out.safetensors"), _in_process(workdir, 7))


def test_apply_writes_torch_files(workdir):
    (workdir / "apply.init").write_text(POLICY)
    result = cli("apply", "apply.init", "--model", NET, "--out", "out.pt", "--seed", "3",
                 cwd=workdir)
    assert result.returncode == 0, result.stderr
    saved = torch.load(workdir / "out.pt", weights_only=True)
    _same(saved, _in_process(workdir, 3))
    other = _in_process(workdir, 4)
    assert not torch.equal(saved["conv.weight"], other["conv.weight"])


def test_checkpoint_warnings_are_shown(workdir):
    (workdir / "mismatch.init").write_text('load "mismatch.pth"\n')
    result = cli("apply", "mismatch.init", "--model", NET, "--out", "m.pt", cwd=workdir)
    assert result.returncode == 0
    assert result.stderr.startswith("initdsl: warning: The model and loaded state dict do not "
                                    "match exactly")
    assert "size mismatch for head.weight" in result.stderr


@pytest.mark.parametrize("policy, out, code, message", [
    ("Linear -> normal(sdt=1)\n", "x.pt", 1, "p.init:1:18: E110 unknown argument"),
    ("name nothere -> constant(1)\n", "x.pt", 1, "p.init:1:6: E171 Net has no child module"),
    ('load "missing.pth"\n', "x.pt", 1, "p.init:1:1: error: missing.pth can not be found."),
    ("Linear -> kaiming\n", "x.npz", 2, "the extension says how to save"),
    ("Linear -> kaiming\n", "nodir/x.pt", 2, "directory nodir does not exist"),
])
def test_apply_errors(tmp_path, policy, out, code, message):
    (tmp_path / "p.init").write_text(policy)
    result = cli("apply", "p.init", "--model", NET, "--out", out, cwd=tmp_path)
    assert result.returncode == code
    assert message in result.stderr
    assert not (tmp_path / out).exists()


FAST = "Linear, Embedding -> normal(std=0.02, bias=0)\nLayerNorm -> ones\n"
GPT = "initdsl.zoo:gpt(vocab=64, dim=32, depth=2, heads=2, mlp=64)"


def test_fast_apply_saves_what_materialize_gives(tmp_path):
    from initdsl.tools.modelspec import build

    (tmp_path / "fast.init").write_text(FAST)
    result = cli("apply", "fast.init", "--model", GPT, "--out", "f.safetensors", "--fast",
                 "--seed", "11", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "initialized with fast.init (seed 11)" in result.stdout
    expected = initdsl.materialize(build(GPT, device="meta"), FAST, seed=11).state_dict()
    saved = load_file(tmp_path / "f.safetensors")
    assert sorted(saved) == sorted(expected)
    for key, tensor in expected.items():
        assert torch.equal(saved[key], tensor), key
    other = cli("apply", "fast.init", "--model", GPT, "--out", "g.safetensors", "--fast",
                "--seed", "12", cwd=tmp_path)
    assert other.returncode == 0
    assert not torch.equal(load_file(tmp_path / "g.safetensors")["head.weight"],
                           saved["head.weight"])


RAW = """\
import torch
from torch import nn


class Raw(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 3)
        self.scale = nn.Parameter(torch.ones(3))  # no module default recomputes it


def raw():
    return Raw()
"""


def test_fast_apply_names_its_seed_and_warns_of_zero_filled_tensors(tmp_path):
    (tmp_path / "raw.py").write_text(RAW)
    (tmp_path / "p.init").write_text("Linear -> normal(std=0.02)\n")
    result = cli("apply", "p.init", "--model", "raw.py:raw", "--out", "r.pt", "--fast",
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    seed = int(result.stdout.split("(seed ")[1].split(")")[0])
    warning = result.stderr.strip()
    assert warning.startswith("initdsl: warning: ") and "scale" in warning
    again = cli("apply", "p.init", "--model", "raw.py:raw", "--out", "s.pt", "--fast",
                "--seed", str(seed), cwd=tmp_path)
    assert again.returncode == 0
    first, second = (torch.load(tmp_path / name, weights_only=True) for name in ("r.pt", "s.pt"))
    assert all(torch.equal(first[key], second[key]) for key in first)
    assert torch.equal(first["scale"], torch.zeros(3))
