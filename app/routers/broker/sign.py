"""Auth: sign in, sign up, check, password change, sign out (CONTRACT §3.2)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.responses import Response

from app.engine.broker import validate as fields
from app.engine.broker.model import Account
from app.routers.broker import deps
from app.routers.broker.deps import INT, STR, Auth, body_doc, body_of, ok, read_body, service
from app.routers.kit import answer

router = deps.router("broker: auth")


def _signed(svc_ttl: int, acc: Account, token: str) -> Response:
    resp = answer({**acc.profile(), "__token": token})
    resp.set_cookie("__token", token, max_age=svc_ttl, httponly=True, samesite="lax", path="/")
    return resp


@router.post(
    "/sign/in",
    summary="Sign in with login (or email) and password → profile + __token (also Set-Cookie)",
    openapi_extra=body_doc({"login": INT, "password": STR}, ["login", "password"]),
)
async def sign_in(request: Request) -> Response:
    body = await read_body(request)
    login = body.get("login")
    if login is None or login == "":
        raise fields.bad("login", "is required")
    if isinstance(login, bool) or not isinstance(login, (int, str)) or (isinstance(login, int) and login < 0):
        raise fields.bad("login", "must be a non-negative integer")
    password = fields.req_str(body, "password", min_len=6, max_len=64)
    svc = service(request)
    acc, token = await svc.sessions.sign_in(login, password)
    request.state.caller = f"broker:{acc.login}"
    return _signed(svc.sessions.token_ttl_s, acc, token)


@router.put(
    "/sign/up",
    summary="Register a new login with the demo balance (10,000 in the account currency)",
    openapi_extra=body_doc(
        {"email": STR, "password": STR, "name": STR, "country": STR, "currency": STR, "leverage": INT},
        ["email", "password", "name"],
    ),
)
async def sign_up(request: Request) -> Response:
    body = await read_body(request)
    email = fields.req_str(body, "email", min_len=3, max_len=255)
    if "@" not in email:
        raise fields.bad("email", "must be an email address")
    password = fields.req_str(body, "password", min_len=6, max_len=64)
    name = fields.req_str(body, "name", min_len=1, max_len=255)
    country = fields.string(body, "country", default="", max_len=64) or ""
    currency = fields.string(body, "currency", default="USD", max_len=8) or "USD"
    leverage = fields.integer(body, "leverage", default=100, lo=1, hi=1000) or 100
    svc = service(request)
    acc = await svc.accounts.create_user(
        password=password,
        email=email,
        name=name,
        country=country,
        currency=currency,
        leverage=leverage,
    )
    request.state.caller = f"broker:{acc.login}"
    return _signed(svc.sessions.token_ttl_s, acc, svc.sessions.mint(acc))


@router.get("/sign/check", summary="The caller's profile, or 401 PERMISSION_DENIED")
async def sign_check(request: Request, caller: Auth) -> Response:
    await body_of(request, caller)
    return answer(caller.account.profile())


@router.post(
    "/sign/password",
    summary="Change the password; every token issued before stops working",
    openapi_extra=body_doc({"old_password": STR, "new_password": STR}, ["old_password", "new_password"]),
)
async def sign_password(request: Request, caller: Auth) -> Response:
    body: dict[str, Any] = await body_of(request, caller)
    old = fields.req_str(body, "old_password", max_len=64)
    new = fields.req_str(body, "new_password", min_len=6, max_len=64)
    await service(request).sessions.change_password(caller.account, old, new)
    return ok()


@router.post("/sign/out", summary="Revoke this token (its live WebSocket sessions close with 4401)")
async def sign_out(request: Request, caller: Auth) -> Response:
    await body_of(request, caller)
    await service(request).sessions.sign_out(caller.account, caller.claims)
    resp = ok()
    resp.delete_cookie("__token", path="/")
    return resp
