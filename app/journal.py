"""The request journal behind `GET /_admin/journal`: the most recent requests, bounded."""

from __future__ import annotations

from collections import deque
from typing import Any


class Journal:
    def __init__(self, size: int) -> None:
        self._entries: deque[dict[str, Any]] = deque(maxlen=size)

    def record(self, entry: dict[str, Any]) -> None:
        self._entries.append(entry)

    def recent(self, limit: int | None = None, family: str | None = None) -> list[dict[str, Any]]:
        items = [e for e in self._entries if family is None or e.get("family") == family]
        items.reverse()  # newest first
        return items if limit is None else items[:limit]

    def clear(self) -> None:
        self._entries.clear()
