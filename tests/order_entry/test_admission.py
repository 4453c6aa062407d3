"""Admission of the signed batch (CONTRACT §4.2, §4.3, §6): acks vs book-decided outcomes on the
stream, per-action refusals, matching through the batch, balances, idempotency."""

from __future__ import annotations

import json

import pytest

from tests.conftest import make_settings, running_app
from tests.order_entry.helpers import RICH, events_of, new_agent, place, settle

pytestmark = pytest.mark.anyio

BTC = 1  # BTC-USDC, shard 0
SOL = 3  # SOL-USDC, minQty 10, shard 1
HALTED = 5


async def test_not_a_batch_is_400(sqlite_url: str) -> None:
    """Not JSON, no actions list, wrong version → 400 INVALID_REQUEST, nothing executed."""
    async with running_app(make_settings(sqlite_url)) as r:
        a = await new_agent(r.client, fund=RICH)
        good = place(a, BTC, "Bid", 100, 1)
        for body in (
            b"not json",
            b"[]",
            b'{"version":1}',
            b'{"version":2,"actions":[]}',
            b'{"version":1,"actions":{}}',
            b'{"actions":[]}',
        ):
            resp = await a.request("POST", "/api/v1/order-entry/orders", body=body)
            assert resp.status_code == 400, body
            assert resp.json()["error"]["code"] == "INVALID_REQUEST"
        import orjson

        resp = await a.request(
            "POST", "/api/v1/order-entry/orders", body=orjson.dumps({"version": 2, "actions": [good]})
        )
        assert resp.status_code == 400 and "version" in resp.json()["error"]["message"]
        await settle(r)
        assert await events_of(a) == []
        assert (await a.bootstrap())["nonceFloor"] == 0


async def test_admission_rejects(db_url: str) -> None:
    """Each admission refusal: ack accepted:false with its code and one REJECTED event echoing
    clientOrderId; malformed actions don't stop the others; nonces are consumed."""
    async with running_app(make_settings(db_url)) as r:
        a = await new_agent(r.client, fund={"USDC": 1_000, "BTC": 5})
        acts = [
            place(a, BTC, "Bid", 100, 5, coid="ok-1"),  # 0 accepted (reserves 500)
            place(a, BTC, "Bid", 100, 5, coid="ok-1"),  # 1 duplicate coid
            place(a, BTC, "Bid", 100, 6, coid="poor"),  # 2 insufficient (600 > 500)
            place(a, 99, "Bid", 100, 1, coid="nowhere"),  # 3 unknown market
            place(a, HALTED, "Bid", 100, 1, coid="halt"),  # 4 halted
            place(a, SOL, "Bid", 1, 15, coid="lot"),  # 5 not a multiple of minQty
            place(a, BTC, "Sideways", 100, 1, coid="bad"),  # 6 malformed
            a.action("SpotPlaceOrder", {"market": BTC}, nonce=3),  # 7 nonce not above floor
            {"payload": "garbage"},  # 8 malformed
            a.action("SpotTeleport", {}),  # 9 unknown action
            place(a, BTC, "Ask", 200, 5, coid="ok-2"),  # 10 accepted
        ]
        acts[10]["signature"] = {"scheme": "EcdsaSecp256k1", "bytes": "0xzz"}  # bad signature shape
        resp = await a.batch(acts)
        assert resp.status_code == 200
        res = resp.json()["results"]
        assert [x["index"] for x in res] == list(range(11))
        codes = [x.get("rejectCode") for x in res]
        assert res[0]["accepted"] is True and res[0]["clientOrderId"] == "ok-1" and res[0]["orderId"]
        assert codes[1:] == [
            "DUPLICATE_CLIENT_ORDER_ID",
            "INSUFFICIENT_BALANCE",
            "UNKNOWN_MARKET",
            "MARKET_HALTED",
            "INVALID_ORDER",
            "INVALID_ORDER",
            "NONCE_REPLAY",
            "INVALID_ORDER",
            "INVALID_ORDER",
            "INVALID_ORDER",
        ]
        assert all(set(x) == {"index", "accepted", "rejectCode"} for x in res[1:])
        await settle(r)
        evs = await events_of(a)
        rejected = [e for e in evs if e["status"] == "REJECTED"]
        assert sorted(e["rejectCode"] for e in rejected) == sorted(codes[1:])
        for e in rejected:
            assert e["orderId"] is None and e["cumQty"] == 0 and e["leavesQty"] == 0
        assert {e["clientOrderId"] for e in rejected} >= {"ok-1", "poor", "nowhere", "halt", "lot", "bad"}
        news = [e for e in evs if e["status"] == "NEW"]
        assert [e["orderId"] for e in news] == [res[0]["orderId"]]
        # payload nonces 1..9 were used (index 7 re-used 3, index 8 had none); the floor is the last
        assert (await a.bootstrap())["nonceFloor"] == 9
        bal = (await a.bootstrap())["balances"]
        assert bal["USDC"] == {"free": 500, "reserved": 500}
        resp = await a.batch([place(a, BTC, "Bid", 1, 1, coid="old")])  # nonce 10: fine
        assert resp.json()["results"][0]["accepted"] is True
        resp = await a.batch([a.action("SpotCancelAll", {}, nonce=10)])
        assert resp.json()["results"][0]["rejectCode"] == "NONCE_REPLAY"


