"""The FIX framing and the ExecutionReport body, without a server: BodyLength and CheckSum are
checked (a garbled frame is dropped, the next good one survives), AvgPx is exact, a REPLACED
event's OrdStatus follows its fills, and unknown values are left out."""

from __future__ import annotations

from typing import Any

from app.engine.order_entry.fix.codec import Framer, frame
from app.engine.order_entry.fix.report import AvgPx, render
from app.engine.order_entry.fix.venue import Venue


def good(seq: int) -> bytes:
    return frame(b"35=0\x0134=%d\x0149=C\x0156=REFSERVER\x0152=20260101-00:00:00.000\x01" % seq)


def test_garbled_frames_are_dropped_and_the_next_good_one_is_kept() -> None:
    """Bad CheckSum, BodyLength too short, BodyLength too long, junk before BeginString: each
    dropped; the good messages around them come out whole, also when fed byte by byte."""
    bad_sum = good(2)[:-4] + b"000\x01"
    short = good(3).replace(b"9=", b"9=1", 1)
    long = b"8=FIX.4.4\x019=500\x0135=0\x0134=4\x0110=000\x01"
    stream = good(1) + bad_sum + short + b"junk" + long + good(5)
    for chunks in ([stream], [stream[i : i + 1] for i in range(len(stream))]):
        f = Framer()
        seqs = []
        for chunk in chunks:
            f.feed(chunk)
            seqs += [m.int_value(34) for m in f.messages()]
        assert seqs == [1, 5]
        assert f.garbled >= 2


def event(**kw: Any) -> dict[str, Any]:
    d: dict[str, Any] = {
        "seq": 1,
        "clientOrderId": None,
        "orderId": "o1",
        "status": "NEW",
        "filledQty": 0,
        "cumQty": 0,
        "leavesQty": 3,
        "fillId": None,
        "fillPrice": None,
        "rejectCode": None,
        "market": 1,
        "shard": 0,
        "engineTsMs": 1_700_000_000_123,
        "side": "Bid",
        "price": 100,
        "qty": 3,
    }
    d.update(kw)
    return d


def tags(body: bytes) -> dict[int, str]:
    return {int(t): v for t, _, v in (p.decode().partition("=") for p in body.split(b"\x01") if p)}


def test_avg_px_is_exact_and_replace_status_follows_fills() -> None:
    """Two fills at 100 and 101 for 1 and 2 → AvgPx 100.66666667; a REPLACED event after a
    fill has OrdStatus 1, before any fill 0; null ClOrdID is NONE."""
    avg = AvgPx()
    acct = "0x" + "a" * 40
    sym = Venue.symbol
    replaced0 = tags(render(acct, 1, event(status="REPLACED"), avg, sym))
    assert (replaced0[150], replaced0[39], replaced0[11], replaced0[6]) == ("5", "0", "NONE", "0")
    f1 = tags(
        render(
            acct,
            2,
            event(status="PARTIALLY_FILLED", filledQty=1, cumQty=1, fillPrice=100, fillId="f1"),
            avg,
            sym,
        )
    )
    assert (f1[150], f1[39], f1[31], f1[880], f1[6]) == ("F", "1", "100", "f1", "100")
    f2 = tags(
        render(acct, 3, event(status="FILLED", filledQty=2, cumQty=3, leavesQty=0, fillPrice=101), avg, sym)
    )
    assert (f2[39], f2[6], f2[55], f2[54], f2[60]) == (
        "2",
        "100.66666667",
        "BTC-USDC",
        "1",
        "20231114-22:13:20.123",
    )
    replaced1 = tags(render(acct, 4, event(status="REPLACED", cumQty=1), AvgPx(), sym))
    assert replaced1[39] == "1"


def test_a_refused_action_leaves_unknown_tags_out() -> None:
    """A REJECTED event for an unknown market, without side/price/qty: no 55, 54, 38, 44,
    9002; 103=99 and 58=<rejectCode>."""
    d = event(
        status="REJECTED",
        orderId=None,
        market=99,
        shard=None,
        side=None,
        price=None,
        qty=None,
        leavesQty=0,
        rejectCode="UNKNOWN_MARKET",
    )
    t = tags(render("0x" + "b" * 40, 7, d, AvgPx(), Venue.symbol))
    assert not {55, 54, 38, 44, 9002} & set(t)
    assert (t[37], t[150], t[39], t[103], t[58], t[9001]) == ("NONE", "8", "8", "99", "UNKNOWN_MARKET", "7")
