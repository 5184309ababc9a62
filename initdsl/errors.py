"""The exceptions initdsl raises.

Every error is an :class:`InitError`. Each concrete class is *also* a subclass
of the built-in exception that mmengine raises in the same situation, so code
written against mmengine (``except TypeError:``) keeps working:

=============================  ====================================================
class                          raised where mmengine raises
=============================  ====================================================
:class:`InitTypeError`         ``TypeError``: unknown or missing argument, wrong type
:class:`InitKeyError`          ``KeyError``: no ``type``, unknown ``type``
:class:`InitValueError`        ``ValueError``: bad ``mode``/``nonlinearity``, bad override
:class:`InitAssertionError`    ``AssertionError``: bad ``distribution``, prefix not found
:class:`InitRuntimeError`      ``RuntimeError``: override target missing, ``std < 0``
:class:`InitAttributeError`    ``AttributeError``: override target is not a module
:class:`InitZeroDivisionError` ``ZeroDivisionError``: ``bias_prob=0.0``
:class:`CheckpointNotFoundError` ``FileNotFoundError``: checkpoint file missing
:class:`CheckpointUnpicklingError` ``pickle.UnpicklingError``: unsafe checkpoint
:class:`CheckpointFormatError` ``RuntimeError``: unreadable or corrupt checkpoint
:class:`MissingDependencyError`  ``ImportError``: e.g. ``safetensors`` not installed
:class:`PolicyFileError`       ``OSError``: a policy file cannot be read
:class:`PolicyError`           ``ValueError``: a policy file has errors (``.diagnostics``)
=============================  ====================================================
"""

from __future__ import annotations

import os
import pickle
import sys
import warnings
from collections.abc import Iterable

from .diagnostics import Diagnostic, Span, printable, render_all

