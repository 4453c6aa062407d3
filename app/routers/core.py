"""Core routes: health, and the API docs (/docs, /redoc) served with their own assets.

Swagger UI and ReDoc come from the `fastapi-offline` package (mounted at `/docs-assets`), so
the pages load nothing from outside refserver and work without internet access.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import APIRouter
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles

router = APIRouter(tags=["core"])

_OK = b'{"status":"ok"}'

ASSETS_URL = "/docs-assets"
ASSETS_DIR = Path(fastapi_offline.__file__).parent / "static"


@router.get("/health", summary='Liveness: 200 {"status":"ok"}, no auth')
async def health() -> Response:
    return Response(_OK, media_type="application/json")


def assets() -> StaticFiles:
    """Swagger UI's and ReDoc's JavaScript, CSS and favicon, for `app.mount(ASSETS_URL, …)`."""
    return StaticFiles(directory=ASSETS_DIR)


@router.get("/docs", include_in_schema=False)
async def swagger_ui(request: Request) -> HTMLResponse:
    root, assets_url = _urls(request)
    return get_swagger_ui_html(
        openapi_url=f"{root}/openapi.json",
        title=f"{request.app.title} - Swagger UI",
        swagger_js_url=f"{assets_url}/swagger-ui-bundle.js",
        swagger_css_url=f"{assets_url}/swagger-ui.css",
        swagger_favicon_url=f"{assets_url}/favicon.png",
        # no validator badge: Swagger UI would fetch it from validator.swagger.io
        swagger_ui_parameters={"validatorUrl": None},
    )


@router.get("/redoc", include_in_schema=False)
async def redoc(request: Request) -> HTMLResponse:
    root, assets_url = _urls(request)
    return get_redoc_html(
        openapi_url=f"{root}/openapi.json",
        title=f"{request.app.title} - ReDoc",
        redoc_js_url=f"{assets_url}/redoc.standalone.js",
        redoc_favicon_url=f"{assets_url}/favicon.png",
        with_google_fonts=False,
    )


def _urls(request: Request) -> tuple[str, str]:
    """(the app's root path, where the assets are) as the browser sees them."""
    root = str(request.scope.get("root_path", ""))
    return root, root + ASSETS_URL
