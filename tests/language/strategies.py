"""Hypothesis strategies: policy syntax trees, and valid init_cfgs for the tiny model."""

from __future__ import annotations

from hypothesis import strategies as st

import initdsl
from initdsl.core import expressions as E
from initdsl.language.ast import (
    KEYWORDS,
    RESERVED_WORDS,
    Arg,
    Boolean,
    Call,
    Comment,
    Expression,
    Float,
    Identifier,
    Integer,
    Layer,
    LayerRule,
    Let,
    Load,
    LoadRule,
    NameRule,
    Null,
    Option,
    ParamRule,
    Policy,
    Scope,
    Seed,
    String,
)

# -- syntax trees ----------------------------------------------------------------------------

# Identifiers near the edges of the lexer: keyword look-alikes, capitals, digits,
# underscores, words that look like numbers.
IDENTIFIERS = ["a", "_", "x1", "Conv2d", "_BatchNorm", "fan_out", "mode", "std", "names",
               "loader", "scoped", "True", "None", "inf", "nan", "e5", "E1", "__init__",
               "Z_9_z", "layer", "override", "type", "bias_prob", "MyInit2"]
identifiers = st.sampled_from(IDENTIFIERS)
texts = st.text(max_size=5)
# Names that may need quoting: identifiers, keywords, digits and arbitrary text.
words = st.one_of(identifiers, st.sampled_from(sorted(KEYWORDS | RESERVED_WORDS)), texts)
child_words = st.one_of(words, st.sampled_from(["0", "1", "10", "007"]))

# Expression trees (the parser's own nodes); a lone number or name is a literal instead.
_reference = st.builds(E.Reference, st.lists(identifiers, min_size=1, max_size=3).map(tuple),
                       st.one_of(st.none(), st.integers(-3, 3)))
_expression_trees = st.recursive(
    st.one_of(st.integers(0, 10**6).map(E.Number),
              st.floats(0, 1e6, allow_nan=False).map(E.Number), _reference),
    lambda inner: st.one_of(
        inner.map(lambda t: E.Unary("-", t)),
        st.builds(E.Binary, st.sampled_from(["+", "-", "*", "/", "**"]), inner, inner),
        st.builds(E.Function, st.sampled_from(["sqrt", "log", "min", "max", "abs"]),
                  st.lists(inner, min_size=1, max_size=2).map(tuple))),
    max_leaves=6)
expressions = _expression_trees.filter(
    lambda t: not isinstance(t, E.Number)
    and not (isinstance(t, E.Unary) and isinstance(t.operand, E.Number))
    and not (isinstance(t, E.Reference) and len(t.parts) == 1 and t.index is None)
).map(Expression)

literals = st.one_of(
    st.integers(-(10**12), 10**12).map(Integer),
    st.floats(allow_nan=False, allow_infinity=False).map(Float),
    texts.map(String),
    identifiers.map(Identifier),
    st.booleans().map(Boolean),
    st.just(Null()),
)
values = st.one_of(literals, expressions)  # load options take literals only

comments = st.text(st.characters(exclude_characters="\n\r"), max_size=12).map(
    lambda s: ("#" + s).rstrip()).map(Comment)

args = st.lists(st.builds(Arg, st.one_of(st.none(), identifiers), values), max_size=4)
calls = st.builds(Call, identifiers, args)
modifiers = st.lists(st.builds(Call, st.sampled_from(["scale", "zero_row", "x"]), args),
                     max_size=2)
loads = st.builds(Load, texts.map(String),
                  st.lists(st.builds(Option, identifiers, literals), max_size=3))

leading = st.lists(comments, max_size=2)
trailing = st.one_of(st.none(), comments)

# Class names, and class-name patterns (`*LayerNorm*`).
layer_names = st.one_of(words, st.sampled_from(["*Norm", "*LayerNorm*", "Lin*ar", "*", "**"]))
layer_rules = st.builds(LayerRule, st.lists(layer_names.map(Layer), max_size=3), calls,
                        then=modifiers, comments=leading, trailing_comment=trailing)
name_rules = st.builds(NameRule, child_words, st.one_of(st.none(), calls, loads),
                       comments=leading, trailing_comment=trailing)
load_rules = st.builds(LoadRule, loads, comments=leading, trailing_comment=trailing)
# Pattern segments: plain and keyword-like words, digits, globs, and text that needs quotes.
segments = st.one_of(child_words, st.sampled_from(["*", "**", "w*", "*_proj", "weight_ih_l*",
                                                   "{i}", "{name}"]))
