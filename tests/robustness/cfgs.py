"""Hypothesis strategies for ``init_cfg`` values: generated from scratch, and valid ones mutated.

* :func:`junk_init_cfgs`: dicts and lists of every shape, with ``type`` a
  registered name, a registered class, a random string, another class or a
  random callable; arguments of the wrong type everywhere (huge ints,
  inf/nan, tensors, containers, objects), unknown keys, non-string keys,
  keys that are keywords; ``layer`` and ``override`` of every shape,
  overrides nested in overrides; the scoped ``{path: init_cfg}`` form with
  bad paths.
* :func:`mutated_init_cfgs`: a valid init_cfg for :class:`~._support.Small`
  (``tests.language.strategies.init_cfgs``) with one to three edits: a value
  replaced by junk, a key removed, a junk key added, a dict wrapped in a list.

Values Python cannot copy or print (a generator, a lock, an integer of
5,001 digits, a list nested 3,000 deep) are generated too, rarely.
"""

from __future__ import annotations

import copy
import math
import threading
from typing import Any

import torch
from hypothesis import strategies as st
from torch import nn

import initdsl
from tests.language.strategies import init_cfgs

from ._support import CHILDREN, LAYERS, PATHS

ARGUMENT_KEYS = ["val", "mean", "std", "a", "b", "gain", "mode", "nonlinearity", "distribution",
                 "bias", "bias_prob", "checkpoint", "prefix", "map_location", "weights_only"]
ODD_KEYS = ["name", "type", "layer", "override", "true", "none", "load", "scope", "seed", "",
            "a b", "é", "\ud800", "1x", "wholemodule", "__class__"]
NON_STRING_KEYS = [1, None, 1.5, ("t",), True, b"x", frozenset()]

WORDS = ["fan_in", "fan_out", "FAN_IN", "relu", "leaky_relu", "tanh", "linear", "selu",
         "uniform", "normal", "cpu", "meta", "cuda", "cuda:99", "\ud800", "a\x00b", "name",
         "load", "true", "Linear", "", " "]

SPECIAL_NUMBERS = [0, 1, -1, 2**31, 2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63) - 1, 10**20,
                   10**400, 0.0, -0.0, 0.5, 1.0, 1e-3, 1e308, -1e308, 1e39, 7e4, 5e-324,
                   1e-320, 1 - 1e-16, math.inf, -math.inf, math.nan]


class _Opaque:
    """An object no initializer knows what to do with."""

    def __repr__(self) -> str:
        return "<opaque>"


def _objects():
    # Built per draw: a tensor shared between examples could be written to.
    return st.sampled_from([
        lambda: 1j, lambda: b"x", lambda: _Opaque(), lambda: torch.tensor(1.0),
        lambda: torch.ones(2), lambda: torch.tensor(math.nan), lambda: torch.tensor(3),
        lambda: frozenset({1}), lambda: {1, 2}, lambda: range(3), lambda: Ellipsis,
        lambda: nn.Linear(1, 1), lambda: torch.float16,
    ]).map(lambda make: make())


# Values Python cannot copy or print; drawn rarely.
def deep_list(depth: int = 3_000) -> list:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


BUGGY_VALUES = [lambda: (x for x in [1]), threading.Lock, lambda: 10**5_000, deep_list]

scalars = st.one_of(
    st.integers(-(2**70), 2**70),
    st.sampled_from(SPECIAL_NUMBERS),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=4),
    st.sampled_from(WORDS),
    st.booleans(),
    st.none(),
)
junk = st.recursive(
    st.one_of(scalars, _objects()),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.tuples(inner, inner),
                            st.dictionaries(st.sampled_from(ARGUMENT_KEYS + ODD_KEYS), inner,
                                            max_size=2)),
    max_leaves=5,
)
buggy = st.sampled_from(BUGGY_VALUES).map(lambda make: make())


def weighted(*choices):
    """``(weight, strategy)`` pairs drawn in proportion (``one_of`` weighs all alike and
    merges repeats)."""
    pool = [strategy for weight, strategy in choices for _ in range(weight)]
    return st.integers(0, len(pool) - 1).flatmap(lambda index: pool[index])


values = weighted((30, junk), (1, buggy))


def _registered():
    return sorted(initdsl.WEIGHT_INITIALIZERS)


