"""``init_cfg`` values of every kind through decompile, initialize, plan, apply and init_weights.

Inputs are :mod:`tests.robustness.cfgs`: init_cfgs generated from scratch
with wrong types everywhere, and valid init_cfgs mutated. What must hold:

* only ``initdsl.InitError`` escapes, from every entry point;
* after any error the model's parameters and buffers are the same objects
  with the same bytes as before (the model is built under a fixed seed, so
  its bytes are known); ``plan`` never writes, even when it succeeds;
* what ``decompile`` accepts it turns into canonical policy text that
  compiles.
"""

from __future__ import annotations

import math
import threading

import pytest
import torch
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

import initdsl

from ._support import (
    assert_unchanged,
    fresh,
    outcome,
    quiet_logs,
    small_model,
    snapshot,
)
from .cfgs import deep_list, junk_init_cfgs, mutated_init_cfgs

PROPERTY = settings(max_examples=200, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


@pytest.fixture(scope="module")
def template():
    return small_model()


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """Checkpoints the valid init_cfgs load (the ``full`` model and its ``fc``), and bad ones."""
    directory = tmp_path_factory.mktemp("checkpoints")
    torch.manual_seed(99)
    donor = small_model()
    torch.manual_seed(98)
    for tensor in donor.state_dict().values():
        if tensor.is_floating_point():
            tensor.normal_()
    paths = {"full": directory / "full.pth", "fc": directory / "fc.pth"}
    torch.save(donor.state_dict(), paths["full"])
    torch.save(donor.fc.state_dict(), paths["fc"])
    return {key: str(path) for key, path in paths.items()}


@pytest.fixture(scope="module", autouse=True)
def _quiet():
    with quiet_logs():
        yield


ENTRY_POINTS = {
    "initialize": lambda model, cfg: initdsl.initialize(model, cfg),
    "apply exact": lambda model, cfg: initdsl.apply(model, cfg),
    "apply fast": lambda model, cfg: initdsl.apply(model, cfg, mode="fast", seed=0),
    "init_weights": lambda model, cfg: _own_init_cfg(model, cfg),
}


def _own_init_cfg(model, cfg):
    """``cfg`` as a BaseModule's own init_cfg, run by ``init_weights`` (mmengine's way)."""
    model.sub.init_cfg = cfg
    model.sub.init_weights()


def check_every_entry_point(template, init_cfg) -> None:
    """Each entry point on a fresh copy: returns, or raises InitError with nothing written."""
    for what, run in ENTRY_POINTS.items():
        model = fresh(template)
        before = snapshot(model)
        _, error = outcome(lambda run=run, model=model: run(model, init_cfg), what)
        if error is not None:
            assert_unchanged(model, before, f"{what} ({type(error).__name__}: {error})")
            str(error)  # the message renders
    model = fresh(template)
    before = snapshot(model)
    outcome(lambda: initdsl.plan(model, init_cfg), "plan")
    assert_unchanged(model, before, "plan")


def check_decompile(init_cfg) -> None:
    """decompile returns canonical text that compiles, or raises InitError."""
    text, error = outcome(lambda: initdsl.decompile(init_cfg), "decompile")
    if error is not None:
        str(error)
        return
    text.encode("utf-8")  # the CLI writes it to a file
    assert initdsl.format(text) == text
    _, error = outcome(lambda: initdsl.compile(text), "compile of the decompiled text")
    assert error is None, f"decompile wrote a policy that does not compile:\n{text}\n{error}"


@PROPERTY
@given(junk_init_cfgs())
@example([{"type": "Constant", "val": 1e308, "layer": "Linear"}])
@example({"type": "Normal", "std": -1.0, "override": {"name": "fc", "type": "Constant"}})
@example({"": [{"type": "Xavier", "gain": -0.5, "distribution": "uniform", "layer": "Linear"}],
          "nope": []})
@example({"type": "Kaiming", "a": 1e200, "nonlinearity": "leaky_relu", "layer": "Conv2d"})
@example({"type": "TruncNormal", "a": -1e308, "layer": "Linear"})
@example({"type": "Constant", "val": 100000000000000000000, "layer": "Linear"})
@example({"type": "Pretrained", "checkpoint": "\ud800.pth"})
@example({"type": print})
def test_generated_init_cfgs_raise_only_initdsl_errors_and_write_nothing(template, init_cfg):
    """init_cfgs of every shape with wrong types everywhere: InitError, model unchanged."""
    check_every_entry_point(template, init_cfg)


@PROPERTY
@given(data=st.data())
def test_mutated_valid_init_cfgs_raise_only_initdsl_errors_and_write_nothing(template,
                                                                            checkpoints, data):
    """Valid init_cfgs with a value replaced, a key dropped or added: InitError, unchanged."""
    init_cfg = data.draw(mutated_init_cfgs(checkpoints), label="init_cfg")
    check_every_entry_point(template, init_cfg)


@PROPERTY
@given(st.one_of(junk_init_cfgs(), st.none()))
def test_decompile_of_generated_init_cfgs(init_cfg):
    """Any init_cfg: decompile raises InitError or writes canonical text that compiles."""
    check_decompile(init_cfg)


@PROPERTY
@given(data=st.data())
def test_decompile_of_mutated_valid_init_cfgs(checkpoints, data):
    """Valid init_cfgs, mutated: decompile raises InitError or writes text that compiles."""
    init_cfg = data.draw(mutated_init_cfgs(checkpoints), label="init_cfg")
    check_decompile(init_cfg)


# -- values and arguments the first version of this suite found escaping --------------------

#: Where a bad value can sit in a cfg.
PLACES = {
    "argument": lambda value: {"type": "Constant", "val": value, "layer": "Linear"},
    "unknown key": lambda value: {"type": "Constant", "val": 1, "extra": value},
    "layer": lambda value: {"type": "Constant", "val": 1, "layer": [value]},
    "override": lambda value: {"type": "Constant", "val": 1, "override": value},
    "type": lambda value: {"type": value},
}

BUGGY = {
    "generator": lambda: (x for x in [1]),
    "lock": threading.Lock,
    "integer of 5,001 digits": lambda: 10**5_000,
    "list nested 3,000 deep": deep_list,
}

ALL_ENTRY_POINTS = {**ENTRY_POINTS,
                    "plan": lambda model, cfg: initdsl.plan(model, cfg),
                    "decompile": lambda model, cfg: initdsl.decompile(cfg)}


@pytest.mark.parametrize("value", list(BUGGY), ids=list(BUGGY))
def test_values_python_cannot_copy_or_print_are_init_errors(template, value):
    """Uncopyable, unprintable and very deep values, in every place and through every entry."""
    for place, build in PLACES.items():
        for what, run in ALL_ENTRY_POINTS.items():
            init_cfg = build(BUGGY[value]())
            model = fresh(template)
            before = snapshot(model)
            _, error = outcome(lambda run=run, model=model, init_cfg=init_cfg: run(model, init_cfg), f"{what} with a {value} as {place}")
            if error is not None:
                assert_unchanged(model, before, what)


@settings(max_examples=20, deadline=None, phases=[Phase.explicit, Phase.generate])
@given(st.sampled_from(["Normal", "Constant", "Xavier", "Uniform", "Kaiming", "TruncNormal"]),
       st.sampled_from([1.0, 1e-320, 5e-324, 1 - 1e-17]))
@example("Normal", 1.0)
def test_decompile_refuses_a_bias_prob_the_policy_refuses(kind, probability):
    """A bias_prob whose bias is not finite: decompile raises, as compile would."""
    init_cfg = {"type": kind, "bias_prob": probability, **({"val": 1} if kind == "Constant" else {})}
    check_decompile(init_cfg)


MODES_AND_SEEDS = [
    ("bogus", 0), ("EXACT", None), (None, None), (3, 0),
    ("exact", 2**64), ("exact", "x"), ("exact", math.nan),
    ("fast", 1.5), ("fast", "x"), ("fast", True), ("fast", math.nan),
]


@pytest.mark.parametrize("mode, seed", MODES_AND_SEEDS)
def test_apply_rejects_a_bad_mode_or_seed_with_an_init_error(template, mode, seed):
    """An unknown mode or a seed that is no integer torch takes: InitError, before writing."""
    model = fresh(template)
    before = snapshot(model)
    _, error = outcome(lambda: initdsl.apply(model, "Linear -> normal", mode=mode, seed=seed),
                       "apply")
    assert error is not None
    assert_unchanged(model, before, "apply")
