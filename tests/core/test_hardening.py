"""Hardening of the run API: what a run refuses while planning, and what it must still run.

* values torch would reject while writing are ``E122`` while planning, at the value,
  in exact and fast mode, ``plan`` and ``materialize``, and ``InitValueError`` through
  ``initialize``; what torch accepts still runs as mmengine runs it;
* scoped dicts with bad or missing paths are initdsl's errors, never ``AttributeError``;
* a ``type`` that builds something that is not an initializer is refused before writing;
* mmengine-style initializers (``BaseInit`` with its own ``__call__``, mmengine's own
  classes as ``type``) run and are attributed;
* a policy given as a path, and a string that only looks like one;
* module trees deeper than Python's recursion limit, in every entry point.
"""

from __future__ import annotations

import os
import pathlib
import sys
import warnings

import pytest
import torch
from torch import nn

import initdsl
from initdsl import WEIGHT_INITIALIZERS, BaseInit
from initdsl.core.runner import run_scoped
from initdsl.core.walk import state_tensors
from initdsl.fast import executor as fast_executor

from .helpers import changed, snapshot


class Net(nn.Module):
    """One module of each kind the value checks look at; ``fc`` in ``dtype``."""

    def __init__(self, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.emb = nn.Embedding(4, 3)
        self.conv = nn.Conv2d(2, 2, 1)
        self.fc = nn.Linear(3, 3, dtype=dtype)
        self.norm = nn.LayerNorm(3)


def _net(dtype: torch.dtype = torch.float32) -> Net:
    torch.manual_seed(0)
    return Net(dtype)


def _position(text: str, value: str) -> tuple[int, int, int]:
    """(line, column, end column) of the last occurrence of ``value`` in ``text``, 1-based."""
    at = text.rindex(value)
    line = text.count("\n", 0, at) + 1
    column = at - (text.rfind("\n", 0, at) + 1) + 1
    return line, column, column + len(value)


# -- values torch would reject while writing ---------------------------------------------

#: id → (policy, dtype of `fc`, the offending value as written, the argument it is given to)
UNWRITABLE = {
    "int-too-big-for-torch": ("name emb -> constant(100000000000000000000)", torch.float32,
                              "100000000000000000000", "val"),
    "bias-past-uint64": ("Linear -> normal(bias=18446744073709551616)", torch.float32,
                         "18446744073709551616", "bias"),
    "float32-overflow": ("Linear -> constant(1e308)", torch.float32, "1e308", "val"),
    "float16-overflow": ("Linear -> constant(70000)", torch.float16, "70000", "val"),
    "trunc-bound-overflow": ("Linear -> trunc_normal(a=-1e308)", torch.float32, "-1e308", "a"),
    "xavier-negative-gain-uniform": ("Linear -> xavier(gain=-0.5, distribution=uniform)",
                                     torch.float32, "-0.5", "gain"),
    "xavier-negative-gain-normal": ("Linear -> xavier(gain=-0.5)", torch.float32, "-0.5",
                                    "gain"),
    "kaiming-scale-overflow": ("Conv2d -> kaiming(a=1e200, nonlinearity=leaky_relu)",
                               torch.float32, "1e200", "a"),
    "after-a-rule-that-writes": ("LayerNorm -> constant(2)\nLinear -> constant(1e308)",
                                 torch.float32, "1e308", "val"),
    "after-two-rules-that-write": ("Conv2d -> constant(1)\nLayerNorm -> constant(2)\n"
                                   "Linear -> constant(70000)", torch.float16, "70000", "val"),
}

MODES = {"exact": {}, "fast": {"mode": "fast", "seed": 0}}


def _plan_or_materialize(entry: str, model: nn.Module, text: str) -> None:
    if entry == "plan":
        initdsl.plan(model, text)
    else:
        initdsl.materialize(model, text, seed=0)


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("case", list(UNWRITABLE))
def test_unwritable_value_is_e122_at_the_value_while_planning(case, mode):
    """One E122 diagnostic on the argument's value; not a byte of the model changes."""
    text, dtype, value, _argument = UNWRITABLE[case]
    model = _net(dtype)
    before = snapshot(model)
    with pytest.raises(initdsl.PolicyError) as info:
        initdsl.apply(model, text, **MODES[mode])
    (diagnostic,) = info.value.diagnostics
    assert diagnostic.code == "E122"
    span = diagnostic.span
    assert (span.line, span.column, span.end_column) == _position(text, value)
    assert changed(before, snapshot(model)) == []


@pytest.mark.parametrize("entry", ["plan", "materialize"])
@pytest.mark.parametrize("case", list(UNWRITABLE))
def test_unwritable_value_is_e122_from_plan_and_materialize(case, entry):
    """docs/language.md: plan and materialize (of a meta model) refuse it the same way."""
    text, dtype, value, _argument = UNWRITABLE[case]
    with torch.device("meta" if entry == "materialize" else "cpu"):
        model = Net(dtype)
    with pytest.raises(initdsl.PolicyError) as info:
        _plan_or_materialize(entry, model, text)
    (diagnostic,) = info.value.diagnostics
    assert diagnostic.code == "E122"
    span = diagnostic.span
    assert (span.line, span.column, span.end_column) == _position(text, value)
    if entry == "materialize":
        assert all(t.device.type == "meta" for t in model.state_dict().values())


@pytest.mark.parametrize("case", list(UNWRITABLE))
def test_unwritable_value_through_initialize_is_init_value_error(case):
    """The compiled cfgs through ``initialize``: InitValueError, code E122, the argument named."""
    text, dtype, _value, argument = UNWRITABLE[case]
    init_cfg = initdsl.compile(text)  # no model: compiles
    model = _net(dtype)
    before = snapshot(model)
    with pytest.raises(initdsl.InitValueError) as info:
        initdsl.initialize(model, init_cfg)
    assert info.value.code == "E122"
    assert info.value.argument == argument
    assert changed(before, snapshot(model)) == []


#: id → (init_cfg that torch accepts, parameter, check of what is written)
TORCH_ACCEPTS = {
    "bias_prob=1.0-gives-inf-bias": (
        dict(type="Normal", layer="Linear", bias_prob=1.0), "fc.bias",
        lambda t: bool(torch.isinf(t).all() and (t > 0).all())),
    "bias_prob=1.0-weight-still-drawn": (
        dict(type="Normal", layer="Linear", bias_prob=1.0), "fc.weight",
        lambda t: bool(torch.isfinite(t).all() and t.std() > 0)),
    "huge-std-overflows-to-inf": (
        dict(type="Normal", layer="Linear", std=1e300), "fc.weight",
        lambda t: bool(torch.isinf(t).all())),
}


@pytest.mark.parametrize("case", list(TORCH_ACCEPTS))
def test_what_torch_accepts_still_runs_through_initialize(case):
    """initialize runs what mmengine writes, finite or not."""
    init_cfg, name, written = TORCH_ACCEPTS[case]
    model = _net()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # -log(0) in bias_init_with_prob
        initdsl.initialize(model, init_cfg)
    assert written(dict(model.named_parameters())[name].detach())
    assert initdsl.provenance(model)[name].writer == "Normal"


@pytest.mark.parametrize("text", [
    "Linear -> normal(bias_prob=1.0)",
    "Linear -> constant(0, bias_prob=1.0)",
    "Conv2d -> kaiming(bias_prob=1.0)",
])
def test_policy_bias_prob_one_is_e122_without_a_model(text):
    """A policy writes finite numbers: bias_prob=1.0 is E122 on its value, from compile."""
    with pytest.raises(initdsl.PolicyError) as info:
        initdsl.compile(text)
    (diagnostic,) = info.value.diagnostics
    assert diagnostic.code == "E122"
    span = diagnostic.span
    assert (span.line, span.column, span.end_column) == _position(text, "1.0")


# -- scoped dicts ---------------------------------------------------------------------------


class Tree(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Sequential(nn.Linear(2, 2))
        self.head = nn.Linear(2, 2)


#: id → (call, fragments the message must hold, fragment it must not hold)
SCOPED = {
    "plan-path-not-a-string": (lambda m: initdsl.plan(m, {1: []}), ["1", "string"], None),
    "plan-empty-segment": (lambda m: initdsl.plan(m, {"a..b": []}), ["a..b"], None),
    "plan-missing": (lambda m: initdsl.plan(m, {"nothere": []}), ["`nothere`"], "did you mean"),
    "plan-close": (lambda m: initdsl.plan(m, {"backbon": []}),
                   ["`backbon`", "did you mean `backbone`"], None),
    "run_scoped-missing": (lambda m: run_scoped(m, {"nothere": []}), ["`nothere`"],
                           "did you mean"),
    "run_scoped-close": (lambda m: run_scoped(m, {"backbon": []}),
                         ["`backbon`", "did you mean `backbone`"], None),
    "run_scoped-deep-close": (lambda m: run_scoped(m, {"backbone.1": []}),
                              ["`backbone.1`", "did you mean `backbone.0`"], None),
    "fast-missing": (lambda m: fast_executor.apply(m, {"nothere": []}, seed=0),
                     ["`nothere`"], "did you mean"),
    "fast-close": (lambda m: fast_executor.apply(m, {"haed": []}, seed=0),
                   ["`haed`", "did you mean `head`"], None),
    "apply-dict-missing": (lambda m: initdsl.apply(m, {"nothere": []}), ["`nothere`"], None),
    "run_scoped-after-a-writing-root": (
        lambda m: run_scoped(m, {"": [dict(type="Constant", val=3, layer="Linear")],
                                 "nothere": []}), ["`nothere`"], None),
}


@pytest.mark.parametrize("case", list(SCOPED))
def test_scoped_dict_with_a_bad_path_is_an_init_error(case):
    """An InitError (not AttributeError) naming the path, with a did-you-mean where close."""
    call, fragments, absent = SCOPED[case]
    model = Tree()
    before = snapshot(model)
    with pytest.raises(initdsl.InitError) as info:
        call(model)
    error = info.value
    assert not isinstance(error, AttributeError), type(error)
    for fragment in fragments:
        assert fragment in str(error)
    if absent is not None:
        assert absent not in str(error)
    assert changed(before, snapshot(model)) == []


@pytest.mark.parametrize("text, path, hint", [
    ("scope nothere {}", "nothere", None),
    ("scope backbon {}", "backbon", "did you mean `backbone`"),
    ("Linear -> constant(1)\nscope backbone.1 { Linear -> constant(2) }", "backbone.1",
     "did you mean `backbone.0`"),
])
def test_scope_naming_no_module_is_e170(text, path, hint):
    """The policy form of the same mistake: E170 at the scope's path, nothing written."""
    model = Tree()
    before = snapshot(model)
    with pytest.raises(initdsl.PolicyError) as info:
        initdsl.apply(model, text)
    (diagnostic,) = info.value.diagnostics
    assert diagnostic.code == "E170"
    assert (diagnostic.span.line, diagnostic.span.column, diagnostic.span.end_column) == \
        _position(text, path)
    assert f"`{path}`" in diagnostic.message
    if hint:
        assert hint in diagnostic.message
    assert changed(before, snapshot(model)) == []


# -- a type that builds no initializer ------------------------------------------------------

NOT_INITIALIZERS = {
    "float": float,
    "int": int,
    "str": str,
    "dict": dict,
    "list": list,
    "object": object,
    "lambda-returning-a-number": lambda **kwargs: 3,
}


@pytest.mark.parametrize("earlier", [False, True], ids=["alone", "after-a-writing-cfg"])
@pytest.mark.parametrize("case", list(NOT_INITIALIZERS))
def test_type_that_builds_a_non_callable_is_a_type_error_before_writing(case, earlier):
    """InitTypeError; an earlier cfg in the same list has not written either."""
    cfgs = [{"type": NOT_INITIALIZERS[case]}]
    if earlier:
        cfgs.insert(0, dict(type="Constant", val=1, layer="Linear"))
    model = Tree()
    before = snapshot(model)
    with pytest.raises(initdsl.InitTypeError, match="not an initializer"):
        initdsl.initialize(model, cfgs if earlier else cfgs[0])
    assert changed(before, snapshot(model)) == []


# -- mmengine-style initializers ------------------------------------------------------------


@pytest.fixture
def fill_conv():
    """A BaseInit subclass written mmengine's way: its own ``__call__`` finds the Conv2d's."""

    @WEIGHT_INITIALIZERS.register_module(name="FillConv")
    class FillConv(BaseInit):
        def __call__(self, module):
            for m in module.modules():
                if isinstance(m, nn.Conv2d):
                    m.weight.data.fill_(3)

    try:
        yield FillConv
    finally:
        WEIGHT_INITIALIZERS._classes.pop("FillConv", None)


class ConvNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(2, 2, 1), nn.Conv2d(2, 2, 1))
        self.fc = nn.Linear(2, 2)


class ConvBase(initdsl.BaseModule):
    def __init__(self, init_cfg) -> None:
        super().__init__(init_cfg=init_cfg)
        self.body = nn.Sequential(nn.Conv2d(2, 2, 1), nn.Conv2d(2, 2, 1))
        self.fc = nn.Linear(2, 2)


def _run_initialize_by_name(_cls):
    model = ConvNet()
    initdsl.initialize(model, dict(type="FillConv"))
    return model


def _run_initialize_by_class(cls):
    model = ConvNet()
    initdsl.initialize(model, dict(type=cls))
    return model


def _run_as_override(_cls):
    model = ConvNet()
    initdsl.initialize(model, dict(type="Constant", val=0, layer="Linear",
                                   override=dict(type="FillConv", name="body")))
    return model


def _run_in_base_module(_cls):
    model = ConvBase(init_cfg=dict(type="FillConv"))
    model.init_weights()
    return model


def _run_policy(_cls):
    model = ConvNet()
    initdsl.apply(model, "[] -> fill_conv")
    return model


def _run_policy_fast(_cls):
    model = ConvNet()
    initdsl.apply(model, "[] -> fill_conv", mode="fast", seed=0)
    return model


OWN_CALL = {
    "initialize-by-name": _run_initialize_by_name,
    "initialize-by-class": _run_initialize_by_class,
    "override-entry": _run_as_override,
    "base-module-init_cfg": _run_in_base_module,
    "policy-exact": _run_policy,
    "policy-fast": _run_policy_fast,
}


@pytest.mark.parametrize("case", list(OWN_CALL))
def test_base_init_with_its_own_call_is_called_and_attributed(fill_conv, case):
    """Its ``__call__`` runs: every Conv2d weight becomes 3, and provenance names it."""
    model = OWN_CALL[case](fill_conv)
    report = initdsl.provenance(model)
    for name in ("body.0.weight", "body.1.weight"):
        assert torch.all(dict(model.named_parameters())[name] == 3), name
        assert report[name].writer == "FillConv", (name, report[name])
    assert report["body.0.bias"].writer is None  # it wrote no bias


@pytest.fixture(scope="module")
def mm_model():
    return pytest.importorskip("mmengine.model")


#: id → (mmengine class name, initdsl registry name, arguments)
MMENGINE_TYPES = {
    "XavierInit": ("XavierInit", "Xavier", {}),
    "XavierInit-uniform": ("XavierInit", "Xavier", {"distribution": "uniform", "gain": 2}),
    "KaimingInit": ("KaimingInit", "Kaiming", {"mode": "fan_in"}),
    "NormalInit": ("NormalInit", "Normal", {"std": 0.5, "bias": 1}),
    "ConstantInit": ("ConstantInit", "Constant", {"val": 2}),
}


def _linear_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 4), nn.Conv2d(2, 2, 1), nn.Linear(4, 2))


