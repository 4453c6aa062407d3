"""The FIX 4.4 drop-copy (CONTRACT §4.6) against a real server, spoken to by the independent
client of `test_fix_client.py`: Logon refusals, report-by-report equality with the gap-fill,
`9000`, reconnect and server restart without loss, skip-made gaps recovered by ResendRequest,
the read-only rejects, revocation, the control API's disconnect and session listing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from app.routers.order_entry.fix_listener import FixListener
from tests.conftest import ADMIN_HEADERS, Live, live_server, make_settings, wait_for
from tests.order_entry.helpers import OE, RICH, Creds, new_agent
from tests.order_entry.test_fix_client import FixClient, Msg, sending_time

pytestmark = pytest.mark.anyio
BTC = 1


@asynccontextmanager
async def fix_server(url: str, **overrides: Any) -> AsyncIterator[tuple[Live, httpx.AsyncClient, int]]:
    async with live_server(make_settings(url, **overrides)) as live:
        listener = await FixListener.start(live.ctx, "127.0.0.1", 0)
        live.app.state.listeners = {"fix": listener}
        try:
            async with httpx.AsyncClient(base_url=live.base_url) as client:
                yield live, client, listener.port
        finally:
            await listener.stop()


async def logged_on(port: int, a: OE, sender: str = "CLIENT1", **kw: Any) -> tuple[FixClient, Msg]:
    c = await FixClient(sender).connect(port)
    c.logon(a.creds, **kw)
    reply = await c.recv()
    assert reply.type == "A", reply.pairs
    return c, reply


async def reconnect(port: int, a: OE, before: FixClient) -> tuple[FixClient, Msg]:
    """The same session on a new connection: the client's MsgSeqNums go on from `before`."""
    c = FixClient(before.sender)
    c.next_out = before.next_out
    await c.connect(port)
    c.logon(a.creds)
    reply = await c.recv()
    assert reply.type == "A", reply.pairs
    return c, reply


