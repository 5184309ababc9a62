"""Resolve ``init_cfg`` against a module tree into an ordered list of steps.

This is where mmengine's semantics live: list order, ``override``,
``BaseModule.init_weights``' three phases, deferred ``Pretrained``. The
result is data — which module, which initializer, which rule — that
:mod:`initdsl.core.executor` carries out. Resolving validates everything (every
initializer is constructed, every override target looked up, every weight
checked, every checkpoint read) so that a bad configuration raises before
the first tensor is written.

Every number a write will use is resolved for the tensor it writes and
checked against that tensor's dtype here (:func:`~initdsl.core.distributions.resolve`),
so ``constant(1e308)`` into a float32 weight, a negative Xavier gain or a
Kaiming slope whose square overflows fail before anything is written, with
the argument to blame.

User code is opaque: a child's own ``init_weights`` and an initializer
``type`` that is a plain callable (or a ``BaseInit`` subclass with its own
``__call__``, as mmengine-style initializers are written) become
:class:`Call` steps.

Module trees of any depth are planned: the walks are iterative, and so is
the expansion of nested ``init_weights``.
"""

from __future__ import annotations

import copy
import difflib
import inspect
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Union

import attrs
import torch
from torch import Tensor, nn

from ..errors import (
    InitAssertionError,
    InitAttributeError,
    InitError,
    InitKeyError,
    InitRuntimeError,
    InitTypeError,
    InitValueError,
    InitZeroDivisionError,
    shown,
)
from .checkpoint import (
    check_map_location,
    check_tensors,
    read_checkpoint,
    select_state_dict,
)
from .computed import Computed, Context, computed_keys, concrete
from .distributions import Distribution, resolve, resolve_fill
from .initializers import (
    BaseInit,
    KeepInit,
    PretrainedInit,
    SeedInit,
    SelectInit,
    described,
)
from .matcher import matching, matching_parameters
from .modifiers import Modifier, build_modifier
from .protocol import has_own_init_weights, takes_init_cfg
from .provenance import Origin, Record
from .registry import WEIGHT_INITIALIZERS
from .walk import missing_submodule, named_modules, post_order

__all__ = ["Write", "Load", "Call", "Block", "Step", "Planner"]


@attrs.frozen(eq=False)
class Write:
    """Write ``module``'s own weight then bias with ``initializer``.

    ``weight`` is what the weight is drawn from, resolved and checked for
    its shape and dtype (``None`` when the module has no weight); the bias,
    if any, is filled with ``initializer.bias``. A ``param`` rule's write
    (:class:`~initdsl.core.initializers.SelectInit`) names the tensor it
    draws as the weight in ``tensor`` (``"pos_embed"``) and writes no bias.
    ``then`` are the modifiers applied to that tensor after the draw.
    """

    module: nn.Module
    path: str
    initializer: BaseInit
    record: Record
    weight: Distribution | None = None
    tensor: str = "weight"
    writes_bias: bool = True
    then: tuple[Modifier, ...] = ()


@attrs.frozen(eq=False)
class Load:
    """Copy ``state_dict`` into ``module`` (a ``Pretrained`` rule)."""

    module: nn.Module
    path: str
    initializer: PretrainedInit
    state_dict: Mapping[str, Any]
    record: Record


@attrs.frozen(eq=False)
class Call:
    """Run user code on ``module``: a custom ``init_weights`` or a callable initializer.

    With ``chained=True`` it is a child's ``init_weights`` in phase 2 of a
    parent's ``init_weights``: skipped if the child ``is_init`` by then, and
    parameters added or replaced by it are an error.
    """

    module: nn.Module
    path: str
    fn: Callable[[], Any]
    record: Record
    chained: bool = False


@attrs.frozen(eq=False)
class Block:
    """``BaseModule.init_weights`` of ``module``, expanded: skipped if it ``is_init``.

    ``steps`` is ``None`` when the module was already initialized at planning
    time; it is then planned only if it is reset before the block runs.
    """

    module: nn.Module
    path: str
    steps: tuple[Any, ...] | None


Step = Union[Write, Load, Call, Block]

#: ``(owner, index, override, argument=None) -> position``: where a rule (or
#: one of its arguments) was written; :meth:`initdsl.language.compiler.Compiled.source_of`.
CfgSource = Callable[..., Any]


_WRAPPERS = (nn.DataParallel, nn.parallel.DistributedDataParallel)


