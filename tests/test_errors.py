"""Unexpected errors (CONTRACT §6): a 500 in the family's shape, and the connection stays usable.

A tiny family registered through `create_app(registry=...)` owns a route that raises; nothing
of the app is patched.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
import pytest
from fastapi import APIRouter

from app.engine.runtime import Runtime
from app.families import ErrorShape, Family, Registry
from tests.conftest import live_server, make_settings

pytestmark = pytest.mark.anyio


class _Service:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def seed(self, mode: str) -> None: ...
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def wipe(self) -> None: ...

    def credentials(self) -> list[str]:
        return []

    async def token(self, args: list[str]) -> str:
        return ""

    def dashboard(self) -> dict[str, Any] | None:
        return None


router = APIRouter()


@router.get("/probe/boom")
async def boom() -> None:
    raise RuntimeError("a bug")


def _shape(code: str, message: str, details: list[dict[str, Any]], rid: str, now_ms: int) -> dict[str, Any]:
    return {"probe_error": code, "why": message}


PROBE = Family(
    name="probe",
    title="Probe",
    prefixes=("/probe/",),
    create=_Service,
    errors=ErrorShape(codes={500: "PROBE_BROKE"}, body=_shape),
    routers=[router],
)


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str
) -> tuple[int, bytes]:
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    return status, await reader.readexactly(length)


async def test_unexpected_error_keeps_the_keep_alive_connection(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """After a 500 (in the family's shape) the same keep-alive connection serves the next
    request: the exception is not re-raised to uvicorn, which would reset the connection."""
    async with live_server(make_settings(sqlite_url), registry=Registry([PROBE])) as live:
        reader, writer = await asyncio.open_connection("127.0.0.1", live.port)
        try:
            async with asyncio.timeout(10):
                with caplog.at_level(logging.ERROR):
                    status, body = await _exchange(reader, writer, "/probe/boom")
                assert status == 500
                assert orjson.loads(body) == {"probe_error": "PROBE_BROKE", "why": "internal error"}
                status, body = await _exchange(reader, writer, "/health")
                assert (status, body) == (200, b'{"status":"ok"}')
            assert [e["status"] for e in live.ctx.journal.recent(2)] == [200, 500]
        finally:
            writer.close()
    logged = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(logged) == 1 and "Exception in ASGI application" not in logged[0].getMessage()
