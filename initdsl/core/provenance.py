"""Exact per-parameter provenance: which initializer last wrote each tensor.

Every write initdsl makes is recorded directly in a ledger keyed by tensor
identity (weakly: records die with their tensors). Writes made by user code
(a custom ``init_weights``) are detected from tensor version counters and
in-place operations and attributed to that code. Nothing here reads tensor
data, so provenance costs O(1) per write.
"""

from __future__ import annotations

import json
import logging
import weakref
from collections.abc import Iterator, Mapping
from typing import Any

import attrs
from torch import Tensor, nn

from .checkpoint import LoadReport
from .walk import named_modules, named_parameters

__all__ = ["Origin", "Record", "Provenance", "provenance", "UNWRITTEN"]

logger = logging.getLogger("initdsl")


@attrs.frozen
class Origin:
    """Where a rule came from.

    ``owner`` is the qualified name of the module whose ``init_cfg`` (or
    ``initialize`` call) holds the rule, ``index`` its position in that list
    and ``override`` its position in the rule's ``override`` list. ``source``
    is set when the rule was written in a policy file (its ``path:line:col``).
    ``via`` is ``"init_cfg"`` for configuration rules and ``"init_weights"``
    for a user-defined ``init_weights`` method of ``owner``.
    """

    owner: str
    index: int | None = None
    override: int | None = None
    source: Any = None
    via: str = "init_cfg"

    def __str__(self) -> str:
        if self.source is not None:
            return str(self.source)
        where = self.via if self.index is None else f"{self.via}[{self.index}]"
        if self.override is not None:
            where += f".override[{self.override}]"
        return f"{where} of {self.owner!r}" if self.owner else where

    def to_dict(self) -> dict[str, Any]:
        return {
            "owner": self.owner,
            "index": self.index,
            "override": self.override,
            "source": None if self.source is None else str(self.source),
            "via": self.via,
        }


@attrs.frozen
class Record:
    """The last write to one tensor.

    Attributes:
        writer: registry name of the initializer (``"Kaiming"``,
            ``"Pretrained"``, …), ``"<Class>.init_weights"`` for a user-defined
            ``init_weights``, or ``None`` when nothing wrote the tensor.
        args: the initializer's resolved arguments under mmengine's names
            (defaults filled in, ``bias`` after ``bias_prob``).
        origin: the rule that caused the write, if any.
        text: the one-line description mmengine's init log would print.
    """

    writer: str | None
    args: Mapping[str, Any] = attrs.field(factory=dict)
    origin: Origin | None = None
    text: str = "not written by any initializer"

    def to_dict(self) -> dict[str, Any]:
        return {
            "writer": self.writer,
            "args": {k: jsonable(v) for k, v in self.args.items()},
            "origin": None if self.origin is None else self.origin.to_dict(),
            "text": self.text,
        }


UNWRITTEN = Record(writer=None)


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON data (non-finite floats and other objects as strings)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else str(value)
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return str(value)


class Ledger:
    """Tensor identity → (record, version after the write, logical time)."""

    def __init__(self) -> None:
        self._entries: dict[int, tuple[weakref.ref, Record, int, int]] = {}
        self._loads: weakref.WeakKeyDictionary[nn.Module, list[LoadReport]] = (
            weakref.WeakKeyDictionary()
        )
        self.clock = 0
        #: Bytes of the tensors written (each write counted): what progress output shows.
        self.written_bytes = 0

    def tick(self) -> int:
        self.clock += 1
        return self.clock

    def record(self, tensor: Tensor, record: Record) -> None:
        self.clock += 1
        self.written_bytes += tensor.nelement() * tensor.element_size()
        key = id(tensor)
        entry = self._entries.get(key)
        ref = entry[0] if entry is not None and entry[0]() is tensor else None
        if ref is None:
            ref = weakref.ref(tensor, lambda dead, key=key: self._forget(key, dead))
        self._entries[key] = (ref, record, tensor._version, self.clock)

    def _forget(self, key: int, dead: weakref.ref) -> None:
        entry = self._entries.get(key)
        if entry is not None and entry[0] is dead:
            del self._entries[key]

    def entry(self, tensor: Tensor) -> tuple[Record, int, int] | None:
        """``(record, version after the write, time)`` of ``tensor``'s last recorded write."""
        entry = self._entries.get(id(tensor))
        if entry is None or entry[0]() is not tensor:
            return None
        return entry[1], entry[2], entry[3]

    def get(self, tensor: Tensor) -> Record:
        entry = self.entry(tensor)
        return UNWRITTEN if entry is None else entry[0]

    def add_load(self, module: nn.Module, report: LoadReport) -> None:
        self._loads.setdefault(module, []).append(report)

    def loads(self, module: nn.Module) -> list[LoadReport]:
        return self._loads.get(module, [])