def _record(initializer: Any, origin: Origin, computed: Computed | None = None,
            inner: BaseInit | None = None) -> Record:
    """The provenance of a write by ``initializer`` (a ``Select``: with ``inner`` when computed).

    With computed arguments the record holds their values for this write,
    and its text says how each was computed.
    """
    if isinstance(initializer, SelectInit):
        name = WEIGHT_INITIALIZERS.name_of(type(inner or initializer.init))
        args = initializer.args_with(inner) if inner is not None else initializer.args
        text = initializer.describe(inner)
    else:
        name = WEIGHT_INITIALIZERS.name_of(type(initializer))
        args, text = initializer.args, described(initializer)
    if computed is not None:
        text = f"{text} (computed: {computed.text()})"
    return Record(writer=name, args=args, origin=origin, text=text)


def _then_record(record: Record, then: tuple[Modifier, ...]) -> Record:
    """``record`` with its text saying which modifiers followed the draw."""
    if not then:
        return record
    text = record.text.split(" then ")[0]
    return attrs.evolve(record, text=text + "".join(f" then {m.describe()}" for m in then))


def _where(owner: str, index: int | None, override: int | None = None) -> str:
    return str(Origin(owner, index, override))


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


class Planner:
    """Turns configurations into steps for one run rooted at ``root``.

    Args:
        root: the module the run started on; paths are relative to it.
        scopes: ``{qualified module name: init_cfg}`` that replace those
            modules' own ``init_cfg``. A plain ``nn.Module`` named here acts
            as a ``BaseModule``, and so does every plain module on the path
            from the root to it; BaseModules on that path keep their own
            ``init_cfg`` (this is how a policy's scopes run on models
            that are not mmengine-style). ``""`` is the root.
        source_of: maps ``(owner, index, override)`` of a rule to where it
            was written (a policy file position), for provenance.

    Checkpoints are read once per run (keyed by source, ``map_location`` and
    ``weights_only``).

    A subclass may override the three methods that turn one rule into steps,
    :meth:`plan_rule`, :meth:`plan_override` and :meth:`plan_load`, to plan
    differently while the ordering rules stay here: the static resolution
    behind ``initdsl explain`` (:mod:`initdsl.tools.explain`) reads checkpoints by
    shape and records a failing rule instead of raising.
    """

    def __init__(self, root: nn.Module | None = None, scopes: Mapping[str, Any] | None = None,
                 source_of: CfgSource | None = None) -> None:
        self.root = root
        self.scopes = dict(scopes or {})
        _check_scopes(root, self.scopes)
        self._on_scope_paths = {
            ".".join(parts[:end])
            for parts in (path.split(".") for path in self.scopes if path)
            for end in range(1, len(parts) + 1)
        }
        self._checkpoints: dict[tuple, Any] = {}
        self._source_of = source_of
        self._paths: dict[int, str] | None = None
        self._walks: dict[tuple[int, str], list[tuple[str, nn.Module]]] = {}
        # Initializers built for computed arguments, by their values; the
        # Computed is kept alive with them so that its id stays its own.
        self._built: dict[tuple[int, str], tuple[BaseInit, Record, Computed]] = {}

    def invalidate(self) -> None:
        """Forget cached module-tree walks (user code may have changed the tree)."""
        self._paths = None
        self._walks.clear()

    def _walk(self, module: nn.Module, path: str) -> list[tuple[str, nn.Module]]:
        # Every cfg of a module walks the same subtree: walk it once per run.
        key = (id(module), path)
        walk = self._walks.get(key)
        if walk is None:
            walk = self._walks[key] = list(post_order(module, path))
        return walk

    def path_of(self, module: nn.Module) -> str:
        """``module``'s qualified name under the run's root ("" if it is not below it)."""
        if self.root is None:
            return ""
        if self._paths is None:
            self._paths = {id(m): name for name, m in named_modules(self.root)}
        return self._paths.get(id(module), "")

    # -- initialize(module, init_cfg) -------------------------------------------------

    def initialize(self, module: nn.Module, path: str, init_cfg: Any, owner: str | None = None
                   ) -> list[Step]:
        """Steps of ``initialize(module, init_cfg)``: every cfg in list order, in place."""
        owner = path if owner is None else owner
        if not isinstance(init_cfg, (dict, list)):
            raise InitTypeError(
                f"init_cfg must be a dict or a list of dicts, got {type(init_cfg).__name__}: "
                f"{shown(init_cfg)}"
            )
        cfgs = [init_cfg] if isinstance(init_cfg, dict) else init_cfg
        steps: list[Step] = []
        for index, cfg in enumerate(cfgs):
            position = index if isinstance(init_cfg, list) else None
            steps.extend(self._cfg(module, path, cfg, owner, position))
        return steps

    def _cfg(self, module: nn.Module, path: str, cfg: Any, owner: str, index: int | None
             ) -> list[Step]:
        where = _where(owner, index)
        if not isinstance(cfg, dict):
            raise _not_a_dict("each init_cfg entry", cfg, where)
        cfg = _copied(cfg, where)
        override = cfg.pop("override", None)
        initializer = self._build(cfg, where)
        origin = self.origin_of(owner, index, None)
        steps = self.plan_rule(initializer, module, path, origin, whole=False)
        if override is None:
            return steps
        parent = {k: v for k, v in cfg.items() if k != "layer"}
        if not isinstance(override, (dict, list)):
            raise InitTypeError(
                f"override must be a dict or a list of dicts, got {shown(override)}", where=where
            )
        entries = [override] if isinstance(override, dict) else override
        for number, entry in enumerate(entries):
            steps.extend(self.plan_override(module, path, entry, parent, owner, index, number))
        return steps

    def plan_override(self, module: nn.Module, path: str, entry: Any, parent: dict, owner: str,
                      index: int | None, number: int) -> list[Step]:
        """Steps of override ``entry`` (``number`` of cfg ``index``) on a child of ``module``."""
        where = _where(owner, index, number)
        if not isinstance(entry, dict):
            raise _not_a_dict("override entries", entry, where)
        entry = _copied(entry, where)
        name = entry.pop("name", None)
        if name is None:
            raise InitValueError(f"override entry needs a 'name' key, got {shown(entry)}", where=where)
        if not entry:
            entry = dict(parent)
        elif "type" not in entry:
            raise InitValueError(
                f"override entry {shown(name)} has arguments {sorted(entry, key=repr)} but no "
                "'type'; give a type, or only a name to reuse the parent's initializer",
                where=where,
            )
        if not isinstance(name, str):  # hasattr() raises TypeError in mmengine
            raise InitTypeError(f"override 'name' must be a str, got {shown(name)}", where=where)
        if not hasattr(module, name):
            children = [n for n, _ in module.named_children()]
            close = difflib.get_close_matches(str(name), children, n=1)
            hint = f"; did you mean {shown(close[0])}?" if close else ""
            dotted = " (only direct children can be named, not dotted paths)" if "." in str(name) else ""
            raise InitRuntimeError(
                f"override name {shown(name)} is not an attribute of {type(module).__name__}"
                f"{dotted}{hint} (children: {', '.join(children) or 'none'})",
                where=where,
            )
        target = getattr(module, name)
        if not isinstance(target, nn.Module):
            raise InitAttributeError(
                f"override name {shown(name)} is a {type(target).__name__}, not a module; overrides "
                "initialize whole submodules",
                where=where,
            )
        # A `layer` inside an override is accepted (and checked) by the
        # constructor but ignored: overrides write the whole submodule.
        initializer = self._build(entry, where)
        return self.plan_rule(initializer, target, _join(path, name),
                           self.origin_of(owner, index, number), whole=True)

    def _build(self, cfg: dict, where: str) -> Any:
        try:
            if computed_keys(cfg):
                return Computed.of(cfg)
            return WEIGHT_INITIALIZERS.build(cfg)
        except InitError as error:
            raise error.located(where) from None
        except Exception as error:
            # A user's own initializer class raised while being constructed:
            # keep the exception class mmengine would let through.
            for builtin, ours in _USER_ERRORS:
                if isinstance(error, builtin):
                    raise ours(f"{type(error).__name__}: {error}", where=where) from error
            raise

    def plan_whole(self, module: nn.Module, path: str, cfg: dict) -> list[Step]:
        """Steps of ``cfg`` on every module below ``module`` whatever its class: mmengine's
        override mode (``wholemodule``), for an initializer called by mmengine itself."""
        where = _where(path, None)
        cfg = _copied(cfg, where)
        cfg.pop("override", None)
        return self.plan_rule(self._build(cfg, where), module, path,
                              self.origin_of(path, None, None), whole=True)

    def origin_of(self, owner: str, index: int | None, override: int | None) -> Origin:
        """The :class:`~initdsl.core.provenance.Origin` of a rule, with its source position if known."""
        source = self._source_of(owner, index, override) if self._source_of else None
        return Origin(owner, index, override, source)

    def placed(self, error: InitError, origin: Origin, where: str | None = None
                  ) -> InitError:
        """``error`` (found planning the rule at ``origin``, for the tensor ``where`` names)
        placed at the rule and, when the policy says where, at the argument it blames."""
        span = origin.source
        if self._source_of is not None and error.argument is not None:
            span = self._source_of(origin.owner, origin.index, origin.override,
                                   argument=error.argument) or span
        message = error.message if where is None else f"{error.message} at {where}"
        return type(error)(message, where=str(origin), argument=error.argument,
                           code=error.code, span=span if hasattr(span, "line") else None)

    def plan_rule(self, initializer: Any, module: nn.Module, path: str, origin: Origin,
                  whole: bool) -> list[Step]:
        """Steps of one built initializer on ``module``'s matching layers (all if ``whole``)."""
        if isinstance(initializer, PretrainedInit):
            return [self.plan_load(initializer, module, path, origin)]
        if isinstance(initializer, SelectInit):
            return self.plan_select(initializer, module, path, origin)
        if isinstance(initializer, Computed):
            return self.plan_computed(initializer, module, path, origin, whole)
        if isinstance(initializer, SeedInit):
            return []  # fast mode's seed: read before planning, nothing to write
        if isinstance(initializer, KeepInit):
            return self.plan_keep(initializer, self._matched(
                module, path, None if whole else initializer.layer, origin), origin)
        if not isinstance(initializer, BaseInit) or callable(initializer):
            return [self._plan_call(initializer, module, path, origin, whole)]
        layers = None if whole else initializer.layer
        steps: list[Step] = []
        # The modules a rule matches mostly share a few shapes: resolve each once.
        resolved: dict[tuple, Distribution] = {}
        filled: set[torch.dtype] = set()
        record = _record(initializer, origin)
        for sub_path, sub in self._matched(module, path, layers, origin):
            step = self._module_write(initializer, record, sub_path, sub, origin, resolved, filled)
            if step is not None:
                steps.append(step)
        return steps

    def plan_keep(self, initializer: Any, matched: list[tuple[str, nn.Module]],
                  origin: Origin) -> list[Step]:
        """``keep``: steps that write nothing and record that the constructor's values stay."""
        record = _record(initializer, origin)
        keep = initializer.init if isinstance(initializer, SelectInit) else initializer
        return [Write(sub, sub_path, keep, record, tensor=attr, writes_bias=False)
                for sub_path, sub in matched for attr in ("weight", "bias")
                if isinstance(getattr(sub, attr, None), Tensor)]

    def _matched(self, module: nn.Module, path: str, layers: Any, origin: Origin,
                 patterns: bool = False) -> list[tuple[str, nn.Module]]:
        try:
            # A rule without classes (mmengine's cfg without `layer`) matches
            # nothing: no walk of the subtree for it.
            return list(matching(module, path, layers, self._walk(module, path), patterns)
                        ) if layers is None or layers else []
        except InitError as error:
            raise error.located(str(origin), origin.source) from None

    def _module_write(self, initializer: BaseInit, record: Record, sub_path: str,
                      sub: nn.Module, origin: Origin, resolved: dict[tuple, Distribution],
                      filled: set[torch.dtype]) -> Write | None:
        """The step that writes ``sub``'s own weight and bias (``None``: it has neither)."""
        name = record.writer
        bias_argument = "bias" if initializer.bias_prob is None else "bias_prob"
        weight = getattr(sub, "weight", None)
        bias = getattr(sub, "bias", None)
        for attr, tensor in (("weight", weight), ("bias", bias)):
            if tensor is not None and not isinstance(tensor, Tensor):
                raise InitAttributeError(
                    f"{name} cannot write {sub_path or '<root>'} ({type(sub).__name__}): its "
                    f"{shown(attr)} is a {type(tensor).__name__} ({shown(tensor)}), not a tensor",
                    where=str(origin),
                )
        dist = None
        if weight is not None:
            dist = self._weight(initializer, weight, f"{_join(sub_path, 'weight')} "
                                f"({type(sub).__name__})", origin, resolved)
        if bias is not None and bias.dtype not in filled:
            try:
                resolve_fill(initializer.bias, bias, name, bias_argument)
            except InitError as error:
                where = f"{_join(sub_path, 'bias')} ({type(sub).__name__})"
                raise self.placed(error, origin, where) from None
            filled.add(bias.dtype)
        if weight is None and bias is None:
            return None
        return Write(sub, sub_path, initializer, record, dist)

    def plan_computed(self, computed: Computed, module: nn.Module, path: str, origin: Origin,
                      whole: bool) -> list[Step]:
        """Steps of a layer rule with computed arguments: built for each module it matches."""
        layers = None if whole else computed.layer
        if isinstance(layers, str):
            layers = [layers]
        return self._whole_modules(self._matched(module, path, layers, origin), module, origin,
                                   None, computed, None)

    def _concrete(self, computed: Computed, context: Context, origin: Origin, where: str
                  ) -> tuple[BaseInit, Record]:
        """``computed`` built for one write (once per distinct set of values)."""
        try:
            cfg = concrete(computed, context)
        except InitError as error:
            raise self.placed(error, origin, where) from None
        key = (id(computed), repr(sorted(cfg.items(), key=lambda item: item[0])))
        built = self._built.get(key)
        if built is None:
            try:
                initializer = WEIGHT_INITIALIZERS.build(cfg)
            except InitError as error:
                # A computed value the initializer refuses: the value's fault (E122),
                # blamed on the computed argument the message names.
                if error.code is None:
                    error.code = "E122"
                if error.argument is None:
                    error.argument = next((key for key in computed.trees
                                           if f"'{key}'" in error.message), None)
                raise self.placed(error, origin, where) from None
            record = _record(initializer, origin, computed)
            built = self._built[key] = (initializer, record, computed)
        return built[0], built[1]

    def plan_select(self, select: SelectInit, module: nn.Module, path: str, origin: Origin
                    ) -> list[Step]:
        """Steps of a ``param`` rule: each parameter its pattern matches under ``module``."""
        if isinstance(select.init, KeepInit):
            if select.params is None:
                return self.plan_keep(select, self._matched(module, path, select.layer, origin,
                                                            patterns=True), origin)
            found, _ = matching_parameters(module, path, select.pattern,
                                           self._walk(module, path), select.layer)
            record = _record(select, origin)
            return [Write(sub, sub_path, select.init, record, tensor=attr, writes_bias=False)
                    for sub_path, sub, attr, _ in found]
        if select.params is None:
            return self.plan_modules(select, module, path, origin)
        record = None if select.init is None else _record(select, origin)
        found, buffers = matching_parameters(module, path, select.pattern,
                                             self._walk(module, path), select.layer)
        if buffers:
            raise InitValueError(
                f"params {shown(select.params)} matches the buffer {_join(path, buffers[0])}"
                f"{f' and {len(buffers) - 1} more' if len(buffers) > 1 else ''}; a param "
                "rule writes parameters only", where=str(origin), code="E240",
                span=origin.source)
        steps: list[Step] = []
        resolved: dict[tuple, Distribution] = {}
        records: dict[int, Record] = {}  # by initializer built for computed values
        for sub_path, sub, attr, captures in found:
            tensor = sub._parameters[attr]
            where = f"{_join(sub_path, attr)} ({type(sub).__name__})"
            initializer = select.init
            context = Context(self.root if self.root is not None else module, sub, tensor,
                              captures)
            if initializer is None:
                initializer, _ = self._concrete(select.computed, context, origin, where)
                record = records.get(id(initializer))
                if record is None:
                    record = records[id(initializer)] = _record(select, origin, select.computed,
                                                                initializer)
                dist = self._weight(initializer, tensor, where, origin, {})
            else:
                dist = self._weight(initializer, tensor, where, origin, resolved)
            then = self._modifiers(select, context, tensor, origin, where)
            steps.append(Write(sub, sub_path, initializer, _then_record(record, then), dist,
                               tensor=attr, writes_bias=False, then=then))
        return steps

    def _modifiers(self, select: SelectInit, context: Context, tensor: Tensor | None,
                   origin: Origin, where: str) -> tuple[Modifier, ...]:
        """``select``'s modifiers for one write, values computed and checked for ``tensor``."""
        if not select.then:
            return ()
        built = []
        for number, (entry, known) in enumerate(zip(select.then, select.modifiers)):
            # The compiler notes a modifier's arguments as `then[k].<name>`.
            argument = next((f"then[{number}].{k}" for k in entry if k != "op"), None)
            try:
                modifier = build_modifier(concrete(known, context)) \
                    if isinstance(known, Computed) else known
            except InitError as error:
                error.argument = argument
                raise self.placed(error, origin, where) from None
            problem = modifier.check(tuple(tensor.shape)) if tensor is not None else None
            if problem:
                raise self.placed(InitValueError(problem, argument=argument, code="E122"),
                                  origin, where) from None
            built.append(modifier)
        return tuple(built)

    def plan_modules(self, select: SelectInit, module: nn.Module, path: str, origin: Origin
                     ) -> list[Step]:
        """Steps of a ``Select`` without ``params``: whole modules, by class names and patterns."""
        matched = self._matched(module, path, select.layer, origin, patterns=True)
        return self._whole_modules(matched, module, origin, select.init, select.computed, select)

    def _whole_modules(self, matched: list[tuple[str, nn.Module]], module: nn.Module,
                       origin: Origin, initializer: BaseInit | None, computed: Computed | None,
                       select: SelectInit | None) -> list[Step]:
        """Steps writing each matched module's weight and bias: with ``initializer``, or
        built for each module from ``computed``; then ``select``'s modifiers, if any."""
        steps: list[Step] = []
        resolved: dict[tuple, Distribution] = {}
        filled: set[torch.dtype] = set()
        record = None if initializer is None else _record(select or initializer, origin)
        root = self.root if self.root is not None else module
        for sub_path, sub in matched:
            where = f"{sub_path or '<root>'} ({type(sub).__name__})"
            weight = getattr(sub, "weight", None)
            context = Context(root, sub, weight if isinstance(weight, Tensor) else None)
            if initializer is None:
                assert computed is not None
                built, built_record = self._concrete(computed, context, origin, where)
                if select is not None:
                    built_record = _record(select, origin, computed, built)
                step = self._module_write(built, built_record, sub_path, sub, origin, {}, set())
            else:
                assert record is not None
                step = self._module_write(initializer, record, sub_path, sub, origin, resolved,
                                          filled)
            if step is not None and select is not None and select.then:
                then = self._modifiers(select, context, context.tensor, origin, where)
                step = attrs.evolve(step, then=then, record=_then_record(step.record, then))
            if step is not None:
                steps.append(step)
        return steps

    def _weight(self, initializer: BaseInit, tensor: Tensor, where: str, origin: Origin,
                resolved: dict[tuple, Distribution]) -> Distribution:
        """What ``initializer`` draws for ``tensor`` (one resolution per shape and dtype)."""
        problem = initializer.check_weight(tensor)
        if problem:
            raise InitValueError(f"{problem} at {where}", where=str(origin), code="E240",
                                 span=origin.source)
        key = (tuple(tensor.shape), tensor.dtype)
        dist = resolved.get(key)
        if dist is None:
            try:
                dist = resolved[key] = resolve(initializer, tensor)
            except InitError as error:
                raise self.placed(error, origin, where) from None
        return dist

    def _plan_call(self, initializer: Any, module: nn.Module, path: str, origin: Origin,
                   whole: bool) -> Call:
        """A callable initializer (mmengine-style: ``initializer(module)``) as a user-code step."""
        label = (WEIGHT_INITIALIZERS.name_of(type(initializer))
                 if isinstance(initializer, BaseInit) else type(initializer).__name__)
        if not callable(initializer):
            raise InitTypeError(
                f"the cfg's type built {shown(initializer)} ({type(initializer).__name__}), which is "
                "not an initializer: neither a BaseInit nor callable on a module",
                where=str(origin))
        if hasattr(initializer, "__dict__"):
            initializer.wholemodule = whole  # as mmengine sets it for overrides
        record = Record(writer=label, origin=origin, text=label)
        return Call(module, path, lambda: initializer(module), record)

    def plan_load(self, initializer: PretrainedInit, module: nn.Module, path: str,
                  origin: Origin) -> Load:
        """The step that loads ``initializer``'s checkpoint into ``module``."""
        key = (initializer.checkpoint, repr(initializer.map_location), initializer.weights_only)
        try:
            check_map_location(initializer.map_location)
            if key not in self._checkpoints:
                self._checkpoints[key] = read_checkpoint(
                    initializer.checkpoint, initializer.map_location, initializer.weights_only
                )
            state_dict = select_state_dict(
                self._checkpoints[key], initializer.prefix, initializer.checkpoint
            )
            check_tensors(state_dict, initializer.checkpoint)
        except InitError as error:
            if error.code is not None:
                raise self.placed(error, origin) from None
            raise error.located(str(origin), origin.source) from None
        record = Record(writer="Pretrained", args=initializer.args, origin=origin,
                        text=described(initializer))
        return Load(module, path, initializer, state_dict, record)

    # -- BaseModule.init_weights ----------------------------------------------------------

    def init_weights(self, module: nn.Module, path: str) -> Block:
        """The :class:`Block` ``module.init_weights()`` runs (mmengine's three phases).

        Nested ``init_weights`` are expanded with an explicit stack, so a chain
        of modules of any depth plans without recursion.
        """
        if getattr(module, "is_init", False):
            return Block(module, path, None)
        stack = [self._open(module, path, keep=True)]
        while True:
            frame = stack[-1]
            child = next(frame.children, None)
            if child is not None:
                opened = self._child(frame, *child)
                if opened is not None:
                    stack.append(opened)
                continue
            stack.pop()
            block = frame.close(self)
            if not stack:
                return block
            if frame.keep:
                stack[-1].steps.append(block)

    def _open(self, module: nn.Module, path: str, keep: bool) -> _Frame:
        """Phase 1 of ``module.init_weights()``: its own cfgs, Pretrained ones set aside."""
        cfg = self.scopes[path] if path in self.scopes else getattr(module, "init_cfg", None)
        frame = _Frame(module, path, keep, iter(list(module.named_children())))
        try:
            empty = not cfg
        except Exception:  # noqa: BLE001 - a tensor, or any object whose truth raises
            raise InitTypeError(f"init_cfg of {type(module).__name__} must be a dict or a list "
                                f"of dicts, got {shown(cfg)}", where=_where(path, None)) from None
        if empty:
            return frame
        if isinstance(cfg, dict):
            cfgs = [cfg]
        else:
            # mmengine iterates any other init_cfg (a tuple of dicts works;
            # a string fails the per-entry dict check below).
            try:
                cfgs = list(cfg)
            except TypeError:
                raise InitTypeError(
                    f"init_cfg of {type(module).__name__} must be a dict or a list of "
                    f"dicts, got {shown(cfg)}", where=_where(path, None)) from None
        indexed = not isinstance(cfg, dict)
        for index, entry in enumerate(cfgs):
            where = _where(path, index if indexed else None)
            if not isinstance(entry, dict):
                raise InitAssertionError(f"init_cfg entries must be dicts, got {shown(entry)}",
                                         where=where)
            if "type" not in entry:
                raise InitKeyError(f"init_cfg entry has no 'type': {shown(entry)}", where=where)
        for index, entry in enumerate(cfgs):
            position = index if indexed else None
            kind = entry["type"]
            # mmengine defers `type="Pretrained"` and its PretrainedInit class (ours or its own).
            if kind == "Pretrained" or kind is PretrainedInit or (
                    not isinstance(kind, str)
                    and WEIGHT_INITIALIZERS.registered_name(kind) == "Pretrained"):
                frame.deferred.append((position, entry))
            else:
                frame.steps.extend(self._cfg(module, path, entry, path, position))
        return frame

    def _child(self, frame: _Frame, name: str, child: nn.Module) -> _Frame | None:
        """Phase 2 for one child: a step of ``frame``, or a frame to expand first."""
        if isinstance(child, _WRAPPERS) and not hasattr(child, "init_weights"):
            child = child.module
        child_path = _join(frame.path, name)
        if child_path in self._on_scope_paths and not takes_init_cfg(child):
            # A policy scope makes a plain module act as a BaseModule (the
            # scope replaces any init_weights method it has), and so do
            # the plain modules on the way to it, so the chain reaches it.
            return self._nested(frame, child, child_path, keep=True)
        if has_own_init_weights(child):
            _check_no_arguments(child, child_path)
            label = f"{type(child).__name__}.init_weights"
            text = f"Initialized by user-defined `init_weights` in {type(child).__name__} "
            record = Record(writer=label, origin=Origin(child_path, via="init_weights"), text=text)
            frame.steps.append(Call(child, child_path, child.init_weights, record, chained=True))
            if takes_init_cfg(child) and not child.is_init:
                # Its init_weights is user code, but what it chains into
                # is ours: check those configurations now, before writing.
                return self._open(child, child_path, keep=False)
            return None
        if takes_init_cfg(child):
            return self._nested(frame, child, child_path, keep=True)
        return None

    def _nested(self, frame: _Frame, child: nn.Module, path: str, keep: bool) -> _Frame | None:
        if getattr(child, "is_init", False):
            frame.steps.append(Block(child, path, None))
            return None
        return self._open(child, path, keep)