@pytest.mark.parametrize("case", list(MMENGINE_TYPES))
def test_mmengine_class_as_type_runs_initdsl_initializer(mm_model, case):
    """type=mmengine.model.XavierInit is initdsl's Xavier: same bytes under a seed, same name."""
    cls_name, registered, args = MMENGINE_TYPES[case]
    ours, theirs = _linear_net(), _linear_net()
    torch.manual_seed(7)
    initdsl.initialize(ours, dict(type=getattr(mm_model, cls_name), layer="Linear", **args))
    torch.manual_seed(7)
    initdsl.initialize(theirs, dict(type=registered, layer="Linear", **args))
    assert snapshot(ours) == snapshot(theirs)
    report = initdsl.provenance(ours)
    assert report["0.weight"].writer == registered
    assert report["2.bias"].writer == registered
    assert report["1.weight"].writer is None


class Leaf(initdsl.BaseModule):
    """A child with its own init_cfg, which runs before its parent's deferred loads."""

    def __init__(self) -> None:
        super().__init__(init_cfg=dict(type="Constant", layer="Linear", val=7))
        self.fc = nn.Linear(2, 2)


class Loaded(initdsl.BaseModule):
    def __init__(self, init_cfg) -> None:
        super().__init__(init_cfg=init_cfg)
        self.fc = nn.Linear(2, 2)
        self.leaf = Leaf()


