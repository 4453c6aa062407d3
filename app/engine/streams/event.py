"""The event types of the sequenced streams."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple


class Event(NamedTuple):
    """A committed event. `data` is its wire bytes, made once when it was written."""

    family: str
    stream: str
    seq: int
    ts_ms: int
    kind: str
    ref: str | None
    data: bytes


@dataclass(slots=True)
class NewEvent:
    """An event to append. `body` is serialised once, after its seq is allocated, by the
    family's encoder (default: orjson of `body`); a `bytes` body is stored as given and never
    passed to an encoder."""

    family: str
    stream: str
    kind: str
    body: Any
    ref: str | None = None


# (seq, prev_seq, ts_ms, kind, body) -> wire bytes
Encoder = Callable[[int, int, int, str, Any], bytes]
