"""FIX 4.4 framing: split a byte stream into messages (BodyLength and CheckSum checked), parse
them into tag/value pairs, and encode outgoing messages. Pure, no I/O.

Parsing and admin-message encoding go through `simplefix`; the framing checks are our own
(simplefix frames on BodyLength but checks neither it nor the CheckSum), and the hot path —
an ExecutionReport whose body is rendered once per event and copied to every session — is a
byte concatenation with the CheckSum computed here.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import simplefix

SOH = b"\x01"
BEGIN = b"8=FIX.4.4"
MAX_MESSAGE = 65_536  # a BodyLength beyond this is garbage, not a message


class Garbled(Exception):
    """Bytes that are not a well-framed FIX message (ignored, as the session rules say)."""


class Message:
    """A parsed message: ordered (tag, value) pairs with first-occurrence lookup."""

    __slots__ = ("_first", "fields", "raw")

    def __init__(self, fields: list[tuple[int, bytes]], raw: bytes) -> None:
        self.fields = fields
        self.raw = raw
        first: dict[int, bytes] = {}
        for tag, value in fields:
            first.setdefault(tag, value)
        self._first = first

    def get(self, tag: int) -> str | None:
        v = self._first.get(tag)
        return None if v is None else v.decode("latin-1")

    def raw_value(self, tag: int) -> bytes | None:
        return self._first.get(tag)

    @property
    def msg_type(self) -> str | None:
        return self.get(35)

    def int_value(self, tag: int) -> int | None:
        """The tag as a non-negative integer; None when absent or not an integer."""
        v = self._first.get(tag)
        if v is None or not v.isdigit():
            return None
        return int(v)


def checksum(data: bytes) -> bytes:
    return b"%03d" % (sum(data) % 256)


class Framer:
    """Feed bytes, take whole messages. A garbled frame is skipped up to the next `8=`."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.garbled = 0

    def feed(self, data: bytes) -> None:
        self.buf.extend(data)

    def messages(self) -> list[Message]:
        out: list[Message] = []
        while True:
            try:
                frame = self._next_frame()
            except Garbled:
                self.garbled += 1
                continue
            if frame is None:
                return out
            out.append(parse(frame))

    def _drop_to_next_begin(self, start: int) -> None:
        at = self.buf.find(b"8=", start)
        # a message begins after an SOH (or at the buffer's start)
        while at > 0 and self.buf[at - 1] != 1:
            at = self.buf.find(b"8=", at + 1)
        if at < 0:
            keep = 1 if self.buf.endswith(b"8") else 0
            del self.buf[: len(self.buf) - keep]
        else:
            del self.buf[:at]

    def _next_frame(self) -> bytes | None:
        buf = self.buf
        if not buf:
            return None
        if not buf.startswith(b"8="):
            self._drop_to_next_begin(0)
            if not buf:
                return None
        end_begin = buf.find(SOH)
        if end_begin < 0:
            if len(buf) > 64:
                self._drop_to_next_begin(1)
                raise Garbled("no BeginString terminator")
            return None
        # 9=BodyLength must follow at once
        len_end = buf.find(SOH, end_begin + 1)
        if len_end < 0:
            if len(buf) - end_begin > 16:
                self._drop_to_next_begin(1)
                raise Garbled("no BodyLength")
            return None
        tag9 = bytes(buf[end_begin + 1 : len_end])
        if not tag9.startswith(b"9=") or not tag9[2:].isdigit() or int(tag9[2:]) > MAX_MESSAGE:
            self._drop_to_next_begin(1)
            raise Garbled("bad BodyLength")
        body_len = int(tag9[2:])
        body_start = len_end + 1
        trailer = body_start + body_len
        # a message that begins inside the declared body: the BodyLength is wrong
        inner = buf.find(b"\x018=FIX", body_start, trailer + 6)
        if inner >= 0:
            del buf[: inner + 1]
            raise Garbled("BodyLength runs into the next message")
        if len(buf) < trailer + 7:
            return None
        if buf[trailer : trailer + 3] != b"10=" or buf[trailer + 6] != 1:
            self._drop_to_next_begin(1)
            raise Garbled("BodyLength does not end at the CheckSum")
        if bytes(buf[trailer + 3 : trailer + 6]) != checksum(bytes(buf[:trailer])):
            del buf[: trailer + 7]
            raise Garbled("bad CheckSum")
        frame = bytes(buf[: trailer + 7])
        del buf[: trailer + 7]
        return frame


