"""Random valid init_cfg lists over a fixed small model family, initdsl vs mmengine.

Each example checks (a) bytes, (b) RNG state, (c) last writers (see harness).
A small share of examples target 1-D weights with Kaiming/Xavier, which
mmengine rejects lazily (after partial writes): initdsl must then raise the
same exception class before writing anything.
"""

from __future__ import annotations

import pytest

pytest.importorskip("mmengine")
hypothesis = pytest.importorskip("hypothesis")

from hypothesis import HealthCheck, event, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from . import models as M  # noqa: E402
from .harness import compare, init_weights, initialize_with  # noqa: E402

pytestmark = pytest.mark.mmengine

FAN_BASED = {"Kaiming", "Xavier", "Caffe2Xavier"}
# overridable children of the root and of its `branch` child: (>= 2-D weights only, with 1-D)
CHILDREN = {"root": (M.SMALL_CHILDREN_2D, M.SMALL_CHILDREN_1D),
            "branch": (["conv", "myconv"], ["bn"])}
NONLINEARITIES = ["linear", "conv1d", "conv2d", "conv_transpose2d", "sigmoid", "tanh", "relu",
                  "leaky_relu", "selu"]


def _num(lo, hi):
    return st.one_of(st.integers(int(lo), int(hi)),
                     st.floats(lo, hi, allow_nan=False, allow_infinity=False))


@st.composite
def initializer_args(draw, kind):
    if kind == "Constant":
        return {"val": draw(_num(-3, 3))}
    if kind == "Xavier":
        return draw(st.fixed_dictionaries({}, optional={
            "gain": st.floats(0.1, 3), "distribution": st.sampled_from(["normal", "uniform"])}))
    if kind == "Normal":
        return draw(st.fixed_dictionaries({}, optional={
            "mean": _num(-1, 1), "std": st.floats(0, 2)}))
    if kind == "TruncNormal":
        args = draw(st.fixed_dictionaries({}, optional={
            "mean": st.floats(-0.5, 0.5), "std": st.floats(0.01, 2),
            "a": st.floats(-3, -0.1), "b": st.floats(0.1, 3)}))
        return args
    if kind == "Uniform":
        return draw(st.fixed_dictionaries({}, optional={"a": _num(-2, 0), "b": _num(0, 2)}))
    if kind == "Kaiming":
        args = draw(st.fixed_dictionaries({}, optional={
            "a": st.one_of(st.floats(0, 1), st.integers(0, 3)),
            "mode": st.sampled_from(["fan_in", "fan_out", "FAN_IN"]),
            "nonlinearity": st.sampled_from(NONLINEARITIES),
            "distribution": st.sampled_from(["normal", "uniform"])}))
        return args
    return {}  # Caffe2Xavier


@st.composite
def bias_args(draw):
    choice = draw(st.sampled_from(["none", "bias", "bias_prob", "both"]))
    args = {}
    if choice in ("bias", "both"):
        args["bias"] = draw(_num(-2, 2))
    if choice in ("bias_prob", "both"):
        args["bias_prob"] = draw(st.one_of(st.just(0.5), st.floats(0.001, 0.999)))
    return args


@st.composite
def cfg(draw, lazy_errors: bool, scope: str = "root", with_override: bool = True):
    kind = draw(st.sampled_from(["Constant", "Xavier", "Normal", "TruncNormal", "Uniform",
                                 "Kaiming", "Caffe2Xavier"]))
    c = {"type": kind, **draw(initializer_args(kind)), **draw(bias_args())}
    names = M.SMALL_LAYERS_2D + M.SMALL_LAYERS_OTHER
    if kind not in FAN_BASED or lazy_errors:
        names = names + M.SMALL_LAYERS_1D
    layer = draw(st.one_of(st.none(), st.sampled_from(names),
                           st.lists(st.sampled_from(names), max_size=4)))
    if layer is not None:
        c["layer"] = layer
    if with_override and draw(st.booleans()):
        entries = draw(st.lists(override_entry(kind, lazy_errors, scope), min_size=1,
                                max_size=3))
        c["override"] = entries[0] if len(entries) == 1 and draw(st.booleans()) else entries
    return c


