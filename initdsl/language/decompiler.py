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
import re
import warnings
from collections.abc import Mapping
from typing import Any

from ..core.computed import computed_keys
from ..core.expressions import (
    ExpressionError,
    Number,
    Reference,
    Unary,
    is_expression_value,
    parse_expression,
)
from ..core.modifiers import MODIFIERS
from ..core.registry import Registry
from ..errors import InitError, InitKeyError, InitTypeError, InitValueError, shown
from .ast import (
    VALUE_WORDS,
    Arg,
    Boolean,
    Call,
    Expression,
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
    ParamRule,
    Policy,
    Scope,
    Seed,
    Statement,
    String,
    Value,
    is_bare_word,
)
from .checker import (
    PRETRAINED,
    SELECT,
    Initializers,
    needs_select,
    not_finite,
    snake_case,
)
from .fast_reader import MAX_INTEGER_DIGITS
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
    if isinstance(init_cfg, list) or (isinstance(init_cfg, Mapping) and _is_cfg(init_cfg)):
        return Policy(builder.block(init_cfg))
    if not isinstance(init_cfg, Mapping):
        raise InitTypeError(
            f"init_cfg must be a dict, a list of dicts or a {{module path: init_cfg}} dict, got "
            f"{type(init_cfg).__name__}: {shown(init_cfg, 80)}")
    return Policy(builder.scoped(init_cfg))


def _is_cfg(mapping: Mapping[Any, Any]) -> bool:
    """Whether a dict is one cfg (perhaps missing its ``type``) rather than the scoped form.

    The scoped form maps module paths to ``init_cfg`` s (dicts, lists or
    ``None``); a cfg has a ``type``, a key only cfgs have, or a value that is
    no ``init_cfg`` (``{"checkpoint": "x.pth"}``). The root's key ``""``, which
    compile always writes and no cfg has, settles it: a scope may be called
    ``layer`` or ``prefix``.
    """
    if "" in mapping and all(value is None or isinstance(value, (Mapping, list))
                             for value in mapping.values()):
        return False
    if "type" in mapping or any(key in _CFG_KEYS for key in mapping):
        return True
    return any(value is not None and not isinstance(value, (Mapping, list))
               for value in mapping.values())


_CFG_KEYS = frozenset({"layer", "override", "checkpoint", "prefix", "map_location"})


