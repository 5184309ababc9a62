"""Python and JSON text read as data: an ``init_cfg`` or a config's assignments, never executed.

Config files are Python; reading one must not run it. :func:`literal` reads
one expression made of literals, ``dict(key=value)`` calls and unary minus
with :mod:`ast`, and refuses anything else with the position of what it
refuses.
"""

from __future__ import annotations

import ast
import json
from typing import Any

__all__ = ["InputError", "read_init_cfg", "literal"]


class InputError(Exception):
    """A file that is not what the command reads, with a position (exit 1)."""

    def __init__(self, message: str, path: str, line: int = 1, column: int = 1) -> None:
        super().__init__(f"{path}:{line}:{column}: error: {message}")


def read_init_cfg(text: str, path: str) -> Any:
    """The init_cfg in ``text``: JSON, a Python literal, or ``init_cfg = ...`` with ``dict(...)``.

    Python is read with :mod:`ast` and never executed: only literals,
    ``dict(key=value)`` calls and unary minus are accepted. In a file with
    statements, the last top-level assignment to ``init_cfg`` is used. The
    JSON that ``initdsl compile --json`` prints is accepted as well.
    """
    try:
        value = json.loads(text)
    except ValueError:
        pass
    else:
        if isinstance(value, dict) and "init_cfg" in value and "version" in value:
            return value["init_cfg"]
        return value
    try:
        tree = ast.parse(text, filename=path)
    except SyntaxError as error:
        raise InputError(f"neither JSON nor Python: {error.msg}", path, error.lineno or 1,
                         error.offset or 1) from None
    body = tree.body
    if len(body) == 1 and isinstance(body[0], ast.Expr):
        return literal(body[0].value, path)
    node = None
    for statement in body:
        if isinstance(statement, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "init_cfg" for t in statement.targets):
            node = statement.value
        elif isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name) \
                and statement.target.id == "init_cfg" and statement.value is not None:
            node = statement.value
    if node is None:
        raise InputError("no init_cfg found: give one expression, or assign `init_cfg = ...`",
                         path)
    return literal(node, path)


def literal(node: ast.expr, path: str) -> Any:
    """The value of ``node``: literals, ``dict(key=value)`` calls, unary minus; else InputError."""
    def fail(message: str) -> InputError:
        return InputError(message, path, getattr(node, "lineno", 1),
                          getattr(node, "col_offset", 0) + 1)

    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        operand = literal(node.operand, path)
        if isinstance(operand, (int, float)) and not isinstance(operand, bool):
            return -operand if isinstance(node.op, ast.USub) else operand
        raise fail("unary minus applies to numbers only")
    if isinstance(node, ast.List):
        return [literal(item, path) for item in node.elts]
    if isinstance(node, ast.Tuple):
        return tuple(literal(item, path) for item in node.elts)
    if isinstance(node, ast.Dict):
        if any(key is None for key in node.keys):
            raise fail("`**` in a dict literal is not read")
        return {literal(k, path): literal(v, path)
                for k, v in zip(node.keys, node.values)}
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict":
        if node.args or any(k.arg is None for k in node.keywords):
            raise fail("only dict(key=value, ...) calls are read")
        return {k.arg: literal(k.value, path) for k in node.keywords}
    if isinstance(node, ast.Name):
        raise fail(f"`{node.id}` is a variable; only literals and dict(...) calls are read")
    raise fail(f"`{ast.unparse(node)}` is not a literal; only literals and dict(...) calls "
               "are read (nothing is evaluated)")