param_rules = st.builds(ParamRule, st.lists(segments, min_size=1, max_size=4), calls,
                        st.one_of(st.none(), layer_names.map(Layer)), then=modifiers,
                        comments=leading, trailing_comment=trailing)
lets = st.builds(Let, identifiers, values, comments=leading, trailing_comment=trailing)
seeds = st.builds(Seed, st.integers(0, 2**64 - 1), comments=leading, trailing_comment=trailing)
leaves = st.one_of(layer_rules, name_rules, param_rules, load_rules, lets, seeds)


def _scopes(inner):
    return st.builds(Scope, st.lists(child_words, min_size=1, max_size=3),
                     st.lists(inner, max_size=3), comments=leading,
                     open_comment=trailing, end_comments=st.lists(comments, max_size=2),
                     trailing_comment=trailing)


statements = st.recursive(leaves, lambda inner: st.one_of(leaves, _scopes(inner)),
                          max_leaves=6)
policies = st.builds(Policy, st.lists(statements, max_size=5),
                     st.lists(comments, max_size=2))


# -- valid init_cfgs for models.Tiny -----------------------------------------------------------

#: children each scope of Tiny can override, and those safe for fan-based initializers
CHILDREN = {
    "": (["conv1", "conv2", "bn", "fc", "seq"], ["conv1", "conv2", "fc", "seq"]),
    "seq": (["0", "1", "2"], ["0", "1", "2"]),
    "seq.2": (["0"], ["0"]),
    "fc": ([], []),
}
LAYERS = ["Conv2d", "Linear", "BatchNorm2d", "_BatchNorm", "_ConvNd", "Module", "ReLU",
          "Sequential", "LayerNorm"]
FAN_LAYERS = ["Conv2d", "Linear", "_ConvNd"]
FAN_BASED = {"Xavier", "Kaiming", "Caffe2Xavier"}

numbers = st.one_of(st.integers(-3, 3), st.floats(-3, 3, allow_nan=False))
positive = st.floats(0.001, 2.0)


def _args(kind: str):
    """Keyword arguments valid for ``kind`` (each present or not)."""
    common = {
        "bias": numbers,
        "bias_prob": st.floats(0.01, 0.99),
    }
    own = {
        "Constant": {"val": numbers},
        "Normal": {"mean": numbers, "std": positive},
        "TruncNormal": {"mean": numbers, "std": positive, "a": st.just(-2.5), "b": st.just(2.5)},
        "Uniform": {"a": st.floats(-2, -0.5), "b": st.floats(0.5, 2)},
        "Xavier": {"gain": positive, "distribution": st.sampled_from(["normal", "uniform"])},
        "Kaiming": {"a": numbers, "mode": st.sampled_from(["fan_in", "fan_out", "FAN_IN"]),
                    "nonlinearity": st.sampled_from(["relu", "leaky_relu", "linear", "tanh"]),
                    "distribution": st.sampled_from(["normal", "uniform"])},
        "Caffe2Xavier": {},
    }[kind]
    required = {"val"} if kind == "Constant" else set()
    fields = {**own, **common}
    return st.fixed_dictionaries(
        {k: v for k, v in fields.items() if k in required},
        optional={k: v for k, v in fields.items() if k not in required})


def _type(kind: str):
    return st.sampled_from([kind, initdsl.WEIGHT_INITIALIZERS.get(kind)])


@st.composite
def _initializer(draw, kind: str):
    cfg = {"type": draw(_type(kind))}
    cfg.update(draw(_args(kind)))
    return cfg


@st.composite
def _pretrained(draw, checkpoints: dict[str, str], key: str):
    cfg = {"type": draw(_type("Pretrained")), "checkpoint": checkpoints[key]}
    if draw(st.booleans()):
        cfg["map_location"] = "cpu"
    if key == "full" and draw(st.booleans()):
        cfg["prefix"] = draw(st.sampled_from(["seq.", "seq", "fc."]))
    return cfg