class _Decompiler:
    def __init__(self, initializers: Initializers) -> None:
        self.initializers = initializers

    def scoped(self, scopes: Mapping[str, Any]) -> list[Statement]:
        for path in scopes:
            if not isinstance(path, str):
                raise InitTypeError(f"scope paths must be strings, got {shown(path, 80)} "
                                    f"({type(path).__name__})")
            if path and not all(path.split(".")):
                raise InitValueError(f"invalid module path {shown(path)} in a scoped init_cfg")
        statements = self.block(scopes[""]) if "" in scopes else []
        for path, cfgs in scopes.items():
            if path:
                # Even an empty scope says something: it replaces the module's own init_cfg.
                statements.append(Scope(tuple(path.split(".")), self.block(cfgs)))
        return statements

    def block(self, init_cfg: Any) -> list[Statement]:
        if init_cfg is None:
            return []
        cfgs = [init_cfg] if isinstance(init_cfg, Mapping) else init_cfg
        if not isinstance(cfgs, list):
            raise InitTypeError(f"init_cfg must be a dict or a list of dicts, got {shown(cfgs)}")
        statements: list[Statement] = []
        chainable = False  # would a name rule written now attach to the previous cfg?
        for cfg in cfgs:
            emitted, chainable = self.cfg(cfg, chainable)
            statements.extend(emitted)
        return statements

    def cfg(self, cfg: Any, chainable: bool) -> tuple[list[Statement], bool]:
        if not isinstance(cfg, Mapping):
            raise InitTypeError(f"each init_cfg entry must be a dict, got {shown(cfg, 80)}")
        _check_keys(cfg)
        if "type" not in cfg:
            raise InitKeyError(f"init_cfg entry has no 'type': {shown(dict(cfg), 80)}")
        kind = self.type_name(cfg["type"])
        rest = {k: v for k, v in cfg.items() if k not in ("type", "override")}
        if kind == SELECT:
            return [self.select(cfg)], False
        if kind == "Seed":
            if set(rest) != {"seed"}:
                raise InitValueError(f"a Seed cfg takes only 'seed', got {shown(dict(cfg), 80)}")
            if isinstance(rest["seed"], bool) or not isinstance(rest["seed"], int) or \
                    rest["seed"] < 0:
                raise InitValueError(f"a policy's seed is a non-negative integer, got "
                                     f"{shown(rest['seed'])}")
            self.validate(kind, rest)
            return [Seed(rest["seed"])], False
        self.validate(kind, rest)
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

    def select(self, cfg: Mapping[str, Any]) -> ParamRule | LayerRule:
        """A ``Select`` entry as the ``param`` rule (or patterned layer rule) it compiles from."""
        extra = sorted(map(str, set(cfg) - {"type", "layer", "params", "init", "then"}))
        if extra:
            raise InitValueError(f"a Select cfg takes only 'layer', 'params' and 'init', got "
                                 f"{', '.join(extra)}")
        layer = cfg.get("layer")
        params, init = cfg.get("params"), cfg.get("init")
        if params is None:
            # Whole modules by class-name pattern: `*LayerNorm* -> ones`.
            names = self.layers(layer)
            plain_init = {k: v for k, v in init.items() if k != "type"} \
                if isinstance(init, Mapping) else {}
            kind_of_init = init.get("type") if isinstance(init, Mapping) else None
            if not names or not (cfg.get("then") or any("*" in name for name in names)
                                 or needs_select(str(kind_of_init), plain_init)):
                raise InitValueError(f"a Select cfg without params names classes by pattern "
                                     f"(`*Norm`), got layer={shown(layer, 80)}")
        elif layer is not None and not isinstance(layer, str):
            # `Linear.bias` names one class; a list has no spelling (compile never writes one).
            raise InitValueError(f"a Select cfg's layer must be one class name here, got "
                                 f"{shown(layer, 80)}")
        if (params is not None and not isinstance(params, str)) or not isinstance(init, Mapping):
            raise InitTypeError(f"a Select cfg needs params=<pattern string> and init=<cfg "
                                f"dict>, got {shown(dict(cfg), 80)}")
        _check_keys(init)
        if "type" not in init:
            raise InitKeyError(f"the init of a Select cfg has no 'type': {shown(dict(init), 80)}")
        kind = self.type_name(init["type"])
        args = {k: v for k, v in init.items() if k != "type"}
        if kind in (PRETRAINED, SELECT):
            raise InitValueError(f"the init of a Select cfg must be a weight initializer, "
                                 f"not {kind}")
        # As a run builds it: a bad pattern or an init with a bias is refused here.
        try:
            self.initializers.registry.build({"type": SELECT, "layer": layer, "params": params,
                                              "init": {"type": kind, **args}})
        except InitError:
            raise
        except Exception as error:  # noqa: BLE001 - a user initializer may raise anything
            raise InitValueError(f"{kind} rejects its arguments: {type(error).__name__}: "
                                 f"{error}") from None
        then = self.modifiers(cfg.get("then"))
        if params is None:
            return LayerRule([Layer(name) for name in self.layers(layer)], self.call(kind, args),
                             then=then)
        return ParamRule(tuple(params.split(".")), self.call(kind, args),
                         None if layer is None else Layer(layer), then=then)

    def modifiers(self, then: Any) -> list[Call]:
        """``then=[dict(op=...), ...]`` as modifier calls (arguments in their order)."""
        if then is None:
            return []
        if not isinstance(then, list) or not all(isinstance(e, Mapping) for e in then):
            raise InitTypeError(f"a Select's then must be a list of dict(op=...), got "
                                f"{shown(then, 80)}")
        calls = []
        for entry in then:
            op = entry.get("op")
            if op not in MODIFIERS:
                raise InitValueError(f"unknown modifier {shown(op)} (known: "
                                     f"{', '.join(MODIFIERS)})")
            names = MODIFIERS[op][1]
            if sorted(k for k in entry if k != "op") != sorted(names):
                raise InitTypeError(f"modifier {op} takes {', '.join(names)}, got "
                                    f"{shown(dict(entry), 80)}")
            calls.append(Call(op, [Arg(None, self.value(entry[k], k)) for k in names]))
        return calls

    def type_name(self, kind: Any) -> str:
        registry = self.initializers.registry
        name = registry.registered_name(kind)
        if name is not None:
            return name
        if isinstance(kind, str):
            registry.lookup(kind)  # raises InitKeyError, with a suggestion
        raise InitValueError(f"type {shown(kind, 80)} is not a registered initializer class; a "
                             "policy can only name registered initializers")

    def validate(self, kind: str, args: Mapping[str, Any]) -> None:
        """Build the cfg as a run would: what mmengine rejects does not become a policy.

        Computed arguments (``dict(expr=...)``) are known only against a
        model; the rest is checked without them (not at all if one of them
        is required).
        """
        computed = computed_keys(args)
        if computed:
            accepted = self.initializers.accepted(self.initializers.registry.get(kind))
            if any(k in accepted and accepted[k].default is accepted[k].empty
                   for k in computed):
                for key in computed:
                    self.value(args[key], key)  # the expression must at least read
                return
            args = {k: v for k, v in args.items() if k not in computed}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # reported just below
                built = self.initializers.registry.build({"type": kind, **args})
        except InitError:
            raise
        except Exception as error:  # noqa: BLE001 - a user initializer may raise anything
            raise InitValueError(f"{kind} rejects its arguments: {type(error).__name__}: "
                                 f"{error}") from None
        # The check's own rule, so that no decompiled policy fails to compile.
        problem = not_finite(built, args)
        if problem is not None:
            raise InitValueError(problem[1])

    @staticmethod
    def layers(layer: Any) -> list[str]:
        if layer is None:
            return []
        names = [layer] if isinstance(layer, str) else layer
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise InitTypeError(f"layer must be a str or a list of str, got {shown(layer)}")
        return list(names)

    def call(self, kind: str, args: Mapping[str, Any]) -> Call:
        word = snake_case(kind)
        if self.initializers.name_of(word) != kind or not _ARGUMENT.match(word):
            raise InitValueError(f"initializer {shown(kind)} has no policy spelling: its snake_case "
                                 f"name {shown(word)} is ambiguous or not a plain word")
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
                                 f"{shown(checkpoint)}")
        options = [Option(k, self.value(v, k)) for k, v in args.items() if k != "checkpoint"]
        return Load(String(checkpoint), options)

    def overrides(self, override: Any) -> list[NameRule]:
        if override is None:
            return []
        entries = [override] if isinstance(override, Mapping) else override
        if not isinstance(entries, list):
            raise InitTypeError(f"override must be a dict or a list of dicts, got "
                                f"{shown(override, 80)}")
        rules = []
        for entry in entries:
            if not isinstance(entry, Mapping):
                raise InitTypeError(f"override entries must be dicts, got {shown(entry, 80)}")
            _check_keys(entry)
            name = entry.get("name")
            if not isinstance(name, str):
                raise InitValueError(f"override entry needs a 'name' string, got {shown(entry)}")
            if not name or "." in name:
                # mmengine looks the name up with hasattr: no module has such an attribute.
                raise InitValueError(f"override entry name {shown(name)} is not a child's name "
                                     "(an override names a direct child: no empty or dotted "
                                     "names)")
            # `layer` in an override entry is ignored by every run; drop it.
            rest = {k: v for k, v in entry.items() if k not in ("name", "layer")}
            if not rest:
                rules.append(NameRule(name))
                continue
            if "type" not in rest:
                raise InitValueError(f"override entry {shown(name)} has arguments but no 'type'")
            if "override" in rest:
                raise InitValueError(f"override entry {shown(name)} cannot have its own override")
            kind = self.type_name(rest.pop("type"))
            self.validate(kind, rest)
            target = self.load(rest) if kind == PRETRAINED else self.call(kind, rest)
            if isinstance(target, Call) and target.name == "load":
                raise InitValueError(f"override entry {shown(name)}: an initializer spelled `load` "
                                     "cannot be named after a name rule's `->`")
            rules.append(NameRule(name, target))
        return rules

    @staticmethod
    def value(value: Any, key: str) -> Value:
        if is_expression_value(value):
            return _expression(value["expr"], key)
        if value is None:
            return Null()
        if isinstance(value, bool):
            return Boolean(value)
        if isinstance(value, int):
            if value.bit_length() > _MAX_INTEGER_BITS:
                raise InitValueError(f"{key}: an integer of more than {MAX_INTEGER_DIGITS:,} "
                                     "digits cannot be written in a policy")
            return Integer(int(value))
        if isinstance(value, float):
            if not math.isfinite(value):
                raise InitValueError(f"{key}={shown(value)}: a policy can only write finite numbers")
            return Float(float(value))
        if isinstance(value, str):
            return Identifier(value) if is_bare_word(value) else String(value)
        raise InitValueError(f"{key}={shown(value, 80)}: a policy can write numbers, strings, "
                             f"booleans and none, not {type(value).__name__}")


