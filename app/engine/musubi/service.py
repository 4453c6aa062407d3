"""The Musubi settlement service: participants, orders, quotes, the lifecycle and its timers.

State lives in memory as immutable snapshots and is persisted through the streams writer:
every change is one `Streams.transact` that writes the rows and emits one event per party
stream (DB-first, one commit). Changes to one order are serialised by a per-order lock held
across check → commit → swap, so a refused call changes nothing and concurrent calls on one
order see each other's results; different orders commit together in the writer's batches.

Streams (family "musubi", stream = party id):
- institutions and custodians: `order_updated` (the order), `quote_received` (sender side);
- market makers: `quote_request_created` (anonymised RFQ), `quote_updated` (own quote),
  `settlement_updated` (the won settlement).
Each event's `ref` is its intent id (the SSE `?intent_id=` filter).
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import heapq
import io
import itertools
import logging
import os
import random
import re
import secrets
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy.engine import Connection

from app.clock import Timer, iso_ms
from app.engine.errors import Conflict, Forbidden, NotFound, UpstreamUnavailable
from app.engine.musubi import sql
from app.engine.musubi import validate as v
from app.engine.musubi.auth import TokenAuthority, unauthorized
from app.engine.musubi.model import (
    EXPORT_COLUMNS,
    FAMILY,
    MUTABLE_ORDER_COLUMNS,
    OPERATOR_PARTY_ID,
    ORDER_COLUMNS,
    QUOTE_COLUMNS,
    QUOTE_STATUSES,
    REFERENCE_RATES,
    ROLES,
    STATUSES,
    Order,
    Participant,
    Quote,
    dec_str,
    party_fingerprint,
    source_amount,
)
from app.engine.streams import Emit

if TYPE_CHECKING:
    from app.engine.runtime import Runtime

log = logging.getLogger("refserver.musubi")

SIM_MM_NAME = "SimulatedMarketMaker"
SIM_MM_CLIENT_ID = "simulated-market-maker"
# (name, role, client_id, client_secret, simulated)
DEMO_PARTICIPANTS = (
    ("SenderInstitution", "institution", "sender-institution", "sender-institution-secret", False),
    ("ReceiverInstitution", "institution", "receiver-institution", "receiver-institution-secret", False),
    ("CustodianA", "custodian", "custodian-a", "custodian-a-secret", False),
    ("CustodianB", "custodian", "custodian-b", "custodian-b-secret", False),
    ("MarketMakerA", "market-maker", "market-maker-a", "market-maker-a-secret", True),
    ("MarketMakerB", "market-maker", "market-maker-b", "market-maker-b-secret", True),
)
SIM_QUOTE_VALIDITY_MS = 60_000

Op = tuple[sql.Stmt, dict[str, Any]]
Ev = tuple[str, str, bytes, str]  # (stream, kind, body, ref)


# Ids and hashes need uniqueness, not secrecy: a PRNG seeded once avoids a getrandom() call per
# id, which releases the GIL and then queues behind the writer thread to get it back.
_RNG = random.Random(int.from_bytes(os.urandom(32), "big"))


def new_id() -> str:
    """A UUID v4."""
    return str(uuid.UUID(int=_RNG.getrandbits(128), version=4))


def new_tx_hash() -> str:
    return f"0x{_RNG.getrandbits(256):064x}"


def demo_party_id(name: str) -> str:
    return f"{name}::{party_fingerprint('refserver-demo:' + name)}"


def conflict(message: str, details: list[dict[str, Any]] | None = None) -> Conflict:
    return Conflict(message, code="CONFLICT", details=details)


def not_found(message: str) -> NotFound:
    return NotFound(message, code="NOT_FOUND")


def forbidden(message: str) -> Forbidden:
    return Forbidden(message, code="FORBIDDEN")


def _order_params(o: Order, cols: Iterable[str] = ORDER_COLUMNS) -> dict[str, Any]:
    return {c: getattr(o, c) for c in cols}


def _update_order(o: Order) -> Op:
    p = _order_params(o, MUTABLE_ORDER_COLUMNS)
    p["intent_id"] = o.intent_id
    return (sql.UPDATE_ORDER, p)


def _update_quote(q: Quote) -> Op:
    return (sql.UPDATE_QUOTE, {"status": q.status, "updated_at": q.updated_at, "quote_id": q.quote_id})


def _transition(o: Order, at: int, actor: str, action: str, frm: str | None, detail: Any = None) -> Op:
    return (
        sql.INSERT_TRANSITION,
        {
            "intent_id": o.intent_id,
            "at": at,
            "actor": actor,
            "action": action,
            "from_status": frm,
            "to_status": o.status,
            "detail": None if detail is None else orjson.dumps(detail).decode(),
        },
    )


class Musubi:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        ctx = rt
        self.clock = ctx.clock
        self.streams = ctx.streams
        self.settings = ctx.settings
        self.auth: TokenAuthority | None = None
        self.network_available = True
        # due work: a heap of (due_ms, seq, fn, intent_id), and one clock timer per distinct due ms
        self._due: list[tuple[int, int, Callable[[str], Awaitable[None]], str]] = []
        self._due_seq = itertools.count()
        self._timers: dict[int, Timer] = {}
        self._reset_memory()

    def _reset_memory(self) -> None:
        self.participants: dict[str, Participant] = {}
        self.by_client: dict[str, Participant] = {}
        self.orders: dict[str, Order] = {}
        self.quotes: dict[str, Quote] = {}
        self.quotes_by_order: dict[str, list[str]] = {}
        self.orders_by_party: dict[str, list[str]] = {}
        self.quotes_by_mm: dict[str, list[str]] = {}
        self.won_by_mm: dict[str, list[str]] = {}
        self.idempotency: dict[tuple[str, str], bytes] = {}
        self._idem_pending: dict[tuple[str, str], asyncio.Future[bytes]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._waiting_network: set[str] = set()
        self._waiting_quotes: set[str] = set()
        self.network_available = True
        if self.auth is not None:
            self.auth.forget()

    # --- lifecycle -------------------------------------------------------------------------------
    # --- the lifecycle the core drives (FamilyService) -----------------------------------------
    async def seed(self, mode: str) -> None:
        await self.ensure_participants(mode)

    def credentials(self) -> list[str]:
        lines = ["Musubi participants (POST /auth/token {client_id, client_secret}):"]
        for name, role, client_id, secret, _sim in DEMO_PARTICIPANTS:
            if demo_party_id(name) in self.participants:
                lines.append(f"  {role:<13} {client_id:<21} {secret:<28} {demo_party_id(name)}")
        return lines

    def dashboard(self) -> dict[str, Any] | None:
        """The participant the live dashboard acts as: the demo sender institution, if seeded."""
        p = self.participants.get(demo_party_id("SenderInstitution"))
        if p is None:
            return None
        return {
            "name": p.name,
            "role": p.role,
            "client_id": p.client_id,
            "client_secret": p.client_secret,
            "party_id": p.party_id,
        }

    async def token(self, args: list[str]) -> str:
        if not args:
            raise SystemExit("usage: refserver token musubi <client_id|name|party_id>")
        return self.mint_for(args[0])

    async def ensure_participants(self, mode: str) -> None:
        """Seed: the built-in simulated market maker always; the demo participants for `demo`."""
        rows = await self.rt.db.read(lambda c: c.execute(sql.SELECT_PARTICIPANTS).all())
        have = {r[0] for r in rows}
        clients = {r[3] for r in rows}
        now = self.clock.now_ms()
        new: list[Participant] = []
        sim_id = demo_party_id(SIM_MM_NAME)
        if sim_id not in have and SIM_MM_CLIENT_ID not in clients:
            new.append(
                Participant(
                    sim_id, SIM_MM_NAME, "market-maker", SIM_MM_CLIENT_ID, secrets.token_hex(16), True, now
                )
            )
        if mode == "demo":
            for name, role, client_id, secret, simulated in DEMO_PARTICIPANTS:
                pid = demo_party_id(name)
                if pid not in have and client_id not in clients:
                    new.append(Participant(pid, name, role, client_id, secret, simulated, now))
        if new:
            ops = [(sql.INSERT_PARTICIPANT, _participant_params(p)) for p in new]
            await self._write(ops, [])

    async def start(self) -> None:
        key = await self.rt.secrets.get("musubi-jwt")
        self.auth = TokenAuthority(key, self.clock.now_ms, self.settings.musubi_token_ttl_s)
        await self._load()
        self._rearm()

    async def stop(self) -> None:
        for t in self._timers.values():
            t.cancel()
        self._timers.clear()
        self._due.clear()

    async def wipe(self) -> None:
        def run(conn: Connection, emit: Emit) -> None:
            for stmt in sql.WIPE:
                conn.exec_driver_sql(stmt)

        await self.streams.transact(run)
        self._reset_memory()

    async def _load(self) -> None:
        def read(conn: Connection) -> tuple[list[Any], list[Any], list[Any], list[Any]]:
            return (
                list(conn.execute(sql.SELECT_PARTICIPANTS).all()),
                list(conn.execute(sql.SELECT_ORDERS).all()),
                list(conn.execute(sql.SELECT_QUOTES).all()),
                list(conn.execute(sql.SELECT_IDEMPOTENCY).all()),
            )

        parts, orders, quotes, idem = await self.rt.db.read(read)
        self._reset_memory()
        for r in parts:
            self._put_participant(Participant(r[0], r[1], r[2], r[3], r[4], bool(r[5]), int(r[6])))
        for r in orders:
            self._put_order(Order(**dict(zip(ORDER_COLUMNS, r, strict=True))))
        for r in quotes:
            self._put_quote(Quote(**dict(zip(QUOTE_COLUMNS, r, strict=True))))
        for r in idem:
            self.idempotency[(r[0], r[1])] = bytes(r[2])

    def _rearm(self) -> None:
        """Timers are not persisted: re-arm them from the tables (callbacks re-check state)."""
        s = self.settings
        for o in self.orders.values():
            if o.status == "PENDING":
                self._at(o.expires_at, self._on_expiry, o.intent_id)
                if o.custodian_accepted_at is not None and s.auto_quote:
                    self._at(
                        o.custodian_accepted_at + s.musubi_quote_delay_ms, self._on_sim_quote, o.intent_id
                    )
            elif o.status == "QUOTED":
                q = self.quotes.get(o.selected_quote_id or "")
                if q is not None:
                    self._at(q.valid_until, self._on_lapse, o.intent_id)
                if o.quote_accepted_at is not None:
                    self._at(o.quote_accepted_at + s.musubi_execute_delay_ms, self._on_execute, o.intent_id)
            elif o.status == "EXECUTING":
                self._at(
                    (o.executing_at or o.updated_at) + s.musubi_settle_delay_ms, self._on_settle, o.intent_id
                )

    def _at(self, due_ms: int, fn: Callable[[str], Awaitable[None]], intent_id: str) -> None:
        """Run `fn(intent_id)` when the domain clock reaches `due_ms`.

        Work due at the same instant runs concurrently (each order under its own lock), so the
        writes of many orders falling due together share one group commit instead of queueing
        one commit each behind the clock's one-timer-at-a-time firing.
        """
        heapq.heappush(self._due, (due_ms, next(self._due_seq), fn, intent_id))
        if due_ms not in self._timers:

            async def fire() -> None:
                await self._drain(due_ms)

            self._timers[due_ms] = self.clock.call_at(due_ms, fire, name=f"musubi@{due_ms}")

    async def _drain(self, due_ms: int) -> None:
        self._timers.pop(due_ms, None)
        now = self.clock.now_ms()
        work = []
        while self._due and self._due[0][0] <= now:
            _due, _seq, fn, intent_id = heapq.heappop(self._due)
            work.append(fn(intent_id))
        for result in await asyncio.gather(*work, return_exceptions=True):
            if isinstance(result, BaseException):
                log.error("musubi timer failed", exc_info=result)

    # --- memory indexes --------------------------------------------------------------------------
    def _put_participant(self, p: Participant) -> None:
        self.participants[p.party_id] = p
        self.by_client[p.client_id] = p

    def _put_order(self, o: Order) -> None:
        old = self.orders.get(o.intent_id)
        self.orders[o.intent_id] = o
        if old is None:
            for p in o.parties:
                self.orders_by_party.setdefault(p, []).append(o.intent_id)
        mm = o.market_maker_party_id
        if mm is not None and (old is None or old.market_maker_party_id != mm):
            self.won_by_mm.setdefault(mm, []).append(o.intent_id)

    def _put_quote(self, q: Quote) -> None:
        if q.quote_id not in self.quotes:
            self.quotes_by_order.setdefault(q.intent_id, []).append(q.quote_id)
            self.quotes_by_mm.setdefault(q.market_maker_party_id, []).append(q.quote_id)
        self.quotes[q.quote_id] = q

    def _lock(self, intent_id: str) -> asyncio.Lock:
        lock = self._locks.get(intent_id)
        if lock is None:
            lock = self._locks[intent_id] = asyncio.Lock()
        return lock

    async def _write(self, ops: list[Op], events: list[Ev]) -> None:
        ph = self.rt.db.placeholder

        def run(conn: Connection, emit: Emit) -> None:
            if ops:
                # the DBAPI cursor of the writer's connection: inside its transaction/SAVEPOINT
                cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
                try:
                    for stmt, params in ops:
                        cur.execute(stmt.sql(ph), stmt.args(params))
                finally:
                    cur.close()
            for stream, kind, body, ref in events:
                emit(FAMILY, stream, kind, body, ref)

        await self.streams.transact(run)

    # --- events ----------------------------------------------------------------------------------
    def _order_events(self, o: Order) -> list[Ev]:
        body = orjson.dumps(o.to_json())
        out: list[Ev] = [(p, "order_updated", body, o.intent_id) for p in o.parties]
        if o.market_maker_party_id is not None:
            out.append(
                (
                    o.market_maker_party_id,
                    "settlement_updated",
                    orjson.dumps(o.settlement_json()),
                    o.intent_id,
                )
            )
        return out

    def _quote_mm_event(self, q: Quote, now: int) -> Ev:
        body = orjson.dumps(q.to_json(now, sender_side=False))
        return (q.market_maker_party_id, "quote_updated", body, q.intent_id)

    def market_makers(self) -> list[str]:
        return [p.party_id for p in self.participants.values() if p.role == "market-maker"]

    # --- participants and tokens ------------------------------------------------------------------
    async def create_participant(self, name: Any, role: Any) -> Participant:
        errors = v.Errors()
        if not isinstance(name, str) or not name.strip() or len(name) > 64:
            errors.add("name", "must be a non-empty string of at most 64 characters")
        if role not in ROLES:
            errors.add("role", "must be one of " + ", ".join(ROLES))
        errors.raise_if_any()
        assert isinstance(name, str) and isinstance(role, str)
        # the party hint keeps the name's letters, digits, '_' and '-' (others become '_')
        hint = re.sub(r"[^A-Za-z0-9_\-]", "_", name.strip())
        if not hint[0].isalpha():
            hint = "P" + hint
        hint = hint[:64]
        pid = f"{hint}::{party_fingerprint(uuid.uuid4().hex)}"
        client_id = f"{hint.lower()}-{secrets.token_hex(4)}"
        p = Participant(pid, name, role, client_id, secrets.token_urlsafe(24), False, self.clock.now_ms())
        await self._write([(sql.INSERT_PARTICIPANT, _participant_params(p))], [])
        self._put_participant(p)
        return p

    def issue_token(self, client_id: Any, client_secret: Any) -> tuple[str, int, Participant]:
        errors = v.Errors()
        if not isinstance(client_id, str) or not client_id:
            errors.add("client_id", "is required (a string)")
        if not isinstance(client_secret, str) or not client_secret:
            errors.add("client_secret", "is required (a string)")
        errors.raise_if_any()
        p = self.by_client.get(client_id)
        if p is None or not secrets.compare_digest(p.client_secret.encode(), str(client_secret).encode()):
            raise unauthorized("invalid client credentials")
        assert self.auth is not None
        token, ttl = self.auth.mint(p)
        return token, ttl, p

    def authenticate(self, token: str | None) -> Participant:
        if not token:
            raise unauthorized("missing bearer token: Authorization: Bearer <jwt>")
        if self.auth is None:
            raise unauthorized("the service is starting")
        pid = self.auth.verify(token)
        p = self.participants.get(pid)
        if p is None:
            raise unauthorized("unknown participant")
        return p

    def mint_for(self, who: str) -> str:
        """`refserver token musubi <client_id|name|party_id>`."""
        for p in self.participants.values():
            if who in (p.client_id, p.name, p.party_id):
                assert self.auth is not None
                return self.auth.mint(p)[0]
        raise SystemExit(f"no Musubi participant {who!r}")

    # --- network -----------------------------------------------------------------------------------
    def require_network(self) -> None:
        if not self.network_available:
            raise UpstreamUnavailable(
                "settlement network unavailable: the Canton participant node did not answer",
                code="CANTON_ERROR",
            )

    def set_network(self, available: bool) -> None:
        self.network_available = available
        if available:
            waiting, self._waiting_network = self._waiting_network, set()
            for intent_id in waiting:
                self._at(self.clock.now_ms(), self._on_execute, intent_id)
            quoting, self._waiting_quotes = self._waiting_quotes, set()
            for intent_id in quoting:
                self._at(self.clock.now_ms(), self._on_sim_quote, intent_id)

    # --- orders: reads -----------------------------------------------------------------------------
    def order_for(self, caller: Participant, intent_id: str) -> Order:
        """The order if `caller` is party to it; 404 otherwise (never revealing it exists)."""
        o = self.orders.get(intent_id)
        if o is None or caller.party_id not in o.parties:
            raise not_found(f"order {intent_id} not found")
        return o

    def list_orders(self, caller: Participant, q: v.ListQuery) -> tuple[list[Order], int]:
        ids = self.orders_by_party.get(caller.party_id, ())
        orders = self.orders
        return _page(_filter_orders((orders[i] for i in ids), q), q)

    def quotes_for(self, caller: Participant, intent_id: str) -> list[dict[str, Any]]:
        o = self.order_for(caller, intent_id)
        if caller.party_id not in o.sender_side:
            raise forbidden("only the sender institution and sender custodian see the quotes")
        now = self.clock.now_ms()
        quotes = [self.quotes[qid] for qid in self.quotes_by_order.get(intent_id, ())]
        quotes.sort(key=lambda q: (Decimal(q.source_amount), q.created_at, q.quote_id))  # best first
        return [q.to_json(now, sender_side=True) for q in quotes]

    def stats(self, caller: Participant) -> dict[str, Any]:
        if caller.role == "market-maker":
            orders = [self.orders[i] for i in self.won_by_mm.get(caller.party_id, ())]
        else:
            orders = [self.orders[i] for i in self.orders_by_party.get(caller.party_id, ())]
        counts = dict.fromkeys(STATUSES, 0)
        volume = {"JPYSC0": Decimal(0), "USDCx": Decimal(0)}
        for o in orders:
            counts[o.status] += 1
            if o.status == "SETTLED":
                volume[o.target_currency] += Decimal(o.target_amount)
                if o.source_amount_actual is not None:
                    volume[o.source_currency] += Decimal(o.source_amount_actual)
        out: dict[str, Any] = {
            "total_orders": len(orders),
            "counts_by_status": counts,
            "settled_volume": {k: dec_str(d) for k, d in volume.items()},
        }
        if caller.role == "market-maker":
            now = self.clock.now_ms()
            qcounts = dict.fromkeys(QUOTE_STATUSES, 0)
            mine = self.quotes_by_mm.get(caller.party_id, ())
            for qid in mine:
                qcounts[self.quotes[qid].shown_status(now)] += 1
            out["quotes_submitted"] = len(mine)
            out["quotes_by_status"] = qcounts
            won = len(self.won_by_mm.get(caller.party_id, ()))
            out["win_rate"] = dec_str((Decimal(won) / len(mine)).quantize(Decimal("0.0001"))) if mine else "0"
            out["open_quote_requests"] = sum(1 for _ in self._open_rfqs())
        return out

    async def compliance(self, caller: Participant, intent_id: str) -> dict[str, Any]:
        o = self.order_for(caller, intent_id)
        rows = await self.rt.db.read(
            lambda c: c.execute(sql.SELECT_TRANSITIONS, {"intent_id": intent_id}).all()
        )
        transitions = [
            {
                "at": iso_ms(int(r[0])),
                "actor": r[1],
                "action": r[2],
                "from_status": r[3],
                "to_status": r[4],
                "detail": None if r[5] is None else orjson.loads(r[5]),
            }
            for r in rows
        ]
        now = self.clock.now_ms()
        quotes = [
            self.quotes[qid].to_json(now, sender_side=True) for qid in self.quotes_by_order.get(intent_id, ())
        ]
        if caller.party_id not in o.sender_side:
            quotes = [q for q in quotes if q["quote_id"] == o.selected_quote_id]
        return {
            "order": o.to_json(),
            "transitions": transitions,
            "quotes": quotes,
            "operator_party_id": OPERATOR_PARTY_ID,
        }

    def export(self, caller: Participant, params: dict[str, str]) -> tuple[str, list[dict[str, Any]]]:
        errors = v.Errors()
        fmt = params.get("format", "json")
        if fmt not in ("csv", "json"):
            errors.add("format", "must be csv or json")
        lo = hi = None
        if "settled_from" in params:
            lo = v.parse_ts(params["settled_from"])
            if lo is None:
                errors.add("settled_from", "must be an ISO-8601 timestamp")
        if "settled_to" in params:
            hi = v.parse_ts(params["settled_to"])
            if hi is None:
                errors.add("settled_to", "must be an ISO-8601 timestamp")
        statuses = {"SETTLED"}
        if "status" in params:
            parts = {p.strip() for p in params["status"].split(",") if p.strip()}
            if not parts or not parts <= {"SETTLED", "FAILED", "EXPIRED"}:
                errors.add("status", "must be a comma-separated list of SETTLED, FAILED, EXPIRED")
            else:
                statuses = parts
        errors.raise_if_any()
        rows = []
        for i in self.orders_by_party.get(caller.party_id, ()):
            o = self.orders[i]
            if o.status not in statuses:
                continue
            at = o.settled_at if o.settled_at is not None else o.updated_at
            if (lo is not None and at < lo) or (hi is not None and at > hi):
                continue
            rows.append((at, o.intent_id, o.export_row()))
        rows.sort(key=lambda r: (r[0], r[1]))
        return fmt, [r[2] for r in rows]

    @staticmethod
    def export_csv(rows: list[dict[str, Any]]) -> bytes:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(EXPORT_COLUMNS), lineterminator="\r\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if r[k] is None else r[k]) for k in EXPORT_COLUMNS})
        return buf.getvalue().encode()

    # --- orders: writes ----------------------------------------------------------------------------
    async def create_order(self, caller: Participant, body: Any, idem_key: str | None) -> bytes:
        """Create an order → its JSON bytes (the same bytes again for a repeated Idempotency-Key)."""
        if idem_key is not None:
            if not idem_key or len(idem_key) > 255:
                raise v.invalid("Idempotency-Key", "must be 1-255 characters")
            key = (caller.party_id, idem_key)
            done = self.idempotency.get(key)
            if done is not None:
                return done
            pending = self._idem_pending.get(key)
            if pending is not None:
                return await asyncio.shield(pending)
        fields = self._validate_create(body)
        now = self.clock.now_ms()
        o = Order(
            intent_id=new_id(),
            status="PENDING",
            sender_party_id=caller.party_id,
            created_at=now,
            updated_at=now,
            expires_at=now + self.settings.musubi_order_ttl_ms,
            **fields,
        )
        data = orjson.dumps(o.to_json())
        ops: list[Op] = [
            (sql.INSERT_ORDER, _order_params(o)),
            _transition(o, now, caller.party_id, "CREATED", None),
        ]
        fut: asyncio.Future[bytes] | None = None
        if idem_key is not None:
            key = (caller.party_id, idem_key)
            ops.append(
                (
                    sql.INSERT_IDEMPOTENCY,
                    {
                        "party_id": key[0],
                        "key": key[1],
                        "intent_id": o.intent_id,
                        "response": data,
                        "created_at": now,
                    },
                )
            )
            fut = self._idem_pending[key] = asyncio.get_running_loop().create_future()
        try:
            await self._write(ops, [(p, "order_updated", data, o.intent_id) for p in o.parties])
        except BaseException as exc:
            if fut is not None:
                del self._idem_pending[(caller.party_id, idem_key or "")]
                fut.set_exception(exc)
                fut.exception()  # retrieved: waiters re-raise it, nobody logs it twice
            raise
        self._put_order(o)
        if fut is not None:
            key = (caller.party_id, idem_key or "")
            self.idempotency[key] = data
            del self._idem_pending[key]
            fut.set_result(data)
        self._at(o.expires_at, self._on_expiry, o.intent_id)
        return data

    def _validate_create(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise v.invalid("body", "must be a JSON object")
        e = v.Errors()
        out: dict[str, Any] = {}
        out["sender_custodian_party_id"] = self._party_with_role(
            body.get("sender_custodian_party_id"), "sender_custodian_party_id", "custodian", e
        )
        out["intent_signature"] = v.string(body.get("intent_signature"), "intent_signature", e, max_len=4096)
        out["receiver_party_id"] = self._party_with_role(
            body.get("receiver_party_id"), "receiver_party_id", "institution", e
        )
        out["receiver_custodian_party_id"] = self._party_with_role(
            body.get("receiver_custodian_party_id"), "receiver_custodian_party_id", "custodian", e
        )
        out["source_contract_id"] = v.string(
            body.get("source_contract_id"), "source_contract_id", e, max_len=512
        )
        out["source_currency"] = v.currency(body.get("source_currency"), "source_currency", e)
        out["target_amount"] = v.decimal_str(body.get("target_amount"), "target_amount", e)
        out["target_currency"] = v.currency(body.get("target_currency"), "target_currency", e)
        if out["source_currency"] and out["source_currency"] == out["target_currency"]:
            e.add("target_currency", "must differ from source_currency")
        out["source_amount_max"] = v.decimal_str(body.get("source_amount_max"), "source_amount_max", e)
        out["kyc_aml_ref"] = v.uuid_str(body.get("kyc_aml_ref"), "kyc_aml_ref", e)
        out["jurisdiction_sender"] = v.jurisdiction(body.get("jurisdiction_sender"), "jurisdiction_sender", e)
        out["jurisdiction_receiver"] = v.jurisdiction(
            body.get("jurisdiction_receiver"), "jurisdiction_receiver", e
        )
        out["memo"] = v.string(body.get("memo"), "memo", e, max_len=1000, required=False)
        e.raise_if_any()
        return out

    def _party_with_role(self, value: Any, field: str, role: str, e: v.Errors) -> str | None:
        pid = v.party_id(value, field, e)
        if pid is None:
            return None
        p = self.participants.get(pid)
        if p is None:
            e.add(field, "no such participant")
            return None
        if p.role != role:
            e.add(field, f"must be a participant with role {role} (this one is {p.role})")
            return None
        return pid

    async def accept_proposal(self, caller: Participant, intent_id: str) -> Order:
        o = self.order_for(caller, intent_id)
        if caller.party_id != o.sender_custodian_party_id:
            raise forbidden("only the sender custodian may accept the proposal")
        async with self._lock(intent_id):
            o = self.orders[intent_id]
            if o.status != "PENDING" or o.custodian_accepted_at is not None:
                raise conflict(
                    f"the proposal cannot be accepted: order is {o.status}"
                    + (", already accepted" if o.custodian_accepted_at is not None else "")
                )
            now = self.clock.now_ms()
            n = replace(o, custodian_accepted_at=now, updated_at=now)
            rfq = orjson.dumps(n.rfq_json())
            events = self._order_events(n) + [
                (mm, "quote_request_created", rfq, intent_id) for mm in self.market_makers()
            ]
            await self._write(
                [_update_order(n), _transition(n, now, caller.party_id, "PROPOSAL_ACCEPTED", o.status)],
                events,
            )
            self._put_order(n)
        if self.settings.auto_quote:
            self._at(now + self.settings.musubi_quote_delay_ms, self._on_sim_quote, intent_id)
        return n

    async def reject_proposal(self, caller: Participant, intent_id: str) -> Order:
        o = self.order_for(caller, intent_id)
        if caller.party_id != o.sender_custodian_party_id:
            raise forbidden("only the sender custodian may reject the proposal")
        async with self._lock(intent_id):
            o = self.orders[intent_id]
            if o.status != "PENDING" or o.custodian_accepted_at is not None:
                raise conflict(
                    f"the proposal cannot be rejected: order is {o.status}"
                    + (", already accepted" if o.custodian_accepted_at is not None else "")
                )
            return await self._finish(
                o, "FAILED", "KYC_FAIL", caller.party_id, "PROPOSAL_REJECTED", "REJECTED"
            )

    async def cancel(self, caller: Participant, intent_id: str) -> Order:
        o = self.order_for(caller, intent_id)
        if caller.party_id != o.sender_party_id:
            raise forbidden("only the sender institution may cancel the order")
        async with self._lock(intent_id):
            o = self.orders[intent_id]
            if o.status not in ("PENDING", "QUOTED"):
                raise conflict(f"only PENDING or QUOTED orders can be cancelled: order is {o.status}")
            return await self._finish(o, "FAILED", "CANCELLED", caller.party_id, "CANCELLED", "REJECTED")

    async def _finish(
        self,
        o: Order,
        status: str,
        reason: str,
        actor: str,
        action: str,
        quote_status: str,
        extra_ops: list[Op] | None = None,
    ) -> Order:
        """Move `o` to a terminal status; its open quotes become `quote_status`. Lock held."""
        now = self.clock.now_ms()
        n = replace(o, status=status, failure_reason=reason, updated_at=now)
        ops: list[Op] = [
            _update_order(n),
            _transition(n, now, actor, action, o.status, {"failure_reason": reason}),
        ]
        ops.extend(extra_ops or [])
        events = self._order_events(n)
        changed: list[Quote] = []
        for qid in self.quotes_by_order.get(o.intent_id, ()):
            q = self.quotes[qid]
            if q.status in ("PENDING", "ACCEPTED") and q.status != quote_status:
                nq = replace(q, status=quote_status, updated_at=now)
                changed.append(nq)
                ops.append(_update_quote(nq))
                events.append(self._quote_mm_event(nq, now))
        await self._write(ops, events)
        self._put_order(n)
        for nq in changed:
            self._put_quote(nq)
        self._waiting_network.discard(o.intent_id)
        return n

    # --- quotes ------------------------------------------------------------------------------------
    async def accept_quote(self, caller: Participant, intent_id: str, quote_id: str) -> Order:
        o = self.order_for(caller, intent_id)
        if caller.party_id not in o.sender_side:
            raise forbidden("only the sender institution or the sender custodian may accept a quote")
        cosign = caller.party_id == o.sender_custodian_party_id
        async with self._lock(intent_id):
            o = self.orders[intent_id]
            q = self.quotes.get(quote_id)
            if q is None or q.intent_id != intent_id:
                raise not_found(f"quote {quote_id} not found on order {intent_id}")
            if o.status not in ("PENDING", "QUOTED"):
                raise conflict(f"the order has moved on: it is {o.status}")
            now = self.clock.now_ms()
            if o.status == "PENDING" and o.expires_at <= now:
                raise conflict("the order has expired")
            if o.selected_quote_id is not None and o.selected_quote_id != quote_id:
                raise conflict(
                    "another quote is already selected",
                    [{"field": "quote_id", "reason": f"quote {o.selected_quote_id} is selected"}],
                )
            if o.selected_quote_id == quote_id and (not cosign or o.quote_accepted_at is not None):
                raise conflict("the quote is already " + ("co-signed" if o.quote_accepted_at else "selected"))
            if q.valid_until <= now or q.status == "EXPIRED":
                raise conflict(
                    "the quote has expired",
                    [{"field": "valid_until", "reason": f"quote expired at {iso_ms(q.valid_until)}"}],
                )
            if Decimal(q.source_amount) > Decimal(o.source_amount_max):
                raise conflict(
                    "the quote breaks source_amount_max",
                    [{"field": "source_amount", "reason": "SLIPPAGE: exceeds source_amount_max"}],
                )
            ops: list[Op] = []
            events: list[Ev] = []
            changed: list[Quote] = []
            n = o
            selecting = o.selected_quote_id is None
            if selecting:
                n = replace(
                    o,
                    status="QUOTED",
                    fx_rate=q.fx_rate,
                    source_amount_actual=q.source_amount,
                    market_maker_party_id=q.market_maker_party_id,
                    selected_quote_id=q.quote_id,
                    updated_at=now,
                )
                ops.append(_update_order(n))
                ops.append(
                    _transition(n, now, caller.party_id, "QUOTE_SELECTED", o.status, {"quote_id": quote_id})
                )
                for qid in self.quotes_by_order.get(intent_id, ()):
                    other = self.quotes[qid]
                    if qid == quote_id:
                        nq = replace(other, status="ACCEPTED", updated_at=now)
                    elif other.status == "PENDING":
                        nq = replace(other, status="REJECTED", updated_at=now)
                    else:
                        continue
                    changed.append(nq)
                    ops.append(_update_quote(nq))
                    events.append(self._quote_mm_event(nq, now))
            if cosign:
                before = n.status
                n = replace(n, quote_accepted_at=now, updated_at=now)
                if selecting:
                    ops[0] = _update_order(n)
                else:
                    ops.append(_update_order(n))
                ops.append(
                    _transition(n, now, caller.party_id, "QUOTE_COSIGNED", before, {"quote_id": quote_id})
                )
            events = events + self._order_events(n)
            await self._write(ops, events)
            self._put_order(n)
            for nq in changed:
                self._put_quote(nq)
        if selecting:
            self._at(q.valid_until, self._on_lapse, intent_id)
        if cosign:
            self._at(now + self.settings.musubi_execute_delay_ms, self._on_execute, intent_id)
        return n

    def _open_rfqs(self) -> Iterable[Order]:
        now = self.clock.now_ms()
        return (o for o in self.orders.values() if o.rfq_open and o.expires_at > now)

    def rfq_for(self, mm: Participant, intent_id: str) -> Order:
        """An RFQ the market maker may see: open, or one it has quoted on."""
        o = self.orders.get(intent_id)
        if o is None or o.custodian_accepted_at is None:
            raise not_found(f"quote request {intent_id} not found")
        if o.rfq_open and o.expires_at > self.clock.now_ms():
            return o
        if any(self.quotes[qid].intent_id == intent_id for qid in self.quotes_by_mm.get(mm.party_id, ())):
            return o
        raise not_found(f"quote request {intent_id} not found")

    def list_rfqs(self, q: v.ListQuery) -> tuple[list[Order], int]:
        return _page(_filter_orders(self._open_rfqs(), q, statuses=False), q)

    def mm_quotes(
        self, mm: Participant, q: v.ListQuery, intent_id: str | None = None
    ) -> tuple[list[dict[str, Any]], int]:
        now = self.clock.now_ms()
        items = []
        for qid in self.quotes_by_mm.get(mm.party_id, ()):
            quote = self.quotes[qid]
            if intent_id is not None and quote.intent_id != intent_id:
                continue
            if q.statuses is not None and quote.shown_status(now) not in q.statuses:
                continue
            if q.created_after is not None and quote.created_at < q.created_after:
                continue
            if q.created_before is not None and quote.created_at > q.created_before:
                continue
            items.append(quote)
        items.sort(key=lambda x: (x.created_at, x.quote_id), reverse=q.sort_order == "desc")
        total = len(items)
        start = (q.page - 1) * q.page_size
        return [x.to_json(now, sender_side=False) for x in items[start : start + q.page_size]], total

    def settlements(self, mm: Participant, q: v.ListQuery) -> tuple[list[Order], int]:
        ids = self.won_by_mm.get(mm.party_id, ())
        return _page(_filter_orders((self.orders[i] for i in ids), q), q)

    def settlement(self, mm: Participant, intent_id: str) -> Order:
        o = self.orders.get(intent_id)
        if o is None or o.market_maker_party_id != mm.party_id:
            raise not_found(f"settlement {intent_id} not found")
        return o

    async def submit_quote(self, mm: Participant, intent_id: str, body: Any) -> Quote:
        o = self.orders.get(intent_id)
        if o is None or o.custodian_accepted_at is None:
            raise not_found(f"quote request {intent_id} not found")
        if not isinstance(body, dict):
            raise v.invalid("body", "must be a JSON object")
        e = v.Errors()
        fx = v.decimal_str(body.get("fx_rate"), "fx_rate", e, max_places=8)
        ta = body.get("target_amount")
        if ta is not None:
            ta = v.decimal_str(ta, "target_amount", e)
            if ta is not None and Decimal(ta) != Decimal(o.target_amount):
                e.add("target_amount", f"must equal the quote request's target_amount {o.target_amount}")
        vu = v.timestamp(body.get("valid_until"), "valid_until", e)
        now = self.clock.now_ms()
        if vu is not None:
            if vu <= now:
                e.add("valid_until", "must be in the future")
            elif vu > o.expires_at:
                e.add(
                    "valid_until", f"must not be after the quote request's expires_at {iso_ms(o.expires_at)}"
                )
        e.raise_if_any()
        assert fx is not None and vu is not None
        return await self._add_quote(mm.party_id, intent_id, fx, vu)

    async def admin_quote(self, intent_id: str, body: Any) -> Quote:
        """Control API: the built-in simulated market maker quotes now."""
        o = self.orders.get(intent_id)
        if o is None:
            raise not_found(f"order {intent_id} not found")
        self.require_network()
        body = body if isinstance(body, dict) else {}
        now = self.clock.now_ms()
        e = v.Errors()
        fx = body.get("fx_rate")
        fx = (
            v.decimal_str(fx, "fx_rate", e, max_places=8)
            if fx is not None
            else self._sim_rate(o, SIM_MM_NAME)
        )
        ta = body.get("target_amount")
        if ta is not None:
            ta = v.decimal_str(ta, "target_amount", e)
            if ta is not None and Decimal(ta) != Decimal(o.target_amount):
                e.add("target_amount", f"must equal the order's target_amount {o.target_amount}")
        if body.get("valid_until") is not None:
            vu = v.timestamp(body.get("valid_until"), "valid_until", e)
            if vu is not None and vu <= now:
                e.add("valid_until", "must be in the future")
            elif vu is not None and vu > o.expires_at:
                e.add("valid_until", f"must not be after the order's expires_at {iso_ms(o.expires_at)}")
        else:
            vu = min(now + SIM_QUOTE_VALIDITY_MS, o.expires_at)
        e.raise_if_any()
        assert fx is not None and vu is not None
        return await self._add_quote(demo_party_id(SIM_MM_NAME), intent_id, fx, vu)

    async def _add_quote(self, mm_party: str, intent_id: str, fx_rate: str, valid_until: int) -> Quote:
        async with self._lock(intent_id):
            o = self.orders[intent_id]
            now = self.clock.now_ms()
            if o.custodian_accepted_at is None:
                raise conflict(
                    "the quote request is not open: the sender custodian has not accepted the proposal"
                )
            if not o.rfq_open or o.expires_at <= now:
                raise conflict(f"the quote request is closed: order is {o.status}")
            if valid_until <= now:
                raise v.invalid("valid_until", "must be in the future")
            q = Quote(
                quote_id=new_id(),
                intent_id=intent_id,
                market_maker_party_id=mm_party,
                fx_rate=fx_rate,
                target_amount=o.target_amount,
                source_amount=source_amount(o.target_amount, fx_rate),
                valid_until=valid_until,
                status="PENDING",
                created_at=now,
                updated_at=now,
            )
            body = orjson.dumps(q.to_json(now, sender_side=True))
            events: list[Ev] = [(p, "quote_received", body, intent_id) for p in dict.fromkeys(o.sender_side)]
            events.append(self._quote_mm_event(q, now))
            await self._write([(sql.INSERT_QUOTE, {c: getattr(q, c) for c in QUOTE_COLUMNS})], events)
            self._put_quote(q)
            return q

    def _sim_rate(self, o: Order, mm_name: str) -> str:
        """Around the reference rate: makers charge 0.1-1.2 % over it (deterministic per maker/order)."""
        ref = REFERENCE_RATES[(o.source_currency, o.target_currency)]
        rng = random.Random(f"{o.intent_id}:{mm_name}")
        spread = Decimal(rng.randint(10, 120)) / Decimal(10_000)
        return dec_str((ref * (1 + spread)).quantize(Decimal("0.00000001")))

    # --- timers -----------------------------------------------------------------------------------
    async def _on_sim_quote(self, intent_id: str) -> None:
        o = self.orders.get(intent_id)
        if o is None or not o.rfq_open:
            return
        if not self.network_available:
            self._waiting_quotes.add(intent_id)  # the makers quote once the network is back
            return
        now = self.clock.now_ms()
        for p in list(self.participants.values()):
            if p.role != "market-maker" or not p.simulated:
                continue
            if any(
                self.quotes[qid].market_maker_party_id == p.party_id
                for qid in self.quotes_by_order.get(intent_id, ())
            ):
                continue
            with contextlib.suppress(Conflict):
                await self._add_quote(
                    p.party_id,
                    intent_id,
                    self._sim_rate(o, p.name),
                    min(now + SIM_QUOTE_VALIDITY_MS, o.expires_at),
                )

    async def _on_expiry(self, intent_id: str) -> None:
        async with self._lock(intent_id):
            o = self.orders.get(intent_id)
            if o is None or o.status != "PENDING" or self.clock.now_ms() < o.expires_at:
                return
            quotes = [self.quotes[qid] for qid in self.quotes_by_order.get(intent_id, ())]
            if not quotes:
                reason = "NO_QUOTE"
            elif all(Decimal(q.source_amount) > Decimal(o.source_amount_max) for q in quotes):
                reason = "SLIPPAGE"
            else:
                reason = "TIMEOUT"
            await self._finish(o, "EXPIRED", reason, OPERATOR_PARTY_ID, "EXPIRED", "EXPIRED")

    async def _on_lapse(self, intent_id: str) -> None:
        async with self._lock(intent_id):
            o = self.orders.get(intent_id)
            if o is None or o.status != "QUOTED":
                return
            q = self.quotes.get(o.selected_quote_id or "")
            if q is None or q.valid_until > self.clock.now_ms():
                return
            await self._finish(o, "EXPIRED", "TIMEOUT", OPERATOR_PARTY_ID, "QUOTE_LAPSED", "EXPIRED")

    async def _on_execute(self, intent_id: str) -> None:
        async with self._lock(intent_id):
            o = self.orders.get(intent_id)
            if o is None or o.status != "QUOTED" or o.quote_accepted_at is None:
                return
            if not self.network_available:
                self._waiting_network.add(intent_id)  # waits for the network (and may lapse)
                return
            now = self.clock.now_ms()
            n = replace(o, status="EXECUTING", executing_at=now, updated_at=now)
            await self._write(
                [_update_order(n), _transition(n, now, OPERATOR_PARTY_ID, "SETTLEMENT_STARTED", o.status)],
                self._order_events(n),
            )
            self._put_order(n)
        self._at(now + self.settings.musubi_settle_delay_ms, self._on_settle, intent_id)

    async def _on_settle(self, intent_id: str) -> None:
        async with self._lock(intent_id):
            o = self.orders.get(intent_id)
            if o is None or o.status != "EXECUTING":
                return
            if not self.network_available:
                await self._finish(
                    o, "FAILED", "REVERT", OPERATOR_PARTY_ID, "SETTLEMENT_REVERTED", "ACCEPTED"
                )
                return
            now = self.clock.now_ms()
            tx = new_tx_hash()
            n = replace(o, status="SETTLED", transaction_hash=tx, settled_at=now, updated_at=now)
            await self._write(
                [
                    _update_order(n),
                    _transition(n, now, OPERATOR_PARTY_ID, "SETTLED", o.status, {"transaction_hash": tx}),
                ],
                self._order_events(n),
            )
            self._put_order(n)


def _participant_params(p: Participant) -> dict[str, Any]:
    return {c: getattr(p, c) for c in sql.PARTICIPANT_COLUMNS}


def _filter_orders(orders: Iterable[Order], q: v.ListQuery, *, statuses: bool = True) -> list[Order]:
    out = []
    for o in orders:
        if statuses and q.statuses is not None and o.status not in q.statuses:
            continue
        if q.source_currency is not None and o.source_currency != q.source_currency:
            continue
        if q.target_currency is not None and o.target_currency != q.target_currency:
            continue
        if q.created_after is not None and o.created_at < q.created_after:
            continue
        if q.created_before is not None and o.created_at > q.created_before:
            continue
        if q.updated_after is not None and o.updated_at < q.updated_after:
            continue
        out.append(o)
    return out


def _sort_key(sort_by: str) -> Callable[[Order], Any]:
    if sort_by == "target_amount":
        return lambda o: (Decimal(o.target_amount), o.created_at, o.intent_id)
    if sort_by == "status":
        return lambda o: (o.status, o.created_at, o.intent_id)
    if sort_by == "settled_at":
        # orders never settled sort after every settled one (asc) / before them (desc)
        return lambda o: (o.settled_at is None, o.settled_at or 0, o.created_at, o.intent_id)
    return lambda o: (o.created_at, o.intent_id)


def _page(orders: list[Order], q: v.ListQuery) -> tuple[list[Order], int]:
    orders.sort(key=_sort_key(q.sort_by), reverse=q.sort_order == "desc")
    start = (q.page - 1) * q.page_size
    return orders[start : start + q.page_size], len(orders)
