"""Input checks of the Order Entry venue (CONTRACT §4.2, §6 "Limits"): integers are bounded
where they are parsed; a bad action is its own INVALID_ORDER, a bad batch or read is a 400."""

from __future__ import annotations

from typing import Any

import pytest

from app.engine.errors import InvalidInput
from app.engine.order_entry import validate
from app.engine.order_entry.validate import Reject

BIG = 2**63


def item(nonce: Any = 1, ts: Any = 1, action: Any = None) -> dict[str, Any]:
    return {
        "payload": {
            "account": "0x" + "a" * 40,
            "nonce": nonce,
            "ts": ts,
            "action": action or {"SpotCancelAll": {}},
        },
        "signature": {"scheme": "s", "bytes": "0x00"},
    }


@pytest.mark.parametrize("nonce", [BIG, 2**64, 0, -1, True, 1.5, "1"])
def test_payload_nonce_outside_int64_is_invalid_order(nonce: Any) -> None:
    """Regression: a nonce of 2^63 reached the database (503, state rebuilt)."""
    with pytest.raises(Reject) as err:
        validate.envelope(item(nonce=nonce))
    assert err.value.code == "INVALID_ORDER"


def test_refused_envelope_keeps_the_client_order_id() -> None:
    """A refusal before the action is read still echoes its clientOrderId (§6)."""
    with pytest.raises(Reject) as err:
        validate.envelope(item(nonce=BIG, action={"SpotPlaceOrder": {"clientOrderId": "c1"}}))
    assert err.value.coid == "c1"


@pytest.mark.parametrize(
    "body",
    [
        {"market": BIG, "side": "Bid", "price": 1, "qty": 1},
        {"market": 1, "side": "Bid", "price": BIG, "qty": 1},
        {"market": 1, "side": "Bid", "price": 1, "qty": BIG},
        {"market": "9" * 5000, "side": "Bid", "price": 1, "qty": 1},
    ],
)
def test_place_fields_outside_their_range_are_invalid_order(body: dict[str, Any]) -> None:
    with pytest.raises(Reject) as err:
        validate.place(body)
    assert err.value.code in ("INVALID_ORDER", "UNKNOWN_MARKET")
    if body["market"] == BIG:
        assert err.value.code == "INVALID_ORDER"


@pytest.mark.parametrize(
    ("from_seq", "limit"), [(BIG, None), (2**64, None), (None, BIG), (None, 0), (-1, None)]
)
def test_gap_fill_bounds(from_seq: Any, limit: Any) -> None:
    with pytest.raises(InvalidInput):
        validate.gap_fill(from_seq, limit)


def test_stream_position() -> None:
    assert validate.stream_position(None) is None
    assert validate.stream_position("5") == 5
    assert validate.stream_position(BIG - 1) == BIG - 1
    assert isinstance(validate.stream_position(BIG), str)
    assert isinstance(validate.stream_position(str(2**64)), str)
    assert isinstance(validate.stream_position(True), str)
