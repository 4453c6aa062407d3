"""The bounds every family applies where it parses input (CONTRACT §6, "Limits, every family").

An integer outside what its field can hold never reaches the database, the encoder or the
engine: it is a 400 naming the field. JSON nested deeper than `MAX_DEPTH` is refused the same
way. Families call these from their `validate.py`; the error renders in the family's shape.
"""

from __future__ import annotations

from typing import Any, TypeGuard

from app.engine.errors import InvalidInput

INT64_MAX = 2**63 - 1
MAX_DEPTH = 64


def is_int(value: Any) -> TypeGuard[int]:
    """A JSON integer (bool is not one)."""
    return isinstance(value, int) and not isinstance(value, bool)


def int_field(value: Any, field: str, *, lo: int = 0, hi: int = INT64_MAX, code: str | None = None) -> int:
    """`value` as an int in [lo, hi]; 400 naming `field` otherwise (strings of digits allowed)."""
    if isinstance(value, str) and value.strip().lstrip("-").isdigit() and len(value.strip()) <= 20:
        value = int(value.strip())
    if not is_int(value) or not lo <= value <= hi:
        raise InvalidInput.field(field, f"must be an integer from {lo} to {hi}", code=code)
    return int(value)


def in_range(value: int, lo: int = -INT64_MAX - 1, hi: int = INT64_MAX) -> bool:
    return lo <= value <= hi


def depth(obj: Any, limit: int = MAX_DEPTH) -> int:
    """How deep `obj` nests, counting stops once past `limit` (no recursion: any depth is safe).

    Level by level, and only containers are carried to the next level: a signed batch of 50
    orders is checked in a third of the time a walk over every value takes."""
    containers = (dict, list)
    level = [obj] if isinstance(obj, containers) else []
    deepest = 0
    while level:
        deepest += 1
        if deepest > limit:
            return deepest
        below: list[Any] = []
        add = below.append  # bound once: the inner loop runs for every value of the document
        for item in level:
            for child in item.values() if isinstance(item, dict) else item:
                if isinstance(child, containers):
                    add(child)
        level = below
    return deepest


def check_depth(obj: Any, field: str = "body", *, limit: int = MAX_DEPTH, code: str | None = None) -> None:
    if depth(obj, limit) > limit:
        raise InvalidInput.field(field, f"must not nest deeper than {limit} levels", code=code)
