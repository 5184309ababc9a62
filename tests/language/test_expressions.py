"""Computed values: the expression language, `let`, captures, and where errors point.

Tables of input → expected output, as the rest of the language's tests.
"""

from __future__ import annotations

import ast as python_ast
import builtins
import math
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import initdsl
from initdsl.core import expressions as E
from initdsl.core.expressions import (
    ExpressionError,
    evaluate,
    format_expression,
    parse_expression,
)

# -- the evaluator ------------------------------------------------------------------------

NAMES = {"i": 2, "n": 12, "x": 0.5, "zero": 0, "neg": -4, "s": "fan_in", "b": True}


def _resolve(reference):
    value = NAMES.get(reference.dotted)
    if value is None:
        raise ExpressionError(f"unknown name {reference.dotted}", "E180", reference.start,
                              reference.end)
    return value[reference.index] if reference.index is not None else value


VALUES = [
    ("1", 1), ("0.02", 0.02), ("-2", -2), ("1e-6", 1e-6),
    ("1 + 2 * 3", 7), ("(1 + 2) * 3", 9), ("2 ** 3 ** 2", 512), ("-2 ** 2", -4),
    ("(-2) ** 2", 4), ("2 ** -1", 0.5), ("7 / 2", 3.5), ("6 / 3", 2.0), ("10 - 4 - 3", 3),
    ("0.02 / sqrt(2 * n)", 0.02 / math.sqrt(24)), ("0.02 / sqrt(2 * (i + 1))", 0.02 / math.sqrt(6)),
    ("log(exp(1))", 1.0), ("abs(neg)", 4), ("min(3, i, 5)", 2), ("max(x, 0.25)", 0.5), ("min(7)", 7),
    ("n ** -0.5", 12 ** -0.5), ("-3 * n ** -0.5", -3 * 12 ** -0.5), ("--x", 0.5),
    ("s", "fan_in"),  # a lone reference may be any value
]


@pytest.mark.parametrize("text, value", VALUES)
def test_evaluate(text, value):
    result = evaluate(parse_expression(text), _resolve)
    assert result == value and type(result) is type(value)


ERRORS = [
    # text, code, (start, end) of the part blamed
    ("1 / 0", "E181", (0, 5)),
    ("1 / zero", "E181", (0, 8)),
    ("sqrt(neg)", "E181", (0, 9)),
    ("log(0)", "E181", (0, 6)),
    ("exp(1000)", "E181", (0, 9)),
    ("10.0 ** 400", "E181", (0, 11)),
    ("2 ** 100000", "E181", (0, 11)),
    ("neg ** 0.5", "E181", (0, 10)),
    ("s * 2", "E181", (0, 1)),  # a string is no number
    ("b + 1", "E181", (0, 1)),  # neither is a boolean
    ("nope + 1", "E180", (0, 4)),
    ("foo(1)", "E180", (0, 3)),
    ("max()", "E181", (0, 5)),
    ("sqrt(1, 2)", "E181", (0, 10)),
    ("1 +", "E181", (3, 4)),
    ("(1", "E181", (2, 3)),
    ("1 2", "E181", (2, 3)),
    ("a.", "E181", (2, 3)),
    ("x[1.5]", "E181", (2, 5)),
    ("@", "E181", (0, 1)),
    ("1e999", "E181", (0, 5)),
    ("1e-999", "E181", (0, 6)),
]


@pytest.mark.parametrize("text, code, where", ERRORS)
def test_errors_have_a_code_and_the_part_to_blame(text, code, where):
    with pytest.raises(ExpressionError) as raised:
        evaluate(parse_expression(text), _resolve)
    assert (raised.value.code, (raised.value.start, raised.value.end)) == (code, where)


def test_nesting_is_bounded_not_a_recursion_error():
    with pytest.raises(ExpressionError, match="nest at most"):
        parse_expression("(" * 200 + "1" + ")" * 200)
    with pytest.raises(ExpressionError, match="nest at most"):
        parse_expression("-" * 200 + "1")


def test_no_python_evaluation_is_reachable(monkeypatch):
    """The evaluator is a walk over the tree: eval, exec, compile and __import__ are never
    called, and the module does not name them."""
    source = Path(E.__file__).read_text()
    names = {node.id for node in python_ast.walk(python_ast.parse(source))
             if isinstance(node, python_ast.Name)}
    attributes = {node.attr for node in python_ast.walk(python_ast.parse(source))
                  if isinstance(node, python_ast.Attribute)}
    assert not {"eval", "exec", "compile", "__import__", "getattr", "globals"} & names
    assert not {"eval", "exec", "__dict__", "__globals__"} & attributes

    def refuse(*args, **kwargs):
        raise AssertionError("Python evaluation reached")
    for name in ("eval", "exec", "compile"):
        monkeypatch.setattr(builtins, name, refuse)
    for text in ("__import__('os').system('true')", "().__class__", "x.__class__",
                 "open('f')", "lambda: 1", "[1]", "'a'"):
        with pytest.raises(ExpressionError):
            evaluate(parse_expression(text), _resolve)


