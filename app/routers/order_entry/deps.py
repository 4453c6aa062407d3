"""Who may call an Order Entry route: the service accessor and SC-* signed agents with a scope
(`SignedAgent`, `SignedRead`, `AccountRead`). The SC-* headers are read here and handed to the engine as
plain values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from app.engine.errors import ServiceUnavailable
from app.engine.order_entry.agents import SignedCall
from app.engine.order_entry.model import Agent
from app.engine.order_entry.service import FAMILY, OrderEntryService


def get_service(conn: HTTPConnection) -> OrderEntryService:
    svc: OrderEntryService | None = conn.app.state.ctx.services.get(FAMILY)
    if svc is None:
        raise ServiceUnavailable("order entry is not running")
    return svc


Service = Annotated[OrderEntryService, Depends(get_service)]


@dataclass(slots=True)
class Signed:
    svc: OrderEntryService
    agent: Agent
    body: bytes


_SC_HEADERS = (b"sc-auth-version", b"sc-key", b"sc-nonce", b"sc-timestamp", b"sc-passphrase", b"sc-signature")
_SC_INDEX = {name: i for i, name in enumerate(_SC_HEADERS)}


async def signed_request(request: Request) -> Signed:
    """Authenticate the SC-* headers of `request` (401 with the precise code)."""
    svc = get_service(request)
    body = await request.body()
    scope = request.scope
    raw_path: bytes | None = scope.get("raw_path")
    # one pass over the raw headers; the first of a repeated header counts (as `Headers.get`)
    sc: list[str | None] = [None] * len(_SC_HEADERS)
    index = _SC_INDEX
    for name, value in scope["headers"]:
        i = index.get(name)
        if i is not None and sc[i] is None:
            sc[i] = value.decode("latin-1")
    version, key, nonce, timestamp, passphrase, signature = sc
    call = SignedCall(
        version,
        key,
        nonce,
        timestamp,
        passphrase,
        signature,
        method=scope["method"],
        # the path exactly as sent (percent-encoded), without any query string
        path=raw_path.split(b"?", 1)[0].decode("latin-1") if raw_path else scope["path"],
        query=scope.get("query_string", b"").decode("latin-1"),
        body=body,
    )
    agent = svc.agents.authenticate(call)
    request.state.caller = agent.api_key_id
    return Signed(svc, agent, body)


async def _signed_read(request: Request) -> Signed:
    s = await signed_request(request)
    s.svc.agents.require_scope(s.agent, "read")
    return s


SignedAgent = Annotated[Signed, Depends(signed_request)]  # scopes checked per action
SignedRead = Annotated[Signed, Depends(_signed_read)]


@dataclass(slots=True)
class AccountReader:
    svc: OrderEntryService
    account: str


async def _account_read(signed: SignedRead, account: str) -> AccountReader:
    """A read of the path's `{account}`: the signed agent's own (403 otherwise)."""
    return AccountReader(signed.svc, signed.svc.agents.require_account(signed.agent, account))


AccountRead = Annotated[AccountReader, Depends(_account_read)]
