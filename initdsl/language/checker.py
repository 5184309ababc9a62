"""Check a policy's meaning before anything runs, with a position for every finding.

What is checked here is what the text alone decides: initializer names,
argument names and counts, load options, and whether each ``name`` rule has
something to attach to. Argument *values* are checked by constructing the
initializer exactly as a run would (``WEIGHT_INITIALIZERS.build``); its
error message becomes the diagnostic, placed on the offending argument. The
rules themselves live in the initializer classes, not here.
"""

from __future__ import annotations

import contextlib
import difflib
import math
import re
import warnings
import weakref
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from ..core import initializers
from ..core.expressions import is_expression_value
from ..core.modifiers import MODIFIERS, build_modifier
from ..core.patterns import check_pattern
from ..core.registry import WEIGHT_INITIALIZERS, Registry, accepted_arguments
from ..core.seed import check_seed
from ..diagnostics import Diagnostic, Span
from ..errors import InitError
from .ast import (
    RESERVED_WORDS,
    Arg,
    Call,
    Layer,
    LayerRule,
    Let,
    Load,
    LoadRule,
    NameRule,
    ParamRule,
    Policy,
    Scope,
    Seed,
    Statement,
    scoped_statements,
    value_of,
)
from .values import EXPRESSION_TREES, ROOTS, Bindings, captures_of, resolve_value

__all__ = [
    "is_patterned",
    "needs_select",
    "INITDSL_ARGUMENTS",
    "modifier_arguments",
    "check",
    "snake_case",
    "Initializers",
    "RESERVED_ARGUMENTS",
    "PRETRAINED",
    "SELECT",
    "not_finite",
]

#: Keys of an init_cfg that the language writes itself, never as arguments.
RESERVED_ARGUMENTS = ("layer", "override", "type")

#: The registry name loads compile to.
PRETRAINED = "Pretrained"
#: The registered type a ``param`` rule compiles to.
SELECT = "Select"
#: Arguments a ``param`` rule refuses: it writes only the tensors it names.
PARAM_RULE_REFUSES = frozenset({"bias", "bias_prob"})

_ACCEPTED: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()
_POSITIONAL: weakref.WeakKeyDictionary[Any, tuple[str, ...]] = weakref.WeakKeyDictionary()


def is_patterned(rule: LayerRule) -> bool:
    """Whether a layer rule compiles to a Select for its targets: it names classes by
    pattern (``*LayerNorm*``) or has modifiers."""
    return bool(rule.then) or any("*" in layer.name for layer in rule.layers)


#: Arguments of mmengine's own types that only initdsl knows (a rule that uses
#: one compiles to a Select, which runs in initdsl's core).
INITDSL_ARGUMENTS = {"TruncNormal": frozenset({"sampler", "bounds"})}


def needs_select(kind: str, values: Mapping[str, Any]) -> bool:
    """Whether a rule calling ``kind`` with IR ``values`` must compile to a ``Select``:
    a computed value (``dict(expr=...)``), or an argument mmengine's own type lacks.
    So mmengine's own types only ever carry what mmengine understands."""
    return any(is_expression_value(v) for v in values.values()) or not INITDSL_ARGUMENTS.get(
        kind, frozenset()).isdisjoint(values)


def modifier_arguments(call: Call) -> dict[str, Arg] | str:
    """A modifier call's argument nodes by name, or why they do not bind."""
    known = MODIFIERS.get(call.name)
    if known is None:
        return (f"unknown modifier `{call.name}` (known: {', '.join(MODIFIERS)})"
                f"{_suggest(call.name, MODIFIERS)}")
    names = known[1]
    bound: dict[str, Arg] = {}
    for position, arg in enumerate(call.args):
        key = arg.name if arg.name is not None else (
            names[position] if position < len(names) else None)
        if key is None or key not in names or key in bound:
            return f"`{call.name}` takes {', '.join(names)}"
        bound[key] = arg
    missing = [name for name in names if name not in bound]
    if missing:
        return f"`{call.name}` is missing {', '.join(missing)}"
    return bound