# -- printing: canonical text, parse ∘ format = identity ------------------------------------

CANONICAL = [
    ("1+2*3", "1 + 2 * 3"), ("(1+2)*3", "(1 + 2) * 3"), ("a-(b-c)", "a - (b - c)"),
    ("(a-b)-c", "a - b - c"), ("a/(b*c)", "a / (b * c)"), ("(-2)**2", "(-2) ** 2"),
    ("-(2**2)", "-2 ** 2"), ("2**(3**2)", "2 ** 3 ** 2"), ("(2**3)**2", "(2 ** 3) ** 2"),
    ("2**-x", "2 ** -x"), ("sqrt( 2 )", "sqrt(2)"), ("max(1,(2))", "max(1, 2)"),
    ("tensor.shape[ -1 ]", "tensor.shape[-1]"), ("1E-06", "1e-06"),
]


@pytest.mark.parametrize("text, canonical", CANONICAL)
def test_canonical_text(text, canonical):
    tree = parse_expression(text)
    assert format_expression(tree) == canonical
    assert parse_expression(canonical) == tree


names = st.sampled_from(["i", "n", "x", "model.config.n_layer", "tensor.fan_in"])
numbers = st.one_of(st.integers(0, 10**6), st.floats(0, 1e6, allow_nan=False))
trees = st.recursive(
    st.one_of(numbers.map(E.Number), names.map(lambda n: E.Reference(tuple(n.split("."))))),
    lambda inner: st.one_of(
        inner.map(lambda t: E.Unary("-", t)),
        st.tuples(st.sampled_from(["+", "-", "*", "/", "**"]), inner, inner).map(
            lambda t: E.Binary(*t)),
        st.tuples(st.sampled_from(["sqrt", "max", "min"]), st.lists(inner, min_size=1,
                                                                     max_size=3)).map(
            lambda t: E.Function(t[0], t[1][:1] if t[0] == "sqrt" else t[1]))),
    max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(trees)
def test_parse_of_format_is_identity(tree):
    assert parse_expression(format_expression(tree)) == tree


# -- in a policy: check (no model), compile, and the model's values ---------------------------

CHECKED = [
    # text, code, line:col
    ("X -> normal(std=1 / 0)", "E181", "1:17"),
    ("X -> normal(std=sqrt(-1))", "E181", "1:17"),
    ("X -> normal(std=nope * 2)", "E180", "1:17"),
    ("X -> normal(std=0.02 * lenn(model.blocks))", "E180", "1:24"),
    ("X -> normal(std=tensor.fanin)", "E180", "1:17"),
    ("X -> normal(std=tensor.shape)", "E180", "1:17"),
    ("param a.{i}.w -> normal(std=i)\nparam b -> normal(std=1 / i)", "E183", "2:27"),
    ("let s = 2\nX -> normal(std=s.x)", "E181", "2:17"),
    ("let model = 1", "E181", "1:5"),
    ("let s = \"a\"\nX -> normal(std=s * 2)", "E181", "2:17"),
    ("scope a { let s = 1 }\nX -> normal(std=s * 2)", "E180", "2:17"),
    ("param a.{i}.{i} -> normal", "E150", "1:7"),
    ("param a.b{i} -> normal", "E001", "1:10"),
    ("X -> normal then frob(1)", "E104", "1:18"),
    ("X -> normal then zero_row(1.5)", "E120", "1:27"),
    ("X -> normal then scale()", "E104", "1:18"),
    ("X -> normal(std=model.__class__)", "E180", "1:17"),
]


@pytest.mark.parametrize("text, code, where", CHECKED)
def test_policy_errors_point_at_the_expression(text, code, where):
    with pytest.raises(initdsl.PolicyError) as raised:
        initdsl.compile(text)
    first = raised.value.diagnostics[0]
    assert (first.code, f"{first.span.line}:{first.span.column}") == (code, where)


COMPILED = [
    # constants fold: a policy of constants is plain mmengine init_cfg
    ("X -> normal(std=0.02 / 2)", [dict(type="Normal", layer="X", std=0.01)]),
    ("let s = 0.02\nX -> normal(std=s, mean=-s)", [dict(type="Normal", layer="X", std=0.02,
                                                        mean=-0.02)]),
    ("let m = fan_out\nX -> kaiming(mode=m)", [dict(type="Kaiming", layer="X", mode="fan_out")]),
    # computed values live in Selects: mmengine's own types carry only what mmengine knows
    ("X -> normal(std=model.config.initializer_range)",
     [dict(type="Select", layer="X",
           init=dict(type="Normal", std=dict(expr="model.config.initializer_range")))]),
    ("let s = model.a\nX -> normal(std=s / 2)",
     [dict(type="Select", layer="X", init=dict(type="Normal", std=dict(expr="model.a / 2")))]),
    ("X -> trunc_normal(std=0.02, sampler=torch)",
     [dict(type="Select", layer="X", init=dict(type="TruncNormal", std=0.02, sampler="torch"))]),
    ("param blocks.{i}.w -> normal(std=0.02 / sqrt(2*(i+1)))",
     [dict(type="Select", params="blocks.{i}.w",
           init=dict(type="Normal", std=dict(expr="0.02 / sqrt(2 * (i + 1))")))]),
    ("*Norm -> ones", [dict(type="Select", layer="*Norm", init=dict(type="Ones"))]),
    ("Embedding -> normal then zero_row(module.padding_idx)",
     [dict(type="Select", layer="Embedding", init=dict(type="Normal"),
           then=[dict(op="zero_row", row=dict(expr="module.padding_idx"))])]),
    ("seed 3\nX -> zeros", [dict(type="Seed", seed=3), dict(type="Zeros", layer="X")]),
]


@pytest.mark.parametrize("text, init_cfg", COMPILED)
def test_compile_and_decompile(text, init_cfg):
    assert initdsl.compile(text) == init_cfg
    assert initdsl.compile(initdsl.decompile(init_cfg)) == init_cfg


class _Config:
    n_layer = 4
    initializer_range = 0.5


class _Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 8)
        self.emb = nn.Embedding(10, 4, padding_idx=3)


