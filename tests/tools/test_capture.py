"""``initdsl capture``: a model's own init code, observed, written as a policy, verified."""

from __future__ import annotations

import json
import math
import re

import pytest
import torch
from torch import nn

import initdsl
from initdsl import zoo
from initdsl.tools.capture import verify
from tests.peers import reference as R
from tests.tools.conftest import cli


def _timm_vit(size):
    def build():
        model = zoo.vit(num_classes=10, img_size=32 * size, depth=size + 1, dim=32 * size,
                        heads=2, patch_size=8)
        R.timm_vit(model)
        return model
    return build


def _timm_resnet(size):
    def build():
        model = zoo.resnet18(num_classes=10) if size == 1 else zoo.resnet((1, 1, 1, 1), 16, 4,
                                                                          block="basic")
        R.timm_resnet(model)
        return model
    return build


def _timm_convnext(size):
    def build():
        model = zoo.convnext(depths=(1, 1, 2, 1) if size == 1 else (2, 1, 1, 1),
                             dims=(16, 32, 64, 128) if size == 1 else (8, 16, 24, 32))
        R.timm_convnext(model)
        return model
    return build


def _titan(size):
    """torchtitan 0.3.0's llama3 init (peers.md), on the zoo's torchtitan-named model."""
    def build():
        model = zoo.titan_llama3(dim=32 * (size + 1), n_layers=2 + size, heads=4)
        with torch.no_grad():
            nn.init.normal_(model.tok_embeddings.weight, std=1.0)
            for i, layer in enumerate(model.layers):
                depth = 0.02 / math.sqrt(2 * (i + 1))
                nn.init.trunc_normal_(layer.attention.qkv_linear.wqkv.weight, std=0.02)
                nn.init.trunc_normal_(layer.attention.wo.weight, std=depth)
                nn.init.trunc_normal_(layer.feed_forward.w1.weight, std=0.02)
                nn.init.trunc_normal_(layer.feed_forward.w2.weight, std=depth)
                nn.init.trunc_normal_(layer.feed_forward.w3.weight, std=depth)
                nn.init.ones_(layer.attention_norm.weight)
                nn.init.ones_(layer.ffn_norm.weight)
            nn.init.ones_(model.norm.weight)
            s = model.lm_head.weight.shape[1] ** -0.5
            nn.init.trunc_normal_(model.lm_head.weight, std=s, a=-3 * s, b=3 * s)
        return model
    return build


# (factory, rules in the hand-written examples/peers policy)
ZOO = {"timm_vit": (_timm_vit, 4), "timm_resnet": (_timm_resnet, 2),
       "timm_convnext": (_timm_convnext, 5), "titan_llama3": (_titan, 7)}


@pytest.mark.parametrize("name", sorted(ZOO))
def test_capture_verifies_and_is_size_generic(name):
    build, hand_written = ZOO[name]
    captured = initdsl.capture(build(1))
    assert captured.ok, (captured.summary(), captured.mismatched, captured.unexplained)
    assert len(captured.verified) == len(captured.findings)
    # no more rules than the hand-written policy, plus a small tolerance
    assert captured.rules <= hand_written + 2, captured.text
    other = verify(captured.text, build(2))
    assert other.ok, (other.mismatched, captured.text)


def test_captured_depth_scaling_is_per_block_literal_or_expression():
    """torchtitan's 0.02 / sqrt(2 * (i + 1)) varies per block: each block's value verifies."""
    captured = initdsl.capture(_titan(1))
    assert captured.ok
    assert "lm_head.weight" in captured.text


@pytest.mark.transformers
@pytest.mark.parametrize("kind", ["hf_gpt2", "hf_bert", "hf_llama", "hf_vit"])
def test_capture_of_hf_models_verifies_at_another_size(kind):
    from tests.peers.test_peer_policies import _hf

    cls, small = _hf(kind, 0)
    _, large = _hf(kind, 1)
    captured = initdsl.capture(lambda: cls(small))
    assert captured.ok, (captured.mismatched, captured.text)
    assert captured.rules <= _hand_written(kind) + 2, captured.text
    assert "model.config.initializer_range" in captured.text  # a value, read from the config
    assert verify(captured.text, lambda: cls(large)).ok
    if kind == "hf_gpt2":
        assert "sqrt(2 * model.config.n_layer)" in captured.text


def _hand_written(kind: str) -> int:
    """The rules (statements but `let`) of examples/peers/<kind>.init."""
    from tests.peers.test_peer_policies import policy

    return sum(1 for line in policy(kind).splitlines()
               if line.strip() and not line.startswith(("#", "let ")))


