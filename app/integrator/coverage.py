"""Client coverage (CONTRACT §7.1): what each caller's traffic exercised, against the catalogue.

The catalogue is what could be exercised: every operation of `/openapi.json` that belongs to a
family, every channel of `/asyncapi.json` (subscribed, resumed) and the fixed recovery paths
below. The recorder is what was exercised since start or the last reset, per family and caller:

- `http(...)`        — one call per answered request (the edge makes it): operation, status, code;
                       it also detects the recovery paths HTTP alone shows (an idempotent retry,
                       a later 2xx after an injected fault, a 2xx after a 401 for an expired token).
- `injected(...)`    — the edge answered a request with a fault rule's or chaos's error.
- `stream(...)`      — a transport accepted a subscription (`subscribe`), a resume (`resume`,
                       with the replay `source` ring/sql/mixed) or served a gap-fill read (`gap_fill`).
- `delivered(...)`   — a transport delivered events of these kinds.
- `cut / gap / slow` — the server cut a stream's subscribers, withheld events from live delivery,
                       or ended a subscriber as too slow (4008 / `resync_required`); the caller's
                       later resume / gap-fill / reconnect on that stream meets the recovery path.
- `recovery(...)`    — a transport met a recovery path it alone can see.

Recording is a handful of dict operations per request; reports are built only when asked.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

ANONYMOUS = "anonymous"  # the caller of a request no credential identified

RESUME_AFTER_CUT = "resume_after_cut"
GAP_RECOVERED = "gap_recovered"
RECONNECT_AFTER_SLOW = "reconnect_after_slow_consumer"
TOKEN_REFRESH = "token_refresh_after_expiry"
IDEMPOTENT_RETRY = "idempotent_retry"
FAULT_THEN_SUCCESS = "fault_then_success"

STREAM_RECOVERY = (RESUME_AFTER_CUT, GAP_RECOVERED, RECONNECT_AFTER_SLOW)
RECOVERY_PATHS = (*STREAM_RECOVERY, TOKEN_REFRESH, IDEMPOTENT_RETRY, FAULT_THEN_SUCCESS)
"""The fixed list. Stream paths apply to a family with channels; `idempotent_retry` to a family
whose operations take an idempotency key; the others to every family."""

SOURCES = ("ring", "sql", "mixed")
_METHODS = ("get", "post", "put", "patch", "delete")
_KEYS_KEPT = 10_000  # idempotency keys remembered per family and caller


class OpStat:
    __slots__ = ("calls", "codes", "statuses")

    def __init__(self) -> None:
        self.calls = 0
        self.statuses: dict[int, int] = {}
        self.codes: dict[str, int] = {}


class StreamStat:
    __slots__ = ("gap_fills", "kinds", "resumes", "subscriptions")

    def __init__(self) -> None:
        self.subscriptions = 0
        self.resumes: dict[str, int] = {}
        self.gap_fills = 0
        self.kinds: dict[str, int] = {}


@dataclass
class FamilyCatalogue:
    operations: list[tuple[str, str]] = field(default_factory=list)  # (METHOD, route template)
    channels: list[str] = field(default_factory=list)  # AsyncAPI channel ids
    recovery: list[str] = field(default_factory=list)


@dataclass
class Catalogue:
    families: dict[str, FamilyCatalogue]

    @classmethod
    def build(
        cls,
        openapi: dict[str, Any],
        family_of: Callable[[str], str | None],
        channels: dict[str, Iterable[str]],
    ) -> Catalogue:
        """`family_of(path)` names the family owning a route; `channels[family]` its channel ids."""
        fams: dict[str, FamilyCatalogue] = {name: FamilyCatalogue() for name in channels}
        idempotent: set[str] = set()
        schemas = (openapi.get("components") or {}).get("schemas") or {}
        for path, item in (openapi.get("paths") or {}).items():
            fam = family_of(path)
            if fam is None:
                continue
            cat = fams.setdefault(fam, FamilyCatalogue())
            for method in _METHODS:
                op = item.get(method)
                if op is None:
                    continue
                cat.operations.append((method.upper(), path))
                if _mentions_idempotency(op, schemas):
                    idempotent.add(fam)
        for fam, cat in fams.items():
            cat.operations.sort(key=lambda mp: (mp[1], mp[0]))
            cat.channels = sorted(channels.get(fam, ()))
            paths = [p for p in RECOVERY_PATHS if cat.channels or p not in STREAM_RECOVERY]
            cat.recovery = [p for p in paths if p != IDEMPOTENT_RETRY or fam in idempotent]
        return cls(fams)


def _mentions_idempotency(op: dict[str, Any], schemas: dict[str, Any]) -> bool:
    text = orjson.dumps(op)
    if b"dempotency" in text:
        return True
    for ref in _refs(text):
        if b"dempotency" in orjson.dumps(schemas.get(ref, {})):
            return True
    return False


def _refs(text: bytes) -> list[str]:
    marker = b'"#/components/schemas/'
    out = []
    start = text.find(marker)
    while start != -1:
        end = text.find(b'"', start + len(marker))
        out.append(text[start + len(marker) : end].decode())
        start = text.find(marker, end)
    return out


def error_code(body: bytes) -> tuple[str | None, str]:
    """(code, message) of an error answer in any family's shape; (None, "") when it has none."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None, ""
    if not isinstance(doc, dict):
        return None, ""
    err = doc.get("error")
    if isinstance(err, dict):
        code, message = err.get("code"), err.get("message")
    else:
        code = err if isinstance(err, str) else doc.get("code")
        message = doc.get("message")
    return (code if isinstance(code, str) else None), (message if isinstance(message, str) else "")


