"""A broker trading terminal: the reference client of refserver's Broker Client API.

It follows the integration pattern the broker API documents (CONTRACT §3):

1. Sign in (`POST /sign/in`) → a JWT sent as `Authorization: <jwt>` (no "Bearer").
2. Connect the WebSocket (the broker port, or `/ws` on the main port) and authorize with the
   first frame `{"authorization": <jwt>}`; the reply carries `seq` = H, the head of the login's
   account stream.
3. Only then load the state over REST (`/account/balance`, `/trades`, `/market/short/list`):
   every account event after H arrives on the socket, so nothing can fall between the REST
   snapshot and the stream. Events that the snapshot already includes are harmless, because
   `b` and `o` frames carry whole rows: applying them again converges on the same state.
4. Subscribe to symbols; keep a local view: quotes from `t`, the balance from `b`, the trades
   from `o` (alerts `a` and notifications `n` are kept as lists).
5. Account frames are not numbered on the wire, but every `b`/`o`/`a`/`n` frame is exactly one
   sequence number, in order. The terminal counts them, so it always knows the seq of the last
   frame it applied, and reconnects with `{"authorization": ..., "last_seq": L}` to get exactly
   L+1…H replayed before live events.
6. Reconnect with exponential backoff and full jitter; sign in again when the token was
   refused (4401 / `INVALID_TOKEN`) and retry a REST call once after signing in again on 401.
7. A trade the terminal places is confirmed by its own `o` frame. If that frame does not arrive
   in time, the terminal assumes it missed frames (a gap: its count is then behind the server's)
   and resumes from its count; the replay brings the missed rows (and repeats some it had,
   which is harmless).

Run it against `make run`'s demo data:

    python -m examples.broker_terminal --base-url http://127.0.0.1:8000 \
        --login 1001 --password demo-1001 --symbols EURUSD,BTCUSD --trade EURUSD

Only httpx and websockets are needed; nothing here imports refserver.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import random
from collections.abc import Callable, Iterable
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

log = logging.getLogger("broker_terminal")

#: trade states that keep a trade in the "open" view (1 open, 2 pending, 3 pending activated,
#: 4 modified, 6 partially closed); 5 pending cancelled and 7 closed remove it
OPEN_STATES = frozenset({1, 2, 3, 4, 6})
#: the `b` frame: ["b", login, balance, margin, margin_free, margin_level, equity, credit, level_type, profit, code]
B_FIELDS = ("balance", "margin", "margin_free", "margin_level", "equity", "credit", "level_type", "profit")
#: the trade fields the terminal keeps (named as the /trades columns)
TRADE_FIELDS = ("order", "symbol", "cmd", "volume", "open_price", "sl", "tp", "state")


class BrokerError(Exception):
    """A refused REST call: the broker's `{"error": CODE, "message": ...}`."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


class TokenRejected(Exception):
    """The WebSocket refused our token: sign in again before reconnecting."""


def table(body: dict[str, Any]) -> list[dict[str, Any]]:
    """A tabular answer `{"structure": [...], "rows": [[...]]}` as a list of dicts."""
    cols = body["structure"]
    return [dict(zip(cols, row, strict=True)) for row in body["rows"]]


