"""Route lookup indexed by the leading path segments.

FastAPI's router tries every route in order until one matches: each included router scans all
of its routes' regular expressions, and scans them again to dispatch, so a request for the
last family's path pays for the core, the control API, the dashboard and every family before
it (measured: ~16-21 % of the event loop on a Musubi GET or an Order Entry order).
`RouteIndex` sits where the router dispatches and tries only the routes that can match: those
whose literal leading segments (up to three, stopping at the first parameter) are a prefix of
the request's, in FastAPI's order, so the first full match is the one FastAPI would pick; an
included router's routes are tried one by one through FastAPI's own effective contexts (the
route with its prefix), then handed over as FastAPI hands them over.

A route whose endpoint is marked `plain` (an `async def` taking the request and `str` path
parameters, answering a `Response`; dependencies only checks on the request) is then
served the way Starlette serves a route: the endpoint is called with the request and the
matched path parameters, without FastAPI's per-request dependency solving and exit stacks
(~15 % of a Musubi call). Its FastAPI route stays what the OpenAPI document and any other
dispatch see.

Anything else — no full match (404, 405, a trailing-slash redirect), a lifespan message — goes
to FastAPI's own dispatch unchanged, so its exception handlers, redirects and the OpenAPI
document are untouched. The index is rebuilt when routes are added to the app's router.
`install` leaves the router alone when FastAPI's internals are not the ones this mirrors.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import fastapi.routing
from fastapi.routing import APIRouter
from pydantic_core import PydanticUndefined
from starlette._utils import get_route_path
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Host, Match, Mount, request_response
from starlette.types import ASGIApp, Receive, Scope, Send

DEPTH = 3  # literal segments indexed
CACHE_MAX = 4_096  # distinct request keys remembered (unbounded paths are computed, not kept)

Key = tuple[str, ...]
_fr: Any = fastapi.routing  # its private helpers, used exactly as its router uses them

NEEDED = (
    "APIRoute",
    "_IncludedRouter",
    "_update_scope",
    "_route_selected",
    "_apply_router_form_limits",
    "_get_fastapi_scope",
    "wrap_app_with_body_limit",
    "_FASTAPI_INCLUDED_ROUTER_KEY",
    "_FASTAPI_EFFECTIVE_ROUTE_CONTEXT_KEY",
)


_PLAIN = "__refserver_plain__"
F = TypeVar("F", bound=Callable[..., Awaitable[Response]])


def plain(endpoint: F) -> F:
    """Mark `endpoint` (it takes the request and string path parameters, and answers a
    `Response`) to be served as a plain Starlette route by the index."""
    setattr(endpoint, _PLAIN, True)
    return endpoint


def plain_routes(router: APIRouter) -> None:
    """Mark every route of `router` `plain` (the index still serves through FastAPI any that
    has something for FastAPI to solve)."""
    for route in router.routes:
        if isinstance(route, _fr.APIRoute):
            plain(route.endpoint)


def _takes_request_only(d: Any) -> bool:
    params = (d.dependencies, d.path_params, d.query_params, d.header_params, d.cookie_params, d.body_params)
    return d.request_param_name is not None and not any(params)


def plain_app(route: Any, ctx: Any = None) -> ASGIApp | None:
    """The Starlette app serving `route` (with its inclusion context `ctx`) when its endpoint
    is marked `plain` and FastAPI has nothing to solve for it but the request, path parameters
    typed `str` (a path segment is one already) and checks (`dependencies=[...]` of coroutines
    taking the request alone, like the control API's token check); None otherwise."""
    endpoint: Any = getattr(route, "endpoint", None)
    owner = ctx if ctx is not None else route
    d = getattr(owner, "dependant", None)
    if not getattr(endpoint, _PLAIN, False) or d is None or d.request_param_name is None:
        return None
    if d.query_params or d.header_params or d.cookie_params or d.body_params:
        return None
    checks: list[tuple[Any, str]] = []
    for dep in d.dependencies:
        if dep.name is not None or not _takes_request_only(dep) or not inspect.iscoroutinefunction(dep.call):
            return None
        checks.append((dep.call, dep.request_param_name))
    names: list[tuple[str, str]] = []
    for f in d.path_params:
        info = f.field_info
        if info.annotation is not str or info.metadata or info.default is not PydanticUndefined:
            return None
        names.append((f.name, f.alias))
    request_name = d.request_param_name

    async def call(request: Request) -> Response:
        for check, name in checks:
            await check(**{name: request})
        params = request.path_params
        kwargs = {name: params[alias] for name, alias in names}
        kwargs[request_name] = request
        response: Response = await endpoint(**kwargs)
        return response

    app: ASGIApp = _fr.wrap_app_with_body_limit(request_response(call), getattr(owner, "max_body_size", None))
    return app


def literal_prefix(path: str) -> Key:
    """The leading literal segments of a route path, up to `DEPTH` (stops at a parameter)."""
    out: list[str] = []
    for seg in path.lstrip("/").split("/")[:DEPTH]:
        if "{" in seg:
            break
        out.append(seg)
    return tuple(out)


def route_keys(route: Any) -> list[Key]:
    """Every literal prefix a path must start with for `route` to match it; `()` matches all."""
    if isinstance(route, Host):
        return [()]
    contexts = getattr(route, "effective_route_contexts", None)
    if contexts is not None:  # an included router: the union of its routes' prefixes
        keys: list[Key] = []
        for ctx in contexts():
            path = getattr(ctx.starlette_route or ctx, "path", None)
            if not isinstance(path, str) or ctx.frontend_prefix:
                return [()]
            keys.append(literal_prefix(path.rstrip("/") if isinstance(ctx.starlette_route, Mount) else path))
        return keys
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        return [()]
    if isinstance(route, Mount):
        return [literal_prefix(path.rstrip("/"))]
    return [literal_prefix(path)]


class Leaf:
    """One route as the index tries it: a top-level route, or a route of an included router
    (`owner`) with FastAPI's effective context for it (`ctx`: the route with its prefix)."""

    __slots__ = ("api", "ctx", "keys", "owner", "plain", "route")

    def __init__(self, route: Any, keys: list[Key], owner: Any = None, ctx: Any = None) -> None:
        self.route, self.keys, self.owner, self.ctx = route, keys, owner, ctx
        self.api = ctx is not None and isinstance(ctx.original_route, _fr.APIRoute)
        api_route = ctx.original_route if self.api else route
        self.plain = plain_app(api_route, ctx) if isinstance(api_route, _fr.APIRoute) else None

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if self.ctx is None:
            match, child_scope = self.route.matches(scope)
            return match, child_scope
        # what `_IncludedRouter._match` does for one candidate: an APIRoute matches through its
        # effective context (its path with the prefix) and names itself in the child scope
        match, child_scope = self.ctx.matches(scope)
        if self.api and match is not Match.NONE:
            child_scope["route"] = self.ctx.original_route
        return match, child_scope


def leaves(route: BaseRoute) -> list[Leaf]:
    """`route` as leaves: an included router of plain routes opens into one leaf per route;
    anything else (nested inclusions, frontend groups, hosts) stays one opaque leaf."""
    if isinstance(route, _fr._IncludedRouter):
        out: list[Leaf] = []
        for ctx in route.effective_candidates():
            if (
                isinstance(ctx, _fr._IncludedRouter)
                or ctx.frontend_prefix
                or isinstance(ctx.original_route, Host)
            ):
                return [Leaf(route, route_keys(route))]
            inner = ctx.starlette_route or ctx.original_route
            path = getattr(ctx.starlette_route or ctx, "path", None)
            if not isinstance(path, str):
                return [Leaf(route, route_keys(route))]
            if isinstance(ctx.starlette_route, Mount):
                path = path.rstrip("/")
            out.append(Leaf(inner, [literal_prefix(path)], owner=route, ctx=ctx))
        return out
    return [Leaf(route, route_keys(route))]


class RouteIndex:
    """The router's dispatch, trying only the routes whose literal prefix fits the path."""

    def __init__(self, router: APIRouter) -> None:
        self.router = router
        self.fallback = router.app
        self._version: tuple[int, int] = (-1, -1)
        self._leaves: list[Leaf] = []
        self._cache: dict[Key, list[Leaf]] = {}

    def _rebuild(self) -> None:
        self._leaves = [leaf for r in self.router.routes for leaf in leaves(r)]
        self._cache = {}

    def candidates(self, path: str) -> list[Leaf]:
        version = (getattr(self.router, "_routes_version", 0), len(self.router.routes))
        if version != self._version:
            self._rebuild()
            self._version = version
        key = tuple(path.split("/", DEPTH + 1)[1 : DEPTH + 1])
        found = self._cache.get(key)
        if found is None:
            found = [leaf for leaf in self._leaves if any(key[: len(k)] == k for k in leaf.keys)]
            if len(self._cache) < CACHE_MAX:
                self._cache[key] = found
        return found

    def find(self, scope: Scope) -> tuple[Leaf, Scope] | None:
        """The first route that matches `scope` fully (method included), as FastAPI's own scan
        would pick it; None when only FastAPI can decide (no full match)."""
        for leaf in self.candidates(get_route_path(scope)):
            match, child_scope = leaf.matches(scope)
            if match is Match.FULL:
                return leaf, child_scope
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = None if scope["type"] == "lifespan" else self.find(scope)
        if found is None:
            await self.fallback(scope, receive, send)  # lifespan, 404, 405, redirects: FastAPI's
            return
        leaf, child_scope = found
        router = self.router
        _fr._apply_router_form_limits(scope, router.form_limits)
        if "router" not in scope:
            scope["router"] = router
        telemetry = "fastapi.telemetry" in scope
        if leaf.owner is None:  # `APIRouter.app` with a full match
            _fr._update_scope(scope, child_scope)
            if telemetry:
                path = getattr(leaf.route, "path_format", None)
                _fr._route_selected(scope=scope, path=path, mount=isinstance(leaf.route, Mount))
            await (leaf.plain or leaf.route.handle)(scope, receive, send)
            return
        # `_IncludedRouter.handle`, then `_handle_selected` with the route already found
        owner, ctx = leaf.owner, leaf.ctx
        _fr._apply_router_form_limits(scope, owner.include_context.form_limits)
        fastapi_scope = _fr._get_fastapi_scope(scope)
        fastapi_scope[_fr._FASTAPI_INCLUDED_ROUTER_KEY] = owner
        _fr._update_scope(scope, child_scope)
        if telemetry:
            path = getattr(ctx.starlette_route, "path_format", None) or ctx.path_format
            _fr._route_selected(scope=scope, path=path, mount=isinstance(leaf.route, Mount))
        fastapi_scope[_fr._FASTAPI_EFFECTIVE_ROUTE_CONTEXT_KEY] = ctx
        if leaf.api:
            scope["route"] = ctx.original_route
            await (leaf.plain or ctx.original_route.handle)(scope, receive, send)
            return
        handle = _fr.wrap_app_with_body_limit(leaf.route.handle, owner.include_context.max_body_size)
        await handle(scope, receive, send)


def install(router: APIRouter) -> bool:
    """Put the index in front of `router`'s dispatch; False (nothing changed) when the router
    has middleware of its own or FastAPI's internals are not the ones this mirrors."""
    if router.middleware_stack != router.app or not all(hasattr(_fr, n) for n in NEEDED):
        return False
    router.middleware_stack = RouteIndex(router)
    return True
