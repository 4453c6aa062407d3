"""Which family a path belongs to, and what each family plugs into the app.

A family (Musubi, broker, Order Entry) contributes routers, control-API routes, and lifecycle
hooks; `create_app` wires them. The core never imports a family's internals.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import APIRouter

    from app.context import AppContext

MUSUBI = "musubi"
BROKER = "broker"
ORDER_ENTRY = "order-entry"
FAMILIES = (MUSUBI, BROKER, ORDER_ENTRY)

# (prefix, family): first match wins; a prefix ending in "/" matches below it, others match the
# exact path or the path followed by "/" or "?"
_PREFIXES: tuple[tuple[str, str], ...] = (
    ("/api/v1/order-entry/", ORDER_ENTRY),
    ("/api/v1/accounts/", ORDER_ENTRY),
    ("/api/v1/ws/", ORDER_ENTRY),
    ("/api/v1/bsl/", ORDER_ENTRY),
    ("/auth/token", MUSUBI),
    ("/whoami", MUSUBI),
    ("/api/v1/", MUSUBI),
    ("/sign/", BROKER),
    ("/account", BROKER),
    ("/trade", BROKER),
    ("/trades", BROKER),
    ("/market/", BROKER),
    ("/scripts", BROKER),
    ("/script", BROKER),
    ("/settings", BROKER),
    ("/price_alert", BROKER),
    ("/ws", BROKER),
)


def family_for_path(path: str) -> str | None:
    """The API family that owns `path`, or None for core routes (/health, /_admin, /docs…)."""
    for prefix, family in _PREFIXES:
        if prefix.endswith("/"):
            if path.startswith(prefix):
                return family
        elif path == prefix or path.startswith(prefix + "/"):
            return family
    return None


Hook = Callable[["AppContext"], Awaitable[None]]


@dataclass
class Family:
    """What one API family plugs into the app. Every hook is optional.

    - `routers`: mounted as they are (their paths carry the family's prefixes).
    - `admin_router`: mounted under `/_admin`, behind the admin token.
    - `seed(ctx, mode)`: add reference data always, demo identities when mode == "demo";
      idempotent (runs at every start).
    - `start(ctx)`: after seeding: load state, re-arm clock timers, start simulators.
    - `stop(ctx)`: stop simulators and background tasks.
    - `wipe(ctx)`: delete the family's rows and in-memory state (control-API reset).
    - `credentials(ctx)`: lines describing the demo identities, for banners and `refserver seed`.
    - `token(ctx, args)`: mint a token for `refserver token <family> ...`.
    - `extra["dashboard"](ctx)`: the demo identity the live dashboard acts as (None if unseeded).
    """

    name: str
    routers: list[APIRouter] = field(default_factory=list)
    admin_router: APIRouter | None = None
    seed: Callable[[AppContext, str], Awaitable[None]] | None = None
    start: Hook | None = None
    stop: Hook | None = None
    wipe: Hook | None = None
    credentials: Callable[[AppContext], Awaitable[list[str]]] | None = None
    token: Callable[[AppContext, list[str]], Awaitable[str]] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
