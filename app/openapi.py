"""The published OpenAPI description, built as a contract (CONTRACT §0).

FastAPI's `get_openapi` lists the routes; this module then makes every operation say what the
server really does: its success answer (a Pydantic model in the family's envelope), every error
status with the family's error schema and codes, no FastAPI default 422 (the server answers 400),
its security scheme, tags, a description and a request example that succeeds against a
`--seed demo` server. Each family declares its operations (`Family.openapi`, keyed by method and
path template); the control API's operations are declared in `app/routers/admin_schemas.py`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

if TYPE_CHECKING:
    from fastapi import FastAPI

    from app.families import Registry

REF = "#/components/schemas/{model}"

# --- security schemes -----------------------------------------------------------------------------
MUSUBI = "musubiBearer"
BROKER = "brokerToken"
ADMIN = "adminBearer"
SC_HEADERS: tuple[tuple[str, str, str], ...] = (
    ("scAuthVersion", "SC-Auth-Version", "always 2"),
    ("scKey", "SC-Key", "apiKeyId (spk_…)"),
    ("scPassphrase", "SC-Passphrase", "apiPassphrase (spp_…)"),
    ("scTimestamp", "SC-Timestamp", "ms since the epoch, within ±30 s of the server's wall clock"),
    ("scNonce", "SC-Nonce", "integer, never reused by the same key"),
    (
        "scSignature",
        "SC-Signature",
        "hex HMAC-SHA256 keyed by apiSecret over the lines SENTICORE-HMAC-V2, sc-key:, sc-nonce:, "
        "sc-timestamp:, method:, path:, query: (items sorted), body-sha256: — joined by \\n",
    ),
)
ORDER_ENTRY = "orderEntrySigned"  # the name used in declarations; expands to the six SC-* schemes

SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    MUSUBI: {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "Musubi: `Authorization: Bearer <jwt>` from POST /auth/token "
        "(HS256, iss musubi, aud musubi-api).",
    },
    BROKER: {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": 'Broker: `Authorization: <jwt>` (no "Bearer"; a "Bearer " prefix is also '
        "accepted), the `__token` of POST /sign/in or PUT /sign/up.",
    },
    **{
        name: {"type": "apiKey", "in": "header", "name": header, "description": f"Order Entry: {text}"}
        for name, header, text in SC_HEADERS
    },
    ADMIN: {
        "type": "http",
        "scheme": "bearer",
        "description": "Control API: `Authorization: Bearer <admin token>` (--admin-token).",
    },
}


def requirement(scheme: str | None) -> list[dict[str, list[str]]]:
    """The `security` list of an operation (the six SC-* headers are required together)."""
    if scheme is None:
        return []
    if scheme == ORDER_ENTRY:
        return [{name: [] for name, _, _ in SC_HEADERS}]
    return [{scheme: []}]


# --- what a family declares per operation -----------------------------------------------------------
@dataclass(frozen=True)
class Op:
    """One operation's contract. `errors` maps each error status to the codes it can carry;
    `example` is a request that succeeds on a fresh `--seed demo` server: `path` and `query`
    values, a JSON `body`, extra `headers`; `requires` names a prior step that example runners
    perform first, whose values (`{intent_id}`, …) fill the placeholders."""

    model: type[BaseModel] | None
    description: str
    status: int = 200
    errors: Mapping[int, Sequence[str]] = field(default_factory=dict)
    security: str | None = None
    tag: str | None = None
    media: str = "application/json"
    path: Mapping[str, Any] = field(default_factory=dict)
    query: Mapping[str, Any] = field(default_factory=dict)
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    requires: str | None = None
    alt_media: Mapping[str, str] = field(default_factory=dict)  # other content types (CSV…)
    error: type[BaseModel] | None = None  # another error document (control routes: CoreError)
    caller: str | None = None  # the demo identity the example acts as (client_id, login, apiKeyId)
    response_headers: Mapping[str, str] = field(default_factory=dict)  # success headers: name → text
    request: type[BaseModel] | None = None  # the JSON body's schema, where the route reads it itself


@dataclass
class Declarations:
    """A family's (or the control API's) operations and its error document's model."""

    error: type[BaseModel]
    ops: dict[tuple[str, str], Op]
    response_headers: Mapping[str, str] = field(default_factory=dict)  # on every answer: name → text


Errors = Mapping[int, Sequence[str]]
Declarer = Callable[[], Declarations]

EXAMPLES_NOTE = """
**Examples.** Every operation's request example succeeds against a fresh `--seed demo` server as the
demo identity named in `x-example-caller` (a Musubi `client_id`, a broker login, an Order Entry
`apiKeyId`). An operation on something created first names that step in `x-example-requires`
(`musubi-order`: an order created by the sender institution; `musubi-rfq`: that order accepted by
its custodian; `musubi-quote`: a quote submitted on it; `musubi-settlement`: that quote selected;
`broker-position`, `broker-pending`, `broker-script`, `broker-alert`: one created by login 1001);
its `{placeholders}` take the ids the step returns.
"""

SUCCESS_TEXT = {200: "OK", 201: "Created"}
TOO_LARGE = ("PAYLOAD_TOO_LARGE",)
ERROR_TEXT = {
    400: "Invalid input (names the field)",
    401: "Missing or invalid credentials",
    402: "Payment required",
    403: "Forbidden",
    404: "Not found",
    409: "Conflict with the current state",
    413: "Request body over REFSERVER_MAX_BODY_BYTES (default 1 MiB), refused before it is read",
    502: "Upstream settlement network unavailable",
    503: "Service unavailable (recovering from a failed write); retry",
}


class ErrorBody(BaseModel):
    code: str
    message: str


class CoreError(BaseModel):
    """`{"error": {"code", "message"}}`: the control API's and the core routes' error."""

    error: ErrorBody


