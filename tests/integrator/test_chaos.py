"""Seeded chaos (CONTRACT §7.2): reproducible from the seed and the sequence, journaled."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.engine.streams.hub import StreamEnded
from tests.conftest import ADMIN_HEADERS, make_settings, running_app, wait_for
from tests.musubi.helpers import participant

pytestmark = pytest.mark.anyio

HTTP_CHAOS = {
    "seed": 42,
    "families": ["musubi"],
    "http": {"error_rate": 0.4, "statuses": [500, 502, 503], "latency_ms": [0, 3]},
}


async def _chaos(client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    r = await client.post("/_admin/chaos", json=body, headers=ADMIN_HEADERS)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def _run(client: httpx.AsyncClient, h: dict[str, str], n: int = 40) -> list[tuple[int, str | None]]:
    out = []
    for i in range(n):
        path = "/api/v1/orders" if i % 2 else "/whoami"
        r = await client.get(path, headers=h)
        code = r.json()["error"]["code"] if r.status_code >= 400 else None
        out.append((r.status_code, code))
    return out


async def test_same_seed_same_misbehaviour_twice(db_url: str) -> None:
    """The same seed over the same request sequence gives the same errors and delays; each
    error is the family's shape with code CHAOS and is journaled with "chaos": true; another
    seed gives another sequence; other families and core routes are left alone."""
    async with running_app(make_settings(db_url)) as r:
        si = await participant(r.client, "SenderInst", "institution")
        runs = []
        for _ in range(2):
            r.ctx.journal.clear()
            await _chaos(r.client, HTTP_CHAOS)
            seq = await _run(r.client, si.h)
            assert (await r.client.get("/health")).status_code == 200
            journal = (
                await r.client.get("/_admin/journal", params={"limit": 1000}, headers=ADMIN_HEADERS)
            ).json()
            actions = [e["action"] for e in reversed(journal["entries"]) if e.get("chaos")]
            runs.append((seq, actions))
        assert runs[0] == runs[1]
        seq, actions = runs[0]
        errors = [s for s in seq if s[0] >= 500]
        assert 5 <= len(errors) <= 30, seq
        assert all(code == "CHAOS" and status in (500, 502, 503) for status, code in errors)
        assert sum(1 for a in actions if "status" in a) == len(errors)
        assert any("latency_ms" in a for a in actions)

        await _chaos(r.client, {**HTTP_CHAOS, "seed": 43})
        assert await _run(r.client, si.h) != seq

        state = (await r.client.get("/_admin/chaos", headers=ADMIN_HEADERS)).json()
        assert state["active"] and state["seed"] == 43 and state["counts"]["http_errors"] > 0
        assert (await r.client.delete("/_admin/chaos", headers=ADMIN_HEADERS)).json() == {"active": False}
        assert all(s == 200 for s, _ in await _run(r.client, si.h, 10))


async def test_chaos_leaves_other_families_alone(sqlite_url: str) -> None:
    """With `families: ["broker"]`, every Musubi request is answered normally."""
    async with running_app(make_settings(sqlite_url)) as r:
        si = await participant(r.client, "SenderInst", "institution")
        await _chaos(r.client, {"seed": 1, "families": ["broker"], "http": {"error_rate": 1.0}})
        assert all(s == 200 for s, _ in await _run(r.client, si.h, 10))


async def test_bad_chaos_body_names_the_field(sqlite_url: str) -> None:
    """Bad configuration → 400 naming the field; chaos stays off."""
    async with running_app(make_settings(sqlite_url)) as r:
        for body, field in [
            ({"seed": "x"}, "seed"),
            ({"http": {"error_rate": 2}}, "http.error_rate"),
            ({"http": {"latency_ms": [5, 1]}}, "http.latency_ms"),
            ({"families": ["nope"]}, "families"),
            ({"streams": {"gap_every_events": [0, 1]}}, "streams.gap_every_events"),
        ]:
            resp = await r.client.post("/_admin/chaos", json=body, headers=ADMIN_HEADERS)
            assert resp.status_code == 400 and field in resp.text, (body, resp.text)
        assert (await r.client.get("/_admin/chaos", headers=ADMIN_HEADERS)).json() == {"active": False}


async def test_gaps_follow_the_seed(sqlite_url: str) -> None:
    """Stream gaps withhold the same seqs from live delivery for the same seed and events (still
    committed: a read from SQL/ring has them all); coverage counts a resume covering the gap."""
    async with running_app(make_settings(sqlite_url)) as r:
        body = {
            "seed": 7,
            "families": ["musubi"],
            "streams": {"gap_every_events": [2, 4], "gap_size": [1, 2]},
        }
        got = []
        for stream in ("s1", "s2"):
            await _chaos(r.client, body)
            sub = await r.ctx.streams.subscribe("musubi", stream)
            resp = await r.client.post(
                f"/_admin/streams/musubi/{stream}/events", json={"count": 30}, headers=ADMIN_HEADERS
            )
            assert resp.status_code == 201
            # every delivered event is queued before the append answers: one batch has them all
            seqs = [e.seq for e in await asyncio.wait_for(sub.next_batch(), 5)]
            assert sub.queued == 0
            got.append(seqs)
        assert got[0] == got[1]
        assert 5 < len(got[0]) < 30 and got[0] == sorted(got[0])
        events = (await r.client.get("/_admin/streams/musubi/s1/events", headers=ADMIN_HEADERS)).json()[
            "events"
        ]
        assert [e["seq"] for e in events] == list(range(1, 31))
        journal = (
            await r.client.get("/_admin/journal", params={"limit": 1000}, headers=ADMIN_HEADERS)
        ).json()
        gaps = [e["action"]["gap"] for e in journal["entries"] if e.get("chaos") and e["path"] == "s1"]
        withheld = {s for lo, hi in gaps for s in range(lo, hi + 1) if s <= 30}  # later: still pending
        assert withheld == set(range(1, 31)) - set(got[0])

        first_gap = min(withheld)
        r.ctx.coverage.stream("musubi", "c1", "x", "resume", stream="s1", source="ring", from_seq=first_gap)
        rec = r.ctx.coverage.report("musubi", "c1")["families"]["musubi"]["recovery"]
        assert rec["gap_recovered"]["met"]


async def test_disconnects_cut_live_subscribers_and_are_journaled(sqlite_url: str) -> None:
    """`disconnect_every_ms` closes the chaos families' live subscribers, journaled with chaos;
    a resume afterwards meets `resume_after_cut` in the coverage."""
    async with running_app(make_settings(sqlite_url)) as r:
        await _chaos(
            r.client, {"seed": 3, "families": ["musubi"], "streams": {"disconnect_every_ms": [10, 30]}}
        )
        sub = await r.ctx.streams.subscribe("musubi", "s1")
        with pytest.raises(StreamEnded):
            async with asyncio.timeout(5):
                await sub.next_batch()

        async def journaled() -> bool:
            j = (await r.client.get("/_admin/journal", headers=ADMIN_HEADERS)).json()["entries"]
            return any(e.get("chaos") and "disconnect" in e["action"] for e in j)

        await wait_for(journaled)
        await r.client.delete("/_admin/chaos", headers=ADMIN_HEADERS)
        r.ctx.coverage.stream("musubi", "c1", "x", "resume", stream="s1", source="live", from_seq=1)
        rec = r.ctx.coverage.report("musubi", "c1")["families"]["musubi"]["recovery"]
        assert rec["resume_after_cut"]["met"]


async def test_token_expiry_decisions_follow_the_seed(sqlite_url: str) -> None:
    """`expire_token` — the decision a family asks for when it checks a token — repeats for the
    same seed, is journaled, and is never true for a family chaos leaves alone."""
    async with running_app(make_settings(sqlite_url)) as r:
        body = {"seed": 11, "families": ["musubi"], "tokens": {"expire_rate": 0.3}}
        runs = []
        for _ in range(2):
            await _chaos(r.client, body)
            runs.append([r.ctx.chaos.expire_token("musubi", "p") for _ in range(50)])
        assert runs[0] == runs[1] and 3 < sum(runs[0]) < 40
        assert not any(r.ctx.chaos.expire_token("broker", "b") for _ in range(50))
        j = (await r.client.get("/_admin/journal", headers=ADMIN_HEADERS)).json()["entries"]
        assert any(e.get("chaos") and e["action"] == {"token_expired": True} for e in j)


async def test_reset_restarts_chaos_from_its_first_draw(sqlite_url: str) -> None:
    """After a reset the same request sequence meets the same misbehaviour again."""
    async with running_app(make_settings(sqlite_url)) as r:
        await _chaos(r.client, HTTP_CHAOS)
        runs = []
        for _ in range(2):
            made = await r.client.post(
                "/_admin/musubi/participants",
                json={"name": "Si", "role": "institution"},
                headers=ADMIN_HEADERS,
            )
            creds = {k: made.json()[k] for k in ("client_id", "client_secret")}
            seq: list[tuple[int, str | None]] = []
            while not seq or seq[-1][0] != 200:  # a client retrying its token request under chaos
                t = await r.client.post("/auth/token", json=creds)
                seq.append((t.status_code, None))
            h = {"Authorization": f"Bearer {t.json()['data']['token']}"}
            runs.append(seq + await _run(r.client, h, 20))
            assert (
                await r.client.post("/_admin/reset", json={"seed": "none"}, headers=ADMIN_HEADERS)
            ).status_code == 200
        assert runs[0] == runs[1]


async def test_serve_chaos_file(tmp_path: Path, sqlite_url: str) -> None:
    """`serve --chaos FILE` (setting `chaos`) starts with that chaos switched on."""
    path = tmp_path / "chaos.json"
    path.write_text(json.dumps(HTTP_CHAOS))
    async with running_app(make_settings(sqlite_url, chaos=str(path))) as r:
        state = (await r.client.get("/_admin/chaos", headers=ADMIN_HEADERS)).json()
        assert state["active"] and state["seed"] == 42 and state["families"] == ["musubi"]
