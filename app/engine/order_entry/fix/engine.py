"""The drop-copy engine: the live sessions, and ExecutionReport bodies rendered once per event.

`FixEngine(rt, venue, comp_id)` is what the transport needs: each TCP connection gets a
`FixSession(engine, transport)`; `sessions()` lists every session (database + live);
`close_all()` ends them (shutdown).

Rendering. A report body depends on the event and, for AvgPx, on the order's earlier fills.
Each account has one `Renderer` that renders its events in seq order with one running `AvgPx`
and keeps the most recent bodies, so N sessions of one account cost one render per event. A
reader outside that order (a resend, a session far behind) renders with its own `AvgPx`; when
an order's earlier fills were never seen, they are read back from the stream (`backfill`).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from typing import Any, Protocol

from app.engine.order_entry.fix import store
from app.engine.order_entry.fix.report import AvgPx, event_fields, render
from app.engine.order_entry.fix.venue import FAMILY, Venue
from app.engine.runtime import Runtime
from app.engine.streams import Event

_PAGE = 1000


class Transport(Protocol):
    """What a session needs of its connection."""

    def write(self, data: bytes) -> None: ...

    async def drain(self) -> None: ...

    def close(self) -> None: ...


class LiveSession(Protocol):
    """What the engine needs of a logged-on session (`session.FixSession`)."""

    state: store.SessionRow | None
    account: str

    async def close(self, reason: str = "") -> None: ...


class Tracker:
    """An `AvgPx` with the first seq of the contiguous window it has observed."""

    def __init__(self, since: int) -> None:
        self.avg = AvgPx()
        self.since = since
        self.next = since


class Renderer:
    """One account's report bodies, rendered in seq order, the latest `keep` of them kept."""

    def __init__(self, engine: FixEngine, account: str, keep: int) -> None:
        self.engine = engine
        self.account = account
        self.keep = keep
        self.bodies: OrderedDict[int, bytes] = OrderedDict()
        self.tracker: Tracker | None = None
        self.lock = asyncio.Lock()

    async def bodies_for(
        self, events: list[Event], private: Tracker | None
    ) -> tuple[list[bytes], Tracker | None]:
        """The bodies of `events` (ascending seqs). Events behind the shared order and not kept
        are rendered with the reader's `private` tracker, returned for its next call."""
        async with self.lock:
            out: list[bytes] = []
            cache = self.bodies
            for ev in events:
                body = cache.get(ev.seq)
                if body is None:
                    shared = self.tracker
                    if shared is None or ev.seq >= shared.next:
                        if shared is None or ev.seq > shared.next:
                            shared = self.tracker = Tracker(ev.seq)
                        t = shared
                    else:
                        if private is None or ev.seq != private.next:
                            private = Tracker(ev.seq)
                        t = private
                    body = await self.render(ev, t)
                    if t is shared:
                        cache[ev.seq] = body
                        if len(cache) > self.keep:
                            cache.popitem(last=False)
                out.append(body)
            return out, private

    async def render(self, ev: Event, t: Tracker) -> bytes:
        account, data = event_fields(ev.data)
        need = t.avg.missing(data)
        if need:
            await self.engine.backfill(self.account, data["orderId"], t, need)
        body = render(account or self.account, ev.seq, data, t.avg, self.engine.venue.symbol)
        t.next = ev.seq + 1
        return body


class FixEngine:
    def __init__(self, rt: Runtime, venue: Venue, comp_id: str, *, keep_bodies: int = 1024) -> None:
        self.rt = rt
        self.venue = venue
        self.comp_id = comp_id
        self.keep_bodies = keep_bodies
        self.live: dict[tuple[str, str], LiveSession] = {}
        self.renderers: dict[str, Renderer] = {}

    def renderer(self, account: str) -> Renderer:
        r = self.renderers.get(account)
        if r is None:
            r = self.renderers[account] = Renderer(self, account, self.keep_bodies)
        return r

    def forget(self, account: str) -> None:
        """No live session copies this account any more: drop its rendered bodies."""
        if not any(s.account == account for s in self.live.values()):
            self.renderers.pop(account, None)

    async def backfill(self, account: str, order_id: str, t: Tracker, need: int) -> None:
        """Feed `t` the fills of `order_id` before its window, newest first, until `need` is met."""
        hi = t.since - 1
        found: list[dict[str, Any]] = []
        while hi >= 1 and need > 0:
            lo = max(1, hi - _PAGE + 1)
            rr = await self.rt.streams.read(FAMILY, account, lo, hi - lo + 1)
            for ev in reversed([e for e in rr.events if e.seq <= hi]):
                _a, d = event_fields(ev.data)
                if d.get("orderId") == order_id and (d.get("filledQty") or 0) > 0:
                    found.append(d)
                    need -= int(d["filledQty"])
                    if need <= 0:
                        break
            hi = lo - 1
        for d in reversed(found):
            t.avg.add_fill(d)

    async def head(self, account: str) -> int:
        return await self.rt.streams.head(FAMILY, account)

    async def sessions(self) -> list[dict[str, Any]]:
        rows = await self.rt.db.read(store.all_sessions)
        out = []
        for row in rows:
            live = self.live.get((row.sender, row.key_id))
            if live is not None and live.state is not None:
                row = live.state
            out.append(
                {
                    "senderCompId": row.sender,
                    "apiKeyId": row.key_id,
                    "account": row.account,
                    "connected": live is not None,
                    "nextOutSeq": row.next_out,
                    "nextInSeq": row.next_in,
                    "lastAccountSeq": row.last_account_seq,
                }
            )
        return out

    async def close_all(self, reason: str = "server stopping") -> None:
        for s in list(self.live.values()):
            await s.close(reason)
