"""The initializer registry: names in ``init_cfg['type']`` → initializer classes.

There is one registry, :data:`WEIGHT_INITIALIZERS`. Built-ins are registered
under mmengine's names (``Kaiming``, ``Normal``, …); users add their own with
the decorator::

    @WEIGHT_INITIALIZERS.register_module()
    class Orthogonal(BaseInit):
        def __init__(self, gain=1.0, **kwargs):
            super().__init__(**kwargs)
            self.gain = gain

        def init_weight(self, weight):
            torch.nn.init.orthogonal_(weight, gain=self.gain)

after which ``dict(type='Orthogonal', layer='Linear', gain=0.5)`` works
wherever a built-in does (``initialize``, ``BaseModule.init_cfg``, overrides).
"""

from __future__ import annotations

import difflib
import functools
import inspect
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from ..errors import InitKeyError, InitTypeError, shown

__all__ = ["Registry", "WEIGHT_INITIALIZERS", "accepted_arguments"]


def accepted_arguments(cls: Callable) -> dict[str, inspect.Parameter]:
    """The keyword arguments ``cls(...)`` accepts, in declaration order.

    A constructor that forwards ``**kwargs`` to its base class accepts the
    base's arguments too, so the bases are followed along the MRO until a
    constructor without ``**kwargs``. Returns ``{}`` for callables whose
    signature cannot be read.
    """
    try:
        return dict(_accepted_arguments(cls))
    except TypeError:  # unhashable callable
        return dict(_accepted_arguments.__wrapped__(cls))


@functools.lru_cache(maxsize=1024)
def _accepted_arguments(cls: Callable) -> tuple[tuple[str, inspect.Parameter], ...]:
    # inspect.signature over the MRO costs tens of microseconds, and every
    # cfg of a large model asks it (building and describing initializers).
    return tuple(_read_arguments(cls).items())


def _read_arguments(cls: Callable) -> dict[str, inspect.Parameter]:
    accepted: dict[str, inspect.Parameter] = {}
    owners = [c.__init__ for c in getattr(cls, "__mro__", ()) if "__init__" in vars(c)]
    if not owners or owners[0] is object.__init__:
        owners = [cls]
    for init in owners:
        if init is object.__init__:
            break
        try:
            params = list(inspect.signature(init).parameters.values())
        except (TypeError, ValueError):
            return accepted
        if params and params[0].name == "self" and init is not cls:
            params = params[1:]
        forwards = False
        for p in params:
            if p.kind is p.VAR_KEYWORD:
                forwards = True
            elif p.kind is not p.VAR_POSITIONAL:
                accepted.setdefault(p.name, p)
        if not forwards:
            break
    return accepted