def _types():
    names = st.sampled_from(_registered())
    classes = names.map(initdsl.WEIGHT_INITIALIZERS.get)
    others = st.sampled_from([
        initdsl.BaseInit, initdsl.PretrainedInit, nn.Linear, nn.Identity, int, dict, object,
        len, torch.nn.init.zeros_, lambda **kwargs: None, lambda **kwargs: 42,
        lambda **kwargs: (lambda module: None),
    ])
    odd = st.one_of(st.sampled_from(["", "constant", "CONSTANT", "ConstantInit", "Pretrained",
                                     "Nope", "\ud800", "load"]), st.none(), st.integers(),
                    _objects())
    return weighted((6, names), (2, classes), (2, others), (1, odd))


layers = st.one_of(st.sampled_from(LAYERS), st.lists(st.sampled_from(LAYERS), max_size=3),
                   st.none(), st.builds(list), values)
names = st.one_of(st.sampled_from(CHILDREN + ["nope", "seq.0", "", "0", "weight"]), values)


@st.composite
def junk_cfg(draw, depth: int = 0):
    """One cfg dict (``type`` usually present), arguments and keys of any kind."""
    cfg: dict[Any, Any] = {}
    if draw(st.integers(0, 9)):
        cfg["type"] = draw(_types())
    for _ in range(draw(st.integers(0, 4))):
        key = draw(weighted((6, st.sampled_from(ARGUMENT_KEYS)), (2, st.sampled_from(ODD_KEYS)),
                            (1, st.sampled_from(NON_STRING_KEYS))))
        cfg[key] = draw(values)
    if draw(st.integers(0, 2)) == 0:
        cfg["layer"] = draw(layers)
    if depth < 2 and draw(st.integers(0, 2)) == 0:
        cfg["override"] = draw(st.one_of(_override(depth + 1),
                                         st.lists(_override(depth + 1), max_size=3), values))
    return cfg


@st.composite
def _override(draw, depth: int):
    entry = draw(junk_cfg(depth)) if draw(st.booleans()) else {}
    if draw(st.integers(0, 5)):
        entry["name"] = draw(names)
    return entry


_scope_paths = st.one_of(st.sampled_from(["", *PATHS, "nope", "seq..2", ".", "seq.", "fc.weight",
                                          "1", "seq.9", "name", "load", "type"]),
                         st.sampled_from(NON_STRING_KEYS))


@st.composite
def junk_init_cfgs(draw):
    """An init_cfg of any form: a cfg, a list of them, the scoped dict, or something else."""
    form = draw(st.sampled_from(["cfg", "list", "list", "scoped", "other"]))
    if form == "cfg":
        return draw(junk_cfg())
    if form == "list":
        return draw(st.lists(weighted((3, junk_cfg()), (1, values)), max_size=3))
    if form == "scoped":
        return draw(st.dictionaries(_scope_paths, st.one_of(
            st.none(), junk_cfg(), st.lists(junk_cfg(), max_size=2), values), max_size=3))
    return draw(st.one_of(values, st.tuples(junk_cfg()), st.frozensets(st.integers())))


def _containers(value: Any) -> list[Any]:
    """Every dict and list inside ``value`` (``value`` included), by an explicit walk."""
    found, stack, seen = [], [value], set()
    while stack:
        item = stack.pop()
        if id(item) in seen or not isinstance(item, (dict, list)):
            continue
        seen.add(id(item))
        found.append(item)
        stack.extend(item.values() if isinstance(item, dict) else item)
    return found


@st.composite
def mutated_init_cfgs(draw, checkpoints: dict[str, str]):
    """A valid init_cfg for Small, with one to three edits."""
    cfg = copy.deepcopy(draw(init_cfgs(checkpoints)))
    for _ in range(draw(st.integers(1, 3))):
        containers = _containers(cfg)
        if not containers:
            break
        target = draw(st.sampled_from(containers))
        edit = draw(st.sampled_from(["replace", "replace", "delete", "add", "wrap"]))
        if isinstance(target, dict):
            keys = list(target)
            if edit in ("replace", "wrap") and keys:
                key = draw(st.sampled_from(keys))
                target[key] = draw(values) if edit == "replace" else [target[key]]
            elif edit == "delete" and keys:
                del target[draw(st.sampled_from(keys))]
            else:
                key = draw(st.one_of(st.sampled_from(ARGUMENT_KEYS + ODD_KEYS),
                                     st.sampled_from(NON_STRING_KEYS)))
                target[key] = draw(st.one_of(values, junk_cfg()))
        elif target:
            index = draw(st.integers(0, len(target) - 1))
            if edit == "delete":
                del target[index]
            else:
                target[index] = draw(st.one_of(values, junk_cfg()))
        else:
            target.append(draw(junk_cfg()))
    return cfg
