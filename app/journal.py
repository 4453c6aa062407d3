"""The request journal behind `GET /_admin/journal`: the most recent requests, bounded.

The edge records every request, so an entry is kept as the raw tuple it has at hand and
turned into the wire document only when the journal is read.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from app.clock import iso_ms

Raw = tuple[int, str, str, str, int, float, Any, Any]
"""(wall ms, family, method, path, status, latency in seconds, caller, request id)."""


def _entry(raw: Raw) -> dict[str, Any]:
    at, family, method, path, status, latency_s, caller, rid = raw
    return {
        "time": iso_ms(at),
        "family": family,
        "method": method,
        "path": path,
        "status": status,
        "latency_ms": round(latency_s * 1000, 3),
        "caller": caller,
        "request_id": rid,
    }


class Journal:
    def __init__(self, size: int) -> None:
        self._entries: deque[Raw] = deque(maxlen=size)

    def record(self, raw: Raw) -> None:
        self._entries.append(raw)

    def recent(self, limit: int | None = None, family: str | None = None) -> list[dict[str, Any]]:
        raws = [e for e in self._entries if family is None or e[1] == family]
        raws.reverse()  # newest first
        if limit is not None:
            raws = raws[:limit]
        return [_entry(r) for r in raws]

    def clear(self) -> None:
        self._entries.clear()
