"""The package's layers import downward only, and no import cycle exists.

Every ``import`` statement of every module under ``initdsl/`` is read with
:mod:`ast` — those inside functions too, since a lazy import that dodges a
cycle is still a cycle — and resolved to the initdsl modules it loads. The
layers, lowest first, are those of docs/architecture.md.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "initdsl"

#: Lowest layer first; a module may import from its own layer and the ones before it.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("base", ("initdsl.errors", "initdsl.diagnostics", "initdsl.collector", "initdsl.version")),
    ("core", ("initdsl.core",)),
    ("language", ("initdsl.language", "initdsl.grammar")),
    ("fast", ("initdsl.fast",)),
    ("driver", ("initdsl.driver", "initdsl.scatter")),
    ("tools", ("initdsl.tools", "initdsl.zoo", "initdsl.mmengine")),
    ("api", ("initdsl", "initdsl.__main__")),
]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    grammar = PACKAGE.parent / "grammar" / "__init__.py"
    if grammar.exists():  # mapped into the wheel as initdsl.grammar
        found["initdsl.grammar"] = grammar
    return found


MODULES = _modules()


def layer_of(module: str) -> int:
    best, rank = -1, None
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, rank = len(prefix), index
    assert rank is not None, f"{module} is in no layer: add it to LAYERS and docs/architecture.md"
    return rank


def imports_of(module: str) -> set[str]:
    """The initdsl modules ``module`` imports, anywhere in its body."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "initdsl":
                    found.add(_existing(alias.name))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "initdsl":
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in MODULES else _existing(target))
    found.discard(module)
    return found


def _existing(name: str) -> str:
    while name not in MODULES and "." in name:
        name = name.rpartition(".")[0]
    return name


GRAPH = {module: imports_of(module) for module in MODULES}


def test_every_module_is_in_a_layer():
    for module in MODULES:
        layer_of(module)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_upward_import(module):
    own = layer_of(module)
    upward = sorted(t for t in GRAPH[module] if layer_of(t) > own)
    assert not upward, (f"{module} ({LAYERS[own][0]}) imports from a layer above it: "
                        + ", ".join(f"{t} ({LAYERS[layer_of(t)][0]})" for t in upward))


def test_no_import_cycle():
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles: list[list[str]] = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(GRAPH.get(module, ())):
            if state.get(target) == 1:
                cycles.append(path[path.index(target):] + [target])
            elif target not in state:
                visit(target, path + [target])
        state[module] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_imports_inside_functions_count():
    # The command line imports the layers below it inside its command functions.
    assert "initdsl.language.compiler" in GRAPH["initdsl.tools.cli"]
    assert "initdsl.core.provenance" in GRAPH["initdsl.tools.cli"]
