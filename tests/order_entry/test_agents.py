"""Order Entry machine auth (CONTRACT §4.1, §6): every refusal code, scopes, accounts,
revocation, and how agent secrets are kept. Requests are signed by the test's own signer."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from app.db import normalise_url
from tests.conftest import ADMIN_HEADERS, make_settings, running_app
from tests.order_entry.helpers import OE, RICH, new_agent, sign_request, signed_headers

pytestmark = pytest.mark.anyio

MARKETS = "/api/v1/order-entry/markets"


def _code(resp: object) -> str:
    code: str = resp.json()["error"]["code"]  # type: ignore[attr-defined]
    return code


async def test_signed_request_accepted_with_sorted_query(sqlite_url: str) -> None:
    """A request signed over the §4.1 canonical string (query items sorted) is accepted."""
    async with running_app(make_settings(sqlite_url)) as r:
        a = await new_agent(r.client, fund=RICH)
        assert (await a.get(MARKETS)).status_code == 200
        # query given unsorted on the wire; the canonical form sorts its items
        resp = await a.get(f"/api/v1/order-entry/accounts/{a.account}/executions", "limit=5&fromSeq=1")
        assert resp.status_code == 200, resp.text
        assert resp.json()["fromSeq"] == 1


async def test_each_refusal_code(db_url: str) -> None:
    """MISSING_AUTH, INVALID_KEY, INVALID_PASSPHRASE, INVALID_SIGNATURE, TIMESTAMP_SKEW,
    NONCE_REPLAY: each refused with 401 and its own code."""
    async with running_app(make_settings(db_url)) as r:
        a = await new_agent(r.client)
        c = r.client
        good = signed_headers(a.creds, "GET", MARKETS)
        # every header is required
        for name in (
            "SC-Auth-Version",
            "SC-Key",
            "SC-Nonce",
            "SC-Timestamp",
            "SC-Passphrase",
            "SC-Signature",
        ):
            h = signed_headers(a.creds, "GET", MARKETS)
            del h[name]
            resp = await c.get(MARKETS, headers=h)
            assert resp.status_code == 401 and _code(resp) == "MISSING_AUTH", name
        resp = await c.get(MARKETS)
        assert resp.status_code == 401 and _code(resp) == "MISSING_AUTH"
        assert resp.json()["error"]["message"]

        h = signed_headers(a.creds, "GET", MARKETS)
        h["SC-Key"] = "spk_nobody"
        resp = await c.get(MARKETS, headers=h)
        assert resp.status_code == 401 and _code(resp) == "INVALID_KEY"

        h = signed_headers(a.creds, "GET", MARKETS)
        h["SC-Passphrase"] = "spp_wrong"
        resp = await c.get(MARKETS, headers=h)
        assert resp.status_code == 401 and _code(resp) == "INVALID_PASSPHRASE"

        # signed for another path / method / body / with a wrong secret
        for h in (
            signed_headers(a.creds, "GET", "/api/v1/order-entry/limits"),
            signed_headers(a.creds, "POST", MARKETS),
            signed_headers(a.creds, "GET", MARKETS, body=b"{}"),
            signed_headers(a.creds, "GET", MARKETS, query="x=1"),
        ):
            resp = await c.get(MARKETS, headers=h)
            assert resp.status_code == 401 and _code(resp) == "INVALID_SIGNATURE"

        now = time.time_ns() // 1_000_000
        for skew in (-31_000, 31_000, -3_600_000):
            h = signed_headers(a.creds, "GET", MARKETS, timestamp=now + skew)
            resp = await c.get(MARKETS, headers=h)
            assert resp.status_code == 401 and _code(resp) == "TIMESTAMP_SKEW", skew
        h = signed_headers(a.creds, "GET", MARKETS, timestamp=now - 25_000)
        assert (await c.get(MARKETS, headers=h)).status_code == 200

        assert (await c.get(MARKETS, headers=good)).status_code == 200
        resp = await c.get(MARKETS, headers=good)  # the very same request again
        assert resp.status_code == 401 and _code(resp) == "NONCE_REPLAY"
        # a fresh signature with a used nonce is still a replay; nonces need not increase
        again = signed_headers(a.creds, "GET", MARKETS, nonce=good["SC-Nonce"])
        resp = await c.get(MARKETS, headers=again)
        assert resp.status_code == 401 and _code(resp) == "NONCE_REPLAY"
        lower = signed_headers(a.creds, "GET", MARKETS, nonce="5")
        assert (await c.get(MARKETS, headers=lower)).status_code == 200
        # another key may use the same nonce
        b = await new_agent(r.client)
        assert (
            await c.get(MARKETS, headers=signed_headers(b.creds, "GET", MARKETS, nonce="5"))
        ).status_code == 200


async def test_percent_encoded_path_is_signed_as_sent(sqlite_url: str) -> None:
    """`path` in the canonical string is the path exactly as sent (percent-encoded form)."""
    async with running_app(make_settings(sqlite_url)) as r:
        a = await new_agent(r.client)
        acct = a.account
        raw = f"/api/v1/accounts/0x%{ord(acct[2]):02X}{acct[3:]}/bootstrap"
        h = signed_headers(a.creds, "GET", raw)
        resp = await r.client.get(raw, headers=h)
        assert resp.status_code == 200, resp.text
        # signing the decoded form instead does not match what was sent
        ts = str(time.time_ns() // 1_000_000)
        sig = sign_request(a.creds.api_secret, a.creds.api_key_id, "77", ts, "GET", "/api/v1/x%2Fy", "", b"")
        h = {
            **signed_headers(a.creds, "GET", "/api/v1/x/y"),
            "SC-Nonce": "77",
            "SC-Timestamp": ts,
            "SC-Signature": sig,
        }
        resp = await r.client.get("/api/v1/order-entry/markets", headers=h)
        assert _code(resp) == "INVALID_SIGNATURE"


async def test_scopes_and_account_binding(db_url: str) -> None:
    """Missing scope → 403 SCOPE_REQUIRED; another account's path or payload → 403 FORBIDDEN."""
    async with running_app(make_settings(db_url)) as r:
        reader = await new_agent(r.client, scopes=["read"], fund=RICH)
        trader = await new_agent(r.client, scopes=["trade"], fund=RICH)
        canceller = await new_agent(r.client, scopes=["cancel", "read"])
        other = await new_agent(r.client)

        place = {"market": 1, "side": "Bid", "price": 100, "qty": 1, "timeInForce": "gtc"}
        resp = await reader.batch([reader.action("SpotPlaceOrder", place)])
        assert resp.status_code == 403 and _code(resp) == "SCOPE_REQUIRED"
        resp = await reader.batch([reader.action("SpotCancelAll", {})])
        assert resp.status_code == 403 and _code(resp) == "SCOPE_REQUIRED"
        resp = await canceller.batch([canceller.action("SpotPlaceOrder", place)])
        assert resp.status_code == 403 and _code(resp) == "SCOPE_REQUIRED"
        resp = await trader.batch([trader.action("SpotCancelOrder", {"market": 1, "orderId": "o-1"})])
        assert resp.status_code == 403 and _code(resp) == "SCOPE_REQUIRED"
        for path in (MARKETS, "/api/v1/order-entry/limits", f"/api/v1/accounts/{trader.account}/bootstrap"):
            resp = await trader.get(path)
            assert resp.status_code == 403 and _code(resp) == "SCOPE_REQUIRED", path
        resp = await trader.request("POST", "/api/v1/ws/token")
        assert resp.status_code == 403 and _code(resp) == "SCOPE_REQUIRED"
        assert (await canceller.batch([canceller.action("SpotCancelAll", {})])).status_code == 200
        assert (await trader.batch([trader.action("SpotPlaceOrder", place)])).status_code == 200

        for path in (
            f"/api/v1/accounts/{other.account}/bootstrap",
            f"/api/v1/order-entry/accounts/{other.account}/open-orders",
            f"/api/v1/order-entry/accounts/{other.account}/executions",
        ):
            resp = await reader.get(path)
            assert resp.status_code == 403 and _code(resp) == "FORBIDDEN", path
        act = trader.action("SpotPlaceOrder", place)
        act["payload"]["account"] = other.account
        resp = await trader.batch([act])
        assert resp.status_code == 403 and _code(resp) == "FORBIDDEN"


