"""Looking at a policy never runs code from a checkpoint, even one it trusts.

``evil.pth`` holds the model's tensors and an object whose unpickling creates
a marker file. ``lint`` and ``explain`` on ``load "evil.pth" weights_only
false`` must leave no marker (and say the load was not inspected), while
``initdsl.apply`` — where ``weights_only false`` means the file is trusted —
does create it: that contrast proves the payload is real.
"""

from __future__ import annotations

import json
import pathlib

import pytest
import torch

import initdsl
from tests.tools.conftest import cli, run

MODEL_FILE = '''\
from torch import nn


def net():
    return nn.Sequential(nn.Linear(3, 3), nn.LayerNorm(3))
'''

POLICY = 'load "evil.pth" weights_only false\n'


class Payload:
    """Unpickling this calls ``pathlib.Path.touch(marker)``: a real side effect."""

    def __init__(self, marker: pathlib.Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


@pytest.fixture
def evil(tmp_path):
    """(directory, marker path): models.py, p.init and evil.pth in a fresh directory."""
    (tmp_path / "models.py").write_text(MODEL_FILE, encoding="utf-8")
    (tmp_path / "p.init").write_text(POLICY, encoding="utf-8")
    torch.manual_seed(0)
    state = dict(torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.LayerNorm(3)).state_dict())
    marker = tmp_path / "payload-ran"
    state["extra"] = Payload(marker)
    torch.save(state, tmp_path / "evil.pth")
    assert not marker.exists()
    return tmp_path, marker


SPEC = "models.py:net"

#: id → (command-line arguments, what the output must show)
STATIC_COMMANDS = {
    "lint": (["lint", "p.init", "--model", SPEC], "I263"),
    "lint-json": (["lint", "p.init", "--model", SPEC, "--json"], '"code": "I263"'),
    "lint-strict": (["lint", "p.init", "--model", SPEC, "--strict"], "I263"),
    "lint-no-model": (["lint", "p.init"], "No findings"),
    "explain": (["explain", "p.init", "--model", SPEC], "(not inspected)"),
    "explain-expand": (["explain", "p.init", "--model", SPEC, "--expand"], "(not inspected)"),
    "explain-json": (["explain", "p.init", "--model", SPEC, "--json"], '"status": "unknown"'),
    "explain-cpu": (["explain", "p.init", "--model", SPEC, "--device", "cpu"],
                    "(not inspected)"),
}


@pytest.mark.parametrize("case", list(STATIC_COMMANDS))
def test_lint_and_explain_never_unpickle_a_trusted_checkpoint(evil, case):
    """The marker file does not exist afterwards; the load is reported as not inspected."""
    directory, marker = evil
    args, shown = STATIC_COMMANDS[case]
    result = cli(*args, cwd=directory)
    assert result.returncode == 0, result.stderr
    assert shown in result.stdout
    assert not marker.exists()


def test_lint_says_why_the_checkpoint_was_not_inspected(evil):
    """I263 at the load: it holds Python objects, the policy trusts it, lint never unpickles."""
    directory, marker = evil
    result = cli("lint", "p.init", "--model", SPEC, "--json", cwd=directory)
    (finding,) = json.loads(result.stdout)["diagnostics"]
    assert (finding["code"], finding["severity"], finding["line"], finding["column"]) == \
        ("I263", "info", 1, 1)
    assert "`evil.pth` was not inspected" in finding["message"]
    assert "weights_only false" in finding["message"]
    assert not marker.exists()


def test_explain_json_marks_every_parameter_unknown(evil):
    """Every parameter is ``unknown`` (the load may write it) and the load is not known."""
    directory, marker = evil
    document = json.loads(cli("explain", "p.init", "--model", SPEC, "--json",
                              cwd=directory).stdout)
    assert {p["status"] for p in document["parameters"]} == {"unknown"}
    (load,) = document["loads"]
    assert load["known"] is False and "Python objects" in load["problem"]
    assert not marker.exists()


def test_lint_in_a_subprocess_never_unpickles(evil):
    """The console entry point, end to end (python -m initdsl lint in a subprocess)."""
    directory, marker = evil
    linted = run("lint", "p.init", "--model", SPEC, cwd=directory)
    assert linted.returncode == 0, linted.stderr
    assert "I263" in linted.stdout
    assert not marker.exists()


def test_apply_runs_the_payload_of_a_trusted_checkpoint(evil, monkeypatch):
    """The contrast: weights_only false means trusted, so a run unpickles it — the payload
    is real, and only looking at the policy is safe."""
    directory, marker = evil
    monkeypatch.chdir(directory)
    model = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.LayerNorm(3))
    initdsl.apply(model, POLICY)
    assert marker.exists()


def test_apply_refuses_the_same_file_without_trust(evil, monkeypatch):
    """Without weights_only false the run refuses the file and the payload does not run."""
    directory, marker = evil
    monkeypatch.chdir(directory)
    model = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.LayerNorm(3))
    with pytest.raises((initdsl.CheckpointUnpicklingError, initdsl.PolicyError)):
        initdsl.apply(model, 'load "evil.pth"\n')
    assert not marker.exists()
