"""The command line as a new user meets it: startup, odd files, failures half-way, user code.

Most cases run ``main`` in this process (:func:`cli`); the startup cases run a
fresh interpreter, since whether torch gets imported is the point.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import uuid

import pytest
import torch

from initdsl import WEIGHT_INITIALIZERS
from tests.tools.conftest import REPO, cli

EXAMPLES = sorted(str(p.relative_to(REPO)) for p in (REPO / "examples").glob("*.init"))

# -- startup: no torch where none is needed ------------------------------------------------

#: Runs the command line as ``python -m initdsl`` would, then says whether torch was imported.
PROBE = textwrap.dedent("""\
    import runpy, sys
    sys.argv = ["initdsl", *sys.argv[1:]]
    code = 0
    try:
        runpy.run_module("initdsl", run_name="__main__", alter_sys=True)
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 2
    print("torch imported:", "torch" in sys.modules, file=sys.stderr)
    sys.exit(code)
    """)

#: id → (arguments, standard input)
NO_TORCH = {
    "version": (["--version"], None),
    "help": (["--help"], None),
    "fmt-check-examples": (["fmt", "--check", *EXAMPLES], None),
    "compile-resnet": (["compile", "examples/resnet.init"], None),
    "lint-vit-no-model": (["lint", "examples/vit.init"], None),
    "decompile-stdin": (["decompile", "-"], '[{"type": "Kaiming", "layer": "Conv2d"}]'),
}


@pytest.mark.parametrize("case", list(NO_TORCH))
def test_commands_that_need_no_torch_do_not_import_it(case):
    """A fresh interpreter: the command succeeds and torch is not in sys.modules at exit."""
    args, stdin = NO_TORCH[case]
    environment = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    result = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=REPO, env=environment,
                            input=stdin, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stderr.rstrip().endswith("torch imported: False"), result.stderr


# -- colour ------------------------------------------------------------------------------

WARNING_POLICY = "Conv2D -> kaiming\n"


@pytest.mark.parametrize("args, coloured", [
    (["--color", "never", "lint", "x.init"], False),
    (["lint", "--color", "never", "x.init"], False),
    (["--color", "always", "lint", "x.init"], True),
    (["lint", "x.init", "--color", "always"], True),
    (["lint", "x.init"], False),  # not a terminal
])
def test_color_option_before_or_after_the_command(tmp_path, monkeypatch, args, coloured):
    """--color works before the command as well as after it."""
    monkeypatch.delenv("NO_COLOR", raising=False)
    (tmp_path / "x.init").write_text(WARNING_POLICY, encoding="utf-8")
    result = cli(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "W201" in result.stdout
    assert ("\x1b[" in result.stdout) is coloured


# -- several files, some unreadable -------------------------------------------------------

NOT_UTF8 = b"Linear -> kaiming\nConv2d -> \xff\xfe kaiming\n"


@pytest.fixture
def mixed_files(tmp_path):
    """Two good files with findings, one missing, one not UTF-8 (bad byte at 2:11)."""
    (tmp_path / "a.init").write_text("Conv2D->kaiming\n", encoding="utf-8")
    (tmp_path / "bad.init").write_bytes(NOT_UTF8)
    (tmp_path / "z.init").write_text("Linear->normal(sdt=1)\n", encoding="utf-8")
    return tmp_path


FILES = ["a.init", "missing.init", "bad.init", "z.init"]


def _caret_follows(stderr: str, head: str) -> bool:
    lines = stderr.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith(head))
    return any(line.strip().startswith("|") and "^" in line for line in lines[at + 1:at + 4])


def test_lint_reports_the_readable_files_and_exits_2(mixed_files):
    """The good files' findings are reported; the missing and non-UTF-8 ones too; exit 2."""
    result = cli("lint", *FILES, cwd=mixed_files)
    assert result.returncode == 2
    assert "a.init:1:1: W201" in result.stdout
    assert "z.init:1:16: E110" in result.stdout
    assert "missing.init: no such file" in result.stderr
    assert "bad.init:2:11: E004" in result.stderr
    assert _caret_follows(result.stderr, "bad.init:2:11: E004")
    assert "2 files could not be read" in result.stdout


