"""An execution event (CONTRACT §4.4) as the body of a FIX 4.4 ExecutionReport (§4.6). Pure.

The body is everything after the standard header, so it is rendered once per event and
copied to every session (each adds its own MsgSeqNum, CompIDs and SendingTime). The only tag
that depends on more than the event is AvgPx (6): it needs the order's earlier fills, which
`AvgPx` accumulates while events are rendered in account-seq order; a caller that starts in the
middle of an order's life first feeds it the order's earlier fills (`AvgPx.missing`).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeGuard

import orjson

from app.engine.order_entry.fix.codec import encode_fields, utc_timestamp

EXEC_TYPE = {
    "NEW": b"0",
    "PARTIALLY_FILLED": b"F",
    "FILLED": b"F",
    "CANCELED": b"4",
    "REPLACED": b"5",
    "REJECTED": b"8",
    "EXPIRED": b"C",
}
ORD_STATUS = {
    "NEW": b"0",
    "PARTIALLY_FILLED": b"1",
    "FILLED": b"2",
    "CANCELED": b"4",
    "REJECTED": b"8",
    "EXPIRED": b"C",
}
SIDE = {"Bid": b"1", "Ask": b"2"}
TERMINAL = frozenset(("FILLED", "CANCELED", "REJECTED", "EXPIRED"))
_AVG_PLACES = Decimal("0.00000001")

Symbol = Callable[[Any], str | None]


def event_fields(raw: bytes) -> tuple[str | None, dict[str, Any]]:
    """(account, §4.4 data) of one stored execution-event frame."""
    frame = orjson.loads(raw)
    data = frame.get("data") if isinstance(frame, dict) else None
    account = frame.get("account") if isinstance(frame, dict) else None
    return (account if isinstance(account, str) else None), (data if isinstance(data, dict) else {})


def _int(v: Any) -> TypeGuard[int]:
    return isinstance(v, int) and not isinstance(v, bool)


class AvgPx:
    """Per order: (Σ fillPrice × filledQty, Σ filledQty) of the fills seen so far."""

    def __init__(self) -> None:
        self.orders: dict[str, list[int]] = {}

    def missing(self, data: dict[str, Any]) -> int:
        """How much of this order's cumQty, before this event, was filled by events not yet seen."""
        oid = data.get("orderId")
        cum, filled = data.get("cumQty"), data.get("filledQty")
        if not isinstance(oid, str) or not _int(cum) or not _int(filled):
            return 0
        seen = self.orders.get(oid)
        return max(0, cum - filled - (seen[1] if seen else 0))

    def add_fill(self, data: dict[str, Any]) -> None:
        oid, px, qty = data.get("orderId"), data.get("fillPrice"), data.get("filledQty")
        if isinstance(oid, str) and _int(px) and _int(qty) and qty > 0:
            acc = self.orders.setdefault(oid, [0, 0])
            acc[0] += px * qty
            acc[1] += qty

    def observe(self, data: dict[str, Any]) -> bytes:
        """Account for this event's fill; the order's AvgPx after it (`0` before any fill)."""
        self.add_fill(data)
        oid = data.get("orderId")
        acc = self.orders.get(oid) if isinstance(oid, str) else None
        if acc is None or acc[1] == 0:
            avg = b"0"
        else:
            notional, qty = acc
            if notional % qty == 0:
                avg = b"%d" % (notional // qty)
            else:
                d = (Decimal(notional) / Decimal(qty)).quantize(_AVG_PLACES).normalize()
                avg = format(d, "f").encode()
        if data.get("status") in TERMINAL and isinstance(oid, str):
            self.orders.pop(oid, None)
        return avg


def render(account: str, seq: int, raw: bytes, avg: AvgPx, symbol: Symbol) -> bytes:
    """The ExecutionReport body (tags after the header) of the event `seq` whose frame is `raw`."""
    ev_account, d = event_fields(raw)
    account = ev_account or account
    status = d.get("status")
    fields: list[tuple[int, bytes | str | int]] = [
        (1, account),
        (37, d.get("orderId") or "NONE"),
        (11, d.get("clientOrderId") or "NONE"),
        (17, f"{account}-{seq}"),
    ]
    if status in EXEC_TYPE:
        fields.append((150, EXEC_TYPE[status]))
        if status == "REPLACED":
            fields.append((39, b"1" if (d.get("cumQty") or 0) > 0 else b"0"))
        else:
            fields.append((39, ORD_STATUS[status]))
    sym = symbol(d.get("market"))
    if sym is not None:
        fields.append((55, sym))
    side = SIDE.get(d.get("side"))  # type: ignore[arg-type]
    if side is not None:
        fields.append((54, side))
    for tag, key in ((38, "qty"), (44, "price"), (32, "filledQty")):
        v = d.get(key)
        if _int(v):
            fields.append((tag, v))
    fill_px = d.get("fillPrice")
    if _int(fill_px):
        fields.append((31, fill_px))
    for tag, key in ((151, "leavesQty"), (14, "cumQty")):
        v = d.get(key)
        if _int(v):
            fields.append((tag, v))
    fields.append((6, avg.observe(d)))
    ts = d.get("engineTsMs")
    if _int(ts):
        fields.append((60, utc_timestamp(ts)))
    fill_id = d.get("fillId")
    if fill_id is not None:
        fields.append((880, str(fill_id)))
    if status == "REJECTED":
        fields.append((103, b"99"))
        if d.get("rejectCode"):
            fields.append((58, str(d["rejectCode"])))
    fields.append((9001, seq))
    shard = d.get("shard")
    if _int(shard):
        fields.append((9002, shard))
    return encode_fields(fields)