@pytest.mark.parametrize("pretrained", ["mmengine.PretrainedInit", "Pretrained"])
def test_pretrained_type_in_base_module_is_deferred(tmp_path, pretrained):
    """Listed first, the load still runs after the module's other cfgs and its children's."""
    if pretrained.startswith("mmengine"):
        kind = pytest.importorskip("mmengine.model").PretrainedInit
    else:
        kind = pretrained
    torch.manual_seed(3)
    source = Loaded(init_cfg=None)
    path = tmp_path / "src.pth"
    torch.save(source.state_dict(), path)
    model = Loaded(init_cfg=[dict(type=kind, checkpoint=str(path)),
                             dict(type="Constant", layer="Linear", val=5)])
    model.init_weights()
    assert snapshot(model) == snapshot(source)
    report = initdsl.provenance(model)
    assert {r.writer for r in report.values()} == {"Pretrained"}
    assert len(report.loads) == 1


# -- a policy given as a path ---------------------------------------------------------------


class _PathLike:
    def __init__(self, path: str) -> None:
        self.path = path

    def __fspath__(self) -> str:
        return self.path


@pytest.mark.parametrize("given", ["Path-relative", "Path-absolute", "os.PathLike"])
def test_policy_given_as_a_path_is_read(tmp_path, monkeypatch, given):
    """A pathlib.Path or any os.PathLike is the file; provenance names it."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.init").write_text("Linear -> constant(3, bias=1)\n", encoding="utf-8")
    policy = {"Path-relative": pathlib.Path("p.init"),
              "Path-absolute": tmp_path / "p.init",
              "os.PathLike": _PathLike("p.init")}[given]
    model = nn.Linear(2, 2)
    report = initdsl.apply(model, policy)
    assert torch.all(model.weight == 3) and torch.all(model.bias == 1)
    assert str(report["weight"].origin) == f"{os.fspath(policy)}:1:1"


@pytest.mark.parametrize("text", ["p.init", "policies/p.init", "ABSOLUTE", "  p.init\n"])
def test_string_that_looks_like_a_path_suggests_load_or_path(tmp_path, monkeypatch, text):
    """A str is policy text; one that looks like a file name says how to pass a file."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.init").write_text("Linear -> constant(3)\n", encoding="utf-8")
    text = str(tmp_path / "p.init") if text == "ABSOLUTE" else text
    model = nn.Linear(2, 2)
    before = snapshot(model)
    with pytest.raises(initdsl.PolicyError) as info:
        initdsl.apply(model, text)
    message = str(info.value)
    assert "initdsl.load" in message and "pathlib.Path" in message
    assert changed(before, snapshot(model)) == []


