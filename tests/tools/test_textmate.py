"""The VS Code extension's TextMate grammar, run by VS Code's own engine (vscode-textmate).

Every ``examples/**/*.init`` is tokenized by ``editors/vscode/test/tokenize.js``
(Node, with ``vscode-textmate`` and ``vscode-oniguruma`` from the npm
registry: ``npm ci --prefix editors/vscode/test``, which .ci/run does) and
compared with its golden file under ``editors/vscode/test/golden/``.
``INITDSL_UPDATE_GOLDEN=1`` rewrites the golden files after a deliberate
change (review the diff). The grammar's keywords are checked against the
Lark grammar's without Node.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest

from initdsl.language.ast import KEYWORDS, VALUE_WORDS

from .conftest import REPO
from .test_highlighting import grammar_keywords

EXTENSION = REPO / "editors" / "vscode"
GRAMMAR = EXTENSION / "syntaxes" / "initdsl.tmLanguage.json"
HARNESS = EXTENSION / "test"
GOLDEN = HARNESS / "golden"
EXAMPLES = sorted(REPO.glob("examples/**/*.init"))


def _words(rule: str) -> set[str]:
    pattern = json.loads(GRAMMAR.read_text())["repository"][rule]["match"]
    return set(re.search(r"\(([a-z|]+)\)", pattern).group(1).split("|"))


def test_the_grammars_keywords_are_the_languages():
    statement = _words("keyword")
    constants = _words("constant")
    then = re.search(r"\(([a-z]+)\)", json.loads(GRAMMAR.read_text())["repository"][
        "then-call"]["match"]).group(1)
    assert statement == set(KEYWORDS - VALUE_WORDS)
    assert constants == set(VALUE_WORDS)
    assert statement | constants | {then} == grammar_keywords()


def test_the_extension_declares_the_language_grammar_and_server():
    manifest = json.loads((EXTENSION / "package.json").read_text())
    (language,) = manifest["contributes"]["languages"]
    (grammar,) = manifest["contributes"]["grammars"]
    assert language["extensions"] == [".init"] and grammar["language"] == language["id"]
    assert (EXTENSION / grammar["path"]).resolve() == GRAMMAR
    assert json.loads(GRAMMAR.read_text())["scopeName"] == grammar["scopeName"]
    assert (EXTENSION / manifest["main"]).is_file()
    assert manifest["contributes"]["configuration"]["properties"][
        "initdsl.server.command"]["default"] == ["initdsl", "lsp"]


def _golden(path):
    return GOLDEN / (str(path.relative_to(REPO / "examples")).replace("/", "__") + ".tokens")


@pytest.fixture(scope="module")
def tokens():
    if shutil.which("node") is None or not (HARNESS / "node_modules" / "vscode-textmate").is_dir():
        pytest.skip("needs Node and `npm ci --prefix editors/vscode/test`")
    done = subprocess.run(["node", str(HARNESS / "tokenize.js"), str(GRAMMAR),
                           *(str(p.relative_to(REPO)) for p in EXAMPLES)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    blocks = {}
    for block in done.stdout.split("== ")[1:]:
        name, _, body = block.partition("\n")
        blocks[name] = body
    return blocks


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: str(p.relative_to(REPO)))
def test_tokens_match_the_golden_file(tokens, path):
    got = tokens[str(path.relative_to(REPO))]
    golden = _golden(path)
    if os.environ.get("INITDSL_UPDATE_GOLDEN"):
        GOLDEN.mkdir(exist_ok=True)
        golden.write_text(got)
    assert golden.is_file(), f"no golden file {golden} (INITDSL_UPDATE_GOLDEN=1 writes it)"
    assert got == golden.read_text()


def test_every_token_of_the_examples_has_a_scope(tokens):
    unscoped = [line for body in tokens.values() for line in body.splitlines()
                if line.count("\t") == 2 and not line.split("\t")[2]]
    assert unscoped == []
