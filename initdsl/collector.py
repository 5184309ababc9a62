"""Pausing Python's cyclic garbage collector around allocation-heavy, cycle-free work."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

__all__ = ["no_gc"]


@contextlib.contextmanager
def no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector for the duration of the block.

    Parsing a long policy and planning or running an initialization allocate
    many small objects and free almost none, and build no reference cycles.
    Each allocation burst still triggers the collector's passes, whose full
    ones scan every object of the process (the user's included) and find
    nothing: up to seconds on a model with many modules, and half the time of
    parsing a 10,000-rule policy. Reference counting still frees everything
    as usual meanwhile; the collector resumes (if it was on) afterwards.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
