"""``initdsl explain`` and the static resolution behind it (:mod:`initdsl.tools.explain`)."""

from __future__ import annotations

import json

import pytest
import torch

import initdsl
from initdsl import zoo
from initdsl.language.compiler import compile_policy
from initdsl.tools.explain import explain
from tests.tools import models
from tests.tools.conftest import NET, REPO, cli, run_many

VIT = REPO / "examples" / "vit.init"
#: 48 blocks of width 8192: 15.8 billion parameters, 63 GB in fp32.
BIG_GPT = "initdsl.zoo:gpt(depth=48, dim=8192, heads=64)"


@pytest.fixture(scope="module")
def subprocess_runs(tmp_path_factory):
    gpt = tmp_path_factory.mktemp("gpt") / "gpt.init"
    gpt.write_text("Linear, Embedding -> normal(std=0.02)\nLayerNorm -> constant(1)\n")
    return run_many([["explain", VIT, "--model", "initdsl.zoo:vit_b16"],
                     ["explain", gpt, "--model", BIG_GPT, "--json"]])


def test_table_for_a_bundled_example(subprocess_runs):
    result, _ = subprocess_runs
    assert (result.returncode, result.stderr) == (0, "")
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["parameter", "shape", "initializer", "rule"]
    rows = {line.split()[0]: line for line in lines[1:] if line and not line.startswith("Vision")}
    assert len(rows) == 20  # 152 parameters; the 12 blocks share rows
    assert rows["cls_token"].endswith(f"{VIT}:6:1")
    assert "Normal(params='cls_token', mean=0, std=1e-06)" in rows["cls_token"]
    assert "TruncNormal(params='pos_embed'," in rows["pos_embed"]
    # timm keeps torch's default for the patch embedding, and the policy says so
    assert "Keep()" in rows["patch_embed.proj.weight"]
    assert rows["patch_embed.proj.weight"].endswith(f"{VIT}:15:1")
    assert "Keep()" in rows["patch_embed.proj.bias"]
    qkv = rows["blocks.{0..11}.attn.qkv.weight"]
    assert "(2304, 768)" in qkv
    assert "TruncNormal(mean=0, std=0.02, a=-2, b=2, bias=0)" in qkv
    assert qkv.endswith(f"{VIT}:10:1")
    assert "TruncNormal(" in rows["head.weight"] and rows["head.bias"].endswith(":10:1")
    assert "Keep()" in rows["norm.weight"] and rows["norm.bias"].endswith(":15:1")
    assert lines[-1] == ("VisionTransformer: 152 parameters (86,567,656 values): TruncNormal 99, "
                         "Keep 52, Normal 1; none loaded from a checkpoint")


def test_a_model_too_large_to_allocate_is_explained_from_meta(subprocess_runs):
    # A real allocation would need 63 GB; the run's bound is the subprocess timeout.
    _, result = subprocess_runs
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["summary"]["values"] * 4 > 50e9
    assert document["summary"]["parameters"] == len(document["parameters"]) == 48 * 12 + 5
    assert document["summary"]["unwritten"] == 0
    assert document["parameters"][-1]["writer"]["writer"] == "Normal"


def test_expand_lists_every_parameter():
    result = cli("explain", VIT, "--model", "initdsl.zoo:vit_b16", "--expand")
    assert len(result.stdout.splitlines()) == 1 + 152 + 2


POLICY = """\
Conv2d -> kaiming
Linear -> normal(std=0.02)
scope head { load "full.pth" prefix "head." }
"""