async def test_matching_partial_fills_and_fill_ids(db_url: str) -> None:
    """Price-time priority, partial fills at the maker's price, shared fillId for both sides,
    balances moved and reservations released exactly."""
    async with running_app(make_settings(db_url)) as r:
        a = await new_agent(r.client, fund={"BTC": 10})
        b = await new_agent(r.client, fund={"USDC": 1_000_000})
        first = await a.place(BTC, "Ask", 100, 3, coid="a1")
        second = await a.place(BTC, "Ask", 100, 3, coid="a2")
        better = await a.place(BTC, "Ask", 99, 2, coid="a0")
        taker = await b.place(BTC, "Bid", 101, 6, coid="b1")
        await settle(r)
        bev = await events_of(b)
        assert [e["status"] for e in bev] == ["NEW", "PARTIALLY_FILLED", "PARTIALLY_FILLED", "FILLED"]
        fills_b = [e for e in bev if e["fillId"]]
        assert [(e["fillPrice"], e["filledQty"]) for e in fills_b] == [(99, 2), (100, 3), (100, 1)]
        assert [e["cumQty"] for e in fills_b] == [2, 5, 6] and fills_b[-1]["leavesQty"] == 0
        aev = await events_of(a)
        fills_a = {e["fillId"]: e for e in aev if e["fillId"]}
        assert set(fills_a) == {e["fillId"] for e in fills_b}
        for e in fills_b:
            assert fills_a[e["fillId"]]["filledQty"] == e["filledQty"]
            assert fills_a[e["fillId"]]["fillPrice"] == e["fillPrice"]
        # time priority: a1 (first at 100) filled completely before a2
        by_order = {e["orderId"]: e for e in aev if e["fillId"]}
        assert by_order[first["orderId"]]["status"] == "FILLED"
        assert by_order[second["orderId"]]["leavesQty"] == 2
        assert better["orderId"] in by_order and taker["accepted"]
        spent = 99 * 2 + 100 * 4
        assert (await b.bootstrap())["balances"] == {
            "USDC": {"free": 1_000_000 - spent, "reserved": 0},
            "BTC": {"free": 6, "reserved": 0},
        }
        assert (await a.bootstrap())["balances"] == {
            "BTC": {"free": 2, "reserved": 2},
            "USDC": {"free": spent, "reserved": 0},
        }
        snap = await a.open_orders()
        assert [(o["clientOrderId"], o["leavesQty"], o["cumQty"], o["status"]) for o in snap["orders"]] == [
            ("a2", 2, 1, "PARTIALLY_FILLED")
        ]
        assert snap["seq"] == aev[-1]["seq"] if aev else 0