@st.composite
def override_entry(draw, parent_kind, lazy_errors, scope):
    if draw(st.booleans()):  # name-only: inherits the parent's type and args
        entry, kind = {}, parent_kind
    else:
        entry = draw(cfg(lazy_errors, scope, with_override=False))
        if draw(st.booleans()):
            entry.pop("layer", None)  # a layer inside an override is ignored anyway
        kind = entry["type"]
    two_d, one_d = CHILDREN[scope]
    children = two_d if kind in FAN_BASED else two_d + one_d
    if lazy_errors:  # also children with 1-D weights, and one that does not exist
        children = two_d + one_d + ["nope"]
    return {"name": draw(st.sampled_from(children)), **entry}


@st.composite
def scenario(draw):
    lazy_errors = draw(st.integers(0, 5)) == 0  # ~1 in 6: may target 1-D weights, bad names
    cfgs = draw(st.lists(cfg(lazy_errors), min_size=1, max_size=4))
    init_cfg = cfgs[0] if len(cfgs) == 1 and draw(st.booleans()) else cfgs
    child_cfg = draw(st.one_of(st.none(),
                               st.lists(cfg(lazy_errors, "branch"), min_size=1, max_size=2)))
    entry = draw(st.sampled_from(["init_weights", "initialize"]))
    seed = draw(st.integers(0, 2**16))
    # where a Pretrained cfg goes (if anywhere), and at which list position
    pretrained = draw(st.sampled_from([None, None, "root", "child", "override"]))
    position = draw(st.integers(0, 4))
    mark_branch = draw(st.integers(0, 4)) == 0  # branch.is_init = True beforehand
    return init_cfg, child_cfg, entry, seed, pretrained, position, mark_branch


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A partial checkpoint of `small` (a missing and an unexpected key, one shape mismatch)."""
    import torch

    from .harness import OURS

    torch.manual_seed(999)
    sd = M.small(OURS).state_dict()
    del sd["fc.bias"]
    sd["head.0.weight"] = torch.ones(5, 5)
    sd["gone.weight"] = torch.ones(1)
    path = tmp_path_factory.mktemp("ckpt") / "small.pth"
    torch.save(sd, path)
    return str(path)


def _add_pretrained(init_cfg, child_cfg, where, position, path):
    def listed(cfg):
        return [] if cfg is None else [cfg] if isinstance(cfg, dict) else list(cfg)

    init_cfg, child_cfg = listed(init_cfg), listed(child_cfg)
    if where == "root":
        init_cfg.insert(min(position, len(init_cfg)), dict(type="Pretrained", checkpoint=path))
    elif where == "child":
        child_cfg.insert(min(position, len(child_cfg)),
                         dict(type="Pretrained", checkpoint=path, prefix="branch"))
    elif where == "override" and init_cfg:
        target = dict(init_cfg[min(position, len(init_cfg) - 1)])
        entries = target.get("override", [])
        entries = [entries] if isinstance(entries, dict) else list(entries)
        entries.append(dict(type="Pretrained", name="head", checkpoint=path, prefix="head."))
        target["override"] = entries
        init_cfg[min(position, len(init_cfg) - 1)] = target
    return init_cfg, child_cfg or None


@settings(max_examples=250, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(scenario())
def test_random_cfgs_match_mmengine(checkpoint, case):
    init_cfg, child_cfg, entry, seed, pretrained, position, mark_branch = case
    if pretrained:
        init_cfg, child_cfg = _add_pretrained(init_cfg, child_cfg, pretrained, position,
                                              checkpoint)
        event(f"Pretrained in {pretrained}")

    def build(kit, own_cfg):
        model = M.small(kit, own_cfg, child_cfg)
        model.branch.is_init = mark_branch
        return model

    if entry == "init_weights":
        _, theirs = compare(lambda kit: build(kit, init_cfg), init_weights, seed=seed)
    else:
        _, theirs = compare(lambda kit: build(kit, None), initialize_with(init_cfg), seed=seed)
    event(f"mmengine raised {type(theirs.error).__name__}" if theirs.error else "both succeeded")
    event(f"{sum(w is not None for w in theirs.writers.values())//4 * 4}+ parameters written")