LEDGER = Ledger()


class Provenance(Mapping[str, Record]):
    """Read-only mapping: parameter name → :class:`Record` of its last write.

    ``loads`` lists the ``Pretrained`` loads into the model or its submodules
    with their missing, unexpected and mismatched keys.

    A tensor reachable under several names (tied weights: GPT-2's
    ``lm_head.weight`` is ``transformer.wte.weight``) is listed once, under
    its first name, as ``named_parameters()`` lists it; every other name
    answers too, with the same record, and :meth:`tied` names them all.
    """

    def __init__(self, records: dict[str, Record], shapes: dict[str, tuple[int, ...]],
                 loads: list[LoadReport], aliases: Mapping[str, str] | None = None,
                 ties: Mapping[str, tuple[str, ...]] | None = None) -> None:
        self._records = records
        self._shapes = shapes
        self._aliases = dict(aliases or {})  # other name -> the listed name
        self._ties = dict(ties or {})  # listed name -> every name of the tensor
        self.loads: tuple[LoadReport, ...] = tuple(loads)

    def __getitem__(self, name: str) -> Record:
        return self._records[self._aliases.get(name, name)]

    def __contains__(self, name: object) -> bool:
        return name in self._records or name in self._aliases

    def tied(self, name: str) -> tuple[str, ...]:
        """Every name of the tensor ``name`` is (one name: it is not tied)."""
        listed = self._aliases.get(name, name)
        if listed not in self._records:
            raise KeyError(name)
        return self._ties.get(listed, (listed,))

    def __iter__(self) -> Iterator[str]:
        return iter(self._records)

    def __len__(self) -> int:
        return len(self._records)

    def shape(self, name: str) -> tuple[int, ...]:
        return self._shapes[self._aliases.get(name, name)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "parameters": {
                name: {"shape": list(self._shapes[name]), **record.to_dict(),
                       **({"tied": list(self._ties[name])} if name in self._ties else {})}
                for name, record in self._records.items()
            },
            "loads": [report.to_dict() for report in self.loads],
        }

    def to_json(self, **kwargs: Any) -> str:
        """The provenance as JSON (``kwargs`` go to :func:`json.dumps`)."""
        return json.dumps(self.to_dict(), **kwargs)

    def __repr__(self) -> str:
        written = sum(r.writer is not None for r in self._records.values())
        return f"<Provenance: {written}/{len(self)} parameters written>"


def provenance(model: nn.Module) -> Provenance:
    """Who last wrote each parameter of ``model``, exactly.

    Valid after any initialization of ``model`` or of a module containing it
    (``initialize``, ``init_weights``, policies). Parameters nothing wrote
    have ``writer=None``. Names are relative to ``model``.
    """
    records: dict[str, Record] = {}
    shapes: dict[str, tuple[int, ...]] = {}
    listed: dict[int, str] = {}
    for name, param in named_parameters(model):
        records[name] = LEDGER.get(param)
        shapes[name] = tuple(param.shape)
        listed[id(param)] = name
    aliases: dict[str, str] = {}
    ties: dict[str, list[str]] = {}
    for name, param in named_parameters(model, remove_duplicate=False):
        first = listed.get(id(param))
        if first is not None and first != name:
            aliases[name] = first
            ties.setdefault(first, [first]).append(name)
    loads = [
        attrs.evolve(report, module=path)
        for path, sub in named_modules(model)
        for report in LEDGER.loads(sub)
    ]
    return Provenance(records, shapes, loads, aliases,
                      {name: tuple(names) for name, names in ties.items()})


def log_report(model: nn.Module, top_class: str) -> None:
    """Log one INFO record per parameter, in mmengine's init-info shape.

    Goes to the ``initdsl`` logger; silence it with ordinary logging
    configuration (``logging.getLogger("initdsl").setLevel(logging.WARNING)``).
    """
    if not logger.isEnabledFor(logging.INFO):
        return
    unwritten = f"The value is the same before and after calling `init_weights` of {top_class} "
    for name, param in named_parameters(model):
        record = LEDGER.get(param)
        text = unwritten if record.writer is None else record.text
        logger.info("\n%s - %s: \n%s \n ", name, param.shape, text)  # mmengine's exact text
