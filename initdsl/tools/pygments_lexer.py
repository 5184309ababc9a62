"""A Pygments lexer for ``.init`` policies, so that documentation renders them in colour.

Registered as the ``pygments.lexers`` entry point ``initdsl`` (aliases
``init``, ``initdsl``; files ``*.init``): Sphinx, MkDocs and anything else
that highlights with Pygments colour ```` ```init ```` blocks once initdsl is
installed. Its keywords are the grammar's
(:data:`initdsl.language.ast.KEYWORDS` and ``then``; a test keeps them in
step with ``grammar/initdsl.lark``).

Requires ``pygments`` (``pip install initdsl[docs]``).
"""

from __future__ import annotations

from pygments.lexer import RegexLexer, bygroups, words
from pygments.token import (
    Comment,
    Keyword,
    Name,
    Number,
    Operator,
    Punctuation,
    String,
    Whitespace,
)

from ..language.ast import KEYWORDS, VALUE_WORDS

__all__ = ["InitLexer", "STATEMENT_WORDS", "MODIFIER_WORDS"]

#: The words that start a statement.
STATEMENT_WORDS = tuple(sorted(KEYWORDS - VALUE_WORDS))
#: The word that chains a modifier to a rule.
MODIFIER_WORDS = ("then",)

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"


class InitLexer(RegexLexer):
    """initdsl policy files: rules, loads, scopes, ``let`` and ``seed``."""

    name = "initdsl"
    aliases = ["init", "initdsl"]
    filenames = ["*.init"]
    mimetypes = ["text/x-initdsl"]
    url = "https://github.com/initdsl/initdsl"

    tokens = {
        "root": [
            (r"[ \t\f\r]+", Whitespace),
            (r"\n", Whitespace),
            (r"#[^\n]*", Comment.Single),
            (r'"(\\\\|\\"|[^"\n])*"', String.Double),
            # `->` and `then` are followed by the initializer's (or modifier's) name.
            (rf"(->)(\s*)({_NAME})", bygroups(Operator, Whitespace, Name.Function)),
            (rf"\b(then)(\s+)({_NAME})", bygroups(Keyword, Whitespace, Name.Function)),
            (words(STATEMENT_WORDS, prefix=r"\b", suffix=r"\b"), Keyword),
            (words(tuple(sorted(VALUE_WORDS)), prefix=r"\b", suffix=r"\b"), Keyword.Constant),
            (rf"(\{{)(\s*)({_NAME})(\s*)(\}})",
             bygroups(Punctuation, Whitespace, Name.Variable, Whitespace, Punctuation)),
            (rf"({_NAME})(\s*)(=)(?!=)", bygroups(Name.Attribute, Whitespace, Operator)),
            (r"[0-9]+\.[0-9]+([eE][+-]?[0-9]+)?|[0-9]+[eE][+-]?[0-9]+", Number.Float),
            (r"[0-9]+", Number.Integer),
            # A class pattern (`*LayerNorm*`): a target, before `,`, `->` or `.`.
            (r"(\*+[A-Za-z0-9_][A-Za-z0-9_*]*|[A-Za-z0-9_]+\*[A-Za-z0-9_*]*)(?=\s*(,|->|\.))",
             Name.Class),
            (r"\*\*|[-+*/=]", Operator),
            # A class: a capitalised word (`Conv2d`, `_BatchNorm`).
            (r"_?[A-Z][A-Za-z0-9_]*", Name.Class),
            (_NAME, Name),
            (r"[(),;{}\[\].]", Punctuation),
        ],
    }