def backoff_delay(attempt: int, initial: float, maximum: float, rng: random.Random) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(maximum, initial × 2^attempt)]."""
    return rng.uniform(0, min(maximum, initial * (2**attempt)))


def trade_from_o(frame: list[Any]) -> dict[str, Any]:
    """["o", order, login, symbol, cmd, volume, open_price, close_price, open_time, close_time,
    tp, sl, state, storage, commission, profit, comment, code] → the kept trade fields."""
    return {
        "order": frame[1],
        "symbol": frame[3],
        "cmd": frame[4],
        "volume": frame[5],
        "open_price": frame[6],
        "sl": frame[11],
        "tp": frame[10],
        "state": frame[12],
    }


class BrokerTerminal:
    """Sign in, mirror the account over REST + WebSocket, trade. Use as an async context manager."""

    def __init__(
        self,
        base_url: str,
        login: int | str,
        password: str,
        *,
        ws_url: str | None = None,
        symbols: Iterable[str] = (),
        confirm_timeout: float = 5.0,
        backoff_initial: float = 0.2,
        backoff_max: float = 10.0,
        rng: random.Random | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.ws_url = ws_url or self.base_url.replace("http", "ws", 1) + "/ws"
        self.login = login
        self.password = password
        self.symbols = [s.upper() for s in symbols]
        self.confirm_timeout = confirm_timeout
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.rng = rng or random.Random()
        self.token = ""
        # the local view
        self.quotes: dict[str, tuple[float, float, int]] = {}  # symbol → (bid, ask, ctm)
        self.account: dict[str, Any] = {}  # balance, margin, ... (from /account/balance, then `b`)
        self.trades: dict[int, dict[str, Any]] = {}  # open positions and pending orders
        self.closed: dict[int, dict[str, Any]] = {}  # closed / cancelled, as seen on the stream
        self.alerts: list[list[Any]] = []
        self.notifications: list[list[Any]] = []
        self.seq: int | None = None  # seq of the last account frame applied
        self.stats = {"sign_ins": 0, "connects": 0, "resyncs": 0, "rest_retries": 0, "reloads": 0}
        self.connected = asyncio.Event()
        self._changed = asyncio.Event()
        self._http: httpx.AsyncClient | None = None
        self._ws: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._skip_backoff = False

    # --- lifecycle ---------------------------------------------------------------------------
    async def __aenter__(self) -> BrokerTerminal:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Sign in and start the WebSocket loop (which loads the REST state once authorized)."""
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=10)
        await self.sign_in()
        self._task = asyncio.create_task(self._run(), name="broker-terminal")

    async def stop(self) -> None:
        self._stopping = True
        if self._ws is not None:
            await self._ws.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        if self._http is not None:
            await self._http.aclose()

    # --- REST ----------------------------------------------------------------------------------
    async def sign_in(self) -> None:
        assert self._http is not None
        resp = await self._http.post("/sign/in", json={"login": self.login, "password": self.password})
        body = resp.json()
        if resp.status_code != 200:
            raise BrokerError(resp.status_code, body.get("error", "?"), body.get("message", ""))
        self.token = body["__token"]
        self.stats["sign_ins"] += 1

    async def request(self, method: str, path: str, *, json_body: Any = None, params: Any = None) -> Any:
        """One REST call. On 401 sign in again and retry once; idempotent reads are also retried
        (with backoff) on 5xx answers and dropped connections."""
        assert self._http is not None
        signed_in_again = False
        attempt = 0
        while True:
            try:
                resp = await self._http.request(
                    method, path, json=json_body, params=params, headers={"Authorization": self.token}
                )
            except httpx.TransportError:
                if method != "GET" or attempt >= 3:
                    raise
                resp = None
            if resp is not None and resp.status_code == 401 and not signed_in_again:
                signed_in_again = True
                await self.sign_in()
                continue
            if method == "GET" and attempt < 3 and (resp is None or resp.status_code >= 500):
                self.stats["rest_retries"] += 1
                await asyncio.sleep(backoff_delay(attempt, self.backoff_initial, self.backoff_max, self.rng))
                attempt += 1
                continue
            assert resp is not None
            body = resp.json()
            if resp.status_code >= 400:
                raise BrokerError(resp.status_code, body.get("error", "?"), body.get("message", ""))
            return body

    async def load_state(self) -> None:
        """The REST snapshot: balance, open trades and pending orders, quotes of our symbols."""
        self.stats["reloads"] += 1
        row = table(await self.request("GET", "/account/balance"))[0]
        self.account = {k: row[k] for k in B_FIELDS}
        trades: dict[int, dict[str, Any]] = {}
        for trade_type in (1, 3):  # open positions, pending orders
            body = await self.request("GET", "/trades", params={"tradeType": trade_type, "limit": 0})
            for t in table(body):
                trades[t["order"]] = {k: t[k] for k in TRADE_FIELDS}
        self.trades = trades
        if self.symbols:
            assets = table((await self.request("GET", "/market/short/list"))["assets"])
            for a in assets:
                if a["symbol"] in self.symbols and a["symbol"] not in self.quotes:
                    self.quotes[a["symbol"]] = (a["bid"], a["ask"], 0)
        self._notify()

    async def open_trade(self, symbol: str, cmd: int, volume: int, **extra: Any) -> int:
        """Place a trade (`volume` in hundredths of a lot); returns once its `o` frame is applied."""
        body = await self.request(
            "POST", "/trade/open", json_body={"symbol": symbol, "cmd": cmd, "volume": volume, **extra}
        )
        order = int(body["id"])
        await self._confirm(lambda: order in self.trades or order in self.closed)
        return order

    async def close_trade(self, order: int, volume: int | None = None) -> None:
        """Close a position (fully, or `volume` of it); returns once the stream shows the close."""
        before = self.trades.get(order, {}).get("volume")
        body: dict[str, Any] = {"order": order}
        if volume is not None:
            body["volume"] = volume
        await self.request("DELETE", "/trade/close", json_body=body)
        if volume is None:
            await self._confirm(lambda: order not in self.trades)
        else:
            await self._confirm(lambda: self.trades.get(order, {}).get("volume") != before)

    # --- waiting on the local view -------------------------------------------------------------
    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_until(self, predicate: Callable[[], bool], timeout: float) -> None:  # noqa: ASYNC109
        """Wait until `predicate()` holds on the local view (re-checked after every change)."""
        async with asyncio.timeout(timeout):
            while not predicate():
                await self._changed.wait()

    async def _confirm(self, predicate: Callable[[], bool]) -> None:
        try:
            await self.wait_until(predicate, self.confirm_timeout)
        except TimeoutError:
            # our own event did not come: frames were missed, so resume from our count
            log.warning("own event missing after %.1fs: resuming from seq %s", self.confirm_timeout, self.seq)
            await self.resync()
            await self.wait_until(predicate, self.confirm_timeout * 2)

    async def resync(self) -> None:
        """Reconnect at once and resume from the last applied seq."""
        self.stats["resyncs"] += 1
        self._skip_backoff = True
        if self._ws is not None:
            await self._ws.close(1000, "resync")

    # --- WebSocket -----------------------------------------------------------------------------
    async def _run(self) -> None:
        attempt = 0
        while not self._stopping:
            try:
                await self._session()
            except TokenRejected:
                with contextlib.suppress(BrokerError, httpx.HTTPError):
                    await self.sign_in()
            except (
                OSError,
                TimeoutError,
                ConnectionClosed,
                InvalidHandshake,
                httpx.HTTPError,
                BrokerError,
            ) as exc:
                log.info("session ended: %r", exc)
            if self._stopping:
                return
            if self.connected.is_set():  # we had a working session: start the backoff over
                attempt = 0
            self.connected.clear()
            if self._skip_backoff:
                self._skip_backoff = False
                continue
            await asyncio.sleep(backoff_delay(attempt, self.backoff_initial, self.backoff_max, self.rng))
            attempt += 1

    async def _session(self) -> None:
        async with connect(self.ws_url, open_timeout=10, ping_interval=20) as ws:
            self._ws = ws
            try:
                hello: dict[str, Any] = {"authorization": self.token}
                if self.seq is not None:
                    hello["last_seq"] = self.seq
                await ws.send(json.dumps(hello))
                reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if not (isinstance(reply, dict) and reply.get("success") is True):
                    raise TokenRejected(str(reply))
                head = int(reply["seq"])
                self.stats["connects"] += 1
                if self.seq is None or self.seq > head:
                    # first session (or the server's history is shorter than ours: it was reset):
                    # the next frame is H+1; take the REST snapshot now, frames wait in the socket
                    if self.seq is not None:
                        self.trades, self.closed, self.quotes = {}, {}, {}
                    await self.load_state()
                    self.seq = head
                # with last_seq L ≤ H the server replays L+1…H first: self.seq stays L
                if self.symbols:
                    await ws.send(json.dumps({"event": "subscribe", "data": self.symbols}))
                self.connected.set()
                self._notify()
                async for raw in ws:
                    self._on_frame(raw)
            except ConnectionClosed as exc:
                if exc.rcvd is not None and exc.rcvd.code == 4401:
                    raise TokenRejected(exc.rcvd.reason) from exc
                raise
            finally:
                self._ws = None

    def _on_frame(self, raw: str | bytes) -> None:
        if raw == "pong":
            return
        frame = json.loads(raw)
        if isinstance(frame, dict):  # {"event":"error",...}
            log.warning("server says: %s", frame)
            return
        kind = frame[0]
        if kind == "t":
            self.quotes[frame[1]] = (frame[2], frame[3], frame[4])
        else:  # b, o, a, n: one account-stream seq each
            assert self.seq is not None
            self.seq += 1
            if kind == "b":
                self.account.update(zip(B_FIELDS, frame[2:10], strict=True))
            elif kind == "o":
                trade = trade_from_o(frame)
                if trade["state"] in OPEN_STATES:
                    self.trades[trade["order"]] = trade
                    self.closed.pop(trade["order"], None)
                else:
                    self.trades.pop(trade["order"], None)
                    self.closed[trade["order"]] = trade
            elif kind == "a":
                self.alerts.append(frame)
            elif kind == "n":
                self.notifications.append(frame)
        self._notify()