class _Frame:
    """One ``init_weights`` being expanded: its steps so far, its children still to visit."""

    def __init__(self, module: nn.Module, path: str, keep: bool,
                 children: Iterator[tuple[str, nn.Module]]) -> None:
        self.module = module
        self.path = path
        self.keep = keep  # False: planned only to validate what user code chains into
        self.children = children
        self.steps: list[Step] = []
        self.deferred: list[tuple[int | None, dict]] = []

    def close(self, planner: Planner) -> Block:
        """Phase 3 (the Pretrained cfgs), and the finished block."""
        for position, entry in self.deferred:
            self.steps.extend(planner._cfg(self.module, self.path, entry, self.path, position))
        return Block(self.module, self.path, tuple(self.steps))


def _check_scopes(root: nn.Module | None, scopes: Mapping[str, Any]) -> None:
    """Every scope names a module of ``root`` (as ``E170`` checks a policy's scopes)."""
    for path in scopes:
        if not isinstance(path, str):
            raise InitTypeError(f"the module paths of a scoped init_cfg are strings, got "
                                f"{shown(path)} ({type(path).__name__})")
        if path and not all(path.split(".")):
            raise InitValueError(f"invalid module path {shown(path)} in a scoped init_cfg: names "
                                 "are non-empty and separated by single dots")
    if root is None:
        return
    modules: dict[str, nn.Module] | None = None
    for path in scopes:
        if not path:
            continue
        try:
            root.get_submodule(path)
            continue
        except AttributeError:
            pass
        if modules is None:
            modules = dict(named_modules(root))
        raise InitValueError(f"scoped init_cfg: {missing_submodule(modules, path)}",
                             where=f"init_cfg of {shown(path)}")


