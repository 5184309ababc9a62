"""docs/cli.md and the README show what the command line does."""

from __future__ import annotations

import re

from initdsl.tools.findings import LINT_CODES
from tests.tools.conftest import REPO, cli

CLI_DOC = (REPO / "docs" / "cli.md").read_text()


def test_every_lint_code_is_documented_with_an_example():
    table = re.findall(r"^\| `([EWI]\d{3})` \| (\w+) \|", CLI_DOC, re.M)
    documented = {code: severity for code, severity in table}
    assert {c: s for c, (s, _) in LINT_CODES.items()} == {
        c: s for c, s in documented.items() if c in LINT_CODES}
    for code in LINT_CODES:
        section = CLI_DOC.split(f"### `{code}`")[1].split("\n### ")[0]
        assert f": {code} " in section, code  # a real diagnostic in the example


def test_readme_shows_the_real_explain_table():
    result = cli("explain", "examples/vit.init", "--model", "initdsl.zoo:vit_b16", cwd=REPO)
    assert result.returncode == 0
    readme = (REPO / "README.md").read_text()
    assert ("$ initdsl explain examples/vit.init --model initdsl.zoo:vit_b16\n" + result.stdout
            + "```") in readme
    assert "&& initdsl explain examples/vit.init --model initdsl.zoo:vit_b16\n" in readme
    assert ("$ initdsl explain examples/vit.init --model initdsl.zoo:vit_b16\n" + result.stdout
            + "```") in CLI_DOC
