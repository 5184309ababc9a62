"""Project configuration: the ``[tool.initdsl]`` table of a ``pyproject.toml``.

Found as ruff finds its own: from a policy file's directory upward, the
first ``pyproject.toml`` that has a ``[tool.initdsl]`` table (one without
it is passed over). Everything in it is optional::

    [tool.initdsl]
    model = "mypkg.models:build"          # for every policy file
    imports = ["mypkg.initializers"]      # imported first: registered initializers
    select = ["E", "W"]                   # lint codes kept, by prefix (default: all)
    ignore = ["W201"]                     # lint codes dropped, by prefix
    strict = true                         # lint exits 1 on warnings too

    [tool.initdsl.models]                 # a model per file, by glob (first match wins)
    "configs/vit/*.init" = "mypkg.models:vit"
    "configs/*.init" = "mypkg.models:build"

Globs are matched against the file's path relative to the directory of
the ``pyproject.toml`` (``*`` also crosses ``/``). Command-line flags
override the file: ``--model``, ``--import`` (added to ``imports``),
``--select``/``--ignore`` (replace), ``--strict``/``--no-strict``.

The errors of the language itself — syntax (``E0xx``) and the checks
(``E1xx``), which mean the policy cannot run — are reported whatever
``select``, ``ignore`` or ``# noqa`` say.
"""

from __future__ import annotations

import fnmatch
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

__all__ = ["Project", "ProjectError", "find_project", "load_project", "always_reported"]


class ProjectError(Exception):
    """A ``[tool.initdsl]`` table that cannot be used (the message names the file and key)."""


@attrs.frozen
class Project:
    """The settings of one ``[tool.initdsl]`` table (``root``: its directory; ``None``: none
    was found, every setting is its default)."""

    root: Path | None = None
    path: Path | None = None
    model: str | None = None
    models: tuple[tuple[str, str], ...] = ()
    imports: tuple[str, ...] = ()
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    strict: bool = False

    def model_for(self, file: str | os.PathLike[str]) -> str | None:
        """The model spec for a policy file: the first ``models`` glob it matches, else
        ``model``."""
        if self.root is not None and self.models:
            try:
                relative = Path(os.path.abspath(file)).relative_to(self.root).as_posix()
            except ValueError:
                relative = None
            if relative is not None:
                for pattern, spec in self.models:
                    if fnmatch.fnmatchcase(relative, pattern):
                        return spec
        return self.model

    def reports(self, code: str) -> bool:
        """Whether lint reports ``code`` under ``select`` and ``ignore``: the longest matching
        prefix decides, as in ruff (``select = ["W"]``, ``ignore = ["W2"]`` drops W201; an
        equal prefix in both is ignored)."""
        if always_reported(code):
            return True
        chosen = max((len(p) for p in self.select or ("",) if code.startswith(p)), default=-1)
        dropped = max((len(p) for p in self.ignore if code.startswith(p)), default=-1)
        return chosen > dropped  # a tie: ignored


def always_reported(code: str) -> bool:
    """The language's own errors: syntax and checks (the policy cannot run)."""
    return code.startswith(("E0", "E1"))


def _toml(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        with open(path, "rb") as file:
            return tomllib.load(file)
    except tomllib.TOMLDecodeError as error:
        raise ProjectError(f"{path}: not valid TOML: {error}") from None
    except OSError as error:
        raise ProjectError(f"{path}: cannot be read: {error.strerror}") from None


def find_project(start: str | os.PathLike[str]) -> Project:
    """The configuration for a policy file (or a directory): the nearest ``pyproject.toml``
    upward with a ``[tool.initdsl]`` table, or the defaults."""
    here = Path(os.path.abspath(start))
    if not here.is_dir():
        here = here.parent
    for directory in (here, *here.parents):
        candidate = directory / "pyproject.toml"
        if candidate.is_file():
            table = _toml(candidate).get("tool", {}).get("initdsl")
            if table is not None:
                return load_project(candidate, table)
    return Project()


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence) or not all(
            isinstance(v, str) for v in value):
        raise ProjectError(f"{where} must be a list of strings, not {value!r}")
    return tuple(value)


_KEYS = {"model", "models", "imports", "select", "ignore", "strict"}


def load_project(path: str | os.PathLike[str], table: Mapping[str, Any] | None = None
                 ) -> Project:
    """Read the ``[tool.initdsl]`` table of ``path`` (or validate ``table``, read from it)."""
    path = Path(os.path.abspath(path))
    if table is None:
        table = _toml(path).get("tool", {}).get("initdsl", {})
    where = f"{path}: [tool.initdsl]"
    if not isinstance(table, Mapping):
        raise ProjectError(f"{where} must be a table")
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        from .findings import did_you_mean

        raise ProjectError(f"{where} has no setting `{unknown[0]}`"
                           f"{did_you_mean(unknown[0], sorted(_KEYS))}; the settings are "
                           f"{', '.join(sorted(_KEYS))}")
    model = table.get("model")
    if model is not None and not isinstance(model, str):
        raise ProjectError(f"{where} model must be a string (a model spec), not {model!r}")
    models = table.get("models", {})
    if not isinstance(models, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in models.items()):
        raise ProjectError(f"{where} models must be a table of \"glob\" = \"model spec\"")
    strict = table.get("strict", False)
    if not isinstance(strict, bool):
        raise ProjectError(f"{where} strict must be true or false, not {strict!r}")
    return Project(
        root=path.parent, path=path, model=model, models=tuple(models.items()),
        imports=_strings(table.get("imports", []), f"{where} imports"),
        select=_strings(table.get("select", []), f"{where} select"),
        ignore=_strings(table.get("ignore", []), f"{where} ignore"),
        strict=strict,
    )
