"""An independent FIX 4.4 client for the drop-copy tests: its own framing, checksum and
signing, written from CONTRACT §4.6 and the FIX 4.4 session rules, sharing no code with the
server. The tests here check the client against hand-computed frames."""

from __future__ import annotations

import asyncio
import base64
import calendar
import hashlib
import hmac
import time
from dataclasses import dataclass, field
from typing import Any

SOH = "\x01"


def encode(fields: list[tuple[int, Any]]) -> bytes:
    """35… fields → a whole message with BeginString, BodyLength and CheckSum."""
    body = "".join(f"{t}={v}{SOH}" for t, v in fields)
    head = f"8=FIX.4.4{SOH}9={len(body.encode())}{SOH}"
    total = (head + body).encode()
    return total + f"10={sum(total) % 256:03d}{SOH}".encode()


def sending_time(ms: int | None = None) -> str:
    ms = int(time.time() * 1000) if ms is None else ms
    return time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}"


def parse_time(value: str) -> int:
    date, clock = value.split("-")
    hms, frac = clock.split(".")
    h, m, s = (int(x) for x in hms.split(":"))
    secs = calendar.timegm((int(date[:4]), int(date[4:6]), int(date[6:]), h, m, s, 0, 0, 0))
    return secs * 1000 + int(frac)


