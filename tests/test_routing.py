"""The indexed route lookup (app/routing.py) picks exactly what FastAPI's own scan picks."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, HTTPException
from fastapi import routing as fr
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match

from app.main import create_app
from app.routing import RouteIndex, install, plain_routes


def _fastapi_pick(app: Any, scope: dict[str, Any]) -> tuple[Any, dict[str, Any]] | None:
    """FastAPI's choice for a full match: the first top-level route, then inside an included
    router its first route (as `APIRouter.app` and `_IncludedRouter._handle_selected` do)."""
    for route in app.router.routes:
        match, child = route.matches(dict(scope))
        if match == Match.FULL:
            if isinstance(route, fr._IncludedRouter):
                _m, child, inner, ctx = route._match(dict(scope))
                return (ctx.original_route if ctx is not None else inner), child
            return route, child
    return None


def _paths(app: Any) -> list[str]:
    out = ["/", "/nope", "/api", "/api/v1", "/api/v1/nope/x", "/_admin", "/_admin/nope", "/docs-assets/x.js"]
    for route in app.router.routes:
        contexts = getattr(route, "effective_route_contexts", None)
        items = (
            [getattr(c.starlette_route or c, "path", "") for c in contexts()] if contexts else [route.path]
        )
        for path in items:
            out.append(re.sub(r"\{[^}:]+:path\}", "a/b", re.sub(r"\{[^}:]+\}", "x1", path)))
            out.append(out[-1] + "/")
    return out


def test_index_picks_what_fastapi_picks_for_every_route_and_method() -> None:
    """Every route path of the app (parameters filled in, with and without a trailing slash)
    under every method: the index finds the same route with the same path parameters as
    FastAPI's full scan, and leaves to FastAPI exactly the requests with no full match."""
    app = create_app()
    index = app.router.middleware_stack
    assert isinstance(index, RouteIndex)
    checked = 0
    for path in _paths(app):
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            scope = {"type": "http", "path": path, "root_path": "", "method": method, "headers": []}
            want = _fastapi_pick(app, scope)
            got = index.find(dict(scope))
            if want is None:
                assert got is None, (method, path)
                continue
            assert got is not None, (method, path)
            leaf, child = got
            chosen = leaf.ctx.original_route if leaf.ctx is not None else leaf.route
            assert chosen is want[0], (method, path)
            assert child.get("path_params") == want[1].get("path_params"), (method, path)
            checked += 1
    assert checked > 100


def test_index_tries_only_routes_that_fit_the_path() -> None:
    """A Musubi order read is tried against the routes under /api/v1/orders only, not the
    core, control, dashboard and other families' routes before it."""
    app = create_app()
    index = app.router.middleware_stack
    assert isinstance(index, RouteIndex)
    tried = index.candidates("/api/v1/orders/abc")
    assert 0 < len(tried) < 20
    assert all(
        k[:3] in {(), ("api",), ("api", "v1"), ("api", "v1", "orders")} for leaf in tried for k in leaf.keys
    )


def _plain_demo(index: bool) -> FastAPI:
    """One app with marked routes: a path parameter, a request check, and one FastAPI must solve."""

    async def check(request: Request) -> None:
        if request.headers.get("x-key") != "k":
            raise HTTPException(401, "no key", headers={"x-why": "key"})
        request.state.checked = True

    app = FastAPI()
    router = APIRouter()

    @router.post("/things/{thing_id}/{part}")
    async def thing(request: Request, thing_id: str, part: str) -> Response:
        body = await request.body()
        return JSONResponse(
            {"id": thing_id, "part": part, "body": body.decode(), "checked": request.state.checked}
        )

    @router.get("/query")
    async def query(request: Request, q: int) -> Response:
        return JSONResponse({"q": q})

    @router.get("/boom")
    async def boom(request: Request) -> Response:
        raise HTTPException(409, "taken")

    plain_routes(router)
    app.include_router(router, dependencies=[Depends(check)])
    if index:
        assert install(app.router)
    return app


def test_plain_routes_are_only_those_fastapi_has_nothing_to_solve_for() -> None:
    """Marked routes with `str` path parameters and request checks run plain; one with a typed
    query parameter stays FastAPI's; unmarked routes are never plain."""
    app = _plain_demo(index=True)
    index = app.router.middleware_stack
    assert isinstance(index, RouteIndex)
    plain = {}
    for method, path in (("POST", "/things/a/b"), ("GET", "/query"), ("GET", "/boom"), ("GET", "/docs")):
        found = index.find({"type": "http", "path": path, "root_path": "", "method": method, "headers": []})
        assert found is not None, path
        plain[path] = found[0].plain is not None
    assert plain == {"/things/a/b": True, "/query": False, "/boom": True, "/docs": False}


@pytest.mark.anyio
async def test_plain_routes_answer_exactly_as_fastapi_does() -> None:
    """The same requests through the index (plain) and through FastAPI's own dispatch: the same
    status, headers and body for a success, a failed check, a raised error and a bad query."""
    requests: list[tuple[str, str, dict[str, str], bytes]] = [
        ("POST", "/things/a%20b/x", {"x-key": "k"}, b"hello"),
        ("POST", "/things/a/x", {}, b""),
        ("GET", "/boom", {"x-key": "k"}, b""),
        ("GET", "/query?q=nope", {"x-key": "k"}, b""),
        ("GET", "/query?q=3", {"x-key": "k"}, b""),
    ]
    answers = []
    for index in (True, False):
        transport = httpx.ASGITransport(app=_plain_demo(index))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            got = []
            for method, url, headers, body in requests:
                r = await client.request(method, url, headers=headers, content=body)
                got.append((r.status_code, sorted(r.headers.items()), r.content))
            answers.append(got)
    assert answers[0] == answers[1]
    assert answers[0][0][0] == 200 and b'"a b"' in answers[0][0][2]
