"""Model specs: how the command line names a model factory.

A spec is ``TARGET:FACTORY`` or ``TARGET:FACTORY(ARGS)``:

* ``TARGET`` is a dotted module name (``initdsl.zoo``, ``mypkg.models``) or
  the path of a Python file (``models/net.py``, ``./net.py``); a target that
  ends in ``.py`` or contains a path separator is a file;
* ``FACTORY`` is a callable in that module (a function or a class), a dotted
  attribute path allowed (``Models.small``);
* ``ARGS`` are Python literals, positional and/or keyword, read with
  :mod:`ast` (never evaluated): ``initdsl.zoo:gpt(depth=48, dim=8192, heads=64)``.

The factory is called with those arguments and must return an
``nn.Module``. :func:`build` can build it on the ``meta`` device, where no
parameter memory is allocated, which is how ``initdsl explain`` and ``initdsl
lint`` look at models of any size.
"""

from __future__ import annotations

import ast
import contextlib
import difflib
import importlib
import importlib.util
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from ..errors import InitError

if TYPE_CHECKING:
    from torch import nn

__all__ = ["ModelSpec", "ModelSpecError", "parse_spec", "load_module", "load_factory",
           "import_target", "build"]


class ModelSpecError(InitError, ValueError):
    """A spec that cannot be parsed, imported, called, or that does not build a module."""


@attrs.frozen
class ModelSpec:
    """A parsed spec: where the factory lives, its name, and the literal arguments."""

    target: str
    factory: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = attrs.field(factory=dict)
    text: str = ""

    @property
    def is_file(self) -> bool:
        """Whether ``target`` is a Python file rather than an importable module."""
        return _is_file_target(self.target)

    def __str__(self) -> str:
        return self.text or f"{self.target}:{self.factory}"


def _is_file_target(target: str) -> bool:
    return target.endswith(".py") or os.sep in target or "/" in target


def parse_spec(text: str) -> ModelSpec:
    """Parse ``TARGET:FACTORY`` or ``TARGET:FACTORY(literal args)``.

    Raises :class:`ModelSpecError` with what was expected.
    """
    text = text.strip()
    call_at = text.find("(")
    head = text if call_at < 0 else text[:call_at]
    # The last colon before any arguments splits target from factory, so a
    # Windows drive letter (C:\models\net.py:make) stays in the target.
    target, colon, factory = head.rpartition(":")
    if not colon or not target or not factory.strip():
        raise ModelSpecError(
            f"model spec {text!r} is not TARGET:FACTORY (for example "
            "'initdsl.zoo:resnet50' or 'models/net.py:build(width=64)')")
    factory = factory.strip()
    if not all(part.isidentifier() for part in factory.split(".")):
        raise ModelSpecError(f"model spec {text!r}: {factory!r} is not a Python name")
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = {}
    if call_at >= 0:
        args, kwargs = _literal_call(text, text[call_at:])
    return ModelSpec(target.strip(), factory, args, kwargs, text)


def _literal_call(spec: str, arguments: str) -> tuple[tuple[Any, ...], dict[str, Any]]:
    try:
        tree = ast.parse(f"f{arguments}", mode="eval")
    except SyntaxError as error:
        raise ModelSpecError(f"model spec {spec!r}: the arguments are not a call's argument "
                             f"list ({error.msg})") from None
    call = tree.body
    if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name):
        raise ModelSpecError(f"model spec {spec!r}: write the arguments once, as "
                             "FACTORY(a, key=value)")
    args = []
    for node in call.args:
        args.append(_literal(spec, node))
    kwargs = {}
    for keyword in call.keywords:
        if keyword.arg is None:
            raise ModelSpecError(f"model spec {spec!r}: `**` is not supported; name each "
                                 "argument")
        kwargs[keyword.arg] = _literal(spec, keyword.value)
    return tuple(args), kwargs


def _literal(spec: str, node: ast.expr) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError):
        raise ModelSpecError(
            f"model spec {spec!r}: argument `{ast.unparse(node)}` is not a Python literal "
            "(numbers, strings, True/False/None, tuples, lists and dicts of those)") from None


