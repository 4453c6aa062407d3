"""The control API core (CONTRACT §5): reset, clock, faults, journal, stream control.

Everything here needs `Authorization: Bearer <admin token>`. Families add their own control
routes (participants, users, agents, prices…) through `Family.admin_router`.

Bodies are read with `read_json` (JSON whatever the Content-Type says, as `curl -d` sends a
form type; an empty body is `{}` where the route needs nothing), integers through the shared
bounds: every bad input is a 400 naming the field, never a 422.
"""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import Response

from app.clock import MAX_ADVANCE_MS
from app.context import AppContext
from app.deps import AdminAuth, Ctx
from app.engine.bounds import INT64_MAX, int_field
from app.engine.errors import InvalidInput, NotFound
from app.engine.streams import NewEvent
from app.lifecycle import reset_state
from app.routers.kit import answer as _json
from app.routers.kit import read_json

MAX_PAGE = 10_000
MAX_SKIP = 1_000_000_000

router = APIRouter(prefix="/_admin", tags=["control"], dependencies=[AdminAuth])


def _family(ctx: AppContext, family: str) -> str:
    if ctx.registry.get(family) is None:
        raise NotFound(f"unknown family {family!r}; one of {', '.join(ctx.registry.names)}")
    return family


@router.post("/reset", summary='Wipe all state and re-seed ({"seed":"demo"|"none"})')
async def reset(ctx: Ctx, request: Request) -> Response:
    body = await read_json(request, required=False)
    seed = body.get("seed", ctx.settings.seed)
    if seed not in ("demo", "none"):
        raise InvalidInput.field("seed", "must be 'demo' or 'none'")
    await reset_state(ctx, seed)
    return _json({"status": "ok", "seed": seed, "clock": ctx.clock.snapshot()})


@router.get("/clock", summary="Read the domain clock")
async def clock_get(ctx: Ctx) -> Response:
    return _json(ctx.clock.snapshot())


@router.post("/clock", summary="freeze | resume | advance {ms}: due timers fire in time order")
async def clock_post(ctx: Ctx, request: Request) -> Response:
    body = await read_json(request)
    action = body.get("action")
    if action == "freeze":
        ctx.clock.freeze()
    elif action == "resume":
        ctx.clock.resume()
    elif action == "advance":
        await ctx.clock.advance(int_field(body.get("ms"), "ms", hi=MAX_ADVANCE_MS))
    else:
        raise InvalidInput.field("action", "must be freeze, resume or advance")
    return _json(ctx.clock.snapshot())


@router.get("/faults", summary="List fault rules")
async def faults_list(ctx: Ctx) -> Response:
    return _json({"rules": [r.to_json() for r in ctx.faults.rules]})


@router.post("/faults", summary="Add a fault rule {match:{method,path,family}, action, times}")
async def faults_add(ctx: Ctx, request: Request) -> Response:
    rule = ctx.faults.add(await read_json(request))
    return _json(rule.to_json(), 201)


@router.delete("/faults", summary="Clear every fault rule")
async def faults_clear(ctx: Ctx) -> Response:
    ctx.faults.clear()
    return _json({"rules": []})


@router.get("/journal", summary="Recent requests: time, family, method, path, status, latency, caller")
async def journal(
    ctx: Ctx,
    limit: str | None = Query(None, description=f"1..{MAX_PAGE} (default 100)"),
    family: str | None = None,
) -> Response:
    n = int_field(limit if limit is not None else 100, "limit", lo=1, hi=MAX_PAGE)
    return _json({"entries": ctx.journal.recent(n, family)})


@router.post("/streams/{family}/{stream}/disconnect", summary="Close every live subscriber of a stream")
async def stream_disconnect(ctx: Ctx, family: str, stream: str) -> Response:
    n = ctx.streams.disconnect(_family(ctx, family), stream)
    return _json({"family": family, "stream": stream, "disconnected": n})


@router.post("/streams/{family}/{stream}/skip", summary="Withhold the next N events from live delivery")
async def stream_skip(ctx: Ctx, family: str, stream: str, request: Request) -> Response:
    body = await read_json(request)
    count = int_field(body.get("count"), "count", lo=1, hi=MAX_SKIP)
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
    from_seq: str | None = Query(None, description="the first seq to read, 1.. (default 1)"),
    limit: str | None = Query(None, description=f"1..{MAX_PAGE} (default 1000)"),
) -> Response:
    first = int_field(from_seq if from_seq is not None else 1, "from_seq", lo=1, hi=INT64_MAX)
    n = int_field(limit if limit is not None else 1000, "limit", lo=1, hi=MAX_PAGE)
    res = await ctx.streams.read(_family(ctx, family), stream, first, n)
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
async def stream_append(ctx: Ctx, family: str, stream: str, request: Request) -> Response:
    body = await read_json(request, required=False)
    kind = body.get("kind", "note")
    payload = body.get("body", {})
    if not isinstance(kind, str) or not kind:
        raise InvalidInput.field("kind", "must be a non-empty string")
    count = int_field(body.get("count", 1), "count", lo=1, hi=MAX_PAGE)
    fam = _family(ctx, family)
    raw = orjson.dumps(payload)  # raw bytes: stored as given, never through a family encoder
    events = await ctx.streams.append_many([NewEvent(fam, stream, kind, raw) for _ in range(count)])
    return _json({"family": family, "stream": stream, "seqs": [e.seq for e in events]}, 201)