# -- models deeper than the recursion limit -------------------------------------------------

#: Deeper than Python's default recursion limit, so torch's recursive walks fail on them.
PLAIN_DEPTH = 3_000
BASE_DEPTH = 1_500
#: Loading a checkpoint costs time quadratic in the depth (a 3,000-deep chain takes about
#: 50 s in exact mode, 30 s in fast mode on a 2-core machine); this depth is still deeper
#: than torch's recursive ``state_dict`` can walk (checked below).
LOAD_DEPTH = 1_100


def _plain_chain(depth: int, device: str = "cpu") -> nn.Module:
    """``root.next.next...``, each level with a Linear ``fc``; built with a loop."""
    with torch.device(device):
        root = current = nn.Module()
        for _ in range(depth):
            current.fc = nn.Linear(2, 2)
            child = nn.Module()
            current.next = child
            current = child
    return root


#: In the BaseModule chain, every level has its own init_cfg, and every ``WRITES_EVERY``-th
#: level's (and the deepest one's) writes its ``fc``; the others are empty. Each cfg that
#: writes walks its whole subtree (mmengine's ``module.apply``), so a writing cfg on every
#: level costs time quadratic in the depth (15-45 s per entry point at 1,500 levels on a
#: 2-core machine); the chain of init_weights calls still passes through every level.
WRITES_EVERY = 100


