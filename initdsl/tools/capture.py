"""``initdsl capture``: a model's existing init code, observed and written as a policy.

The pipeline (docs/capture.md):

1. **observe** (:mod:`initdsl.tools.observe`): build the model with its own
   init code, recording the last write to every tensor;
2. **read** each parameter's write as an initdsl call (``kaiming_uniform_``
   is ``kaiming(..., distribution=uniform)``; a write made by a torch
   module's own ``reset_parameters`` is the constructor's default, ``keep``;
   a parameter no init function wrote but that holds one value everywhere
   is that constant);
3. **group** them into as few rules as honest: a layer rule per class where
   the instances agree (the bias folded in when it is a constant), then
   ``param`` rules with the smallest pattern that names exactly the rest,
   ``{i}`` captures where a value follows a block index;
4. **infer** values: a number equal to a config attribute, to
   ``attr / sqrt(2 * n_layers)`` or to a per-block ``c / sqrt(2 * (i + 1))``
   is written so;
5. **verify**: plan the policy on a fresh instance and compare, per tensor,
   the distribution and its numbers with what was observed.

Every rule carries a comment naming the code that made its writes.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from typing import Any

import attrs
import torch
from torch import Tensor, nn

from ..core.distributions import resolve
from ..core.registry import WEIGHT_INITIALIZERS
from ..language.formatter import format as format_policy
from .observe import Observation, Write, observe

__all__ = ["Finding", "Capture", "capture", "verify"]


@attrs.frozen
class Finding:
    """What one parameter was last written with, read as an initdsl call."""

    name: str
    owner: str  # qualified name of the module holding it
    attr: str
    owner_class: str
    word: str | None  # the initdsl initializer; None: unexplained
    args: dict[str, Any]
    where: str
    rows: frozenset[int] = frozenset()
    scale: float = 1.0
    reason: str = ""
    shape: tuple[int, ...] = ()

    @property
    def explained(self) -> bool:
        return self.word is not None

    def call_key(self, padding: bool = False) -> tuple:
        """What two findings must share to be written by one rule (``padding``: zeroed rows
        are explained by the module's ``padding_idx``, so they do not count)."""
        return (self.word, tuple(sorted((k, _rounded(v)) for k, v in self.args.items())),
                self.scale, None if padding else bool(self.rows))


@attrs.frozen
class Capture:
    """A captured policy, and the evidence for it.

    ``text`` is the policy; ``findings`` what was observed per parameter;
    ``verified`` the parameters whose planned distribution matches the
    observation on a fresh instance; ``mismatched`` those that do not,
    with both sides; ``unexplained`` the findings no call explains.
    """

    text: str
    rules: int
    findings: tuple[Finding, ...]
    verified: tuple[str, ...]
    mismatched: tuple[tuple[str, str, str], ...]
    buffers: tuple[str, ...]

    @property
    def unexplained(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if not f.explained)

    @property
    def ok(self) -> bool:
        return not self.unexplained and not self.mismatched

    def summary(self) -> str:
        return (f"captured: {len(self.findings)} tensors, {self.rules} rules, "
                f"{len(self.verified)} verified, {len(self.unexplained)} unexplained"
                + (f", {len(self.mismatched)} not reproduced" if self.mismatched else ""))

    def to_dict(self) -> dict[str, Any]:
        verified = set(self.verified)
        return {"summary": self.summary(), "policy": self.text, "tensors": [
            {"name": f.name, "call": f.word, "args": {k: _jsonable(v) for k, v in f.args.items()},
             "where": f.where, "zeroed_rows": sorted(f.rows), "scale": f.scale,
             "verified": f.name in verified, "unexplained": f.reason or None}
            for f in self.findings],
            "mismatched": [dict(name=n, observed=o, policy=p) for n, o, p in self.mismatched],
            "buffers": list(self.buffers)}


def _jsonable(value: Any) -> Any:
    return value if isinstance(value, (int, float, str, bool)) or value is None else str(value)


def _rounded(value: Any) -> Any:
    return float(f"{value:.12g}") if isinstance(value, float) else value


# -- 2. reading writes as calls ----------------------------------------------------------

_DEFAULTS = {"normal": {"mean": 0.0, "std": 1.0}, "uniform": {"a": 0.0, "b": 1.0},
             "trunc_normal": {"mean": 0.0, "std": 1.0, "a": -2.0, "b": 2.0,
                              "sampler": "inverse_cdf"},
             "xavier": {"gain": 1.0, "distribution": "normal"},
             "kaiming": {"a": 0.0, "mode": "fan_out", "nonlinearity": "relu",
                         "distribution": "normal"},
             "orthogonal": {"gain": 1.0}}


def _call(write: Write) -> tuple[str | None, dict[str, Any], str]:
    """``(initdsl word, arguments, why not)`` for one recorded write."""
    kind, args = write.kind, dict(write.args)
    if kind == "normal_":
        word, call = "normal", {"mean": args.get("mean", 0.0), "std": args.get("std", 1.0)}
    elif kind == "uniform_":
        word, call = "uniform", {"a": args.get("a", 0.0), "b": args.get("b", 1.0)}
    elif kind == "constant_":
        value = args.get("val")
        if value == 0:
            return "zeros", {}, ""
        if value == 1:
            return "ones", {}, ""
        word, call = "constant", {"val": value}
    elif kind == "trunc_normal_":
        word = "trunc_normal"
        call = {k: args.get(k) for k in ("mean", "std", "a", "b")}
        call["sampler"] = write.sampler
    elif kind in ("xavier_uniform_", "xavier_normal_"):
        word = "xavier"
        call = {"gain": args.get("gain", 1.0),
                "distribution": "uniform" if kind == "xavier_uniform_" else "normal"}
    elif kind in ("kaiming_uniform_", "kaiming_normal_"):
        word = "kaiming"
        call = {"a": args.get("a", 0.0), "mode": args.get("mode", "fan_in"),
                "nonlinearity": args.get("nonlinearity", "leaky_relu"),
                "distribution": "uniform" if kind == "kaiming_uniform_" else "normal"}
    elif kind == "orthogonal_":
        word, call = "orthogonal", {"gain": args.get("gain", 1.0)}
    else:
        return None, {}, f"written by torch.nn.init.{kind}, which no initdsl initializer draws"
    defaults = _DEFAULTS.get(word, {})
    return word, {k: v for k, v in call.items() if defaults.get(k, object()) != v}, ""


def _findings(model: nn.Module, observation: Observation) -> list[Finding]:
    found = []
    modules = dict(model.named_modules())
    for name, tensor in model.named_parameters():
        owner, _, attr = name.rpartition(".")  # under its first name, as provenance lists it
        owner_class = type(modules[owner]).__name__
        write, rows, scale, dirty = observation.of(tensor)
        common = dict(name=name, owner=owner, attr=attr, owner_class=owner_class,
                      rows=frozenset(rows), scale=scale, shape=tuple(tensor.shape))
        if dirty:
            found.append(Finding(word=None, args={}, where=write.where if write else "?",
                                 reason="written in a way initdsl does not read (a copy, an "
                                 "index write, an operation that depends on the data)",
                                 **common))
        elif write is None:
            constant = _constant(tensor)
            if constant is None:
                found.append(Finding(word=None, args={}, where="construction", reason=(
                    "not written by any init function, and its values differ: set by code "
                    "initdsl does not observe (a tensor factory such as torch.randn)"),
                    **common))
            else:
                constant = _shortest(constant, tensor.dtype)
                word, args = ("zeros", {}) if constant == 0 else ("ones", {}) \
                    if constant == 1 else ("constant", {"val": constant})
                found.append(Finding(word=word, args=args, where=f"set at construction to "
                                     f"{constant!r}", **common))
        elif write.default:
            found.append(Finding(word="keep", args={},
                                 where=f"torch's default ({write.kind} at {write.where})",
                                 **common))
        else:
            word, args, why = _call(write)
            found.append(Finding(word=word, args=args, where=write.where, reason=why, **common))
    return found


def _shortest(value: float, dtype: torch.dtype) -> float:
    """The shortest decimal that is ``value`` in ``dtype`` (``1e-06``, not float32's
    ``9.99999997e-07``)."""
    for digits in range(1, 18):
        candidate = float(f"{value:.{digits}g}")
        if torch.tensor(candidate, dtype=dtype).item() == value:
            return candidate
    return value


def _constant(tensor: Tensor) -> float | None:
    with torch.no_grad():
        if tensor.numel() == 0 or not tensor.dtype.is_floating_point:
            return None
        first = tensor.reshape(-1)[0]
        return float(first) if bool((tensor == first).all()) else None


# -- 3. grouping -----------------------------------------------------------------------

_DIGITS = re.compile(r"^[0-9]+$")


def _collapsed(name: str) -> str:
    return ".".join("*" if _DIGITS.match(part) else part for part in name.split("."))


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    from ..core.patterns import parameter_pattern
    return parameter_pattern(pattern.replace("{i}", "*"))


def _covering(names: list[str], everything: list[str]) -> list[str]:
    """The fewest patterns that name exactly ``names`` among ``everything``."""
    wanted = set(names)
    collapsed = sorted({_collapsed(n) for n in names})
    if len(collapsed) > 1:
        for depth in range(1, 4):
            tails = {".".join(n.split(".")[-depth:]) for n in names}
            if len(tails) == 1 and not any(_DIGITS.match(p) for p in next(iter(tails)).split(".")):
                pattern = f"**.{next(iter(tails))}"
                regex = _pattern_regex(pattern)
                if {n for n in everything if regex.fullmatch(n)} == wanted:
                    return [pattern]
    out = []
    for pattern in collapsed:
        regex = _pattern_regex(pattern)
        members = {n for n in everything if regex.fullmatch(n)}
        if members <= wanted:
            out.append(pattern)
        else:
            out.extend(sorted(n for n in names if _collapsed(n) == pattern))
    return out


@attrs.frozen
class _Rule:
    text: str
    where: str
    names: tuple[str, ...]


def _format_args(args: dict[str, Any]) -> str:
    def value(v: Any) -> str:
        if isinstance(v, str) and not v.startswith("model.") and re.match(
                r"^[A-Za-z_][A-Za-z0-9_]*$", v):
            return v
        if isinstance(v, float):
            return repr(v)
        return str(v)
    return ", ".join(f"{k}={value(v)}" for k, v in args.items())


def _call_text(word: str, args: dict[str, Any]) -> str:
    body = _format_args(args)
    return f"{word}({body})" if body else word


def _modifiers(finding: Finding) -> str:
    text = ""
    if finding.scale != 1.0:
        text += f" then scale({finding.scale!r})"
    if finding.rows:
        text += " then zero_row(module.padding_idx)"
    return text


def _group(findings: list[Finding], model: nn.Module, infer: Callable[[Any, str, list],
                                                                       Any]) -> list[_Rule]:
    everything = [f.name for f in findings]
    rules: list[_Rule] = []
    done: set[str] = set()
    explained = [f for f in findings if f.explained]
    # Layer rules: one per class whose weights (and constant biases) agree.
    by_class: dict[str, list[Finding]] = defaultdict(list)
    for f in explained:
        if f.attr in ("weight", "bias"):
            by_class[f.owner_class].append(f)
    modules = dict(model.named_modules())

    def padded(f: Finding) -> bool:
        """Its zeroed rows are exactly its module's padding_idx (none when that is None)."""
        index = getattr(modules.get(f.owner), "padding_idx", "absent")
        return index != "absent" and f.rows == (frozenset() if index is None
                                                 else frozenset({index}))

    for cls, members in sorted(by_class.items(), key=lambda item: everything.index(
            item[1][0].name)):
        weights = [f for f in members if f.attr == "weight"]
        biases = [f for f in members if f.attr == "bias"]
        if not weights:
            continue
        padding = all(padded(f) for f in weights) and any(f.rows for f in weights)
        common = Counter(f.call_key(padding) for f in weights).most_common(1)[0][0]
        chosen = [f for f in weights if f.call_key(padding) == common]
        first = chosen[0]
        if padding:
            first = attrs.evolve(first, rows=frozenset({0}))  # says `then zero_row(...)`
        bias_keys = Counter(f.call_key() for f in biases
                            if f.owner in {c.owner for c in chosen})
        args = infer(dict(first.args), first.word or "", chosen)
        bias_owners: set[str] = set()
        if bias_keys:
            bias_key = bias_keys.most_common(1)[0][0]
            bias = next(f for f in biases if f.call_key() == bias_key)
            constant = {"zeros": 0, "ones": 1}.get(bias.word or "",
                                                   bias.args.get("val") if bias.word == "constant"
                                                   else None)
            if (first.word == "keep") == (bias.word == "keep") and (
                    first.word == "keep" or constant is not None):
                # The rule writes the bias too: the constant (or the constructor's value).
                bias_owners = {f.owner for f in biases if f.call_key() == bias_key}
                if constant:
                    args["bias"] = constant
        names = [f.name for f in chosen] + [f.name for f in biases if f.owner in bias_owners]
        whole = bool(bias_owners) or not biases
        rule = (f"{cls}{'' if whole else '.weight'} -> {_call_text(first.word or '', args)}"
                f"{_modifiers(first)}")
        rules.append(_Rule(rule, first.where, tuple(names)))
        done.update(names)
    # What is left: param rules, by call, with the smallest patterns.
    rest = [f for f in explained if f.name not in done]
    # Values that follow a block index or the tensor's fan: one rule with a capture.
    for pattern, members, args in _structured(rest):
        first = members[0]
        args = infer(args, first.word or "", members)
        rules.append(_Rule(f"param {pattern} -> {_call_text(first.word or '', args)}"
                           f"{_modifiers(first)}", first.where, tuple(f.name for f in members)))
        done.update(f.name for f in members)
    left = _by_call([f for f in rest if f.name not in done])
    for _, members in sorted(left.items(), key=lambda item: everything.index(item[1][0].name)):
        rules.extend(_param_rules(members, everything, infer))
    return rules


def _param_rules(members: list[Finding], everything: list[str], infer: Callable[..., Any]
                 ) -> list[_Rule]:
    """``param`` rules for findings that share one call, with the fewest patterns."""
    first = members[0]
    args = infer(dict(first.args), first.word or "", members)
    return [_Rule(f"param {pattern} -> {_call_text(first.word or '', args)}{_modifiers(first)}",
                  first.where, tuple(f.name for f in members))
            for pattern in _covering([f.name for f in members], everything)]


def _indexed(name: str) -> tuple[str, int | None]:
    """``name`` with its first index segment as the capture ``{i}`` (others ``*``), and it."""
    parts, index = [], None
    for part in name.split("."):
        if _DIGITS.match(part):
            if index is None:
                index = int(part)
                parts.append("{i}")
                continue
            parts.append("*")
        else:
            parts.append(part)
    return ".".join(parts), index


def _fan(shape: tuple[int, ...], which: str) -> int | None:
    if len(shape) < 2:
        return None
    receptive = math.prod(shape[2:])
    return shape[1] * receptive if which == "fan_in" else shape[0] * receptive


def _exact(value: float, candidate: float) -> bool:
    return math.isclose(value, candidate, rel_tol=1e-12, abs_tol=0.0)


def _round(c: float) -> float:
    return float(f"{c:.12g}")


#: Forms of a value that follows the block index ``i`` (torchtitan's depth init, fix_init).
_INDEX_FORMS = (("{c} / sqrt(2 * (i + 1))", lambda c, i: c / math.sqrt(2 * (i + 1))),
                ("{c} / sqrt(i + 1)", lambda c, i: c / math.sqrt(i + 1)),
                ("{c} / (i + 1)", lambda c, i: c / (i + 1)),
                ("{c} * (i + 1)", lambda c, i: c * (i + 1)))
#: Forms of a value that follows the tensor's fan (an output layer's dim ** -0.5).
_FAN_FORMS = tuple((f"{k}tensor.{fan} ** -0.5", k, fan)
                   for fan in ("fan_in", "fan_out")
                   for k in ("", "-", "2 * ", "-2 * ", "3 * ", "-3 * "))


def _fit(values: list[float], indices: list[int | None], shapes: list[tuple]) -> Any:
    """One value or expression that gives every member's value exactly, or ``None``."""
    if all(_exact(v, values[0]) for v in values):
        constant: Any = values[0]
    else:
        constant = None
    for text, k, fan in _FAN_FORMS:
        factor = {"": 1, "-": -1}.get(k, None)
        if factor is None:
            factor = float(k.split("*")[0])
        fans = [_fan(shape, fan) for shape in shapes]
        if all(f for f in fans) and all(_exact(v, factor * f ** -0.5)
                                        for v, f in zip(values, fans)):
            # A literal that happens to equal the fan (one size only) is still the fan's.
            return text
    if constant is not None:
        return constant
    if any(i is None for i in indices):
        return None
    for text, form in _INDEX_FORMS:
        c = _round(values[0] / form(1.0, indices[0]))
        if all(_exact(v, form(c, i)) for v, i in zip(values, indices)):
            return text.format(c=repr(c))
    return None


_USES_INDEX = re.compile(r"(?<![A-Za-z0-9_.])i(?![A-Za-z0-9_])")


def _structured(findings: list[Finding]) -> list[tuple[str, list[Finding], dict[str, Any]]]:
    """Groups whose numbers follow the block index or the fan: ``(pattern, members, args)``."""
    groups: dict[tuple, list[Finding]] = defaultdict(list)
    for finding in findings:
        pattern, _ = _indexed(finding.name)
        fixed = tuple(sorted((k, v) for k, v in finding.args.items()
                             if not isinstance(v, float)))
        groups[(pattern, finding.word, fixed, finding.scale, bool(finding.rows))].append(finding)
    found = []
    for (pattern, *_), members in groups.items():
        numbers = sorted({k for f in members for k, v in f.args.items() if isinstance(v, float)})
        if not numbers:
            continue
        indices = [_indexed(f.name)[1] for f in members]
        args = {k: v for k, v in members[0].args.items() if not isinstance(v, float)}
        for key in numbers:
            values = [f.args.get(key) for f in members]
            if any(v is None for v in values):
                break
            fitted = _fit(values, indices, [f.shape for f in members])
            if fitted is None:
                break
            args[key] = fitted
        else:
            if not any(isinstance(v, str) for v in args.values()):
                continue  # plain numbers: the rules by call say them
            if not any(isinstance(v, str) and _USES_INDEX.search(v) for v in args.values()):
                pattern = pattern.replace("{i}", "*")
            order = list(members[0].args)
            found.append((pattern, members, {k: args[k] for k in order}))
    return found


# -- 4. values as expressions ------------------------------------------------------------

_LAYER_COUNTS = ("n_layer", "num_hidden_layers", "num_layers", "n_layers", "depth")


def _config_values(model: nn.Module) -> dict[str, Any]:
    config = getattr(model, "config", None)
    if config is None:
        return {}
    values = {}
    for name in dir(config):
        if name.startswith("_"):
            continue
        try:
            value = getattr(config, name)
        except Exception:  # noqa: BLE001 - a config property may raise anything
            continue
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            values[name] = value
    return values


def _inferrer(model: nn.Module) -> Callable[[dict, str, list], dict]:
    config = _config_values(model)
    ranges = [k for k, v in config.items() if isinstance(v, float) and (
        "init" in k or "range" in k or "std" in k)]
    counts = [k for k in _LAYER_COUNTS if isinstance(config.get(k), int) and config[k] > 0]

    def close(a: float, b: float) -> bool:
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=0.0)

    def infer(args: dict, word: str, members: list) -> dict:
        for key, value in list(args.items()):
            if not isinstance(value, float) or key not in ("std", "mean", "a", "b", "gain"):
                continue
            for name in ranges:
                if close(value, config[name]):
                    args[key] = f"model.config.{name}"
                    break
                for count in counts:
                    if close(value, config[name] / math.sqrt(2 * config[count])):
                        args[key] = (f"model.config.{name} / sqrt(2 * "
                                     f"model.config.{count})")
                        break
                if isinstance(args[key], str):
                    break
        return args
    return infer


