"""Trade: open, close, cancel pending, modify, and the trade list with filters and totals."""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from app.engine.broker import queries as query
from app.engine.broker import validate as fields
from app.engine.broker.model import TRADE_COLUMNS
from app.engine.errors import InvalidInput
from app.routers.broker import deps
from app.routers.broker.deps import (
    INT,
    NUM,
    STR,
    Auth,
    authenticate,
    body_doc,
    body_of,
    ok,
    ok_id,
    query_doc,
    service,
    table,
)

router = deps.router("broker: trade")


@router.post(
    "/trade/open",
    summary="Open a market order (cmd 0/1) or place a pending order (cmd 2-5) → {data: OK, id: order}",
    openapi_extra=body_doc(
        {
            "cmd": INT,
            "volume": INT,
            "symbol": STR,
            "sl": NUM,
            "tp": NUM,
            "open_price": NUM,
            "expiration": INT,
            "comment": STR,
        },
        ["cmd", "volume", "symbol"],
    ),
)
async def trade_open(request: Request) -> Response:
    caller = await authenticate(request)  # a plain call: the hot path skips a dependency solve
    body = await body_of(request, caller)
    cmd = fields.req_int(body, "cmd")
    volume = fields.req_int(body, "volume", lo=1)
    if body.get("symbol") is None:
        raise fields.bad("symbol", "is required")
    order = await service(request).trading.open_trade(
        caller.account,
        cmd=cmd,
        volume=volume,
        symbol=body["symbol"],
        sl=fields.number(body, "sl", non_negative=True),
        tp=fields.number(body, "tp", non_negative=True),
        open_price=fields.number(body, "open_price", non_negative=True),
        expiration=fields.integer(body, "expiration", lo=0, hi=fields.TIME_MAX),
        comment=fields.string(body, "comment", max_len=255),
    )
    return ok_id(order)


@router.delete(
    "/trade/close",
    summary="Close an open position, fully or partly (volume in hundredths of a lot)",
    openapi_extra=body_doc({"order": INT, "volume": INT, "comment": STR}, ["order"]),
)
async def trade_close(request: Request) -> Response:
    caller = await authenticate(request)  # a plain call: the hot path skips a dependency solve
    body = await body_of(request, caller)
    order = fields.req_int(body, "order", lo=1)
    volume = fields.integer(body, "volume", lo=1)
    await service(request).trading.close_trade(
        caller.account, order, volume, fields.string(body, "comment", max_len=255)
    )
    return ok()


@router.delete(
    "/trade/pending",
    summary="Cancel a pending order",
    openapi_extra=body_doc({"order": INT}, ["order"]),
)
async def trade_pending(request: Request, caller: Auth) -> Response:
    body = await body_of(request, caller)
    await service(request).trading.cancel_pending(caller.account, fields.req_int(body, "order", lo=1))
    return ok()


@router.post(
    "/trade/modify",
    summary="Change SL/TP (0 removes), and a pending order's open_price and expiration",
    openapi_extra=body_doc(
        {"order": INT, "sl": NUM, "tp": NUM, "open_price": NUM, "expiration": INT}, ["order"]
    ),
)
async def trade_modify(request: Request, caller: Auth) -> Response:
    body = await body_of(request, caller)
    await service(request).trading.modify_trade(
        caller.account,
        fields.req_int(body, "order", lo=1),
        sl=fields.number(body, "sl", non_negative=True),
        tp=fields.number(body, "tp", non_negative=True),
        open_price=fields.number(body, "open_price", non_negative=True),
        expiration=fields.integer(body, "expiration", lo=0, hi=fields.TIME_MAX),
    )
    return ok()


@router.get(
    "/trades",
    summary="Trades: tradeType 0 all, 1 open, 2 closed, 3 pending, 4 finance; limit, offset, where* filters",
    description=query.__doc__ or "",
    openapi_extra=query_doc(
        ("tradeType", INT, "0 all, 1 open, 2 closed, 3 pending, 4 finance"),
        ("limit", INT, "page size (default 1000)"),
        ("offset", INT, "rows to skip"),
        ("where", STR, "JSON object {column: value}, or bracketed where[column]=value"),
        ("whereNot", STR, "JSON or bracketed"),
        ("whereIn", STR, "JSON or bracketed (comma list)"),
        ("whereNotIn", STR, "JSON or bracketed (comma list)"),
        ("whereBetween", STR, "JSON or bracketed (lo,hi)"),
        ("whereNotBetween", STR, "JSON or bracketed (lo,hi)"),
    ),
)
async def trades(request: Request, caller: Auth) -> Response:
    body = await body_of(request, caller)
    params = query.from_query_string(list(request.query_params.multi_items()))
    params.pop("login", None)
    # the JSON body wins over the query string for keys given in both
    params.update({k: v for k, v in body.items() if k != "login"})
    try:
        q = query.parse(params)
    except InvalidInput as exc:
        exc.code = exc.code or "INVALID_DATA"
        raise
    rows, totals = await service(request).queries.trades(caller.account, q)
    return table(TRADE_COLUMNS, rows, **totals)