def snake_case(name: str) -> str:
    """The policy spelling of a registry name: ``TruncNormal`` → ``trunc_normal``.

    A word boundary is an upper-case letter after a lower-case letter or
    digit (``Caffe2Xavier`` → ``caffe2_xavier``), or the last capital of an
    acronym (``HTTPInit`` → ``http_init``).
    """
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    text = re.sub(r"(?<=[A-Z])(?=[A-Z][a-z])", "_", text)
    return text.lower()


@attrs.frozen
class Initializers:
    """The initializers a policy can name: snake_case word → registry names.

    Built from the registry when a policy is checked or compiled, so
    initializers registered by the user are available under their
    snake_case names too.
    """

    registry: Registry
    words: Mapping[str, tuple[str, ...]]

    @classmethod
    def of(cls, registry: Registry | None = None) -> Initializers:
        registry = WEIGHT_INITIALIZERS if registry is None else registry
        words: dict[str, list[str]] = {}
        for name in registry:
            if name in (SELECT, "Seed"):
                continue  # written as rules and `seed N`, never called by name
            words.setdefault(snake_case(name), []).append(name)
        return cls(registry, {word: tuple(names) for word, names in words.items()})

    def name_of(self, word: str) -> str | None:
        """The registry name ``word`` spells, if it spells exactly one."""
        names = self.words.get(word, ())
        return names[0] if len(names) == 1 else None

    def cls_of(self, word: str) -> Any:
        name = self.name_of(word)
        return None if name is None else self.registry.get(name)

    @staticmethod
    def accepted(cls: Any) -> dict[str, Any]:
        """``accepted_arguments(cls)``, read once per class (signatures are slow to read)."""
        try:
            known = _ACCEPTED.get(cls)
        except TypeError:  # not weakly referenceable: read it every time
            return accepted_arguments(cls)
        if known is None:
            known = _ACCEPTED[cls] = accepted_arguments(cls)
        return known

    @classmethod
    def positional(cls, initializer: Any) -> tuple[str, ...]:
        """The parameters positional arguments fill, in order (read once per class)."""
        try:
            known = _POSITIONAL.get(initializer)
        except TypeError:  # not weakly referenceable: read it every time
            known = None
        if known is None:
            known = tuple(k for k in cls.accepted(initializer) if k not in RESERVED_ARGUMENTS)
            with contextlib.suppress(TypeError):
                _POSITIONAL[initializer] = known
        return known

    def bind(self, call: Call) -> dict[str, Any]:
        """``call``'s arguments by parameter name, as Python values (call must be valid)."""
        return {name: value_of(arg.value) for name, arg in self.arguments(call).items()}

    def arguments(self, call: Call) -> dict[str, Arg]:
        """``call``'s argument nodes by parameter name (call must be valid)."""
        order = self.positional(self.cls_of(call.name))
        bound: dict[str, Arg] = {}
        position = 0
        for arg in call.args:
            if arg.name is None:
                bound[order[position]] = arg
                position += 1
            else:
                bound[arg.name] = arg
        return bound


def check(policy: Policy, registry: Registry | None = None) -> list[Diagnostic]:
    """Every error in ``policy`` that can be found without a model, in source order.

    ``registry`` defaults to :data:`~initdsl.WEIGHT_INITIALIZERS`.
    """
    checker = _Checker(Initializers.of(registry), policy.source, policy.span)
    checker.bindings = Bindings(elsewhere=frozenset(
        name for _, statement in scoped_statements(policy.statements)
        if isinstance(statement, ParamRule) for name in captures_of(statement.pattern)))
    checker.top = policy.statements
    checker.block(policy.statements)
    return sorted(checker.diagnostics, key=_position)


def _position(diagnostic: Diagnostic) -> tuple[int, int]:
    span = diagnostic.span
    return (span.line, span.column) if span is not None else (0, 0)