class _Net(nn.Module):
    def __init__(self, depth=3):
        super().__init__()
        self.config = _Config()
        self.blocks = nn.ModuleList(_Block() for _ in range(depth))
        self.head = nn.Linear(8, 2)


def test_values_come_from_the_model_the_module_the_tensor_and_the_captures():
    model = _Net()
    records = initdsl.apply(model, """
let std = model.config.initializer_range
param blocks.{i}.fc.weight -> constant(std / (i + 1))
Linear.bias -> constant(tensor.shape[0] + len(model.blocks))
param head.weight -> constant(tensor.fan_in * 10 + tensor.fan_out)
Embedding -> constant(module.padding_idx) then zero_row(module.padding_idx)
""")
    for i, block in enumerate(model.blocks):
        assert torch.all(block.fc.weight == 0.5 / (i + 1))
        assert torch.all(block.fc.bias == 8 + 3)
        assert torch.all(block.emb.weight[3] == 0) and torch.all(block.emb.weight[4] == 3)
    assert torch.all(model.head.weight == 82)
    assert "computed: val=std / (i + 1)" not in records["blocks.1.fc.weight"].text
    assert "(computed: val=model.config.initializer_range / (i + 1))" in \
        records["blocks.1.fc.weight"].text
    assert "then zero_row(3)" in records["blocks.0.emb.weight"].text


def test_a_policy_is_size_generic():
    text = "param blocks.{i}.fc.weight -> normal(std=1 / sqrt(len(model.blocks) * (i + 1)))"
    for depth in (1, 5):
        schedule = initdsl.plan(_Net(depth), text)
        stds = {t.name: t.final_planned.dist.std for t in schedule.targets
                if t.final_planned is not None and t.name.endswith("fc.weight")}
        assert stds == {f"blocks.{i}.fc.weight": 1 / math.sqrt(depth * (i + 1))
                        for i in range(depth)}


PLANNING = [
    # an error found against the model: code, and what the message says
    ("param blocks.{i}.fc.weight -> normal(std=model.config.nlayer)", "E182", "did you mean"),
    ("param blocks.{i}.fc.weight -> normal(std=1 / i)", "E181", "division by zero"),
    ("param blocks.{i}.fc.bias -> normal(std=tensor.fan_in)", "E181", "fans need at least 2"),
    ("param blocks.{i}.fc.weight -> normal(std=tensor.shape[5])", "E181", "no such item"),
    ("param blocks.{i}.fc.weight -> normal(std=model.blocks)", "E181", "not a value"),
    ("param blocks.{i}.fc.weight -> normal(std=0 - model.config.n_layer)", "E122", "std"),
    ("Embedding -> normal then zero_row(module.num_embeddings)", "E122", "outside the 10 rows"),
]


@pytest.mark.parametrize("text, code, words", PLANNING)
def test_errors_found_against_the_model_write_nothing(text, code, words):
    model = _Net()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(initdsl.PolicyError) as raised:
        initdsl.apply(model, "Linear -> constant(7)\n" + text)
    (diagnostic,) = raised.value.diagnostics
    assert diagnostic.code == code and words in diagnostic.message
    assert diagnostic.span.line == 2 and diagnostic.span.column > 1  # at the argument
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_fast_mode_computes_the_same_values():
    text = ("param blocks.{i}.fc.weight -> constant(model.config.initializer_range / (i + 1))\n"
            "Embedding -> normal then zero_row(module.padding_idx)\nseed 5")
    exact, fast = _Net(), _Net()
    initdsl.apply(exact, text)
    initdsl.apply(fast, text, mode="fast")
    for i in range(3):
        assert torch.equal(exact.blocks[i].fc.weight, fast.blocks[i].fc.weight)
        assert torch.all(fast.blocks[i].emb.weight[3] == 0)
    again = _Net()
    initdsl.apply(again, text, mode="fast")  # the policy's seed: the same draws
    assert torch.equal(again.blocks[0].emb.weight, fast.blocks[0].emb.weight)