def test_lint_json_lists_unreadable_files_and_the_others_findings(mixed_files):
    """--json: one valid document with the good files' findings and the unreadable ones."""
    result = cli("lint", "--json", *FILES, cwd=mixed_files)
    assert result.returncode == 2
    document = json.loads(result.stdout)
    assert [(d["path"], d["code"]) for d in document["diagnostics"]] == [
        ("a.init", "W201"), ("z.init", "E110")]
    assert document["summary"]["unreadable"] == 2 and document["summary"]["files"] == 4
    assert any("bad.init:2:11: E004" in text for text in document["unreadable"])


def test_fmt_formats_the_readable_files_and_exits_2(mixed_files):
    """The good files are reformatted; the bad one is reported and left as it was; exit 2."""
    result = cli("fmt", *FILES, cwd=mixed_files)
    assert result.returncode == 2
    assert (mixed_files / "a.init").read_text(encoding="utf-8") == "Conv2D -> kaiming\n"
    assert (mixed_files / "z.init").read_text(encoding="utf-8") == "Linear -> normal(sdt=1)\n"
    assert (mixed_files / "bad.init").read_bytes() == NOT_UTF8
    assert "missing.init: no such file" in result.stderr
    assert "bad.init:2:11: E004" in result.stderr
    assert _caret_follows(result.stderr, "bad.init:2:11: E004")
    assert "2 files reformatted" in result.stderr and "2 files could not be read" in result.stderr


def test_fmt_check_with_unreadable_files_writes_nothing(mixed_files):
    """--check reports what would change in the good files, writes nothing, and exits 2."""
    result = cli("fmt", "--check", *FILES, cwd=mixed_files)
    assert result.returncode == 2
    assert "would reformat a.init" in result.stdout and "would reformat z.init" in result.stdout
    assert (mixed_files / "a.init").read_text(encoding="utf-8") == "Conv2D->kaiming\n"


# -- byte-order marks, line endings, surrogates -------------------------------------------

BOM = b"\xef\xbb\xbf"

#: id → (file bytes, bytes after fmt)
FMT_BYTES = {
    "bom": (BOM + b"Conv2d->kaiming\n", BOM + b"Conv2d -> kaiming\n"),
    "bom-crlf": (BOM + b"Conv2d->kaiming\r\nLinear->normal\r\n",
                 BOM + b"Conv2d -> kaiming\r\nLinear -> normal\r\n"),
    "crlf": (b"Conv2d->kaiming\r\nLinear ->  normal(std=0.010)\r\n",
             b"Conv2d -> kaiming\r\nLinear -> normal(std=0.01)\r\n"),
    "crlf-comments-and-scope": (b"# head\r\nscope a {Conv2d->kaiming # k\r\n}\r\n",
                                b"# head\r\nscope a {\r\n    Conv2d -> kaiming  # k\r\n}\r\n"),
    "lone-surrogate-escape": (b'x->f(a="\\ud800")\n', b'x -> f(a="\\ud800")\n'),
    "surrogate-pair-escape": (b'x->f(a="\\ud83d\\ude00", b="\\udc00")\n',
                              'x -> f(a="\U0001F600", b="\\udc00")\n'.encode("utf-8")),
}


