"""One FIX 4.4 drop-copy connection: Logon, the report pump, the session rules (CONTRACT §4.6).

Transport-agnostic: the listener frames bytes into `Message`s and awaits `handle(msg)` for each
in order, and calls `close()` when the connection ends; the session writes through its
`Transport`. Everything sent goes through one lock, in MsgSeqNum order, and each MsgSeqNum is
committed (with the account seqs the reports carry) before the message leaves: after a crash
the client meets a gap and asks for it again, never a number used twice.

Wall-time timers (Heartbeat, TestRequest, the silent-client Logout) run in one task; the
reports come from the account's stream subscription (ring first, SQL fallback), which the
control API's skip and disconnect act on: a withheld event still takes its MsgSeqNum (the gap
the client must recover with ResendRequest), a disconnect drops the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy.engine import Connection

from app.clock import wall_ms
from app.engine.order_entry.fix import codec, logon, store
from app.engine.order_entry.fix.codec import Message
from app.engine.order_entry.fix.store import SessionRow
from app.engine.order_entry.fix.venue import FAMILY
from app.engine.streams import Emit, Event, StreamEnded, Subscription

if TYPE_CHECKING:
    from app.engine.order_entry.fix.engine import FixEngine, Tracker, Transport

log = logging.getLogger("refserver.fix")

ADMIN_TYPES = frozenset("012345A")
_RESEND_PAGE = 2000
TOO_LOW = "MsgSeqNum too low"


class FixSession:
    def __init__(self, engine: FixEngine, transport: Transport) -> None:
        self.engine = engine
        self.transport = transport
        self.state: SessionRow | None = None
        self.account = ""
        self.key_id = ""
        self.hb = 30
        self.comp = engine.comp_id.encode()
        self.target = b""
        self.lock = asyncio.Lock()
        self.sub: Subscription | None = None
        self.tasks: list[asyncio.Task[None]] = []
        self.private: Tracker | None = None
        self.last_sent = self.last_recv = time.monotonic()
        self.test_sent: float | None = None
        self.test_n = 0
        self.resend_asked = False
        self.closed = False
        self._unrevoke: Callable[[], None] | None = None

    # --- the transport's side ------------------------------------------------------------------
    async def handle(self, msg: Message) -> None:
        if self.closed:
            return
        self.last_recv = time.monotonic()
        self.test_sent = None
        if self.state is None:
            await self._logon(msg)
            return
        async with self.lock:
            await self._session_message(msg)

    async def logout(self, text: str) -> None:
        """Send Logout `58=text`, then close (from outside the send lock)."""
        if self.closed or self.state is None:
            return
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5):
                async with self.lock:
                    if not self.closed:
                        await self._admin("5", [(58, text)])
        await self.close(text)

    async def close(self, reason: str = "") -> None:
        """End the connection at once; idempotent."""
        if self.closed:
            return
        self.closed = True
        me = asyncio.current_task()
        for t in self.tasks:
            if t is not me:
                t.cancel()
        if self.sub is not None:
            self.sub.close()
        if self._unrevoke is not None:
            self._unrevoke()
        st = self.state
        if st is not None and self.engine.live.get((st.sender, st.key_id)) is self:
            del self.engine.live[(st.sender, st.key_id)]
            self.engine.forget(st.account)
        with contextlib.suppress(Exception):
            self.transport.close()
        if reason:
            log.info("fix session %s/%s closed: %s", self.target.decode(), self.key_id, reason)

    # --- Logon ---------------------------------------------------------------------------------
    async def _refuse(self, code: str, target: str) -> None:
        data = codec.encode_admin("5", 1, self.engine.comp_id, target, wall_ms(), [(58, code)])
        with contextlib.suppress(Exception):
            self.transport.write(data)
            await self.transport.drain()
        self.closed = True
        self.transport.close()

    async def _logon(self, msg: Message) -> None:
        engine = self.engine
        try:
            lg = logon.check(msg, engine.comp_id, engine.venue, wall_ms())
        except logon.Refused as r:
            await self._refuse(r.code, msg.get(49) or "")
            return
        ident = (lg.sender, lg.key.key_id)
        if ident in engine.live:
            await self._refuse("SESSION_ACTIVE", lg.sender)
            return
        engine.live[ident] = self  # claimed before any await: one live connection per session
        self.account, self.key_id, self.hb = lg.key.account, lg.key.key_id, lg.heartbeat_s
        self.target = lg.sender.encode()
        try:
            await self._start(lg)
        except Exception:
            if engine.live.get(ident) is self:
                del engine.live[ident]
            self.state = None
            raise

    async def _start(self, lg: logon.Logon) -> None:
        engine, account = self.engine, lg.key.account
        stored = await engine.rt.db.read(lambda c: store.load(c, lg.sender, lg.key.key_id))
        head = await engine.head(account)
        lost = stored is not None and not await self._still_in_stream(stored, head)
        fresh = stored is None or lg.reset or stored.account != account or lost
        too_low = too_high = False
        if fresh:
            start = head if lg.from_seq is None else lg.from_seq - 1
            st = SessionRow(lg.sender, lg.key.key_id, account, 1, lg.seq + 1, start)
        else:
            assert stored is not None
            st = stored
            too_low, too_high = lg.seq < st.next_in, lg.seq > st.next_in
            if not too_low and not too_high:
                st.next_in += 1
        self.state = st
        async with self.lock:
            if fresh:

                def create(conn: Connection, emit: Emit) -> None:
                    store.create(conn, st, wall_ms())

                await engine.rt.streams.transact(create)
            if too_low:
                await self._admin("5", [(58, TOO_LOW)])
                await self.close(TOO_LOW)
                return
            reply: list[tuple[int, bytes | str | int]] = [(98, 0), (108, self.hb)]
            if lg.reset or lost:
                reply.append((141, "Y"))
            await self._admin("A", reply)
            if too_high:
                await self._ask_resend()
        self._unrevoke = engine.venue.on_revoke(lg.key.key_id, self._revoked)
        key = engine.venue.key(lg.key.key_id)
        if key is None or key.revoked:  # revoked while this Logon was being answered
            self._revoked("KEY_REVOKED")
            return
        self.sub = await engine.rt.streams.subscribe(FAMILY, account, from_seq=st.last_account_seq + 1)
        loop = asyncio.get_running_loop()
        self.tasks = [
            loop.create_task(self._pump(), name=f"fix-pump-{lg.sender}"),
            loop.create_task(self._timers(), name=f"fix-timers-{lg.sender}"),
        ]

    async def _still_in_stream(self, stored: SessionRow, head: int) -> bool:
        """Whether the stream still holds what the session copied (a control-API reset wipes
        the streams: the session then starts over, its Logon reply saying 141=Y)."""
        if stored.last_account_seq > head:
            return False
        if stored.last_hash is None or stored.last_account_seq < 1:
            return True
        rr = await self.engine.rt.streams.read(FAMILY, stored.account, stored.last_account_seq, 1)
        ev = next((e for e in rr.events if e.seq == stored.last_account_seq), None)
        return ev is not None and store.digest(ev.data) == stored.last_hash

    def _revoked(self, reason: str) -> None:
        if not self.closed:
            asyncio.get_running_loop().create_task(self.logout(reason))

    # --- sending -------------------------------------------------------------------------------
    async def _save(self) -> None:
        st = self.state
        assert st is not None

        def run(conn: Connection, emit: Emit) -> None:
            store.save(conn, st, wall_ms())

        await self.engine.rt.streams.transact(run)

    def _send(self, data: bytes) -> None:
        self.transport.write(data)
        self.last_sent = time.monotonic()

    async def _admin(self, msg_type: str, fields: list[tuple[int, bytes | str | int]]) -> None:
        """An administrative message with the next MsgSeqNum (committed first). Lock held."""
        st = self.state
        assert st is not None
        seq = st.next_out
        st.next_out += 1
        await self._save()
        self._send(codec.encode_admin(msg_type, seq, self.engine.comp_id, st.sender, wall_ms(), fields))
        await self.transport.drain()

    async def _ask_resend(self) -> None:
        st = self.state
        assert st is not None
        if not self.resend_asked:
            self.resend_asked = True
            await self._admin("2", [(7, st.next_in), (16, 0)])

    async def _pump(self) -> None:
        sub = self.sub
        assert sub is not None
        try:
            while not self.closed:
                events = await sub.next_batch()
                async with self.lock:
                    if not self.closed:
                        await self._reports(events)
        except StreamEnded as ended:
            await self.close(f"stream ended: {ended.reason}")
        except (ConnectionError, OSError) as exc:
            await self.close(f"connection lost: {exc!r}")
        except Exception:
            log.exception("FIX report pump failed; dropping the connection")
            await self.close("internal error")

    async def _reports(self, events: list[Event]) -> None:
        """MsgSeqNums for `events` and any events withheld before them (skip: assigned, not
        sent), committed, then the reports sent. Lock held."""
        st = self.state
        assert st is not None
        first_out, first_acct = st.next_out, st.last_account_seq + 1
        sent: list[tuple[int, Event]] = []
        for ev in events:
            if ev.seq <= st.last_account_seq:
                continue
            st.next_out += ev.seq - st.last_account_seq - 1  # withheld events keep their numbers
            sent.append((st.next_out, ev))
            st.next_out += 1
            st.last_account_seq = ev.seq
        count = st.last_account_seq - first_acct + 1
        if count <= 0:
            return
        st.last_hash = store.digest(sent[-1][1].data)

        def run(conn: Connection, emit: Emit) -> store.Run:
            run_ = store.add_reports(conn, st, first_out, first_acct, count)
            store.save(conn, st, wall_ms())
            return run_

        st.last_run = await self.engine.rt.streams.transact(run)
        renderer = self.engine.renderer(self.account)
        bodies, self.private = await renderer.bodies_for([e for _s, e in sent], self.private)
        sending = codec.utc_timestamp(wall_ms())
        out = bytearray()
        for (seq, _ev), body in zip(sent, bodies, strict=True):
            out += codec.frame(codec.header(b"8", seq, self.comp, self.target, sending) + body)
        self._send(bytes(out))
        await self.transport.drain()

    # --- the client's messages -----------------------------------------------------------------
    async def _reject(self, ref_seq: int, reason: int, text: str, ref_tag: int | None = None) -> None:
        fields: list[tuple[int, bytes | str | int]] = [(45, ref_seq)]
        if ref_tag is not None:
            fields.append((371, ref_tag))
        fields += [(373, reason), (58, text)]
        await self._admin("3", fields)

    async def _session_message(self, msg: Message) -> None:
        st = self.state
        assert st is not None
        mt = msg.msg_type or ""
        seq = msg.int_value(34)
        if seq is None:
            await self._reject(0, 1, "MsgSeqNum (34) missing or not an integer", 34)
            return
        if mt == "4" and msg.get(123) != "Y":  # SequenceReset-Reset: MsgSeqNum is ignored
            new = msg.int_value(36)
            if new is None:
                await self._reject(seq, 1, "NewSeqNo (36) is required", 36)
            elif new < st.next_in:
                await self._reject(seq, 5, "NewSeqNo would lower the expected MsgSeqNum", 36)
            else:
                st.next_in = new
                self.resend_asked = False
                await self._save()
            return
        if seq < st.next_in:
            if msg.get(43) == "Y":
                return  # a possible duplicate already processed
            await self._admin("5", [(58, TOO_LOW)])
            await self.close(TOO_LOW)
            return
        if seq > st.next_in:
            await self._ask_resend()
        else:
            st.next_in += 1
        await self._dispatch(mt, seq, msg)
        if not self.closed:
            await self._save()

    async def _dispatch(self, mt: str, seq: int, msg: Message) -> None:
        st = self.state
        assert st is not None
        if mt == "0" or mt == "3":
            return
        if mt == "1":
            test_id = msg.get(112)
            if test_id is None:
                await self._reject(seq, 1, "TestReqID (112) is required", 112)
            else:
                await self._admin("0", [(112, test_id)])
        elif mt == "2":
            begin, end = msg.int_value(7), msg.int_value(16)
            if begin is None or end is None:
                await self._reject(
                    seq, 1, "BeginSeqNo (7) and EndSeqNo (16) are required", 7 if begin is None else 16
                )
            elif begin < 1 or (end != 0 and end < begin):
                await self._reject(seq, 5, "BeginSeqNo must be >= 1 and EndSeqNo 0 or >= BeginSeqNo", 7)
            else:
                await self._resend(begin, end)
        elif mt == "4":
            new = msg.int_value(36)
            if new is None:
                await self._reject(seq, 1, "NewSeqNo (36) is required", 36)
            elif new > st.next_in:
                st.next_in = new
                self.resend_asked = False
        elif mt == "5":
            await self._admin("5", [])
            await self.close("logout")
        elif mt == "A":
            await self._reject(seq, 5, "already logged on", 35)
        elif not mt:
            await self._reject(seq, 1, "MsgType (35) is required", 35)
        else:
            await self._admin(
                "j",
                [
                    (45, seq),
                    (372, mt),
                    (380, 3),
                    (58, "drop-copy session is read-only: unsupported message type"),
                ],
            )

    # --- ResendRequest -------------------------------------------------------------------------
    async def _gap_fill(self, seq: int, new_seq: int) -> None:
        self._send(self._gap_bytes(seq, new_seq))

    async def _resend(self, begin: int, end: int) -> None:
        """Reports of MsgSeqNums begin…end rebuilt from the stream (43=Y, 122), GapFill over
        everything else. Lock held, so nothing new interleaves."""
        st = self.state
        assert st is not None
        hi = st.next_out - 1
        if end == 0 or end > hi:
            end = hi
        if begin > end:
            await self._reject(st.next_in - 1, 5, f"BeginSeqNo is beyond the last MsgSeqNum sent ({hi})", 7)
            return
        engine = self.engine
        runs = await engine.rt.db.read(lambda c: store.runs(c, st.sender, st.key_id, begin, end))
        cursor = begin
        renderer = engine.renderer(self.account)
        private: Tracker | None = None
        for run in runs:
            lo, top = max(run.out_seq, begin), min(run.out_seq + run.count - 1, end)
            if cursor < lo:
                await self._gap_fill(cursor, lo)
            acct = run.account_seq + (lo - run.out_seq)
            last_acct = acct + (top - lo)
            offset = lo - acct  # out_seq = account seq + offset inside this run
            cursor = lo
            while acct <= last_acct:
                rr = await engine.rt.streams.read(
                    FAMILY, self.account, acct, min(_RESEND_PAGE, last_acct - acct + 1)
                )
                events = [e for e in rr.events if acct <= e.seq <= last_acct]
                if not events:
                    break
                bodies, private = await renderer.bodies_for(events, private)
                now = codec.utc_timestamp(wall_ms())
                out = bytearray()
                for ev, body in zip(events, bodies, strict=True):
                    seq = ev.seq + offset
                    if seq > cursor:
                        out += self._gap_bytes(cursor, seq)
                    head = codec.header(b"8", seq, self.comp, self.target, now, codec.utc_timestamp(ev.ts_ms))
                    out += codec.frame(head + body)
                    cursor = seq + 1
                self._send(bytes(out))
                await self.transport.drain()
                acct = events[-1].seq + 1
            if cursor <= top:  # events the stream no longer has
                await self._gap_fill(cursor, top + 1)
                cursor = top + 1
        if cursor <= end:
            await self._gap_fill(cursor, end + 1)
        await self.transport.drain()

    def _gap_bytes(self, seq: int, new_seq: int) -> bytes:
        return codec.encode_admin(
            "4",
            seq,
            self.engine.comp_id,
            self.target.decode(),
            wall_ms(),
            [(123, "Y"), (36, new_seq)],
            poss_dup=True,
        )

    # --- wall-time timers ----------------------------------------------------------------------
    async def _timers(self) -> None:
        tick = min(1.0, self.hb / 5)
        try:
            while not self.closed:
                await asyncio.sleep(tick)
                now = time.monotonic()
                async with self.lock:
                    if self.closed:
                        return
                    if self.test_sent is not None:
                        if now - self.test_sent >= self.hb:
                            await self._admin("5", [(58, "no answer to TestRequest")])
                            await self.close("no answer to TestRequest")
                            return
                    elif now - self.last_recv >= self.hb * 1.2:
                        self.test_n += 1
                        self.test_sent = now
                        await self._admin("1", [(112, f"TEST-{self.test_n}")])
                    if now - self.last_sent >= self.hb:
                        await self._admin("0", [])
        except (ConnectionError, OSError) as exc:
            await self.close(f"connection lost: {exc!r}")
        except Exception:
            log.exception("FIX session timers failed; dropping the connection")
            await self.close("internal error")
