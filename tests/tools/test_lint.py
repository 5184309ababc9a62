"""``initdsl lint``: every lint rule with a positive and a negative case, end to end.

All cases are linted in four subprocess runs (one per model), each over
every policy file that uses that model, with ``--json``; each test then reads
the diagnostics of its own files.
"""

from __future__ import annotations

import json

import pytest

from tests.tools.conftest import NET, cli, run_many

BLOCKED = f"{NET}(blocked=True)"
OLD = f"{NET}(old_signature=True)"

#: code → (model for the positive case, positive policy, model for the negative, negative policy)
CASES: dict[str, tuple[str | None, str, str | None, str]] = {
    "W201": (None, "Conv2D -> kaiming\n", None, "Conv2d, _BatchNorm, _ConvNd -> kaiming\n"),
    "E202": (None, 'load "missing.pth"\n', None, 'load "full.pth"\n'),
    "W210": (NET, "Conv3d -> kaiming\n", NET, "Conv2d -> kaiming\n"),
    "E171": (NET, "Conv2d -> kaiming\nname scale -> constant(1)\n",
             NET, "Conv2d -> kaiming\nname bn -> constant(1)\n"),
    "W212": (NET, "param scales -> constant(1)\n", NET, "param scale -> constant(1)\n"),
    "W220": (NET, "Conv2d -> kaiming\nConv2d -> xavier\n",
             NET, "Conv2d -> kaiming\nBatchNorm2d -> constant(1)\n"),
    "I230": (NET, "Conv2d -> kaiming\n", NET, 'load "full.pth"\n'),
    "E240": (NET, "Linear -> kaiming\nLayerNorm -> kaiming\n", NET, "Linear -> kaiming\n"),
    "E240-bias": (NET, "LSTM -> constant(1)\n", NET, "scope rnn {}\n"),
    "W250": (BLOCKED, "Conv2d -> kaiming\n", NET, "Conv2d -> kaiming\n"),
    "E260": (NET, 'load "full.pth" prefix "nothing."\n',
             NET, 'scope head { load "full.pth" prefix "head." }\n'),
    "W261": (NET, 'load "extra.pth"\n', NET, 'load "full.pth"\n'),
    "W262": (NET, 'load "mismatch.pth"\n', NET, 'load "full.safetensors"\n'),
    "E290": (OLD, "Conv2d -> kaiming\n", NET, "Conv2d -> kaiming\n"),
}

#: code → (line, column) of the positive finding and a fragment of its message.
EXPECTED = {
    "W201": ((1, 1), "did you mean `Conv2d`?"),
    "E202": ((1, 6), "`missing.pth` does not exist"),
    "W210": ((1, 1), "`Conv3d` matches no module in the model (Net)"),
    "E171": ((2, 6), "`scale` is a parameter of Net, not a child module"),
    "W212": ((1, 7), "`param scales` matches no parameter of the model (Net); did you mean "
                     "`scale`?"),
    "W220": ((1, 1), "overwritten later, by Xavier at W220-pos.init:2:1"),
    "I230": ((1, 1), "13 of 21 parameters are written by no rule and keep the values the "
                     "model's constructor gave them: scale, bn.weight, bn.bias, rnn.weight_ih_l0"),
    "E240": ((2, 1), "at least 2 dimensions"),
    "E240-bias": ((1, 1), "its 'bias' is a bool"),
    "W250": ((1, 1), "`blocks.{0..1}` (Block) have their own init_cfg"),
    "E260": ((1, 1), "nothing. is not in the pretrained model"),
    "W261": ((1, 1), "`extra.weight`"),
    "W262": ((1, 1), "`head.weight` (5, 8) vs (4, 8)"),
    "E290": ((1, 1), "OldStyle.init_weights"),
}


@pytest.fixture(scope="session")
def linted(workdir):
    """path → diagnostics (JSON dicts) of ``lint --json``, one run per model.

    The runs without a model and with ``net`` (most cases) are subprocesses;
    the two other models run in-process, through the same ``main``.
    """
    files: dict[str | None, list[str]] = {}
    for code, (pos_model, pos, neg_model, neg) in CASES.items():
        for kind, model, text in (("pos", pos_model, pos), ("neg", neg_model, neg)):
            name = f"{code}-{kind}.init"
            (workdir / name).write_text(text)
            files.setdefault(model, []).append(name)
    commands = {model: ["lint", "--json", *names, *([] if model is None else ["--model", model])]
                for model, names in files.items()}
    results = run_many([commands[None], commands[NET]], cwd=workdir)
    results += [cli(*commands[model], cwd=workdir) for model in (BLOCKED, OLD)]
    found: dict[str, list[dict]] = {}
    for result in results:
        assert result.returncode in (0, 1), result.stderr
        document = json.loads(result.stdout)
        for diagnostic in document["diagnostics"]:
            found.setdefault(diagnostic["path"], []).append(diagnostic)
        found.setdefault("documents", []).append(document)
    return found


