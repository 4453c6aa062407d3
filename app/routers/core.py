"""Core routes: health, and the API docs (/docs, /redoc) served with their own assets.

Swagger UI and ReDoc come from the `fastapi-offline` package (mounted at `/docs-assets`), so
the pages load nothing from outside refserver and work without internet access.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
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


# no validator badge: Swagger UI would fetch it from validator.swagger.io
_SWAGGER_UI = partial(get_swagger_ui_html, swagger_ui_parameters={"validatorUrl": None})
_REDOC = partial(get_redoc_html, with_google_fonts=False)


@router.get("/docs", include_in_schema=False)
async def swagger_ui(request: Request) -> HTMLResponse:
    return _page(
        request, _SWAGGER_UI, "Swagger UI", "swagger", js="swagger-ui-bundle.js", css="swagger-ui.css"
    )


@router.get("/redoc", include_in_schema=False)
async def redoc(request: Request) -> HTMLResponse:
    return _page(request, _REDOC, "ReDoc", "redoc", js="redoc.standalone.js")


def _page(
    request: Request, render: Callable[..., HTMLResponse], name: str, prefix: str, **assets: str
) -> HTMLResponse:
    """A docs page on the app's OpenAPI, with its `assets` (`js`, `css`: file names) and the
    favicon served at ASSETS_URL under the app's root path, as the browser sees them."""
    root = str(request.scope.get("root_path", ""))
    urls = {
        f"{prefix}_{k}_url": f"{root}{ASSETS_URL}/{v}"
        for k, v in {**assets, "favicon": "favicon.png"}.items()
    }
    return render(openapi_url=f"{root}/openapi.json", title=f"{request.app.title} - {name}", **urls)