def _writes(level: int, depth: int) -> bool:
    return level % WRITES_EVERY == 0 or level == depth - 1


class Deep(initdsl.BaseModule):
    """One level of a BaseModule chain, with its own init_cfg (which may write its ``fc``)."""

    def __init__(self, level: int, writes: bool) -> None:
        cfg = dict(type="Constant", val=level % 7 + 1, override=dict(name="fc"))
        super().__init__(init_cfg=[cfg] if writes else [])
        self.fc = nn.Linear(2, 2)


def _base_chain(depth: int, device: str = "cpu") -> nn.Module:
    with torch.device(device):
        root = current = Deep(0, True)
        for level in range(1, depth):
            child = Deep(level, _writes(level, depth))
            current.next = child
            current = child
    return root


def _level(model: nn.Module, index: int) -> nn.Module:
    """The module ``index`` levels below the root (``model.next.next...``), by a loop."""
    for _ in range(index):
        model = model.next
    return model


def _fc_name(index: int, tensor: str = "weight") -> str:
    return "next." * index + f"fc.{tensor}"


def test_deep_models_are_deeper_than_torch_can_walk():
    """The depths below make torch's own recursive walks fail: the cases mean something."""
    assert min(PLAIN_DEPTH, BASE_DEPTH, LOAD_DEPTH) > sys.getrecursionlimit()
    with pytest.raises(RecursionError):
        _plain_chain(LOAD_DEPTH).state_dict()
    with pytest.raises(RecursionError):
        list(_base_chain(BASE_DEPTH, "meta").named_parameters())