async def test_revocation_takes_effect_at_once(db_url: str) -> None:
    """A key revoked mid-session is refused (INVALID_KEY) on its very next request; other keys
    of the same account keep working."""
    async with running_app(make_settings(db_url)) as r:
        a = await new_agent(r.client, fund=RICH)
        twin = OE(r.client, (await new_agent(r.client, account=a.account)).creds)
        assert (await a.get(MARKETS)).status_code == 200
        resp = await r.client.delete(
            f"/_admin/order-entry/agents/{a.creds.api_key_id}", headers=ADMIN_HEADERS
        )
        assert resp.status_code == 200 and resp.json()["revoked"] is True
        resp = await a.get(MARKETS)
        assert resp.status_code == 401 and _code(resp) == "INVALID_KEY"
        resp = await a.batch([a.action("SpotCancelAll", {})])
        assert resp.status_code == 401 and _code(resp) == "INVALID_KEY"
        assert (await twin.get(MARKETS)).status_code == 200
        resp = await r.client.delete("/_admin/order-entry/agents/spk_unknown", headers=ADMIN_HEADERS)
        assert resp.status_code == 404
    # still revoked after a restart
    async with running_app(make_settings(db_url)) as r2:
        a.client = r2.client
        assert _code(await a.get(MARKETS)) == "INVALID_KEY"


