"""Scripts (private user scripts) and settings (per-user key/value, merged on POST)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.responses import Response

from app.engine.broker import validate as fields
from app.engine.broker.model import SCRIPT_COLUMNS
from app.routers.broker import deps
from app.routers.broker.deps import INT, STR, Auth, body_doc, body_of, ok, ok_id, service, table

router = deps.router("broker: scripts and settings")


@router.get("/scripts", summary="The caller's scripts")
async def scripts(request: Request, caller: Auth) -> Response:
    await body_of(request, caller)
    return table(SCRIPT_COLUMNS, await service(request).scripts.list(caller.account))


@router.post(
    "/script",
    summary="Add a script → {data: OK, id}",
    openapi_extra=body_doc({"name": STR, "script": STR, "autostart": INT}, ["name", "script"]),
)
async def script_add(request: Request, caller: Auth) -> Response:
    body = await body_of(request, caller)
    name = fields.req_str(body, "name", min_len=1, max_len=255)
    script = fields.req_str(body, "script", max_len=1_000_000)
    sid = await service(request).scripts.add(caller.account, name, script, fields.flag(body, "autostart"))
    return ok_id(sid)


@router.put(
    "/script",
    summary="Update a script",
    openapi_extra=body_doc({"id": INT, "name": STR, "script": STR, "autostart": INT}, ["id"]),
)
async def script_update(request: Request, caller: Auth) -> Response:
    body = await body_of(request, caller)
    sid = fields.req_int(body, "id", lo=1)
    changes: dict[str, Any] = {}
    if body.get("name") is not None:
        changes["name"] = fields.req_str(body, "name", min_len=1, max_len=255)
    if body.get("script") is not None:
        changes["script"] = fields.req_str(body, "script", max_len=1_000_000)
    if body.get("autostart") is not None:
        changes["autostart"] = fields.flag(body, "autostart")
    await service(request).scripts.update(caller.account, sid, changes)
    return ok()


@router.delete("/script", summary="Delete a script", openapi_extra=body_doc({"id": INT}, ["id"]))
async def script_delete(request: Request, caller: Auth) -> Response:
    body = await body_of(request, caller)
    await service(request).scripts.delete(caller.account, fields.req_int(body, "id", lo=1))
    return ok()


@router.get("/settings", summary="The caller's settings as key/value rows")
async def settings_get(request: Request, caller: Auth) -> Response:
    await body_of(request, caller)
    return table(("key", "value"), await service(request).settings.get(caller.account))


@router.post(
    "/settings",
    summary="Merge {key: value, ...} into the settings (a null value removes the key)",
    openapi_extra=body_doc({}, None),
)
async def settings_post(request: Request, caller: Auth) -> Response:
    body = await body_of(request, caller)
    values = fields.settings_values(body)
    await service(request).settings.merge(caller.account, values)
    return ok()
