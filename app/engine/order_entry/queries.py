"""What clients read: bootstrap (balances, risk, nonce floor), the committed open-orders
snapshot with its stream seq, gap-fill of execution events, and a market's aggregated book.
Nothing here changes state."""

from __future__ import annotations

from typing import Any

import orjson

from app.db import Database
from app.engine.errors import NotFound
from app.engine.order_entry import store
from app.engine.order_entry.markets import BY_ID, BY_SYMBOL
from app.engine.order_entry.matching import ShardEngine
from app.engine.order_entry.model import VenueState
from app.engine.order_entry.validate import MAX_ACTIONS
from app.engine.streams import Streams

FAMILY = store.FAMILY


class Queries:
    def __init__(
        self, db: Database, streams: Streams, venue: VenueState, engines: dict[int, ShardEngine]
    ) -> None:
        self.db = db
        self.streams = streams
        self.venue = venue
        self.engines = engines  # the service's dict: replaced in place on reload

    def balances(self, account: str) -> dict[str, dict[str, int]]:
        acct = self.venue.accounts.get(account)
        bals = acct.balances if acct is not None else {}
        return {asset: {"free": b[0], "reserved": b[1]} for asset, b in sorted(bals.items())}

    def bootstrap(self, account: str) -> dict[str, Any]:
        open_orders = self.venue.open_by_account.get(account, {})
        balances = self.balances(account)
        acct = self.venue.accounts.get(account)
        return {
            "account": account,
            "balances": balances,
            "risk": {
                "openOrders": len(open_orders),
                "reserved": {a: b["reserved"] for a, b in balances.items() if b["reserved"]},
                "maxActionsPerBatch": MAX_ACTIONS,
            },
            "nonceFloor": acct.nonce_floor if acct is not None else 0,
        }

    async def open_orders(self, account: str) -> tuple[int, list[dict[str, Any]]]:
        """The committed open orders and the stream seq they include, from one DB snapshot."""
        is_pg = not self.db.is_sqlite
        return await self.db.read(lambda conn: store.open_orders(conn, account, is_pg))

    async def executions(self, account: str, from_seq: int, limit: int) -> bytes:
        """The gap-fill page (ring first, SQL fallback), the stored event bytes spliced in as
        they are: no re-serialisation."""
        res = await self.streams.read(FAMILY, account, from_seq, limit)
        events = res.events
        to_seq = events[-1].seq if events else None
        next_seq = (to_seq + 1) if to_seq is not None else from_seq
        head = orjson.dumps(
            {
                "account": account,
                "fromSeq": from_seq,
                "toSeq": to_seq,
                "source": res.source,
                "hasMore": res.head >= next_seq,
                "nextSeq": next_seq,
            }
        )
        return b"".join((head[:-1], b',"events":[', b",".join(e.data for e in events), b"]}"))

    def book(self, market_ref: str, depth: int = 20) -> dict[str, Any]:
        """Aggregated price levels of one market, best first: {"bids": [[price, qty]], "asks": ...}.
        Read-only: only the shard's worker changes the book."""
        m = BY_SYMBOL.get(market_ref) or (
            BY_ID.get(int(market_ref)) if market_ref.isdigit() and len(market_ref) <= 6 else None
        )
        if m is None:
            raise NotFound(f"unknown market {market_ref!r}")
        book = self.engines[m.shard].books[m.market]

        def levels(prices: list[int], side: Any) -> list[list[int]]:
            return [[p, sum(o.leaves_qty for o in side.levels[p])] for p in prices[:depth]]

        return {
            "market": m.market,
            "symbol": m.symbol,
            "bids": levels(book.bids.prices[::-1], book.bids),
            "asks": levels(book.asks.prices, book.asks),
        }
