"""Parameter patterns: the names a ``param`` rule writes, as a regular expression.

No torch here: the checker validates patterns when ``initdsl compile`` and
``lint`` run without a model, and those start without importing torch.
"""

from __future__ import annotations

import re
from functools import lru_cache

from ..errors import InitValueError, shown

__all__ = ["check_pattern", "parameter_pattern"]

_CAPTURE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def check_pattern(pattern: str) -> None:
    """Raise :class:`~initdsl.InitValueError` if ``pattern`` is not a valid parameter pattern.

    Cheap (no regular expression is built): the checker calls it for every
    ``param`` rule of a policy.
    """
    captures: set[str] = set()
    for segment in pattern.split("."):
        if not segment:
            raise InitValueError(f"parameter pattern {shown(pattern)} has an empty segment")
        if "**" in segment and segment != "**":
            raise InitValueError(f"parameter pattern {shown(pattern)}: `**` must be a whole "
                                 f"segment, not part of {shown(segment)}")
        capture = _CAPTURE.fullmatch(segment)
        if capture is not None:
            name = capture.group(1)
            if name in captures:
                raise InitValueError(f"parameter pattern {shown(pattern)} binds {shown(name)} "
                                     "twice")
            captures.add(name)
        elif "{" in segment or "}" in segment:
            raise InitValueError(f"parameter pattern {shown(pattern)}: a capture is a whole "
                                 f"segment, `{{name}}`, not part of {shown(segment)}")


@lru_cache(maxsize=1024)
def parameter_pattern(pattern: str) -> re.Pattern[str]:
    """The regular expression a ``param`` pattern stands for, matched against whole names.

    Segments are separated by ``.``. In a segment, ``*`` is any run of
    characters but ``.`` (none included); a segment that is exactly ``**``
    is any number of whole segments, none included; a segment ``{name}``
    is one segment, captured as the group ``name``; every other character
    is itself. ``blocks.*.attn.proj.weight``, ``**.c_proj.weight``,
    ``weight_ih_l*``. An invalid pattern (:func:`check_pattern`) is an
    :class:`~initdsl.InitValueError`.
    """
    check_pattern(pattern)
    segments = pattern.split(".")
    parts: list[str] = []
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        capture = _CAPTURE.fullmatch(segment)
        if capture is not None:
            parts.append(f"(?P<{capture.group(1)}>[^.]+)" + ("" if last else r"\."))
            continue
        if segment == "**":
            # Any number of segments, each with its dot; last, at least the name itself.
            parts.append(r"(?:[^.]+\.)*[^.]+" if last else r"(?:[^.]+\.)*")
            continue
        parts.append("[^.]*".join(re.escape(piece) for piece in segment.split("*")))
        if not last:
            parts.append(r"\.")
    return re.compile("".join(parts))
