"""[tool.initdsl] in pyproject.toml, # noqa, and lint's output formats."""

from __future__ import annotations

import json

import pytest

from initdsl.tools.lint import lint, noqa_codes
from initdsl.tools.project import Project, ProjectError, find_project, load_project
from initdsl.tools.report_formats import github_annotations, sarif

from .conftest import REPO, cli

TYPO = "Linaer -> zeros\n"  # W201: no such module class


def _project(tmp_path, text):
    (tmp_path / "pyproject.toml").write_text(text)
    return tmp_path


# -- finding and reading the table -------------------------------------------------------------


def test_the_nearest_pyproject_with_the_table_wins(tmp_path):
    _project(tmp_path, '[tool.initdsl]\nmodel = "outer:build"\n')
    inner = tmp_path / "pkg"
    (inner / "configs").mkdir(parents=True)
    (inner / "pyproject.toml").write_text('[project]\nname = "x"\n')  # no table: passed over
    project = find_project(inner / "configs" / "a.init")
    assert project.root == tmp_path and project.model == "outer:build"


def test_no_table_anywhere_is_the_defaults(tmp_path):
    assert find_project(tmp_path / "a.init") == Project()


@pytest.mark.parametrize("path, expected", [
    ("configs/vit/b16.init", "m:vit"),
    ("configs/deep/er/r50.init", "m:build"),  # `*` crosses `/`
    ("other/x.init", "m:default"),
])
def test_models_by_glob_first_match_then_model(tmp_path, path, expected):
    _project(tmp_path, '[tool.initdsl]\nmodel = "m:default"\n[tool.initdsl.models]\n'
                       '"configs/vit/*.init" = "m:vit"\n"configs/*.init" = "m:build"\n')
    assert find_project(tmp_path).model_for(tmp_path / path) == expected


@pytest.mark.parametrize("select, ignore, code, reported", [
    ((), (), "W201", True),
    ((), ("W201",), "W201", False),
    ((), ("W2",), "W205", False),
    (("E",), (), "W201", False),
    (("W",), ("W2",), "W201", False),
    (("W201",), ("W2",), "W201", True),   # the longer prefix decides
    (("W2",), ("W2",), "W201", False),    # a tie is ignored
    (("W",), (), "E001", True),           # syntax errors: always
    ((), ("E1",), "E101", True),          # the checks: always
])
def test_select_and_ignore_by_longest_prefix(select, ignore, code, reported):
    assert Project(select=select, ignore=ignore).reports(code) is reported


@pytest.mark.parametrize("table, message", [
    ('modle = "x"', "no setting `modle`.*did you mean `model`"),
    ("model = 3", "model must be a string"),
    ('ignore = "W201"', "ignore must be a list of strings"),
    ('strict = "yes"', "strict must be true or false"),
    ("models = 1", "models must be a table"),
])
def test_a_bad_table_names_the_file_and_the_key(tmp_path, table, message):
    _project(tmp_path, f"[tool.initdsl]\n{table}\n")
    with pytest.raises(ProjectError, match=message) as info:
        load_project(tmp_path / "pyproject.toml")
    assert str(tmp_path / "pyproject.toml") in str(info.value)


def test_invalid_toml_is_a_project_error(tmp_path):
    _project(tmp_path, "[tool.initdsl\n")
    with pytest.raises(ProjectError, match="not valid TOML"):
        find_project(tmp_path)


# -- noqa ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("line, codes", [
    ("Linaer -> zeros", None),
    ("Linaer -> zeros  # noqa", frozenset()),
    ("Linaer -> zeros  # NOQA: W201", frozenset({"W201"})),
    ("Linaer -> zeros  #noqa:W201,E202", frozenset({"W201", "E202"})),
    ("Linaer -> zeros  # noqa: W201 E202", frozenset({"W201", "E202"})),
])
def test_noqa_comments(line, codes):
    assert noqa_codes(line) == codes


