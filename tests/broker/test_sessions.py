"""Broker users and sessions: sign in/up/check/password/out, tokens, errors (CONTRACT §3.1-3.2)."""

from __future__ import annotations

import pytest

from tests.broker.helpers import broker_settings, new_user
from tests.conftest import ADMIN_HEADERS, running_app

pytestmark = pytest.mark.anyio

PROFILE_KEYS = {
    "id",
    "login",
    "regdate",
    "leverage",
    "email",
    "avatar",
    "name",
    "phone",
    "address",
    "city",
    "state",
    "country",
    "zipcode",
    "group",
    "currency",
}


async def test_sign_in_profile_token_cookie_and_check(db_url: str) -> None:
    """Sign-in answers the flat profile plus __token, sets the cookie, and the token works (both DBs)."""
    async with running_app(broker_settings(db_url)) as r:
        c = r.client
        resp = await c.post(
            "/_admin/broker/users",
            headers=ADMIN_HEADERS,
            json={"password": "pw-123456", "name": "Ann", "email": "ann@example.com", "leverage": 50},
        )
        assert resp.status_code == 201
        login = resp.json()["login"]
        assert resp.json()["password"] == "pw-123456"
        resp = await c.post("/sign/in", json={"login": login, "password": "pw-123456"})
        assert resp.status_code == 200
        body = resp.json()
        assert set(body) == PROFILE_KEYS | {"__token"}
        assert body["login"] == login and body["leverage"] == 50 and body["currency"] == "USD"
        assert "__token=" in resp.headers["set-cookie"]
        token = body["__token"]
        check = await c.get("/sign/check", headers={"Authorization": token})
        assert check.status_code == 200 and check.json()["login"] == login and "__token" not in check.json()
        bearer = await c.get("/sign/check", headers={"Authorization": f"Bearer {token}"})
        assert bearer.status_code == 200
        by_email = await c.post("/sign/in", json={"login": "ann@example.com", "password": "pw-123456"})
        assert by_email.status_code == 200 and by_email.json()["login"] == login


async def test_sign_in_errors(sqlite_url: str) -> None:
    """Wrong password/unknown login → 403, bad fields → 400 naming them, disabled → 402, bad group → 404."""
    async with running_app(broker_settings(sqlite_url)) as r:
        c = r.client
        login, _ = await new_user(c)
        resp = await c.post("/sign/in", json={"login": login, "password": "wrong-password"})
        assert resp.status_code == 403 and resp.json()["error"] == "USER_NOT_FOUND_OR_INCORRECT"
        resp = await c.post("/sign/in", json={"login": 999999, "password": "secret-pw"})
        assert resp.status_code == 403 and resp.json()["error"] == "USER_NOT_FOUND_OR_INCORRECT"
        resp = await c.post("/sign/in", json={"login": login, "password": "short"})
        assert resp.status_code == 400 and resp.json()["error"] == "INVALID_DATA"
        assert "password" in resp.json()["message"]
        resp = await c.post("/sign/in", json={"password": "secret-pw"})
        assert resp.status_code == 400 and "login" in resp.json()["message"]
        resp = await c.post("/sign/in", content=b"{not json")
        assert resp.status_code == 400 and resp.json()["error"] == "INVALID_DATA"
        resp = await c.post(f"/_admin/broker/users/{login}", json={"disabled": True}, headers=ADMIN_HEADERS)
        assert resp.status_code == 200
        resp = await c.post("/sign/in", json={"login": login, "password": "secret-pw"})
        assert resp.status_code == 402 and resp.json()["error"] == "USER_DISABLED"
        resp = await c.post(
            "/_admin/broker/users",
            json={"password": "secret-pw", "group": "nosuchgroup"},
            headers=ADMIN_HEADERS,
        )
        other = resp.json()["login"]
        resp = await c.post("/sign/in", json={"login": other, "password": "secret-pw"})
        assert resp.status_code == 404 and resp.json()["error"] == "GROUP_NOT_FOUND"


async def test_missing_bad_and_mismatched_tokens(sqlite_url: str) -> None:
    """No/garbage token → 401 PERMISSION_DENIED; a differing login in body or query → 401; same login passes."""
    async with running_app(broker_settings(sqlite_url)) as r:
        c = r.client
        login, token = await new_user(c)
        for headers in ({}, {"Authorization": "garbage"}, {"Authorization": "Bearer "}):
            resp = await c.get("/account", headers=headers)
            assert resp.status_code == 401 and resp.json()["error"] == "PERMISSION_DENIED"
        h = {"Authorization": token}
        resp = await c.get("/market/short/list", params={"login": login + 1}, headers=h)
        assert resp.status_code == 401 and resp.json()["error"] == "PERMISSION_DENIED"
        assert (await c.get("/market/short/list", params={"login": login}, headers=h)).status_code == 200
        resp = await c.post(
            "/trade/open", json={"login": login + 1, "cmd": 0, "volume": 1, "symbol": "EURUSD"}, headers=h
        )
        assert resp.status_code == 401 and resp.json()["error"] == "PERMISSION_DENIED"
        resp = await c.post(
            "/trade/open", json={"login": login, "cmd": 0, "volume": 1, "symbol": "EURUSD"}, headers=h
        )
        assert resp.status_code == 200


