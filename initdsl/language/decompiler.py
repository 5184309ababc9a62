"""mmengine ``init_cfg`` → policy text (the inverse of :mod:`initdsl.language.compiler`).

Accepts every form an ``init_cfg`` takes: one cfg dict or a list of them;
``layer`` as a string or a list; ``override`` as a dict or a list, with
name-only entries; ``type`` as a registered name or a registered class;
``Pretrained`` with its options; and the scoped form ``{module path:
init_cfg}`` that policies with scopes compile to. The result compiles back
to cfgs that initialize a model exactly as the input does.

The text is produced by building a syntax tree and printing it with the
formatter, so it is always canonical.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

from ..core.registry import Registry
from ..errors import InitTypeError, InitValueError
from .ast import (
    Arg,
    Boolean,
    Call,
    Float,
    Identifier,
    Integer,
    Layer,
    LayerRule,
    Load,
    LoadRule,
    NameRule,
    Null,
    Option,
    Policy,
    Scope,
    Statement,
    String,
    Value,
    is_bare_word,
)
from .checker import PRETRAINED, Initializers, snake_case
from .formatter import generate

__all__ = ["decompile", "to_policy"]


def decompile(init_cfg: Any, *, registry: Registry | None = None) -> str:
    """The policy text of ``init_cfg`` (a cfg, a list of cfgs, or ``{path: init_cfg}``).

    Raises :class:`~initdsl.InitValueError` / :class:`~initdsl.InitTypeError`
    for a configuration that is not a valid ``init_cfg`` or holds values a
    policy cannot spell (non-finite floats, tuples, objects).
    """
    return generate(to_policy(init_cfg, registry=registry))


def to_policy(init_cfg: Any, *, registry: Registry | None = None) -> Policy:
    """The syntax tree of ``init_cfg`` (see :func:`decompile`)."""
    builder = _Decompiler(Initializers.of(registry))
    if init_cfg is None:
        return Policy()
    if isinstance(init_cfg, list) or (isinstance(init_cfg, Mapping) and "type" in init_cfg):
        return Policy(builder.block(init_cfg))
    if not isinstance(init_cfg, Mapping):
        raise InitTypeError(
            f"init_cfg must be a dict, a list of dicts or a {{module path: init_cfg}} dict, got "
            f"{type(init_cfg).__name__}: {init_cfg!r}")
    return Policy(builder.scoped(init_cfg))


class _Decompiler:
    def __init__(self, initializers: Initializers) -> None:
        self.initializers = initializers

    def scoped(self, scopes: Mapping[str, Any]) -> list[Statement]:
        for path in scopes:
            if not isinstance(path, str):
                raise InitTypeError(f"scope paths must be strings, got {path!r}")
            if path and not all(path.split(".")):
                raise InitValueError(f"invalid module path {path!r} in a scoped init_cfg")
        statements = self.block(scopes[""]) if "" in scopes else []
        for path, cfgs in scopes.items():
            if not path:
                continue
            body = self.block(cfgs)
            implied = not body and any(other.startswith(path + ".") for other in scopes)
            if not implied:
                statements.append(Scope(tuple(path.split(".")), body))
        return statements

    def block(self, init_cfg: Any) -> list[Statement]:
        if init_cfg is None:
            return []
        cfgs = [init_cfg] if isinstance(init_cfg, Mapping) else init_cfg
        if not isinstance(cfgs, list):
            raise InitTypeError(f"init_cfg must be a dict or a list of dicts, got {cfgs!r}")
        statements: list[Statement] = []
        chainable = False  # would a name rule written now attach to the previous cfg?
        for cfg in cfgs:
            emitted, chainable = self.cfg(cfg, chainable)
            statements.extend(emitted)
        return statements

    def cfg(self, cfg: Any, chainable: bool) -> tuple[list[Statement], bool]:
        if not isinstance(cfg, Mapping):
            raise InitTypeError(f"each init_cfg entry must be a dict, got {cfg!r}")
        if "type" not in cfg:
            raise InitValueError(f"init_cfg entry has no 'type': {dict(cfg)!r}")
        kind = self.type_name(cfg["type"])
        rest = {k: v for k, v in cfg.items() if k not in ("type", "override")}
        entries = self.overrides(cfg.get("override"))
        if kind == PRETRAINED:
            head: Statement = LoadRule(self.load(rest))
        else:
            layer = rest.pop("layer", None)
            call = self.call(kind, rest)
            layers = self.layers(layer)
            if not layers and not chainable and len(entries) == 1 and entries[0].target is None:
                # `name x -> call` alone means exactly this cfg.
                return [NameRule(entries[0].name, call)], False
            head = LayerRule([Layer(name) for name in layers], call)
        return [head, *entries], True

    def type_name(self, kind: Any) -> str:
        if isinstance(kind, str):
            if self.initializers.registry.get(kind) is None:
                raise InitValueError(f"type {kind!r} is not registered in "
                                     f"{self.initializers.registry.name}")
            return kind
        for name, cls in self.initializers.registry.items():
            if cls is kind:
                return name
        raise InitValueError(f"type {kind!r} is not a registered initializer class; a policy "
                             "can only name registered initializers")

    @staticmethod
    def layers(layer: Any) -> list[str]:
        if layer is None:
            return []
        names = [layer] if isinstance(layer, str) else layer
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise InitTypeError(f"layer must be a str or a list of str, got {layer!r}")
        return list(names)

    def call(self, kind: str, args: Mapping[str, Any]) -> Call:
        word = snake_case(kind)
        if self.initializers.name_of(word) != kind or not is_bare_word(word):
            raise InitValueError(f"initializer {kind!r} has no policy spelling: its snake_case "
                                 f"name {word!r} is ambiguous or not a plain word")
        cls = self.initializers.registry.get(kind)
        accepted = self.initializers.accepted(cls)
        order = self.initializers.positional(cls)
        written: list[Arg] = []
        remaining = dict(args)
        # Required leading parameters read best positionally: constant(1).
        for key in order:
            param = accepted[key]
            if param.default is not param.empty or key not in remaining:
                break
            written.append(Arg(None, self.value(remaining.pop(key), key)))
        written.extend(Arg(key, self.value(value, key)) for key, value in remaining.items())
        return Call(word, written)

    def load(self, args: Mapping[str, Any]) -> Load:
        if "layer" in args:
            raise InitValueError("a Pretrained cfg cannot have 'layer'")
        checkpoint = args.get("checkpoint")
        if isinstance(checkpoint, os.PathLike):
            checkpoint = os.fspath(checkpoint)
        if not isinstance(checkpoint, str):
            raise InitValueError(f"Pretrained needs a 'checkpoint' path string, got "
                                 f"{checkpoint!r}")
        options = [Option(k, self.value(v, k)) for k, v in args.items() if k != "checkpoint"]
        return Load(String(checkpoint), options)

    def overrides(self, override: Any) -> list[NameRule]:
        if override is None:
            return []
        entries = [override] if isinstance(override, Mapping) else override
        if not isinstance(entries, list):
            raise InitTypeError(f"override must be a dict or a list of dicts, got {override!r}")
        rules = []
        for entry in entries:
            if not isinstance(entry, Mapping):
                raise InitTypeError(f"override entries must be dicts, got {entry!r}")
            name = entry.get("name")
            if not isinstance(name, str):
                raise InitValueError(f"override entry needs a 'name' string, got {entry!r}")
            # `layer` in an override entry is ignored by every run; drop it.
            rest = {k: v for k, v in entry.items() if k not in ("name", "layer")}
            if not rest:
                rules.append(NameRule(name))
                continue
            if "type" not in rest:
                raise InitValueError(f"override entry {name!r} has arguments but no 'type'")
            if "override" in rest:
                raise InitValueError(f"override entry {name!r} cannot have its own override")
            kind = self.type_name(rest.pop("type"))
            target = self.load(rest) if kind == PRETRAINED else self.call(kind, rest)
            rules.append(NameRule(name, target))
        return rules

    @staticmethod
    def value(value: Any, key: str) -> Value:
        if value is None:
            return Null()
        if isinstance(value, bool):
            return Boolean(value)
        if isinstance(value, int):
            return Integer(int(value))
        if isinstance(value, float):
            if not math.isfinite(value):
                raise InitValueError(f"{key}={value!r}: a policy can only write finite numbers")
            return Float(float(value))
        if isinstance(value, str):
            return Identifier(value) if is_bare_word(value) else String(value)
        raise InitValueError(f"{key}={value!r}: a policy can write numbers, strings, booleans "
                             f"and none, not {type(value).__name__}")