async def test_time_in_force_and_self_trade(sqlite_url: str) -> None:
    """post_only that would take → one REJECTED; unfillable fok → one EXPIRED; ioc remainder
    CANCELED; a self-trade cancels the resting order; fillable fok fills."""
    async with running_app(make_settings(sqlite_url)) as r:
        a = await new_agent(r.client, fund={"BTC": 100, "USDC": 10**6})
        b = await new_agent(r.client, fund={"USDC": 10**7, "BTC": 100})
        await a.place(BTC, "Ask", 100, 5, coid="rest")
        await settle(r)
        await b.place(BTC, "Bid", 100, 1, "post_only", coid="po")
        await b.place(BTC, "Bid", 100, 6, "fok", coid="fok-big")
        await b.place(BTC, "Bid", 100, 2, "ioc", coid="ioc")
        await b.place(BTC, "Bid", 99, 1, "ioc", coid="ioc-none")
        await settle(r)
        bev = await events_of(b)
        by = {}
        for e in bev:
            by.setdefault(e["clientOrderId"], []).append((e["status"], e["rejectCode"], e["filledQty"]))
        assert by["po"] == [("REJECTED", "POST_ONLY_WOULD_TAKE", 0)]
        assert by["fok-big"] == [("EXPIRED", None, 0)]
        assert by["ioc"] == [("NEW", None, 0), ("FILLED", None, 2)]
        assert by["ioc-none"] == [("NEW", None, 0), ("CANCELED", None, 0)]
        await b.place(BTC, "Bid", 100, 3, "fok", coid="fok-ok")
        await settle(r)
        by_fok = [(e["status"], e["filledQty"]) for e in await events_of(b) if e["clientOrderId"] == "fok-ok"]
        assert by_fok == [("NEW", 0), ("FILLED", 3)]
        # self-trade prevention: a's own bid meets a's resting ask → the resting ask is cancelled
        await a.place(BTC, "Ask", 200, 4, coid="mine")
        await a.place(BTC, "Bid", 200, 4, coid="cross-self")
        await settle(r)
        aev = await events_of(a)
        mine = [e["status"] for e in aev if e["clientOrderId"] == "mine"]
        assert mine == ["NEW", "CANCELED"]
        cross = [e["status"] for e in aev if e["clientOrderId"] == "cross-self"]
        assert cross == ["NEW"]
        assert not any(e["fillId"] for e in aev if e["clientOrderId"] in ("mine", "cross-self"))
        # reservations of every finished order were released
        boot = await b.bootstrap()
        assert boot["balances"]["USDC"]["reserved"] == 0


async def test_cancel_replace_cancel_all(db_url: str) -> None:
    """Cancel by orderId or clientOrderId; unknown → REJECTED UNKNOWN_ORDER on the stream (ack
    accepted); replace changes price/qty and reservation; cancel-all empties the account."""
    async with running_app(make_settings(db_url)) as r:
        a = await new_agent(r.client, fund={"USDC": 100_000, "SOL": 1_000})
        o1 = await a.place(BTC, "Bid", 100, 10, coid="c1")
        o2 = await a.place(SOL, "Ask", 500, 100, coid="c2")
        o3 = await a.place(BTC, "Bid", 90, 10, coid="c3")
        ack = await a.cancel(BTC, o1["orderId"])
        assert ack == {"index": 0, "accepted": True, "orderId": o1["orderId"], "clientOrderId": "c1"}
        resp = await a.batch([a.action("SpotCancelOrder", {"market": SOL, "clientOrderId": "c2"})])
        assert resp.json()["results"][0]["orderId"] == o2["orderId"]
        ack = await a.cancel(BTC, "o-999999")
        assert ack["accepted"] is True
        await settle(r)
        evs = await events_of(a)
        assert [e["status"] for e in evs if e["orderId"] == o1["orderId"]] == ["NEW", "CANCELED"]
        assert [e["status"] for e in evs if e["orderId"] == o2["orderId"]] == ["NEW", "CANCELED"]
        unknown = [e for e in evs if e["orderId"] == "o-999999"]
        assert [(e["status"], e["rejectCode"]) for e in unknown] == [("REJECTED", "UNKNOWN_ORDER")]
        assert (await a.bootstrap())["balances"]["USDC"]["reserved"] == 900

        resp = await a.batch(
            [a.action("SpotReplaceOrder", {"market": BTC, "orderId": o3["orderId"], "price": 95, "qty": 20})]
        )
        assert resp.json()["results"][0] == {
            "index": 0,
            "accepted": True,
            "orderId": o3["orderId"],
            "clientOrderId": "c3",
        }
        await settle(r)
        rep = [e for e in await events_of(a) if e["status"] == "REPLACED"]
        assert rep and rep[-1]["leavesQty"] == 20 and rep[-1]["price"] == 95
        assert (await a.bootstrap())["balances"]["USDC"]["reserved"] == 95 * 20
        snap = await a.open_orders()
        assert [(o["orderId"], o["price"], o["qty"], o["leavesQty"]) for o in snap["orders"]] == [
            (o3["orderId"], 95, 20, 20)
        ]
        # too expensive a replace is refused by the engine, the order stays as it was
        await a.batch(
            [a.action("SpotReplaceOrder", {"market": BTC, "orderId": o3["orderId"], "price": 10_000})]
        )
        await settle(r)
        last = (await events_of(a))[-1]
        assert (last["status"], last["rejectCode"]) == ("REJECTED", "INSUFFICIENT_BALANCE")
        assert (await a.open_orders())["orders"][0]["price"] == 95

        await a.place(SOL, "Bid", 1, 10, coid="c4")
        resp = await a.batch([a.action("SpotCancelAll", {})])
        assert resp.json()["results"][0] == {
            "index": 0,
            "accepted": True,
            "orderId": None,
            "clientOrderId": None,
        }
        await settle(r)
        assert (await a.open_orders())["orders"] == []
        assert all(b["reserved"] == 0 for b in (await a.bootstrap())["balances"].values())