async def test_agent_creation_and_secret_storage(sqlite_url: str) -> None:
    """Create answers the whole triple once; the database holds neither the secret nor the
    passphrase in clear; listing never shows them; bad bodies name the field."""
    async with running_app(make_settings(sqlite_url)) as r:
        resp = await r.client.post("/_admin/order-entry/agents", json={}, headers=ADMIN_HEADERS)
        assert resp.status_code == 201
        d = resp.json()
        assert d["apiKeyId"].startswith("spk_") and d["apiSecret"].startswith("sps_")
        assert d["apiPassphrase"].startswith("spp_")
        assert d["account"].startswith("0x") and len(d["account"]) == 42
        assert d["scopes"] == ["read", "trade", "cancel", "drop_copy"]
        listing = (await r.client.get("/_admin/order-entry/agents", headers=ADMIN_HEADERS)).text
        assert d["apiSecret"] not in listing and d["apiPassphrase"] not in listing
        for body, field in (
            ({"scopes": ["fly"]}, "scopes"),
            ({"scopes": []}, "scopes"),
            ({"account": "0x12"}, "account"),
        ):
            resp = await r.client.post("/_admin/order-entry/agents", json=body, headers=ADMIN_HEADERS)
            assert resp.status_code == 400 and field in resp.json()["error"]["message"]
        resp = await r.client.post(
            f"/_admin/order-entry/accounts/{d['account']}/fund",
            json={"balances": {"doge!": 1}},
            headers=ADMIN_HEADERS,
        )
        assert resp.status_code == 400 and "balances.doge!" in resp.json()["error"]["message"]
    eng = sa.create_engine(normalise_url(sqlite_url))
    with eng.connect() as conn:
        dump = "\n".join(str(tuple(row)) for row in conn.execute(sa.text("SELECT * FROM oe_agents")))
    eng.dispose()
    assert d["apiKeyId"] in dump
    assert d["apiSecret"] not in dump and d["apiPassphrase"] not in dump


async def test_demo_agents_seeded(sqlite_url: str) -> None:
    """With the demo seed, the documented demo credentials work and their accounts are funded."""
    from app.engine.order_entry.service import DEMO_AGENTS
    from tests.order_entry.helpers import Creds

    async with running_app(make_settings(sqlite_url, seed="demo", oe_liquidity="off")) as r:
        d = DEMO_AGENTS[0]
        a = OE(r.client, Creds(d.api_key_id, d.api_secret, d.api_passphrase, d.account, list(d.scopes)))
        boot = await a.bootstrap()
        assert boot["balances"]["USDC"]["free"] > 0 and boot["nonceFloor"] == 0
        lines = r.ctx.services["order-entry"].credentials()
        assert any(d.api_secret in line for line in lines)


async def test_agent_for_key_and_revocation_hook(sqlite_url: str) -> None:
    """The service's API for other listeners (the FIX drop-copy): `agent_for_key` gives the
    key's account, scopes, revoked flag and a passphrase check; `on_revoke` callbacks get the
    key id once the revocation is committed."""
    async with running_app(make_settings(sqlite_url)) as r:
        a = await new_agent(r.client, scopes=["read", "drop_copy"])
        svc = r.ctx.services["order-entry"]
        assert svc.agent_for_key("spk_nobody") is None
        agent = svc.agent_for_key(a.creds.api_key_id)
        assert agent is not None and agent.account == a.account and not agent.revoked
        assert agent.scopes == {"read", "drop_copy"} and agent.secret == a.creds.api_secret
        assert agent.verify_passphrase(a.creds.api_passphrase) and not agent.verify_passphrase("spp_wrong")
        revoked: list[str] = []
        svc.on_revoke(revoked.append)
        resp = await r.client.delete(
            f"/_admin/order-entry/agents/{a.creds.api_key_id}", headers=ADMIN_HEADERS
        )
        assert resp.status_code == 200
        assert revoked == [a.creds.api_key_id]
        assert svc.agent_for_key(a.creds.api_key_id).revoked is True
