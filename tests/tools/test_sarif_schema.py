"""``lint --output-format sarif`` is valid SARIF 2.1.0: checked against the OASIS schema.

The schema is the one Microsoft's SARIF SDK ships (the npm package pinned in
``tests/tools/sarif/package-lock.json``, which ``.ci/run`` installs with
``npm ci``); it is not vendored here. Without it, or without ``jsonschema``,
these tests are skipped.
"""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from initdsl.diagnostics import Diagnostic, Span
from initdsl.tools.report_formats import sarif
from tests.tools.conftest import REPO, cli

SCHEMA = (REPO / "tests" / "tools" / "sarif" / "node_modules" / "@microsoft"
          / "sarif-multitool-linux" / "sarif-2.1.0.json")

jsonschema = pytest.importorskip("jsonschema")
if not SCHEMA.exists():
    pytest.skip("the SARIF schema is not installed (npm ci --prefix tests/tools/sarif)",
                allow_module_level=True)

# With the format checker (and jsonschema's format extra installed) `uri-reference`
# and the other string formats are checked too, not only the structure.
VALIDATOR = jsonschema.Draft202012Validator(
    json.loads(SCHEMA.read_text()), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def _errors(log: dict) -> list[str]:
    return [f"{list(error.absolute_path)}: {error.message}"
            for error in VALIDATOR.iter_errors(log)]


def test_the_schema_is_sarif_2_1_0_and_rejects_a_broken_log():
    assert VALIDATOR.schema["title"].startswith("Static Analysis Results Format (SARIF) "
                                                "Version 2.1.0")
    log = sarif([Diagnostic("W201", "typo", Span("p.init", 1, 1, 1, 7), "warning")])
    assert _errors(log) == []
    broken = copy.deepcopy(log)
    broken["runs"][0]["results"][0]["level"] = "fatal"
    assert _errors(broken) == [
        "['runs', 0, 'results', 0, 'level']: 'fatal' is not one of "
        "['none', 'note', 'warning', 'error']"]
    unquoted = copy.deepcopy(log)
    unquoted["runs"][0]["results"][0]["locations"][0]["physicalLocation"][
        "artifactLocation"]["uri"] = "a b.init"
    assert _errors(unquoted) == [
        "['runs', 0, 'results', 0, 'locations', 0, 'physicalLocation', 'artifactLocation', "
        "'uri']: 'a b.init' is not a 'uri-reference'"]


POLICIES = {
    "findings": "Linaer -> normal(sdt=0.02)\nConv2d -> kaiming\n",  # W201, E110
    "syntax": "Linear -> normal(std=\n",                             # E0xx
    "clean": "Linear -> normal(std=0.02)\n",                         # no results
    "noqa": "Foo -> zeros  # noqa: W201\n",
}


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_what_the_command_line_prints_is_valid(tmp_path, name):
    (tmp_path / f"{name} policy.init").write_text(POLICIES[name])
    result = cli("lint", "--output-format", "sarif", f"{name} policy.init", cwd=tmp_path)
    log = json.loads(result.stdout)
    assert _errors(log) == []
    results = log["runs"][0]["results"]
    assert (len(results) == 0) == (name in ("clean", "noqa"))


@pytest.mark.parametrize("path, uri", [
    ("dir/p q.init", "dir/p%20q.init"),          # relative: what code scanning maps
    ("a:b.init", "a%3Ab.init"),                  # not the scheme `a`
    ("/tmp/x y.init", "file:///tmp/x%20y.init"),
    ("C:\\policies\\p.init", "file:///C:/policies/p.init"),
])
def test_artifact_uris(path, uri):
    log = sarif([Diagnostic("W201", "x", Span(path, 1, 1, 1, 2), "warning")])
    location = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == uri and _errors(log) == []


_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


@st.composite
def _diagnostics(draw):
    line = draw(st.integers(1, 10_000))
    column = draw(st.integers(1, 500))
    end_line = draw(st.integers(line, line + 5))
    end_column = draw(st.integers(column + 1 if end_line == line else 1, 600))
    span = draw(st.none() | st.just(Span(draw(_text) or "p.init", line, column, end_line,
                                         end_column)))
    return Diagnostic(draw(st.from_regex(r"[EWI][0-9]{3}", fullmatch=True)), draw(_text),
                      span, draw(st.sampled_from(["error", "warning", "info"])))


@settings(max_examples=150, deadline=None)
@given(st.lists(_diagnostics(), max_size=6))
# Found by this property: a file named `:` was written as the URI `:`.
@example([Diagnostic("E000", "", Span(":", 1, 1, 1, 2))])
def test_any_diagnostics_make_a_valid_log(diagnostics):
    assert _errors(sarif(diagnostics)) == []