class Coverage:
    """The per-caller, per-family recorder, and the report against the catalogue."""

    def __init__(
        self,
        now_ms: Callable[[], int],
        head: Callable[[str, str], int | None] | None = None,
    ) -> None:
        self.now_ms = now_ms
        self._head = head  # a stream's head right now (for a gap whose seqs the caller did not give)
        self.catalogue: Catalogue | None = None  # built on the first report (see `routers/integrator`)
        self.clear()

    def clear(self) -> None:
        self.since_ms = self.now_ms()
        self.ops: dict[tuple[str, str, str, str], OpStat] = {}  # (family, caller, METHOD, route)
        self.streams: dict[tuple[str, str, str], StreamStat] = {}  # (family, caller, channel)
        self.recovered: dict[tuple[str, str, str], int] = {}  # (family, caller, path) -> count
        self._keys: dict[tuple[str, str], tuple[set[str], deque[str]]] = {}
        self._injected: set[tuple[str, str, str]] = set()  # (family, METHOD, raw path)
        self._expired: set[str] = set()  # families that answered a 401 for an expired token
        self._cut: set[tuple[str, str]] = set()  # (family, stream)
        self._slow: set[tuple[str, str]] = set()
        self._gaps: dict[tuple[str, str], int] = {}  # (family, stream) -> first withheld seq

    # --- recording: HTTP (the edge) ------------------------------------------------------------
    def http(
        self,
        family: str,
        caller: str | None,
        method: str,
        route: str,
        status: int,
        code: str | None = None,
        path: str | None = None,
        idempotency_key: str | None = None,
        expired: bool = False,
    ) -> None:
        who = caller or ANONYMOUS
        key = (family, who, method, route)
        st = self.ops.get(key)
        if st is None:
            st = self.ops[key] = OpStat()
        st.calls += 1
        st.statuses[status] = st.statuses.get(status, 0) + 1
        if code is not None:
            st.codes[code] = st.codes.get(code, 0) + 1
        if 200 <= status < 300:
            if self._injected and (family, method, path or route) in self._injected:
                self._injected.discard((family, method, path or route))
                self.recovery(family, who, FAULT_THEN_SUCCESS)
            if family in self._expired and caller is not None:
                self._expired.discard(family)
                self.recovery(family, who, TOKEN_REFRESH)
        elif status == 401 and expired:
            self._expired.add(family)
        if idempotency_key is not None:
            self.idempotency(family, who, idempotency_key)

    def idempotency(self, family: str, caller: str, key: str) -> None:
        """A request carried this idempotency key; the same key again is an idempotent retry."""
        seen = self._keys.get((family, caller))
        if seen is None:
            seen = self._keys[(family, caller)] = (set(), deque())
        keys, order = seen
        if key in keys:
            self.recovery(family, caller, IDEMPOTENT_RETRY)
            return
        keys.add(key)
        order.append(key)
        if len(order) > _KEYS_KEPT:
            keys.discard(order.popleft())

    def injected(self, family: str, method: str, path: str) -> None:
        """The edge answered this request with an injected error (fault rule or chaos)."""
        self._injected.add((family, method, path))

    # --- recording: streams (the transports) ---------------------------------------------------
    def stream(
        self,
        family: str,
        caller: str | None,
        channel: str,
        event: str = "subscribe",
        *,
        stream: str | None = None,
        source: str | None = None,
        from_seq: int | None = None,
    ) -> None:
        """`event`: `subscribe` (live from now), `resume` (from a seq; `source` ring/sql/mixed)
        or `gap_fill` (a REST read of missed seqs from `from_seq`)."""
        who = caller or ANONYMOUS
        key = (family, who, channel)
        st = self.streams.get(key)
        if st is None:
            st = self.streams[key] = StreamStat()
        if event == "gap_fill":
            st.gap_fills += 1
        else:
            st.subscriptions += 1
            if event == "resume":
                src = source or "live"
                st.resumes[src] = st.resumes.get(src, 0) + 1
        if stream is None:
            return
        sk = (family, stream)
        if sk in self._slow and event != "gap_fill":
            self._slow.discard(sk)
            self.recovery(family, who, RECONNECT_AFTER_SLOW)
        if event == "resume" and sk in self._cut:
            self._cut.discard(sk)
            self.recovery(family, who, RESUME_AFTER_CUT)
        first = self._gaps.get(sk)
        if first is not None and event != "subscribe" and from_seq is not None and from_seq <= first:
            del self._gaps[sk]
            self.recovery(family, who, GAP_RECOVERED)

    def delivered(self, family: str, caller: str | None, channel: str, kinds: Iterable[str]) -> None:
        st = self.streams.get((family, caller or ANONYMOUS, channel))
        if st is None:
            st = self.streams[(family, caller or ANONYMOUS, channel)] = StreamStat()
        for kind in kinds:
            st.kinds[kind] = st.kinds.get(kind, 0) + 1

    def cut(self, family: str, stream: str) -> None:
        """The server closed the stream's live subscribers (control API or chaos)."""
        self._cut.add((family, stream))

    def gap(self, family: str, stream: str, first_seq: int | None = None) -> None:
        """Events from `first_seq` on are withheld from live delivery (default: the next one)."""
        if first_seq is None:
            head = self._head(family, stream) if self._head is not None else None
            first_seq = (head or 0) + 1
        self._gaps.setdefault((family, stream), first_seq)

    def slow(self, family: str, stream: str) -> None:
        """A subscriber of the stream was ended as too slow (4008 / `resync_required`)."""
        self._slow.add((family, stream))

    def recovery(self, family: str, caller: str | None, path: str) -> None:
        key = (family, caller or ANONYMOUS, path)
        self.recovered[key] = self.recovered.get(key, 0) + 1

    # --- the report ----------------------------------------------------------------------------
    def callers(self, family: str | None = None) -> list[str]:
        found = {k[1] for k in self.ops if family is None or k[0] == family}
        found.update(k[1] for k in self.streams if family is None or k[0] == family)
        found.update(k[1] for k in self.recovered if family is None or k[0] == family)
        return sorted(found)

    def report(self, family: str | None = None, caller: str | None = None) -> dict[str, Any]:
        cat = self.catalogue or Catalogue({})
        names = [family] if family is not None else sorted(cat.families)
        out: dict[str, Any] = {}
        met_all = of_all = 0
        for name in names:
            fam = self._family_report(name, cat.families.get(name, FamilyCatalogue()), caller)
            met_all += fam["met"]
            of_all += fam["of"]
            out[name] = fam
        callers = [c for n in names for c in self.callers(n)]
        return {
            "since_ms": self.since_ms,
            "callers": sorted(set(callers) if caller is None else {c for c in callers if c == caller}),
            "families": out,
            "met": met_all,
            "of": of_all,
        }

    def _family_report(self, family: str, cat: FamilyCatalogue, caller: str | None) -> dict[str, Any]:
        def mine(f: str, c: str) -> bool:
            return f == family and (caller is None or c == caller)

        ops: dict[tuple[str, str], dict[str, Any]] = {
            (m, p): {"method": m, "path": p, "calls": 0, "statuses": {}, "codes": {}}
            for m, p in cat.operations
        }
        for (f, c, m, p), st in self.ops.items():
            if not mine(f, c):
                continue
            entry = ops.setdefault((m, p), {"method": m, "path": p, "calls": 0, "statuses": {}, "codes": {}})
            entry["calls"] += st.calls
            for s, n in st.statuses.items():
                entry["statuses"][str(s)] = entry["statuses"].get(str(s), 0) + n
            for code, n in st.codes.items():
                entry["codes"][code] = entry["codes"].get(code, 0) + n
        streams: dict[str, dict[str, Any]] = {
            ch: {"subscriptions": 0, "resumes": {}, "gap_fills": 0, "kinds": {}} for ch in cat.channels
        }
        for (f, c, ch), ss in self.streams.items():
            if not mine(f, c):
                continue
            s_entry = streams.setdefault(ch, {"subscriptions": 0, "resumes": {}, "gap_fills": 0, "kinds": {}})
            s_entry["subscriptions"] += ss.subscriptions
            s_entry["gap_fills"] += ss.gap_fills
            for src, n in ss.resumes.items():
                s_entry["resumes"][src] = s_entry["resumes"].get(src, 0) + n
            for kind, n in ss.kinds.items():
                s_entry["kinds"][kind] = s_entry["kinds"].get(kind, 0) + n
        counts: dict[str, int] = {}
        for (f, c, path), n in self.recovered.items():
            if mine(f, c):
                counts[path] = counts.get(path, 0) + n
        recovery = {p: {"met": counts.get(p, 0) > 0, "count": counts.get(p, 0)} for p in cat.recovery}
        for p, n in counts.items():
            recovery.setdefault(p, {"met": True, "count": n})

        missing: list[str] = []
        met = 0
        for m, p in cat.operations:
            if ops[(m, p)]["calls"]:
                met += 1
            else:
                missing.append(f"{m} {p}")
        for ch in cat.channels:
            chan = streams[ch]
            if chan["subscriptions"]:
                met += 1
            else:
                missing.append(f"subscribe {ch}")
            if chan["resumes"]:
                met += 1
            else:
                missing.append(f"resume {ch}")
        for p in cat.recovery:
            if recovery[p]["met"]:
                met += 1
            else:
                missing.append(f"recovery {p}")
        return {
            "operations": sorted(ops.values(), key=lambda o: (o["path"], o["method"])),
            "streams": streams,
            "recovery": recovery,
            "met": met,
            "of": len(cat.operations) + 2 * len(cat.channels) + len(cat.recovery),
            "missing": missing,
        }


def percent(met: int, of: int) -> float:
    return 100.0 if of == 0 else round(100.0 * met / of, 1)