async def test_sign_up_creates_login_with_demo_balance(sqlite_url: str) -> None:
    """Sign-up makes a new login with 10,000 in its currency, a token, and refuses a reused email."""
    async with running_app(broker_settings(sqlite_url)) as r:
        c = r.client
        body = {
            "email": "new@example.com",
            "password": "brand-new-pw",
            "name": "New One",
            "country": "FR",
            "currency": "EUR",
            "leverage": 30,
        }
        resp = await c.put("/sign/up", json=body)
        assert resp.status_code == 200, resp.text
        prof = resp.json()
        assert prof["currency"] == "EUR" and prof["leverage"] == 30 and prof["country"] == "FR"
        bal = await c.get("/account/balance", headers={"Authorization": prof["__token"]})
        row = dict(zip(bal.json()["structure"], bal.json()["rows"][0], strict=True))
        assert row["balance"] == 10_000.0 and row["currency"] == "EUR"
        again = await c.put("/sign/up", json=body)
        assert again.status_code == 400 and "email" in again.json()["message"]
        resp = await c.put("/sign/up", json={"email": "x@example.com", "password": "pw-123456"})
        assert resp.status_code == 400 and "name" in resp.json()["message"]
        head = await c.get(f"/_admin/streams/broker/{prof['login']}", headers=ADMIN_HEADERS)
        assert head.json()["head"] == 0  # a new login's account stream starts empty


async def test_password_change_revokes_every_earlier_token(db_url: str) -> None:
    """After /sign/password every token issued before fails, the old password fails, the new one works."""
    async with running_app(broker_settings(db_url)) as r:
        c = r.client
        login, t1 = await new_user(c)
        t2 = (await c.post("/sign/in", json={"login": login, "password": "secret-pw"})).json()["__token"]
        resp = await c.post(
            "/sign/password",
            json={"old_password": "wrong-one", "new_password": "next-pw-1"},
            headers={"Authorization": t1},
        )
        assert resp.status_code == 403
        resp = await c.post(
            "/sign/password",
            json={"old_password": "secret-pw", "new_password": "x"},
            headers={"Authorization": t1},
        )
        assert resp.status_code == 400 and "new_password" in resp.json()["message"]
        resp = await c.post(
            "/sign/password",
            json={"old_password": "secret-pw", "new_password": "next-pw-1"},
            headers={"Authorization": t1},
        )
        assert resp.json() == {"data": "OK"}
        for t in (t1, t2):
            assert (await c.get("/sign/check", headers={"Authorization": t})).status_code == 401
        assert (await c.post("/sign/in", json={"login": login, "password": "secret-pw"})).status_code == 403
        t3 = (await c.post("/sign/in", json={"login": login, "password": "next-pw-1"})).json()["__token"]
        assert (await c.get("/sign/check", headers={"Authorization": t3})).status_code == 200


async def test_sign_out_revokes_only_that_token(db_url: str) -> None:
    """Sign-out kills the token it was called with; another token of the same login keeps working."""
    async with running_app(broker_settings(db_url)) as r:
        c = r.client
        login, t1 = await new_user(c)
        t2 = (await c.post("/sign/in", json={"login": login, "password": "secret-pw"})).json()["__token"]
        assert (await c.post("/sign/out", headers={"Authorization": t1})).json() == {"data": "OK"}
        assert (await c.get("/sign/check", headers={"Authorization": t1})).status_code == 401
        assert (await c.get("/sign/check", headers={"Authorization": t2})).status_code == 200


async def test_token_expires_on_the_domain_clock(sqlite_url: str) -> None:
    """A token dies when the domain clock passes its lifetime (advanced, not waited for)."""
    async with running_app(broker_settings(sqlite_url, broker_token_ttl_s=60)) as r:
        c = r.client
        _, token = await new_user(c)
        h = {"Authorization": token}
        await c.post("/_admin/clock", json={"action": "advance", "ms": 59_000}, headers=ADMIN_HEADERS)
        assert (await c.get("/sign/check", headers=h)).status_code == 200
        await c.post("/_admin/clock", json={"action": "advance", "ms": 1_000}, headers=ADMIN_HEADERS)
        resp = await c.get("/sign/check", headers=h)
        assert resp.status_code == 401 and resp.json()["error"] == "PERMISSION_DENIED"


async def test_tokens_and_users_survive_a_restart(sqlite_url: str) -> None:
    """The signing key and users persist: a token from before a restart still works after it."""
    settings = broker_settings(sqlite_url)
    async with running_app(settings) as r:
        login, token = await new_user(r.client)
    async with running_app(settings) as r:
        resp = await r.client.get("/sign/check", headers={"Authorization": token})
        assert resp.status_code == 200 and resp.json()["login"] == login


async def test_demo_users_are_seeded(sqlite_url: str) -> None:
    """--seed demo adds the documented demo logins 1001/demo-1001 and 1002/demo-1002."""
    async with running_app(broker_settings(sqlite_url, seed="demo")) as r:
        for login in (1001, 1002):
            resp = await r.client.post("/sign/in", json={"login": login, "password": f"demo-{login}"})
            assert resp.status_code == 200, resp.text
