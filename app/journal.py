"""The request journal behind `GET /_admin/journal`: the most recent requests, bounded.

With `REFSERVER_JOURNAL_BODIES=N` (bytes, 0 = off) each entry also keeps the request and answer
bodies, each cut at N bytes, with secrets masked (`mask_body`).
"""

from __future__ import annotations

import re
from collections import deque
from typing import Any

import orjson

from app.clock import iso_ms

# keys whose values never reach the journal (compared lower-case, without "_" and "-")
SECRET_KEYS = frozenset(
    {
        "password",
        "newpassword",
        "oldpassword",
        "clientsecret",
        "apisecret",
        "apipassphrase",
        "passphrase",
        "secret",
        "token",
        "accesstoken",
        "refreshtoken",
        "authorization",
        "signature",
    }
)
MASK = "***"
_FORM_SECRET = re.compile(
    rb"((?:^|&)(?:password|client_secret|api_?secret|api_?passphrase|secret|access_token|token)=)[^&]*",
    re.IGNORECASE,
)
_JWT = re.compile(rb"eyJ[\w-]+\.[\w-]+\.[\w-]+")  # a token under any other name


Raw = tuple[int, str, str, str, int, float, Any, Any, "dict[str, Any] | None"]
"""(wall ms, family, method, path, status, latency s, caller, request id, extra fields or None):
the edge records every request, so an entry is kept as the tuple it has at hand and turned
into the wire document only when the journal is read."""


def _entry(raw: Raw) -> dict[str, Any]:
    at, family, method, path, status, latency_s, caller, rid, extra = raw
    entry = {
        "time": iso_ms(at),
        "family": family,
        "method": method,
        "path": path,
        "status": status,
        "latency_ms": round(latency_s * 1000, 3),
        "caller": caller,
        "request_id": rid,
    }
    if extra:
        entry.update(extra)
    return entry


class Journal:
    def __init__(self, size: int, bodies: int = 0) -> None:
        self._entries: deque[Raw | dict[str, Any]] = deque(maxlen=size)
        self.bodies = bodies  # bytes kept of each body; 0: bodies are not kept

    def record(self, entry: Raw | dict[str, Any]) -> None:
        """A request as the edge has it (`Raw`), or a finished document (chaos actions)."""
        self._entries.append(entry)

    def recent(self, limit: int | None = None, family: str | None = None) -> list[dict[str, Any]]:
        items = [e for e in self._entries if family is None or _family(e) == family]
        items.reverse()  # newest first
        if limit is not None:
            items = items[:limit]
        return [e if isinstance(e, dict) else _entry(e) for e in items]

    def clear(self) -> None:
        self._entries.clear()


def _family(e: Raw | dict[str, Any]) -> Any:
    return e.get("family") if isinstance(e, dict) else e[1]


def _mask(doc: Any) -> Any:
    if isinstance(doc, dict):
        return {
            k: (MASK if k.lower().replace("_", "").replace("-", "") in SECRET_KEYS else _mask(v))
            for k, v in doc.items()
        }
    if isinstance(doc, list):
        return [_mask(v) for v in doc]
    return doc


def mask_body(body: bytes, limit: int) -> str | None:
    """The body as journal text: secrets masked (JSON keys, form fields), cut at `limit` bytes."""
    if not body:
        return None
    try:
        text = orjson.dumps(_mask(orjson.loads(body)))
    except orjson.JSONDecodeError:
        text = _FORM_SECRET.sub(rb"\1" + MASK.encode(), body)
    text = _JWT.sub(MASK.encode(), text)
    if len(text) > limit:
        return text[:limit].decode("utf-8", "replace") + "…"
    return text.decode("utf-8", "replace")