def _suggest(word: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f"; did you mean `{close[0]}`?" if close else ""


def _blamed(message: str, keys: Iterable[str]) -> str | None:
    """The one argument an initializer's error message is about, if it names one."""
    keys = list(keys)
    named = re.findall(r"argument '(\w+)'", message)
    named = [k for k in named if k in keys] or [k for k in re.findall(r"'(\w+)'", message)
                                                if k in keys]
    return named[0] if len(set(named)) == 1 else None


_BUILT_IN_MODULE = initializers.__name__


def _validation_key(cls: Any, cfg: Mapping[str, Any]) -> Any:
    """What decides whether building ``cfg`` succeeds, as a hashable key.

    Each value's type is in the key so that ``1``, ``1.0`` and ``true`` stay
    apart. initdsl's own initializers check only that ``layer`` is a name or a
    list of names, never which names, so for them the names are left out and
    10,000 rules calling ``normal(std=0.02)`` on different layers are built
    once; a user initializer might look at the names, so its key keeps them.
    """
    own = getattr(cls, "__module__", None) == _BUILT_IN_MODULE
    return (cls, tuple(
        (k, type(v), None if own and k == "layer" and _names(v) else v)
        for k, v in cfg.items()))


def _names(value: Any) -> bool:
    return isinstance(value, str) or (
        isinstance(value, list) and all(isinstance(item, str) for item in value))


class _Checker:
    def __init__(self, initializers: Initializers, source: str | None, span: Span | None
                 ) -> None:
        self.initializers = initializers
        self.source = source
        self._lines: list[str] | None = None
        self.span = span
        self.diagnostics: list[Diagnostic] = []
        # cfgs that built without error. Policies repeat the same few calls on
        # many rules, and building an initializer to validate it is the
        # costliest step of a check.
        self.valid: set[Any] = set()
        self._unknown_words: dict[str, str] = {}
        self.bindings = Bindings()
        self.seeded = False
        self.selected = False  # the last call needs a Select (computed or initdsl-only args)
        self.top: Any = None  # the policy's own statements

    def report(self, code: str, message: str, span: Span | None) -> None:
        self.diagnostics.append(Diagnostic(code, message, span or self.span))

    # -- structure --------------------------------------------------------------------

    def block(self, statements: Iterable[Statement]) -> None:
        parent: LayerRule | LoadRule | None = None
        outer = self.bindings  # lets end with their scope
        for statement in statements:
            if isinstance(statement, LayerRule):
                self.selected = False
                self.layer_rule(statement)
                # A rule that compiles to a Select has no override to attach to.
                parent = None if is_patterned(statement) or self.selected else statement
            elif isinstance(statement, LoadRule):
                self.load(statement.load)
                parent = statement
            elif isinstance(statement, NameRule):
                self.name_rule(statement, parent)
            elif isinstance(statement, ParamRule):
                self.param_rule(statement)
                parent = None  # a `name` rule cannot attach to a param rule
            elif isinstance(statement, Let):
                self.let(statement)
            elif isinstance(statement, Seed):
                self.seed(statement, top_level=statements is self.top)
            elif isinstance(statement, Scope):
                self.scope(statement)
                parent = None
        self.bindings = outer

    def seed(self, seed: Seed, top_level: bool) -> None:
        if not top_level:
            self.report("E161", "`seed` sets the seed of the whole policy: write it at the top "
                        "level, not inside a scope", seed.span)
        elif self.seeded:
            self.report("E161", "the policy's seed is already set; a policy has one `seed`",
                        seed.span)
        try:
            check_seed(seed.value)
        except InitError as error:
            self.report("E161", error.message, seed.span)
        self.seeded = True

    def let(self, let: Let) -> None:
        if let.name in ROOTS:
            self.report("E181", f"`{let.name}` cannot be a let name: it reads the model "
                        "(model.*, module.*, tensor.*)", let.name_span)
            return
        resolved, diagnostics = resolve_value(let.value, self.bindings)
        self.diagnostics.extend(diagnostics)
        if not diagnostics:
            self.bindings = self.bindings.with_let(let.name, resolved)

    def scope(self, scope: Scope) -> None:
        for segment in scope.path:
            if not segment or "." in segment:
                self.report("E150", f"invalid module name {segment!r} in a scope path: names "
                            "are non-empty and hold no `.` (write `a.b` for nested modules)",
                            scope.path_span)
                break
        self.block(scope.statements)

    def layer_rule(self, rule: LayerRule) -> None:
        for layer in rule.layers:
            self.layer(layer)
        names = [layer.name for layer in rule.layers]
        layer_value: Any = names[0] if len(names) == 1 else names
        self.call(rule.init, {"layer": layer_value} if names else {})
        self.modifiers(rule.then)

    def modifiers(self, then: Iterable[Call]) -> None:
        for call in then:
            bound = modifier_arguments(call)
            if isinstance(bound, str):
                self.report("E104", bound, call.name_span or call.span)
                continue
            values: dict[str, Any] = {"op": call.name}
            for key, arg in bound.items():
                resolved, problems = resolve_value(arg.value, self.bindings)
                self.diagnostics.extend(problems)
                if problems or isinstance(resolved, EXPRESSION_TREES):
                    values = {}
                    continue
                values[key] = resolved
            if values:
                try:
                    build_modifier(values)
                except InitError as error:
                    node = bound.get(error.argument or "")
                    self.report("E120", error.message,
                                node.value.span if node is not None else call.span)

    def param_rule(self, rule: ParamRule) -> None:
        if rule.layer is not None:
            self.layer(rule.layer)
        if any("." in segment for segment in rule.pattern):
            self.report("E150", "invalid parameter pattern: a quoted segment cannot hold `.` "
                        "(parameter and module names never do)", rule.pattern_span)
        else:
            try:
                check_pattern(".".join(rule.pattern))
            except InitError as error:
                self.report("E150", error.message, rule.pattern_span)
        outer = self.bindings
        self.bindings = outer.for_rule(captures_of(rule.pattern))
        self.call(rule.init, {}, refused=PARAM_RULE_REFUSES)
        self.modifiers(rule.then)
        self.bindings = outer

    def layer(self, layer: Layer) -> None:
        if layer.name in RESERVED_WORDS and not self._quoted(layer.span):
            self.report("E160", f"`{layer.name}` is reserved for a future statement; a class "
                        f"called `{layer.name}` must be quoted: \"{layer.name}\"", layer.span)

    def _quoted(self, span: Span | None) -> bool:
        if self.source is None or span is None:
            return True
        if self._lines is None:
            self._lines = self.source.split("\n")  # once: a policy may quote thousands
        line = self._lines[span.line - 1]
        return line[span.column - 1:span.column] == '"'

    def name_rule(self, rule: NameRule, parent: LayerRule | LoadRule | None) -> None:
        if not rule.name or "." in rule.name:
            self.report("E142", f"invalid child name {rule.name!r}: a name rule names a direct "
                        "child (no dotted paths; use a scope for deeper modules)",
                        rule.name_span)
        if rule.target is None:
            if parent is None:
                self.report("E140", f"`name {rule.name}` has no rule to inherit an initializer "
                            f"from; give it one (`name {rule.name} -> kaiming`) or put it right "
                            "after a layer rule or load", rule.name_span)
        elif isinstance(rule.target, Load):
            if parent is None:
                self.report("E141", f"`name {rule.name} -> load ...` has no rule to attach to; "
                            "put it right after a layer rule or load, or load into the "
                            f"submodule with `scope {rule.name} {{ load ... }}`", rule.span)
            self.load(rule.target)
        else:
            self.call(rule.target, {})

    # -- initializer calls -------------------------------------------------------------

    def call(self, call: Call, extra: dict[str, Any],
             refused: frozenset[str] = frozenset()) -> None:
        cls = self.resolve(call)
        if cls is None:
            return
        accepted = self.initializers.accepted(cls)
        order = self.initializers.positional(cls)
        word = call.name
        values: dict[str, Any] = {}
        nodes: dict[str, Arg] = {}
        computed: set[str] = set()
        seen_keyword = False
        position = 0
        for arg in call.args:
            if arg.name is None:
                if seen_keyword:
                    self.report("E113", "positional argument after keyword arguments",
                                arg.span)
                    continue
                if position >= len(order):
                    takes = (f"takes at most {len(order)} ({', '.join(order)})" if order
                             else "takes no positional arguments")
                    self.report("E114", f"too many positional arguments: `{word}` {takes}",
                                arg.span)
                    position += 1
                    continue
                key = order[position]
                position += 1
            else:
                seen_keyword = True
                key = arg.name
                if key in RESERVED_ARGUMENTS:
                    self.report("E111", f"`{key}` cannot be an argument: "
                                + _RESERVED_HINT[key], arg.span)
                    continue
                if accepted and key not in accepted:
                    allowed = [k for k in accepted if k not in RESERVED_ARGUMENTS]
                    self.report("E110", f"unknown argument `{key}` for `{word}`"
                                f"{_suggest(key, allowed)} (accepted: {', '.join(allowed)})",
                                arg.span)
                    continue
            if key in refused:
                self.report("E111", f"`{key}` cannot be an argument of a param rule: it "
                            "writes only the parameters its pattern names (write the bias "
                            "with its own rule, `param ....bias -> constant(0)`)", arg.span)
                continue
            if key in nodes:
                self.report("E112", f"argument `{key}` is given more than once", arg.span)
                continue
            nodes[key] = arg
            resolved, problems = resolve_value(arg.value, self.bindings)
            if problems:
                self.diagnostics.extend(problems)
                computed.add(key)
            elif isinstance(resolved, EXPRESSION_TREES):
                computed.add(key)  # known only against a model: checked while planning
                self.selected = True
            else:
                values[key] = resolved
        missing = [k for k, p in accepted.items()
                   if p.default is p.empty and k not in values and k not in RESERVED_ARGUMENTS
                   and k not in computed]
        for key in missing:
            index = order.index(key) if key in order else None
            how = f" (the {_ordinal(index)} positional argument)" if index is not None else ""
            self.report("E115", f"`{word}` is missing the required argument `{key}`{how}",
                        call.name_span or call.span)
        if missing:
            return
        if any(accepted[k].default is accepted[k].empty for k in computed if k in accepted):
            return  # a required value is computed: the planner builds it for each tensor
        name = self.initializers.name_of(word)
        if needs_select(name or "", values):
            self.selected = True
        self.validate(cls, {"type": name, **extra, **values}, nodes, call.span, "E120", "E121",
                      "E122")

    def resolve(self, call: Call) -> Any:
        word = call.name
        names = self.initializers.words.get(word, ())
        if len(names) > 1:
            self.report("E102", f"`{word}` is ambiguous: it spells the registered initializers "
                        f"{', '.join(repr(n) for n in names)}; register them under names that "
                        "differ in more than case and underscores", call.name_span)
            return None
        if not names:
            self.report("E101", self._unknown(word), call.name_span)
            return None
        if names[0] == PRETRAINED:
            self.report("E103", f"`{word}` is not a layer initializer; load checkpoints with "
                        '`load "path"`', call.name_span)
            return None
        return self.initializers.registry.get(names[0])

    def _unknown(self, word: str) -> str:
        """The ``E101`` message for ``word``, worked out once per word (suggestions are slow)."""
        message = self._unknown_words.get(word)
        if message is None:
            words = sorted(self.initializers.words)
            hint = _suggest(word, words)
            if not hint:
                guess = snake_case(word).removesuffix("_init")
                hint = f"; did you mean `{guess}`?" if guess in self.initializers.words else ""
            pretrained = snake_case(PRETRAINED)
            message = self._unknown_words[word] = (
                f"unknown initializer `{word}`{hint} (known: "
                f"{', '.join(w for w in words if w != pretrained)})")
        return message

    def validate(self, cls: Any, cfg: dict[str, Any], nodes: Mapping[str, Arg | Any],
                 fallback: Span | None, type_code: str, choice_code: str, value_code: str
                 ) -> None:
        """Build ``cfg`` as a run would; report each failure on the argument it names.

        After a failure on an argument that has a default, the argument is
        dropped and the build retried, so every bad value is reported.
        """
        try:
            key: Any = _validation_key(cls, cfg)
            if key in self.valid:
                return
        except TypeError:  # an unhashable value: validate it every time
            key = None
        cfg = dict(cfg)
        accepted = self.initializers.accepted(cls)
        for attempt in range(len(nodes) + 1):
            try:
                with warnings.catch_warnings():
                    # bias_prob=1.0 warns as it computes an infinite bias: the
                    # diagnostic below says so.
                    warnings.simplefilter("ignore", RuntimeWarning)
                    built = self.initializers.registry.build(cfg)
            except Exception:  # noqa: BLE001 - a user initializer may raise anything
                pass
            else:
                problem = not_finite(built, cfg)
                if problem is not None:
                    argument, message = problem
                    node = nodes.get(argument)
                    self.report(value_code, message,
                                getattr(getattr(node, "value", None), "span", None) or fallback)
                elif attempt == 0 and key is not None:
                    self.valid.add(key)
                return
            try:
                self.initializers.registry.build(cfg)
                return
            except Exception as error:  # noqa: BLE001 - a user initializer may raise anything
                message = error.message if isinstance(error, InitError) else (
                    f"{type(error).__name__}: {error}")
                key = _blamed(message, [k for k in nodes if k in cfg])
                node = nodes.get(key) if key is not None else None
                span = getattr(getattr(node, "value", None), "span", None) or fallback
                choices = getattr(cls, "choices", None) or {}
                if isinstance(error, TypeError):
                    code = type_code
                elif key is not None and key in choices and cfg[key] not in choices[key]:
                    code = choice_code
                    if isinstance(cfg[key], str):
                        message += _suggest(cfg[key], choices[key])
                else:
                    code = value_code
                self.report(code, message, span)
                param = accepted.get(key) if key is not None else None
                if param is None or param.default is param.empty:
                    return
                del cfg[key]

    # -- loads -------------------------------------------------------------------------

    def load(self, load: Load) -> None:
        cls = self.initializers.registry.get(PRETRAINED)
        if cls is None:
            return
        accepted = [k for k in self.initializers.accepted(cls) if k != "checkpoint"]
        values: dict[str, Any] = {}
        nodes: dict[str, Any] = {}
        for option in load.options:
            if option.name == "checkpoint":
                self.report("E131", "the checkpoint is already given right after `load`",
                            option.span)
                continue
            if accepted and option.name not in accepted:
                self.report("E130", f"unknown load option `{option.name}`"
                            f"{_suggest(option.name, accepted)} (options: {', '.join(accepted)})",
                            option.span)
                continue
            if option.name in values:
                self.report("E131", f"load option `{option.name}` is given more than once",
                            option.span)
                continue
            values[option.name] = value_of(option.value)
            nodes[option.name] = option
        cfg = {"type": PRETRAINED, "checkpoint": load.checkpoint.value, **values}
        self.validate(cls, cfg, nodes, load.span, "E132", "E132", "E132")


def not_finite(built: Any, cfg: Mapping[str, Any]) -> tuple[str, str] | None:
    """``(argument, message)`` if ``built`` would write a number that is not finite.

    The core writes what mmengine writes (``bias_prob=1.0`` is an infinite
    bias there); a policy spells finite numbers only, and resolves to them.
    """
    bias = getattr(built, "bias", None)
    if "bias_prob" in cfg and isinstance(bias, float) and not math.isfinite(bias):
        return "bias_prob", (f"bias_prob={cfg['bias_prob']!r} gives the bias "
                             f"-log((1 - p) / p) = {bias!r}; a policy writes finite numbers "
                             "only (bias_prob must be in (0, 1))")
    return None


_RESERVED_HINT = {
    "layer": "the classes a rule matches go left of `->` (`Conv2d, Linear -> ...`)",
    "override": "write overrides as `name child -> ...` rules after the rule",
    "type": "the initializer is the name being called",
}


def _ordinal(index: int) -> str:
    return {0: "first", 1: "second", 2: "third", 3: "fourth"}.get(index, f"#{index + 1}")