@contextlib.contextmanager
def _on_path(directory: str) -> Iterator[None]:
    # A model file usually imports its neighbours; make them importable while it loads.
    sys.path.insert(0, directory)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(directory)


def _import_file(target: str) -> Any:
    path = Path(target).expanduser().resolve()
    if not path.is_file():
        raise ModelSpecError(f"model file {target} does not exist")
    name = f"_initdsl_model_{abs(hash(str(path))):x}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ModelSpecError(f"cannot import {target} as a Python file")
    module = importlib.util.module_from_spec(spec)
    # Registered before running so dataclasses, pickling and self-imports see it.
    sys.modules[name] = module
    try:
        with _on_path(str(path.parent)):
            spec.loader.exec_module(module)
    except Exception as error:
        del sys.modules[name]
        raise ModelSpecError(f"model file {target} fails to import: {_described(error)}"
                             ) from error
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _described(error: BaseException) -> str:
    """``Type: message``, with the line of a syntax error."""
    if isinstance(error, SyntaxError) and error.lineno:
        return f"SyntaxError: {error.msg} (line {error.lineno})"
    return f"{type(error).__name__}: {error}"


def import_target(target: str) -> Any:
    """Import ``target``, a dotted module name or a Python file (as a spec's target is read)."""
    return load_module(ModelSpec(target, "_"))


def load_module(spec: ModelSpec) -> Any:
    """Import the spec's target module."""
    if spec.is_file:
        return _import_file(spec.target)
    try:
        with _on_path(os.getcwd()):
            return importlib.import_module(spec.target)
    except ModuleNotFoundError as error:
        if error.name and spec.target.startswith(error.name):
            raise ModelSpecError(f"cannot import {spec.target!r} ({error})") from None
        raise ModelSpecError(f"{spec.target} fails to import: {_described(error)}"
                             ) from error
    except Exception as error:
        raise ModelSpecError(f"{spec.target} fails to import: {_described(error)}"
                             ) from error


def load_factory(spec: ModelSpec | str) -> Callable[..., Any]:
    """Import the spec's target and return its factory (not called)."""
    spec = parse_spec(spec) if isinstance(spec, str) else spec
    module = load_module(spec)
    factory: Any = module
    for part in spec.factory.split("."):
        if not hasattr(factory, part):
            public = sorted(n for n in dir(module) if not n.startswith("_")
                            and callable(getattr(module, n)))
            close = difflib.get_close_matches(spec.factory, public, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ModelSpecError(f"{spec.target} has no {spec.factory!r}{hint}")
        factory = getattr(factory, part)
    if not callable(factory):
        raise ModelSpecError(f"{spec.target}:{spec.factory} is a "
                             f"{type(factory).__name__}, not a callable")
    return factory


def build(spec: ModelSpec | str, *, meta: bool = False, device: str | None = None
          ) -> nn.Module:
    """Build the model a spec names, on ``device`` (``meta=True``: on the ``meta`` device).

    On ``meta`` every parameter has its shape and dtype but no storage, so a
    model of any size builds instantly and nothing can read its values. A
    constructor that reads values (``x.item()``, timm's drop-path rates) fails
    there; the error says to build it on the CPU instead (``--device cpu``).
    """
    import torch
    from torch import nn

    spec = parse_spec(spec) if isinstance(spec, str) else spec
    factory = load_factory(spec)
    where = "meta" if meta and device is None else device
    try:
        context: Any = torch.device(where) if where else contextlib.nullcontext()
    except RuntimeError as error:
        raise ModelSpecError(f"device {where!r}: {error}") from None
    try:
        with context:
            model = factory(*spec.args, **spec.kwargs)
    except ModelSpecError:
        raise
    except Exception as error:
        hint = ""
        if where == "meta" and "meta" in str(error).lower():
            hint = ("; the model is built on the meta device, which holds no data, so a "
                    "constructor that reads values fails there: build it on the CPU with "
                    "--device cpu")
        raise ModelSpecError(f"{spec}: the factory raised {type(error).__name__}: {error}"
                             f"{hint}") from error
    if not isinstance(model, nn.Module):
        raise ModelSpecError(f"{spec} returned an object of type {type(model).__name__}, not a "
                             "torch.nn.Module")
    return model