#: Integers of at most MAX_INTEGER_DIGITS digits (the bit length of 10**4300 - 1).
_MAX_INTEGER_BITS = int(MAX_INTEGER_DIGITS * 3.3219280948873626)


def _expression(text: str, key: str) -> Value:
    """The value node of ``dict(expr=text)``; a plain number stays a number literal."""
    try:
        tree = parse_expression(text)
    except ExpressionError as error:
        raise InitValueError(f"{key}: dict(expr={shown(text, 80)}) is not an expression: "
                             f"{error.message}") from None
    if isinstance(tree, Number):
        return (Integer if isinstance(tree.value, int) else Float)(tree.value)
    if isinstance(tree, Unary) and isinstance(tree.operand, Number):
        value = -tree.operand.value
        return (Integer if isinstance(value, int) else Float)(value)
    if isinstance(tree, Reference) and len(tree.parts) == 1 and tree.index is None:
        return Identifier(tree.parts[0])  # a capture or let name, as a policy writes it
    return Expression(tree)


def _check_keys(cfg: Mapping[Any, Any]) -> None:
    """A cfg's keys are argument names a policy can write."""
    for key in cfg:
        if not isinstance(key, str):
            raise InitTypeError(f"init_cfg keys are argument names (strings), got "
                                f"{shown(key, 80)} ({type(key).__name__})")
        if key in VALUE_WORDS or not _ARGUMENT.match(key):
            raise InitValueError(f"init_cfg key {shown(key)} cannot be written in a policy: an "
                                 "argument name is an identifier other than true, false, none")


_ARGUMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
