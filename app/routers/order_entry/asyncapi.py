"""AsyncAPI 3.0 fragment for the Order Entry private execution WebSocket (merged into
/asyncapi.json)."""

from __future__ import annotations

from typing import Any

INT = {"type": "integer"}
STR = {"type": "string"}
NSTR = {"type": ["string", "null"]}
NINT = {"type": ["integer", "null"]}
STATUSES = ["NEW", "PARTIALLY_FILLED", "FILLED", "CANCELED", "REPLACED", "REJECTED", "EXPIRED"]
REJECT_CODES = [
    "INVALID_ORDER",
    "UNKNOWN_MARKET",
    "UNKNOWN_ORDER",
    "INSUFFICIENT_BALANCE",
    "NONCE_REPLAY",
    "POST_ONLY_WOULD_TAKE",
    "DUPLICATE_CLIENT_ORDER_ID",
    "MARKET_HALTED",
    "RATE_LIMITED",
]
CHANNELS = ("orderEntryPrivate", "orderEntryPrivateBsl")


def _message(name: str, summary: str, payload: dict[str, Any], example: Any) -> dict[str, Any]:
    return {
        "name": name,
        "title": name,
        "summary": summary,
        "payload": payload,
        "examples": [{"payload": example}],
    }


def _op(frame: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": frame, "required": required}


def asyncapi() -> dict[str, Any]:
    execution = {
        "type": "object",
        "description": (
            "One execution event (CONTRACT §4.4): an acknowledgement, fill, amendment, cancel, expiry or "
            "reject. filledQty is this event's fill (0 otherwise), cumQty the order's total filled, "
            "leavesQty what remains open; a REJECTED event refers to the action (cumQty and leavesQty 0). "
            "side, price and qty are the order's current values (null when no order is known)."
        ),
        "required": [
            "seq",
            "prevSeq",
            "clientOrderId",
            "orderId",
            "status",
            "filledQty",
            "cumQty",
            "leavesQty",
            "fillId",
            "fillPrice",
            "rejectCode",
            "market",
            "shard",
            "engineTsMs",
            "serverTsMs",
        ],
        "properties": {
            "seq": INT,
            "prevSeq": INT,
            "clientOrderId": NSTR,
            "orderId": NSTR,
            "status": {"enum": STATUSES},
            "filledQty": INT,
            "cumQty": INT,
            "leavesQty": INT,
            "fillId": {**NSTR, "description": "shared by both sides of one match"},
            "fillPrice": NINT,
            "rejectCode": {"enum": [*REJECT_CODES, None]},
            "market": NINT,
            "shard": NINT,
            "engineTsMs": INT,
            "serverTsMs": INT,
            "side": {"enum": ["Bid", "Ask", None]},
            "price": NINT,
            "qty": NINT,
        },
    }
    envelope = {
        "type": "object",
        "description": "Every event frame; seq is per account, contiguous from 1; prevSeq = seq - 1.",
        "required": [
            "channel",
            "account",
            "seq",
            "prevSeq",
            "schemaId",
            "schemaVersion",
            "schemaEncoding",
            "ts",
            "data",
        ],
        "properties": {
            "channel": {"const": "executions"},
            "account": {**STR, "pattern": "^0x[0-9a-f]{40}$"},
            "seq": {**INT, "minimum": 1},
            "prevSeq": {**INT, "minimum": 0},
            "schemaId": {"const": "executions.v1"},
            "schemaVersion": {"const": 1},
            "schemaEncoding": {"const": "json"},
            "ts": {**INT, "description": "commit time, ms (domain clock)"},
            "data": {"$ref": "#/components/schemas/orderEntryExecution"},
        },
    }
    account = "0xa11ce00000000000000000000000000000000001"
    messages = {
        "orderEntryAuthenticate": _message(
            "orderEntryAuthenticate",
            "First frame when no ?token= was given: authenticate (optionally resume from fromSeq)",
            _op(
                {
                    "op": {"const": "authenticate"},
                    "token": {**STR, "description": "from POST /api/v1/ws/token (single use)"},
                    "fromSeq": {
                        **INT,
                        "minimum": 0,
                        "description": "replay every event with seq >= fromSeq first",
                    },
                },
                ["op", "token"],
            ),
            {"op": "authenticate", "token": "wst_…", "fromSeq": 42},
        ),
        "orderEntryAuthenticated": _message(
            "orderEntryAuthenticated",
            "Answer to the authenticate frame (not sent for a ?token= session): authenticated and "
            "subscribed; every event committed from now on follows",
            _op(
                {"op": {"const": "authenticated"}, "account": STR, "sessionId": STR},
                ["op", "account", "sessionId"],
            ),
            {"op": "authenticated", "account": account, "sessionId": "sess_1f2e3d4c5b6a7988"},
        ),
        "orderEntryExecution": _message(
            "orderEntryExecution",
            "An execution event in its envelope",
            envelope,
            {
                "channel": "executions",
                "account": account,
                "seq": 4,
                "prevSeq": 3,
                "schemaId": "executions.v1",
                "schemaVersion": 1,
                "schemaEncoding": "json",
                "ts": 1775481000123,
                "data": {
                    "seq": 4,
                    "prevSeq": 3,
                    "clientOrderId": "my-first",
                    "orderId": "o-42",
                    "status": "FILLED",
                    "filledQty": 3,
                    "cumQty": 3,
                    "leavesQty": 0,
                    "fillId": "f-7",
                    "fillPrice": 65010,
                    "rejectCode": None,
                    "market": 1,
                    "shard": 0,
                    "engineTsMs": 1775481000121,
                    "serverTsMs": 1775481000123,
                    "side": "Bid",
                    "price": 65100,
                    "qty": 3,
                },
            },
        ),
        "orderEntryPing": _message(
            "orderEntryPing",
            "Server heartbeat every REFSERVER_OE_WS_PING_INTERVAL_MS (30 s, wall clock)",
            _op({"op": {"const": "ping"}, "ts": INT}, ["op", "ts"]),
            {"op": "ping", "ts": 1775481000000},
        ),
        "orderEntryPong": _message(
            "orderEntryPong",
            "Answer to a ping within REFSERVER_OE_WS_PONG_TIMEOUT_MS (10 s), else close 4000; the server also "
            "answers a client's {op: ping} with this frame",
            _op({"op": {"const": "pong"}, "ts": INT}, ["op"]),
            {"op": "pong", "ts": 1775481000000},
        ),
        "orderEntryClientPing": _message(
            "orderEntryClientPing",
            "Optional client heartbeat; answered with a pong",
            _op({"op": {"const": "ping"}, "ts": INT}, ["op"]),
            {"op": "ping", "ts": 5},
        ),
        "orderEntryResyncRequired": _message(
            "orderEntryResyncRequired",
            "The server dropped events for this slow subscriber: recover from fromSeq (gap-fill or reconnect); "
            "close 4008 follows",
            _op({"op": {"const": "resync_required"}, "fromSeq": INT}, ["op", "fromSeq"]),
            {"op": "resync_required", "fromSeq": 1201},
        ),
    }
    parameters = {"account": {"description": "the engine account (0x + 40 hex) the WS token was issued for"}}
    bindings = {
        "ws": {
            "query": {
                "type": "object",
                "properties": {
                    "token": {
                        **STR,
                        "description": "WS token (single use); else authenticate in the first frame",
                    },
                    "fromSeq": {
                        **INT,
                        "minimum": 0,
                        "description": "replay every event with seq >= fromSeq, then live",
                    },
                },
            },
            "bindingVersion": "0.1.0",
        }
    }
    description = (
        "The account's private execution stream. Authenticate with a single-use token from the SC-* signed "
        "POST /api/v1/ws/token (TTL 60 s on the domain clock), as ?token= or in the first frame. With fromSeq "
        "the server replays every event with seq >= fromSeq (ring first, SQL fallback), then continues live "
        "with no gap and no duplicate. Close codes: 4401 bad/expired/reused token, another account's path or "
        "revoked key (reason says which); 4000 no pong; 4008 slow consumer (after resync_required); 4400 "
        "malformed fromSeq; 1012 closed by the server (control-API disconnect, reset, shutdown)."
    )
    names = list(messages)
    channels = {
        "orderEntryPrivate": {
            "address": "/api/v1/ws/private/{account}",
            "title": "Order Entry private executions",
            "description": description,
            "parameters": parameters,
            "bindings": bindings,
            "messages": {n: {"$ref": f"#/components/messages/{n}"} for n in names},
        },
        "orderEntryPrivateBsl": {
            "address": "/api/v1/ws/bsl/{account}",
            "title": "Order Entry private executions (legacy BSL alias)",
            "description": "Behaves exactly like /api/v1/ws/private/{account}.",
            "parameters": parameters,
            "bindings": bindings,
            "messages": {n: {"$ref": f"#/components/messages/{n}"} for n in names},
        },
    }
    ops = (
        (
            "Authenticate",
            "send",
            "orderEntryAuthenticate",
            "Authenticate in the first frame (optionally resume)",
        ),
        ("Authenticated", "receive", "orderEntryAuthenticated", "Authentication result"),
        ("Executions", "receive", "orderEntryExecution", "Execution events, in seq order"),
        ("Ping", "receive", "orderEntryPing", "Server heartbeat"),
        ("Pong", "send", "orderEntryPong", "Heartbeat answer"),
        ("ClientPing", "send", "orderEntryClientPing", "Client heartbeat"),
        ("ClientPong", "receive", "orderEntryPong", "Answer to a client heartbeat"),
        ("ResyncRequired", "receive", "orderEntryResyncRequired", "The subscriber must resync"),
    )
    operations: dict[str, Any] = {}
    for ch in CHANNELS:
        prefix = "orderEntry" if ch == "orderEntryPrivate" else "orderEntryBsl"
        for suffix, action, msg, summary in ops:
            operations[prefix + suffix] = {
                "action": action,
                "channel": {"$ref": f"#/channels/{ch}"},
                "summary": summary,
                "messages": [{"$ref": f"#/channels/{ch}/messages/{msg}"}],
                "security": [{"$ref": "#/components/securitySchemes/orderEntryWsToken"}],
            }
    return {
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": messages,
            "schemas": {"orderEntryExecution": execution, "orderEntryEnvelope": envelope},
            "securitySchemes": {
                "orderEntryWsToken": {
                    "type": "httpApiKey",
                    "name": "token",
                    "in": "query",
                    "description": (
                        "Single-use token from POST /api/v1/ws/token (SC-* HMAC-signed, scope read); may "
                        "instead be sent in the first frame {op: authenticate, token}."
                    ),
                }
            },
        },
    }
