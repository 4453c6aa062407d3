"""Broker control routes (mounted under /_admin behind the admin token): users, money, prices,
notifications."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi import Request
from starlette.responses import Response

from app.engine.broker import validate as fields
from app.engine.broker.symbols import Symbol
from app.engine.errors import NotFound
from app.routers.broker import deps
from app.routers.broker.deps import INT, NUM, STR, body_doc, read_body, service
from app.routers.kit import answer

router = deps.router()

_USER_PROPS = {
    "password": STR,
    "balance": NUM,
    "leverage": INT,
    "currency": STR,
    "name": STR,
    "email": STR,
    "group": STR,
    "disabled": {"type": "boolean"},
    "country": STR,
}


@router.post(
    "/broker/users",
    summary="Create a broker login → {login, password}",
    openapi_extra=body_doc(_USER_PROPS, ["password"]),
)
async def create_user(request: Request) -> Response:
    body = await read_body(request)
    password = fields.req_str(body, "password", min_len=6, max_len=64)
    disabled = body.get("disabled", False)
    if not isinstance(disabled, bool):
        raise fields.bad("disabled", "must be true or false")
    acc = await service(request).accounts.create_user(
        password=password,
        balance=fields.amount(body, "balance", default=Decimal(10_000), non_negative=True) or Decimal(0),
        leverage=fields.integer(body, "leverage", default=100, lo=1, hi=1000) or 100,
        currency=fields.string(body, "currency", default="USD", max_len=8) or "USD",
        name=fields.string(body, "name", default="", max_len=255) or "",
        email=fields.string(body, "email", default="", max_len=255) or "",
        country=fields.string(body, "country", default="", max_len=64) or "",
        group=fields.string(body, "group", default="demo", min_len=1, max_len=64) or "demo",
        disabled=disabled,
        login=fields.integer(body, "login", lo=1, hi=fields.LOGIN_MAX),
    )
    return answer({"login": acc.login, "password": password}, 201)


def _account(request: Request, login: int) -> Any:
    acc = service(request).accounts.get(login)
    if acc is None:
        raise NotFound(f"login {login} not found", code="NOT_FOUND")
    return acc


@router.post(
    "/broker/users/{login}",
    summary="Change a login: disabled, group, leverage, credit, name, email",
    openapi_extra=body_doc(
        {
            "disabled": {"type": "boolean"},
            "group": STR,
            "leverage": INT,
            "credit": NUM,
            "name": STR,
            "email": STR,
        }
    ),
)
async def update_user(request: Request, login: int) -> Response:
    acc = _account(request, login)
    body = await read_body(request)
    changes: dict[str, Any] = {}
    if "disabled" in body:
        if not isinstance(body["disabled"], bool):
            raise fields.bad("disabled", "must be true or false")
        changes["disabled"] = body["disabled"]
    if body.get("group") is not None:
        changes["group"] = fields.req_str(body, "group", min_len=1, max_len=64)
    if body.get("leverage") is not None:
        changes["leverage"] = fields.req_int(body, "leverage", lo=1, hi=1000)
    if body.get("credit") is not None:
        changes["credit"] = fields.amount(body, "credit", non_negative=True)
    for name in ("name", "email"):
        if body.get(name) is not None:
            changes[name] = fields.req_str(body, name, max_len=255)
    acc = await service(request).accounts.update_user(acc, changes)
    return answer({**acc.profile(), "disabled": acc.disabled, "credit": float(acc.credit)})


@router.post(
    "/broker/users/{login}/deposit",
    summary="Deposit (amount > 0) or withdraw (amount < 0): a finance row and a `b` event (code 5)",
    openapi_extra=body_doc({"amount": NUM, "comment": STR}, ["amount"]),
)
async def deposit(request: Request, login: int) -> Response:
    acc = _account(request, login)
    body = await read_body(request)
    amount = fields.amount(body, "amount", required=True) or Decimal(0)
    svc = service(request)
    order = await svc.accounts.deposit(acc, amount, fields.string(body, "comment", max_len=255))
    return answer({"order": order, "balance": float(acc.balance)})


@router.post(
    "/broker/notifications",
    summary="Push a notification `n` to a login",
    openapi_extra=body_doc({"login": INT, "level": INT, "title": STR, "message": STR}, ["login", "message"]),
)
async def notify(request: Request) -> Response:
    body = await read_body(request)
    acc = _account(request, fields.req_int(body, "login", lo=1))
    nid = await service(request).accounts.notify(
        acc,
        fields.integer(body, "level", default=0, lo=0, hi=10) or 0,
        fields.string(body, "title", default="", max_len=255) or "",
        fields.req_str(body, "message", max_len=2000),
    )
    return answer({"id": nid}, 201)


def _price(svc: Any, item: Any, prefix: str = "") -> tuple[Symbol, float, float]:
    if not isinstance(item, dict):
        raise fields.bad(prefix.rstrip(".") or "body", "must be an object {symbol, bid, ask}")
    sym: Symbol = fields.symbol(item.get("symbol"), prefix + "symbol")
    bid = fields.number(item, "bid", required=True, positive=True)
    ask = fields.number(item, "ask", required=True, positive=True)
    assert bid is not None and ask is not None
    bid, ask = round(bid, sym.digits), round(ask, sym.digits)
    if ask < bid:
        raise fields.bad(prefix + "ask", "must not be below bid")
    return sym, bid, ask


@router.post(
    "/broker/prices",
    summary="Set {symbol, bid, ask} now (or {prices: [...]}): ticks, then pending/SL/TP/alerts/stop-out",
    openapi_extra=body_doc({"symbol": STR, "bid": NUM, "ask": NUM}, ["symbol", "bid", "ask"]),
)
async def set_prices(request: Request) -> Response:
    body = await read_body(request)
    svc = service(request)
    if "prices" in body:
        items = body["prices"]
        if not isinstance(items, list) or not items:
            raise fields.bad("prices", "must be a non-empty list of {symbol, bid, ask}")
        prices = [_price(svc, it, f"prices.{i}.") for i, it in enumerate(items)]
    else:
        prices = [_price(svc, body)]
    await svc.pricing.set_prices(prices)
    out = [
        {
            "symbol": s.symbol,
            "bid": svc.quotes[s.symbol].bid,
            "ask": svc.quotes[s.symbol].ask,
            "ctm": svc.quotes[s.symbol].ctm,
        }
        for s, _, _ in prices
    ]
    return answer(out[0] if "prices" not in body else {"prices": out})


@router.get("/broker/prices", summary="Every symbol's current bid/ask")
async def get_prices(request: Request) -> Response:
    svc = service(request)
    return answer(
        {"prices": [{"symbol": k, "bid": q.bid, "ask": q.ask, "ctm": q.ctm} for k, q in svc.quotes.items()]}
    )
