"""The simulated liquidity provider (CONTRACT §4.3): one account that keeps resting orders
around every open market's mid so that a lone client still gets fills. On with the demo seed
unless `REFSERVER_OE_LIQUIDITY` says otherwise; switched by the control API."""

from __future__ import annotations

from app.config import Settings
from app.engine.order_entry.markets import ASSETS
from app.engine.order_entry.matching import ShardEngine
from app.engine.order_entry.model import VenueState

LP_ACCOUNT = "0x1100000000000000000000000000000000000001"
LP_LEVELS = 5
LP_LEVEL_QTY = 50  # × the market's minQty
LP_FUNDS = 10**15


def enabled_by_default(settings: Settings, seed_mode: str) -> bool:
    """`REFSERVER_OE_LIQUIDITY` when given, else on exactly with the demo seed (of the last
    start or reset)."""
    forced = settings.oe_liquidity
    return forced == "on" if forced is not None else seed_mode == "demo"


class LiquidityProvider:
    def __init__(self, venue: VenueState, enabled: bool) -> None:
        self.venue = venue
        self.enabled = enabled

    def fund(self) -> None:
        """Top the provider's balances up (they move as it trades)."""
        ledger = self.venue.ledger
        for asset in ASSETS:
            have = ledger.free(LP_ACCOUNT, asset)
            if have < LP_FUNDS // 10:
                ledger.credit(LP_ACCOUNT, asset, LP_FUNDS - have)

    def quote(self, engine: ShardEngine) -> None:
        """Re-quote the levels of `engine`'s markets that traded away (when on)."""
        if self.enabled:
            engine.refill(LP_ACCOUNT, LP_LEVELS, LP_LEVEL_QTY)
