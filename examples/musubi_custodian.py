"""A sender-custodian automation: the reference client of refserver's Musubi settlement API.

What it does, as the Musubi integration pattern asks (CONTRACT §2):

- **Token cache.** `POST /auth/token` with the client id and secret; the token is reused and
  fetched again ~60 s before it expires (`expires_in`). A 401 forces one refresh and one retry:
  the token may have expired early (revocation, clock skew, a server restart with new keys).
- **Events.** `GET /api/v1/orders/events` (SSE) with `Authorization: Bearer`. Every event's
  `id:` is the participant stream's sequence number, contiguous. The automation remembers the
  last id it *processed* and reconnects with `Last-Event-ID: <that id>` (the server replays
  everything after it, then goes live). An id that jumps (N+2 after N) means an event was lost
  on the way: it reconnects from N at once. A repeated id is skipped. A stream that ends
  (server restart, disconnect) or goes silent past the heartbeat is reopened with backoff.
- **On first start** (nothing persisted) it opens the stream first, then sweeps the open orders
  over REST, so nothing can fall between the two (the handlers are idempotent).
- **Accept proposals.** An `order_updated` in `PENDING`, not yet accepted, where we are the
  sender custodian → `POST /api/v1/orders/{id}/accept`.
- **Co-sign the best valid quote.** On `quote_received`, once `min_quotes` quotes are in (or
  `quote_window_s` after the first one), list the quotes and co-sign the one with the lowest
  `source_amount` among those still valid: status `PENDING`, `valid_until` after the server's
  time (taken from the answer's `meta.timestamp`, the server's clock), `source_amount` ≤ the
  order's `source_amount_max`. If the institution has already selected a quote, that is the
  one to co-sign. A 409 on one candidate (it expired meanwhile) moves on to the next.
- **Settlement, idempotently.** `SETTLED` is handled once per `(intent_id, transaction_hash)`,
  however often it is delivered (replays after a reconnect, a restart from an older id).
- **Transient errors.** 5xx answers (`CANTON_ERROR` while the settlement network is down,
  `INTERNAL_ERROR`) are retried with exponential backoff and jitter: a refused mutation changes
  nothing on the server, so retrying is safe.
- **State file** (optional): the last processed event id and the settled keys, so a restart
  resumes where it stopped.

Run it against `make run`'s demo data (CustodianA is the demo orders' sender custodian):

    python -m examples.musubi_custodian --base-url http://127.0.0.1:8000 \
        --client-id custodian-a --client-secret custodian-a-secret --state custodian.json

Only httpx and httpx-sse are needed; nothing here imports refserver.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import random
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from httpx_sse import SSEError, aconnect_sse

log = logging.getLogger("musubi_custodian")

EVENTS_PATH = "/api/v1/orders/events"


class MusubiError(Exception):
    """A refused call: Musubi's `{"error": {"code", "message", "details"}}`."""

    def __init__(self, status: int, body: Any) -> None:
        err = body.get("error", {}) if isinstance(body, dict) else {}
        self.status = status
        self.code: str = err.get("code", "?")
        self.message: str = err.get("message", "")
        self.details: list[dict[str, Any]] = err.get("details") or []
        super().__init__(f"{status} {self.code}: {self.message}")


class _Reconnect(Exception):
    """Leave the current SSE connection and reconnect at once (a gap, a rejected token)."""


def parse_ts(value: str) -> datetime:
    """ISO-8601 UTC with milliseconds (`2025-03-15T09:00:00.000Z`)."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def backoff_delay(attempt: int, initial: float, maximum: float, rng: random.Random) -> float:
    """Exponential backoff with full jitter."""
    return rng.uniform(0, min(maximum, initial * (2**attempt)))


class TokenCache:
    """A Musubi JWT, fetched once and refreshed `margin_s` before it expires."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        client_id: str,
        client_secret: str,
        *,
        margin_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.http = http
        self.client_id = client_id
        self.client_secret = client_secret
        self.margin_s = margin_s
        self.clock = clock
        self.token = ""
        self.expires_at = 0.0  # on `clock`
        self.party_id = ""
        self.fetches = 0
        self._lock = asyncio.Lock()

    async def get(self) -> str:
        if not self.token or self.clock() >= self.expires_at - self.margin_s:
            await self.refresh(stale=self.token)
        return self.token

    async def refresh(self, stale: str | None = None) -> str:
        """Fetch a new token, unless another task already replaced `stale` meanwhile."""
        async with self._lock:
            if stale is not None and self.token and self.token != stale:
                return self.token
            resp = await self.http.post(
                "/auth/token", json={"client_id": self.client_id, "client_secret": self.client_secret}
            )
            body = resp.json()
            if resp.status_code != 200:
                raise MusubiError(resp.status_code, body)
            data = body["data"]
            self.token = data["token"]
            self.party_id = data["canton_party_id"]
            self.expires_at = self.clock() + float(data["expires_in"])
            self.fetches += 1
            return self.token