@pytest.mark.parametrize("case", list(CASES))
def test_rule_fires_on_positive_and_not_on_negative(linted, case):
    code = case.split("-")[0]
    positive = [d for d in linted.get(f"{case}-pos.init", []) if d["code"] == code]
    negative = [d for d in linted.get(f"{case}-neg.init", []) if d["code"] == code]
    assert positive, linted.get(f"{case}-pos.init")
    assert not negative, negative
    (line, column), fragment = EXPECTED[case]
    first = positive[0]
    assert (first["line"], first["column"]) == (line, column)
    assert fragment in first["message"]
    if code[0] in "EWI":
        assert first["severity"] == {"E": "error", "W": "warning", "I": "info"}[code[0]]


def test_negative_cases_of_model_rules_are_clean(linted):
    # The negatives are real policies: apart from information (I230), nothing is wrong.
    for case in CASES:
        if case in ("I230",):
            continue
        for diagnostic in linted.get(f"{case}-neg.init", []):
            assert diagnostic["code"] == "I230", diagnostic


def test_json_schema(linted):
    for document in linted["documents"]:
        assert document["version"] == 1 and document["command"] == "lint"
        assert set(document) == {"version", "command", "model", "diagnostics", "unreadable",
                                 "summary"}
        assert set(document["summary"]) == {"files", "errors", "warnings", "info",
                                            "unreadable"}
        assert document["unreadable"] == [] and document["summary"]["unreadable"] == 0
        for diagnostic in document["diagnostics"]:
            assert set(diagnostic) == {"code", "severity", "message", "path", "line", "column",
                                       "end_line", "end_column"}
            assert isinstance(diagnostic["line"], int) and diagnostic["line"] >= 1
        counts = {s: sum(d["severity"] == s for d in document["diagnostics"])
                  for s in ("error", "warning", "info")}
        assert counts == {"error": document["summary"]["errors"],
                          "warning": document["summary"]["warnings"],
                          "info": document["summary"]["info"]}


def test_text_output_and_exit_codes(linted, workdir):
    warnings = cli("lint", "W220-pos.init", "--model", NET, cwd=workdir)
    strict = cli("lint", "W220-pos.init", "--model", NET, "--strict", cwd=workdir)
    errors = cli("lint", "E240-pos.init", "W201-neg.init", "--model", NET, "--color", "always",
                 cwd=workdir)
    assert warnings.returncode == 0 and strict.returncode == 1
    assert warnings.stdout.startswith(
        "W220-pos.init:1:1: W220 no write of this rule survives: all 2 parameters it writes "
        "(`conv.weight`, `conv.bias`) are overwritten later, by Xavier at W220-pos.init:2:1\n"
        "  |\n1 | Conv2d -> kaiming\n  | ^^^^^^^^^^^^^^^^^\n")
    # Model-wide information has no source excerpt.
    assert "\n\nW220-pos.init:1:1: I230 13 of 21 parameters" in warnings.stdout
    assert warnings.stdout.endswith("\n\nFound 1 warning, 1 note in 1 file.\n")
    assert "\x1b[" not in warnings.stdout  # not a terminal: no colour
    assert errors.returncode == 1
    assert ("\x1b[1mE240-pos.init:2:1:\x1b[0m \x1b[1;31mE240\x1b[0m the initializer rejects a "
            "module it matches") in errors.stdout
    assert errors.stdout.rstrip().endswith("in 2 files.")


def test_no_findings(workdir):
    clean = cli("lint", "W201-neg.init", cwd=workdir)
    assert (clean.returncode, clean.stdout, clean.stderr) == (0, "No findings in 1 file.\n", "")


def test_findings_about_the_model_have_no_excerpt(linted, workdir):
    result = cli("lint", "E290-pos.init", "--model", OLD, cwd=workdir)
    assert result.returncode == 1
    first, blank, summary, end = result.stdout.split("\n")
    assert first.startswith("E290-pos.init:1:1: E290 the run would fail: "
                            "OldStyle.init_weights(pretrained)")
    assert first.endswith("is called by its parent with no arguments (missing a required "
                          "argument: 'pretrained'); give its parameters defaults")
    assert (blank, summary, end) == ("", "Found 1 error in 1 file.", "")


def test_missing_checkpoint_beside_the_policy_gets_a_hint(tmp_path, workdir):
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "p.init").write_text('load "full.pth"\n')
    (tmp_path / "policies" / "full.pth").write_bytes((workdir / "full.pth").read_bytes())
    result = cli("lint", "policies/p.init", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.startswith(
        f"policies/p.init:1:6: E202 checkpoint `full.pth` does not exist (relative paths are "
        f"read from the current directory, {tmp_path}); it exists relative to the policy file "
        f"(policies/full.pth): run from policies or write that path\n")
    assert cli("lint", "p.init", cwd=tmp_path / "policies").returncode == 0
