"""Static resolution: which rule writes each parameter, without writing anything.

:func:`explain` plans a run exactly as :func:`initdsl.apply` would (the
core's :class:`~initdsl.core.planner.Planner`, same scopes, same ordering), then
reads the plan instead of executing it: every ``Write``, ``Load`` and
``Call`` step is flattened, in execution order, into the list of writes each
parameter receives. The last one is the parameter's final writer.

Nothing here touches tensor data, so it works on a model built on the
``meta`` device: a model of any size is explained in the time its module tree
takes to walk. Checkpoints are read for their keys and shapes only
(``torch.load(..., mmap=True, map_location="meta")``, or the header of a
``.safetensors`` file); a remote checkpoint that is not in torch's hub cache
is not downloaded, and what it would load is reported as unknown.

Where the plan runs user code (a module's own ``init_weights``, or an
initializer ``type`` that is a plain callable), what it writes cannot be known
without running it: the parameters below that module get a *possible* write
(``Writer.certain`` is false) that a later rule may still override.

The result is pure data (:class:`Explanation`); rendering it as a table is the
command line's job, finding problems in it is :mod:`initdsl.tools.lint`'s.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import attrs
import torch
from torch import nn

from ..core.checkpoint import (
    check_map_location,
    check_tensors,
    read_checkpoint,
    select_state_dict,
)
from ..core.distributions import Constant, Distribution
from ..core.initializers import PretrainedInit, described
from ..core.modifiers import Modifier
from ..core.planner import Block, Call, Load, Planner, Write
from ..core.protocol import has_own_init_weights, takes_init_cfg
from ..core.provenance import Origin, Record
from ..core.provenance import jsonable as _jsonable
from ..core.walk import named_parameters, parameters, state_tensors
from ..errors import (
    CheckpointNotFoundError,
    CheckpointUnpicklingError,
    InitAssertionError,
    InitError,
)
from ..language.binding import compile_for
from ..language.compiler import Compiled

__all__ = [
    "Writer",
    "Parameter",
    "LoadPlan",
    "Problem",
    "Explanation",
    "explain",
    "read_checkpoint_shapes",
]

#: Statuses of a parameter, by its final write. ``USER`` and ``UNKNOWN`` are
#: also the kinds of uncertain writes: user code, and a load whose checkpoint
#: could not be inspected.
WRITTEN, LOADED, USER, UNKNOWN, UNWRITTEN = "written", "loaded", "user", "unknown", "unwritten"

RuleKey = tuple[str, "int | None", "int | None"]


@attrs.frozen
class Writer:
    """One write (or, for user code, a possible write) to a parameter.

    Attributes:
        kind: ``"init"`` (an initializer rule), ``"load"`` (a checkpoint
            load), ``"user"`` (user code that may write) or ``"unknown"`` (a
            load whose checkpoint could not be inspected, which may write).
        name: the initializer's registry name (``"Kaiming"``), ``"Pretrained"``,
            or the user code (``"Block.init_weights"``).
        args: resolved arguments under mmengine's names (defaults filled in,
            ``bias`` after ``bias_prob``); for loads the ``Pretrained``
            arguments.
        origin: the rule: owner module, index, override index and, for
            policies, the source position (``str(origin.source)`` is
            ``file:line:col``).
        module: qualified name of the module the step ran on.
        key: for loads, the checkpoint key the value comes from (as stored in
            the file, prefix included).
        distribution: for an initializer's write, what it draws for this
            tensor, resolved for its shape and dtype (the bias of a module
            rule is its constant); ``None`` for loads and user code.
        then: the modifiers applied after the draw (``scale``, ``zero_row``).
    """

    kind: str
    name: str
    args: Mapping[str, Any] = attrs.field(factory=dict)
    origin: Origin | None = None
    module: str = ""
    key: str | None = None
    distribution: Distribution | None = attrs.field(default=None, eq=False)
    then: tuple[Modifier, ...] = attrs.field(default=(), eq=False)

    @property
    def certain(self) -> bool:
        """Whether the write certainly happens (false for user code and uninspected loads)."""
        return self.kind not in (USER, UNKNOWN)

    @property
    def rule(self) -> RuleKey | None:
        """``(owner, index, override)`` of the rule, the identity lint uses."""
        if self.origin is None or not self.certain:
            return None
        return (self.origin.owner, self.origin.index, self.origin.override)

    @property
    def source(self) -> str | None:
        """``file:line:col`` of the policy rule, or ``None`` (a model's own ``init_cfg``)."""
        if self.origin is None or self.origin.source is None:
            return None
        return str(self.origin.source)

    @property
    def where(self) -> str:
        """The rule's source position, else a description of where it is configured."""
        return self.source or (str(self.origin) if self.origin is not None else "")

    def text(self, parameter: str) -> str:
        """The write as ``initdsl explain`` shows it: ``Normal(mean=0, std=0.02)``, ``load
        full.pth [backbone.conv.weight]`` (the key when it is not ``parameter``)."""
        if self.kind == "load":
            text = f"load {self.args.get('checkpoint')}"
            return text + f" [{self.key}]" if self.key and self.key != parameter else text
        return f"{self.name}({', '.join(f'{k}={v!r}' for k, v in self.args.items())})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "writer": self.name,
            "args": {k: _jsonable(v) for k, v in self.args.items()},
            "draws": None if self.distribution is None else self.distribution.describe(),
            "then": [modifier.describe() for modifier in self.then],
            "source": self.source,
            "origin": None if self.origin is None else self.origin.to_dict(),
            "module": self.module,
            "key": self.key,
        }


