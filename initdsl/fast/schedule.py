"""A plan as data: the writes each tensor receives, resolved without touching data.

The core's :class:`~initdsl.core.planner.Planner` resolves a configuration into
nested steps (``Block`` / ``Write`` / ``Load`` / ``Call``) that
:mod:`initdsl.core.executor` carries out one by one. This module flattens those
steps, in execution order, into one :class:`Target` per tensor of the model
(parameters and buffers) holding every write the run makes to it:

* a :class:`Draw` — a rule's initializer, resolved into the exact
  distribution it draws from for that tensor's full shape
  (resolved and checked by the planner, :func:`initdsl.core.distributions.resolve`), or the
  constant a bias gets;
* a :class:`Copy` — a checkpoint tensor a ``Pretrained`` load copies in,
  matched by key and shape exactly as ``nn.Module._load_from_state_dict``
  does (missing, unexpected and mismatched keys included);
* an :class:`Opaque` write — user code (a module's own ``init_weights``, a
  callable initializer) or a load through a module with custom loading
  code, which may write the tensor but cannot be planned.

The last write is the tensor's *final writer*; every earlier write is
overwritten and fast mode skips it. Opaque steps split the run into
:class:`Segment` s separated by :class:`Barrier` s: user code sees the model
as exact mode would have left it at that point, so fast mode writes each
segment's final values before running it.

Only shapes are read, so a model built under ``torch.device("meta")`` plans
like any other. Planning validates everything the core validates (and reads
every checkpoint, memory-mapped); :func:`plan` raises before anything could
be written.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Union

import attrs
import torch
from torch import Tensor, nn

from ..collector import no_gc
from ..core.checkpoint import LoadReport
from ..core.distributions import Constant, Distribution, TruncNormal
from ..core.initializers import KeepInit
from ..core.planner import Block, Call, Load, Planner, Step, Write
from ..core.protocol import has_own_init_weights, takes_init_cfg
from ..core.provenance import UNWRITTEN, Origin, Record
from ..core.walk import named_buffers, named_modules, named_parameters
from ..language.binding import PolicyLike, compile_for, reported_at

__all__ = [
    "Draw",
    "Copy",
    "Opaque",
    "Target",
    "Segment",
    "Barrier",
    "Schedule",
    "plan",
]

logger = logging.getLogger("initdsl")

_WRAPPERS = (nn.DataParallel, nn.parallel.DistributedDataParallel)

#: ``_load_from_state_dict`` implementations whose effect the planner reproduces:
#: torch's own, and the batch norms' (it only fills in a missing
#: ``num_batches_tracked``, which is never reported as loaded).
_STANDARD_LOADERS = frozenset({
    nn.Module._load_from_state_dict,
    nn.modules.batchnorm._NormBase._load_from_state_dict,
})


# -- writes ---------------------------------------------------------------------------------


@attrs.frozen(eq=False)
class Draw:
    """A rule writes the tensor with ``dist`` (a random draw or a constant).

    ``module`` is the qualified name of the module whose ``weight`` or
    ``bias`` (``role``) it is; ``record`` is the provenance the write leaves.
    """

    dist: Distribution
    record: Record
    module: str
    role: str
    then: tuple[Any, ...] = ()  # modifiers applied to the whole tensor after the draw

    @property
    def kind(self) -> str:
        return "init"

    def describe(self) -> str:
        return f"{self.record.writer} → {self.dist.describe()}"


@attrs.frozen(eq=False)
class Copy:
    """A ``Pretrained`` load copies ``source`` (a checkpoint tensor, usually memory-mapped).

    ``key`` is the key in the selected state dict (relative to ``module``,
    the module the load runs on, prefix removed). ``source`` already has
    the tensor's shape (torch's 1-element-into-0-dim case is indexed).
    """

    source: Tensor
    key: str
    checkpoint: str
    record: Record
    module: str

    @property
    def kind(self) -> str:
        return "load"

    def describe(self) -> str:
        return f"Pretrained → {self.checkpoint}:{self.key}"


@attrs.frozen(eq=False)
class Opaque:
    """A step that may write the tensor but cannot be planned (user code, custom loading)."""

    label: str
    record: Record
    module: str

    @property
    def kind(self) -> str:
        return "user"

    def describe(self) -> str:
        return f"{self.label} (user code, may write)"


WriteOp = Union[Draw, Copy, Opaque]


@attrs.define(eq=False)
class Target:
    """One tensor of the model and every write the run makes to it, in order.

    Attributes:
        name: its name in ``model.named_parameters()`` / ``named_buffers()``
            (the first of its ``aliases`` in registration order): what
            provenance and messages use.
        key: the name its random streams are keyed by — the smallest alias,
            so that a tied tensor draws the same values whatever the
            registration order.
        aliases: every qualified name it is reachable under (tied weights,
            shared modules).
        kind: ``"parameter"`` or ``"buffer"``; ``persistent`` is false for
            non-persistent buffers.
        tensor: the model's tensor when planned (a meta tensor for a model
            built on meta).
        owner: the qualified name of the module that holds it under ``name``.
        slots: ``(module, attribute)`` pairs that hold it, for reallocation.
        writes: every write, in execution order.
    """

    name: str
    key: str
    aliases: tuple[str, ...]
    kind: str
    persistent: bool
    tensor: Tensor
    owner: str = ""
    slots: list[tuple[nn.Module, str]] = attrs.field(factory=list, repr=False)
    writes: list[WriteOp] = attrs.field(factory=list, repr=False)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.tensor.shape)

    @property
    def dtype(self) -> torch.dtype:
        return self.tensor.dtype

    @property
    def numel(self) -> int:
        return self.tensor.numel()

    @property
    def final(self) -> WriteOp | None:
        """The last write (possibly user code), or ``None`` if nothing writes the tensor."""
        return self.writes[-1] if self.writes else None

    @property
    def record(self) -> Record:
        """The provenance the final writer leaves (``writer=None`` if nothing writes it)."""
        final = self.final
        return UNWRITTEN if final is None else final.record

    @property
    def final_planned(self) -> Draw | Copy | None:
        """The last write that is planned (not user code): what fast mode writes last."""
        for write in reversed(self.writes):
            if not isinstance(write, Opaque):
                return write
        return None

    @property
    def skipped(self) -> int:
        """Planned writes that a later planned write overwrites (fast mode skips them,
        except where user code runs between the two)."""
        planned = sum(not isinstance(w, Opaque) for w in self.writes)
        return max(planned - 1, 0)

    @property
    def status(self) -> str:
        """``"written"``, ``"loaded"``, ``"user"`` or ``"unwritten"``, by the final writer."""
        final = self.final
        return "unwritten" if final is None else {"init": "written", "load": "loaded",
                                                   "user": "user"}[final.kind]

    def to_dict(self) -> dict[str, Any]:
        final = self.final
        return {
            "name": self.name,
            "kind": self.kind,
            "shape": list(self.shape),
            "dtype": str(self.dtype).removeprefix("torch."),
            "status": self.status,
            "writer": None if final is None else final.describe(),
            "record": None if final is None else final.record.to_dict(),
            "writes": len(self.writes),
            "skipped": self.skipped,
        }


@attrs.frozen(eq=False)
class Segment:
    """Planned writes between two barriers: each tensor's last write in the segment.

    ``loads`` are the static reports of the loads in the segment (with the
    module each ran on); ``finished`` the ``BaseModule`` s whose
    ``init_weights`` completes in it (they become ``is_init``).
    """

    writes: tuple[tuple[Target, Draw | Copy], ...]
    loads: tuple[tuple[nn.Module, LoadReport, Any], ...]
    finished: tuple[nn.Module, ...]
    overwritten: int


@attrs.frozen(eq=False)
class Barrier:
    """A step run as in exact mode: user code (``Call``) or a load through custom loading code."""

    step: Call | Load


Phase = Union[Segment, Barrier]


class Schedule:
    """What a run writes to each tensor of ``model``, and in which phases.

    Index it by a tensor's name (any alias) for its :class:`Target`;
    iterate it for the targets in ``named_parameters()`` then
    ``named_buffers()`` order. ``phases`` is what the fast executor runs:
    :class:`Segment` s of planned writes and :class:`Barrier` s. ``loads``
    are the static reports of every planned load (what exact mode's
    ``provenance(model).loads`` would report).
    """

    def __init__(self, model: nn.Module, targets: list[Target], phases: list[Phase],
                 loads: list[LoadReport], planner: Planner, *, user_root: bool = False,
                 repeated: bool = False) -> None:
        self.model = model
        self.targets = tuple(targets)
        self.phases = tuple(phases)
        self.loads = tuple(loads)
        self.planner = planner
        #: the model's own ``init_weights`` is user code: the whole run is one barrier
        self.user_root = user_root
        #: the root was already ``is_init``: the run only warns and writes nothing
        self.repeated = repeated
        self._by_name = {alias: t for t in self.targets for alias in t.aliases}

    def __getitem__(self, name: str) -> Target:
        return self._by_name[name]

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[Target]:
        return iter(self.targets)

    def __len__(self) -> int:
        return len(self.targets)

    @property
    def parameters(self) -> tuple[Target, ...]:
        return tuple(t for t in self.targets if t.kind == "parameter")

    @property
    def barriers(self) -> tuple[Barrier, ...]:
        return tuple(p for p in self.phases if isinstance(p, Barrier))

    def writer(self, name: str) -> WriteOp | None:
        """The final writer of tensor ``name`` (``None``: nothing writes it)."""
        return self[name].final

    def unwritten(self, kind: str | None = None) -> list[str]:
        """Names of tensors no step writes (of one ``kind`` if given)."""
        return [t.name for t in self.targets
                if not t.writes and (kind is None or t.kind == kind)]

    def summary(self) -> dict[str, int]:
        """Counts of tensors by status, of writes planned and skipped, of values drawn and loaded."""
        counts = {"tensors": len(self.targets), "written": 0, "loaded": 0, "user": 0,
                  "unwritten": 0}
        for target in self.targets:
            counts[target.status] += 1
        counts["writes"] = sum(len(t.writes) for t in self.targets)
        counts["skipped"] = sum(p.overwritten for p in self.phases if isinstance(p, Segment))
        counts["barriers"] = len(self.barriers)
        drawn = loaded = 0
        for phase in self.phases:
            if isinstance(phase, Segment):
                for target, write in phase.writes:
                    if isinstance(write, Copy):
                        loaded += target.numel
                    elif write.dist.random:
                        drawn += target.numel
        counts["values_drawn"] = drawn
        counts["values_loaded"] = loaded
        return counts

    def explain(self, kind: str | None = "parameter") -> str:
        """A text table: each tensor, its shape, its final writer and where that rule is."""
        rows = [("tensor", "shape", "final writer", "rule", "overwritten")]
        for target in self.targets:
            if kind is not None and target.kind != kind:
                continue
            final = target.final
            origin = None if final is None else final.record.origin
            rows.append((target.name, "x".join(map(str, target.shape)) or "scalar",
                         "-" if final is None else final.describe(),
                         "" if origin is None else str(origin), str(target.skipped)))
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
                         for row in rows)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": type(self.model).__name__,
            "tensors": [t.to_dict() for t in self.targets],
            "loads": [report.to_dict() for report in self.loads],
            "summary": self.summary(),
        }

    def __repr__(self) -> str:
        s = self.summary()
        return (f"<Schedule {type(self.model).__name__}: {s['tensors']} tensors, "
                f"{s['written']} written, {s['loaded']} loaded, {s['user']} user, "
                f"{s['unwritten']} unwritten; {s['skipped']} writes skipped, "
                f"{s['barriers']} barriers>")


def plan(model: nn.Module, policy: PolicyLike = None, *, filename: str | None = None
         ) -> Schedule:
    """Resolve ``policy`` against ``model`` into the writes each tensor receives.

    Nothing is written and no tensor data is read, so ``model`` may be built
    on the meta device; checkpoints are read memory-mapped, for their keys
    and shapes. Everything a run would reject is rejected here, with the
    exception the run would raise (:class:`~initdsl.InitError`,
    :class:`~initdsl.PolicyError`).

    Args:
        model: the model to plan for.
        policy: policy text, a parsed or compiled policy, an ``init_cfg``
            (list or dict) for the root, a ``{path: init_cfg}`` dict, or
            ``None`` for the model's own ``init_cfg`` s (see
            :func:`~initdsl.language.binding.compile_for`).
        filename: the file name policy text came from (for positions).

    Example:
        >>> with torch.device("meta"):
        ...     model = zoo.resnet50()
        >>> schedule = initdsl.plan(model, "Conv2d -> kaiming\\n_BatchNorm -> constant(1)")
        >>> schedule["conv1.weight"].final.dist  # Kaiming: fan_out = 64 * 7 * 7
        Normal(mean=0.0, std=0.02525381361380527)
    """
    with no_gc():
        return _plan(model, policy, filename)


def _plan(model: nn.Module, policy: PolicyLike, filename: str | None) -> Schedule:
    compiled = compile_for(model, policy, filename)
    with reported_at(compiled):
        return _plan_compiled(model, Planner(model, compiled.scopes, compiled.source_of))


def _plan_compiled(model: nn.Module, planner: Planner) -> Schedule:
    flattener = _Flattener(model)
    if takes_init_cfg(model) and has_own_init_weights(model):
        # run_scoped hands the whole run to the model's own init_weights. Plan
        # what its super().init_weights() would run anyway, to validate it now.
        planner.init_weights(model, "")
        name = type(model).__name__
        record = Record(writer=f"{name}.init_weights", origin=Origin("", via="init_weights"),
                        text=f"Initialized by user-defined `init_weights` in {name} ")
        flattener.call(Call(model, "", model.init_weights, record))
        return flattener.schedule(planner, user_root=True)
    block = planner.init_weights(model, "")
    if block.steps is None:
        return flattener.schedule(planner, repeated=True)
    flattener.steps([block])
    return flattener.schedule(planner)


# -- flattening -----------------------------------------------------------------------------


class _Flattener:
    """Walks planned steps in execution order and appends each tensor's writes."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.by_id: dict[int, Target] = {}
        self.targets: list[Target] = []
        self._index(model)
        self.phases: list[Phase] = []
        self.loads: list[LoadReport] = []
        self.done: set[int] = set()
        self._reset_segment()

    def _index(self, model: nn.Module) -> None:
        params: list[Target] = []
        buffers: list[Target] = []
        for path, module in named_modules(model, remove_duplicate=False):
            non_persistent = module._non_persistent_buffers_set
            for kind, table, out in (("parameter", module._parameters, params),
                                     ("buffer", module._buffers, buffers)):
                for attr, tensor in table.items():
                    if tensor is None:
                        continue
                    name = f"{path}.{attr}" if path else attr
                    target = self.by_id.get(id(tensor))
                    if target is None:
                        target = Target(name, name, (name,), kind,
                                        kind == "parameter" or attr not in non_persistent, tensor,
                                        path)
                        self.by_id[id(tensor)] = target
                        out.append(target)
                    elif name not in target.aliases:
                        target.aliases += (name,)
                        target.key = min(target.key, name)
                    target.slots.append((module, attr))
        self.targets = params + buffers

    def _reset_segment(self) -> None:
        self.pending: dict[int, tuple[Target, Draw | Copy]] = {}
        self.segment_loads: list[tuple[nn.Module, LoadReport, Any]] = []
        self.finished: list[nn.Module] = []
        self.overwritten = 0

    def _flush(self) -> None:
        if self.pending or self.segment_loads or self.finished:
            self.phases.append(Segment(tuple(self.pending.values()), tuple(self.segment_loads),
                                       tuple(self.finished), self.overwritten))
        self._reset_segment()

    def schedule(self, planner: Planner, **flags: bool) -> Schedule:
        self._flush()
        return Schedule(self.model, self.targets, self.phases, self.loads, planner, **flags)

    def target(self, tensor: Tensor, path: str, attr: str) -> Target:
        target = self.by_id.get(id(tensor))
        if target is None:
            # Not a parameter or buffer of the model (a computed weight, e.g. a
            # parametrization): exact mode writes it all the same, so do we.
            name = f"{path}.{attr}" if path else attr
            target = Target(name, name, (name,), "detached", False, tensor)
            self.by_id[id(tensor)] = target
        return target

    def add(self, target: Target, write: Draw | Copy) -> None:
        target.writes.append(write)
        if id(target.tensor) in self.pending:
            self.overwritten += 1
        self.pending[id(target.tensor)] = (target, write)

    # -- steps --

    def steps(self, steps: Iterable[Step]) -> None:
        """Flatten ``steps`` in execution order; nested blocks with an explicit stack."""
        stack: list[tuple[Iterator[Step], nn.Module | None]] = [(iter(steps), None)]
        while stack:
            pending, owner = stack[-1]
            step = next(pending, None)
            if step is None:
                stack.pop()
                if owner is not None and takes_init_cfg(owner):
                    self.done.add(id(owner))
                    self.finished.append(owner)
                continue
            kind = type(step)
            if kind is Write:
                self.write(step)
            elif kind is Block:
                # The executor skips a block whose module is (by then) initialized: a
                # module registered under two parents runs once.
                if step.steps is not None and id(step.module) not in self.done:
                    stack.append((iter(step.steps), step.module))
            elif kind is Load:
                self.load(step)
            else:
                self.call(step)

    def write(self, step: Write) -> None:
        module, initializer, record = step.module, step.initializer, step.record
        if isinstance(initializer, KeepInit):
            return  # nothing to draw: the constructor's values stay
        weight = getattr(module, step.tensor, None)
        if weight is not None:
            dist = step.weight
            if isinstance(dist, TruncNormal) and _far_from_bounds(dist):
                # the same warning trunc_normal_ gives in exact mode
                warnings.warn("mean is more than 2 std from [a, b] in nn.init.trunc_normal_. "
                              "The distribution of values may be incorrect.", stacklevel=2)
            self.add(self.target(weight, step.path, step.tensor),
                     Draw(dist, record, step.path, step.tensor, step.then))
        bias = getattr(module, "bias", None) if step.writes_bias else None
        if bias is not None:
            self.add(self.target(bias, step.path, "bias"),
                     Draw(Constant(initializer.bias), record, step.path, "bias"))

    def call(self, step: Call) -> None:
        module = step.module
        if step.chained and (getattr(module, "is_init", False) or id(module) in self.done):
            return
        self.barrier(step, step.record.writer or "user code")
        if step.chained and takes_init_cfg(module):
            self.done.add(id(module))

    def barrier(self, step: Call | Load, label: str) -> None:
        self._flush()
        self.phases.append(Barrier(step))
        write = Opaque(label, step.record, step.path)
        seen: set[int] = set()
        for tensor in (*(t for _, t in named_parameters(step.module)),
                       *(t for _, t in named_buffers(step.module))):
            if id(tensor) not in seen:
                seen.add(id(tensor))
                self.target(tensor, step.path, "?").writes.append(write)

    def load(self, step: Load) -> None:
        resolved = _resolve_load(step)
        if resolved is None:
            self.barrier(step, f"Pretrained {step.initializer.checkpoint} (custom loading code)")
            return
        copies, report = resolved
        for tensor, key, source in copies:
            self.add(self.target(tensor, step.path, key),
                     Copy(source, key, step.initializer.checkpoint, step.record, step.path))
        self.loads.append(report)
        self.segment_loads.append((step.module, report, step.initializer))


