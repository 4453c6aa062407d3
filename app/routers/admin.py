"""The control API core (CONTRACT §5): reset, clock, faults, journal, stream control.

Everything here needs `Authorization: Bearer <admin token>`. Families add their own control
routes (participants, users, agents, prices…) through `Family.admin_router`.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Body, Query, Request
from starlette.responses import Response

from app.context import AppContext
from app.deps import AdminAuth, Ctx
from app.engine.errors import InvalidInput, NotFound
from app.lifecycle import reset_state
from app.routers.kit import answer as _json

router = APIRouter(prefix="/_admin", tags=["control"], dependencies=[AdminAuth])


def _family(ctx: AppContext, family: str) -> str:
    if ctx.registry.get(family) is None:
        raise NotFound(f"unknown family {family!r}; one of {', '.join(ctx.registry.names)}")
    return family


@router.post("/reset", summary='Wipe all state and re-seed ({"seed":"demo"|"none"})')
async def reset(ctx: Ctx, body: dict[str, Any] | None = Body(None)) -> Response:
    seed = (body or {}).get("seed", ctx.settings.seed)
    if seed not in ("demo", "none"):
        raise InvalidInput.field("seed", "must be 'demo' or 'none'")
    await reset_state(ctx, seed)
    return _json({"status": "ok", "seed": seed, "clock": ctx.clock.snapshot()})


@router.get("/clock", summary="Read the domain clock")
async def clock_get(ctx: Ctx) -> Response:
    return _json(ctx.clock.snapshot())


@router.post("/clock", summary="freeze | resume | advance {ms}: due timers fire in time order")
async def clock_post(ctx: Ctx, body: dict[str, Any] = Body(...)) -> Response:
    action = body.get("action")
    if action == "freeze":
        ctx.clock.freeze()
    elif action == "resume":
        ctx.clock.resume()
    elif action == "advance":
        ms = body.get("ms")
        if not isinstance(ms, int) or isinstance(ms, bool) or ms < 0:
            raise InvalidInput.field("ms", "must be a non-negative integer")
        await ctx.clock.advance(ms)
    else:
        raise InvalidInput.field("action", "must be freeze, resume or advance")
    return _json(ctx.clock.snapshot())


@router.get("/faults", summary="List fault rules")
async def faults_list(ctx: Ctx) -> Response:
    return _json({"rules": [r.to_json() for r in ctx.faults.rules]})


@router.post("/faults", summary="Add a fault rule {match:{method,path,family}, action, times}")
async def faults_add(ctx: Ctx, body: Any = Body(...)) -> Response:
    rule = ctx.faults.add(body)
    return _json(rule.to_json(), 201)


@router.delete("/faults", summary="Clear every fault rule")
async def faults_clear(ctx: Ctx) -> Response:
    ctx.faults.clear()
    return _json({"rules": []})


@router.get("/journal", summary="Recent requests: time, family, method, path, status, latency, caller")
async def journal(ctx: Ctx, limit: int = Query(100, ge=1, le=10_000), family: str | None = None) -> Response:
    return _json({"entries": ctx.journal.recent(limit, family)})


@router.post("/streams/{family}/{stream}/disconnect", summary="Close every live subscriber of a stream")
async def stream_disconnect(ctx: Ctx, family: str, stream: str) -> Response:
    n = ctx.streams.disconnect(_family(ctx, family), stream)
    return _json({"family": family, "stream": stream, "disconnected": n})


@router.post("/streams/{family}/{stream}/skip", summary="Withhold the next N events from live delivery")
async def stream_skip(ctx: Ctx, family: str, stream: str, body: dict[str, Any] = Body(...)) -> Response:
    count = body.get("count")
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise InvalidInput.field("count", "must be a positive integer")
    pending = await ctx.streams.skip(_family(ctx, family), stream, count)
    return _json({"family": family, "stream": stream, "skip_pending": pending})


@router.get("/streams/{family}/{stream}", summary="A stream's head, ring window and subscribers")
async def stream_info(ctx: Ctx, family: str, stream: str) -> Response:
    state = await ctx.streams.state(_family(ctx, family), stream)
    state.ring.expire(ctx.clock.now_ms())
    return _json(
        {
            "family": family,
            "stream": stream,
            "head": state.head,
            "ring": {
                "first_seq": state.ring.first_seq,
                "last_seq": state.ring.last_seq,
                "size": len(state.ring),
            },
            "subscribers": len(state.subscribers),
            "skip_pending": state.skip,
        }
    )


@router.get(
    "/streams/{family}/{stream}/events", summary="Read a stream from a seq (ring first, SQL fallback)"
)
async def stream_events(
    ctx: Ctx,
    family: str,
    stream: str,
    from_seq: int = Query(1, ge=1),
    limit: int = Query(1000, ge=1, le=10_000),
) -> Response:
    res = await ctx.streams.read(_family(ctx, family), stream, from_seq, limit)
    parts = [
        b'{"seq":%d,"ts_ms":%d,"kind":%s,"data":%s}' % (e.seq, e.ts_ms, orjson.dumps(e.kind), e.data)
        for e in res.events
    ]
    head = orjson.dumps({"family": family, "stream": stream, "source": res.source, "head": res.head})
    return Response(head[:-1] + b',"events":[' + b",".join(parts) + b"]}", media_type="application/json")


@router.post(
    "/streams/{family}/{stream}/events",
    summary="Append raw events to a stream (demos and tests of the stream mechanism; the body is sent as given)",
)
async def stream_append(ctx: Ctx, family: str, stream: str, body: dict[str, Any] = Body(...)) -> Response:
    from app.engine.streams import NewEvent

    kind = body.get("kind", "note")
    payload = body.get("body", {})
    count = body.get("count", 1)
    if not isinstance(kind, str) or not kind:
        raise InvalidInput.field("kind", "must be a non-empty string")
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= 10_000:
        raise InvalidInput.field("count", "must be an integer from 1 to 10000")
    fam = _family(ctx, family)
    raw = orjson.dumps(payload)  # raw bytes: stored as given, never through a family encoder
    events = await ctx.streams.append_many([NewEvent(fam, stream, kind, raw) for _ in range(count)])
    return _json({"family": family, "stream": stream, "seqs": [e.seq for e in events]}, 201)


@router.get(
    "/fix/sessions",
    summary="The FIX drop-copy sessions: {senderCompId, apiKeyId, account, connected, nextOutSeq, nextInSeq, lastAccountSeq}",
)
async def fix_sessions(ctx: Ctx, request: Request) -> Response:
    from app.routers.order_entry.fix_listener import make_engine

    listener = getattr(request.app.state, "fix", None)
    engine = listener.engine if listener is not None else make_engine(ctx)
    return _json({"sessions": await engine.sessions()})