async def sessions(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    r = await client.get("/_admin/fix/sessions", headers=ADMIN_HEADERS)
    assert r.status_code == 200, r.text
    out: list[dict[str, Any]] = r.json()["sessions"]
    return out


async def drop_copy_agent(client: httpx.AsyncClient, **kw: Any) -> OE:
    return await new_agent(client, fund=RICH, **kw)


# --- what a report must say, computed from the gap-fill events -------------------------------------
EXEC = {
    "NEW": "0",
    "PARTIALLY_FILLED": "F",
    "FILLED": "F",
    "CANCELED": "4",
    "REPLACED": "5",
    "REJECTED": "8",
    "EXPIRED": "C",
}
STATUS = {
    "NEW": "0",
    "PARTIALLY_FILLED": "1",
    "FILLED": "2",
    "CANCELED": "4",
    "REJECTED": "8",
    "EXPIRED": "C",
}


def fix_time(ms: int) -> str:
    return sending_time(ms)


def expected_tags(
    account: str, events: list[dict[str, Any]], symbols: dict[int, str]
) -> list[dict[int, str]]:
    """§4.6's tag table applied to each event, AvgPx from the order's fills so far."""
    fills: dict[str, tuple[int, int]] = {}
    out = []
    for ev in events:
        d = ev["data"] if "data" in ev else ev
        t: dict[int, str] = {
            35: "8",
            1: account,
            37: d["orderId"] or "NONE",
            11: d["clientOrderId"] or "NONE",
            17: f"{account}-{d['seq']}",
            150: EXEC[d["status"]],
            39: ("1" if d["cumQty"] else "0") if d["status"] == "REPLACED" else STATUS[d["status"]],
        }
        if d.get("market") in symbols:
            t[55] = symbols[d["market"]]
        if d.get("side"):
            t[54] = {"Bid": "1", "Ask": "2"}[d["side"]]
        for tag, k in (
            (38, "qty"),
            (44, "price"),
            (32, "filledQty"),
            (31, "fillPrice"),
            (151, "leavesQty"),
            (14, "cumQty"),
        ):
            if d.get(k) is not None:
                t[tag] = str(d[k])
        if d["filledQty"]:
            n, q = fills.get(d["orderId"], (0, 0))
            fills[d["orderId"]] = (n + d["fillPrice"] * d["filledQty"], q + d["filledQty"])
        n, q = fills.get(d["orderId"], (0, 0)) if d["orderId"] else (0, 0)
        t[6] = "0" if q == 0 else (str(n // q) if n % q == 0 else f"{n / q:.8f}".rstrip("0"))
        t[60] = fix_time(d["engineTsMs"])
        if d.get("fillId"):
            t[880] = str(d["fillId"])
        if d["status"] == "REJECTED":
            t[103] = "99"
            t[58] = d["rejectCode"]
        t[9001] = str(d["seq"])
        if d["shard"] is not None:
            t[9002] = str(d["shard"])
        out.append(t)
    return out


def report_tags(m: Msg) -> dict[int, str]:
    return dict(m.body())


async def symbols(a: OE) -> dict[int, str]:
    r = await a.get("/api/v1/order-entry/markets")
    return {m["market"]: m["symbol"] for m in r.json()["markets"]}


async def trade(a: OE, b: OE) -> None:
    """A rests a bid, B hits it twice (partial, then full), A's second bid is canceled, A sends
    an order for an unknown market (REJECTED at admission)."""
    await a.place(BTC, "Bid", 100, 5, coid="a-1")
    await b.place(BTC, "Ask", 100, 2)
    await b.place(BTC, "Ask", 97, 3)
    second = await a.place(BTC, "Bid", 90, 4)
    await a.cancel(BTC, second["orderId"])
    await a.place(99, "Bid", 10, 1, coid="a-bad")


async def head(a: OE) -> int:
    return len(await a.all_events())


# --- Logon ------------------------------------------------------------------------------------------
async def test_each_logon_refusal_is_a_logout_naming_it_then_close(db_url: str) -> None:
    """Every refused Logon gets Logout 58=<code> with MsgSeqNum 1, then the close; no session
    state is created by any of them."""
    async with fix_server(db_url) as (_live, client, port):
        a = await drop_copy_agent(client)
        read_only = await new_agent(client, scopes=["read"])
        revoked = await new_agent(client)
        await client.delete(f"/_admin/order-entry/agents/{revoked.creds.api_key_id}", headers=ADMIN_HEADERS)
        cr = a.creds
        cases: list[tuple[str, bytes]] = []
        c0 = FixClient()
        cases.append(
            ("MISSING_AUTH", c0.logon_fields(cr.api_key_id, cr.api_secret, cr.api_passphrase, omit=(96,)))
        )
        cases.append(("INVALID_KEY", c0.logon_fields("spk_nope", cr.api_secret, cr.api_passphrase)))
        rv = revoked.creds
        cases.append(("INVALID_KEY", c0.logon_fields(rv.api_key_id, rv.api_secret, rv.api_passphrase)))
        cases.append(("INVALID_PASSPHRASE", c0.logon_fields(cr.api_key_id, cr.api_secret, "spp_wrong")))
        cases.append(
            (
                "INVALID_SIGNATURE",
                c0.logon_fields(cr.api_key_id, cr.api_secret, cr.api_passphrase, bad_signature=True),
            )
        )
        old = int(time.time() * 1000) - 60_000
        cases.append(
            ("TIMESTAMP_SKEW", c0.logon_fields(cr.api_key_id, cr.api_secret, cr.api_passphrase, ts_ms=old))
        )
        ro = read_only.creds
        cases.append(("SCOPE_REQUIRED", c0.logon_fields(ro.api_key_id, ro.api_secret, ro.api_passphrase)))
        cases.append(
            ("INVALID_HEARTBTINT", c0.logon_fields(cr.api_key_id, cr.api_secret, cr.api_passphrase, hb=0))
        )
        cases.append(
            (
                "WRONG_BEGIN_STRING",
                c0.logon_fields(cr.api_key_id, cr.api_secret, cr.api_passphrase, begin="FIX.4.2"),
            )
        )
        wrong_target = FixClient(target="SOMEONE")
        cases.append(
            (
                "WRONG_TARGET_COMP_ID",
                wrong_target.logon_fields(cr.api_key_id, cr.api_secret, cr.api_passphrase),
            )
        )
        for code, data in cases:
            c = await FixClient().connect(port)
            c.send_raw(data)
            got = await c.closed()
            assert [m.type for m in got] == ["5"], (code, [m.pairs for m in got])
            assert got[0][58] == code and got[0].seq == 1
        assert await sessions(client) == []

        live_one, _ = await logged_on(port, a)
        second = await FixClient().connect(port)
        second.logon(a.creds)
        got = await second.closed()
        assert [(m.type, m[58]) for m in got] == [("5", "SESSION_ACTIVE")]
        # the first connection is untouched
        live_one.send("1", [(112, "still-there")])
        hb = await live_one.recv_type("0")
        assert hb[112] == "still-there"
        await live_one.close()


# --- reports ---------------------------------------------------------------------------------------
async def test_reports_match_the_gap_fill_tag_by_tag(db_url: str) -> None:
    """Every execution event of the key's account arrives as one ExecutionReport whose tags are
    §4.6's table applied to the event the gap-fill returns (fills, AvgPx, cancel, reject)."""
    async with fix_server(db_url) as (_live, client, port):
        a = await drop_copy_agent(client)
        b = await drop_copy_agent(client)
        c, _ = await logged_on(port, a)
        await trade(a, b)
        events = await a.all_events()
        got = await c.reports(len(events))
        assert [report_tags(m) for m in got] == expected_tags(a.account, events, await symbols(a))
        assert [m.seq for m in got] == list(range(2, 2 + len(events)))
        statuses = [e["data"]["status"] for e in events]
        assert {"PARTIALLY_FILLED", "FILLED", "CANCELED", "REJECTED"} <= set(statuses)
        await c.close()


async def test_logon_9000_replays_from_that_account_seq_then_live(db_url: str) -> None:
    """A new session with 9000=N gets every event with seq >= N, then live ones: no gap, no
    duplicate across the seam."""
    async with fix_server(db_url) as (_live, client, port):
        a = await drop_copy_agent(client)
        for _ in range(5):
            await a.place(BTC, "Bid", 10, 1)
        c, _ = await logged_on(port, a, from_seq=3)
        first = await c.reports(3)
        for _ in range(2):
            await a.place(BTC, "Bid", 10, 1)
        more = await c.reports(2)
        assert [int(m[9001]) for m in first + more] == [3, 4, 5, 6, 7]
        assert [m.seq for m in first + more] == [2, 3, 4, 5, 6]
        await c.close()


async def test_a_new_session_without_9000_starts_with_the_next_event(sqlite_url: str) -> None:
    """No 9000: events committed before the Logon are not copied."""
    async with fix_server(sqlite_url) as (_live, client, port):
        a = await drop_copy_agent(client)
        await a.place(BTC, "Bid", 10, 1)
        c, _ = await logged_on(port, a)
        await a.place(BTC, "Bid", 11, 1)
        (r,) = await c.reports(1)
        assert r[9001] == "2"
        await c.close()


# --- continuity ------------------------------------------------------------------------------------
async def test_reconnect_continues_the_session_without_loss(db_url: str) -> None:
    """Logout, events committed while away, Logon again (no 141): the session's MsgSeqNums
    continue and the missed events come right after the Logon reply."""
    async with fix_server(db_url) as (_live, client, port):
        a = await drop_copy_agent(client)
        c, _ = await logged_on(port, a)
        await a.place(BTC, "Bid", 10, 1)
        (r1,) = await c.reports(1)
        c.send("5")
        bye = await c.recv_type("5")
        await c.closed()
        await wait_for(lambda: sessions_connected(client, False))
        await a.place(BTC, "Bid", 11, 1)
        await a.place(BTC, "Bid", 12, 1)
        c2, reply = await reconnect(port, a, c)
        assert reply.type == "A" and reply.seq == bye.seq + 1
        got = await c2.reports(2)
        assert [m[9001] for m in got] == ["2", "3"] and r1[9001] == "1"
        assert [m.seq for m in got] == [reply.seq + 1, reply.seq + 2]
        (row,) = await sessions(client)
        assert row["lastAccountSeq"] == 3 and row["connected"] is True
        assert row["nextOutSeq"] == reply.seq + 3 and row["nextInSeq"] == c2.next_out
        await c2.close()


async def sessions_connected(client: httpx.AsyncClient, connected: bool) -> bool:
    rows = await sessions(client)
    return bool(rows) and all(r["connected"] is connected for r in rows)


async def test_server_restart_mid_session_continues_where_it_stood(db_url: str) -> None:
    """The server stops with a session logged on; after the restart the client logs on again
    with its next MsgSeqNum and gets the events committed since, numbered where it left off."""
    async with fix_server(db_url) as (_live, client, port):
        a = await drop_copy_agent(client)
        c, _ = await logged_on(port, a)
        await a.place(BTC, "Bid", 10, 1)
        (r1,) = await c.reports(1)
    await c.closed()
    async with fix_server(db_url) as (_live, client, port):
        a = OE(client, a.creds)
        a.payload_nonce = 10
        await a.place(BTC, "Bid", 11, 1)
        c2, reply = await reconnect(port, a, c)
        assert reply.type == "A" and reply.seq == r1.seq + 1
        (r2,) = await c2.reports(1)
        assert r2[9001] == "2" and r2.seq == reply.seq + 1
        await a.place(BTC, "Bid", 12, 1)
        (r3,) = await c2.reports(1)
        assert r3[9001] == "3" and r3.seq == r2.seq + 1
        await c2.close()


async def test_reset_seq_num_flag_starts_over(sqlite_url: str) -> None:
    """141=Y resets both MsgSeqNums to 1 and starts a new copy (from 9000 when given)."""
    async with fix_server(sqlite_url) as (_live, client, port):
        a = await drop_copy_agent(client)
        c, _ = await logged_on(port, a)
        await a.place(BTC, "Bid", 10, 1)
        await c.reports(1)
        await c.close()
        await wait_for(lambda: sessions_connected(client, False))
        c2, reply = await logged_on(port, a, reset=True, from_seq=1)
        assert reply.seq == 1 and reply[141] == "Y"
        (r,) = await c2.reports(1)
        assert r.seq == 2 and r[9001] == "1"
        await c2.close()


# --- resend and gaps -------------------------------------------------------------------------------
async def test_skip_makes_a_gap_the_client_recovers_with_resend_request(db_url: str) -> None:
    """The control API's skip withholds reports but their MsgSeqNums are taken; the client sees
    the jump, asks for the range and gets PossDup reports (43=Y, 122) with the same content."""
    async with fix_server(db_url) as (_live, client, port):
        a = await drop_copy_agent(client)
        c, _ = await logged_on(port, a)
        await a.place(BTC, "Bid", 10, 1)
        (r1,) = await c.reports(1)
        r = await client.post(
            f"/_admin/streams/order-entry/{a.account}/skip", json={"count": 2}, headers=ADMIN_HEADERS
        )
        assert r.status_code == 200, r.text
        for p in (11, 12, 13):
            await a.place(BTC, "Bid", p, 1)
        (r4,) = await c.reports(1)
        assert r4[9001] == "4" and r4.seq == r1.seq + 3  # two numbers skipped
        c.send("2", [(7, r1.seq + 1), (16, r1.seq + 2)])
        resent = await c.reports(2)
        assert [m.seq for m in resent] == [r1.seq + 1, r1.seq + 2]
        assert [m[9001] for m in resent] == ["2", "3"]
        assert all(m[43] == "Y" and m.get(122) for m in resent)
        events = await a.all_events()
        assert [report_tags(m) for m in resent] == expected_tags(a.account, events[1:3], await symbols(a))
        await c.close()


async def test_resend_request_gap_fills_admin_messages_and_repeats_reports(db_url: str) -> None:
    """ResendRequest 1..0: SequenceReset-GapFill over the Logon reply and heartbeats, each
    report again with 43=Y and the same body as the first time."""
    async with fix_server(db_url) as (_live, client, port):
        a = await drop_copy_agent(client)
        c, reply = await logged_on(port, a)
        await a.place(BTC, "Bid", 10, 1)
        first = await c.reports(1)
        c.send("1", [(112, "t1")])
        hb = await c.recv_type("0")
        await a.place(BTC, "Bid", 11, 1)
        first += await c.reports(1)
        c.send("2", [(7, 1), (16, 0)])
        got = [await c.recv() for _ in range(4)]
        assert [(m.type, m.seq) for m in got] == [
            ("4", 1),
            ("8", first[0].seq),
            ("4", hb.seq),
            ("8", first[1].seq),
        ]
        assert got[0][123] == "Y" and got[0][36] == str(reply.seq + 1) and got[0][43] == "Y"
        assert got[2][36] == str(hb.seq + 1)
        assert [report_tags(m) for m in (got[1], got[3])] == [report_tags(m) for m in first]
        await c.close()


async def test_resend_after_restart_is_rebuilt_from_sql(db_url: str) -> None:
    """After a restart the ring is empty: a resend still rebuilds the same reports (from SQL)."""
    async with fix_server(db_url) as (_live, client, port):
        a = await drop_copy_agent(client)
        b = await drop_copy_agent(client)
        c, _ = await logged_on(port, a)
        await trade(a, b)
        n = len(await a.all_events())
        before = await c.reports(n)
    await c.closed()
    async with fix_server(db_url) as (_live, client, port):
        c2, _ = await reconnect(port, a, c)
        c2.send("2", [(7, before[2].seq), (16, before[-1].seq)])
        again = await c2.reports(n - 2)
        assert [report_tags(m) for m in again] == [report_tags(m) for m in before[2:]]
        await c2.close()


# --- session rules ---------------------------------------------------------------------------------
async def test_application_messages_get_business_reject_380_3(db_url: str) -> None:
    """A NewOrderSingle on the read-only session → BusinessMessageReject 35=j 380=3; a
    ResendRequest without EndSeqNo → Reject 35=3 naming the missing tag; a TestRequest →
    Heartbeat carrying its 112."""
    async with fix_server(db_url) as (_live, client, port):
        a = await drop_copy_agent(client)
        c, _ = await logged_on(port, a)
        seq = c.send("D", [(11, "x"), (55, "BTC-USDC"), (54, 1), (38, 1), (40, 2), (44, 10)])
        j = await c.recv()
        assert (j.type, j[45], j[372], j[380]) == ("j", str(seq), "D", "3")
        seq = c.send("2", [(7, 1)])
        rej = await c.recv()
        assert (rej.type, rej[45], rej[373], rej[371]) == ("3", str(seq), "1", "16")
        c.send("1")
        rej = await c.recv()
        assert (rej.type, rej[371]) == ("3", "112")
        c.send("1", [(112, "abc")])
        hb = await c.recv()
        assert (hb.type, hb[112]) == ("0", "abc")
        await c.close()


async def test_garbled_messages_are_ignored(sqlite_url: str) -> None:
    """A frame with a wrong CheckSum or BodyLength is dropped without an answer; the next good
    message is served as usual."""
    async with fix_server(sqlite_url) as (_live, client, port):
        a = await drop_copy_agent(client)
        c, _ = await logged_on(port, a)
        c.send_raw(b"8=FIX.4.4\x019=5\x0135=0\x0110=000\x01")
        c.send_raw(b"8=FIX.4.4\x019=999\x0135=1\x01112=z\x0110=000\x01")
        c.send("1", [(112, "after-garbage")], seq=c.next_out)
        hb = await c.recv_type("0")
        assert hb[112] == "after-garbage"
        await c.close()


async def test_msg_seq_num_too_low_ends_the_session(sqlite_url: str) -> None:
    """A message numbered below the expected one without PossDup → Logout 58=MsgSeqNum too low."""
    async with fix_server(sqlite_url) as (_live, client, port):
        a = await drop_copy_agent(client)
        c, _ = await logged_on(port, a)
        c.send("0", seq=1)
        got = await c.closed()
        assert [(m.type, m.get(58)) for m in got] == [("5", "MsgSeqNum too low")]


async def test_msg_seq_num_too_high_makes_the_server_ask_for_a_resend(sqlite_url: str) -> None:
    """A jump in the client's numbers → the server's own ResendRequest from the expected one;
    the client's GapFill closes the gap and the session goes on."""
    async with fix_server(sqlite_url) as (_live, client, port):
        a = await drop_copy_agent(client)
        c, _ = await logged_on(port, a)
        expected = c.next_out
        c.send("0", seq=expected + 3)
        rr = await c.recv_type("2")
        assert (rr[7], rr[16]) == (str(expected), "0")
        c.send("4", [(123, "Y"), (36, expected + 4)], seq=expected, extra_header=[(43, "Y")])
        c.next_out = expected + 4
        c.send("1", [(112, "ok")])
        assert (await c.recv_type("0"))[112] == "ok"
        (row,) = await sessions(client)
        assert row["nextInSeq"] == expected + 5
        await c.close()


async def test_heartbeat_and_test_request_on_wall_time(sqlite_url: str) -> None:
    """HeartBtInt 1: the server heartbeats when idle, sends a TestRequest after 1.2 s of
    silence, and logs out when that goes unanswered for another second."""
    async with fix_server(sqlite_url) as (_live, client, port):
        a = await drop_copy_agent(client)
        c, _ = await logged_on(port, a, hb=1)
        got = await c.closed(wait=6)
        types = [m.type for m in got]
        assert "0" in types and "1" in types and types[-1] == "5"
        assert got[-1][58] == "no answer to TestRequest"


async def test_revocation_logs_the_session_out(db_url: str) -> None:
    """Revoking the key (control API) sends Logout 58=KEY_REVOKED and closes the session."""
    async with fix_server(db_url) as (_live, client, port):
        a = await drop_copy_agent(client)
        c, _ = await logged_on(port, a)
        r = await client.delete(f"/_admin/order-entry/agents/{a.creds.api_key_id}", headers=ADMIN_HEADERS)
        assert r.status_code == 200
        got = await c.closed()
        assert [(m.type, m.get(58)) for m in got] == [("5", "KEY_REVOKED")]
        await wait_for(lambda: sessions_connected(client, False))


async def test_control_api_disconnect_drops_the_fix_connection(sqlite_url: str) -> None:
    """POST …/disconnect on the account's stream closes its FIX connections too; the session
    continues on the next Logon."""
    async with fix_server(sqlite_url) as (_live, client, port):
        a = await drop_copy_agent(client)
        c, _ = await logged_on(port, a)
        r = await client.post(f"/_admin/streams/order-entry/{a.account}/disconnect", headers=ADMIN_HEADERS)
        assert r.status_code == 200
        await c.closed()
        (row,) = await sessions(client)
        assert row["connected"] is False and row["account"] == a.account
        assert row["senderCompId"] == "CLIENT1" and row["apiKeyId"] == a.creds.api_key_id


async def test_two_sessions_of_one_account_copy_the_same_reports(sqlite_url: str) -> None:
    """Two SenderCompIDs on one key: each gets every report, with identical bodies."""
    async with fix_server(sqlite_url) as (_live, client, port):
        a = await drop_copy_agent(client)
        c1, _ = await logged_on(port, a, sender="ONE")
        c2, _ = await logged_on(port, a, sender="TWO")
        for p in (10, 11, 12):
            await a.place(BTC, "Bid", p, 1)
        r1, r2 = await asyncio.gather(c1.reports(3), c2.reports(3))
        assert [report_tags(m) for m in r1] == [report_tags(m) for m in r2]
        assert len(await sessions(client)) == 2
        await c1.close()
        await c2.close()


async def test_a_control_api_reset_starts_the_session_over(db_url: str) -> None:
    """After a reset wiped the streams (and refilled the account's past the session's position),
    the next Logon starts the session over: Logon reply 34=1 with 141=Y, copy from the next event."""
    async with fix_server(db_url) as (_live, client, port):
        assert (
            await client.post("/_admin/reset", json={"seed": "demo"}, headers=ADMIN_HEADERS)
        ).status_code == 200
        r = await client.get("/_admin/order-entry/agents", headers=ADMIN_HEADERS)
        demo = next(x for x in r.json()["agents"] if "drop_copy" in x["scopes"] and x["demo"])
        creds = Creds(demo["apiKeyId"], "", "", demo["account"], demo["scopes"])
        creds.api_secret, creds.api_passphrase = DEMO[demo["apiKeyId"]]
        a = OE(client, creds)
        c, _ = await logged_on(port, a)
        await a.place(BTC, "Bid", 10, 1)
        await c.reports(1)
        await c.close()
        await wait_for(lambda: sessions_connected(client, False))
        assert (
            await client.post("/_admin/reset", json={"seed": "demo"}, headers=ADMIN_HEADERS)
        ).status_code == 200
        a = OE(client, creds)
        for p in (11, 12):
            await a.place(BTC, "Bid", p, 1)
        c2, reply = await reconnect(port, a, c)
        assert reply.seq == 1 and reply[141] == "Y"
        await a.place(BTC, "Bid", 13, 1)
        (r,) = await c2.reports(1)
        assert (r.seq, r[9001]) == (2, "3")
        await c2.close()


DEMO = {
    "spk_demo_trader_a": ("sps_demo_secret_trader_a", "spp_demo_pass_a"),
    "spk_demo_trader_b": ("sps_demo_secret_trader_b", "spp_demo_pass_b"),
}


async def test_a_session_that_falls_behind_catches_up_without_loss(sqlite_url: str) -> None:
    """With a subscriber queue of 16, bursts of 100 events overflow the session's live queue:
    it catches up from the ring instead of losing events (no gap in MsgSeqNums or account seqs)."""
    async with fix_server(sqlite_url, subscriber_queue_max=16) as (_live, client, port):
        a = await drop_copy_agent(client)
        c, _ = await logged_on(port, a)
        for _ in range(3):
            r = await a.batch(
                [
                    a.action(
                        "SpotPlaceOrder",
                        {"market": BTC, "side": "Bid", "price": 5, "qty": 1, "timeInForce": "ioc"},
                    )
                    for _ in range(50)
                ]
            )
            assert r.status_code == 200, r.text
        n = await head(a)
        got = await c.reports(n)
        assert [int(m[9001]) for m in got] == list(range(1, n + 1))
        assert [m.seq for m in got] == list(range(2, n + 2))
        await c.close()