_USER_ERRORS = (
    (ZeroDivisionError, InitZeroDivisionError),
    (KeyError, InitKeyError),
    (AssertionError, InitAssertionError),
    (AttributeError, InitAttributeError),
    (TypeError, InitTypeError),
    (ValueError, InitValueError),
    (RuntimeError, InitRuntimeError),
)


def _copied(cfg: dict, where: str) -> dict:
    """``copy.deepcopy(cfg)``, as mmengine copies each cfg before popping from it.

    A value Python cannot copy (a generator, a lock) or nests past the
    recursion limit is this cfg's error, not a ``TypeError`` from ``copy``.
    """
    try:
        return copy.deepcopy(cfg)
    except RecursionError:
        raise InitValueError("the cfg nests too deep to copy", where=where) from None
    except Exception as error:  # noqa: BLE001 - copy raises whatever __deepcopy__ raises
        raise InitTypeError(f"the cfg holds a value that cannot be copied "
                            f"({type(error).__name__}: {shown(str(error))})",
                            where=where) from None


def _not_a_dict(what: str, value: Any, where: str) -> InitError:
    """mmengine calls ``value.pop(key, None)`` on it: TypeError if it has a ``pop``
    (a list), AttributeError otherwise (a string)."""
    error = InitTypeError if hasattr(value, "pop") else InitAttributeError
    return error(f"{what} must be a dict, got {shown(value)}", where=where)


def _check_no_arguments(child: nn.Module, path: str) -> None:
    """A chained ``init_weights`` is called without arguments; fail before writing if it can't be."""
    try:
        signature = inspect.signature(child.init_weights)
    except (TypeError, ValueError):
        return
    try:
        signature.bind()
    except TypeError as error:
        raise InitTypeError(
            f"{type(child).__name__}.init_weights{signature} is called by its parent with no "
            f"arguments ({error}); give its parameters defaults",
            where=f"init_weights of {shown(path)}",
        ) from None

