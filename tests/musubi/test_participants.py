"""Musubi participants and auth: tokens, whoami, every bad-token kind, envelopes and request ids."""

from __future__ import annotations

import base64

import orjson
import pytest
from jose import jwt

from tests.conftest import ADMIN_HEADERS, make_settings, running_app
from tests.musubi.helpers import advance, participant

pytestmark = pytest.mark.anyio


def _b64(obj: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(obj)).rstrip(b"=").decode()


async def test_token_and_whoami(db_url: str) -> None:
    """/auth/token answers the documented envelope and claims; both whoami forms answer."""
    async with running_app(make_settings(db_url)) as r:
        who = await participant(r.client, "Bank", "institution")
        resp = await r.client.post(
            "/auth/token", json={"client_id": who.client_id, "client_secret": who.client_secret}
        )
        body = resp.json()
        assert resp.status_code == 200
        assert body["meta"]["request_id"] == resp.headers["x-request-id"]
        assert body["meta"]["request_id"].startswith("req_")
        data = body["data"]
        assert (
            data["expires_in"] == 3600
            and data["canton_party_id"] == who.party_id
            and data["role"] == "institution"
        )
        claims = jwt.get_unverified_claims(data["token"])
        assert jwt.get_unverified_header(data["token"])["alg"] == "HS256"
        assert claims["sub"] == claims["canton_party_id"] == who.party_id
        assert claims["iss"] == "musubi" and claims["aud"] == "musubi-api" and claims["role"] == "institution"
        now_s = r.ctx.clock.now_ms() // 1000
        assert claims["iat"] == now_s and claims["exp"] == now_s + 3600
        w = await r.client.get("/whoami", headers=who.h)
        assert w.json()["data"] == {"canton_party_id": who.party_id, "role": "institution"}
        w2 = (await r.client.get("/api/v1/whoami", headers=who.h)).json()["data"]
        assert w2["party_id"] == who.party_id and w2["role"] == "institution"
        assert w2["participant_id"] == "" and w2["schema_version"] == "v2"
        assert w2["operator_party_id"].startswith("Musubi::1220")


async def test_every_bad_token_is_401(sqlite_url: str) -> None:
    """Missing, garbage, wrong signature, wrong aud/iss, alg none, wrong scheme and expired
    tokens are all 401 UNAUTHORIZED in the Musubi error envelope."""
    async with running_app(make_settings(sqlite_url, musubi_token_ttl_s=60)) as r:
        who = await participant(r.client, "Bank", "institution")
        claims = jwt.get_unverified_claims(who.token)
        key = await r.ctx.runtime.secrets.get("musubi-jwt")
        none_token = _b64({"alg": "none", "typ": "JWT"}) + "." + _b64(claims) + "."
        bad = {
            "missing": {},
            "garbage": {"Authorization": "Bearer not-a-jwt"},
            "no scheme": {"Authorization": who.token},
            "empty bearer": {"Authorization": "Bearer "},
            "bad signature": {
                "Authorization": "Bearer " + jwt.encode(claims, "other-key", algorithm="HS256")
            },
            "wrong aud": {
                "Authorization": "Bearer " + jwt.encode({**claims, "aud": "x"}, key, algorithm="HS256")
            },
            "wrong iss": {
                "Authorization": "Bearer " + jwt.encode({**claims, "iss": "x"}, key, algorithm="HS256")
            },
            "alg none": {"Authorization": "Bearer " + none_token},
            "unknown party": {
                "Authorization": "Bearer "
                + jwt.encode(
                    {**claims, "sub": "Ghost::1220" + "0" * 64, "canton_party_id": "Ghost::1220" + "0" * 64},
                    key,
                    algorithm="HS256",
                )
            },
        }
        for name, headers in bad.items():
            resp = await r.client.get("/api/v1/orders", headers=headers)
            assert resp.status_code == 401, name
            body = resp.json()
            assert body["error"]["code"] == "UNAUTHORIZED", name
            assert body["meta"]["request_id"] == resp.headers["x-request-id"]
        assert (await r.client.get("/api/v1/orders", headers=who.h)).status_code == 200
        await advance(r.client, 59_000)
        assert (await r.client.get("/api/v1/orders", headers=who.h)).status_code == 200
        await advance(r.client, 1_000)  # the domain clock reaches exp
        resp = await r.client.get("/api/v1/orders", headers=who.h)
        assert resp.status_code == 401 and "expired" in resp.json()["error"]["message"]
        # a fresh token works again
        t = await r.client.post(
            "/auth/token", json={"client_id": who.client_id, "client_secret": who.client_secret}
        )
        assert (
            await r.client.get(
                "/api/v1/orders", headers={"Authorization": "Bearer " + t.json()["data"]["token"]}
            )
        ).status_code == 200