def test_json_schema_with_user_code_and_a_load(workdir):
    (workdir / "explain.init").write_text(POLICY)
    result = cli("explain", "explain.init", "--model", NET, "--json", cwd=workdir)
    assert (result.returncode, result.stderr) == (0, "")
    document = json.loads(result.stdout)
    assert set(document) == {"version", "command", "policy", "model_spec", "model", "user_root",
                             "parameters", "loads", "summary", "diagnostics"}
    assert (document["version"], document["command"], document["model"]) == (1, "explain", "Net")
    parameters = {p["name"]: p for p in document["parameters"]}
    for parameter in parameters.values():
        assert set(parameter) == {"name", "shape", "dtype", "numel", "status", "writer",
                                  "otherwise", "writes"}
    assert parameters["conv.weight"]["status"] == "written"
    assert parameters["conv.weight"]["writer"] == {
        "kind": "init", "writer": "Kaiming",
        "args": {"a": 0, "mode": "fan_out", "nonlinearity": "relu", "distribution": "normal",
                 "bias": 0},
        # for this 3x3 convolution with 8 outputs: sqrt(2 / (8 * 3 * 3))
        "draws": "normal(mean=0.0, std=0.166667)", "then": [],
        "source": "explain.init:1:1",
        "origin": {"owner": "", "index": 0, "override": None, "source": "explain.init:1:1",
                   "via": "init_cfg"},
        "module": "conv", "key": None}
    head = parameters["head.weight"]
    assert head["status"] == "loaded" and head["writer"]["key"] == "head.weight"
    assert head["writer"]["source"] == "explain.init:3:14" and head["writes"] == 2
    user = parameters["user.proj.weight"]
    assert user["status"] == "user" and user["writer"]["writer"] == "UserInit.init_weights"
    assert user["otherwise"]["writer"] == "Normal"
    assert parameters["bn.weight"]["status"] == "unwritten" and parameters["bn.weight"][
        "writer"] is None
    assert parameters["blocks.0.norm.weight"]["writer"]["source"] is None  # the model's cfg
    assert document["loads"] == [{
        "checkpoint": "full.pth", "prefix": "head.", "module": "head",
        "source": "explain.init:3:14", "known": True, "loaded": ["weight", "bias"],
        "missing": [], "unexpected": [], "mismatched": [], "problem": None}]
    assert document["summary"] == {
        "parameters": 21, "values": 1101, "by_writer": {"Normal": 4, "Constant": 4,
                                                        "Kaiming": 2, "Pretrained": 2},
        "written": 10, "loaded": 2, "loaded_values": 36, "user": 2, "unknown": 0,
        "unwritten": 7, "unwritten_values": 593}
    assert document["diagnostics"] == []


def test_rows_for_user_code_and_the_model_own_rules(workdir):
    (workdir / "explain.init").write_text(POLICY)
    table = cli("explain", "explain.init", "--model", NET, cwd=workdir).stdout
    rows = {line.split()[0]: line for line in table.splitlines() if line}
    assert ("user code UserInit.init_weights may write; else Normal(mean=0, std=0.02, bias=0) "
            "from explain.init:2:1  init_weights of 'user'") in rows["user.proj.weight"]
    assert "Constant(val=1, bias=0) " in rows["blocks.0.norm.weight"]
    assert rows["blocks.0.norm.weight"].endswith("  init_cfg of 'blocks.0'")
    assert "load full.pth" in rows["head.weight"]
    assert ("\nload full.pth into head (explain.init:3:14): 2 keys loaded, 0 missing, "
            "0 unexpected, 0 shape mismatches\n") in table


def test_errors_exit_1_and_the_table_is_still_printed(workdir):
    (workdir / "fails.init").write_text("LayerNorm -> kaiming\nname missing -> constant(0)\n")
    result = cli("explain", "fails.init", "--model", NET, cwd=workdir)
    assert result.returncode == 1
    assert result.stdout.startswith("parameter ")
    assert result.stderr.startswith("fails.init:1:1: E240 the initializer rejects a module it "
                                    "matches: KaimingInit needs a weight with at least 2 "
                                    "dimensions")
    assert "fails.init:2:6: E171 Net has no child module `missing`" in result.stderr