class Custodian:
    """The sender-custodian automation. `await start()`, then `await stop()` (or `async with`)."""

    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        *,
        min_quotes: int = 2,
        quote_window_s: float = 5.0,
        read_timeout_s: float = 75.0,
        backoff_initial: float = 0.2,
        backoff_max: float = 10.0,
        retries: int = 4,
        state_path: str | os.PathLike[str] | None = None,
        on_settled: Callable[[dict[str, Any]], Awaitable[None] | None] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = httpx.AsyncClient(base_url=self.base_url, timeout=10)
        self.tokens = TokenCache(self.http, client_id, client_secret)
        self.min_quotes = min_quotes
        self.quote_window_s = quote_window_s
        self.read_timeout_s = read_timeout_s
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.retries = retries
        self.state_path = Path(state_path) if state_path is not None else None
        self.on_settled = on_settled
        self.rng = rng or random.Random()
        # state
        self.last_event_id: int | None = None  # the last event id processed
        self.orders: dict[str, dict[str, Any]] = {}  # our orders (sender custodian), latest seen
        self.quote_ids: dict[str, set[str]] = {}  # intent_id → quote ids received
        self.accepted: set[str] = set()  # proposals we accepted (or found accepted)
        self.cosigned: dict[str, str] = {}  # intent_id → the quote we co-signed
        self.settled: dict[tuple[str, str], dict[str, Any]] = {}  # (intent_id, tx hash) → order
        self.stats = {
            "connects": 0,
            "gaps": 0,
            "forced_refreshes": 0,
            "retries": 0,
            "accepts": 0,
            "cosigns": 0,
            "settled_handled": 0,
            "duplicates": 0,
        }
        self.connected = asyncio.Event()
        self._changed = asyncio.Event()
        self._deadlines: dict[str, asyncio.Task[None]] = {}
        self._window_over: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self._load_state()

    # --- lifecycle -------------------------------------------------------------------------------
    async def __aenter__(self) -> Custodian:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        await self.tokens.get()
        self._task = asyncio.create_task(self._run(), name="musubi-custodian")

    async def stop(self) -> None:
        for t in [self._task, *self._deadlines.values()]:
            if t is not None:
                t.cancel()
                with contextlib.suppress(BaseException):
                    await t
        self._task = None
        await self.http.aclose()

    async def replay_from(self, event_id: int) -> None:
        """Reconnect now and replay every event after `event_id` (handlers are idempotent)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        self.last_event_id = event_id
        self.connected.clear()
        self._task = asyncio.create_task(self._run(), name="musubi-custodian")

    @property
    def party_id(self) -> str:
        return self.tokens.party_id

    # --- persisted state ---------------------------------------------------------------------
    def _load_state(self) -> None:
        if self.state_path is None or not self.state_path.exists():
            return
        state = json.loads(self.state_path.read_text())
        self.last_event_id = state.get("last_event_id")
        for intent_id, tx_hash in state.get("settled", []):
            self.settled[(intent_id, tx_hash)] = {"intent_id": intent_id, "transaction_hash": tx_hash}

    def _save_state(self) -> None:
        if self.state_path is None:
            return
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"last_event_id": self.last_event_id, "settled": list(self.settled)}))
        tmp.replace(self.state_path)

    # --- REST ------------------------------------------------------------------------------------
    async def call(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        """One API call → the envelope. 401: refresh the token once and retry; 5xx: retry with
        backoff (up to `retries`); other errors raise MusubiError."""
        forced = False
        attempt = 0
        while True:
            token = await self.tokens.get()
            resp = await self.http.request(method, path, headers={"Authorization": f"Bearer {token}"}, **kw)
            if resp.status_code == 401 and not forced:
                forced = True
                self.stats["forced_refreshes"] += 1
                await self.tokens.refresh(stale=token)
                continue
            if resp.status_code >= 500 and attempt < self.retries:
                self.stats["retries"] += 1
                await asyncio.sleep(backoff_delay(attempt, self.backoff_initial, self.backoff_max, self.rng))
                attempt += 1
                continue
            body = resp.json()
            if resp.status_code >= 400:
                raise MusubiError(resp.status_code, body)
            return dict(body)

    async def get_order(self, intent_id: str) -> dict[str, Any]:
        order = (await self.call("GET", f"/api/v1/orders/{intent_id}"))["data"]
        self.orders[intent_id] = order
        return dict(order)

    async def sweep(self) -> None:
        """Process every open order (first start: what happened before the stream opened)."""
        page = 1
        while True:
            body = await self.call(
                "GET", "/api/v1/orders", params={"status": "PENDING,QUOTED", "page": page, "page_size": 100}
            )
            for order in body["data"]:
                await self.on_order(order)
                if order.get("custodian_accepted_at"):
                    await self.consider_quotes(order["intent_id"])
            if page >= body["pagination"]["total_pages"]:
                return
            page += 1

    # --- events ----------------------------------------------------------------------------------
    async def _run(self) -> None:
        attempt = 0
        while True:
            try:
                await self._stream()
                attempt = 0  # the server ended a stream that worked: reconnect after a short pause
            except _Reconnect:
                continue
            except (httpx.HTTPError, SSEError, MusubiError, ValueError) as exc:
                log.info("event stream: %r", exc)
            self.connected.clear()
            await asyncio.sleep(backoff_delay(attempt, self.backoff_initial, self.backoff_max, self.rng))
            attempt += 1

    async def _stream(self) -> None:
        token = await self.tokens.get()
        headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
        first_start = self.last_event_id is None
        if not first_start:
            headers["Last-Event-ID"] = str(self.last_event_id)
        timeout = httpx.Timeout(10, read=self.read_timeout_s)
        try:
            async with aconnect_sse(self.http, "GET", EVENTS_PATH, headers=headers, timeout=timeout) as es:
                if es.response.status_code == 401:
                    self.stats["forced_refreshes"] += 1
                    await self.tokens.refresh(stale=token)
                    raise _Reconnect
                if es.response.status_code != 200:
                    await es.response.aread()
                    raise MusubiError(es.response.status_code, es.response.json())
                self.stats["connects"] += 1
                self.connected.set()
                if first_start:
                    await self.sweep()
                async for ev in es.aiter_sse():
                    if ev.event == "heartbeat" or not ev.id:
                        continue
                    event_id = int(ev.id)
                    last = self.last_event_id
                    if last is not None and event_id <= last:
                        self.stats["duplicates"] += 1
                        continue
                    if last is not None and event_id != last + 1:
                        self.stats["gaps"] += 1
                        log.warning("event id %d after %d: reconnecting from %d", event_id, last, last)
                        raise _Reconnect
                    try:
                        await self.handle(ev.event, json.loads(ev.data))
                    except MusubiError as exc:
                        if exc.status >= 500:
                            raise  # not handled: the event comes again after the reconnect
                        log.warning("event %d (%s) refused: %s", event_id, ev.event, exc)
                    self.last_event_id = event_id
                    self._save_state()
                    self._notify()
        finally:
            self.connected.clear()

    async def handle(self, kind: str, data: dict[str, Any]) -> None:
        if kind == "order_updated":
            await self.on_order(data)
        elif kind == "quote_received":
            self.quote_ids.setdefault(data["intent_id"], set()).add(data["quote_id"])
            await self.consider_quotes(data["intent_id"])

    async def on_order(self, order: dict[str, Any]) -> None:
        if order["sender_custodian_party_id"] != self.party_id:
            return  # we are the receiver side here: read only
        intent_id = order["intent_id"]
        self.orders[intent_id] = order
        status = order["status"]
        if status == "PENDING" and order["custodian_accepted_at"] is None and intent_id not in self.accepted:
            await self.accept_proposal(intent_id)
        elif status == "QUOTED" and order["quote_accepted_at"] is None and order["selected_quote_id"]:
            await self.consider_quotes(intent_id)  # the institution selected: co-sign it
        elif status == "SETTLED":
            await self.on_settlement(order)
        if status not in ("PENDING", "QUOTED"):
            task = self._deadlines.pop(intent_id, None)
            if task is not None:
                task.cancel()

    async def accept_proposal(self, intent_id: str) -> None:
        try:
            order = (await self.call("POST", f"/api/v1/orders/{intent_id}/accept"))["data"]
            self.stats["accepts"] += 1
        except MusubiError as exc:
            if exc.status != 409:
                raise
            order = await self.get_order(intent_id)  # already accepted, or moved on
        self.accepted.add(intent_id)
        self.orders[intent_id] = order

    async def consider_quotes(self, intent_id: str, *, window_over: bool = False) -> None:
        """Co-sign the best valid quote once enough are in (or the window is over)."""
        if intent_id in self.cosigned:
            return
        window_over = window_over or intent_id in self._window_over
        order = await self.get_order(intent_id)
        if order["status"] not in ("PENDING", "QUOTED") or order["quote_accepted_at"] is not None:
            if order["quote_accepted_at"] is not None and order["selected_quote_id"]:
                self.cosigned[intent_id] = order["selected_quote_id"]
            return
        body = await self.call("GET", f"/api/v1/orders/{intent_id}/quotes")
        quotes: list[dict[str, Any]] = body["data"]
        if not quotes:
            return
        server_now = parse_ts(body["meta"]["timestamp"])
        max_source = Decimal(order["source_amount_max"])
        if order["selected_quote_id"]:
            candidates = [q for q in quotes if q["quote_id"] == order["selected_quote_id"]]
        else:
            if len(quotes) < self.min_quotes and not window_over:
                if intent_id not in self._deadlines:
                    self._deadlines[intent_id] = asyncio.create_task(self._window(intent_id))
                return
            candidates = [
                q
                for q in quotes
                if q["status"] == "PENDING"
                and parse_ts(q["valid_until"]) > server_now
                and Decimal(q["source_amount"]) <= max_source
            ]
        for quote in sorted(candidates, key=lambda q: (Decimal(q["source_amount"]), q["created_at"])):
            try:
                await self.call("POST", f"/api/v1/orders/{intent_id}/quotes/{quote['quote_id']}/accept")
            except MusubiError as exc:
                if exc.status != 409:
                    raise
                log.info("quote %s refused (%s): trying the next", quote["quote_id"], exc)
                continue
            self.stats["cosigns"] += 1
            self.cosigned[intent_id] = quote["quote_id"]
            self._notify()  # (a window timer co-signs outside the event loop)
            task = self._deadlines.pop(intent_id, None)
            if task is not None and task is not asyncio.current_task():
                task.cancel()
            return
        log.info("order %s: no acceptable quote among %d", intent_id, len(quotes))

    async def _window(self, intent_id: str) -> None:
        await asyncio.sleep(self.quote_window_s)
        self._window_over.add(intent_id)  # from now on every new quote is considered at once
        with contextlib.suppress(MusubiError, httpx.HTTPError):
            await self.consider_quotes(intent_id, window_over=True)

    async def on_settlement(self, order: dict[str, Any]) -> None:
        key = (order["intent_id"], order["transaction_hash"])
        if key in self.settled:
            return  # delivered again (a replay): handled already
        self.settled[key] = order
        self.stats["settled_handled"] += 1
        self._save_state()
        if self.on_settled is not None:
            result = self.on_settled(order)
            if result is not None:
                await result
        else:
            log.warning("SETTLED %s %s", *key)

    # --- waiting on the automation's state ---------------------------------------------------
    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_until(self, predicate: Callable[[], bool], timeout: float) -> None:  # noqa: ASYNC109
        """Wait until `predicate()` holds, re-checked after every processed event."""
        async with asyncio.timeout(timeout):
            while not predicate():
                await self._changed.wait()


# --- command line ------------------------------------------------------------------------------
async def _main(args: argparse.Namespace) -> None:
    def settled(order: dict[str, Any]) -> None:
        print(
            f"SETTLED {order['intent_id']} tx {order['transaction_hash']} ({order['source_amount_actual']} "
            f"{order['source_currency']} → {order['target_amount']} {order['target_currency']})"
        )

    async with Custodian(
        args.base_url,
        args.client_id,
        args.client_secret,
        min_quotes=args.min_quotes,
        quote_window_s=args.quote_window,
        state_path=args.state,
        on_settled=settled,
    ) as custodian:
        print(f"custodian {custodian.party_id}: watching {EVENTS_PATH} (Ctrl-C to stop)")
        while True:
            await asyncio.sleep(10)
            print("stats:", custodian.stats, "last event id:", custodian.last_event_id)


def main() -> None:
    p = argparse.ArgumentParser(description="A Musubi sender-custodian automation against refserver")
    p.add_argument("--base-url", default="http://127.0.0.1:8000")
    p.add_argument("--client-id", default="custodian-a")
    p.add_argument("--client-secret", default="custodian-a-secret")
    p.add_argument("--min-quotes", type=int, default=2, help="co-sign once this many quotes are in")
    p.add_argument("--quote-window", type=float, default=5.0, help="…or this many seconds after the first")
    p.add_argument("--state", default=None, help="file keeping the last event id and the settled keys")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(args))


if __name__ == "__main__":
    main()
