"""SPEC parsing and model building (in-process: no command line involved)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from initdsl.tools.modelspec import ModelSpecError, build, parse_spec
from tests.tools.conftest import MODELS


def test_module_factory_without_arguments():
    spec = parse_spec("initdsl.zoo:resnet50")
    assert (spec.target, spec.factory, spec.args, spec.kwargs) == ("initdsl.zoo", "resnet50",
                                                                   (), {})
    assert not spec.is_file


def test_literal_arguments_are_read_not_evaluated():
    spec = parse_spec("initdsl.zoo:gpt(48, dim=8192, heads=64, name='x', sizes=[1, -2])")
    assert spec.args == (48,)
    assert spec.kwargs == {"dim": 8192, "heads": 64, "name": "x", "sizes": [1, -2]}
    with pytest.raises(ModelSpecError, match="not a Python literal"):
        parse_spec("initdsl.zoo:gpt(depth=__import__('os').getpid())")


@pytest.mark.parametrize("text", ["initdsl.zoo", "initdsl.zoo:", ":gpt", "initdsl.zoo:gpt(",
                                  "initdsl.zoo:gpt(**x)", "initdsl.zoo:1gpt"])
def test_malformed_specs(text):
    with pytest.raises(ModelSpecError):
        parse_spec(text)


def test_file_target_and_last_colon_split():
    spec = parse_spec(r"C:\models\net.py:build(width=2)")
    assert spec.target == r"C:\models\net.py" and spec.factory == "build"
    assert spec.is_file and spec.kwargs == {"width": 2}


def test_build_from_a_file_on_meta():
    model = build(f"{MODELS}:net(classes=7)", meta=True)
    assert model.head.weight.shape == (7, 8)
    assert all(p.device.type == "meta" for p in model.parameters())


def test_build_errors_are_model_spec_errors():
    with pytest.raises(ModelSpecError, match="did you mean 'net'"):
        build(f"{MODELS}:nett")
    with pytest.raises(ModelSpecError, match="not a torch.nn.Module"):
        build(f"{MODELS}:not_a_module")
    with pytest.raises(ModelSpecError, match="cannot import"):
        build("no_such_package_xyz:f")
    with pytest.raises(ModelSpecError, match="does not exist"):
        build("missing/file.py:f")
    with pytest.raises(ModelSpecError, match="divisible"):
        build("initdsl.zoo:gpt(dim=7)", meta=True)


def test_build_on_cpu_by_default():
    model = build("torch.nn:Linear(2, 3)")
    assert isinstance(model, nn.Linear) and model.weight.device == torch.device("cpu")