def test_language_errors_exit_1_without_a_table(workdir):
    (workdir / "bad.init").write_text("Linear -> normal(sdt=1)\n")
    result = cli("explain", "bad.init", "--model", NET, cwd=workdir)
    assert result.returncode == 1 and result.stdout == "" and " E110 " in result.stderr


# -- the resolution agrees with what a run does ---------------------------------------------

CASES = [
    (lambda: zoo.vit(depth=2, dim=32, heads=4, img_size=32), VIT.read_text()),
    (lambda: zoo.resnet((1, 1, 1, 1), width=8, num_classes=10),
     "Conv2d -> kaiming(mode=fan_out)\n_BatchNorm -> constant(1)\nscope layer2 { "
     "_BatchNorm -> constant(0)\nname 0 -> constant(3) }\nLinear -> normal(std=0.01)\n"),
    (lambda: zoo.gpt(vocab=50, dim=16, depth=2, heads=2, mlp=32, max_len=8, base="initdsl",
                     block_init_cfg=dict(type="Constant", layer="LayerNorm", val=2)),
     "Linear, Embedding -> normal(std=0.02)\nscope blocks.1 { Linear -> constant(0) }\n"),
    (models.net, 'Linear -> kaiming\nname user -> normal(std=0.1)\nscope head { load '
                 '"mismatch.pth" }\nload "full.safetensors" prefix "blocks."\n'),
]


@pytest.mark.parametrize("factory, policy", CASES)
def test_resolution_matches_the_provenance_of_a_real_run(workdir, monkeypatch, factory, policy):
    monkeypatch.chdir(workdir)
    with torch.device("meta"):
        meta = factory()
    explained = explain(meta, compile_policy(policy, filename="p.init"))
    model = factory()
    record = initdsl.apply(model, policy, filename="p.init")
    assert [p.name for p in explained.parameters] == list(record)
    for parameter in explained.parameters:
        actual = record[parameter.name]
        final = parameter.final
        if final is None:
            assert actual.writer is None, parameter.name
        elif final.certain:
            assert actual.writer == final.name, parameter.name
            assert actual.origin.to_dict() == final.origin.to_dict(), parameter.name
        else:
            fallback = parameter.final_certain
            assert actual.writer in {final.name, fallback.name if fallback else None}
    done_loads = {(r.module, r.checkpoint): r for r in record.loads}
    assert len(done_loads) == len(explained.loads)
    for planned in explained.loads:
        done = done_loads[planned.module, planned.checkpoint]
        assert set(planned.missing) == set(done.missing)
        assert set(planned.unexpected) == set(done.unexpected)
        assert {m[0] for m in planned.mismatched} == {m[0] for m in done.mismatched}
        assert set(done.loaded) == set(planned.loaded)


def test_checkpoints_are_read_by_shape_only(workdir, tmp_path):
    from initdsl.tools.explain import read_checkpoint_shapes

    legacy = tmp_path / "legacy.pth"
    torch.save(models.net().state_dict(), legacy, _use_new_zipfile_serialization=False)
    for name in (workdir / "full.pth", workdir / "full.safetensors", legacy):
        shapes = read_checkpoint_shapes(str(name))
        assert shapes["head.weight"].shape == (4, 8), name
        assert {t.device.type for t in shapes.values()} == {"meta"}, name
    with pytest.raises(initdsl.CheckpointNotFoundError):
        read_checkpoint_shapes(str(tmp_path / "nothing.pth"))


def test_a_remote_checkpoint_is_not_downloaded(torch_home):
    with torch.device("meta"):
        model = models.net()
    explained = explain(model, compile_policy('Linear -> kaiming\nload "https://example.invalid'
                                              '/x.pth"\n', filename="p.init"))
    head = explained["head.weight"]
    assert head.status == "unknown" and head.final_certain.name == "Kaiming"
    (load,) = explained.loads
    assert not load.known and "not in torch's hub cache" in load.problem
    assert explained.summary()["unknown"] == 21 and not explained.problems
