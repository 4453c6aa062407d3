"""Route lookup indexed by the leading path segments.

FastAPI's router tries every route in order until one matches: each included router scans all
of its routes' regular expressions, so a request for the last family's path pays for the core,
the control API, the dashboard and every family before it (measured: ~24 % of an authenticated
GET). `RouteIndex` sits where the router dispatches and tries only the routes that can match:
those whose literal leading segments (up to three, stopping at the first parameter) are a
prefix of the request's. Order is kept, so the first full match is the one FastAPI would pick.

Anything else — no full match (404, 405, a trailing-slash redirect), a lifespan message — goes
to FastAPI's own dispatch unchanged, so its exception handlers, redirects and the OpenAPI
document are untouched. The index is rebuilt when routes are added to the app's router.
"""

from __future__ import annotations

from typing import Any

import fastapi.routing
from fastapi.routing import APIRouter
from starlette._utils import get_route_path
from starlette.routing import BaseRoute, Host, Match, Mount
from starlette.types import Receive, Scope, Send

DEPTH = 3  # literal segments indexed
CACHE_MAX = 4_096  # distinct request keys remembered (unbounded paths are computed, not kept)

Key = tuple[str, ...]
_fr: Any = fastapi.routing  # its private helpers, exactly as APIRouter.app uses them


def literal_prefix(path: str) -> Key:
    """The leading literal segments of a route path, up to `DEPTH` (stops at a parameter)."""
    out: list[str] = []
    for seg in path.lstrip("/").split("/")[:DEPTH]:
        if "{" in seg:
            break
        out.append(seg)
    return tuple(out)


def route_keys(route: BaseRoute) -> list[Key]:
    """Every literal prefix a path must start with for `route` to match it; `()` matches all."""
    if isinstance(route, Host):
        return [()]
    contexts = getattr(route, "effective_route_contexts", None)
    if contexts is not None:  # an included router: the union of its routes' prefixes
        keys: list[Key] = []
        ctx: Any
        for ctx in contexts():
            inner = ctx.starlette_route or ctx
            path = getattr(inner, "path", None)
            if not isinstance(path, str) or ctx.frontend_prefix:
                return [()]
            keys.append(literal_prefix(path))
        return keys
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        return [()]
    if isinstance(route, Mount):
        return [literal_prefix(path.rstrip("/"))]
    return [literal_prefix(path)]


class RouteIndex:
    """The router's dispatch, trying only the routes whose literal prefix fits the path."""

    def __init__(self, router: APIRouter) -> None:
        self.router = router
        self.fallback = router.app
        self._version: tuple[int, int] = (-1, -1)
        self._entries: list[tuple[BaseRoute, list[Key]]] = []
        self._cache: dict[Key, list[BaseRoute]] = {}

    def _rebuild(self) -> None:
        self._entries = [(r, route_keys(r)) for r in self.router.routes]
        self._cache = {}

    def candidates(self, path: str) -> list[BaseRoute]:
        version = (getattr(self.router, "_routes_version", 0), len(self.router.routes))
        if version != self._version:
            self._rebuild()
            self._version = version
        key = tuple(path.split("/", DEPTH + 1)[1 : DEPTH + 1])
        found = self._cache.get(key)
        if found is None:
            found = [r for r, keys in self._entries if any(key[: len(k)] == k for k in keys)]
            if len(self._cache) < CACHE_MAX:
                self._cache[key] = found
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.fallback(scope, receive, send)
            return
        for route in self.candidates(get_route_path(scope)):
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                _select(self.router, scope, child_scope, route)
                await route.handle(scope, receive, send)
                return
        await self.fallback(scope, receive, send)  # 404, 405, redirects: FastAPI decides


def _select(router: APIRouter, scope: Scope, child_scope: Scope, route: BaseRoute) -> None:
    """What FastAPI's router does with a full match before handing over (`APIRouter.app`)."""
    _fr._apply_router_form_limits(scope, router.form_limits)
    if "router" not in scope:
        scope["router"] = router
    _fr._update_scope(scope, child_scope)
    if "fastapi.telemetry" in scope:
        _fr._route_selected(
            scope=scope, path=getattr(route, "path_format", None), mount=isinstance(route, Mount)
        )


def install(router: APIRouter) -> bool:
    """Put the index in front of `router`'s dispatch; False (nothing changed) when the router
    has middleware of its own or FastAPI's internals are not the ones this was written for."""
    needed = ("_update_scope", "_route_selected", "_apply_router_form_limits")
    if router.middleware_stack != router.app or not all(hasattr(_fr, n) for n in needed):
        return False
    router.middleware_stack = RouteIndex(router)
    return True
