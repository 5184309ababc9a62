"""Highlighting .init files: the Pygments lexer, and its keywords in step with the grammar."""

from __future__ import annotations

import re

import pytest

from initdsl.language.ast import KEYWORDS

from .conftest import REPO

pygments = pytest.importorskip("pygments")
from pygments.lexers import get_lexer_by_name, get_lexer_for_filename  # noqa: E402
from pygments.token import Error, Keyword, Name, Operator  # noqa: E402

from initdsl.tools.pygments_lexer import MODIFIER_WORDS, STATEMENT_WORDS, InitLexer  # noqa: E402

GRAMMAR = (REPO / "grammar" / "initdsl.lark").read_text()
EXAMPLES = sorted(REPO.glob("examples/**/*.init"))


def grammar_keywords() -> set[str]:
    """Every lower-case word the grammar spells as a literal (``"load"``), and ``_THEN``'s."""
    code = "\n".join(line for line in GRAMMAR.splitlines() if not line.lstrip().startswith("//"))
    found = set(re.findall(r'"([a-z_]+)"', code))
    found.update(re.findall(r"_THEN: /([a-z]+)\(", code))
    return found


def test_the_keywords_are_the_grammars():
    assert grammar_keywords() == set(KEYWORDS) | set(MODIFIER_WORDS)
    assert set(STATEMENT_WORDS) | {"true", "false", "none"} == set(KEYWORDS)


def test_the_entry_point_finds_the_lexer():
    assert isinstance(get_lexer_by_name("init"), InitLexer)
    assert isinstance(get_lexer_for_filename("configs/vit.init"), InitLexer)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_example_lexes_whole_without_errors(path):
    text = path.read_text()
    tokens = list(InitLexer().get_tokens(text))
    assert "".join(value for _, value in tokens) == text
    assert [value for kind, value in tokens if kind in Error] == []


@pytest.mark.parametrize("text, expected", [
    ("Conv2d, _BatchNorm -> kaiming(mode=fan_out)",
     [(Name.Class, "Conv2d"), (Name.Class, "_BatchNorm"), (Operator, "->"),
      (Name.Function, "kaiming"), (Name.Attribute, "mode"), (Name, "fan_out")]),
    ("param blocks.{i}.w -> normal(std=0.02) then scale(0.5)",
     [(Keyword, "param"), (Name, "blocks"), (Name.Variable, "i"), (Name, "w"),
      (Operator, "->"), (Name.Function, "normal"), (Name.Attribute, "std"),
      (Keyword, "then"), (Name.Function, "scale")]),
    ("*LayerNorm* -> ones", [(Name.Class, "*LayerNorm*"), (Operator, "->"),
                             (Name.Function, "ones")]),
    ('load "a.pth" prefix "backbone."', [(Keyword, "load"), (Name, "prefix")]),
    ("let s = tensor.fan_in ** -0.5", [(Keyword, "let"), (Name.Attribute, "s"),
                                        (Name, "tensor"), (Name, "fan_in"),
                                        (Operator, "**"), (Operator, "-")]),
])
def test_tokens(text, expected):
    tokens = [(kind, value) for kind, value in InitLexer().get_tokens(text)
              if kind in (Keyword, Operator) or kind in Name]
    for token in expected:
        assert token in tokens, (token, tokens)
