"""What every family's routers share: the JSON answer, the body reader, the bearer parser and
the task race of a stream transport. One copy each; a family adds only its own envelope.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine, Mapping
from typing import Any

import orjson
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

from app.engine.bounds import check_depth
from app.engine.errors import InvalidInput

JSON = "application/json"


def answer(obj: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON answer serialised once with orjson; `obj` may be pre-serialised bytes."""
    body = obj if isinstance(obj, bytes) else orjson.dumps(obj)
    return Response(body, status_code=status, media_type=JSON, headers=headers)


async def read_json(
    request: Request, *, required: bool = True, obj: bool = True, code: str | None = None
) -> Any:
    """The request body parsed as JSON whatever its Content-Type says.

    An empty body is `{}` when not `required`; `obj` demands a JSON object; nesting deeper
    than `bounds.MAX_DEPTH` is refused. Errors name the field `body` in the family's shape (the
    caller's `code`, else its default for 400).
    """
    raw = await request.body()
    if not raw.strip():
        if required:
            raise InvalidInput.field("body", "a JSON object is required", code=code)
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidInput.field("body", "must be valid JSON", code=code) from None
    if obj and not isinstance(body, dict):
        raise InvalidInput.field("body", "must be a JSON object", code=code)
    if isinstance(body, (dict, list)):
        check_depth(body, code=code)
    return body


class MalformedBearer(Exception):
    """An Authorization header that is present but not `Bearer <token>`."""


def bearer(conn: HTTPConnection, *, strict: bool = True, query_param: str | None = None) -> str | None:
    """The token of `Authorization: Bearer <token>`, else of `?<query_param>=`, else None.

    `strict`: a header without the Bearer scheme raises `MalformedBearer`; otherwise the whole
    header (stripped) is taken as the token, as clients that omit the scheme expect.
    """
    header = conn.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        if strict:
            raise MalformedBearer("malformed Authorization header: expected 'Bearer <token>'")
        return header.strip() or None
    if query_param is not None:
        return conn.query_params.get(query_param) or None
    return None


async def race(*coros: Coroutine[Any, Any, Any]) -> None:
    """Run the tasks of one stream connection (sender, reader, pinger, watcher…); the first to
    finish cancels the rest. Every task is awaited before this returns, so nothing outlives
    the connection; their exceptions are the tasks' own business (they end the race)."""
    tasks = [asyncio.create_task(c) for c in coros]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(BaseException):
                await t
