"""The broker contract in OpenAPI (CONTRACT §3.1-§3.2, §5): bare objects, `{"structure","rows"}`
tables, `{"data":"OK"}`, the error document `{"error": "<CODE>", "message"}`, and one declaration
per operation with a request example that succeeds against a `--seed demo` server (login 1001,
password demo-1001)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, RootModel, create_model

from app.openapi import BROKER, Declarations, Errors, Op, control

Cell = str | int | float | bool | None


class BrokerError(BaseModel):
    """`{"error": "<CODE>", "message": "..."}`"""

    error: str = Field(
        description="INVALID_DATA 400, PERMISSION_DENIED 401, USER_DISABLED 402, "
        "USER_NOT_FOUND_OR_INCORRECT 403, NOT_FOUND / GROUP_NOT_FOUND / TRADE_ERROR 404, "
        "NOT_ENOUGH_MONEY 409, INTERNAL_ERROR 500, SERVICE_UNAVAILABLE 503"
    )
    message: str


class BrokerOk(BaseModel):
    data: str = Field(examples=["OK"])


class BrokerOkId(BaseModel):
    data: str = Field(examples=["OK"])
    id: int


class BrokerProfile(BaseModel):
    id: int
    login: int
    regdate: int
    leverage: int
    email: str
    avatar: str
    name: str
    phone: str
    address: str
    city: str
    state: str
    country: str
    zipcode: str
    group: str
    currency: str


class BrokerSignedIn(BrokerProfile):
    """The profile and the token (`__token`, also set as a cookie)."""

    model_config = ConfigDict(populate_by_name=True)

    token: str = Field(alias="__token")


def _table(name: str, columns: tuple[str, ...], doc: str) -> type[BaseModel]:
    """A `{"structure": [...], "rows": [[...]]}` model naming its columns."""
    cols = ", ".join(columns)
    model: type[BaseModel] = create_model(
        name,
        __doc__=doc,
        structure=(list[str], Field(description=f"the columns: {cols}", examples=[list(columns)])),
        rows=(list[list[Cell]], Field(description="one array per row, values in `structure` order")),
    )
    return model


PROFILE = (
    "id login regdate leverage email avatar name phone address city state country zipcode group currency"
).split()
BALANCE = (
    "login balance credit equity margin margin_free margin_level profit currency leverage level_type"
).split()
TRADE = (
    "order login cmd state symbol reason volume open_time close_time open_price close_price sl tp "
    "profit net_profit commission storage comment digits expiration"
).split()
SHORT = (
    "symbol description currency margin_currency quote_currency group digits trade spread "
    "spread_balance swap_enable margin_divider margin_mode stops_level contract_size long_only ask bid "
    "point tick_value tick_size lot_min lot_max lot_step comm_base comm_type exchange category industry "
    "shareholders market_cap price1d icon"
).split()
ASSET = "symbol description category industry exchange shareholders market_cap icon".split()
WATCH = "symbol description digits bid ask ctm".split()
SCRIPT = "id name script autostart type created_at updated_at".split()
ALERT = (
    "id login symbol indicator_name message side condition target_price channel_low channel_high "
    "move_threshold status repeat_mode created_at updated_at expires_at triggered_at triggered_price "
    "reference_price reference_time comment"
).split()
ALERT_LOG = (
    "id alert_id login symbol indicator_name message side condition target_price triggered_price "
    "triggered_at comment"
).split()

BrokerProfileTable = _table("BrokerProfileTable", tuple(PROFILE), "The profile as one row.")
BrokerBalanceTable = _table("BrokerBalanceTable", tuple(BALANCE), "The balance snapshot as one row.")
BrokerSymbolTable = _table("BrokerSymbolTable", tuple(SHORT), "Symbols with specification and bid/ask.")
BrokerAssetTable = _table("BrokerAssetTable", tuple(ASSET), "One symbol's asset details.")
BrokerWatchTable = _table("BrokerWatchTable", tuple(WATCH), "The watch list with live bid/ask.")
BrokerScriptTable = _table("BrokerScriptTable", tuple(SCRIPT), "The caller's scripts.")
BrokerSettingTable = _table("BrokerSettingTable", ("key", "value"), "The caller's settings.")
BrokerAlertTable = _table("BrokerAlertTable", tuple(ALERT), "The caller's price alerts.")
BrokerAlertLogTable = _table("BrokerAlertLogTable", tuple(ALERT_LOG), "The caller's alert triggers.")
_TradeRows = _table("BrokerTradeRows", tuple(TRADE), "")


class BrokerTrades(_TradeRows):  # type: ignore[valid-type,misc]
    """Trades as structure/rows, with the totals of the whole filtered set."""

    count: int
    total_profit: float
    total_net_profit: float
    total_storage: float
    total_commission: float
    total_volume: int


class BrokerShortList(BaseModel):
    assets: BrokerSymbolTable  # type: ignore[valid-type]
    groups: list[str]


# --- control routes ---------------------------------------------------------------------------------
class BrokerUserCreated(BaseModel):
    login: int
    password: str


class BrokerUser(BrokerProfile):
    disabled: bool
    credit: float


class BrokerDeposit(BaseModel):
    order: int
    balance: float


class BrokerNotification(BaseModel):
    id: int


class BrokerPrice(BaseModel):
    symbol: str
    bid: float
    ask: float
    ctm: int


class BrokerPrices(BaseModel):
    prices: list[BrokerPrice]


class BrokerPriceSet(RootModel[BrokerPrice | BrokerPrices]):
    """One price for `{symbol, bid, ask}`, or `{"prices": [...]}` for a list."""


# --- the operations --------------------------------------------------------------------------------
BAD = {400: ("INVALID_DATA",)}
AUTH = {
    401: ("PERMISSION_DENIED",),
    402: ("USER_DISABLED",),
    404: ("GROUP_NOT_FOUND",),
    503: ("SERVICE_UNAVAILABLE",),
}
CALLER = {"caller": "1001"}


def _op(model: type[BaseModel], text: str, tag: str, errors: Errors, **kw: Any) -> Op:
    merged: dict[int, tuple[str, ...]] = {**AUTH, **BAD}
    for status, codes in errors.items():
        merged[status] = tuple(dict.fromkeys((*merged.get(status, ()), *codes)))
    return Op(model, text, errors=merged, security=BROKER, tag=f"broker: {tag}", **{**CALLER, **kw})


def _admin(model: type[BaseModel], text: str, errors: Errors, **kw: Any) -> Op:
    return control(model, text, {400: ("INVALID_DATA",), 503: ("SERVICE_UNAVAILABLE",), **errors}, **kw)


SIGN_IN = {"login": 1001, "password": "demo-1001"}
NO_LOGIN = {404: ("NOT_FOUND",)}


def declarations() -> Declarations:
    ops: dict[tuple[str, str], Op] = {
        ("POST", "/sign/in"): Op(
            BrokerSignedIn,
            "Sign in with login (or email) and password → the profile and `__token` (also set as the "
            "`__token` cookie). Send the token as `Authorization: <jwt>`.",
            errors={
                **BAD,
                402: ("USER_DISABLED",),
                403: ("USER_NOT_FOUND_OR_INCORRECT",),
                404: ("GROUP_NOT_FOUND",),
                503: ("SERVICE_UNAVAILABLE",),
            },
            tag="broker: auth",
            body=SIGN_IN,
        ),
        ("PUT", "/sign/up"): Op(
            BrokerSignedIn,
            "Register a new login with the demo balance (10,000 in the account currency) → profile "
            "and `__token`.",
            errors={**BAD, 503: ("SERVICE_UNAVAILABLE",)},
            tag="broker: auth",
            body={"email": "new.trader@example.com", "password": "secret-123", "name": "New Trader"},
        ),
        ("GET", "/sign/check"): _op(BrokerProfile, "The caller's profile.", "auth", {}),
        ("POST", "/sign/password"): _op(
            BrokerOk,
            "Change the password; every token issued before stops working.",
            "auth",
            {403: ("USER_NOT_FOUND_OR_INCORRECT",)},
            body={"old_password": "demo-1002", "new_password": "demo-1002"},
            caller="1002",
        ),
        ("POST", "/sign/out"): _op(
            BrokerOk,
            "Revoke this token (its live WebSocket sessions close with 4401).",
            "auth",
            {},
            caller="1002",
        ),
        ("GET", "/account"): _op(BrokerProfileTable, "The caller's profile (one row).", "account", {}),
        ("GET", "/account/balance"): _op(
            BrokerBalanceTable,
            "Balance, credit, equity, margin, free margin, margin level and floating profit (one row).",
            "account",
            {},
        ),
        ("POST", "/trade/open"): _op(
            BrokerOkId,
            "Open a market order (`cmd` 0 BUY / 1 SELL) or place a pending order (2-5, with "
            "`open_price`) → `{data: OK, id: <order>}`. `volume` is in hundredths of a lot.",
            "trade",
            {404: ("NOT_FOUND",), 409: ("NOT_ENOUGH_MONEY",)},
            body={"cmd": 0, "volume": 10, "symbol": "EURUSD"},
        ),
        ("DELETE", "/trade/close"): _op(
            BrokerOk,
            "Close an open position, fully (no `volume`) or partly.",
            "trade",
            {404: ("TRADE_ERROR",)},
            body={"order": "{order}"},
            requires="broker-position",
        ),
        ("DELETE", "/trade/pending"): _op(
            BrokerOk,
            "Cancel a pending order.",
            "trade",
            {404: ("TRADE_ERROR",)},
            body={"order": "{pending}"},
            requires="broker-pending",
        ),
        ("POST", "/trade/modify"): _op(
            BrokerOk,
            "Change SL/TP (0 removes) of a position, and a pending order's `open_price` and `expiration`.",
            "trade",
            {404: ("TRADE_ERROR",)},
            body={"order": "{order}", "sl": 0, "tp": 0},
            requires="broker-position",
        ),
        ("GET", "/trades"): _op(
            BrokerTrades,
            "Trades: `tradeType` 0 all, 1 open, 2 closed, 3 pending, 4 finance; `limit`, `offset` and "
            "`where*` filters, as query string or JSON body; totals of the whole filtered set.",
            "trade",
            {},
            query={"tradeType": 0, "limit": 100, "offset": 0},
        ),
        ("GET", "/market/short/list"): _op(
            BrokerShortList, "Every symbol with its specification and live bid/ask.", "market", {}
        ),
        ("GET", "/market/info"): _op(
            BrokerSymbolTable, "One symbol's short-list row.", "market", NO_LOGIN, query={"symbol": "EURUSD"}
        ),
        ("GET", "/market/asset"): _op(
            BrokerAssetTable, "Asset details of one symbol.", "market", NO_LOGIN, query={"symbol": "BTCUSD"}
        ),
        ("GET", "/market/watch"): _op(BrokerWatchTable, "The caller's watch list.", "market", {}),
        ("PUT", "/market/watch"): _op(
            BrokerOk, "Add a symbol to the watch list.", "market", NO_LOGIN, body={"symbol": "XAUUSD"}
        ),
        ("DELETE", "/market/watch"): _op(
            BrokerOk, "Remove a symbol from the watch list.", "market", NO_LOGIN, body={"symbol": "XAUUSD"}
        ),
        ("GET", "/scripts"): _op(BrokerScriptTable, "The caller's scripts.", "scripts and settings", {}),
        ("POST", "/script"): _op(
            BrokerOkId,
            "Add a script → `{data: OK, id}`.",
            "scripts and settings",
            {},
            body={"name": "hello", "script": "print('hello')", "autostart": 0},
        ),
        ("PUT", "/script"): _op(
            BrokerOk,
            "Update a script `{id, name?, script?, autostart?}`.",
            "scripts and settings",
            NO_LOGIN,
            body={"id": "{script}", "name": "renamed"},
            requires="broker-script",
        ),
        ("DELETE", "/script"): _op(
            BrokerOk,
            "Delete a script `{id}`.",
            "scripts and settings",
            NO_LOGIN,
            body={"id": "{script}"},
            requires="broker-script",
        ),
        ("GET", "/settings"): _op(BrokerSettingTable, "The caller's settings.", "scripts and settings", {}),
        ("POST", "/settings"): _op(
            BrokerOk,
            "Merge `{key: value, ...}` into the settings (a null value removes the key).",
            "scripts and settings",
            {},
            body={"theme": "dark"},
        ),
        ("GET", "/price_alert/list"): _op(BrokerAlertTable, "The caller's price alerts.", "price alerts", {}),
        ("GET", "/price_alert/logs"): _op(
            BrokerAlertLogTable, "The caller's alert triggers.", "price alerts", {}
        ),
        ("PUT", "/price_alert"): _op(
            BrokerOkId,
            "Create a price alert → `{data: OK, id}`; the fields a condition needs are required for it.",
            "price alerts",
            NO_LOGIN,
            body={"symbol": "EURUSD", "side": 0, "condition": 0, "target_price": 1.5, "message": "EURUSD up"},
        ),
        ("POST", "/price_alert"): _op(
            BrokerOk,
            "Update a price alert `{id, ...}` (re-activates it).",
            "price alerts",
            NO_LOGIN,
            body={"id": "{alert}", "target_price": 1.6},
            requires="broker-alert",
        ),
        ("DELETE", "/price_alert"): _op(
            BrokerOk,
            "Delete a price alert `{id}`.",
            "price alerts",
            NO_LOGIN,
            body={"id": "{alert}"},
            requires="broker-alert",
        ),
        ("DELETE", "/price_alert/logs"): _op(
            BrokerOk,
            "Delete one alert log `{id}`, or every log (no body).",
            "price alerts",
            NO_LOGIN,
            body={},
        ),
        # control routes
        ("POST", "/_admin/broker/users"): _admin(
            BrokerUserCreated,
            "Create a broker login `{password, balance?, leverage?, currency?, name?, email?, group?, "
            "disabled?, country?}` → `{login, password}`.",
            {409: ("CONFLICT",)},
            status=201,
            body={"password": "secret-123", "balance": 10000, "leverage": 100},
        ),
        ("POST", "/_admin/broker/users/{login}"): _admin(
            BrokerUser,
            "Change a login: disabled, group, leverage, credit, name, email.",
            NO_LOGIN,
            path={"login": 1002},
            body={"leverage": 100},
        ),
        ("POST", "/_admin/broker/users/{login}/deposit"): _admin(
            BrokerDeposit,
            "Deposit (amount > 0) or withdraw (amount < 0): a finance row and a `b` event (code 5).",
            {**NO_LOGIN, 409: ("NOT_ENOUGH_MONEY",)},
            path={"login": 1002},
            body={"amount": 100, "comment": "top-up"},
        ),
        ("POST", "/_admin/broker/notifications"): _admin(
            BrokerNotification,
            "Push a notification `n` to a login `{login, level?, title?, message}`.",
            NO_LOGIN,
            status=201,
            body={"login": 1001, "title": "Hello", "message": "Welcome"},
        ),
        ("POST", "/_admin/broker/prices"): _admin(
            BrokerPriceSet,
            "Set `{symbol, bid, ask}` now (or `{prices: [...]}`): ticks, then pending orders, SL/TP, "
            "alerts and stop-out.",
            NO_LOGIN,
            body={"symbol": "EURUSD", "bid": 1.085, "ask": 1.0851},
        ),
        ("GET", "/_admin/broker/prices"): _admin(BrokerPrices, "Every symbol's current bid/ask.", {}),
    }
    return Declarations(error=BrokerError, ops=ops)