class Registry:
    """A name → class mapping with mmengine's ``register_module`` decorator."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._classes: dict[str, type] = {}

    def register_module(
        self, name: str | None = None, force: bool = False, module: type | None = None
    ) -> Any:
        """Register ``module`` under ``name`` (default: its class name).

        Used as ``@registry.register_module()`` or called directly with
        ``module=``. Registering a taken name raises ``KeyError`` unless
        ``force=True``.
        """

        def register(cls: type) -> type:
            key = name if name is not None else cls.__name__
            if not force and key in self._classes and self._classes[key] is not cls:
                raise InitKeyError(f"{shown(key)} is already registered in {self.name}")
            self._classes[key] = cls
            return cls

        if module is not None:
            return register(module)
        return register

    def get(self, name: str) -> type | None:
        return self._classes.get(name)

    def name_of(self, cls: type) -> str:
        """The name ``cls`` is registered under (its class name if it is not)."""
        registered = self.registered_name(cls)
        return cls.__name__ if registered is None else registered

    def registered_name(self, kind: Any) -> str | None:
        """The registered name a cfg ``type`` stands for, or ``None``.

        ``kind`` is a name, a registered class, or one of mmengine's own
        initializer classes (``mmengine.model.PretrainedInit``, as new-style
        configs write ``type``), which stands for the initializer registered
        under mmengine's name for it (``"Pretrained"``): the core runs it as
        mmengine would, with its own checks and provenance.
        """
        if isinstance(kind, str):
            return kind if kind in self._classes else None
        for key, value in self._classes.items():
            if value is kind:
                return key
        peer = _mmengine_name(kind)
        return peer if peer in self._classes else None

    def resolve(self, kind: Any) -> Any:
        """What a cfg ``type`` builds: the registered class it names (:meth:`registered_name`),
        else ``kind`` itself if it is callable; ``None`` if it is neither."""
        name = self.registered_name(kind)
        if name is not None:
            return self._classes[name]
        return kind if callable(kind) and not isinstance(kind, str) else None

    def lookup(self, name: Any) -> type:
        """The class registered as ``name``; ``InitKeyError`` with suggestions otherwise."""
        cls = self._classes.get(name) if isinstance(name, str) else None
        if cls is None:
            hint = ""
            if isinstance(name, str):
                close = difflib.get_close_matches(name, self._classes, n=1, cutoff=0.5)
                lowered = {k.lower(): k for k in self._classes}
                guess = close[0] if close else lowered.get(name.lower().removesuffix("init"))
                if guess:
                    hint = f"; did you mean {shown(guess)}?"
            raise InitKeyError(
                f"type {shown(name)} is not registered in {self.name}{hint} "
                f"(registered: {', '.join(self._classes)})"
            )
        return cls

    def build(self, cfg: Mapping[str, Any]) -> Any:
        """Instantiate ``cfg['type']`` with the remaining keys as keyword arguments.

        ``type`` may be a registered name, a registered class, one of
        mmengine's initializer classes (:meth:`registered_name`) or any other
        callable. Unknown or missing arguments raise :class:`InitTypeError`
        naming them and the accepted ones.
        """
        if "type" not in cfg:
            raise InitKeyError(f"cfg has no 'type' key: {shown(dict(cfg))}")
        kwargs = dict(cfg)
        kind = kwargs.pop("type")
        cls = self.resolve(kind)
        if cls is None:
            cls = self.lookup(kind)  # raises, with suggestions
        label = self.name_of(cls) if isinstance(cls, type) else repr(cls)
        _check_call(cls, kwargs, label)
        _check_concrete(cls, label)
        return cls(**kwargs)

    def __contains__(self, name: object) -> bool:
        return name in self._classes

    def __iter__(self) -> Iterator[str]:
        return iter(self._classes)

    def __len__(self) -> int:
        return len(self._classes)

    def items(self):
        return self._classes.items()

    def __repr__(self) -> str:
        return f"Registry({shown(self.name)}, {list(self._classes)})"


#: Where mmengine defines its initializer classes (``XavierInit`` is registered as ``Xavier``).
_MMENGINE_INITIALIZERS = "mmengine.model.weight_init"


def _mmengine_name(kind: Any) -> str | None:
    """mmengine's registered name for one of its own initializer classes (else ``None``).

    Read from the class itself, so mmengine need not be importable here.
    """
    if not isinstance(kind, type) or getattr(kind, "__module__", None) != _MMENGINE_INITIALIZERS:
        return None
    name = kind.__name__
    return name[:-len("Init")] if name.endswith("Init") and name != "BaseInit" else None


def abstract(method: Callable) -> Callable:
    """Mark an initializer method that subclasses must define (``BaseInit.init_weight``):
    :meth:`Registry.build` refuses a class that still has it."""
    method.__initdsl_abstract__ = True  # type: ignore[attr-defined]
    return method


def _check_concrete(cls: Any, label: str) -> None:
    """Refuse an initializer class that could write nothing: ``BaseInit`` itself, or a
    subclass that neither defines ``init_weight`` nor is callable on a module (mmengine's
    way). Its first write would raise ``NotImplementedError`` after earlier rules wrote."""
    if not isinstance(cls, type):
        return
    if not getattr(getattr(cls, "init_weight", None), "__initdsl_abstract__", False):
        return
    if any("__call__" in vars(base) for base in cls.__mro__[:-1]):
        return
    raise InitTypeError(
        f"{label} is an abstract initializer: it defines no init_weight(weight) (nor "
        f"__call__(module)), so it has nothing to write; use a concrete one such as "
        f"Constant, or define init_weight in the subclass")


def _check_call(cls: Callable, kwargs: Mapping[str, Any], label: str) -> None:
    accepted = accepted_arguments(cls)
    if not accepted:
        return
    for key in kwargs:
        if key not in accepted:
            close = difflib.get_close_matches(key, accepted, n=1)
            hint = f"; did you mean {shown(close[0])}?" if close else ""
            raise InitTypeError(
                f"{label} got an unexpected argument {shown(key)}{hint} "
                f"(accepted: {', '.join(accepted)})"
            )
    for key, param in accepted.items():
        if param.default is param.empty and key not in kwargs:
            raise InitTypeError(f"{label} is missing the required argument {shown(key)}")


WEIGHT_INITIALIZERS = Registry("WEIGHT_INITIALIZERS")
"""The registry of weight initializers; see the module docstring."""
