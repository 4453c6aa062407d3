"""AsyncAPI 3.0 fragment for the Musubi SSE channels (merged into `/asyncapi.json`)."""

from __future__ import annotations

from typing import Any

from app.engine.musubi.model import CURRENCIES, FAILURE_REASONS, QUOTE_STATUSES, STATUSES
from app.routers.musubi.examples import CREATE_BODY, SENDER

_TS = {"type": "string", "format": "date-time", "example": "2025-03-15T09:00:00.000Z"}
_TS_NULL = {"type": ["string", "null"], "format": "date-time"}
_DEC = {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?$", "example": "100000"}
_DEC_NULL = {"type": ["string", "null"], "pattern": r"^[0-9]+(\.[0-9]+)?$"}
_PARTY = {"type": "string", "pattern": r"^[A-Za-z][A-Za-z0-9_\-]*::1220[0-9a-f]{64}$"}
_PARTY_NULL = {"type": ["string", "null"], "pattern": r"^[A-Za-z][A-Za-z0-9_\-]*::1220[0-9a-f]{64}$"}
_UUID = {"type": "string", "format": "uuid"}
_CCY = {"type": "string", "enum": list(CURRENCIES)}


def _obj(props: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": list(props), "properties": props}


ORDER = _obj(
    {
        "intent_id": _UUID,
        "status": {
            "type": "string",
            "enum": list(STATUSES),
        },
        "sender_party_id": _PARTY,
        "sender_custodian_party_id": _PARTY,
        "receiver_party_id": _PARTY,
        "receiver_custodian_party_id": _PARTY,
        "intent_signature": {"type": "string"},
        "source_contract_id": {"type": "string"},
        "source_currency": _CCY,
        "target_amount": _DEC,
        "target_currency": _CCY,
        "source_amount_max": _DEC,
        "kyc_aml_ref": _UUID,
        "jurisdiction_sender": {"type": "string", "pattern": "^[A-Z]{2}$"},
        "jurisdiction_receiver": {"type": "string", "pattern": "^[A-Z]{2}$"},
        "memo": {"type": ["string", "null"]},
        "created_at": _TS,
        "updated_at": _TS,
        "expires_at": _TS,
        "custodian_accepted_at": _TS_NULL,
        "fx_rate": _DEC_NULL,
        "source_amount_actual": _DEC_NULL,
        "market_maker_party_id": _PARTY_NULL,
        "selected_quote_id": {"type": ["string", "null"], "format": "uuid"},
        "quote_accepted_at": _TS_NULL,
        "transaction_hash": {"type": ["string", "null"], "pattern": "^0x[0-9a-f]{64}$"},
        "settled_at": _TS_NULL,
        "failure_reason": {
            "type": ["string", "null"],
            "enum": [*FAILURE_REASONS, None],
        },
    }
)

_QUOTE_PROPS: dict[str, Any] = {
    "quote_id": _UUID,
    "intent_id": _UUID,
    "market_maker_party_id": _PARTY,
    "fx_rate": _DEC,
    "target_amount": _DEC,
    "source_amount": _DEC,
    "valid_until": _TS,
    "status": {"type": "string", "enum": list(QUOTE_STATUSES)},
    "created_at": _TS,
}
QUOTE = _obj(_QUOTE_PROPS)
OWN_QUOTE = _obj({k: v for k, v in _QUOTE_PROPS.items() if k != "market_maker_party_id"})
RFQ = _obj(
    {
        "intent_id": _UUID,
        "created_at": _TS,
        "expires_at": _TS,
        "source_currency": _CCY,
        "target_amount": _DEC,
        "target_currency": _CCY,
    }
)
SETTLEMENT = _obj(
    {
        "intent_id": _UUID,
        "quote_id": _UUID,
        "status": ORDER["properties"]["status"],
        "source_currency": _CCY,
        "source_amount": _DEC,
        "target_currency": _CCY,
        "target_amount": _DEC,
        "fx_rate": _DEC,
        "quote_accepted_at": _TS_NULL,
        "transaction_hash": ORDER["properties"]["transaction_hash"],
        "settled_at": _TS_NULL,
        "failure_reason": ORDER["properties"]["failure_reason"],
        "updated_at": _TS,
    }
)
HEARTBEAT = _obj({"timestamp": _TS})


# --- examples: one settled-to-be order of the demo participants, as the server sends it ------------
MAKER = "MarketMakerA::12206efcb905392b89684c8949ee7d67750c92a5aff2b47c4fc036d18ddb6bec9b95"
_IID = "a87d9370-2fca-4ae4-80f3-776d55a7d724"
_QID = "ed5b0776-cd2f-4c89-a87b-eb15a402dfcf"
_AT = "2025-03-15T09:00:00.000Z"
_LATER = "2025-03-15T09:00:09.120Z"
_UNTIL = "2025-03-15T09:01:08.000Z"
_EXPIRES = "2025-03-15T09:05:00.000Z"
_QUOTE_EXAMPLE: dict[str, Any] = {
    "quote_id": _QID,
    "intent_id": _IID,
    "market_maker_party_id": MAKER,
    "fx_rate": "150.25",
    "target_amount": "100000",
    "source_amount": "15025000",
    "valid_until": _UNTIL,
    "status": "PENDING",
    "created_at": "2025-03-15T09:00:08.000Z",
}
EXAMPLES: dict[str, tuple[int | None, dict[str, Any]]] = {
    "order_updated": (
        4,
        {
            "intent_id": _IID,
            "status": "QUOTED",
            "sender_party_id": SENDER,
            **CREATE_BODY,
            "created_at": _AT,
            "updated_at": _LATER,
            "expires_at": _EXPIRES,
            "custodian_accepted_at": "2025-03-15T09:00:00.120Z",
            "fx_rate": "150.25",
            "source_amount_actual": "15025000",
            "market_maker_party_id": MAKER,
            "selected_quote_id": _QID,
            "quote_accepted_at": None,
            "transaction_hash": None,
            "settled_at": None,
            "failure_reason": None,
        },
    ),
    "quote_received": (3, _QUOTE_EXAMPLE),
    "quote_request_created": (
        1,
        {
            "intent_id": _IID,
            "created_at": _AT,
            "expires_at": _EXPIRES,
            "source_currency": "JPYSC0",
            "target_amount": "100000",
            "target_currency": "USDCx",
        },
    ),
    "quote_updated": (
        3,
        {
            **{k: v for k, v in _QUOTE_EXAMPLE.items() if k != "market_maker_party_id"},
            "status": "ACCEPTED",
        },
    ),
    "settlement_updated": (
        6,
        {
            "intent_id": _IID,
            "quote_id": _QID,
            "status": "SETTLED",
            "source_currency": "JPYSC0",
            "source_amount": "15025000",
            "target_currency": "USDCx",
            "target_amount": "100000",
            "fx_rate": "150.25",
            "quote_accepted_at": "2025-03-15T09:00:09.120Z",
            "transaction_hash": "0x" + "5d1f0c7a9b3e2d48" * 4,
            "settled_at": "2025-03-15T09:00:14.120Z",
            "failure_reason": None,
            "updated_at": "2025-03-15T09:00:14.120Z",
        },
    ),
    "heartbeat": (None, {"timestamp": "2025-03-15T09:00:30.000Z"}),
}


def _message(name: str, summary: str, schema: str, *, sequenced: bool = True) -> dict[str, Any]:
    seq, payload = EXAMPLES[name]
    headers: dict[str, Any] = {"event": name} if seq is None else {"id": seq, "event": name}
    msg: dict[str, Any] = {
        "name": name,
        "title": name,
        "summary": summary,
        "contentType": "application/json",
        "payload": {"$ref": f"#/components/schemas/{schema}"},
        "examples": [{"name": name, "headers": headers, "payload": payload}],
    }
    if sequenced:
        msg["headers"] = {
            "type": "object",
            "properties": {
                "id": {
                    "type": "integer",
                    "minimum": 1,
                    "description": "SSE `id:` — the participant stream's sequence number",
                },
                "event": {"type": "string", "const": name, "description": "SSE `event:`"},
            },
        }
    else:
        msg["headers"] = {"type": "object", "properties": {"event": {"type": "string", "const": name}}}
    return msg


_MESSAGES = {
    "musubiOrderUpdated": _message(
        "order_updated",
        "An order was created or changed status or a lifecycle field (to every party of the order)",
        "MusubiOrder",
    ),
    "musubiQuoteReceived": _message(
        "quote_received", "A new quote on an order (sender side only)", "MusubiQuote"
    ),
    "musubiQuoteRequestCreated": _message(
        "quote_request_created", "An RFQ opened (to every market maker, anonymised)", "MusubiQuoteRequest"
    ),
    "musubiQuoteUpdated": _message(
        "quote_updated", "The maker's own quote was submitted or changed status", "MusubiOwnQuote"
    ),
    "musubiSettlementUpdated": _message(
        "settlement_updated",
        "The maker's won settlement changed (selection, co-sign, status)",
        "MusubiSettlement",
    ),
    "musubiHeartbeat": _message(
        "heartbeat",
        "Keep-alive every REFSERVER_MUSUBI_SSE_HEARTBEAT_MS (30 s); carries no id",
        "MusubiHeartbeat",
        sequenced=False,
    ),
}

_BINDING_DOC = (
    "Server-sent events over HTTP GET. Resume with header `Last-Event-ID: <n>` to receive every event "
    "with id > n (ring first, SQL fallback), then live events, with no gap and no duplicate; the response "
    "header `X-Resume-Source` is `ring`, `sql`, `mixed` or `live`. `?intent_id=<uuid>` keeps one order's "
    "events. The token may be given as `?access_token=<jwt>` (the Authorization header wins). The stream "
    "ends on a control-API disconnect, reset or when the client falls too far behind."
)

_PARAMS = {
    "intent_id": {"description": "query: only this order's events (UUID)"},
    "access_token": {"description": "query: the JWT, for clients that cannot send headers"},
}


def asyncapi() -> dict[str, Any]:
    ref = "#/components/messages/"
    return {
        "channels": {
            "musubiOrderEvents": {
                "address": "/api/v1/orders/events",
                "title": "Musubi institution and custodian events (SSE)",
                "description": _BINDING_DOC,
                "parameters": {},
                "messages": {
                    "orderUpdated": {"$ref": ref + "musubiOrderUpdated"},
                    "quoteReceived": {"$ref": ref + "musubiQuoteReceived"},
                    "heartbeat": {"$ref": ref + "musubiHeartbeat"},
                },
                "bindings": {"http": {"method": "GET", "query": {"type": "object", "properties": _PARAMS}}},
            },
            "musubiMarketMakerEvents": {
                "address": "/api/v1/events",
                "title": "Musubi market-maker events (SSE)",
                "description": _BINDING_DOC,
                "parameters": {},
                "messages": {
                    "quoteRequestCreated": {"$ref": ref + "musubiQuoteRequestCreated"},
                    "quoteUpdated": {"$ref": ref + "musubiQuoteUpdated"},
                    "settlementUpdated": {"$ref": ref + "musubiSettlementUpdated"},
                    "heartbeat": {"$ref": ref + "musubiHeartbeat"},
                },
                "bindings": {"http": {"method": "GET", "query": {"type": "object", "properties": _PARAMS}}},
            },
        },
        "operations": {
            "musubiReceiveOrderEvents": {
                "action": "receive",
                "channel": {"$ref": "#/channels/musubiOrderEvents"},
                "summary": "Institutions and custodians receive their order and quote events",
                "security": [{"$ref": "#/components/securitySchemes/musubiBearer"}],
                "messages": [
                    {"$ref": "#/channels/musubiOrderEvents/messages/orderUpdated"},
                    {"$ref": "#/channels/musubiOrderEvents/messages/quoteReceived"},
                    {"$ref": "#/channels/musubiOrderEvents/messages/heartbeat"},
                ],
            },
            "musubiReceiveMarketMakerEvents": {
                "action": "receive",
                "channel": {"$ref": "#/channels/musubiMarketMakerEvents"},
                "summary": "Market makers receive RFQs, their quotes' and settlements' changes",
                "security": [{"$ref": "#/components/securitySchemes/musubiBearer"}],
                "messages": [
                    {"$ref": "#/channels/musubiMarketMakerEvents/messages/quoteRequestCreated"},
                    {"$ref": "#/channels/musubiMarketMakerEvents/messages/quoteUpdated"},
                    {"$ref": "#/channels/musubiMarketMakerEvents/messages/settlementUpdated"},
                    {"$ref": "#/channels/musubiMarketMakerEvents/messages/heartbeat"},
                ],
            },
        },
        "components": {
            "messages": _MESSAGES,
            "schemas": {
                "MusubiOrder": ORDER,
                "MusubiQuote": QUOTE,
                "MusubiOwnQuote": OWN_QUOTE,
                "MusubiQuoteRequest": RFQ,
                "MusubiSettlement": SETTLEMENT,
                "MusubiHeartbeat": HEARTBEAT,
            },
            "securitySchemes": {
                "musubiBearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "POST /auth/token {client_id, client_secret}; HS256, iss musubi, aud musubi-api. "
                    "SSE routes also accept ?access_token=<jwt>.",
                }
            },
        },
    }