# --- command line ------------------------------------------------------------------------------
async def _main(args: argparse.Namespace) -> None:
    symbols = [s for s in args.symbols.split(",") if s]
    async with BrokerTerminal(
        args.base_url, args.login, args.password, ws_url=args.ws_url, symbols=symbols
    ) as term:
        await asyncio.wait_for(term.connected.wait(), 15)
        print(f"signed in as {args.login}; account stream at seq {term.seq}")
        print("balance:", term.account)
        print("open trades:", list(term.trades.values()))
        if args.trade:
            order = await term.open_trade(args.trade, 0, 10)
            print("opened", term.trades[order])
            print("balance:", term.account)
            await term.close_trade(order)
            print("closed", term.closed[order])
            print("balance:", term.account)
        deadline = asyncio.get_running_loop().time() + args.watch
        while asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(1)
            print(" ".join(f"{s} {b}/{a}" for s, (b, a, _) in sorted(term.quotes.items())))


def main() -> None:
    p = argparse.ArgumentParser(description="A broker terminal against refserver's Broker Client API")
    p.add_argument("--base-url", default="http://127.0.0.1:8000")
    p.add_argument(
        "--ws-url", default=None, help="default: ws://<base>/ws (or the broker port, ws://host:8001/)"
    )
    p.add_argument("--login", default="1001")
    p.add_argument("--password", default="demo-1001")
    p.add_argument("--symbols", default="EURUSD,BTCUSD")
    p.add_argument("--trade", default="", help="open and close 0.10 lot BUY of this symbol")
    p.add_argument("--watch", type=float, default=5.0, help="seconds to print quotes for")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args()
    if args.login.isdigit():
        args.login = int(args.login)  # the numeric login (an email works too)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    asyncio.run(_main(args))


if __name__ == "__main__":
    main()
