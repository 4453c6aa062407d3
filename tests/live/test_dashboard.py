"""The dashboard in headless Chromium against a real server: no console errors, live panes."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest

from tests.conftest import ADMIN, ADMIN_HEADERS, live_server, make_settings

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


async def test_dashboard_is_live_in_a_real_browser(sqlite_url: str, chromium: str) -> None:
    """Loads with no console errors; quotes tick; a ticket trade shows in positions; a Musubi order moves."""
    from playwright.async_api import async_playwright

    from app.engine.musubi.service import demo_party_id

    settings = make_settings(
        sqlite_url,
        seed="demo",
        clock="frozen",
        musubi_quote_delay_ms=1_000,
        musubi_execute_delay_ms=500,
        musubi_settle_delay_ms=500,
    )
    async with live_server(settings) as live, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, args=FLAGS)
        page = await browser.new_page(viewport={"width": 1400, "height": 1100})
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(f"{live.base_url}/#admin={ADMIN}")
        await page.wait_for_selector("body[data-ready='1']", timeout=15_000)

        async with httpx.AsyncClient(base_url=live.base_url) as c:
            admin = {"headers": ADMIN_HEADERS}
            # quotes visibly tick: advance the frozen clock, the watch table's bid changes
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

            # a Musubi order placed through the API moves across the board
            cfg = (await c.get("/_admin/dashboard", **admin)).json()
            tok = (
                await c.post(
                    "/auth/token",
                    json={"client_id": "sender-institution", "client_secret": "sender-institution-secret"},
                )
            ).json()["data"]["token"]
            cust = (
                await c.post(
                    "/auth/token",
                    json={"client_id": "custodian-a", "client_secret": "custodian-a-secret"},
                )
            ).json()["data"]["token"]
            assert cfg["musubi"]["client_id"]
            parties = {"sender_custodian_party_id": demo_party_id("CustodianA")}
            body = await _order_body(c, parties)
            created = await c.post("/api/v1/orders", json=body, headers={"Authorization": f"Bearer {tok}"})
            assert created.status_code == 201, created.text
            intent = created.json()["data"]["intent_id"]
            card = f"#order-{intent}"
            await page.wait_for_selector(f".col[data-status='PENDING'] {card}", timeout=10_000)
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

            # Order Entry: the book shows the liquidity provider's depth; an order placed through
            # the API appears on the execution tape and among the open orders
            from app.engine.order_entry.service import DEMO_AGENTS
            from tests.order_entry.helpers import OE, Creds

            await page.wait_for_selector("#book tbody tr", timeout=10_000)
            agent = OE(c, Creds.from_json(DEMO_AGENTS[0].to_json()))
            from app.engine.order_entry.markets import BY_ID

            market = int(await page.eval_on_selector("#oe-market", "e => e.value"))
            min_qty = BY_ID[market].min_qty
            placed = await agent.place(market, "Bid", 1, min_qty, "gtc")
            order_id = str(placed["orderId"])
            await page.wait_for_selector(f"#tape tbody tr:has-text('{order_id}')", timeout=10_000)
            await page.wait_for_selector(f"#open-orders tbody tr:has-text('{order_id}')", timeout=10_000)

        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
        await browser.close()
        assert errors == []


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