__all__ = [
    "InitError",
    "InitTypeError",
    "InitKeyError",
    "InitValueError",
    "InitAssertionError",
    "InitRuntimeError",
    "InitAttributeError",
    "InitZeroDivisionError",
    "CheckpointError",
    "CheckpointNotFoundError",
    "CheckpointUnpicklingError",
    "CheckpointFormatError",
    "MissingDependencyError",
    "PolicyFileError",
    "PolicyError",
    "shown",
    "warn_caller",
]

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def warn_caller(message: str, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn`` attributed to the first frame outside initdsl: the user's call,
    however deep inside the package the warning is raised (``skip_file_prefixes``, which
    does this, is Python 3.12+)."""
    level, frame = 1, sys._getframe(1)
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE):
        level, frame = level + 1, frame.f_back
    warnings.warn(message, category, stacklevel=level + 1)


#: The longest value a message quotes whole.
SHOWN = 200


def shown(value: object, limit: int = SHOWN) -> str:
    """``repr(value)`` as a message quotes it: cut to about ``limit`` characters.

    A configuration can hold values whose ``repr`` raises (an integer over
    4,300 digits, a list nested thousands deep) or runs to megabytes; the
    error about such a value must still be an initdsl error, and readable.
    """
    try:
        text = repr(value)
    except (ValueError, RecursionError):
        if isinstance(value, int):
            return f"<an integer of about {value.bit_length() * 3 // 10} digits>"
        return f"<a {type(value).__name__} too deep to print>"
    except Exception:  # noqa: BLE001 - a user's __repr__ may raise anything
        return f"<a {type(value).__name__} whose repr() fails>"
    if len(text) <= limit:
        return text
    unit = "digits" if isinstance(value, int) else "characters"
    head = max(limit * 2 // 3, 8)
    return f"{text[:head]}...{text[-(limit // 6):]} ({len(text)} {unit})"


class InitError(Exception):
    """Base class of every error raised by initdsl.

    ``where`` names the configuration entry the error is about, for example
    ``init_cfg[1].override[0] of 'backbone'`` or, for a rule of a policy, its
    ``file:line:col``; it is prepended to the message.

    An error found while planning a rule can say more: ``argument`` names the
    argument to blame (``"std"``), ``code`` is the diagnostic code a policy
    reports it under (``"E122"``), and ``span`` is where in the policy text
    (the argument's value when known, else the rule).
    """

    def __init__(self, message: str, *, where: str | None = None, argument: str | None = None,
                 code: str | None = None, span: Span | None = None) -> None:
        self.message = printable(message)
        self.where = where
        self.argument = argument
        self.code = code
        self.span = span
        super().__init__(self._text())

    def _text(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message

    def __str__(self) -> str:
        # KeyError would otherwise print its message quoted.
        return self._text()

    def located(self, where: str, span: Span | None = None) -> InitError:
        """A copy of this error whose message starts with ``where`` (and at ``span``)."""
        if self.where:
            return self
        return type(self)(self.message, where=where, argument=self.argument, code=self.code,
                          span=span if span is not None else self.span)

    def __reduce__(self):  # keep errors picklable (multiprocessing, pytest-xdist)
        return (_rebuild, (type(self), self.message, self.where, self.argument, self.code,
                           self.span))


def _rebuild(cls, message, where, argument=None, code=None, span=None):
    return cls(message, where=where, argument=argument, code=code, span=span)


class InitTypeError(InitError, TypeError):
    """An argument is unknown, missing or of the wrong type."""


class InitKeyError(InitError, KeyError):
    """A cfg has no ``type``, or its ``type`` is not registered."""


class InitValueError(InitError, ValueError):
    """An argument has a value outside its allowed set, or an override is malformed."""


class InitAssertionError(InitError, AssertionError):
    """A structural check failed (mmengine asserts here)."""


class InitRuntimeError(InitError, RuntimeError):
    """A value torch would reject when drawing, or an override target that does not exist."""


class InitAttributeError(InitError, AttributeError):
    """An override target is not a module, or a module's ``bias`` is not a tensor."""


class InitZeroDivisionError(InitError, ZeroDivisionError):
    """A probability or standard deviation of zero where a division needs it."""


class CheckpointError(InitError):
    """A checkpoint cannot be used: the base of the three below (``except CheckpointError``)."""


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """A ``Pretrained`` checkpoint path does not exist (or cannot be downloaded)."""


class CheckpointUnpicklingError(CheckpointError, pickle.UnpicklingError):
    """A checkpoint holds Python objects that safe loading refuses to unpickle."""


class CheckpointFormatError(CheckpointError, RuntimeError):
    """A checkpoint file is not one initdsl can read (empty, truncated, a bad header,
    not a state dict), or cannot be read as asked (``map_location``)."""


class MissingDependencyError(InitError, ImportError):
    """An optional package needed for the requested feature is not installed."""


class PolicyFileError(InitError, OSError):
    """A policy file that cannot be read (missing, a directory, no permission)."""


class PolicyError(InitError, ValueError):
    """A policy has errors; raised before anything runs.

    ``diagnostics`` lists every error found (syntax and meaning), each with
    its position; ``str()`` renders them with source excerpts — the first
    :data:`RENDERED` of them, then a line that says how many more there are.
    """

    #: How many diagnostics ``str()`` renders; ``diagnostics`` always has all of them.
    RENDERED = 50

    def __init__(self, diagnostics: Iterable[Diagnostic], source: str | None = None) -> None:
        self.diagnostics = tuple(diagnostics)
        self.source = source
        self.where = self.argument = self.code = self.span = None
        self._message: str | None = None
        # Rendering waits for str(): a policy with thousands of errors need not
        # pay for text nobody reads.
        Exception.__init__(self)

    @property
    def message(self) -> str:  # type: ignore[override]
        if self._message is None:
            shown = self.diagnostics[:self.RENDERED]
            text = render_all(shown, self.source)
            hidden = len(self.diagnostics) - len(shown)
            if hidden:
                text += (f"\n\n... and {hidden} more error{'s' if hidden > 1 else ''} "
                         f"({len(self.diagnostics)} in all, listed in .diagnostics)")
            self._message = text
        return self._message

    @message.setter
    def message(self, value: str) -> None:
        self._message = value

    def located(self, where: str, span: Span | None = None) -> InitError:
        return self  # diagnostics already carry their positions

    def __reduce__(self):
        return (PolicyError, (self.diagnostics, self.source))