def _lint_findings(text, model):
    from initdsl.tools.lint import lint

    return [d for d in lint(text, "captured.init", model).diagnostics if d.severity != "info"]


@pytest.mark.transformers
@pytest.mark.parametrize("kind", ["hf_gpt2", "hf_bert", "hf_llama", "hf_vit"])
def test_captured_hf_policy_lints_clean(kind):
    from tests.peers.test_peer_policies import _hf

    cls, config = _hf(kind, 0)
    captured = initdsl.capture(lambda: cls(config))
    assert _lint_findings(captured.text, cls(config)) == [], captured.text


@pytest.mark.parametrize("name", sorted(ZOO))
def test_captured_zoo_policy_lints_clean(name):
    build = ZOO[name][0](1)
    captured = initdsl.capture(build)
    assert _lint_findings(captured.text, build()) == [], captured.text


class _Shuffled(nn.Module):
    """An init that cannot be explained: a permutation of data and a data-dependent write."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.emb = nn.Embedding(6, 4)
        with torch.no_grad():
            self.fc.weight.copy_(torch.arange(16.0).reshape(4, 4)[torch.randperm(4)])
            self.emb.weight[self.emb.weight > 0] = 0.5


def test_unexplained_writes_are_reported():
    captured = initdsl.capture(_Shuffled)
    assert not captured.ok
    names = {f.name for f in captured.unexplained}
    assert names == {"fc.weight", "emb.weight"}
    assert all(f.reason for f in captured.unexplained)
    assert "# unexplained: fc.weight" in captured.text
    assert captured.summary().endswith("2 unexplained")


def _state():
    return (torch.get_rng_state(), nn.init.normal_, nn.init.trunc_normal_,
            torch._C._is_torch_function_mode_enabled())


class _Failing(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 3)
        nn.init.normal_(self.fc.weight)
        raise RuntimeError("broken model code")


def test_capture_leaves_rng_and_torch_as_they_were():
    torch.manual_seed(7)
    before = _state()
    initdsl.capture(_timm_vit(1))
    after = _state()
    assert torch.equal(before[0], after[0]) and before[1:] == after[1:]
    with pytest.raises(RuntimeError, match="broken model code"):
        initdsl.capture(_Failing)
    after = _state()
    assert torch.equal(before[0], after[0]) and before[1:] == after[1:]
    assert not hasattr(nn.init.normal_, "__wrapped__")


def test_cli_capture(tmp_path):
    spec = "initdsl.zoo:resnet((1, 1, 1, 1), 16, 4, block='basic')"
    result = cli("capture", "--model", spec, "-o", "out.init", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    text = (tmp_path / "out.init").read_text()
    assert initdsl.format(text) == text
    assert result.stderr.strip().endswith("0 unexplained")
    document = json.loads(cli("capture", "--model", spec, "--json", cwd=tmp_path).stdout)
    assert document["command"] == "capture" and document["policy"] == text
    assert {t["name"] for t in document["tensors"]} == {
        n for n, _ in zoo.resnet((1, 1, 1, 1), 16, 4, block="basic").named_parameters()}
    assert all(t["verified"] for t in document["tensors"])


def test_cli_capture_exits_1_on_unexplained(tmp_path):
    (tmp_path / "shuffled.py").write_text(
        "import torch\nfrom torch import nn\n\n"
        "def build():\n    m = nn.Linear(4, 4)\n    with torch.no_grad():\n"
        "        m.weight.copy_(torch.randn(4, 4).sort(dim=1).values)\n    return m\n")
    result = cli("capture", "--model", "shuffled.py:build", cwd=tmp_path)
    assert result.returncode == 1
    assert "unexplained: weight:" in result.stderr


@pytest.mark.transformers
def test_docs_show_a_real_capture(tmp_path):
    from tests.tools.conftest import REPO

    result = cli("capture", "--model", "examples/hf_models.py:gpt2", "-o",
                 str(tmp_path / "gpt2.init"), cwd=REPO)
    assert result.returncode == 0, result.stderr
    summary = result.stderr.strip().splitlines()[-1]
    text = (tmp_path / "gpt2.init").read_text()
    shown = (REPO / "docs" / "capture.md").read_text()

    def lines_apart(text: str) -> str:
        # The comments cite transformers' source by line (modeling_gpt2.py:449), which
        # moves between releases; the doc shows one release's numbers.
        return re.sub(r"(\.py):\d+", r"\1:N", text)

    assert lines_apart(f"$ initdsl capture --model examples/hf_models.py:gpt2 -o gpt2.init\n"
                       f"{summary}\n$ cat gpt2.init\n{text}```") in lines_apart(shown)
    readme = (REPO / "README.md").read_text()
    assert f"-o gpt2.init\n{summary}\n```" in readme
