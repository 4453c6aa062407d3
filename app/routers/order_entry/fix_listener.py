"""The FIX drop-copy listener (CONTRACT §4.6): plain TCP, FIX 4.4 framing, one `FixSession`
per connection. The edge of the FIX transport: bytes in and out; the session rules live in
`app.engine.order_entry.fix`.

    listener = await FixListener.start(ctx, host, port)   # port 0 = a free port
    listener.port                                          # the port it listens on
    listener.close_now()                                   # stop accepting, drop connections
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from app.context import AppContext
from app.engine.order_entry.fix.codec import Framer
from app.engine.order_entry.fix.engine import FixEngine
from app.engine.order_entry.fix.session import FixSession
from app.engine.order_entry.fix.venue import FAMILY, Venue
from app.families import ListenerError

log = logging.getLogger("refserver.fix")

LOGON_TIMEOUT_S = 10.0
READ_CHUNK = 65_536


class _Transport:
    __slots__ = ("writer",)

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer

    def write(self, data: bytes) -> None:
        if not self.writer.is_closing():
            self.writer.write(data)

    async def drain(self) -> None:
        if not self.writer.is_closing():
            await self.writer.drain()

    def close(self) -> None:
        self.writer.close()


def make_engine(ctx: AppContext) -> FixEngine:
    return FixEngine(ctx.runtime, Venue(lambda: ctx.service(FAMILY)), ctx.settings.fix_comp_id)


class FixListener:
    name = "fix"

    def __init__(self, ctx: AppContext, server: asyncio.Server, engine: FixEngine) -> None:
        self.ctx = ctx
        self.server = server
        self.engine = engine
        self.writers: set[asyncio.StreamWriter] = set()
        self.port = int(server.sockets[0].getsockname()[1]) if server.sockets else 0

    @classmethod
    async def start(cls, ctx: AppContext, host: str, port: int) -> FixListener:
        engine = make_engine(ctx)
        holder: dict[str, FixListener] = {}

        async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await holder["listener"].serve_connection(reader, writer)

        server = await asyncio.start_server(on_connect, host, port)
        listener = holder["listener"] = cls(ctx, server, engine)
        return listener

    async def serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.add(writer)
        session = FixSession(self.engine, _Transport(writer))
        framer = Framer()
        try:
            while not session.closed:
                if session.state is None:
                    async with asyncio.timeout(LOGON_TIMEOUT_S):
                        data = await reader.read(READ_CHUNK)
                else:
                    data = await reader.read(READ_CHUNK)
                if not data:
                    break
                framer.feed(data)
                for msg in framer.messages():
                    await session.handle(msg)
                    if session.closed:
                        break
        except (TimeoutError, ConnectionError, OSError):
            pass
        except Exception:
            log.exception("FIX connection failed")
        finally:
            await session.close("connection closed")
            self.writers.discard(writer)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def banner(self) -> str:
        s = self.ctx.settings
        return f"FIX 4.4 drop-copy tcp://{s.host}:{self.port} (TargetCompID {s.fix_comp_id})"

    def close_now(self) -> None:
        """Stop accepting and drop every connection (shutdown)."""
        self.server.close()
        for w in list(self.writers):
            w.close()

    async def stop(self) -> None:
        self.close_now()
        await self.engine.close_all("server stopping")
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5):
                await self.server.wait_closed()


async def start_fix(ctx: AppContext, host: str) -> FixListener | None:
    """The listener on `settings.fix_port` (0 = a free port), or None when it is `off`."""
    port: Any = ctx.settings.fix_port
    if port == "off":
        return None
    try:
        return await FixListener.start(ctx, host, int(port))
    except OSError as exc:  # one clear line from the CLI, never a traceback
        raise ListenerError(f"cannot listen for FIX on port {port}: {exc.strerror or exc}") from None
