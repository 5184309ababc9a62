"""``initdsl compile``, ``decompile`` and ``fmt``."""

from __future__ import annotations

import json

import initdsl
from initdsl.tools.cli import read_init_cfg
from tests.tools.conftest import REPO, cli, run_many

RESNET = REPO / "examples" / "resnet.init"
VIT = REPO / "examples" / "vit.init"

UNFORMATTED = "Conv2d->kaiming( mode = fan_out );Linear,  Conv1d -> normal(std=0.010)\n"


def test_end_to_end_compile_and_fmt_check(tmp_path):
    (tmp_path / "a.init").write_text(UNFORMATTED)
    compiled, check = run_many([["compile", VIT], ["fmt", "--check", "a.init"]], cwd=tmp_path)
    assert (compiled.returncode, compiled.stderr) == (0, "")
    assert compiled.stdout == (
        "# Needs initdsl's runtime: mmengine alone does not know Keep, Select\n"
        "# (initdsl.initialize runs it).\n"
        "init_cfg = [\n"
        "    dict(type='Select', params='pos_embed', init=dict(type='TruncNormal', std=0.02)),\n"
        "    dict(type='Select', params='cls_token', init=dict(type='Normal', std=1e-06)),\n"
        "    dict(type='TruncNormal', layer='Linear', std=0.02, bias=0),\n"
        "    dict(type='Keep', layer=['Conv2d', 'LayerNorm']),\n"
        "]\n")
    assert read_init_cfg(compiled.stdout, "out.py") == initdsl.compile(VIT.read_text())
    assert (check.returncode, check.stdout) == (1, "would reformat a.init\n")
    assert "1 file would be reformatted, 0 left unchanged" in check.stderr
    assert (tmp_path / "a.init").read_text() == UNFORMATTED


def test_compile_scoped_policy():
    scoped = cli("compile", RESNET)
    assert scoped.returncode == 0
    assert scoped.stdout.startswith("# A policy with scopes")
    assert "\n    'neck': [dict(type='Xavier', layer='Conv2d', distribution='uniform')],\n" \
        in scoped.stdout
    assert max(len(line) for line in scoped.stdout.splitlines()) <= 88
    assert read_init_cfg(scoped.stdout, "out.py") == initdsl.compile(RESNET.read_text())


def test_compile_json_schema():
    document = json.loads(cli("compile", VIT, "--json").stdout)
    assert set(document) == {"version", "command", "policy", "scoped", "init_cfg", "sources"}
    assert document["version"] == 1 and document["command"] == "compile"
    assert document["scoped"] is False
    assert document["init_cfg"] == initdsl.compile(VIT.read_text())
    assert document["sources"] == [
        {"module": "", "index": index, "override": None, "source": f"{VIT}:{line}:1"}
        for index, line in enumerate([5, 6, 10, 15])]


def test_compile_errors_exit_1_with_every_diagnostic(tmp_path):
    (tmp_path / "bad.init").write_text(
        "Linear -> normal(sdt=0.1)\nConv2d -> kaiming(mode=fan_up)\n")
    result = cli("compile", "bad.init", cwd=tmp_path)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith(
        "bad.init:1:18: E110 unknown argument `sdt` for `normal`; did you mean `std`?")
    assert "\n1 | Linear -> normal(sdt=0.1)\n  |                  ^^^^^^^\n" in result.stderr
    assert "bad.init:2:24: E121 " in result.stderr


CONFIG = """\
# an mmengine config: only the init_cfg assignment is read
model = dict(type='Net')
init_cfg = [
    dict(type='Kaiming', layer='Conv2d', a=-1, mode='fan_in'),
    dict(type='Normal', layer=['Linear'], std=1e-2, override=dict(name='head')),
    {'type': 'Pretrained', 'checkpoint': 'x.pth', 'prefix': 'backbone.'},
]
"""


def test_decompile_reads_a_config_file(tmp_path):
    (tmp_path / "config.py").write_text(CONFIG)
    result = cli("decompile", "config.py", cwd=tmp_path)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == ('Conv2d -> kaiming(a=-1, mode=fan_in)\n'
                             'Linear -> normal(std=0.01)\n'
                             'name head\n'
                             'load "x.pth" prefix "backbone."\n')


def test_decompile_reads_json_and_literals(tmp_path):
    (tmp_path / "cfg.json").write_text(json.dumps([{"type": "Xavier", "layer": "Linear"}]))
    (tmp_path / "cfg.py").write_text("{'type': 'Constant', 'val': 1, 'layer': 'LayerNorm'}\n")
    assert cli("decompile", "cfg.json", cwd=tmp_path).stdout == "Linear -> xavier\n"
    assert cli("decompile", "cfg.py", cwd=tmp_path).stdout == "LayerNorm -> constant(1)\n"


