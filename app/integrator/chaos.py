"""Seeded chaos (CONTRACT §7.2): reproducible misbehaviour from a seed and the request sequence.

Each kind of misbehaviour draws from its own `random.Random`, seeded from the chaos seed, in the
order the server meets its triggers, and every trigger draws the same numbers whatever it
decides. So the same seed and the same sequence of requests (HTTP), committed events (gaps) and
token checks (expiry) give the same misbehaviour:

- HTTP: each request of a chaos family draws (error?, which status, latency); an error answers
  in the family's shape with code `CHAOS`; latency delays the request before it is handled.
- gaps: each committed event of a chaos family counts down its stream's draw from
  `gap_every_events`; at zero the next `gap_size` events are withheld from live delivery
  (`streams.skip`, exactly as the control API does), so subscribers meet a real gap.
- disconnects: every `disconnect_every_ms` (drawn; wall-clock, a transport timer) the live
  subscribers of the chaos families' streams are closed (`streams.disconnect`).
- tokens: `expire_token(family, caller)` is the decision a family asks for when it checks a
  token; true means "refuse it as an expired token".

Every action is written to the journal with `"chaos": true`.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from app.clock import iso_ms, wall_ms
from app.engine.errors import InvalidInput

DEFAULT_STATUSES = (500, 502, 503)


@dataclass(frozen=True)
class HttpChaos:
    """What chaos does to one request: an error status (or None) and a delay (or None)."""

    status: int | None
    latency_ms: int | None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.status is not None:
            out["status"] = self.status
            out["code"] = "CHAOS"
        if self.latency_ms is not None:
            out["latency_ms"] = self.latency_ms
        return out


def _rate(v: Any, name: str) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v <= 1:
        raise InvalidInput.field(name, "must be a number from 0 to 1")
    return float(v)


def _range(v: Any, name: str, lo: int, hi: int) -> tuple[int, int]:
    if (
        not isinstance(v, list)
        or len(v) != 2
        or any(isinstance(x, bool) or not isinstance(x, int) for x in v)
        or not lo <= v[0] <= v[1] <= hi
    ):
        raise InvalidInput.field(name, f"must be [lo, hi], integers with {lo} <= lo <= hi <= {hi}")
    return int(v[0]), int(v[1])


def _section(body: dict[str, Any], name: str) -> dict[str, Any]:
    v = body.get(name)
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise InvalidInput.field(name, "must be an object")
    return v


@dataclass(frozen=True)
class ChaosConfig:
    seed: int
    families: tuple[str, ...] | None
    error_rate: float = 0.0
    statuses: tuple[int, ...] = DEFAULT_STATUSES
    latency_ms: tuple[int, int] | None = None
    disconnect_every_ms: tuple[int, int] | None = None
    gap_every_events: tuple[int, int] | None = None
    gap_size: tuple[int, int] = (1, 1)
    expire_rate: float = 0.0

    @classmethod
    def parse(cls, body: Any, known: tuple[str, ...]) -> ChaosConfig:
        if not isinstance(body, dict):
            raise InvalidInput.field("body", "must be a JSON object")
        seed = body.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
            raise InvalidInput.field("seed", "must be a non-negative integer below 2^63")
        fams = body.get("families")
        families: tuple[str, ...] | None = None
        if fams is not None:
            if not isinstance(fams, list) or any(f not in known for f in fams):
                raise InvalidInput.field("families", f"must be a list of {', '.join(known)}")
            families = tuple(fams)
        http, streams, tokens = _section(body, "http"), _section(body, "streams"), _section(body, "tokens")
        statuses = http.get("statuses", list(DEFAULT_STATUSES))
        if (
            not isinstance(statuses, list)
            or not statuses
            or any(isinstance(s, bool) or not isinstance(s, int) or not 400 <= s <= 599 for s in statuses)
        ):
            raise InvalidInput.field("http.statuses", "must be a non-empty list of HTTP error statuses")
        return cls(
            seed=seed,
            families=families,
            error_rate=_rate(http.get("error_rate", 0), "http.error_rate"),
            statuses=tuple(statuses),
            latency_ms=_range(http["latency_ms"], "http.latency_ms", 0, 60_000)
            if "latency_ms" in http
            else None,
            disconnect_every_ms=(
                _range(streams["disconnect_every_ms"], "streams.disconnect_every_ms", 10, 86_400_000)
                if "disconnect_every_ms" in streams
                else None
            ),
            gap_every_events=(
                _range(streams["gap_every_events"], "streams.gap_every_events", 1, 10**9)
                if "gap_every_events" in streams
                else None
            ),
            gap_size=_range(streams.get("gap_size", [1, 1]), "streams.gap_size", 1, 10_000),
            expire_rate=_rate(tokens.get("expire_rate", 0), "tokens.expire_rate"),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"seed": self.seed, "families": list(self.families) if self.families else None}
        out["http"] = {"error_rate": self.error_rate, "statuses": list(self.statuses)}
        if self.latency_ms is not None:
            out["http"]["latency_ms"] = list(self.latency_ms)
        out["streams"] = {"gap_size": list(self.gap_size)}
        if self.disconnect_every_ms is not None:
            out["streams"]["disconnect_every_ms"] = list(self.disconnect_every_ms)
        if self.gap_every_events is not None:
            out["streams"]["gap_every_events"] = list(self.gap_every_events)
        out["tokens"] = {"expire_rate": self.expire_rate}
        return out


class Chaos:
    """The chaos switch of one app. `active` is the edge's one test per request."""

    def __init__(
        self,
        streams: Any,
        record: Callable[[dict[str, Any]], None],
        families: tuple[str, ...],
        on_cut: Callable[[str, str], None] | None = None,
        on_gap: Callable[[str, str, int], None] | None = None,
    ) -> None:
        self.streams = streams  # app.engine.streams.Streams: disconnect, skip, hub, sequencer
        self.record = record  # the journal's record
        self.known = families
        self.on_cut = on_cut
        self.on_gap = on_gap
        self.config: ChaosConfig | None = None
        self.body: Any = None  # the configuration as given, for `restart`
        self.active = False
        self.http_active = False
        self.counts: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None
        self._orig_commit: Callable[[list[Any]], None] | None = None

    # --- switching -----------------------------------------------------------------------------
    def configure(self, body: Any) -> ChaosConfig:
        cfg = ChaosConfig.parse(body, self.known)
        self.stop()
        self.config = cfg
        self.body = body
        self.counts = {"http_errors": 0, "http_delays": 0, "disconnects": 0, "gaps": 0, "token_expiries": 0}
        seed = cfg.seed
        self._http_rng = random.Random(f"{seed}:http")
        self._gap_rng = random.Random(f"{seed}:gaps")
        self._cut_rng = random.Random(f"{seed}:disconnects")
        self._token_rng = random.Random(f"{seed}:tokens")
        self._gap_left: dict[tuple[str, str], int] = {}
        self.http_active = cfg.error_rate > 0 or cfg.latency_ms is not None
        if cfg.gap_every_events is not None:
            seq = self.streams.sequencer
            self._orig_commit = seq.on_commit
            seq.on_commit = self._on_commit
        if cfg.disconnect_every_ms is not None:
            with contextlib.suppress(RuntimeError):  # no running loop: the caller starts later
                self._task = asyncio.get_running_loop().create_task(self._disconnects(cfg))
        self.active = True
        return cfg

    def restart(self) -> None:
        """After a reset: the same chaos from its first draw (same seed, same sequence)."""
        if self.config is not None:
            self.configure(self.body)

    def stop(self) -> None:
        self.active = False
        self.http_active = False
        self.config = None
        if self._orig_commit is not None:
            self.streams.sequencer.on_commit = self._orig_commit
            self._orig_commit = None
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def snapshot(self) -> dict[str, Any]:
        if self.config is None:
            return {"active": False}
        return {"active": True, **self.config.to_json(), "counts": dict(self.counts)}

    def _applies(self, family: str | None) -> bool:
        cfg = self.config
        return family is not None and cfg is not None and (cfg.families is None or family in cfg.families)

    def _journal(self, family: str, method: str, path: str, action: dict[str, Any]) -> None:
        self.record(
            {
                "time": iso_ms(wall_ms()),
                "family": family,
                "method": method,
                "path": path,
                "status": 0,
                "latency_ms": 0,
                "caller": None,
                "request_id": None,
                "chaos": True,
                "action": action,
            }
        )

    # --- HTTP ----------------------------------------------------------------------------------
    def http(self, family: str | None) -> HttpChaos | None:
        """The decision for the next request of `family` (None: leave it alone)."""
        cfg = self.config
        if not self.http_active or cfg is None or not self._applies(family):
            return None
        rng = self._http_rng
        err = rng.random() < cfg.error_rate
        status = cfg.statuses[rng.randrange(len(cfg.statuses))]
        latency = rng.randint(*cfg.latency_ms) if cfg.latency_ms is not None else None
        if not err and not latency:
            return None
        if err:
            self.counts["http_errors"] += 1
        if latency:
            self.counts["http_delays"] += 1
        return HttpChaos(status if err else None, latency or None)

    # --- tokens --------------------------------------------------------------------------------
    def expire_token(self, family: str, caller: str | None = None) -> bool:
        """Asked by a family when it checks a token: True means refuse it as expired."""
        cfg = self.config
        if cfg is None or cfg.expire_rate <= 0 or not self._applies(family):
            return False
        if self._token_rng.random() >= cfg.expire_rate:
            return False
        self.counts["token_expiries"] += 1
        self._journal(family, "TOKEN", caller or "", {"token_expired": True})
        return True

    # --- streams -------------------------------------------------------------------------------
    def _on_commit(self, events: list[Any]) -> None:
        """Publish committed events; after a stream's drawn count, withhold the next few."""
        orig = self._orig_commit
        cfg = self.config
        if orig is None:
            return
        if cfg is None or cfg.gap_every_events is None:
            orig(events)
            return
        start = 0
        for i, ev in enumerate(events):
            if not self._applies(ev.family):
                continue
            key = (ev.family, ev.stream)
            left = self._gap_left.get(key)
            if left is None:
                left = self._gap_rng.randint(*cfg.gap_every_events)
            left -= 1
            if left <= 0:
                orig(events[start : i + 1])
                start = i + 1
                size = self._gap_rng.randint(*cfg.gap_size)
                left = self._gap_rng.randint(*cfg.gap_every_events)
                self._skip(ev.family, ev.stream, size)
                self.counts["gaps"] += 1
                if self.on_gap is not None:
                    self.on_gap(ev.family, ev.stream, ev.seq + 1)
                self._journal(ev.family, "STREAM", ev.stream, {"gap": [ev.seq + 1, ev.seq + size]})
            self._gap_left[key] = left
        if start < len(events):
            orig(events[start:])

    def _skip(self, family: str, stream: str, count: int) -> None:
        """`streams.skip` now: it completes without suspending for a stream already in memory
        (every stream an event was just published to); otherwise it runs as a task."""
        coro: Coroutine[Any, Any, Any] = self.streams.skip(family, stream, count)
        try:
            coro.send(None)
        except StopIteration:
            return
        task_coro = _finish(coro)
        asyncio.get_running_loop().create_task(task_coro)

    async def _disconnects(self, cfg: ChaosConfig) -> None:
        assert cfg.disconnect_every_ms is not None
        while True:
            await asyncio.sleep(self._cut_rng.randint(*cfg.disconnect_every_ms) / 1000)
            states = getattr(self.streams.hub, "states", {})
            for family, stream in sorted(states):
                if not self._applies(family) or not self.streams.subscriber_count(family, stream):
                    continue
                n = self.streams.disconnect(family, stream, "disconnected by chaos")
                self.counts["disconnects"] += 1
                if self.on_cut is not None:
                    self.on_cut(family, stream)
                self._journal(family, "STREAM", stream, {"disconnect": n})


async def _finish(coro: Coroutine[Any, Any, Any]) -> None:
    """Drive a coroutine already started with `send(None)` to its end (it awaited something)."""
    with contextlib.suppress(StopIteration):
        while True:
            fut = coro.send(None)
            if fut is not None:
                await asyncio.wrap_future(fut) if not isinstance(fut, asyncio.Future) else await fut
