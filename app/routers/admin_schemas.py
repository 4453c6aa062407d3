"""The control API's and the core routes' contract in OpenAPI (CONTRACT §0, §5): plain JSON
objects, `{"error": {"code", "message"}}` errors, the admin bearer token."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from app.families import Registry
from app.openapi import CoreError, Declarations, Health, Op, control


class Clock(BaseModel):
    now_ms: int
    now: str = Field(examples=["2025-03-15T09:00:00.000Z"])
    frozen: bool


class ResetAnswer(BaseModel):
    status: str
    seed: str
    clock: Clock


class FaultMatch(BaseModel):
    method: str | None
    path: str | None
    family: str | None


class FaultRule(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: int
    match: FaultMatch
    action: dict[str, Any]
    times: int | None
    fired: int


class FaultRules(BaseModel):
    rules: list[FaultRule]


class JournalEntry(BaseModel):
    model_config = ConfigDict(extra="allow")

    time: str
    family: str | None
    method: str
    path: str
    status: int
    latency_ms: float
    caller: str | None
    request_id: str | None = None


class Journal(BaseModel):
    entries: list[JournalEntry]


class StreamDisconnected(BaseModel):
    family: str
    stream: str
    disconnected: int


class StreamSkip(BaseModel):
    family: str
    stream: str
    skip_pending: int


class RingWindow(BaseModel):
    first_seq: int | None
    last_seq: int | None
    size: int


class StreamInfo(BaseModel):
    family: str
    stream: str
    head: int
    ring: RingWindow
    subscribers: int
    skip_pending: int


class StoredEvent(BaseModel):
    seq: int
    ts_ms: int
    kind: str
    data: Any = Field(description="the event body as the family stored it")


class StreamEvents(BaseModel):
    family: str
    stream: str
    source: str = Field(description="ring | sql | mixed")
    head: int
    events: list[StoredEvent]


class StreamAppended(BaseModel):
    family: str
    stream: str
    seqs: list[int]


def dashboard_model(registry: Registry) -> type[BaseModel]:
    """The demo identity of each family the live dashboard acts as (a family without one is absent)."""
    fields: dict[str, Any] = {f.key: (dict[str, Any] | None, None) for f in registry}
    model: type[BaseModel] = create_model("DashboardConfig", **fields)
    return model


class AsyncApiDocument(BaseModel):
    model_config = ConfigDict(extra="allow")

    asyncapi: str
    info: dict[str, Any]
    channels: dict[str, Any]


BAD = {400: ("INVALID_REQUEST",)}
NO_FAMILY = {404: ("NOT_FOUND",)}
STREAM = {"family": "broker", "stream": "1001"}


def declarations(registry: Registry) -> Declarations:
    names = ", ".join(registry.names)
    ops: dict[tuple[str, str], Op] = {
        ("GET", "/health"): Op(Health, 'Liveness: `{"status": "ok"}`, no auth.', tag="core"),
        ("GET", "/asyncapi.json"): Op(
            AsyncApiDocument, "AsyncAPI 3.0 document of every WebSocket and SSE channel.", tag="core"
        ),
        ("POST", "/_admin/reset"): control(
            ResetAnswer,
            'Wipe all state and re-seed (`{"seed": "demo"|"none"}`; no body: the server\'s --seed).',
            {**BAD, 503: ("SERVICE_UNAVAILABLE",)},
            body={"seed": "demo"},
        ),
        ("GET", "/_admin/clock"): control(Clock, "Read the domain clock.", {}),
        ("POST", "/_admin/clock"): control(
            Clock,
            '`{"action": "freeze"|"resume"|"advance", "ms": N}`: every domain timer fires on advance, '
            "in time order.",
            BAD,
            body={"action": "advance", "ms": 0},
        ),
        ("GET", "/_admin/faults"): control(FaultRules, "The fault rules.", {}),
        ("POST", "/_admin/faults"): control(
            FaultRule,
            'Add a rule `{"match": {"method", "path" (glob), "family"}, "action": {"status", "code"} | '
            '{"delay_ms"} | {"drop": true}, "times": N}`. The injected error is the family\'s error '
            'shape with the rule\'s code and the message "injected fault".',
            BAD,
            status=201,
            body={
                "match": {"method": "GET", "path": "/account/balance"},
                "action": {"status": 503, "code": "SERVICE_UNAVAILABLE"},
                "times": 1,
            },
        ),
        ("DELETE", "/_admin/faults"): control(FaultRules, "Clear every fault rule.", {}),
        ("GET", "/_admin/journal"): control(
            Journal,
            "Recent requests, newest first: time, family, method, path, status, latency, caller.",
            BAD,
            query={"limit": 10},
        ),
        ("POST", "/_admin/streams/{family}/{stream}/disconnect"): control(
            StreamDisconnected,
            f"Close every live subscriber of a stream (`family`: {names}).",
            NO_FAMILY,
            path=STREAM,
        ),
        ("POST", "/_admin/streams/{family}/{stream}/skip"): control(
            StreamSkip,
            '`{"count": N}`: withhold the next N events from live delivery (still committed).',
            {**BAD, **NO_FAMILY},
            path=STREAM,
            body={"count": 1},
        ),
        ("GET", "/_admin/streams/{family}/{stream}"): control(
            StreamInfo, "A stream's head, ring window and live subscribers.", NO_FAMILY, path=STREAM
        ),
        ("GET", "/_admin/streams/{family}/{stream}/events"): control(
            StreamEvents,
            "Read a stream from `from_seq` (ring first, SQL fallback).",
            {**BAD, **NO_FAMILY},
            path=STREAM,
            query={"from_seq": 1, "limit": 100},
        ),
        ("POST", "/_admin/streams/{family}/{stream}/events"): control(
            StreamAppended,
            'Append raw events `{"kind", "body", "count"}` to a stream (demos and tests of the stream '
            "mechanism; the body is stored as given).",
            {**BAD, **NO_FAMILY, 503: ("SERVICE_UNAVAILABLE",)},
            status=201,
            path={"family": "broker", "stream": "example"},
            body={"kind": "note", "body": {"text": "hello"}, "count": 1},
        ),
        ("GET", "/_admin/dashboard"): control(
            dashboard_model(registry), "The demo identity per family that the live dashboard acts as.", {}
        ),
    }
    return Declarations(error=CoreError, ops=ops)
