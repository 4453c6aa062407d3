"""The dashboard in headless Chromium against a real server: no console errors, live panes."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest

from tests.conftest import ADMIN, ADMIN_HEADERS, live_server, make_settings, wait_for

pytestmark = pytest.mark.anyio

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent.parent / "artifacts"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def chromium() -> str:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (make test installs it when run as root)")
    return CHROMIUM


async def test_dashboard_is_live_in_a_real_browser(db_url: str, chromium: str) -> None:
    """No console errors, nothing loaded from outside refserver; history shown on load; quotes tick
    for all 20 symbols; orders created from the page in the broker, Musubi and Order Entry; every
    cut stream shown reconnecting then resumed (from the ring); the coverage pane and chaos switch."""
    from playwright.async_api import async_playwright

    from app.engine.musubi.service import demo_party_id
    from app.engine.order_entry.markets import BY_ID
    from app.engine.order_entry.service import DEMO_AGENTS
    from tests.order_entry.helpers import OE, Creds

    settings = make_settings(
        db_url,
        seed="demo",
        clock="frozen",
        musubi_quote_delay_ms=1_000,
        musubi_execute_delay_ms=500,
        musubi_settle_delay_ms=500,
    )
    async with (
        live_server(settings) as live,
        async_playwright() as pw,
        httpx.AsyncClient(base_url=live.base_url) as c,
    ):
        admin = {"headers": ADMIN_HEADERS}
        cfg = (await c.get("/_admin/dashboard", **admin)).json()
        tok = await _musubi_token(c, "sender-institution")
        cust = await _musubi_token(c, "custodian-a")
        parties = {"sender_custodian_party_id": demo_party_id("CustodianA")}
        sender = {"Authorization": f"Bearer {tok}"}
        # history made before the page opens: one Musubi order, one Order Entry order
        old = await c.post("/api/v1/orders", json=await _order_body(c, parties), headers=sender)
        assert old.status_code == 201, old.text
        old_intent = old.json()["data"]["intent_id"]
        agent = OE(c, Creds.from_json(DEMO_AGENTS[0].to_json()))
        first_market = min(BY_ID)
        old_order = str(
            (await agent.place(first_market, "Bid", 1, BY_ID[first_market].min_qty, "gtc"))["orderId"]
        )

        browser = await pw.chromium.launch(executable_path=chromium, args=FLAGS)
        page = await browser.new_page(viewport={"width": 1400, "height": 1500})
        errors: list[str] = []
        outside: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on(
            "request",
            lambda r: (
                None if r.url.startswith((live.base_url, live.ws_base, "data:")) else outside.append(r.url)
            ),
        )
        page.on("websocket", lambda w: None if w.url.startswith(live.ws_base) else outside.append(w.url))
        await page.goto(f"{live.base_url}/#admin={ADMIN}")
        await page.wait_for_selector("body[data-ready='1']", timeout=15_000)

        # snapshot + replay: the board and the tape hold what happened before the page opened
        await page.wait_for_selector(f".col[data-status='PENDING'] #order-{old_intent}", timeout=5_000)
        await page.wait_for_selector(f"#tape tbody tr:has-text('{old_order}')", timeout=5_000)
        for pane in ("musubi", "broker", "oe"):
            await page.wait_for_selector(f"#{pane}-conn[data-state='live']", timeout=10_000)

        # all broker symbols in the watch table, and quotes visibly tick on the frozen clock
        symbols = (await c.get("/_admin/broker/prices", **admin)).json()
        assert await page.locator("#watch tbody tr").count() == len(_symbols(symbols)) == 20
        first = await page.inner_text("#watch tbody tr:first-child .bid")
        for _ in range(30):
            await c.post("/_admin/clock", json={"action": "advance", "ms": 1_000}, **admin)
            now = await page.inner_text("#watch tbody tr:first-child .bid")
            if now not in ("–", first):
                break
        assert await page.inner_text("#watch tbody tr:first-child .bid") not in ("–", first)

        # a trade placed through the ticket appears in the positions
        await page.click("#buy")
        await page.wait_for_selector("#positions tbody tr", timeout=10_000)

        # Musubi: an order created from the page (as the demo sender institution) moves across the board
        await page.select_option("#m-custodian", demo_party_id("CustodianA"))
        await page.click("#m-create")
        await page.wait_for_function(
            "document.querySelector('#status').textContent.startsWith('order ')", timeout=10_000
        )
        intent = (await page.inner_text("#status")).split()[1]
        card = f"#order-{intent}"
        await page.wait_for_selector(f".col[data-status='PENDING'] {card}", timeout=10_000)
        mine = (await c.get(f"/api/v1/orders/{intent}", headers=sender)).json()["data"]
        assert mine["sender_party_id"] == cfg["musubi"]["party_id"] and mine["memo"] == "from the dashboard"
        auth = {"Authorization": f"Bearer {cust}"}
        assert (await c.post(f"/api/v1/orders/{intent}/accept", headers=auth)).status_code == 200
        await c.post("/_admin/clock", json={"action": "advance", "ms": 1_500}, **admin)
        quotes = (await c.get(f"/api/v1/orders/{intent}/quotes", headers=auth)).json()["data"]
        assert quotes
        best = min(quotes, key=lambda q: float(q["source_amount"]))
        acc = await c.post(f"/api/v1/orders/{intent}/quotes/{best['quote_id']}/accept", headers=auth)
        assert acc.status_code == 200, acc.text
        for _ in range(5):
            await c.post("/_admin/clock", json={"action": "advance", "ms": 600}, **admin)
        await page.wait_for_selector(f".col[data-status='SETTLED'] {card}", timeout=10_000)

        # Order Entry: the book shows the liquidity provider's depth; an order placed from the page
        # (HMAC-signed in the browser as demo trader A) reaches the tape and the open orders
        await page.wait_for_selector("#book tbody tr", timeout=10_000)
        market = int(await page.eval_on_selector("#oe-market", "e => e.value"))
        await page.fill("#oe-price", "1")
        await page.fill("#oe-qty", str(BY_ID[market].min_qty))
        await page.click("#oe-place")
        accepted = "/^order \\S+ accepted$/.test(document.querySelector('#status').textContent)"
        try:
            await page.wait_for_function(accepted, timeout=10_000)
        except Exception:
            raise AssertionError(await page.inner_text("#status")) from None
        order_id = (await page.inner_text("#status")).split()[1]
        await page.wait_for_selector(f"#tape tbody tr:has-text('{order_id}')", timeout=10_000)
        await page.wait_for_selector(f"#open-orders tbody tr:has-text('{order_id}')", timeout=10_000)
        opened = (await agent.get(f"/api/v1/order-entry/accounts/{agent.account}/open-orders")).json()
        assert order_id in {str(o["orderId"]) for o in opened["orders"]}

        # the page's ticket raised the account's payload nonce floor: the API agent continues above it
        boot = (await agent.get(f"/api/v1/accounts/{agent.account}/bootstrap")).json()
        agent.payload_nonce = boot["nonceFloor"]

        # a cut stream: an event withheld from live delivery, then every subscriber cut; each pane
        # shows reconnecting, then resumed from the missing seq, replayed from the ring
        streams = {
            "order-entry": ("oe", agent.account),
            "musubi": ("musubi", cfg["musubi"]["party_id"]),
            "broker": ("broker", str(cfg["broker"]["login"])),
        }
        for family, (pane, stream) in streams.items():
            head = (await c.get(f"/_admin/streams/{family}/{stream}", **admin)).json()["head"]
            # the broker's market order commits two events (`o`, then `b`): both are withheld, since
            # a broker client counts frames and cannot see a hole in the middle
            withheld = 2 if family == "broker" else 1
            await c.post(f"/_admin/streams/{family}/{stream}/skip", json={"count": withheld}, **admin)
            if family == "order-entry":
                await agent.place(market, "Bid", 1, BY_ID[market].min_qty, "gtc")
            elif family == "musubi":
                await c.post("/api/v1/orders", json=await _order_body(c, parties), headers=sender)
            else:
                await page.click("#sell")

            async def committed(
                family: str = family, stream: str = stream, target: int = head + withheld
            ) -> bool:
                info = (await c.get(f"/_admin/streams/{family}/{stream}", **admin)).json()
                return bool(info["head"] == target and info["skip_pending"] == 0)

            await wait_for(committed)
            await c.post(f"/_admin/streams/{family}/{stream}/disconnect", **admin)
            await page.wait_for_selector(f"#{pane}-conn[data-state='resumed']", timeout=10_000)
            log = await page.evaluate("window.connLog")
            states = [(state, text) for (pid, state, text) in log if pid == f"{pane}-conn"]
            assert states[-2][0] == "reconnecting", states
            assert states[-1] == ("resumed", f"resumed from seq {head + 1} (ring)"), states
        # a gap in a live stream (one event withheld, the next delivered): Order Entry fills it
        # through the REST gap-fill (frames carry prevSeq), Musubi resumes from the last id seen
        head = (await c.get(f"/_admin/streams/order-entry/{agent.account}", **admin)).json()["head"]
        await c.post(f"/_admin/streams/order-entry/{agent.account}/skip", json={"count": 1}, **admin)
        hidden = (await agent.place(market, "Bid", 1, BY_ID[market].min_qty, "gtc"))["orderId"]
        shown = (await agent.place(market, "Bid", 1, BY_ID[market].min_qty, "gtc"))["orderId"]
        await page.wait_for_selector(
            f"#oe-conn:has-text('gap {head + 1}–{head + 1} filled (ring)')", timeout=10_000
        )
        for oid in (hidden, shown):
            await page.wait_for_selector(f"#tape tbody tr:has-text('{oid}')", timeout=5_000)
        head = (await c.get(f"/_admin/streams/musubi/{cfg['musubi']['party_id']}", **admin)).json()["head"]
        await c.post(f"/_admin/streams/musubi/{cfg['musubi']['party_id']}/skip", json={"count": 1}, **admin)
        gap_order = await c.post("/api/v1/orders", json=await _order_body(c, parties), headers=sender)
        gap_intent = gap_order.json()["data"]["intent_id"]
        assert (await c.post(f"/api/v1/orders/{gap_intent}/accept", headers=auth)).status_code == 200
        await page.wait_for_selector(
            f"#musubi-conn:has-text('resumed from seq {head + 1} (ring)')", timeout=10_000
        )
        await page.wait_for_selector(f".col[data-status='PENDING'] #order-{gap_intent}", timeout=5_000)

        await page.wait_for_selector("#tape tbody tr[data-seq]", timeout=5_000)
        tape = [
            int(s)
            for s in await page.eval_on_selector_all("#tape tbody tr", "rs => rs.map(r => r.dataset.seq)")
        ]
        assert tape == sorted(tape, reverse=True) and len(set(tape)) == len(tape)  # no gap filled twice

        # the coverage pane, refreshed live: demo trader A among the callers, and each family's
        # met / of as the server reports them once the page's own polling has settled
        row = "#coverage-families tr[data-family='order-entry']"
        await page.wait_for_selector(
            f"#coverage-callers:has-text('{agent.creds.api_key_id}')", timeout=10_000
        )
        assert int(await page.inner_text(f"{row} td.met")) > 0
        cov = (await c.get("/_admin/coverage", params={"family": "order-entry"}, **admin)).json()
        assert int(await page.inner_text(f"{row} td.of")) == cov["families"]["order-entry"]["of"]

        # the chaos switch
        await page.fill("#chaos-seed", "7")
        await page.click("#chaos-on")
        await page.wait_for_selector("#chaos-state[data-active='1']", timeout=5_000)
        chaos = (await c.get("/_admin/chaos", **admin)).json()
        assert chaos["active"] and chaos["seed"] == 7
        await page.click("#chaos-off")
        await page.wait_for_selector("#chaos-state[data-active='0']", timeout=5_000)
        assert (await c.get("/_admin/chaos", **admin)).json()["active"] is False

        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
        await browser.close()
        assert errors == []
        assert outside == []


async def test_dashboard_shows_a_resume_served_from_sql(sqlite_url: str, chromium: str) -> None:
    """A cut stream whose missing events have left the ring (retention passed on the domain clock)
    shows `resumed from seq N (sql)` on both the Musubi pane (the SSE's X-Resume-Source) and the
    Order Entry pane, and the replayed events still arrive."""
    from playwright.async_api import async_playwright

    from app.engine.musubi.service import demo_party_id
    from app.engine.order_entry.markets import BY_ID
    from app.engine.order_entry.service import DEMO_AGENTS
    from tests.order_entry.helpers import OE, Creds

    settings = make_settings(sqlite_url, seed="demo", clock="frozen", ring_retention_ms=1_000)
    async with (
        live_server(settings) as live,
        async_playwright() as pw,
        httpx.AsyncClient(base_url=live.base_url) as c,
    ):
        admin = {"headers": ADMIN_HEADERS}
        cfg = (await c.get("/_admin/dashboard", **admin)).json()
        sender = {"Authorization": f"Bearer {await _musubi_token(c, 'sender-institution')}"}
        agent = OE(c, Creds.from_json(DEMO_AGENTS[0].to_json()))
        market = min(BY_ID)
        browser = await pw.chromium.launch(executable_path=chromium, args=FLAGS)
        page = await browser.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(f"{live.base_url}/#admin={ADMIN}")
        await page.wait_for_selector("body[data-ready='1']", timeout=15_000)
        for pane in ("musubi", "oe"):
            await page.wait_for_selector(f"#{pane}-conn[data-state='live']", timeout=10_000)

        party = cfg["musubi"]["party_id"]
        streams = {"musubi": party, "order-entry": agent.account}
        heads = {
            f: (await c.get(f"/_admin/streams/{f}/{s}", **admin)).json()["head"] for f, s in streams.items()
        }
        for family, stream in streams.items():
            await c.post(f"/_admin/streams/{family}/{stream}/skip", json={"count": 1}, **admin)
        body = await _order_body(c, {"sender_custodian_party_id": demo_party_id("CustodianA")})
        intent = (await c.post("/api/v1/orders", json=body, headers=sender)).json()["data"]["intent_id"]
        order_id = str((await agent.place(market, "Bid", 1, BY_ID[market].min_qty, "gtc"))["orderId"])
        await c.post("/_admin/clock", json={"action": "advance", "ms": 2_000}, **admin)
        for family, stream in streams.items():
            await c.post(f"/_admin/streams/{family}/{stream}/disconnect", **admin)
        await page.wait_for_selector(
            f"#musubi-conn:has-text('resumed from seq {heads['musubi'] + 1} (sql)')", timeout=10_000
        )
        await page.wait_for_selector(
            f"#oe-conn:has-text('resumed from seq {heads['order-entry'] + 1} (sql)')", timeout=10_000
        )
        await page.wait_for_selector(f".col[data-status='PENDING'] #order-{intent}", timeout=5_000)
        await page.wait_for_selector(f"#tape tbody tr:has-text('{order_id}')", timeout=5_000)
        await browser.close()
        assert errors == []


async def test_dashboard_signs_order_entry_calls_without_webcrypto(sqlite_url: str, chromium: str) -> None:
    """Opened over plain http under another host name (not a secure context: no crypto.subtle),
    the page still HMAC-signs Order Entry calls: the tape fills from history and an order placed
    from the page is accepted."""
    from playwright.async_api import async_playwright

    from app.engine.order_entry.markets import BY_ID

    settings = make_settings(sqlite_url, seed="demo", clock="frozen")
    async with live_server(settings) as live, async_playwright() as pw:
        flags = [*FLAGS, "--host-resolver-rules=MAP refserver.test 127.0.0.1"]
        browser = await pw.chromium.launch(executable_path=chromium, args=flags)
        page = await browser.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(f"http://refserver.test:{live.port}/#admin={ADMIN}")
        await page.wait_for_selector("body[data-ready='1']", timeout=15_000)
        assert await page.evaluate("window.isSecureContext || !!crypto.subtle") is False
        await page.wait_for_selector("#oe-conn[data-state='live']", timeout=10_000)
        market = int(await page.eval_on_selector("#oe-market", "e => e.value"))
        await page.fill("#oe-price", "1")
        await page.fill("#oe-qty", str(BY_ID[market].min_qty))
        await page.click("#oe-place")
        await page.wait_for_function(
            "/^order \\S+ accepted$/.test(document.querySelector('#status').textContent)"
        )
        order_id = (await page.inner_text("#status")).split()[1]
        await page.wait_for_selector(f"#tape tbody tr:has-text('{order_id}')", timeout=10_000)
        await browser.close()
        assert errors == []


def _symbols(prices: dict[str, list[dict[str, object]]]) -> list[object]:
    return [r["symbol"] for r in prices["prices"]]


async def _musubi_token(c: httpx.AsyncClient, client_id: str) -> str:
    resp = await c.post("/auth/token", json={"client_id": client_id, "client_secret": f"{client_id}-secret"})
    token: str = resp.json()["data"]["token"]
    return token


async def _order_body(c: httpx.AsyncClient, parties: dict[str, str]) -> dict[str, str]:
    import uuid

    from app.engine.musubi.service import demo_party_id

    return {
        "sender_custodian_party_id": parties["sender_custodian_party_id"],
        "intent_signature": "3045022100ab",
        "receiver_party_id": demo_party_id("ReceiverInstitution"),
        "receiver_custodian_party_id": demo_party_id("CustodianB"),
        "source_contract_id": "00a3f7c21d83#0",
        "source_currency": "JPYSC0",
        "target_amount": "1000",
        "target_currency": "USDCx",
        "source_amount_max": "160000",
        "kyc_aml_ref": str(uuid.uuid4()),
        "jurisdiction_sender": "JP",
        "jurisdiction_receiver": "US",
        "memo": "dashboard test",
    }


async def test_dashboard_serves_without_admin_token(sqlite_url: str) -> None:
    """The page and its assets are served; the config route needs the admin token."""
    async with live_server(make_settings(sqlite_url)) as live, httpx.AsyncClient(base_url=live.base_url) as c:
        assert "refserver" in (await c.get("/")).text
        assert (await c.get("/web/dashboard.js")).status_code == 200
        assert (await c.get("/web/nope.js")).status_code == 404
        assert (await c.get("/_admin/dashboard")).status_code == 401
        cfg = (await c.get("/_admin/dashboard", headers=ADMIN_HEADERS)).json()
        assert cfg == {"musubi": None, "broker": None, "order_entry": None}
