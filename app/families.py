"""The Family: everything one API family plugs into the app, and the registry of them.

A family declares its path prefixes, its error shape, its service (built from the engine's
`Runtime`), its routers, its control routes and its AsyncAPI fragment. The core asks the
registry and names no family: adding a family is a new package under `app/routers/` whose
`__init__` exports `family` (see ARCHITECTURE.md, "Adding a fourth family").
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from app.engine.runtime import FamilyService, Runtime

if TYPE_CHECKING:
    from fastapi import APIRouter

ErrorBody = Callable[[str, str, list[dict[str, Any]], str, int], dict[str, Any]]
"""(code, message, details, request_id, now_ms) -> the family's error document."""


def plain_error(
    code: str, message: str, details: list[dict[str, Any]], rid: str, now_ms: int
) -> dict[str, Any]:
    """`{"error": {"code", "message"}}`: the core's and the control API's shape."""
    return {"error": {"code": code, "message": message}}


CORE_CODES: dict[int, str] = {
    400: "INVALID_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    422: "INVALID_REQUEST",
    500: "INTERNAL_ERROR",
    503: "SERVICE_UNAVAILABLE",
}


@dataclass
class ErrorShape:
    """How a family writes an error: the default code per status and the document."""

    codes: dict[int, str] = field(default_factory=lambda: dict(CORE_CODES))
    body: ErrorBody = plain_error
    request_id_header: bool = False  # answer every request with X-Request-ID

    def code_for(self, status: int) -> str:
        return (
            self.codes.get(status)
            or CORE_CODES.get(status)
            or ("INTERNAL_ERROR" if status >= 500 else "ERROR")
        )


CORE_ERRORS = ErrorShape()


@dataclass
class Family:
    """One API family. `prefixes`: a prefix ending in "/" matches every path below it; any
    other matches the exact path or the path followed by "/". The longest match wins."""

    name: str  # as the control API and the journal spell it: "musubi", "broker", "order-entry"
    title: str
    prefixes: tuple[str, ...]
    create: Callable[[Runtime], FamilyService]
    errors: ErrorShape = field(default_factory=ErrorShape)
    routers: list[APIRouter] = field(default_factory=list)
    admin_router: APIRouter | None = None
    asyncapi: Callable[[], dict[str, Any]] | None = None
    # a listener of its own besides HTTP (Order Entry: FIX), started by `refserver serve` after
    # the HTTP listeners: `listener(ctx, host)` -> an object with `name`, `port`, `close_now()`
    # and `async stop()`, or None when switched off
    listener: Callable[[Any, str], Awaitable[Any]] | None = None
    order: int = 100  # where it stands in banners, docs and the dashboard
    # its operations' contract for /openapi.json (`app.openapi.Declarations`, keyed by method and path)
    openapi: Callable[[], Any] | None = None

    @property
    def key(self) -> str:
        """The family's name as a JSON key / identifier (`order_entry`)."""
        return self.name.replace("-", "_")


class ListenerError(Exception):
    """A family's own listener could not start (its message is the one line the CLI prints)."""


class Registry:
    def __init__(self, families: Iterable[Family]) -> None:
        self.families = sorted(families, key=lambda f: (f.order, f.name))
        self.by_name = {f.name: f for f in self.families}
        self._prefixes = sorted(
            ((p, f) for f in self.families for p in f.prefixes), key=lambda pf: len(pf[0]), reverse=True
        )

    def __iter__(self) -> Any:
        return iter(self.families)

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.families]

    def get(self, name: str) -> Family | None:
        return self.by_name.get(name)

    def for_path(self, path: str) -> Family | None:
        """The family that owns `path`, or None for core routes (/health, /_admin, /docs…)."""
        for prefix, family in self._prefixes:
            if prefix.endswith("/"):
                if path.startswith(prefix):
                    return family
            elif path == prefix or path.startswith(prefix + "/"):
                return family
        return None
