"""Properties over generated inputs (1000 examples each).

* For any syntax tree: ``parse(format(tree)) == tree``, and formatting is
  idempotent.
* For any valid init_cfg (dict, list or scoped): the policy
  ``decompile(cfg)`` initializes a model exactly as ``cfg`` does through the
  core — same bytes, same RNG state afterwards, same writers — or fails the
  same way.
"""

from __future__ import annotations

import copy
import logging
import warnings

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import initdsl
from initdsl.core.runner import run_scoped

from .models import Tiny, assert_same_state, writers
from .strategies import init_cfgs, policies

PROPERTY = settings(max_examples=1000, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@PROPERTY
@given(policies)
def test_format_then_parse_gives_the_tree_back(policy):
    text = initdsl.format(policy)
    assert initdsl.parse(text) == policy
    assert initdsl.format(text) == text


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    directory = tmp_path_factory.mktemp("checkpoints")
    torch.manual_seed(99)
    donor = Tiny()
    paths = {"full": directory / "full.pth", "fc": directory / "fc.pth"}
    torch.save(donor.state_dict(), paths["full"])
    torch.save(donor.fc.state_dict(), paths["fc"])
    return {key: str(path) for key, path in paths.items()}


@pytest.fixture(scope="module", autouse=True)
def _quiet_loads():
    """Loads of mismatched checkpoints warn on every example; keep the output short."""
    logger = logging.getLogger("initdsl")
    level = logger.level
    logger.setLevel(logging.ERROR)
    yield
    logger.setLevel(level)


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return Tiny()


def _run(model, action):
    """(error type or None, RNG state after)."""
    torch.manual_seed(1234)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            action(model)
        except Exception as error:  # noqa: BLE001 - compared between the two runs
            return type(error), torch.get_rng_state()
    return None, torch.get_rng_state()


@PROPERTY
@given(data=st.data())
def test_decompiled_policy_initializes_exactly_like_the_init_cfg(data, checkpoints, tiny):
    init_cfg = data.draw(init_cfgs(checkpoints), label="init_cfg")
    text = initdsl.decompile(init_cfg)
    scopes = init_cfg if isinstance(init_cfg, dict) and "type" not in init_cfg else {
        "": init_cfg}

    reference, candidate = copy.deepcopy(tiny), copy.deepcopy(tiny)
    error_ref, rng_ref = _run(reference, lambda m: run_scoped(m, copy.deepcopy(scopes)))
    error_new, rng_new = _run(candidate, lambda m: initdsl.apply(m, text))

    assert error_ref is None, "the strategy should only generate valid init_cfgs"
    assert error_new is None
    assert torch.equal(rng_ref, rng_new)
    assert_same_state(reference, candidate)
    assert writers(reference) == writers(candidate)
    # and the text is canonical
    assert initdsl.format(text) == text
