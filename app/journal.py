"""The request journal behind `GET /_admin/journal`: the most recent requests, bounded.

With `REFSERVER_JOURNAL_BODIES=N` (bytes, 0 = off) each entry also keeps the request and answer
bodies, each cut at N bytes, with secrets masked (`mask_body`).
"""

from __future__ import annotations

import re
from collections import deque
from typing import Any

import orjson

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


class Journal:
    def __init__(self, size: int, bodies: int = 0) -> None:
        self._entries: deque[dict[str, Any]] = deque(maxlen=size)
        self.bodies = bodies  # bytes kept of each body; 0: bodies are not kept

    def record(self, entry: dict[str, Any]) -> None:
        self._entries.append(entry)

    def recent(self, limit: int | None = None, family: str | None = None) -> list[dict[str, Any]]:
        items = [e for e in self._entries if family is None or e.get("family") == family]
        items.reverse()  # newest first
        return items if limit is None else items[:limit]

    def clear(self) -> None:
        self._entries.clear()


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
