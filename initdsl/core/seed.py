"""The seeds a run accepts: the integers ``torch.manual_seed`` takes, in either mode.

One rule for both modes, so that a seed valid for ``mode="exact"`` is valid
for ``mode="fast"`` and the other way round; and it is checked before
anything is written, so a bad seed never leaves a model half-initialized.
"""

from __future__ import annotations

import operator

from ..errors import InitTypeError, InitValueError

__all__ = ["SEED_MIN", "SEED_MAX", "check_seed", "policy_seed"]

#: ``torch.manual_seed`` accepts ``[-2**63, 2**64)`` (a negative seed is taken modulo 2**64).
SEED_MIN = -(2**63)
SEED_MAX = 2**64 - 1


def check_seed(seed: object) -> int:
    """``seed`` as a Python int, or :class:`~initdsl.InitError` saying why it is no seed.

    ``bool`` is refused although it is an ``int`` (``seed=True`` is a mistake,
    not a seed); so are floats, even integral ones, and integers outside
    ``[SEED_MIN, SEED_MAX]``.
    """
    if isinstance(seed, bool):
        raise InitTypeError(f"seed must be an integer, got {seed!r}")
    try:
        value = operator.index(seed)  # type: ignore[arg-type]
    except TypeError:
        raise InitTypeError(f"seed must be an integer, got {type(seed).__name__} "
                            f"{seed!r:.40}") from None
    if not SEED_MIN <= value <= SEED_MAX:
        # No digits of a huge integer: str() of one over 4,300 digits raises.
        shown = value if abs(value) < 2**80 else f"about 2**{value.bit_length()}"
        raise InitValueError(f"seed must be in [-2**63, 2**64 - 1] (what torch.manual_seed "
                             f"takes), got {'-' if value < 0 and abs(value) >= 2**80 else ''}"
                             f"{shown}")
    return value


def policy_seed(scopes: object) -> int | None:
    """The seed a policy's ``seed N`` sets (its root ``dict(type='Seed', seed=N)``), if any."""
    root = scopes.get("", ()) if isinstance(scopes, dict) else scopes
    for cfg in root if isinstance(root, list) else ():
        if isinstance(cfg, dict) and cfg.get("type") == "Seed":
            return check_seed(cfg.get("seed"))
    return None