@pytest.mark.parametrize("case", list(FMT_BYTES))
def test_fmt_keeps_bom_and_line_endings_and_writes_utf8(tmp_path, case):
    """The reformatted file: BOM and CRLF kept, valid UTF-8, never truncated."""
    original, expected = FMT_BYTES[case]
    path = tmp_path / "p.init"
    path.write_bytes(original)
    result = cli("fmt", "p.init", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert path.read_bytes() == expected
    path.read_bytes().decode("utf-8")  # valid UTF-8
    assert cli("fmt", "--check", "p.init", cwd=tmp_path).returncode == 0  # idempotent


@pytest.mark.parametrize("content", [
    BOM + b"Conv2d -> kaiming\n",
    BOM + b"Conv2d -> kaiming\r\nLinear -> normal\r\n",
    b"Conv2d -> kaiming\r\n",
])
def test_bom_and_crlf_files_lint_clean(tmp_path, content):
    """A BOM or CRLF is no finding (and columns are not shifted by the BOM)."""
    (tmp_path / "p.init").write_bytes(content)
    result = cli("lint", "p.init", cwd=tmp_path)
    assert (result.returncode, result.stdout.strip()) == (0, "No findings in 1 file.")


def test_bom_file_columns_do_not_count_the_bom(tmp_path):
    """A finding in a BOM file is placed as in the same file without the BOM."""
    (tmp_path / "p.init").write_bytes(BOM + b"Linear -> normal(sdt=1)\n")
    result = cli("lint", "p.init", cwd=tmp_path)
    assert "p.init:1:18: E110" in result.stdout


@pytest.mark.parametrize("stdin, code, stdout", [
    ("Conv2d->kaiming\n", 1, "would reformat <stdin>\n"),
    ("Conv2d -> kaiming\n", 0, ""),
])
def test_fmt_check_stdin(stdin, code, stdout):
    """fmt --check - names standard input <stdin>."""
    result = cli("fmt", "--check", "-", stdin=stdin)
    assert (result.returncode, result.stdout) == (code, stdout)


def test_fmt_stdin_writes_the_formatted_text():
    result = cli("fmt", "-", stdin="Conv2d->kaiming;Linear->normal\n")
    assert (result.returncode, result.stdout) == (0, "Conv2d -> kaiming\nLinear -> normal\n")


# -- writes that fail half-way ------------------------------------------------------------


def _fail(*args, **kwargs):
    raise OSError(28, "No space left on device")


@pytest.mark.parametrize("failing", ["os.replace", "os.fsync"])
def test_fmt_writes_atomically(tmp_path, monkeypatch, failing):
    """A failure while writing leaves the original file intact and no temporary file."""
    original = "Conv2d->kaiming\nLinear->normal\n"
    path = tmp_path / "p.init"
    path.write_text(original, encoding="utf-8")
    monkeypatch.setattr(os, failing.split(".")[1], _fail)
    result = cli("fmt", "p.init", cwd=tmp_path)
    monkeypatch.undo()
    assert result.returncode == 2
    assert path.read_text(encoding="utf-8") == original
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.init"]


MODEL_FILE = '''\
import pathlib

from torch import nn

BUILT = pathlib.Path(__file__).with_name("built")


def build():
    BUILT.write_text("yes")
    return nn.Sequential(nn.Linear(3, 3), nn.LayerNorm(3))
'''


@pytest.fixture
def model_dir(tmp_path):
    """A model file whose factory leaves a ``built`` file, and a policy for it."""
    (tmp_path / "models.py").write_text(MODEL_FILE, encoding="utf-8")
    (tmp_path / "p.init").write_text("Linear -> constant(2)\n", encoding="utf-8")
    return tmp_path


def test_apply_safetensors_without_the_package_exits_2_before_building(model_dir,
                                                                        monkeypatch):
    """The package is checked first: exit 2 naming safetensors, the model never built."""
    find_spec = importlib.util.find_spec

    def without_safetensors(name, *args, **kwargs):
        if name == "safetensors" or name.startswith("safetensors."):
            return None
        return find_spec(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", without_safetensors)
    result = cli("apply", "p.init", "--model", "models.py:build", "--out", "x.safetensors",
                 cwd=model_dir)
    assert result.returncode == 2
    assert "safetensors" in result.stderr
    assert not (model_dir / "built").exists()
    assert not (model_dir / "x.safetensors").exists()


def _partial_torch_save(obj, f, *args, **kwargs):
    with open(f, "wb") as out:
        out.write(b"PK\x03\x04 half a file")
    raise OSError(28, "No space left on device")


def _partial_save_file(tensors, filename, *args, **kwargs):
    with open(filename, "wb") as out:
        out.write(b"\x10\x00\x00\x00 half a file")
    raise OSError(28, "No space left on device")


@pytest.mark.parametrize("suffix", [".pt", ".pth", ".safetensors"])
def test_apply_never_leaves_a_truncated_file(model_dir, monkeypatch, suffix):
    """A save that fails after writing a few bytes: the existing good file is intact,
    no temporary file is left."""
    out = model_dir / f"out{suffix}"
    good = b"a good file from an earlier run"
    out.write_bytes(good)
    if suffix == ".safetensors":
        import safetensors.torch

        monkeypatch.setattr(safetensors.torch, "save_file", _partial_save_file)
    else:
        monkeypatch.setattr(torch, "save", _partial_torch_save)
    before = set(os.listdir(model_dir))
    result = cli("apply", "p.init", "--model", "models.py:build", "--out", out.name,
                 cwd=model_dir)
    monkeypatch.undo()
    assert result.returncode == 2
    assert out.read_bytes() == good
    assert set(os.listdir(model_dir)) - before <= {"built", "__pycache__"}


# -- initializers registered by the user's code -------------------------------------------

INITIALIZER_MODULE = '''\
from initdsl import WEIGHT_INITIALIZERS, BaseInit


@WEIGHT_INITIALIZERS.register_module(name="{name}")
class Fill(BaseInit):
    def __init__(self, val=7.0, **kwargs):
        super().__init__(**kwargs)
        self.val = val

    def init_weight(self, weight):
        weight.data.fill_(self.val)
'''


def _letters() -> str:
    """A unique run of lowercase letters: ``Fill`` + it is spelled ``fill`` + it."""
    return uuid.uuid4().hex[:10].translate(str.maketrans("0123456789", "ghijklmnop"))


@pytest.fixture
def user_initializer(tmp_path):
    """(module name, policy spelling): a module in tmp_path that registers an initializer.

    Unique names per test; the registry and sys.modules are restored afterwards.
    """
    suffix = _letters()
    module, registered = f"userinits_{suffix}", f"Fill{suffix}"
    (tmp_path / f"{module}.py").write_text(INITIALIZER_MODULE.format(name=registered),
                                           encoding="utf-8")
    spelling = f"fill{suffix}"
    (tmp_path / "p.init").write_text(f"Linear -> {spelling}(val=2.0)\n", encoding="utf-8")
    try:
        yield module, registered
    finally:
        WEIGHT_INITIALIZERS._classes.pop(registered, None)
        sys.modules.pop(module, None)


def test_initializer_of_a_module_not_imported_is_e101(user_initializer, tmp_path):
    """The negative case: without --import the name is unknown."""
    result = cli("compile", "p.init", cwd=tmp_path)
    assert result.returncode == 1 and "E101" in result.stderr


@pytest.mark.parametrize("command", [
    ["compile", "p.init"],
    ["compile", "p.init", "--json"],
    ["lint", "p.init"],
    ["explain", "p.init", "--model", "torch.nn:Linear(3, 3)"],
])
@pytest.mark.parametrize("how", ["module-name", "file"])
def test_import_makes_a_registered_initializer_known(user_initializer, tmp_path, command,
                                                     how):
    """--import MODULE (or FILE.py), found from the current directory, registers it first."""
    module, registered = user_initializer
    target = module if how == "module-name" else f"{module}.py"
    result = cli(*command, "--import", target, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "E101" not in result.stdout + result.stderr
    if command[0] == "compile":
        assert registered in result.stdout
    elif command[0] == "explain":
        assert f"{registered}(val=2.0" in result.stdout


OWN_MODEL_FILE = '''\
from torch import nn

from initdsl import WEIGHT_INITIALIZERS, BaseInit


@WEIGHT_INITIALIZERS.register_module(name="{name}")
class Nines(BaseInit):
    def init_weight(self, weight):
        weight.data.fill_(9.0)


def build():
    return nn.Sequential(nn.Linear(3, 3))
'''


@pytest.fixture
def model_with_initializer(tmp_path):
    """A model file that registers its own initializer; the registry is restored afterwards."""
    registered = f"Nines{_letters()}"
    (tmp_path / "models.py").write_text(OWN_MODEL_FILE.format(name=registered),
                                        encoding="utf-8")
    spelling = registered.lower()
    (tmp_path / "p.init").write_text(f"Linear -> {spelling}\n", encoding="utf-8")
    try:
        yield registered
    finally:
        WEIGHT_INITIALIZERS._classes.pop(registered, None)


@pytest.mark.parametrize("command", ["explain", "lint", "apply"])
def test_initializer_registered_in_the_model_file_is_known(model_with_initializer, tmp_path,
                                                           command):
    """--model models.py:build imports the file before the policy is checked (it was E101)."""
    args = [command, "p.init", "--model", "models.py:build"]
    if command == "apply":
        args += ["--out", "out.pt"]
    result = cli(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "E101" not in result.stdout + result.stderr
    if command == "explain":
        assert model_with_initializer in result.stdout
    if command == "apply":
        state = torch.load(tmp_path / "out.pt", weights_only=True)
        assert torch.all(state["0.weight"] == 9) and torch.all(state["0.bias"] == 0)


# -- models that fail to build ------------------------------------------------------------

TIMM_STYLE = '''\
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, depth=3):
        super().__init__()
        self.rates = [x.item() for x in torch.linspace(0, 0.1, depth)]  # timm's drop path
        self.fc = nn.Linear(3, 3)


def build():
    return Net()
'''


@pytest.mark.parametrize("command", ["explain", "lint"])
def test_constructor_reading_values_fails_on_meta_and_says_device_cpu(tmp_path, command):
    """On meta the constructor's .item() fails: exit 2 with a hint; --device cpu works."""
    (tmp_path / "timm_like.py").write_text(TIMM_STYLE, encoding="utf-8")
    (tmp_path / "p.init").write_text("Linear -> constant(1)\n", encoding="utf-8")
    failed = cli(command, "p.init", "--model", "timm_like.py:build", cwd=tmp_path)
    assert failed.returncode == 2
    assert "--device cpu" in failed.stderr and "meta" in failed.stderr
    worked = cli(command, "p.init", "--model", "timm_like.py:build", "--device", "cpu",
                 cwd=tmp_path)
    assert worked.returncode == 0, worked.stderr
    if command == "explain":
        assert "fc.weight" in worked.stdout and "Constant(val=1" in worked.stdout


BROKEN_MODEL = "import torch\n\ndef build(:\n    pass\n"


@pytest.mark.parametrize("command", [
    ["explain", "p.init"],
    ["lint", "p.init"],
    ["apply", "p.init", "--out", "out.pt"],
])
def test_model_file_with_a_syntax_error_exits_2_with_file_and_line(tmp_path, command):
    """One line naming the file and the line; --traceback adds Python's traceback."""
    (tmp_path / "broken.py").write_text(BROKEN_MODEL, encoding="utf-8")
    (tmp_path / "p.init").write_text("Linear -> constant(1)\n", encoding="utf-8")
    args = [*command, "--model", "broken.py:build"]
    result = cli(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert "broken.py" in result.stderr and "line 3" in result.stderr
    assert "Traceback" not in result.stderr
    traced = cli(*args, "--traceback", cwd=tmp_path)
    assert traced.returncode == 2
    assert "Traceback (most recent call last)" in traced.stderr
    assert "SyntaxError" in traced.stderr
    assert not (tmp_path / "out.pt").exists()


# -- lint findings a new user meets ---------------------------------------------------------

#: id → (policy, model spec or None, exit code, the finding's text)
LINT_FINDINGS = {
    "name-rule-on-a-parameter": ("name pos_embed -> xavier\n", "initdsl.zoo:vit_b16", 1,
                                 "p.init:1:6: E171 `pos_embed` is a parameter of "
                                 "VisionTransformer, not a child module"),
    "name-rule-on-a-buffer": ("name running_mean -> constant(0)\n",
                              "torch.nn:BatchNorm2d(3)", 1,
                              "E171 `running_mean` is a buffer of BatchNorm2d"),
    "multihead-attention-writes-nothing": ("MultiheadAttention -> xavier\n",
                                           "torch.nn:MultiheadAttention(8, 2)", 0,
                                           "p.init:1:1: W211 the rule matches 1 module "
                                           "(MultiheadAttention) but writes nothing"),
    "unknown-scheme": ('load "s3://bucket/r50.pth"\n', None, 1,
                       "p.init:1:6: E203 checkpoint `s3://bucket/r50.pth`: the scheme `s3://` "
                       "is not supported"),
    "unknown-name": ('load "torchvision://resnet5"\n', None, 1,
                     "p.init:1:6: E204 checkpoint 'torchvision://resnet5': 'resnet5' is not a "
                     "torchvision checkpoint name mmengine knows; did you mean "
                     "torchvision://resnet50"),
    "open-mmlab-name-not-cached": ('Conv2d -> kaiming\nload "open-mmlab://resnet50_v1c"\n',
                                   None, 0, "p.init:2:6: W205 checkpoint "
                                   "`open-mmlab://resnet50_v1c` (https://"),
}


@pytest.mark.parametrize("case", list(LINT_FINDINGS))
def test_lint_findings(tmp_path, case):
    policy, spec, code, finding = LINT_FINDINGS[case]
    (tmp_path / "p.init").write_text(policy, encoding="utf-8")
    args = ["lint", "p.init"] + (["--model", spec] if spec else [])
    result = cli(*args, cwd=tmp_path)
    assert result.returncode == code, result.stdout + result.stderr
    assert finding in result.stdout


def _no_constants(name: str):
    raise AssertionError(f"not JSON: {name}")


@pytest.mark.parametrize("policy, spec", [
    ("Linear -> constant(1e308)\n", "torch.nn:Linear(2, 2)"),
    ("Linear -> normal(bias_prob=1.0)\n", None),
    ("Linear -> constant(1e999)\nLinear -> normal(std=1e-999)\n", None),
    ("Linear -> normal(bias_prob=1.0)\nLinear -> constant(1e308)\n", "torch.nn:Linear(2, 2)"),
    ("Linear -> normal(std=1e300)\n", "torch.nn:Linear(2, 2)"),
])
def test_lint_json_is_strict_json(tmp_path, policy, spec):
    """No NaN or Infinity in the document, whatever numbers the policy holds."""
    (tmp_path / "p.init").write_text(policy, encoding="utf-8")
    args = ["lint", "p.init", "--json"] + (["--model", spec] if spec else [])
    result = cli(*args, cwd=tmp_path)
    assert result.returncode in (0, 1), result.stderr
    document = json.loads(result.stdout, parse_constant=_no_constants)
    assert document["command"] == "lint" and document["version"] == 1
    assert document["summary"]["files"] == 1


# -- values checked against the model, as lint places them ----------------------------------

@pytest.mark.parametrize("policy, code, at", [
    ("Linear -> constant(1e308)\n", "E122", "1e308"),
    ("Linear -> xavier(gain=-0.5, distribution=uniform)\n", "E122", "-0.5"),
    ('load "good.pth" map_location "meta"\n', "E132", '"meta"'),
    ('load "good.pth" map_location "banana"\n', "E132", '"banana"'),
    ('load "empty.pth"\n', "E133", '"empty.pth"'),
    ('load "sparse.pth"\n', "E133", '"sparse.pth"'),
])
def test_lint_with_a_model_places_value_errors_where_a_run_does(tmp_path, policy, code, at):
    """lint --model reports what the run would refuse, at the same span as initdsl.apply."""
    state = torch.nn.Linear(3, 3).state_dict()
    torch.save(state, tmp_path / "good.pth")
    (tmp_path / "empty.pth").write_bytes(b"")
    torch.save({**state, "weight": state["weight"].to_sparse()}, tmp_path / "sparse.pth")
    (tmp_path / "p.init").write_text(policy, encoding="utf-8")
    result = cli("lint", "p.init", "--model", "torch.nn:Linear(3, 3)", "--json", cwd=tmp_path)
    assert result.returncode == 1
    (finding,) = json.loads(result.stdout)["diagnostics"]
    column = policy.index(at) + 1
    assert (finding["code"], finding["line"], finding["column"], finding["end_column"]) == \
        (code, 1, column, column + len(at))