@dataclass
class Msg:
    pairs: list[tuple[int, str]]
    raw: bytes
    tags: dict[int, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for t, v in self.pairs:
            self.tags.setdefault(t, v)

    @property
    def type(self) -> str:
        return self.tags[35]

    @property
    def seq(self) -> int:
        return int(self.tags[34])

    def __getitem__(self, tag: int) -> str:
        return self.tags[tag]

    def get(self, tag: int) -> str | None:
        return self.tags.get(tag)

    def body(self) -> list[tuple[int, str]]:
        """Every field but the framing and the per-send header fields."""
        skip = {8, 9, 10, 34, 43, 52, 122, 49, 56}
        return [(t, v) for t, v in self.pairs if t not in skip]


def split_frames(buf: bytearray) -> list[Msg]:
    """Whole messages off the front of `buf`; asserts the server's BodyLength and CheckSum."""
    out: list[Msg] = []
    while True:
        if not buf:
            return out
        assert buf.startswith(b"8=FIX.4.4\x019="), bytes(buf[:40])
        len_end = buf.index(b"\x01", 12) if b"\x01" in buf[12:] else -1
        if len_end < 0:
            return out
        body_len = int(buf[12:len_end])
        end = len_end + 1 + body_len
        if len(buf) < end + 7:
            return out
        frame = bytes(buf[: end + 7])
        assert frame[end : end + 3] == b"10=", frame
        assert int(frame[end + 3 : end + 6]) == sum(frame[:end]) % 256, frame
        del buf[: end + 7]
        pairs = []
        for part in frame.decode("latin-1").split(SOH)[:-1]:
            t, _, v = part.partition("=")
            pairs.append((int(t), v))
        out.append(Msg(pairs, frame))


class FixClient:
    def __init__(self, sender: str = "CLIENT1", target: str = "REFSERVER") -> None:
        self.sender = sender
        self.target = target
        self.next_out = 1
        self.buf = bytearray()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.inbox: list[Msg] = []

    async def connect(self, port: int) -> FixClient:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", port)
        return self

    def send_raw(self, data: bytes) -> None:
        assert self.writer is not None
        self.writer.write(data)

    def send(
        self,
        msg_type: str,
        fields: list[tuple[int, Any]] = (),
        *,
        seq: int | None = None,
        extra_header: list[tuple[int, Any]] = (),
    ) -> int:  # type: ignore[assignment]
        if seq is None:
            seq = self.next_out
            self.next_out += 1
        head = [
            (35, msg_type),
            (34, seq),
            (49, self.sender),
            (56, self.target),
            (52, sending_time()),
            *extra_header,
        ]
        self.send_raw(encode(head + list(fields)))
        return seq

    def logon_fields(
        self,
        key: str,
        secret: str,
        passphrase: str,
        *,
        hb: int = 30,
        reset: bool = False,
        from_seq: int | None = None,
        ts_ms: int | None = None,
        seq: int | None = None,
        bad_signature: bool = False,
        omit: tuple[int, ...] = (),
        begin: str = "FIX.4.4",
    ) -> bytes:
        seq = self.next_out if seq is None else seq
        st = sending_time(ts_ms)
        signed = SOH.join([st, "A", str(seq), self.sender, self.target]).encode()
        raw = base64.b64encode(hmac.new(secret.encode(), signed, hashlib.sha256).digest()).decode()
        if bad_signature:
            raw = base64.b64encode(b"x" * 32).decode()
        fields: list[tuple[int, Any]] = [
            (35, "A"),
            (34, seq),
            (49, self.sender),
            (56, self.target),
            (52, st),
            (98, 0),
            (108, hb),
            (553, key),
            (554, passphrase),
            (95, len(raw)),
            (96, raw),
        ]
        if reset:
            fields.append((141, "Y"))
        if from_seq is not None:
            fields.append((9000, from_seq))
        fields = [(t, v) for t, v in fields if t not in omit]
        data = encode(fields)
        if begin != "FIX.4.4":
            body = data[data.index(b"\x0135=") + 1 : data.rindex(b"10=")]
            head = f"8={begin}{SOH}9={len(body)}{SOH}".encode()
            data = head + body + f"10={sum(head + body) % 256:03d}{SOH}".encode()
        return data

    def logon(self, creds: Any, **kw: Any) -> None:
        self.send_raw(self.logon_fields(creds.api_key_id, creds.api_secret, creds.api_passphrase, **kw))
        self.next_out += 1

    async def recv(self, wait: float = 5.0) -> Msg:
        assert self.reader is not None
        async with asyncio.timeout(wait):
            while not self.inbox:
                self.inbox.extend(split_frames(self.buf))
                if self.inbox:
                    break
                data = await self.reader.read(65536)
                if not data:
                    raise ConnectionError("closed by the server")
                self.buf.extend(data)
        return self.inbox.pop(0)

    async def recv_type(self, msg_type: str, wait: float = 5.0) -> Msg:
        """The next message of that type (heartbeats and other types are skipped)."""
        async with asyncio.timeout(wait):
            while True:
                m = await self.recv(wait)
                if m.type == msg_type:
                    return m

    async def reports(self, n: int, wait: float = 10.0) -> list[Msg]:
        out: list[Msg] = []
        async with asyncio.timeout(wait):
            while len(out) < n:
                m = await self.recv(wait)
                if m.type == "8":
                    out.append(m)
        return out

    async def closed(self, wait: float = 5.0) -> list[Msg]:
        """Everything until the server closes the connection."""
        got: list[Msg] = []
        try:
            while True:
                got.append(await self.recv(wait))
        except ConnectionError:
            return got

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except (ConnectionError, OSError):
                pass


def test_client_frames_with_the_fix_checksum() -> None:
    """The client's encoder: BodyLength counts from 35 to the SOH before 10, CheckSum is the
    byte sum modulo 256 (a heartbeat computed by hand)."""
    data = encode([(35, "0"), (34, 2), (49, "A"), (56, "B"), (52, "20260101-00:00:00.000")])
    body = b"35=0\x0134=2\x0149=A\x0156=B\x0152=20260101-00:00:00.000\x01"
    assert data.startswith(b"8=FIX.4.4\x019=%d\x01" % len(body))
    head_body = b"8=FIX.4.4\x019=%d\x01" % len(body) + body
    assert data.endswith(b"10=%03d\x01" % (sum(head_body) % 256))
    msgs = split_frames(bytearray(data + data))
    assert [m.seq for m in msgs] == [2, 2]