async def test_idempotency_survives_restart(db_url: str) -> None:
    """A repeated idempotencyKey answers the first response and executes nothing twice — also
    after a restart on the same database."""
    settings = make_settings(db_url)
    async with running_app(settings) as r:
        a = await new_agent(r.client, fund={"USDC": 10_000})
        acts = [place(a, BTC, "Bid", 10, 5, coid="once"), place(a, BTC, "Bid", 10, 5, coid="twice")]
        first = await a.batch(acts, key="batch-1")
        again = await a.batch(acts, key="batch-1")
        assert first.status_code == again.status_code == 200
        assert first.content == again.content
        assert first.json()["idempotencyKey"] == "batch-1"
        await settle(r)
        n_events = len(await events_of(a))
    async with running_app(settings) as r2:
        a.client = r2.client
        third = await a.batch(acts, key="batch-1")
        assert third.content == first.content
        await settle(r2)
        assert len(await events_of(a)) == n_events == 2
        assert len((await a.open_orders())["orders"]) == 2
        assert (await a.bootstrap())["balances"]["USDC"] == {"free": 10_000 - 100, "reserved": 100}
        other = await a.batch([place(a, BTC, "Bid", 10, 1)], key="batch-2")
        assert other.json()["results"][0]["accepted"] is True


async def test_integers_past_int64_are_invalid_order_not_a_rebuild(db_url: str) -> None:
    """Regression: a payload nonce of 2^63 answered 503 and rebuilt the venue from the database.
    Every integer beyond 2^63 − 1 (nonce, ts, price, qty, market, a numeric orderId) is that
    action's INVALID_ORDER; the batch is answered 200, nothing admitted is disturbed."""
    async with running_app(make_settings(db_url)) as r:
        a = await new_agent(r.client, fund=RICH)
        kept = await a.place(BTC, "Bid", 10, 1, coid="kept")
        await settle(r)
        svc = r.ctx.services["order-entry"]
        big = 2**63
        huge_nonce = a.action(
            "SpotPlaceOrder", {"market": BTC, "side": "Bid", "price": 10, "qty": 1}, nonce=big
        )
        huge_ts = a.action("SpotCancelAll", {})
        huge_ts["payload"]["ts"] = 2**64
        actions = [
            huge_nonce,
            huge_ts,
            place(a, BTC, "Bid", big, 1),
            place(a, BTC, "Bid", 10, 2**64),
            place(a, big, "Bid", 10, 1),
            a.action("SpotCancelOrder", {"market": BTC, "orderId": big}),
            a.action("SpotReplaceOrder", {"market": BTC, "orderId": kept["orderId"], "qty": 2**64}),
        ]
        body = json.dumps({"version": 1, "actions": actions}).encode()  # orjson refuses past 64 bits
        resp = await a.request("POST", "/api/v1/order-entry/orders", body=body)
        assert resp.status_code == 200, resp.text
        assert [x["rejectCode"] for x in resp.json()["results"]] == ["INVALID_ORDER"] * len(actions)
        await settle(r)
        assert svc.uow.failures == 0 and svc.uow.recovering is None
        assert [o["clientOrderId"] for o in (await a.open_orders())["orders"]] == ["kept"]
        assert (await a.bootstrap())["nonceFloor"] < big
        ok = await a.place(BTC, "Bid", 10, 1, coid="after")
        assert ok["accepted"] is True


async def test_nonce_replay_rejected_event_echoes_client_order_id(sqlite_url: str) -> None:
    """Regression: a REJECTED NONCE_REPLAY event carried clientOrderId null; it echoes the
    refused action's clientOrderId like every other refusal (§6)."""
    async with running_app(make_settings(sqlite_url)) as r:
        a = await new_agent(r.client, fund=RICH)
        resp = await a.batch([place(a, BTC, "Bid", 10, 1, coid="first")])
        assert resp.json()["results"][0]["accepted"] is True
        replayed = place(a, BTC, "Bid", 10, 1, coid="replayed")
        replayed["payload"]["nonce"] = 1
        resp = await a.batch([replayed])
        assert resp.json()["results"][0]["rejectCode"] == "NONCE_REPLAY"
        await settle(r)
        rejected = [e for e in await events_of(a) if e["status"] == "REJECTED"]
        assert [(e["rejectCode"], e["clientOrderId"]) for e in rejected] == [("NONCE_REPLAY", "replayed")]