def _far_from_bounds(dist: TruncNormal) -> bool:
    return dist.mean < dist.a - 2 * dist.std or dist.mean > dist.b + 2 * dist.std


# -- loads, statically ----------------------------------------------------------------------


def _plannable(module: nn.Module) -> bool:
    """Whether loading into ``module`` itself runs only torch's standard loading code."""
    cls = type(module)
    if cls._load_from_state_dict not in _STANDARD_LOADERS:
        return False
    hooks = (*module._load_state_dict_pre_hooks.values(),
             *module._load_state_dict_post_hooks.values())
    if not all(_is_fsdp_hook(hook) for hook in hooks):
        return False
    if getattr(cls, "set_extra_state", nn.Module.set_extra_state) is not nn.Module.set_extra_state:
        return False
    return not any(p is not None and nn.parameter.is_lazy(p) for p in module._parameters.values())


def _is_fsdp_hook(hook: Any) -> bool:
    """FSDP2's own post-load hook (it re-points the sharded parameter at the loaded local
    data): a planned copy into the shard does what it would, so it does not stop planning."""
    hook = getattr(hook, "hook", hook)  # torch wraps some hooks in a _WrappedHook
    return getattr(hook, "__module__", "").startswith("torch.distributed.fsdp.")


def _resolve_load(step: Load) -> tuple[list[tuple[Tensor, str, Tensor]], LoadReport] | None:
    """What ``load_state_dict(step.module, step.state_dict)`` (the core's) would copy.

    Returns ``(tensor, key, source)`` for every tensor it copies and the
    :class:`~initdsl.LoadReport` it would produce, reproducing
    ``nn.Module._load_from_state_dict`` with ``strict=True`` bookkeeping (as
    the core calls it) module by module, in one walk; ``None`` when a module
    below has its own loading code, hooks or extra state (the load is then
    run as it is, as a barrier).
    """
    module, state_dict = step.module, step.state_dict
    copies: list[tuple[Tensor, str, Tensor]] = []
    missing: list[str] = []
    unexpected: list[str] = []
    messages: list[str] = []
    # The core's LoadReport lists names as module.named_parameters() and
    # named_buffers() give them: collected on the same (pre-order) walk.
    params: dict[str, Tensor] = {}
    buffers: dict[str, Tensor] = {}
    seen_modules: set[int] = set()
    seen_tensors: set[int] = set()

    # torch's _load_from_state_dict, module by module (pre-order, any depth).
    stack: list[tuple[nn.Module, Mapping[str, Any], str]] = [(module, state_dict, "")]
    while stack:
        target, local, prefix = stack.pop()
        if isinstance(target, _WRAPPERS):
            target = target.module
        if not _plannable(target):
            return None
        if id(target) not in seen_modules:
            seen_modules.add(id(target))
            for table, out in ((target._parameters, params), (target._buffers, buffers)):
                for name, tensor in table.items():
                    if tensor is not None and id(tensor) not in seen_tensors:
                        seen_tensors.add(id(tensor))
                        out[prefix + name] = tensor
        non_persistent = target._non_persistent_buffers_set
        local_state = {k: v for k, v in target._parameters.items() if v is not None}
        local_state.update((k, v) for k, v in target._buffers.items()
                           if v is not None and k not in non_persistent)
        for name, tensor in local_state.items():
            key = prefix + name
            if key not in local:
                missing.append(key)
                continue
            value = local[key]
            if not torch.overrides.is_tensor_like(value):
                messages.append(
                    f'While copying the parameter named "{key}", expected torch.Tensor or '
                    f"Tensor-like object from checkpoint but received {type(value)}")
                continue
            if tensor.dim() == 0 and value.dim() == 1 and value.shape[0] == 1:
                value = value[0]  # torch's backward compatibility with 0.3 checkpoints
            if value.shape != tensor.shape:
                messages.append(
                    f"size mismatch for {key}: copying a param with shape {value.shape} from "
                    f"checkpoint, the shape in current model is {tensor.shape}.")
                continue
            copies.append((tensor, key, value))
        extra_state_key = prefix + "_extra_state"
        children: dict[str, dict[str, Any]] = {}
        for key, value in local.items():
            if key == extra_state_key:
                unexpected.append(key)  # no module here takes extra state (else unplannable)
                continue
            head, dot, _ = key[len(prefix):].partition(".")
            if dot:
                if head not in target._modules:
                    unexpected.append(key)
                children.setdefault(head, {})[key] = value
            elif head not in local_state:
                unexpected.append(key)
        stack.extend(reversed([(child, children.get(name, {}), f"{prefix}{name}.")
                               for name, child in target._modules.items() if child is not None]))

    # As the core reports: the batch norms fill in a missing num_batches_tracked.
    missing = [k for k in missing if "num_batches_tracked" not in k]
    copied = {id(tensor) for tensor, _, _ in copies}
    named = {**params, **buffers}
    loaded = tuple(name for name, t in named.items() if id(t) in copied and name in state_dict)
    mismatched = tuple(
        (k, tuple(v.shape), tuple(named[k].shape))
        for k, v in state_dict.items()
        if k in named and isinstance(v, Tensor) and tuple(v.shape) != tuple(named[k].shape)
        and not (v.dim() == 1 and v.numel() == 1 and named[k].dim() == 0)
    )
    initializer = step.initializer
    report = LoadReport(checkpoint=initializer.checkpoint, prefix=initializer.prefix,
                        module=step.path, loaded=loaded, missing=tuple(missing),
                        unexpected=tuple(unexpected), mismatched=mismatched,
                        messages=tuple(messages))
    return copies, report


def mismatch_warning(report: LoadReport) -> str | None:
    """The WARNING text the core logs for a load that did not match exactly (or ``None``)."""
    parts = list(report.messages)
    if report.unexpected:
        parts.append(f"unexpected key in source state_dict: {', '.join(report.unexpected)}\n")
    if report.missing:
        parts.append(f"missing keys in source state_dict: {', '.join(report.missing)}\n")
    if not parts:
        return None
    parts.insert(0, "The model and loaded state dict do not match exactly\n")
    return "\n".join(parts)
