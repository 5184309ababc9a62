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
:class:`MissingDependencyError`  ``ImportError``: e.g. ``safetensors`` not installed
:class:`PolicyError`           ``ValueError``: a policy file has errors (``.diagnostics``)
=============================  ====================================================
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable

from .diagnostics import Diagnostic, render_all

__all__ = [
    "InitError",
    "InitTypeError",
    "InitKeyError",
    "InitValueError",
    "InitAssertionError",
    "InitRuntimeError",
    "InitAttributeError",
    "InitZeroDivisionError",
    "CheckpointNotFoundError",
    "CheckpointUnpicklingError",
    "MissingDependencyError",
    "PolicyError",
]


class InitError(Exception):
    """Base class of every error raised by initdsl.

    ``where`` names the configuration entry the error is about, for example
    ``init_cfg[1].override[0] of 'backbone'``; it is prepended to the message.
    """

    def __init__(self, message: str, *, where: str | None = None) -> None:
        self.message = message
        self.where = where
        super().__init__(self._text())

    def _text(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message

    def __str__(self) -> str:
        # KeyError would otherwise print its message quoted.
        return self._text()

    def located(self, where: str) -> InitError:
        """A copy of this error whose message starts with ``where``."""
        if self.where:
            return self
        return type(self)(self.message, where=where)

    def __reduce__(self):  # keep errors picklable (multiprocessing, pytest-xdist)
        return (_rebuild, (type(self), self.message, self.where))


def _rebuild(cls, message, where):
    return cls(message, where=where)


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


class CheckpointNotFoundError(InitError, FileNotFoundError):
    """A ``Pretrained`` checkpoint path does not exist."""


class CheckpointUnpicklingError(InitError, pickle.UnpicklingError):
    """A checkpoint holds Python objects that safe loading refuses to unpickle."""


class MissingDependencyError(InitError, ImportError):
    """An optional package needed for the requested feature is not installed."""


class PolicyError(InitError, ValueError):
    """A policy has errors; raised before anything runs.

    ``diagnostics`` lists every error found (syntax and meaning), each with
    its position; ``str()`` is all of them rendered with source excerpts.
    """

    def __init__(self, diagnostics: Iterable[Diagnostic], source: str | None = None) -> None:
        self.diagnostics = tuple(diagnostics)
        self.source = source
        super().__init__(render_all(self.diagnostics, source))

    def located(self, where: str) -> InitError:
        return self  # diagnostics already carry their positions

    def __reduce__(self):
        return (PolicyError, (self.diagnostics, self.source))