async def test_token_endpoint_errors(sqlite_url: str) -> None:
    """Wrong credentials → 401; a body that is not JSON or lacks fields → 400 naming the fields."""
    async with running_app(make_settings(sqlite_url)) as r:
        who = await participant(r.client, "Bank", "custodian")
        resp = await r.client.post("/auth/token", json={"client_id": who.client_id, "client_secret": "nope"})
        assert resp.status_code == 401 and resp.json()["error"]["code"] == "UNAUTHORIZED"
        resp = await r.client.post("/auth/token", json={"client_id": "nobody", "client_secret": "x"})
        assert resp.status_code == 401
        resp = await r.client.post("/auth/token", content=b"{not json")
        assert resp.status_code == 400 and resp.json()["error"]["details"][0]["field"] == "body"
        resp = await r.client.post(
            "/auth/token", data={"client_id": who.client_id, "client_secret": who.client_secret}
        )
        assert resp.status_code == 200 and resp.json()["data"]["role"] == "custodian"  # a form works too
        resp = await r.client.post("/auth/token", json={})
        assert resp.status_code == 400
        assert [d["field"] for d in resp.json()["error"]["details"]] == ["client_id", "client_secret"]


async def test_control_participants_and_demo_seed(sqlite_url: str) -> None:
    """The control API creates participants (validated); demo seeding adds the documented ones
    and the built-in simulated market maker exists even with no seed."""
    async with running_app(make_settings(sqlite_url)) as r:
        resp = await r.client.post(
            "/_admin/musubi/participants", json={"name": "", "role": "boss"}, headers=ADMIN_HEADERS
        )
        assert resp.status_code == 400
        message = resp.json()["error"]["message"]
        assert "name:" in message and "role:" in message
        assert (
            await r.client.post("/_admin/musubi/participants", json={"name": "X", "role": "custodian"})
        ).status_code == 401
        listed = (await r.client.get("/_admin/musubi/participants", headers=ADMIN_HEADERS)).json()[
            "participants"
        ]
        assert [p["name"] for p in listed] == ["SimulatedMarketMaker"]
        resp = await r.client.post("/_admin/reset", json={"seed": "demo"}, headers=ADMIN_HEADERS)
        assert resp.status_code == 200
        listed = (await r.client.get("/_admin/musubi/participants", headers=ADMIN_HEADERS)).json()[
            "participants"
        ]
        names = {p["name"] for p in listed}
        assert {
            "SenderInstitution",
            "ReceiverInstitution",
            "CustodianA",
            "CustodianB",
            "MarketMakerA",
            "MarketMakerB",
        } <= names
        t = await r.client.post(
            "/auth/token",
            json={"client_id": "sender-institution", "client_secret": "sender-institution-secret"},
        )
        assert t.status_code == 200
        pid = t.json()["data"]["canton_party_id"]
        assert pid.startswith("SenderInstitution::1220") and len(pid.split("::")[1]) == 68


async def test_dashboard_identity(sqlite_url: str) -> None:
    """The live dashboard acts as the demo sender institution; with no seed there is none."""
    async with running_app(make_settings(sqlite_url)) as r:
        cfg = (await r.client.get("/_admin/dashboard", headers=ADMIN_HEADERS)).json()
        assert cfg["musubi"] is None
        await r.client.post("/_admin/reset", json={"seed": "demo"}, headers=ADMIN_HEADERS)
        m = (await r.client.get("/_admin/dashboard", headers=ADMIN_HEADERS)).json()["musubi"]
        assert m["role"] == "institution" and m["party_id"].startswith("SenderInstitution::")
        t = await r.client.post(
            "/auth/token", json={"client_id": m["client_id"], "client_secret": m["client_secret"]}
        )
        assert t.status_code == 200
