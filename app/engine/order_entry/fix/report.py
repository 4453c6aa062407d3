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

from app.engine.order_entry.fix.codec import utc_timestamp

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


def render(account: str, seq: int, d: dict[str, Any], avg: AvgPx, symbol: Symbol) -> bytes:
    """The ExecutionReport body (tags after the header) of event `seq` with §4.4 data `d`."""
    status = d.get("status")
    oid = d.get("orderId")
    coid = d.get("clientOrderId")
    parts = [
        b"1=%s\x0137=%s\x0111=%s\x0117=%s-%d\x01"
        % (
            account.encode(),
            str(oid).encode() if oid else b"NONE",
            str(coid).encode() if coid else b"NONE",
            account.encode(),
            seq,
        )
    ]
    exec_type = EXEC_TYPE.get(status) if isinstance(status, str) else None
    if exec_type is not None:
        if status == "REPLACED":
            ord_status = b"1" if (d.get("cumQty") or 0) > 0 else b"0"
        else:
            ord_status = ORD_STATUS[status]  # type: ignore[index]
        parts.append(b"150=%s\x0139=%s\x01" % (exec_type, ord_status))
    sym = symbol(d.get("market"))
    if sym is not None:
        parts.append(b"55=%s\x01" % sym.encode())
    side = SIDE.get(d.get("side"))  # type: ignore[arg-type]
    if side is not None:
        parts.append(b"54=%s\x01" % side)
    for tag, key in _QTY_TAGS:
        v = d.get(key)
        if _int(v):
            parts.append(b"%s=%d\x01" % (tag, v))
    parts.append(b"6=%s\x01" % avg.observe(d))
    ts = d.get("engineTsMs")
    if _int(ts):
        parts.append(b"60=%s\x01" % utc_timestamp(ts))
    fill_id = d.get("fillId")
    if fill_id is not None:
        parts.append(b"880=%s\x01" % str(fill_id).encode())
    if status == "REJECTED":
        parts.append(b"103=99\x01")
        if d.get("rejectCode"):
            parts.append(b"58=%s\x01" % str(d["rejectCode"]).encode())
    parts.append(b"9001=%d\x01" % seq)
    shard = d.get("shard")
    if _int(shard):
        parts.append(b"9002=%d\x01" % shard)
    return b"".join(parts)


_QTY_TAGS = (
    (b"38", "qty"),
    (b"44", "price"),
    (b"32", "filledQty"),
    (b"31", "fillPrice"),
    (b"151", "leavesQty"),
    (b"14", "cumQty"),
)