def _checkpoint(model: nn.Module, path: pathlib.Path) -> str:
    # torch's state_dict recurses; initdsl's walk does not.
    torch.save({k: v.detach().clone() for k, v in state_tensors(model).items()}, path)
    return str(path)


DEEP_RUNS = {
    "apply-exact": lambda m: initdsl.apply(m, "Linear -> constant(4)"),
    "apply-fast": lambda m: initdsl.apply(m, "Linear -> constant(4)", mode="fast", seed=0),
    "initialize": lambda m: initdsl.initialize(m, dict(type="Constant", layer="Linear", val=4)),
}


@pytest.mark.parametrize("run", list(DEEP_RUNS))
def test_deep_plain_chain_runs(run):
    """3,000 levels of plain modules: apply (both modes) and initialize write the deepest fc."""
    model = _plain_chain(PLAIN_DEPTH)
    DEEP_RUNS[run](model)
    deepest = PLAIN_DEPTH - 1
    assert torch.all(_level(model, deepest).fc.weight == 4)
    assert initdsl.provenance(model)[_fc_name(deepest)].writer == "Constant"


def test_deep_plain_chain_plan_and_provenance():
    """plan and provenance list every parameter of a 3,000-deep chain."""
    model = _plain_chain(PLAIN_DEPTH)
    schedule = initdsl.plan(model, "Linear -> constant(4)")
    assert len(schedule) == 2 * PLAIN_DEPTH
    assert schedule[_fc_name(PLAIN_DEPTH - 1)].record.writer == "Constant"
    report = initdsl.provenance(model)
    assert len(report) == 2 * PLAIN_DEPTH
    assert report[_fc_name(PLAIN_DEPTH - 1, "bias")].writer is None  # planned, not run


def test_deep_plain_chain_materializes_from_meta():
    """materialize allocates and writes a 3,000-deep chain built on meta."""
    model = _plain_chain(PLAIN_DEPTH, "meta")
    initdsl.materialize(model, "Linear -> constant(4)", seed=0)
    fc = _level(model, PLAIN_DEPTH - 1).fc
    assert fc.weight.device.type == "cpu" and torch.all(fc.weight == 4)


