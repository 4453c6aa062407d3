"""/docs and /redoc work offline: their pages and assets come from refserver itself."""

from __future__ import annotations

import re

import pytest

from tests.conftest import make_settings, running_app

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_pages_load_nothing_from_outside(sqlite_url: str, page: str) -> None:
    """The page names no external host (no CDN, no Google Fonts, no validator badge), and every
    asset it references is served by refserver (so it renders without internet access)."""
    async with running_app(make_settings(sqlite_url)) as r:
        resp = await r.client.get(page)
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/html")
        html = resp.text
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", html, re.I), html
        refs = set(re.findall(r"""(?:src|href|spec-url)=["']([^"']+)["']""", html))
        refs |= set(re.findall(r"""url:\s*['"]([^'"]+)['"]""", html))
        assets = {u for u in refs if u.startswith("/docs-assets/")}
        assert len(assets) >= 2, refs  # the script and the favicon (and Swagger UI's CSS)
        for url in refs:
            assert url.startswith("/"), url
            got = await r.client.get(url)
            assert got.status_code == 200 and len(got.content) > 0, url
        assert "/openapi.json" in refs
