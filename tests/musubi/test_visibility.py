"""The visibility matrix: every role × every REST route × own/other order → the exact status."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.conftest import make_settings, running_app
from tests.musubi.helpers import Cast, advance, cast, open_rfq, quote

pytestmark = pytest.mark.anyio

KEYS = ("si", "sc", "ri", "rc", "oi", "oc", "mm1", "mm2")


def who(c: Cast, key: str) -> Any:
    return getattr(c, key)


def row(si: int, sc: int, ri: int, rc: int, oi: int, oc: int, mm1: int, mm2: int) -> dict[str, int]:
    return dict(zip(KEYS, (si, sc, ri, rc, oi, oc, mm1, mm2), strict=True))


async def test_visibility_matrix(sqlite_url: str) -> None:
    """403 for the wrong role (same for a real and a random id), 404 for an order the caller is
    not party to, 403 for a party whose side may not act, and the allowed callers get through
    (to 200, or to the 409/400 that shows they passed every gate)."""
    async with running_app(make_settings(sqlite_url)) as r:
        client = r.client
        c = await cast(client)
        # A: RFQ open, one quote from mm1 that breaks the slippage guard (accepting it is a 409)
        a = (await open_rfq(client, c, source_amount_max="100"))["intent_id"]
        qa = (await quote(client, c.mm1, a, "150"))["quote_id"]
        # B: cancelled (every mutation on it is a 409 for the allowed caller)
        b = (await open_rfq(client, c))["intent_id"]
        assert (await client.post(f"/api/v1/orders/{b}/cancel", headers=c.si.h)).status_code == 200
        # C: settled, won by mm1
        o = (await open_rfq(client, c))["intent_id"]
        qc = (await quote(client, c.mm1, o, "150"))["quote_id"]
        assert (
            await client.post(f"/api/v1/orders/{o}/quotes/{qc}/accept", headers=c.sc.h)
        ).status_code == 200
        await advance(client, 5000)
        assert (await client.get(f"/api/v1/orders/{o}", headers=c.si.h)).json()["data"]["status"] == "SETTLED"

        ok = 200
        matrix: list[tuple[str, str, Any, dict[str, int]]] = [
            ("GET", "/whoami", None, row(ok, ok, ok, ok, ok, ok, ok, ok)),
            ("GET", "/api/v1/whoami", None, row(ok, ok, ok, ok, ok, ok, ok, ok)),
            ("GET", "/api/v1/orders", None, row(ok, ok, ok, ok, ok, ok, 403, 403)),
            ("POST", "/api/v1/orders", {}, row(400, 403, 400, 403, 400, 403, 403, 403)),
            ("GET", f"/api/v1/orders/{a}", None, row(ok, ok, ok, ok, 404, 404, 403, 403)),
            ("POST", f"/api/v1/orders/{a}/accept", None, row(403, 409, 403, 403, 403, 404, 403, 403)),
            ("POST", f"/api/v1/orders/{a}/reject", None, row(403, 409, 403, 403, 403, 404, 403, 403)),
            ("POST", f"/api/v1/orders/{b}/cancel", None, row(409, 403, 403, 403, 404, 403, 403, 403)),
            ("GET", f"/api/v1/orders/{a}/quotes", None, row(ok, ok, 403, 403, 404, 404, 403, 403)),
            (
                "POST",
                f"/api/v1/orders/{a}/quotes/{qa}/accept",
                None,
                row(409, 409, 403, 403, 404, 404, 403, 403),
            ),
            ("GET", "/api/v1/dashboard/stats", None, row(ok, ok, ok, ok, ok, ok, ok, ok)),
            ("GET", f"/api/v1/compliance/orders/{a}", None, row(ok, ok, ok, ok, 404, 404, 403, 403)),
            ("GET", "/api/v1/exports/settlements", None, row(ok, ok, ok, ok, ok, ok, 403, 403)),
            ("GET", "/api/v1/quote-requests", None, row(403, 403, 403, 403, 403, 403, ok, ok)),
            ("GET", f"/api/v1/quote-requests/{a}", None, row(403, 403, 403, 403, 403, 403, ok, ok)),
            ("POST", f"/api/v1/quote-requests/{a}/quotes", {}, row(403, 403, 403, 403, 403, 403, 400, 400)),
            ("GET", f"/api/v1/quote-requests/{a}/quotes", None, row(403, 403, 403, 403, 403, 403, ok, ok)),
            ("GET", "/api/v1/quotes", None, row(403, 403, 403, 403, 403, 403, ok, ok)),
            ("GET", "/api/v1/settlements", None, row(403, 403, 403, 403, 403, 403, ok, ok)),
            ("GET", f"/api/v1/settlements/{o}", None, row(403, 403, 403, 403, 403, 403, ok, 404)),
            ("GET", f"/api/v1/quote-requests/{o}", None, row(403, 403, 403, 403, 403, 403, ok, 404)),
        ]
        # the same routes with a random id: right role → 404, wrong role → 403 (no lookup first)
        rnd = str(uuid.uuid4())
        for method, path, body, expect in list(matrix):
            if a in path or b in path or o in path:
                rpath = path.replace(a, rnd).replace(b, rnd).replace(o, rnd).replace(qa, str(uuid.uuid4()))
                # a role may use the route when its outsider (or either maker) got past the role gate
                allowed = {
                    "institution": expect["oi"] != 403,
                    "custodian": expect["oc"] != 403,
                    "market-maker": expect["mm1"] != 403 or expect["mm2"] != 403,
                }
                derived = {k: 404 if allowed[who(c, k).role] else 403 for k in KEYS}
                matrix.append((method, rpath, body, derived))
        failures = []
        for method, path, body, expect in matrix:
            for key in KEYS:
                w = who(c, key)
                resp = await client.request(method, path, json=body, headers=w.h)
                if resp.status_code != expect[key]:
                    failures.append(f"{key} {method} {path}: {resp.status_code} != {expect[key]}")
                if resp.status_code >= 400:
                    err = resp.json()["error"]
                    assert (
                        err["code"]
                        == {400: "VALIDATION_ERROR", 403: "FORBIDDEN", 404: "NOT_FOUND", 409: "CONFLICT"}[
                            resp.status_code
                        ]
                    )
                    assert resp.json()["meta"]["request_id"] == resp.headers["x-request-id"]
        assert not failures, "\n".join(failures)
        # nothing any refused call did changed A or B
        assert (await client.get(f"/api/v1/orders/{a}", headers=c.si.h)).json()["data"]["status"] == "PENDING"
        assert (await client.get(f"/api/v1/orders/{b}", headers=c.si.h)).json()["data"][
            "failure_reason"
        ] == "CANCELLED"
