"""Market: short list, market info, asset info, watch list."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from starlette.responses import Response

from app.engine.broker import validate as fields
from app.engine.broker.model import Account
from app.engine.broker.pricing import spread_around
from app.engine.broker.service import BrokerService
from app.engine.broker.symbols import ASSET_INFO, BY_NAME, GROUPS, MARGIN_FOREX, SYMBOLS, Symbol, icon_for
from app.engine.errors import NotFound
from app.routers.broker import deps
from app.routers.broker.deps import (
    STR,
    Auth,
    Endpoint,
    add_routes,
    body_doc,
    body_of,
    ok,
    query_doc,
    service,
    table,
)
from app.routers.kit import answer

router = deps.router("broker: market")

SHORT_LIST_COLUMNS = (
    "symbol",
    "description",
    "currency",
    "margin_currency",
    "quote_currency",
    "group",
    "digits",
    "trade",
    "spread",
    "spread_balance",
    "swap_enable",
    "margin_divider",
    "margin_mode",
    "stops_level",
    "contract_size",
    "long_only",
    "ask",
    "bid",
    "point",
    "tick_value",
    "tick_size",
    "lot_min",
    "lot_max",
    "lot_step",
    "comm_base",
    "comm_type",
    "exchange",
    "category",
    "industry",
    "shareholders",
    "market_cap",
    "price1d",
    "icon",
)
ASSET_COLUMNS = (
    "symbol",
    "description",
    "category",
    "industry",
    "exchange",
    "shareholders",
    "market_cap",
    "icon",
)
WATCH_COLUMNS = ("symbol", "description", "digits", "bid", "ask", "ctm")
TRADE_FULL = 2  # `trade` column: 0 disabled, 1 close only, 2 full access


def _short_row(svc: BrokerService, acc: Account, sym: Symbol) -> list[Any]:
    q = svc.quotes[sym.symbol]
    info = ASSET_INFO.get(sym.symbol, {})
    currency = sym.base if sym.group != "Indices" else sym.quote
    tick_value = round(sym.contract_size * sym.point * float(svc.margin.rate(sym.quote, acc.currency)), 8)
    price1d = spread_around(sym, sym.mid)[0]
    return [
        sym.symbol,
        sym.description,
        currency,
        sym.margin_currency,
        sym.quote,
        sym.group,
        sym.digits,
        TRADE_FULL,
        sym.spread,
        0,
        0,
        sym.margin_divider,
        sym.margin_mode,
        sym.stops_level,
        sym.contract_size,
        0,
        q.ask,
        q.bid,
        sym.point,
        tick_value,
        sym.point,
        sym.lot_min,
        sym.lot_max,
        sym.lot_step,
        0,
        0,
        sym.exchange,
        sym.category,
        sym.industry,
        info.get("shareholders", 0),
        info.get("market_cap", 0),
        price1d,
        icon_for(sym),
    ]


def _lookup(request: Request) -> Symbol:
    name = request.query_params.get("symbol")
    if not name:
        raise fields.bad("symbol", "is required (?symbol=EURUSD)")
    sym = BY_NAME.get(name.strip().upper())
    if sym is None:
        raise NotFound(f"unknown symbol {name!r}", code="NOT_FOUND")
    return sym


@router.get("/market/short/list", summary="Every symbol with its specification and live bid/ask")
async def short_list(request: Request, caller: Auth) -> Response:
    await body_of(request, caller)
    svc = service(request)
    rows = [_short_row(svc, caller.account, s) for s in SYMBOLS]
    return answer({"assets": {"structure": list(SHORT_LIST_COLUMNS), "rows": rows}, "groups": list(GROUPS)})


def _one_symbol(columns: tuple[str, ...]) -> Endpoint:
    """A route answering `columns` of the `?symbol=` short-list row (the asset page shows a subset)."""

    async def one_symbol(request: Request, caller: Auth) -> Response:
        await body_of(request, caller)
        sym = _lookup(request)
        row = dict(zip(SHORT_LIST_COLUMNS, _short_row(service(request), caller.account, sym), strict=True))
        return table(columns, [[row[c] for c in columns]])

    return one_symbol


add_routes(
    router,
    (
        "GET",
        "/market/info",
        "market_info",
        _one_symbol(SHORT_LIST_COLUMNS),
        "One symbol's short-list row (?symbol=)",
        query_doc(("symbol", STR, "e.g. EURUSD (case-insensitive)")),
    ),
    (
        "GET",
        "/market/asset",
        "market_asset",
        _one_symbol(ASSET_COLUMNS),
        "Asset details of one symbol (?symbol=)",
        query_doc(("symbol", STR, "e.g. BTCUSD (case-insensitive)")),
    ),
)


@router.get("/market/watch", summary="The caller's watch list with live bid/ask")
async def watch_list(request: Request, caller: Auth) -> Response:
    await body_of(request, caller)
    svc = service(request)
    rows = []
    for name in caller.account.watch:
        sym = BY_NAME[name]
        q = svc.quotes[name]
        rows.append([name, sym.description, sym.digits, q.bid, q.ask, q.ctm])
    return table(WATCH_COLUMNS, rows)


def _watch(change: Callable[[BrokerService], Callable[[Account, Symbol], Awaitable[None]]]) -> Endpoint:
    """A route that adds a symbol to, or removes one from, the caller's watch list."""

    async def watch(request: Request, caller: Auth) -> Response:
        body = await body_of(request, caller)
        await change(service(request))(caller.account, fields.symbol(body.get("symbol")))
        return ok()

    return watch


_WATCH_DOC = body_doc({"symbol": STR}, ["symbol"])
add_routes(
    router,
    (
        "PUT",
        "/market/watch",
        "watch_add",
        _watch(lambda svc: svc.accounts.watch_add),
        "Add a symbol to the watch list",
        _WATCH_DOC,
    ),
    (
        "DELETE",
        "/market/watch",
        "watch_remove",
        _watch(lambda svc: svc.accounts.watch_remove),
        "Remove a symbol from the watch list",
        _WATCH_DOC,
    ),
)


__all__ = ["MARGIN_FOREX", "router"]
