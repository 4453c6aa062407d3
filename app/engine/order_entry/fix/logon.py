"""The checks of a client's Logon (CONTRACT §4.6), in the order they are made. Pure.

`check(msg, comp_id, venue, now_ms)` returns the accepted `Logon` or raises `Refused(code)`;
the session answers a refusal with Logout `58=<code>` (MsgSeqNum 1) and closes, changing no
state.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.engine.order_entry.fix.codec import SOH, Message, parse_utc_timestamp
from app.engine.order_entry.fix.venue import Key, Venue

SKEW_MS = 30_000
SCOPE = "drop_copy"


class Refused(Exception):
    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(code)
        self.code = code
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Logon:
    sender: str  # the client's SenderCompID (our TargetCompID)
    key: Key
    seq: int
    heartbeat_s: int
    reset: bool  # 141=Y
    from_seq: int | None  # 9000=N


def signed_bytes(msg: Message) -> bytes:
    """52 SendingTime, "A", 34 MsgSeqNum, 49 SenderCompID, 56 TargetCompID, as the Logon carries them."""
    parts = [msg.raw_value(52), b"A", msg.raw_value(34), msg.raw_value(49), msg.raw_value(56)]
    return SOH.join(p or b"" for p in parts)


def check(msg: Message, comp_id: str, venue: Venue, now_ms: int) -> Logon:
    if msg.msg_type != "A":
        raise Refused("LOGON_REQUIRED", "the first message of a session must be a Logon (35=A)")
    if msg.get(8) != "FIX.4.4":
        raise Refused("WRONG_BEGIN_STRING", "BeginString must be FIX.4.4")
    if msg.get(56) != comp_id:
        raise Refused("WRONG_TARGET_COMP_ID", f"TargetCompID must be {comp_id}")
    key_id, passphrase, raw_data = msg.get(553), msg.get(554), msg.raw_value(96)
    sender, seq, sending = msg.get(49), msg.int_value(34), msg.get(52)
    if not key_id or not passphrase or not raw_data or not sender or seq is None or not sending:
        raise Refused("MISSING_AUTH", "553, 554, 96 (and 49, 34, 52) are required")
    hb = msg.int_value(108)
    if hb is None or not 1 <= hb <= 300:
        raise Refused("INVALID_HEARTBTINT", "108 HeartBtInt must be 1-300")
    key = venue.key(key_id)
    if key is None or key.revoked:
        raise Refused("INVALID_KEY", "unknown or revoked API key")
    if not key.passphrase_ok(passphrase):
        raise Refused("INVALID_PASSPHRASE", "wrong passphrase")
    if not key.signature_ok(signed_bytes(msg), raw_data):
        raise Refused("INVALID_SIGNATURE", "96 RawData is not the HMAC of 52|A|34|49|56")
    sent_ms = parse_utc_timestamp(sending)
    if sent_ms is None or abs(now_ms - sent_ms) > SKEW_MS:
        raise Refused("TIMESTAMP_SKEW", "SendingTime is more than 30 s from server time")
    if SCOPE not in key.scopes:
        raise Refused("SCOPE_REQUIRED", "the key lacks the drop_copy scope")
    from_seq = msg.int_value(9000)
    return Logon(
        sender=sender,
        key=key,
        seq=seq,
        heartbeat_s=hb,
        reset=msg.get(141) == "Y",
        from_seq=max(from_seq, 1) if from_seq is not None else None,
    )