# -- 5. verifying --------------------------------------------------------------------------

def _expected(finding: Finding, tensor: Tensor) -> Any:
    """The distribution ``finding`` says ``tensor`` holds (``None``: kept)."""
    if finding.word == "keep":
        return None
    name = {"trunc_normal": "TruncNormal", "normal": "Normal", "uniform": "Uniform",
            "zeros": "Zeros", "ones": "Ones", "constant": "Constant", "xavier": "Xavier",
            "kaiming": "Kaiming", "orthogonal": "Orthogonal"}[finding.word or ""]
    initializer = WEIGHT_INITIALIZERS.build({"type": name, **finding.args})
    return resolve(initializer, tensor)


def _same(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    for field in ("mean", "std", "a", "b", "low", "high", "value"):
        x, y = getattr(a, field, None), getattr(b, field, None)
        if x is None and y is None:
            continue
        if x is None or y is None or not math.isclose(float(x), float(y), rel_tol=1e-9,
                                                      abs_tol=1e-300):
            return False
    return True


def _fresh(factory: Callable[[], nn.Module]) -> nn.Module:
    """A second instance to plan on: on the meta device (planning reads only shapes, so
    this costs next to nothing), or, for a constructor that reads values, on the CPU."""
    state = torch.get_rng_state()
    try:
        try:
            with torch.device("meta"):
                return factory()
        except Exception:  # noqa: BLE001 - any constructor that cannot run on meta
            return factory()
    finally:
        torch.set_rng_state(state)


def _verify(text: str, factory: Callable[[], nn.Module], findings: list[Finding]
            ) -> tuple[list[str], list[tuple[str, str, str]]]:

    from ..core.modifiers import Scale, ZeroRow
    from ..fast.schedule import Draw, plan

    fresh = _fresh(factory)
    schedule = plan(fresh, text)
    planned: dict[str, Any] = {}
    for target in schedule.targets:
        for alias in target.aliases:
            planned[alias] = target.final_planned
    tensors = dict(fresh.named_parameters())
    verified, mismatched = [], []
    for finding in findings:
        if not finding.explained:
            continue
        write = planned.get(finding.name)
        expected = _expected(finding, tensors[finding.name])
        dist = write.dist if isinstance(write, Draw) else None
        then = getattr(write, "then", ()) if write is not None else ()
        rows = {m.row for m in then if isinstance(m, ZeroRow) and m.row is not None}
        scale = math.prod(m.factor for m in then if isinstance(m, Scale))
        if (expected is None and dist is None) or (
                expected is not None and dist is not None and _same(expected, dist)
                and rows == set(finding.rows) and math.isclose(scale, finding.scale)):
            verified.append(finding.name)
        else:
            mismatched.append((finding.name, repr(expected), repr(dist)))
    return verified, mismatched


def _collapsed_names(names: Iterable[str]) -> tuple[str, ...]:
    """Buffer names with their indices collapsed (``layers.*.attention.rope.cache``)."""
    return tuple(dict.fromkeys(_collapsed(name) for name in names))


def _by_call(findings: list[Finding]) -> dict[tuple, list[Finding]]:
    groups: dict[tuple, list[Finding]] = defaultdict(list)
    for finding in findings:
        groups[finding.call_key()].append(finding)
    return groups


def _text(title: str, rules: list[_Rule], findings: list[Finding],
          buffers: tuple[str, ...] = ()) -> str:
    lines = [f"# Captured from {title} by initdsl capture: the model's own init code, "
             "observed and written as rules;", "# each comment names the code that made "
             "the writes."]
    for rule in rules:
        lines.append(f"{rule.text}  # {rule.where}")
    for finding in findings:
        if not finding.explained:
            lines.append(f"# unexplained: {finding.name}: {finding.reason}")
    if buffers:
        lines.append(f"# buffers the model computes itself (not captured): "
                     f"{', '.join(buffers)}")
    return format_policy("\n".join(lines) + "\n")


def verify(text: str, factory: Callable[[], nn.Module]) -> Capture:
    """Check a policy against what ``factory``'s own init code does (a capture made at
    another size, say): observe it, and compare per tensor with the policy's plan."""
    model, observation = observe(factory)
    findings = _findings(model, observation)
    verified, mismatched = _verify(text, factory, findings)
    rules = sum(1 for line in text.splitlines() if line.strip() and not
                line.lstrip().startswith("#"))
    return Capture(text, rules, tuple(findings), tuple(verified), tuple(mismatched),
                   tuple(name for name, _ in model.named_buffers()))


# -- the whole pipeline ------------------------------------------------------------------------

def capture(factory: Callable[[], nn.Module], *, name: str | None = None) -> Capture:
    """Build the model with ``factory`` (its own init code), and write what it did as a policy.

    The policy is verified on a fresh instance from ``factory``; see
    :class:`Capture`. torch's global RNG state is unchanged afterwards and
    nothing stays installed, also when the factory raises.
    """
    model, observation = observe(factory)
    findings = _findings(model, observation)
    infer = _inferrer(model)
    rules = _group(findings, model, infer)
    title = name or type(model).__name__
    buffers = _collapsed_names(name for name, _ in model.named_buffers())
    text = _text(title, rules, findings, buffers)
    verified, mismatched = _verify(text, factory, findings) if rules else ([], [])
    if mismatched:
        # A rule that also reaches a tensor through another name (a tie) overwrote what
        # an earlier rule wrote there: say those tensors last, by name.
        by_name = {f.name: f for f in findings}
        redo = [by_name[name] for name, _, _ in mismatched]
        everything = [f.name for f in findings]
        for _, members in _by_call(redo).items():
            rules.extend(_param_rules(members, everything, infer))
        text = _text(title, rules, findings, buffers)
        verified, mismatched = _verify(text, factory, findings)
    return Capture(text, len(rules), tuple(findings), tuple(verified), tuple(mismatched),
                   tuple(name for name, _ in model.named_buffers()))