@st.composite
def _override(draw, checkpoints, scope: str, parent_fan: bool, parent_pretrained: bool):
    children, fan_children = CHILDREN[scope]
    kind = draw(st.sampled_from(["name-only", "Constant", "Normal", "Xavier", "Kaiming",
                                 "Uniform", "Pretrained"]))
    if kind == "name-only":
        if parent_pretrained:
            kind = "Constant"
        else:
            name = draw(st.sampled_from(fan_children if parent_fan else children))
            return {"name": name}
    if kind == "Pretrained":
        if scope != "" or "fc" not in children:
            kind = "Constant"
        else:
            entry = draw(_pretrained(checkpoints, "fc"))
            return {"name": "fc", **entry}
    name = draw(st.sampled_from(fan_children if kind in FAN_BASED else children))
    entry = draw(_initializer(kind))
    if draw(st.integers(0, 9)) == 0:
        entry["layer"] = "Conv2d"  # accepted and ignored in an override
    return {"name": name, **entry}


#: Patterns that match parameters (never a buffer) below each scope of models.Tiny.
PARAM_PATTERNS = {
    "": ["**.weight", "*.bias", "fc.weight", "seq.*.weight", "seq.**", "conv*.bias", "nothing"],
    "seq": ["*.weight", "**.bias", "2.0.weight", "**"],
    "seq.2": ["0.*", "**"],
    "fc": ["weight", "bias", "*"],
}


@st.composite
def _select(draw, scope: str):
    """A ``param`` rule's cfg: values written whatever the tensor's shape (no fans)."""
    kind = draw(st.sampled_from(["Constant", "Normal", "TruncNormal", "Uniform"]))
    init = {k: v for k, v in draw(_initializer(kind)).items() if k not in ("bias", "bias_prob")}
    cfg = {"type": "Select", "params": draw(st.sampled_from(PARAM_PATTERNS[scope])),
           "init": init}
    if draw(st.integers(0, 2)) == 0:
        # Relative to each module of a class: its own tensors (never a buffer).
        layer, params = draw(st.sampled_from([("Linear", "bias"), ("Conv2d", "weight"),
                                              ("_ConvNd", "*"), ("BatchNorm2d", "weight"),
                                              ("Linear", "**")]))
        cfg = {"type": "Select", "layer": layer, "params": params, "init": init}
    return cfg


@st.composite
def cfg_for(draw, checkpoints: dict[str, str], scope: str = ""):
    """One valid cfg for the module at ``scope`` of a models.Tiny."""
    if draw(st.integers(0, 5)) == 0:
        return draw(_select(scope))
    kind = draw(st.sampled_from(["Constant", "Normal", "TruncNormal", "Uniform", "Xavier",
                                 "Kaiming", "Caffe2Xavier", "Pretrained"]))
    pretrained = kind == "Pretrained"
    if pretrained:
        cfg = draw(_pretrained(checkpoints, "full" if scope == "" else "fc"
                               if scope == "fc" else "full"))
    else:
        cfg = draw(_initializer(kind))
        pool = FAN_LAYERS if kind in FAN_BASED else LAYERS
        layer = draw(st.one_of(
            st.just("<absent>"), st.none(), st.just([]), st.sampled_from(pool),
            st.lists(st.sampled_from(pool), min_size=1, max_size=3)))
        if layer != "<absent>":
            cfg["layer"] = layer
    children = CHILDREN[scope][0]
    if children and draw(st.integers(0, 2)) == 0:
        entries = draw(st.lists(_override(checkpoints, scope, kind in FAN_BASED, pretrained),
                                min_size=1, max_size=2))
        cfg["override"] = entries[0] if len(entries) == 1 and draw(st.booleans()) else entries
    return cfg


@st.composite
def init_cfgs(draw, checkpoints: dict[str, str]):
    """A valid init_cfg for models.Tiny in any form: a dict, a list, or ``{path: init_cfg}``."""
    form = draw(st.sampled_from(["dict", "list", "scoped"]))
    if form == "dict":
        return draw(cfg_for(checkpoints))
    if form == "list":
        return draw(st.lists(cfg_for(checkpoints), max_size=3))
    scoped = {"": draw(st.lists(cfg_for(checkpoints), max_size=2))}
    for path in draw(st.lists(st.sampled_from(["seq", "seq.2", "fc"]), unique=True,
                              max_size=3)):
        if path == "seq.2":
            scoped.setdefault("seq", [])  # every module on the path is named
        body = draw(st.one_of(cfg_for(checkpoints, path),
                              st.lists(cfg_for(checkpoints, path), max_size=2)))
        scoped[path] = body
    return scoped