def test_noqa_drops_lint_findings_on_its_line_only():
    text = "Linaer -> zeros  # noqa: W201\nLinaer -> zeros\nConvv -> zeros  # noqa\n" \
           "Lineer -> zeros  # noqa: E202\n"
    assert [(d.code, d.span.line) for d in lint(text, "p.init").diagnostics] == [
        ("W201", 2), ("W201", 4)]


def test_noqa_never_hides_an_error_of_the_language():
    codes = [d.code for d in lint("Linear -> normal(stdd=1)  # noqa\n", "p.init").diagnostics]
    assert codes and all(code.startswith("E1") for code in codes)


# -- the command line ----------------------------------------------------------------------------


def test_lint_reads_select_ignore_and_strict_from_the_project(tmp_path):
    _project(tmp_path, '[tool.initdsl]\nstrict = true\n')
    (tmp_path / "p.init").write_text(TYPO)
    result = cli("lint", "p.init", cwd=tmp_path)
    assert result.returncode == 1 and "W201" in result.stdout  # strict from the file
    assert cli("lint", "--no-strict", "p.init", cwd=tmp_path).returncode == 0  # the flag wins
    assert "No findings" in cli("lint", "--ignore", "W2", "p.init", cwd=tmp_path).stdout
    _project(tmp_path, '[tool.initdsl]\nstrict = true\nignore = ["W201"]\n')
    assert cli("lint", "p.init", cwd=tmp_path).returncode == 0
    assert cli("lint", "--ignore", "", "p.init", cwd=tmp_path).returncode == 1  # replaced


def test_lint_and_explain_take_the_model_from_the_project(tmp_path):
    _project(tmp_path, '[tool.initdsl.models]\n"*.init" = "initdsl.zoo:resnet50"\n')
    (tmp_path / "p.init").write_text("Conv2d -> kaiming\nLinaer -> zeros\n")
    linted = cli("lint", "--output-format", "json", "p.init", cwd=tmp_path)
    codes = {d["code"] for d in json.loads(linted.stdout)["diagnostics"]}
    assert "W201" not in codes  # with a model, the typo is a model finding instead
    assert codes, linted.stdout
    explained = cli("explain", "p.init", cwd=tmp_path)
    assert "conv1.weight" in explained.stdout and explained.returncode in (0, 1)


def test_explain_without_any_model_says_where_to_set_one(tmp_path):
    (tmp_path / "p.init").write_text("Conv2d -> kaiming\n")
    result = cli("explain", "p.init", cwd=tmp_path)
    assert result.returncode == 2 and "[tool.initdsl]" in result.stderr


def test_a_bad_project_table_is_a_usage_error(tmp_path):
    _project(tmp_path, '[tool.initdsl]\nselect = "W"\n')
    (tmp_path / "p.init").write_text(TYPO)
    result = cli("lint", "p.init", cwd=tmp_path)
    assert result.returncode == 2 and "select must be a list of strings" in result.stderr


# -- output formats -------------------------------------------------------------------------------


def _typo_diagnostics():
    return lint("Linear -> zeros\nLinaer -> zeros\n", "dir/p q.init").diagnostics


def test_github_annotations_escape_and_locate():
    (line,) = github_annotations(_typo_diagnostics()).splitlines()
    assert line.startswith("::warning file=dir/p q.init,line=2,col=1,endLine=2,endColumn=7,"
                           "title=W201::W201 `Linaer` is not a known module class")


def test_github_annotations_escape_newlines_percent_and_property_separators():
    from initdsl.diagnostics import Span
    from initdsl.tools.findings import finding

    diagnostic = finding("W201", "two\nlines, 100%", Span("a,b:c.init", 1, 2, 1, 3))
    assert github_annotations([diagnostic]) == (
        "::warning file=a%2Cb%3Ac.init,line=1,col=2,endLine=1,endColumn=3,title=W201::"
        "W201 two%0Alines, 100%25")