def parse(frame: bytes) -> Message:
    """A framed message into its fields (simplefix's parser; tags that are not integers dropped)."""
    parser = simplefix.FixParser()
    parser.append_buffer(frame)
    msg = parser.get_message()
    fields: list[tuple[int, bytes]] = []
    if msg is not None:
        for tag, value in msg.pairs:
            if tag.isdigit():
                fields.append((int(tag), bytes(value)))
    return Message(fields, frame)


_SECOND: list[Any] = [None, b""]  # the last second formatted: (epoch s, b"YYYYMMDD-HH:MM:SS")


def utc_timestamp(ms: int) -> bytes:
    """UTCTimestamp with milliseconds: YYYYMMDD-HH:MM:SS.sss."""
    sec = ms // 1000
    if _SECOND[0] != sec:
        t = time.gmtime(sec)
        _SECOND[0] = sec
        _SECOND[1] = b"%04d%02d%02d-%02d:%02d:%02d" % (
            t.tm_year,
            t.tm_mon,
            t.tm_mday,
            t.tm_hour,
            t.tm_min,
            t.tm_sec,
        )
    return b"%s.%03d" % (_SECOND[1], ms % 1000)


def parse_utc_timestamp(value: str) -> int | None:
    """UTCTimestamp (with or without fractions) → epoch ms; None when malformed."""
    import calendar

    try:
        date, clock = value.split("-", 1)
        hms, _, frac = clock.partition(".")
        h, m, s = (int(x) for x in hms.split(":"))
        if len(date) != 8 or not date.isdigit():
            return None
        secs = calendar.timegm((int(date[:4]), int(date[4:6]), int(date[6:8]), h, m, s, 0, 0, 0))
        ms = int((frac + "000")[:3]) if frac else 0
        if frac and not frac.isdigit():
            return None
        return secs * 1000 + ms
    except ValueError:
        return None


def frame(header_and_body: bytes) -> bytes:
    """`35=…` onwards (each field SOH-terminated) → the whole message with 8, 9 and 10."""
    head = b"8=FIX.4.4\x019=%d\x01" % len(header_and_body)
    msg = head + header_and_body
    return msg + b"10=" + checksum(msg) + SOH


def encode_admin(
    msg_type: str,
    seq: int,
    sender: str,
    target: str,
    sending_ms: int,
    fields: Iterable[tuple[int, bytes | str | int]] = (),
    *,
    poss_dup: bool = False,
    orig_sending_ms: int | None = None,
) -> bytes:
    """An administrative (or BusinessMessageReject) message, encoded by simplefix."""
    msg = simplefix.FixMessage()
    msg.append_pair(8, "FIX.4.4", header=True)
    msg.append_pair(35, msg_type, header=True)
    msg.append_pair(34, seq, header=True)
    msg.append_pair(49, sender, header=True)
    msg.append_pair(56, target, header=True)
    msg.append_pair(52, utc_timestamp(sending_ms), header=True)
    if poss_dup:
        msg.append_pair(43, "Y", header=True)
        msg.append_pair(
            122, utc_timestamp(orig_sending_ms if orig_sending_ms is not None else sending_ms), header=True
        )
    for tag, value in fields:
        msg.append_pair(tag, value)
    return bytes(msg.encode())


def header(
    msg_type: bytes, seq: int, sender: bytes, target: bytes, sending: bytes, orig_sending: bytes | None = None
) -> bytes:
    """The standard header after BodyLength, for the hand-encoded hot path."""
    h = b"35=%s\x0134=%d\x0149=%s\x0156=%s\x0152=%s\x01" % (msg_type, seq, sender, target, sending)
    if orig_sending is not None:
        h += b"43=Y\x01122=%s\x01" % orig_sending
    return h
