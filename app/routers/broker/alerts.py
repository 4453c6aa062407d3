"""Price alerts: list, create, update, delete, logs."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.responses import Response

from app.engine.broker import validate as fields
from app.engine.broker.model import ALERT_COLUMNS, ALERT_LOG_COLUMNS
from app.engine.broker.service import BrokerService
from app.routers.broker import deps
from app.routers.broker.deps import INT, NUM, STR, Auth, body_doc, body_of, ok, ok_id, service, table

router = deps.router("broker: price alerts")

_ALERT_PROPS = {
    "symbol": STR,
    "side": INT,
    "condition": INT,
    "target_price": NUM,
    "channel_low": NUM,
    "channel_high": NUM,
    "move_threshold": NUM,
    "repeat_mode": INT,
    "expires_at": INT,
    "message": STR,
    "comment": STR,
    "indicator_name": STR,
}


def _values(svc: BrokerService, body: dict[str, Any], *, create: bool) -> dict[str, Any]:
    """The alert fields present in `body`, typed (create: symbol, side and condition required)."""
    out: dict[str, Any] = {}
    if create or body.get("symbol") is not None:
        out["symbol"] = fields.symbol(body.get("symbol")).symbol
    for name, lo, hi in (("side", 0, 1), ("condition", 0, 12)):
        v = fields.integer(body, name, required=create, lo=lo, hi=hi)
        if v is not None:
            out[name] = v
    rm = fields.integer(body, "repeat_mode", lo=0, hi=1)
    if rm is not None:
        out["repeat_mode"] = rm
    for name in ("target_price", "channel_low", "channel_high", "move_threshold"):
        if name in body:
            out[name] = fields.number(body, name, positive=body.get(name) is not None)
    if "expires_at" in body:
        out["expires_at"] = fields.integer(body, "expires_at", lo=0, hi=fields.TIME_MAX) or None
    for name in ("message", "comment", "indicator_name"):
        if body.get(name) is not None:
            out[name] = fields.string(body, name, max_len=1000 if name != "indicator_name" else 64)
    return out


@router.get("/price_alert/list", summary="The caller's price alerts")
async def alert_list(request: Request, caller: Auth) -> Response:
    await body_of(request, caller)
    return table(ALERT_COLUMNS, service(request).alerts.of(caller.account))


@router.get("/price_alert/logs", summary="The caller's alert triggers")
async def alert_logs(request: Request, caller: Auth) -> Response:
    await body_of(request, caller)
    return table(ALERT_LOG_COLUMNS, await service(request).alerts.logs(caller.account))


@router.put(
    "/price_alert",
    summary="Create a price alert → {data: OK, id}",
    openapi_extra=body_doc(_ALERT_PROPS, ["symbol", "side", "condition"]),
)
async def alert_create(request: Request, caller: Auth) -> Response:
    body = await body_of(request, caller)
    svc = service(request)
    return ok_id(await svc.alerts.create(caller.account, _values(svc, body, create=True)))


@router.post(
    "/price_alert",
    summary="Update a price alert {id, ...} (re-activates it)",
    openapi_extra=body_doc({"id": INT, **_ALERT_PROPS}, ["id"]),
)
async def alert_update(request: Request, caller: Auth) -> Response:
    body = await body_of(request, caller)
    svc = service(request)
    aid = fields.req_int(body, "id", lo=1)
    await svc.alerts.update(caller.account, aid, _values(svc, body, create=False))
    return ok()


@router.delete("/price_alert", summary="Delete a price alert", openapi_extra=body_doc({"id": INT}, ["id"]))
async def alert_delete(request: Request, caller: Auth) -> Response:
    body = await body_of(request, caller)
    await service(request).alerts.delete(caller.account, fields.req_int(body, "id", lo=1))
    return ok()


@router.delete(
    "/price_alert/logs",
    summary="Delete one alert log {id}, or all of them (no body)",
    openapi_extra=body_doc({"id": INT}, None),
)
async def alert_logs_delete(request: Request, caller: Auth) -> Response:
    body = await body_of(request, caller)
    await service(request).alerts.delete_logs(caller.account, fields.integer(body, "id", lo=1))
    return ok()