def test_sarif_log_shape():
    log = sarif(_typo_diagnostics())
    assert log["version"] == "2.1.0"
    (run,) = log["runs"]
    assert run["tool"]["driver"]["name"] == "initdsl"
    assert [rule["id"] for rule in run["tool"]["driver"]["rules"]] == ["W201"]
    (result,) = run["results"]
    assert result["ruleId"] == "W201" and result["level"] == "warning"
    location = result["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "dir/p%20q.init"
    assert location["region"] == {"startLine": 2, "startColumn": 1, "endLine": 2,
                                  "endColumn": 7}


def test_lint_output_formats_on_the_command_line(tmp_path):
    (tmp_path / "p.init").write_text(TYPO)
    github = cli("lint", "--output-format", "github", "p.init", cwd=tmp_path)
    assert github.stdout.startswith("::warning file=p.init,line=1,col=1,")
    log = json.loads(cli("lint", "--output-format", "sarif", "p.init", cwd=tmp_path).stdout)
    assert log["runs"][0]["results"][0]["ruleId"] == "W201"
    assert json.loads(cli("lint", "--json", "p.init", cwd=tmp_path).stdout)["summary"][
        "warnings"] == 1


def test_docs_cli_shows_the_real_project_session(tmp_path):
    doc = (REPO / "docs" / "cli.md").read_text()
    section = doc.split("### Project configuration")[1].split("### Output formats")[0]
    toml = section.split("```toml\n")[1].split("```")[0]
    # The documented table, with the models of this repository.
    _project(tmp_path, toml.replace('model = "mypkg.models:build"', "")
             .replace('imports = ["mypkg.initializers"]', "")
             .replace('"configs/vit/*.init" = "mypkg.models:vit"\n', "")
             .replace("mypkg.models:build", "initdsl.zoo:resnet50"))
    (tmp_path / "configs").mkdir()
    policy = section.split("```init\n")[1].split("```")[0]
    (tmp_path / "configs" / "r50.init").write_text(policy)
    result = cli("lint", "configs/r50.init", cwd=tmp_path)
    assert result.returncode == 1
    assert f"$ initdsl lint configs/r50.init\n{result.stdout}```" in section


# -- lint --fix -----------------------------------------------------------------------------------


@pytest.mark.parametrize("before, after", [
    ("Linaer -> zeros\n", "Linear -> zeros\n"),                            # W201
    ("Linear -> normal(sdt=0.02)\n", "Linear -> normal(std=0.02)\n"),      # E110
    ("Conv2d -> kaimnig\n", "Conv2d -> kaiming\n"),                        # E101
    ("Linaer->normal(sdt=1)  # keep\n", "Linear -> normal(std=1)  # keep\n"),  # and fmt
    ("Foo -> zeros\n", "Foo -> zeros\n"),                                  # no suggestion
    ("Linaer -> zeros  # noqa: W201\n", "Linaer -> zeros  # noqa: W201\n"),  # suppressed
])
def test_lint_fix_table(tmp_path, before, after):
    (tmp_path / "p.init").write_text(before)
    result = cli("lint", "--fix", "p.init", cwd=tmp_path)
    assert (tmp_path / "p.init").read_text() == after
    assert ("1 file fixed" in result.stdout) is (before != after)


def test_lint_fix_reports_each_change_and_what_is_left(tmp_path):
    (tmp_path / "p.init").write_text("Linaer -> normal(sdt=0.02)\nFoo -> zeros\n")
    result = cli("lint", "--fix", "p.init", cwd=tmp_path)
    assert result.stderr.splitlines()[:2] == ["p.init:1:1: fixed W201: `Linaer` -> `Linear`",
                                              "p.init:1:18: fixed E110: `sdt` -> `std`"]
    assert "p.init:2:1: W201 `Foo`" in result.stdout  # not fixable: still reported
    assert result.returncode == 0


def test_lint_fix_refuses_standard_input(tmp_path):
    result = cli("lint", "--fix", "-", cwd=tmp_path, stdin="Linaer -> zeros\n")
    assert result.returncode == 2 and "standard input" in result.stderr
