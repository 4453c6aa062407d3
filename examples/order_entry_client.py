"""An Order Entry trading client: the reference client of refserver's Order Entry API.

It implements the documented startup and recovery loop of the private execution stream
(CONTRACT §4):

1. **Snapshot.** `GET /api/v1/order-entry/accounts/{account}/open-orders` → the open orders and
   `seq`, the last stream event the snapshot includes.
2. **WebSocket.** A single-use WS token (`POST /api/v1/ws/token`), then
   `/api/v1/ws/private/{account}?token=…&fromSeq=<last + 1>`: the server replays every event
   from there, then continues live.
3. **Gap-fill.** `GET …/executions?fromSeq=<last + 1>` (following `hasMore`/`nextSeq`) applies
   whatever is already committed, in bulk; the WebSocket's replay of the same events is then
   dropped as duplicates.
4. **Monotonic apply.** Events are applied strictly in seq order: a seq ≤ the last applied is a
   duplicate and is dropped; a seq > last + 1 is a gap — the client stops applying, gap-fills
   from last + 1 over REST, and only then goes on.
5. **Reconnect** with exponential backoff and full jitter, resuming with `fromSeq = last + 1`.
   For a fast reconnect the client keeps the next WS token ready; a refused token (4401, e.g.
   it expired while waiting) is replaced by a fresh one at once.
6. **Persisted seq.** The last processed seq is written to a file. After a restart the
   snapshot gives the open orders, and the events between the persisted seq and the snapshot
   (fills that happened while the client was down) are still handed to `on_fill`, once.

Every REST call is signed with SC-* HMAC-V2 (`HmacV2Signer`, written from CONTRACT §4.1).
Reads are retried on 5xx and dropped connections; an order batch is retried too, safely,
because it carries an `idempotencyKey` (a repeat returns the first answer and executes nothing
twice).

Run it against `make run`'s demo data (trader A):

    python -m examples.order_entry_client --base-url http://127.0.0.1:8000 \
        --key spk_demo_trader_a --secret sps_demo_secret_trader_a --passphrase spp_demo_pass_a \
        --account 0xa11ce00000000000000000000000000000000001 --state oe-state.json --buy 1:65100:2

Only httpx and websockets are needed; nothing here imports refserver.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import os
import random
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

log = logging.getLogger("order_entry_client")

#: the order fields the client keeps (those of an open-orders entry that events carry too)
ORDER_FIELDS = ("orderId", "clientOrderId", "market", "side", "price", "qty", "leavesQty", "cumQty", "status")
OPEN_STATUSES = frozenset({"NEW", "PARTIALLY_FILLED", "REPLACED"})


# --- signing -----------------------------------------------------------------------------------
class HmacV2Signer:
    """SC-* HMAC-V2 request signing (CONTRACT §4.1).

    The signature is hex HMAC-SHA256, keyed by the API secret, over these lines joined by `\\n`:
    `SENTICORE-HMAC-V2`, `sc-key:<key>`, `sc-nonce:<nonce>`, `sc-timestamp:<ms>`,
    `method:<METHOD>`, `path:<path as sent>`, `query:<raw items sorted, joined by &>`,
    `body-sha256:<hex sha256 of the raw body>`. A nonce is never reused by a key.
    """

    def __init__(self, key_id: str, secret: str, passphrase: str) -> None:
        self.key_id = key_id
        self.secret = secret.encode()
        self.passphrase = passphrase
        self._last_nonce = 0

    def next_nonce(self) -> int:
        """Microseconds since the epoch, strictly increasing within this process."""
        self._last_nonce = max(self._last_nonce + 1, time.time_ns() // 1000)
        return self._last_nonce

    @staticmethod
    def canonical(
        key_id: str, nonce: str, timestamp: str, method: str, path: str, query: str, body: bytes
    ) -> str:
        items = sorted(query.split("&")) if query else []
        return "\n".join(
            [
                "SENTICORE-HMAC-V2",
                f"sc-key:{key_id}",
                f"sc-nonce:{nonce}",
                f"sc-timestamp:{timestamp}",
                f"method:{method.upper()}",
                f"path:{path}",
                f"query:{'&'.join(items)}",
                f"body-sha256:{hashlib.sha256(body).hexdigest()}",
            ]
        )

    def headers(self, method: str, path: str, query: str = "", body: bytes = b"") -> dict[str, str]:
        nonce = str(self.next_nonce())
        timestamp = str(time.time_ns() // 1_000_000)  # wall clock: the server checks ±30 s
        text = self.canonical(self.key_id, nonce, timestamp, method, path, query, body)
        signature = hmac.new(self.secret, text.encode(), hashlib.sha256).hexdigest()
        return {
            "SC-Auth-Version": "2",
            "SC-Key": self.key_id,
            "SC-Nonce": nonce,
            "SC-Timestamp": timestamp,
            "SC-Passphrase": self.passphrase,
            "SC-Signature": signature,
        }


class OrderEntryError(Exception):
    """A refused call: `{"error": {"code", "message"}}`."""

    def __init__(self, status: int, body: Any) -> None:
        err = body.get("error", {}) if isinstance(body, dict) else {}
        self.status = status
        self.code: str = err.get("code", "?")
        super().__init__(f"{status} {self.code}: {err.get('message', '')}")


class _Gap(Exception):
    """The stream skipped ahead; gap-fill before applying anything newer."""


def backoff_delay(attempt: int, initial: float, maximum: float, rng: random.Random) -> float:
    """Exponential backoff with full jitter."""
    return rng.uniform(0, min(maximum, initial * (2**attempt)))


def query_string(params: dict[str, Any] | None) -> str:
    return "&".join(f"{k}={v}" for k, v in (params or {}).items())


# --- the client --------------------------------------------------------------------------------
class OrderEntryClient:
    """Open orders and fills of one account, kept exact by the snapshot + stream + gap-fill loop."""

    def __init__(
        self,
        base_url: str,
        key_id: str,
        secret: str,
        passphrase: str,
        account: str,
        *,
        state_path: str | os.PathLike[str] | None = None,
        gap_fill_limit: int = 1000,
        backoff_initial: float = 0.2,
        backoff_max: float = 10.0,
        retries: int = 4,
        on_fill: Callable[[dict[str, Any]], None] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.ws_base = self.base_url.replace("http", "ws", 1)
        self.signer = HmacV2Signer(key_id, secret, passphrase)
        self.account = account
        self.state_path = Path(state_path) if state_path is not None else None
        self.gap_fill_limit = gap_fill_limit
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.retries = retries
        self.on_fill = on_fill
        self.rng = rng or random.Random()
        self.http = httpx.AsyncClient(base_url=self.base_url, timeout=10)
        # state
        self.orders: dict[str, dict[str, Any]] = {}  # open orders by orderId
        self.fills: list[dict[str, Any]] = []  # fills processed by this instance, in seq order
        self.rejects: list[dict[str, Any]] = []
        self.last_seq = 0  # the last event applied
        self.persisted_seq: int | None = self._load_state()
        self.stats = {
            "connects": 0,
            "gaps": 0,
            "gap_fills": 0,
            "duplicates": 0,
            "token_refused": 0,
            "resync_required": 0,
            "rest_retries": 0,
        }
        self.connected = asyncio.Event()
        self.spare_token: str | None = None  # the next WS token, fetched ahead for a fast reconnect
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._action_nonce = 0
        self._ws: ClientConnection | None = None

    # --- lifecycle -------------------------------------------------------------------------------
    async def __aenter__(self) -> OrderEntryClient:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Snapshot (and catch-up of a persisted seq), then the stream loop in the background."""
        await self.load_snapshot()
        self._task = asyncio.create_task(self._run(), name="order-entry-client")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        await self.http.aclose()

    # --- persisted seq -----------------------------------------------------------------------------
    def _load_state(self) -> int | None:
        if self.state_path is None or not self.state_path.exists():
            return None
        state = json.loads(self.state_path.read_text())
        return int(state["last_seq"]) if state.get("account") == self.account else None

    def _save_state(self) -> None:
        if self.state_path is None:
            return
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"account": self.account, "last_seq": self.last_seq}))
        tmp.replace(self.state_path)

    # --- REST ------------------------------------------------------------------------------------
    async def call(
        self, method: str, path: str, params: dict[str, Any] | None = None, body: Any = None
    ) -> Any:
        """A signed call. Retried (re-signed, with backoff) on 5xx and dropped connections when it
        is a read or an idempotent batch; re-signed once on NONCE_REPLAY / TIMESTAMP_SKEW."""
        query = query_string(params)
        raw = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
        url = path + (f"?{query}" if query else "")
        retry_ok = method == "GET" or (isinstance(body, dict) and "idempotencyKey" in body)
        attempt, resigned = 0, False
        while True:
            headers = self.signer.headers(method, path, query, raw)
            if raw:
                headers["Content-Type"] = "application/json"
            try:
                resp = await self.http.request(method, url, content=raw, headers=headers)
            except httpx.TransportError:
                if not retry_ok or attempt >= self.retries:
                    raise
                resp = None
            if resp is None or (resp.status_code >= 500 and retry_ok and attempt < self.retries):
                self.stats["rest_retries"] += 1
                await asyncio.sleep(backoff_delay(attempt, self.backoff_initial, self.backoff_max, self.rng))
                attempt += 1
                continue
            data = resp.json()
            if (
                resp.status_code == 401
                and not resigned
                and data.get("error", {}).get("code")
                in (
                    "NONCE_REPLAY",
                    "TIMESTAMP_SKEW",
                )
            ):
                resigned = True
                continue
            if resp.status_code >= 400:
                raise OrderEntryError(resp.status_code, data)
            return data

    async def load_snapshot(self) -> None:
        """Open orders as of `seq`; with a persisted seq below it, replay the events in between
        for their fills (the snapshot already holds their effect on the orders)."""
        snap = await self.call("GET", f"/api/v1/order-entry/accounts/{self.account}/open-orders")
        self.orders = {o["orderId"]: {k: o[k] for k in ORDER_FIELDS} for o in snap["orders"]}
        seq = int(snap["seq"])
        persisted = self.persisted_seq
        if persisted is not None and persisted < seq:
            async for ev in self._executions(persisted + 1, until=seq):
                self._record(ev["data"], seq=ev["seq"])
        self.last_seq = seq  # (a persisted seq above the head means the server was reset)
        self._save_state()
        self._notify()

    async def _executions(self, from_seq: int, until: int | None = None) -> Any:
        """Gap-fill pages from `from_seq` (up to `until`, or to the head)."""
        path = f"/api/v1/order-entry/accounts/{self.account}/executions"
        while until is None or from_seq <= until:
            page = await self.call("GET", path, {"fromSeq": from_seq, "limit": self.gap_fill_limit})
            for ev in page["events"]:
                if until is not None and ev["seq"] > until:
                    return
                yield ev
            if not page["hasMore"] or not page["events"]:
                return
            from_seq = int(page["nextSeq"])

    async def gap_fill(self) -> None:
        """Apply every committed event after the last applied one."""
        self.stats["gap_fills"] += 1
        async for ev in self._executions(self.last_seq + 1):
            self.offer(ev)

    async def ws_token(self) -> str:
        return str((await self.call("POST", "/api/v1/ws/token"))["token"])

    # --- orders ------------------------------------------------------------------------------------
    async def next_action_nonce(self) -> int:
        if self._action_nonce == 0:
            boot = await self.call("GET", f"/api/v1/accounts/{self.account}/bootstrap")
            self._action_nonce = int(boot["nonceFloor"])
        self._action_nonce += 1
        return self._action_nonce

    async def submit(self, actions: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """One signed batch → the admission acks. Final outcomes arrive on the stream."""
        items = []
        for action in actions:
            payload = {
                "account": self.account,
                "nonce": await self.next_action_nonce(),
                "ts": int(time.time() * 1000),
            }
            payload["action"] = action
            # the per-action signature's shape is checked, not its cryptography (CONTRACT §4.2)
            items.append({"payload": payload, "signature": {"scheme": "EcdsaSecp256k1", "bytes": "0x00"}})
        batch = {"version": 1, "idempotencyKey": uuid.uuid4().hex, "actions": items}
        ack = await self.call("POST", "/api/v1/order-entry/orders", body=batch)
        results: list[dict[str, Any]] = ack["results"]
        if any(r.get("rejectCode") == "NONCE_REPLAY" for r in results):
            self._action_nonce = 0  # another session moved the floor: read it again next time
        return results

    async def place(
        self,
        market: int,
        side: str,
        price: int,
        qty: int,
        tif: str = "gtc",
        client_order_id: str | None = None,
    ) -> dict[str, Any]:
        order = {"market": market, "side": side, "price": price, "qty": qty, "timeInForce": tif}
        order["clientOrderId"] = client_order_id or f"c-{uuid.uuid4().hex[:16]}"
        return (await self.submit([{"SpotPlaceOrder": order}]))[0]

    async def cancel(self, market: int, order_id: str) -> dict[str, Any]:
        return (await self.submit([{"SpotCancelOrder": {"market": market, "orderId": order_id}}]))[0]

    # --- the stream ----------------------------------------------------------------------------
    def offer(self, ev: dict[str, Any]) -> None:
        """Apply one event in order: drop duplicates, refuse to skip (raises _Gap)."""
        seq = int(ev["seq"])
        if seq <= self.last_seq:
            self.stats["duplicates"] += 1
            return
        if seq != self.last_seq + 1:
            raise _Gap(seq)
        self._apply(ev["data"])
        self._record(ev["data"], seq=seq)
        self.last_seq = seq
        self._save_state()
        self._notify()

    def _apply(self, d: dict[str, Any]) -> None:
        oid = d.get("orderId")
        status = d["status"]
        if status == "REJECTED" or oid is None:
            return  # a refused action: the order (if any) stays as it was
        if status in OPEN_STATUSES:
            order = self.orders.get(oid, {})
            order.update({k: d[k] for k in ORDER_FIELDS if k in d})
            self.orders[oid] = order
        else:  # FILLED, CANCELED, EXPIRED: no longer open
            self.orders.pop(oid, None)

    def _record(self, d: dict[str, Any], seq: int) -> None:
        if d["status"] == "REJECTED":
            self.rejects.append(d)
        if d.get("fillId") and d.get("filledQty"):
            fill = {
                k: d[k]
                for k in ("fillId", "orderId", "clientOrderId", "market", "side", "filledQty", "fillPrice")
            }
            fill["seq"] = seq
            self.fills.append(fill)
            if self.on_fill is not None:
                self.on_fill(fill)

    async def _run(self) -> None:
        attempt = 0
        while True:
            try:
                await self._session()
            except (
                OSError,
                TimeoutError,
                ConnectionClosed,
                InvalidHandshake,
                httpx.HTTPError,
                OrderEntryError,
                _Gap,
            ) as exc:
                log.info("stream session ended: %r", exc)
            if self.connected.is_set():
                attempt = 0
            self.connected.clear()
            await asyncio.sleep(backoff_delay(attempt, self.backoff_initial, self.backoff_max, self.rng))
            attempt += 1

    async def _open(self) -> ClientConnection:
        """Connect with the spare token (or a fresh one); a refused spare is replaced at once."""
        for _ in range(2):
            token, self.spare_token = self.spare_token, None
            token = token or await self.ws_token()
            # authenticate in the first frame: its answer tells us the session is live (a
            # ?token= session gets no such answer; its first frame is already an event)
            url = f"{self.ws_base}/api/v1/ws/private/{self.account}"
            ws = await connect(url, open_timeout=10, ping_interval=None)
            try:
                await ws.send(
                    json.dumps({"op": "authenticate", "token": token, "fromSeq": self.last_seq + 1})
                )
                hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
            except ConnectionClosed as exc:
                if exc.rcvd is not None and exc.rcvd.code == 4401:
                    self.stats["token_refused"] += 1
                    log.info("WS token refused (%s): fetching a fresh one", exc.rcvd.reason)
                    continue
                raise
            if hello.get("op") != "authenticated":
                await ws.close()
                raise OrderEntryError(0, {"error": {"code": "UNEXPECTED", "message": str(hello)}})
            return ws
        raise OrderEntryError(401, {"error": {"code": "WS_TOKEN_REFUSED", "message": "twice"}})

    async def _session(self) -> None:
        ws = await self._open()
        self._ws = ws
        async with ws:
            try:
                self.stats["connects"] += 1
                await self.gap_fill()  # what is committed already; the WS replay repeats it (dropped)
                self.spare_token = await self.ws_token()  # ready for the next reconnect
                self.connected.set()
                self._notify()
                async for raw in ws:
                    frame = json.loads(raw)
                    op = frame.get("op")
                    if op == "ping":
                        await ws.send(json.dumps({"op": "pong", "ts": frame["ts"]}))
                    elif op == "resync_required":
                        self.stats["resync_required"] += 1  # the close (4008) follows: resume from last
                    elif frame.get("channel") == "executions":
                        try:
                            self.offer(frame)
                        except _Gap as gap:
                            self.stats["gaps"] += 1
                            log.warning("seq %s after %d: gap-filling", gap, self.last_seq)
                            await self.gap_fill()
                            self.offer(frame)  # now a duplicate, or next in line
            finally:
                self._ws = None
                self.connected.clear()

    # --- waiting on the client's state --------------------------------------------------------
    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_until(self, predicate: Callable[[], bool], timeout: float) -> None:  # noqa: ASYNC109
        """Wait until `predicate()` holds, re-checked after every applied event."""
        async with asyncio.timeout(timeout):
            while not predicate():
                await self._changed.wait()


# --- command line ------------------------------------------------------------------------------
async def _main(args: argparse.Namespace) -> None:
    def fill(f: dict[str, Any]) -> None:
        print(f"fill seq {f['seq']}: {f['side']} {f['filledQty']} @ {f['fillPrice']} (order {f['orderId']})")

    async with OrderEntryClient(
        args.base_url,
        args.key,
        args.secret,
        args.passphrase,
        args.account,
        state_path=args.state,
        on_fill=fill,
    ) as client:
        await asyncio.wait_for(client.connected.wait(), 15)
        print(f"account {args.account}: {len(client.orders)} open orders, stream at seq {client.last_seq}")
        if args.buy:
            market, price, qty = (int(x) for x in args.buy.split(":"))
            print("ack:", await client.place(market, "Bid", price, qty, "ioc"))
        await asyncio.sleep(args.watch)  # let the stream run
        print(f"open orders at seq {client.last_seq}:")
        for o in client.orders.values():
            print(" ", o)


def main() -> None:
    p = argparse.ArgumentParser(
        description="An Order Entry client against refserver (snapshot, stream, gap-fill)"
    )
    p.add_argument("--base-url", default="http://127.0.0.1:8000")
    p.add_argument("--key", default="spk_demo_trader_a")
    p.add_argument("--secret", default="sps_demo_secret_trader_a")
    p.add_argument("--passphrase", default="spp_demo_pass_a")
    p.add_argument("--account", default="0xa11ce00000000000000000000000000000000001")
    p.add_argument("--state", default=None, help="file keeping the last processed seq")
    p.add_argument("--buy", default="", help="MARKET:PRICE:QTY — an ioc bid, e.g. 1:65100:2")
    p.add_argument("--watch", type=float, default=3.0, help="seconds to follow the stream")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    asyncio.run(_main(args))


if __name__ == "__main__":
    main()