class Health(BaseModel):
    status: str


def control(model: type[BaseModel], text: str, errors: Errors, **kw: Any) -> Op:
    """A control-API operation: admin bearer token, `control` tag, the core error document."""
    return Op(
        model,
        text,
        errors={401: ("UNAUTHORIZED",), **errors},
        security=ADMIN,
        tag="control",
        error=CoreError,
        **kw,
    )


def _models(decls: list[Declarations]) -> list[type[BaseModel]]:
    seen: dict[str, type[BaseModel]] = {}
    for d in decls:
        for op in d.ops.values():
            for m in (op.model, op.error, op.request):
                if m is not None:
                    seen.setdefault(m.__name__, m)
        seen.setdefault(d.error.__name__, d.error)
    return list(seen.values())


def _schemas(models: list[type[BaseModel]]) -> dict[str, Any]:
    _, top = models_json_schema([(m, "validation") for m in models], ref_template=REF)
    defs: dict[str, Any] = top.get("$defs", {})
    return defs


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


def apply(op_doc: dict[str, Any], op: Op, decl: Declarations) -> None:
    """Rewrite one generated operation with its declaration."""
    op_doc["description"] = op.description
    if op.tag:
        op_doc["tags"] = [op.tag]
    op_doc["security"] = requirement(op.security)
    # the SC-* headers are declared as security schemes, not as parameters
    sc = {h.lower() for _, h, _ in SC_HEADERS}
    params = [p for p in op_doc.get("parameters", []) if p.get("name", "").lower() not in sc]
    for p in params:
        name = p.get("name")
        if p.get("in") == "path" and name in op.path:
            p["example"] = op.path[name]
        elif p.get("in") == "query" and name in op.query:
            p["example"] = op.query[name]
        elif p.get("in") == "header" and name in op.headers:
            p["example"] = op.headers[name]
    if params:
        op_doc["parameters"] = params
    else:
        op_doc.pop("parameters", None)
    if op.body is not None or op.request is not None:
        rb = op_doc.setdefault("requestBody", {"required": True, "content": {}})
        content = rb.setdefault("content", {})
        media = content.setdefault("application/json", {"schema": {"type": "object"}})
        if op.request is not None:
            media["schema"] = _ref(op.request)
        if op.body is not None:
            media["example"] = op.body
            media.pop("examples", None)
    if op.requires:
        op_doc["x-example-requires"] = op.requires
    if op.caller:
        op_doc["x-example-caller"] = op.caller
    responses: dict[str, Any] = {}
    success: dict[str, Any] = {"description": SUCCESS_TEXT.get(op.status, "Success")}
    if op.model is not None:
        success["content"] = {op.media: {"schema": _ref(op.model)}}
        for media, text in op.alt_media.items():
            success["content"][media] = {"schema": {"type": "string", "description": text}}
    responses[str(op.status)] = success
    # the family's headers on its own routes (not on its control routes, which answer as the core)
    family_headers = decl.response_headers if op.error is None else {}
    headers = {
        name: {"description": text, "schema": {"type": "string"}}
        for name, text in {**family_headers, **op.response_headers}.items()
    }
    errors = dict(op.errors)
    if "requestBody" in op_doc:
        # the edge refuses a body over REFSERVER_MAX_BODY_BYTES before any route sees it
        errors.setdefault(413, TOO_LARGE)
    for status, codes in sorted(errors.items()):
        text = ERROR_TEXT.get(status, "Error")
        if codes:
            text += ": " + ", ".join(codes)
        responses[str(status)] = {
            "description": text,
            "content": {"application/json": {"schema": _ref(op.error or decl.error)}},
            "x-error-codes": list(codes),
        }
        if family_headers:
            responses[str(status)]["headers"] = {k: headers[k] for k in family_headers}
    if headers:
        success["headers"] = headers
    op_doc["responses"] = responses


def lazy(module: str) -> Callable[[], Declarations]:
    """`Family.openapi` for the `declarations()` of `module`, imported on the first call: the
    Pydantic models of a family's contract load with the first /openapi.json, not at start-up."""

    def declare() -> Declarations:
        made: Declarations = importlib.import_module(module).declarations()
        return made

    return declare


def build(app: FastAPI, registry: Registry, extra: Sequence[Declarations] = ()) -> dict[str, Any]:
    """The whole document: FastAPI's listing, every operation rewritten by its declaration."""
    from fastapi.openapi.utils import get_openapi

    doc = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        tags=None,
    )
    doc["info"]["description"] = (doc["info"].get("description") or "") + EXAMPLES_NOTE
    decls: list[Declarations] = []
    by_op: dict[tuple[str, str], tuple[Op, Declarations]] = {}
    for fam in registry:
        declare: Declarer | None = getattr(fam, "openapi", None)
        if declare is not None:
            decls.append(declare())
    decls.extend(extra)
    for d in decls:
        for key, op in d.ops.items():
            by_op[(key[0].upper(), key[1])] = (op, d)
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    schemas.update(_schemas(_models(decls)))
    components["securitySchemes"] = dict(SECURITY_SCHEMES)
    for path, ops in doc.get("paths", {}).items():
        for method, op_doc in ops.items():
            found = by_op.get((method.upper(), path))
            if found is not None:
                apply(op_doc, *found)
            op_doc.get("responses", {}).pop("422", None)
    if not schemas:
        components.pop("schemas", None)
    return doc


def install(app: FastAPI, registry: Registry, core: Callable[[Registry], Declarations]) -> None:
    """`app.openapi = …`: built once, on the first request of /openapi.json (or /docs), from the
    families' declarations and `core(registry)`, the control API's and core routes'."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build(app, registry, [core(registry)])
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