@pytest.mark.parametrize("mode", ["exact", "fast", "plan", "materialize"])
def test_deep_plain_chain_loads_a_checkpoint(tmp_path, mode):
    """A checkpoint of a chain deeper than torch's state_dict reaches: loaded whole."""
    torch.manual_seed(5)
    source = _plain_chain(LOAD_DEPTH)
    text = f'load "{_checkpoint(source, tmp_path / "deep.pth")}"'
    deepest = LOAD_DEPTH - 1
    if mode == "plan":
        schedule = initdsl.plan(_plain_chain(LOAD_DEPTH, "meta"), text)
        assert len(schedule) == 2 * LOAD_DEPTH
        assert schedule[_fc_name(deepest)].status == "loaded"
        return
    model = _plain_chain(LOAD_DEPTH, "meta" if mode == "materialize" else "cpu")
    if mode == "materialize":
        initdsl.materialize(model, text, seed=0)
    else:
        initdsl.apply(model, text, **MODES[mode])
    assert torch.equal(_level(model, deepest).fc.weight, _level(source, deepest).fc.weight)
    assert torch.equal(model.fc.bias, source.fc.bias)
    assert initdsl.provenance(model)[_fc_name(deepest)].writer == "Pretrained"


BASE_RUNS = {
    "init_weights": lambda m: m.init_weights(),
    "apply-exact-own-cfgs": lambda m: initdsl.apply(m, None),
    "apply-fast-own-cfgs": lambda m: initdsl.apply(m, None, mode="fast", seed=0),
    "materialize-own-cfgs": lambda m: initdsl.materialize(m, None, seed=0),
}

#: Levels whose own cfg writes (the root, one in the middle, the deepest) and one whose
#: own cfg is empty.
WRITTEN_LEVELS = [0, 7 * WRITES_EVERY, BASE_DEPTH - 1]
UNWRITTEN_LEVEL = WRITES_EVERY + 1


@pytest.mark.parametrize("run", list(BASE_RUNS))
def test_deep_base_module_chain_runs_every_own_init_cfg(run):
    """1,500 BaseModules chained through init_weights: each own cfg writes its fc, at any depth."""
    model = _base_chain(BASE_DEPTH, "meta" if run.startswith("materialize") else "cpu")
    BASE_RUNS[run](model)
    report = initdsl.provenance(model)
    for level in WRITTEN_LEVELS:
        assert torch.all(_level(model, level).fc.weight == level % 7 + 1), level
        assert report[_fc_name(level)].writer == "Constant", level
    assert report[_fc_name(UNWRITTEN_LEVEL)].writer != "Constant"  # materialize: its default
    assert all(_level(model, level).is_init for level in (0, BASE_DEPTH - 1))


def test_deep_base_module_chain_initialize():
    """initialize with a root cfg over a 1,500-deep BaseModule chain."""
    model = _base_chain(BASE_DEPTH)
    initdsl.initialize(model, dict(type="Constant", layer="Linear", val=9))
    assert torch.all(_level(model, BASE_DEPTH - 1).fc.weight == 9)
    assert initdsl.provenance(model)[_fc_name(BASE_DEPTH - 1, "bias")].writer == "Constant"


def test_deep_base_module_chain_plan():
    """plan of the chain's own cfgs, on meta, finds the deepest write."""
    schedule = initdsl.plan(_base_chain(BASE_DEPTH, "meta"), None)
    assert len(schedule) == 2 * BASE_DEPTH
    assert schedule[_fc_name(BASE_DEPTH - 1)].record.writer == "Constant"
    assert schedule[_fc_name(UNWRITTEN_LEVEL)].status == "unwritten"


@pytest.mark.parametrize("mode", ["exact", "fast"])
def test_deep_base_module_chain_loads_a_checkpoint(tmp_path, mode):
    """A policy load into a BaseModule chain deeper than torch can walk wins over every
    own init_cfg (at LOAD_DEPTH levels: loading costs time quadratic in the depth)."""
    torch.manual_seed(6)
    source = _base_chain(LOAD_DEPTH)
    path = _checkpoint(source, tmp_path / "deep.pth")
    model = _base_chain(LOAD_DEPTH)
    initdsl.apply(model, f'load "{path}"', **MODES[mode])
    report = initdsl.provenance(model)
    for level in (0, 7 * WRITES_EVERY, UNWRITTEN_LEVEL, LOAD_DEPTH - 1):
        assert torch.equal(_level(model, level).fc.weight, _level(source, level).fc.weight)
        assert report[_fc_name(level, "bias")].writer == "Pretrained"
