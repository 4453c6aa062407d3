"""Order Entry reference data: assets and markets (always present, whatever the seed).

Markets are spread over two shards; each shard's books are owned by one engine worker.
`mid` is where the simulated liquidity provider quotes around, `tick` its level spacing.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Market:
    market: int
    symbol: str
    base_asset: str
    quote_asset: str
    shard: int
    min_qty: int
    status: str  # "open" | "halted"
    mid: int
    tick: int

    def to_json(self) -> dict[str, object]:
        return {
            "market": self.market,
            "symbol": self.symbol,
            "baseAsset": self.base_asset,
            "quoteAsset": self.quote_asset,
            "shard": self.shard,
            "minQty": self.min_qty,
            "status": self.status,
        }


MARKETS: tuple[Market, ...] = (
    Market(1, "BTC-USDC", "BTC", "USDC", 0, 1, "open", 65_000, 10),
    Market(2, "ETH-USDC", "ETH", "USDC", 0, 1, "open", 3_000, 1),
    Market(3, "SOL-USDC", "SOL", "USDC", 1, 10, "open", 150, 1),
    Market(4, "AVAX-USDC", "AVAX", "USDC", 1, 10, "open", 30, 1),
    Market(5, "BTC-USDT", "BTC", "USDT", 1, 1, "halted", 65_000, 10),
)
BY_ID: dict[int, Market] = {m.market: m for m in MARKETS}
BY_SYMBOL: dict[str, Market] = {m.symbol: m for m in MARKETS}
ASSETS: tuple[str, ...] = ("USDC", "USDT", "BTC", "ETH", "SOL", "AVAX")
SHARDS: tuple[int, ...] = tuple(sorted({m.shard for m in MARKETS}))