@attrs.frozen
class Parameter:
    """One parameter of the model and every write it receives, in execution order."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    writes: tuple[Writer, ...] = ()

    @property
    def numel(self) -> int:
        count = 1
        for size in self.shape:
            count *= size
        return count

    @property
    def pattern(self) -> str:
        """The name with each numeric segment as ``{}``: ``blocks.{}.attn.qkv.weight``, the
        key under which the views group the tensors of every layer."""
        return ".".join("{}" if part.isdigit() else part for part in self.name.split("."))

    @property
    def shape_text(self) -> str:
        """``(768, 3, 16, 16)``, ``(768,)``, ``()``: the shape as Python writes a tuple."""
        return "(" + ", ".join(map(str, self.shape)) + ("," if len(self.shape) == 1 else "") + ")"

    @property
    def final(self) -> Writer | None:
        """The last write (possibly user code), or ``None`` if nothing writes it."""
        return self.writes[-1] if self.writes else None

    @property
    def final_certain(self) -> Writer | None:
        """The last write that certainly happens (what it holds if user code writes nothing)."""
        for writer in reversed(self.writes):
            if writer.certain:
                return writer
        return None

    @property
    def status(self) -> str:
        """``"written"``, ``"loaded"``, ``"user"`` (user code may write it), ``"unknown"``
        (a load that could not be inspected may write it) or ``"unwritten"``."""
        final = self.final
        if final is None:
            return UNWRITTEN
        return {"init": WRITTEN, "load": LOADED, USER: USER, UNKNOWN: UNKNOWN}[final.kind]

    def written_by(self) -> tuple[str, str]:
        """``(what writes it, where the rule is)`` as ``initdsl explain`` prints them.

        ``("Normal(mean=0, std=0.02)", "vit.init:9:1")``; for user code or an
        uninspected load, what may write it and what it holds otherwise.
        """
        final = self.final
        if final is None:
            return "not written (keeps its constructor value)", "-"
        if final.certain:
            return final.text(self.name), final.where
        text = (f"load {final.args.get('checkpoint')} (not inspected) may write"
                if final.kind == UNKNOWN else f"user code {final.name} may write")
        where = final.where or f"init_weights of {final.module!r}"
        fallback = self.final_certain
        if fallback is None:
            return text + "; else not written", where
        return f"{text}; else {fallback.text(self.name)} from {fallback.where}", where

    def to_dict(self) -> dict[str, Any]:
        final = self.final
        fallback = self.final_certain if final is not None and not final.certain else None
        return {
            "name": self.name,
            "shape": list(self.shape),
            "dtype": self.dtype,
            "numel": self.numel,
            "status": self.status,
            "writer": None if final is None else final.to_dict(),
            "otherwise": None if fallback is None else fallback.to_dict(),
            "writes": len(self.writes),
        }


@attrs.frozen
class LoadPlan:
    """What one ``Pretrained`` load would do, from the checkpoint's keys and shapes.

    Keys in ``loaded``, ``missing``, ``unexpected`` and ``mismatched`` are
    relative to ``module`` (after the prefix is removed), as in
    :class:`~initdsl.LoadReport`. ``known`` is false when the checkpoint could
    not be inspected (then ``problem`` says why and the key lists are empty).
    """

    checkpoint: str
    prefix: str | None
    module: str
    origin: Origin | None
    known: bool = True
    loaded: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    unexpected: tuple[str, ...] = ()
    mismatched: tuple[tuple[str, tuple[int, ...], tuple[int, ...]], ...] = ()
    problem: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "checkpoint": self.checkpoint,
            "prefix": self.prefix,
            "module": self.module,
            "source": None if self.origin is None or self.origin.source is None
            else str(self.origin.source),
            "known": self.known,
            "loaded": list(self.loaded),
            "missing": list(self.missing),
            "unexpected": list(self.unexpected),
            "mismatched": [{"key": k, "checkpoint_shape": list(c), "model_shape": list(m)}
                           for k, c, m in self.mismatched],
            "problem": self.problem,
        }


@attrs.frozen
class Problem:
    """Something that would make the run fail, found while planning.

    ``kind`` is ``"initializer"`` (an initializer rejects a module it
    matches: a 1-D weight for Kaiming, a ``bias`` that is not a tensor),
    ``"override"`` (a name rule's target), ``"checkpoint-missing"``,
    ``"prefix"`` (a prefix that matches no key), ``"checkpoint"`` (any other
    reading failure) or ``"plan"`` (anything else the planner rejects).
    ``error`` is the core's exception.
    """

    kind: str
    message: str
    origin: Origin | None
    error: BaseException | None = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen
class Explanation:
    """The resolved plan of a run: per parameter, per load, and what would fail.

    ``reached`` holds the qualified names of the modules whose
    ``init_weights`` runs (as a ``BaseModule``/scope or as user code);
    ``user_root`` names the model's own ``init_weights`` when it has one
    (it then runs instead of the plan, which is shown as if it called
    ``super().init_weights()``).
    """

    parameters: tuple[Parameter, ...]
    loads: tuple[LoadPlan, ...]
    problems: tuple[Problem, ...]
    reached: frozenset[str]
    model: str
    user_root: str | None = None

    def __getitem__(self, name: str) -> Parameter:
        for parameter in self.parameters:
            if parameter.name == name:
                return parameter
        raise KeyError(name)

    def summary(self) -> dict[str, Any]:
        """Counts: parameters and values, by final writer, loaded, user code, unknown, unwritten."""
        by_writer: Counter[str] = Counter()
        statuses: Counter[str] = Counter()
        values: Counter[str] = Counter()
        for parameter in self.parameters:
            statuses[parameter.status] += 1
            values[parameter.status] += parameter.numel
            final = parameter.final
            if final is not None and final.certain:
                by_writer[final.name] += 1
        return {
            "parameters": len(self.parameters),
            "values": sum(p.numel for p in self.parameters),
            "by_writer": dict(sorted(by_writer.items(), key=lambda kv: (-kv[1], kv[0]))),
            "written": statuses[WRITTEN],
            "loaded": statuses[LOADED],
            "loaded_values": values[LOADED],
            "user": statuses[USER],
            "unknown": statuses[UNKNOWN],
            "unwritten": statuses[UNWRITTEN],
            "unwritten_values": values[UNWRITTEN],
        }

    def rule_at(self, file: str, line: int, column: int
                ) -> tuple[Any, list[tuple[Parameter, Writer]]] | None:
        """The innermost policy rule of ``file`` around ``line:column`` (1-based) and every
        write it makes: ``(span, [(parameter, writer), ...])`` in execution order per
        parameter; ``None`` if no rule there writes anything in this model."""
        found: dict[Any, list[tuple[Parameter, Writer]]] = {}
        for parameter in self.parameters:
            for writer in parameter.writes:
                span = writer.origin.source if writer.origin is not None else None
                if (span is not None and getattr(span, "file", None) == file
                        and (span.line, span.column) <= (line, column)
                        < (span.end_line, span.end_column)):
                    found.setdefault(span, []).append((parameter, writer))
        if not found:
            return None
        # Spans nest (a scope holds its rules): the innermost starts last and ends first.
        innermost = min(found, key=lambda s: (-s.line, -s.column, s.end_line, s.end_column))
        return innermost, found[innermost]

    def summary_line(self) -> str:
        """The summary as one line, as ``initdsl explain`` ends its table.

        ``VisionTransformer: 152 parameters (86,567,656 values): TruncNormal 98, ...;
        none loaded from a checkpoint``
        """
        summary = self.summary()
        parts = [f"{name} {count}" for name, count in summary["by_writer"].items()
                 if name != "Pretrained"]
        if summary["user"]:
            parts.append(f"user code may write {summary['user']}")
        if summary["unknown"]:
            parts.append(f"an uninspected checkpoint may load {summary['unknown']}")
        if summary["unwritten"]:
            parts.append(f"not written {summary['unwritten']} "
                         f"({summary['unwritten_values']:,} values)")
        loaded = (f"{summary['loaded']} loaded from a checkpoint "
                  f"({summary['loaded_values']:,} values)" if summary["loaded"]
                  else "none loaded from a checkpoint")
        return (f"{self.model}: {summary['parameters']} parameters ({summary['values']:,} "
                f"values): {', '.join(parts) or 'none written'}; {loaded}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "user_root": self.user_root,
            "parameters": [p.to_dict() for p in self.parameters],
            "loads": [load.to_dict() for load in self.loads],
            "summary": self.summary(),
        }


# -- checkpoints, by keys and shapes -------------------------------------------------------

def read_checkpoint_shapes(source: str) -> Any:
    """A checkpoint's structure with every tensor replaced by a ``meta`` tensor.

    No tensor data is read, nothing is downloaded (a remote checkpoint that
    is not in torch's hub cache raises ``LookupError``), and nothing is
    unpickled but tensors and plain containers: a checkpoint that holds other
    Python objects raises :class:`~initdsl.CheckpointUnpicklingError`, even
    where the policy says ``weights_only false`` — looking at a policy must
    never run code from a checkpoint.
    """
    return read_checkpoint(source, "meta", True, download=False)


def _compatible(checkpoint_shape: tuple[int, ...], model_shape: tuple[int, ...]) -> bool:
    # torch loads a 1-element 1-D tensor into a 0-D parameter.
    return checkpoint_shape == model_shape or (checkpoint_shape == (1,) and model_shape == ())


class _StaticPlanner(Planner):
    """The core's planner with checkpoints read by shape and failures recorded, not raised.

    Recording lets one pass report every failing rule; the step that failed
    is left out of the plan (it would have stopped the real run).
    """

    def __init__(self, root: nn.Module, scopes: Mapping[str, Any],
                 source_of: Any) -> None:
        super().__init__(root, scopes, source_of)
        self.problems: list[Problem] = []
        self.unknown: dict[int, str] = {}
        self._shapes: dict[str, Any] = {}

    def plan_rule(self, initializer: Any, module: nn.Module, path: str, origin: Origin,
                  whole: bool) -> list:
        try:
            return super().plan_rule(initializer, module, path, origin, whole)
        except InitError as error:
            self.problems.append(Problem("initializer", error.message, origin, error))
            return []

    def plan_override(self, module: nn.Module, path: str, entry: Any, parent: dict, owner: str,
                      index: int | None, number: int) -> list:
        try:
            return super().plan_override(module, path, entry, parent, owner, index, number)
        except InitError as error:
            self.problems.append(Problem("override", error.message,
                                         self.origin_of(owner, index, number), error))
            return []

    def plan_load(self, initializer: PretrainedInit, module: nn.Module, path: str,
                  origin: Origin) -> Load:
        record = Record(writer="Pretrained", args=initializer.args, origin=origin,
                        text=described(initializer))
        key = initializer.checkpoint
        try:
            check_map_location(initializer.map_location)
            if key not in self._shapes:
                self._shapes[key] = read_checkpoint_shapes(key)
            state = select_state_dict(self._shapes[key], initializer.prefix,
                                      initializer.checkpoint)
            check_tensors(state, initializer.checkpoint)
        except CheckpointNotFoundError as error:
            return self._unknown(module, path, initializer, record, "checkpoint-missing", error)
        except CheckpointUnpicklingError:
            step = Load(module, path, initializer, {}, record)
            trust = ("the policy trusts it (weights_only false), but " if
                     not initializer.weights_only else "")
            self.unknown[id(step)] = (
                f"it holds Python objects besides tensors; {trust}explain and lint never "
                "unpickle them, so what it loads is not known")
            return step
        except InitAssertionError as error:
            stored = self._shapes[key]
            if isinstance(stored, dict):
                stored = stored.get("state_dict", stored)
            starts = list(dict.fromkeys(str(k).split(".")[0] + ("." if "." in str(k) else "") for k in stored)) \
                if isinstance(stored, dict) else []
            if starts:
                more = ", ..." if len(starts) > 8 else ""
                error = InitAssertionError(f"{error.message} (its keys start with "
                                           f"{', '.join(starts[:8])}{more})")
            return self._unknown(module, path, initializer, record, "prefix", error)
        except LookupError as error:
            step = Load(module, path, initializer, {}, record)
            self.unknown[id(step)] = str(error)
            return step
        except InitError as error:
            if error.code is not None:  # placed as a run places it: at the option, the path
                error = self.placed(error, origin)
            return self._unknown(module, path, initializer, record, "checkpoint", error)
        except Exception as error:  # noqa: BLE001 - any reading failure is a finding
            return self._unknown(module, path, initializer, record, "checkpoint", error)
        return Load(module, path, initializer, state, record)

    def _unknown(self, module: nn.Module, path: str, initializer: PretrainedInit, record: Any,
                 kind: str, error: Exception) -> Load:
        message = error.message if isinstance(error, InitError) else (
            f"{type(error).__name__}: {error}")
        self.problems.append(Problem(kind, message, record.origin, error))
        step = Load(module, path, initializer, {}, record)
        self.unknown[id(step)] = message
        return step


def explain(model: nn.Module, policy: Compiled | Mapping[str, Any] | Sequence[Any] | None
            ) -> Explanation:
    """Resolve, without writing, what running ``policy`` on ``model`` writes to each parameter.

    Args:
        model: any module; build it under ``with torch.device("meta"):`` to
            explain a model without allocating its parameters.
        policy: a compiled policy (:func:`initdsl.language.compiler.compile_policy`),
            an ``init_cfg`` (a list of cfgs, or ``{module path: cfgs}``), or
            ``None`` for the model's own ``init_cfg``\\ s (``model.init_weights()``).

    The plan is the one :func:`initdsl.apply` (or ``init_weights``) would
    run. Failures the run would raise before writing (an initializer that
    rejects a module it matches, a prefix that matches no checkpoint key, a
    missing checkpoint) are collected in ``problems`` instead of raised.
    """
    compiled = compile_for(model, policy)
    problems: list[Problem] = []
    steps: tuple = ()
    try:
        planner = _StaticPlanner(model, compiled.scopes, compiled.source_of)
    except InitError as error:  # a scope names no module of the model
        planner = _StaticPlanner(model, {}, compiled.source_of)
        problems.append(Problem("plan", error.message, None, error))
    else:
        try:
            block = planner.init_weights(model, "")
            steps = block.steps or ()
        except InitError as error:
            problems.append(Problem("plan", error.message, None, error))
    problems[:0] = planner.problems

    params = list(named_parameters(model))
    index = {id(p): name for name, p in params}
    writes: dict[int, list[Writer]] = {id(p): [] for _, p in params}
    loads: list[LoadPlan] = []
    reached: set[str] = {""}
    done: set[int] = set()
    _Flattener(index, writes, loads, reached, done, planner.unknown).steps(steps)

    user_root = None
    if takes_init_cfg(model) and has_own_init_weights(model):
        # run_scoped calls the model's own init_weights; whatever it does
        # around super().init_weights() is unknown.
        user_root = f"{type(model).__name__}.init_weights"
        for _, p in params:
            writes[id(p)].append(Writer(USER, user_root, origin=Origin("", via="init_weights")))

    parameters = tuple(
        Parameter(name, tuple(p.shape), str(p.dtype).removeprefix("torch."),
                  tuple(writes[id(p)]))
        for name, p in params
    )
    return Explanation(parameters, tuple(loads), tuple(problems), frozenset(reached),
                       type(model).__name__, user_root)


class _Flattener:
    """Walks planned steps in execution order, appending each parameter's writes."""

    def __init__(self, index: dict[int, str], writes: dict[int, list[Writer]],
                 loads: list[LoadPlan], reached: set[str], done: set[int],
                 unknown: dict[int, str]) -> None:
        self.index = index
        self.writes = writes
        self.loads = loads
        self.reached = reached
        self.done = done
        self.unknown = unknown

    def steps(self, steps: Iterable[Any]) -> None:
        """Flatten ``steps`` in execution order; nested blocks with an explicit stack."""
        stack: list[tuple[Iterator[Any], nn.Module | None]] = [(iter(steps), None)]
        while stack:
            pending, owner = stack[-1]
            step = next(pending, None)
            if step is None:
                stack.pop()
                if owner is not None and takes_init_cfg(owner):
                    self.done.add(id(owner))
                continue
            if isinstance(step, Write):
                self.write(step)
            elif isinstance(step, Block):
                # The executor skips a block whose module finished earlier in
                # the run (a module registered under two parents).
                if step.steps is None or id(step.module) in self.done:
                    continue
                self.reached.add(step.path)
                stack.append((iter(step.steps), step.module))
            elif isinstance(step, Load):
                self.load(step)
            elif isinstance(step, Call):
                self.call(step)

    def add(self, tensor: Any, writer: Writer) -> None:
        if tensor is not None and id(tensor) in self.writes:
            self.writes[id(tensor)].append(writer)

    def write(self, step: Write) -> None:
        record = step.record
        writer = Writer("init", record.writer or "?", dict(record.args), record.origin, step.path,
                        distribution=step.weight, then=step.then)
        # The executor writes the weight, then the bias; a computed weight (a
        # parametrization) is not a parameter and so records nothing here.
        self.add(getattr(step.module, step.tensor, None), writer)
        if step.writes_bias:
            self.add(getattr(step.module, "bias", None),
                     attrs.evolve(writer, distribution=Constant(step.initializer.bias), then=()))

    def call(self, step: Call) -> None:
        if step.chained and (getattr(step.module, "is_init", False)
                             or id(step.module) in self.done):
            return
        self.reached.add(step.path)
        writer = Writer(USER, step.record.writer or "user code", {}, step.record.origin,
                        step.path)
        for p in parameters(step.module):
            self.add(p, writer)
        if step.chained and takes_init_cfg(step.module):
            self.done.add(id(step.module))

    def load(self, step: Load) -> None:
        initializer = step.initializer
        record = step.record
        base = dict(checkpoint=initializer.checkpoint, prefix=initializer.prefix,
                    module=step.path, origin=record.origin)
        problem = self.unknown.get(id(step))
        if problem is not None:
            # What it loads is unknown: every parameter below may be loaded.
            self.loads.append(LoadPlan(**base, known=False, problem=problem))
            writer = Writer(UNKNOWN, "Pretrained", dict(record.args), record.origin, step.path)
            for p in parameters(step.module):
                self.add(p, writer)
            return
        expected = state_tensors(step.module)
        loaded, mismatched, unexpected = [], [], []
        prefix = "" if initializer.prefix is None else initializer.prefix.rstrip(".") + "."
        for key, value in step.state_dict.items():
            target = expected.get(key)
            if target is None:
                unexpected.append(key)
                continue
            if not isinstance(value, torch.Tensor):
                continue
            if not _compatible(tuple(value.shape), tuple(target.shape)):
                mismatched.append((key, tuple(value.shape), tuple(target.shape)))
                continue
            loaded.append(key)
            self.add(target, Writer("load", "Pretrained", dict(record.args), record.origin,
                                    step.path, key=prefix + key))
        missing = [k for k in expected if k not in step.state_dict
                   and "num_batches_tracked" not in k]
        self.loads.append(LoadPlan(**base, loaded=tuple(loaded), missing=tuple(missing),
                                   unexpected=tuple(unexpected), mismatched=tuple(mismatched)))
