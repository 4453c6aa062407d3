"""Control routes of the integrator tools (CONTRACT §7): client coverage and seeded chaos.

`GET /_admin/coverage[?family=&caller=]` answers the coverage report (§7.1);
`GET / POST / DELETE /_admin/chaos` read, switch on and stop seeded chaos (§7.2).
"""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.context import AppContext
from app.deps import AdminAuth, Ctx
from app.engine.errors import InvalidInput
from app.integrator.coverage import Catalogue
from app.routers.kit import answer, read_json

router = APIRouter(prefix="/_admin", tags=["control"], dependencies=[AdminAuth])


def catalogue(ctx: AppContext, request: Request) -> Catalogue:
    """Everything that could be exercised: the served OpenAPI and AsyncAPI documents, built once."""
    cov = ctx.coverage
    if cov.catalogue is None:
        registry = ctx.registry

        def family_of(path: str) -> str | None:
            fam = registry.for_path(path)
            return fam.name if fam is not None else None

        channels: dict[str, Iterable[str]] = {
            fam.name: list((fam.asyncapi() if fam.asyncapi is not None else {}).get("channels", {}))
            for fam in registry
        }
        cov.catalogue = Catalogue.build(request.app.openapi(), family_of, channels)
    return cov.catalogue


@router.get("/coverage", summary="Client coverage: what each caller exercised, against the catalogue")
async def coverage(
    ctx: Ctx, request: Request, family: str | None = None, caller: str | None = None
) -> Response:
    if family is not None and ctx.registry.get(family) is None:
        raise InvalidInput.field("family", f"must be one of {', '.join(ctx.registry.names)}")
    catalogue(ctx, request)
    return answer(ctx.coverage.report(family, caller))


@router.get("/chaos", summary="Read the seeded chaos in force")
async def chaos_get(ctx: Ctx) -> Response:
    return answer(ctx.chaos.snapshot())


@router.post("/chaos", summary="Switch on seeded chaos {seed, families?, http?, streams?, tokens?}")
async def chaos_post(ctx: Ctx, request: Request) -> Response:
    ctx.chaos.configure(await read_json(request))
    return answer(ctx.chaos.snapshot())


@router.delete("/chaos", summary="Stop chaos")
async def chaos_delete(ctx: Ctx) -> Response:
    ctx.chaos.stop()
    return answer(ctx.chaos.snapshot())
