"""The broker's reference data: the tradable symbols and their contract specifications.

Symbols are reference data (always present, whatever the seed). Every column of the short list
(reference §2.3) is derived from a `Symbol` plus its live quote.

Margin modes (documented in docs/broker.md):
- `MARGIN_FOREX` (0): margin = lots × contract_size / effective_leverage, in `margin_currency`
  (the base currency), converted to the account currency at the current mid price.
- `MARGIN_CFD` (1): margin = lots × contract_size × fill_price / effective_leverage, in the quote
  currency, converted to the account currency at the current mid price.
`effective_leverage = account leverage / margin_divider`.
"""

from __future__ import annotations

from dataclasses import dataclass

MARGIN_FOREX = 0
MARGIN_CFD = 1

GROUPS = ("ALL", "Forex", "Metals", "Indices", "Crypto")


@dataclass(frozen=True, slots=True)
class Symbol:
    symbol: str
    description: str
    group: str
    base: str  # margin currency (forex mode) / the traded asset
    quote: str  # profit currency
    digits: int
    contract_size: float
    spread: int  # points
    margin_mode: int
    margin_divider: float
    lot_min: float
    lot_max: float
    lot_step: float
    stops_level: int  # points
    mid: float  # starting mid price of the simulator
    sigma: float  # relative standard deviation of one simulator step
    category: str
    industry: str
    exchange: str

    @property
    def point(self) -> float:
        return round(10.0**-self.digits, self.digits)

    @property
    def margin_currency(self) -> str:
        return self.base if self.margin_mode == MARGIN_FOREX else self.quote

    @property
    def vol_min(self) -> int:
        """lot_min in hundredths of a lot (the wire's `volume` unit)."""
        return round(self.lot_min * 100)

    @property
    def vol_max(self) -> int:
        return round(self.lot_max * 100)

    @property
    def vol_step(self) -> int:
        return max(1, round(self.lot_step * 100))


def _fx(sym: str, desc: str, digits: int, spread: int, mid: float) -> Symbol:
    return Symbol(
        sym,
        desc,
        "Forex",
        sym[:3],
        sym[3:],
        digits,
        100_000.0,
        spread,
        MARGIN_FOREX,
        1.0,
        0.01,
        100.0,
        0.01,
        10,
        mid,
        0.00005,
        "Currencies",
        "Foreign exchange",
        "OTC",
    )


def _index(sym: str, desc: str, quote: str, spread: int, mid: float, exchange: str) -> Symbol:
    return Symbol(
        sym,
        desc,
        "Indices",
        sym,
        quote,
        2,
        1.0,
        spread,
        MARGIN_CFD,
        5.0,
        0.1,
        100.0,
        0.1,
        100,
        mid,
        0.0001,
        "Indices",
        "Equity index",
        exchange,
    )


def _metal(
    sym: str, desc: str, digits: int, contract_size: float, spread: int, mid: float, sigma: float
) -> Symbol:
    return Symbol(
        sym,
        desc,
        "Metals",
        sym[:3],
        "USD",
        digits,
        contract_size,
        spread,
        MARGIN_FOREX,
        2.0,
        0.01,
        50.0,
        0.01,
        50,
        mid,
        sigma,
        "Commodities",
        "Precious metals",
        "OTC",
    )


def _crypto(sym: str, desc: str, spread: int, mid: float) -> Symbol:
    return Symbol(
        sym,
        desc,
        "Crypto",
        sym[:3],
        "USD",
        2,
        1.0,
        spread,
        MARGIN_CFD,
        20.0,
        0.01,
        10.0,
        0.01,
        1000,
        mid,
        0.0003,
        "Cryptocurrencies",
        "Digital assets",
        "OTC",
    )


SYMBOLS: tuple[Symbol, ...] = (
    _fx("EURUSD", "Euro vs US Dollar", 5, 10, 1.08500),
    _fx("GBPUSD", "British Pound vs US Dollar", 5, 12, 1.26500),
    _fx("USDJPY", "US Dollar vs Japanese Yen", 3, 12, 151.500),
    _fx("USDCHF", "US Dollar vs Swiss Franc", 5, 14, 0.88500),
    _fx("AUDUSD", "Australian Dollar vs US Dollar", 5, 12, 0.65500),
    _fx("USDCAD", "US Dollar vs Canadian Dollar", 5, 15, 1.36500),
    _fx("NZDUSD", "New Zealand Dollar vs US Dollar", 5, 16, 0.60500),
    _fx("EURJPY", "Euro vs Japanese Yen", 3, 18, 164.400),
    _fx("GBPJPY", "British Pound vs Japanese Yen", 3, 25, 191.600),
    _fx("EURGBP", "Euro vs British Pound", 5, 12, 0.85800),
    _metal("XAUUSD", "Gold vs US Dollar", 2, 100.0, 30, 2350.00, 0.0001),
    _metal("XAGUSD", "Silver vs US Dollar", 3, 5000.0, 25, 28.500, 0.00015),
    _index("US500", "S&P 500 Index", "USD", 50, 5200.00, "CME"),
    _index("US30", "Dow Jones Industrial Average", "USD", 200, 39000.00, "CBOT"),
    _index("NAS100", "Nasdaq 100 Index", "USD", 100, 18200.00, "CME"),
    _index("GER40", "DAX 40 Index", "EUR", 100, 18300.00, "EUREX"),
    _index("UK100", "FTSE 100 Index", "GBP", 100, 8100.00, "ICE"),
    _crypto("BTCUSD", "Bitcoin vs US Dollar", 3000, 65000.00),
    _crypto("ETHUSD", "Ethereum vs US Dollar", 200, 3200.00),
    _crypto("LTCUSD", "Litecoin vs US Dollar", 20, 85.00),
)

BY_NAME: dict[str, Symbol] = {s.symbol: s for s in SYMBOLS}

# account currencies the server can convert to and from (every one has a USD pair above)
ACCOUNT_CURRENCIES = ("USD", "EUR", "GBP", "JPY", "CHF", "AUD", "CAD", "NZD")
CURRENCY_DIGITS = {"JPY": 0}  # minor units (ISO 4217); every other account currency has 2

# asset page details (GET /market/asset)
ASSET_INFO: dict[str, dict[str, object]] = {
    "US500": {"shareholders": 0, "market_cap": 45_000_000_000_000},
    "US30": {"shareholders": 0, "market_cap": 15_000_000_000_000},
    "NAS100": {"shareholders": 0, "market_cap": 25_000_000_000_000},
    "GER40": {"shareholders": 0, "market_cap": 1_800_000_000_000},
    "UK100": {"shareholders": 0, "market_cap": 2_700_000_000_000},
    "BTCUSD": {"shareholders": 0, "market_cap": 1_280_000_000_000},
    "ETHUSD": {"shareholders": 0, "market_cap": 385_000_000_000},
    "LTCUSD": {"shareholders": 0, "market_cap": 6_400_000_000},
}


def icon_for(sym: Symbol) -> str:
    return f"/icons/{sym.symbol.lower()}.svg"