def test_decompile_never_evaluates(tmp_path):
    (tmp_path / "evil.py").write_text(
        "init_cfg = [dict(type=__import__('os').system('touch pwned'))]\n")
    result = cli("decompile", "evil.py", cwd=tmp_path)
    assert result.returncode == 1 and not (tmp_path / "pwned").exists()
    assert result.stderr == ("evil.py:1:23: error: `__import__('os').system('touch pwned')` is "
                             "not a literal; only literals and dict(...) calls are read "
                             "(nothing is evaluated)\n")


def test_decompile_errors(tmp_path):
    (tmp_path / "none.py").write_text("x = 1\n")
    (tmp_path / "invalid.py").write_text("init_cfg = dict(layer='Linear')\n")
    (tmp_path / "syntax.py").write_text("init_cfg = [\n")
    none = cli("decompile", "none.py", cwd=tmp_path)
    assert none.returncode == 1 and "no init_cfg found" in none.stderr
    invalid = cli("decompile", "invalid.py", cwd=tmp_path)
    assert invalid.returncode == 1 and "invalid.py: error: not a valid init_cfg" in invalid.stderr
    syntax = cli("decompile", "syntax.py", cwd=tmp_path)
    assert syntax.returncode == 1 and syntax.stderr.startswith("syntax.py:1:")
    missing = cli("decompile", "missing.py", cwd=tmp_path)
    assert missing.returncode == 2 and "missing.py: no such file" in missing.stderr


def test_compile_then_decompile_round_trips():
    for policy in (VIT, RESNET):
        for extra in ((), ("--json",)):
            text = cli("compile", policy, *extra).stdout
            back = cli("decompile", "-", stdin=text)
            assert back.returncode == 0, back.stderr
            assert initdsl.compile(back.stdout) == initdsl.compile(policy.read_text())


def test_fmt_check_on_formatted_input_is_clean(tmp_path):
    (tmp_path / "b.init").write_text(initdsl.format(UNFORMATTED))
    result = cli("fmt", "--check", "b.init", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (0, "")
    assert "0 files would be reformatted, 1 left unchanged" in result.stderr


def test_fmt_diff_writes_nothing(tmp_path):
    (tmp_path / "c.init").write_text(UNFORMATTED)
    diff = cli("fmt", "--diff", "c.init", cwd=tmp_path)
    assert diff.returncode == 0
    assert diff.stdout.startswith("--- c.init\t(original)\n+++ c.init\t(formatted)\n")
    assert "-Conv2d->kaiming( mode = fan_out );" in diff.stdout
    assert "+Conv2d -> kaiming(mode=fan_out)\n" in diff.stdout
    assert (tmp_path / "c.init").read_text() == UNFORMATTED
    both = cli("fmt", "--diff", "--check", "c.init", cwd=tmp_path)
    assert both.returncode == 1 and both.stdout.startswith(diff.stdout)


def test_fmt_in_place(tmp_path):
    formatted = initdsl.format(UNFORMATTED)
    (tmp_path / "d.init").write_text(UNFORMATTED)
    (tmp_path / "b.init").write_text(formatted)
    result = cli("fmt", "d.init", "b.init", cwd=tmp_path)
    assert result.returncode == 0
    assert (tmp_path / "d.init").read_text() == formatted == (
        "Conv2d -> kaiming(mode=fan_out)\nLinear, Conv1d -> normal(std=0.01)\n")
    assert "reformatted d.init\n" in result.stderr
    assert "1 file reformatted, 1 left unchanged" in result.stderr


def test_fmt_syntax_error_exits_1_and_keeps_the_file(tmp_path):
    (tmp_path / "bad.init").write_text("Conv2d -> \n")
    result = cli("fmt", "bad.init", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("bad.init:1:") and " E001 " in result.stderr
    assert (tmp_path / "bad.init").read_text() == "Conv2d -> \n"


def test_fmt_stdin_to_stdout():
    result = cli("fmt", "-", stdin=UNFORMATTED)
    assert result.returncode == 0 and result.stdout == initdsl.format(UNFORMATTED)
    check = cli("fmt", "--check", "-", stdin=UNFORMATTED)
    # It says what it found, as it does for a file; standard input is called <stdin>.
    assert check.returncode == 1 and check.stdout == "would reformat <stdin>\n"
