"""AsyncAPI 3.0 fragment for the broker WebSocket (merged into /asyncapi.json)."""

from __future__ import annotations

from typing import Any

NUM = {"type": "number"}
INT = {"type": "integer"}
STR = {"type": "string"}
NULLABLE_NUM = {"type": ["number", "null"]}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/messages/{name}"}


def _frame(marker: str, items: list[tuple[str, dict[str, Any]]], description: str) -> dict[str, Any]:
    """A compact array frame `[marker, ...]` with named positions."""
    prefix = [{"const": marker, "description": "marker"}]
    prefix += [{**schema, "description": name} for name, schema in items]
    return {
        "type": "array",
        "description": description + " Positions: " + ", ".join(["marker"] + [n for n, _ in items]) + ".",
        "prefixItems": prefix,
        "minItems": len(prefix),
        "maxItems": len(prefix),
    }


def _message(name: str, summary: str, payload: dict[str, Any], example: Any = None) -> dict[str, Any]:
    msg: dict[str, Any] = {"name": name, "title": name, "summary": summary, "payload": payload}
    if example is not None:
        msg["examples"] = [{"payload": example}]
    return msg


def asyncapi() -> dict[str, Any]:
    tick = _frame(
        "t",
        [("symbol", STR), ("bid", NUM), ("ask", NUM), ("ctm", INT)],
        "A quote tick of a subscribed symbol (ephemeral, not sequenced); ctm in epoch seconds.",
    )
    balance = _frame(
        "b",
        [
            ("login", INT),
            ("balance", NUM),
            ("margin", NUM),
            ("margin_free", NUM),
            ("margin_level", NUM),
            ("equity", NUM),
            ("credit", NUM),
            ("level_type", INT),
            ("profit", NUM),
            ("code", INT),
        ],
        "Balance update (one account-stream seq). level_type 0 ok, 1 margin call (< 100 %), 2 stop-out "
        "(< 50 %); code 0 client, 1 SL, 2 TP, 3 stop-out, 4 expiration, 5 control API.",
    )
    trade = _frame(
        "o",
        [
            ("order", INT),
            ("login", INT),
            ("symbol", STR),
            ("cmd", INT),
            ("volume", INT),
            ("open_price", NUM),
            ("close_price", NUM),
            ("open_time", INT),
            ("close_time", INT),
            ("tp", NUM),
            ("sl", NUM),
            ("state", INT),
            ("storage", NUM),
            ("commission", NUM),
            ("profit", NUM),
            ("comment", STR),
            ("code", INT),
        ],
        "Trade update (one account-stream seq). state 1 OPEN, 2 PENDING, 3 PENDING_ACTIVATED, 4 MODIFIED, "
        "5 PENDING_CANCELLED, 6 PARTIALLY_CLOSED, 7 CLOSED; volume in hundredths of a lot.",
    )
    alert = _frame(
        "a",
        [
            ("id", INT),
            ("alert_id", INT),
            ("login", INT),
            ("symbol", STR),
            ("side", INT),
            ("condition", INT),
            ("target_price", NULLABLE_NUM),
            ("triggered_price", NUM),
            ("triggered_at", INT),
            ("message", STR),
        ],
        "A price alert fired (one account-stream seq); id is the alert-log id.",
    )
    note = _frame(
        "n",
        [("id", INT), ("login", INT), ("level", INT), ("title", STR), ("message", STR), ("ctm", INT)],
        "A notification (one account-stream seq).",
    )
    auth = {
        "type": "object",
        "required": ["authorization"],
        "properties": {
            "authorization": {
                "type": "string",
                "description": "the JWT from /sign/in (a 'Bearer ' prefix is accepted)",
            },
            "last_seq": {
                "type": "integer",
                "minimum": 0,
                "description": "resume: the server first sends account events last_seq+1…head",
            },
        },
    }
    auth_reply = {
        "oneOf": [
            {
                "type": "object",
                "properties": {
                    "event": {"const": "authorization"},
                    "success": {"const": True},
                    "seq": {"type": "integer", "description": "the account-stream head"},
                },
                "required": ["event", "success", "seq"],
            },
            {
                "type": "object",
                "properties": {
                    "event": {"const": "authorization"},
                    "success": {"const": False},
                    "error": {"enum": ["INVALID_TOKEN", "INVALID_DATA"]},
                },
                "required": ["event", "success", "error"],
                "description": "followed by close 4401",
            },
        ]
    }
    subscription = {
        "type": "object",
        "required": ["event", "data"],
        "properties": {
            "event": {"enum": ["subscribe", "unsubscribe"]},
            "data": {"type": "array", "items": STR, "description": "symbols, case-insensitive"},
        },
    }
    error = {
        "type": "object",
        "properties": {
            "event": {"const": "error"},
            "error": {"enum": ["NOT_AUTHORIZED", "INVALID_DATA"]},
            "message": STR,
        },
        "required": ["event", "error"],
        "description": "NOT_AUTHORIZED (before authorization, then close 4401) or INVALID_DATA (socket stays open)",
    }
    messages = {
        "brokerAuthorization": _message(
            "brokerAuthorization",
            "First frame: authorize (optionally resume)",
            auth,
            {"authorization": "<jwt>", "last_seq": 12},
        ),
        "brokerAuthorizationReply": _message(
            "brokerAuthorizationReply",
            "Authorization result",
            auth_reply,
            {"event": "authorization", "success": True, "seq": 12},
        ),
        "brokerSubscription": _message(
            "brokerSubscription",
            "Subscribe to / unsubscribe from quote ticks",
            subscription,
            {"event": "subscribe", "data": ["eurusd", "btcusd"]},
        ),
        "brokerPing": _message("brokerPing", "Plain text ping", {"const": "ping"}, "ping"),
        "brokerPong": _message("brokerPong", "Plain text pong", {"const": "pong"}, "pong"),
        "brokerTick": _message(
            "brokerTick", "Quote tick", tick, ["t", "EURUSD", 1.10012, 1.10024, 1775481000]
        ),
        "brokerBalance": _message(
            "brokerBalance",
            "Balance event",
            balance,
            ["b", 1001, 10000.0, 1100.05, 8889.95, 908.14, 9990.0, 0.0, 0, -10.0, 0],
        ),
        "brokerTrade": _message(
            "brokerTrade",
            "Trade event",
            trade,
            [
                "o",
                100003,
                1001,
                "EURUSD",
                0,
                100,
                1.1001,
                1.1,
                1775481000,
                0,
                0.0,
                0.0,
                1,
                0.0,
                0.0,
                -10.0,
                "",
                0,
            ],
        ),
        "brokerAlert": _message(
            "brokerAlert",
            "Price alert event",
            alert,
            ["a", 7, 3, 1001, "EURUSD", 0, 0, 1.101, 1.101, 1775481000, "EURUSD above 1.101"],
        ),
        "brokerNotification": _message(
            "brokerNotification",
            "Notification event",
            note,
            ["n", 1, 1001, 0, "Welcome", "Hello", 1775481000],
        ),
        "brokerError": _message(
            "brokerError", "Error event", error, {"event": "error", "error": "INVALID_DATA"}
        ),
    }
    channel = {
        "address": "/",
        "title": "Broker WebSocket",
        "description": (
            "ws://host:<broker-ws-port>/ (also /ws on the main port). Send the authorization frame first "
            "(within 10 s, else close 4401). Account events b/o/a/n are one sequenced stream per login, pushed "
            "to every session of the login in order, one seq per frame: after authorization the next account "
            "frame is seq+1, or last_seq+1 when resuming. Close codes: 4401 unauthorized/revoked (password "
            "change, sign-out), 4008 slow consumer, 4000 closed by the server (control-API disconnect, reset)."
        ),
        "messages": {name: _ref(name) for name in messages},
    }

    def op(action: str, name: str, summary: str) -> dict[str, Any]:
        return {
            "action": action,
            "channel": {"$ref": "#/channels/broker"},
            "summary": summary,
            "messages": [{"$ref": f"#/channels/broker/messages/{name}"}],
            "security": [{"$ref": "#/components/securitySchemes/brokerJwt"}],
        }

    operations = {
        "brokerAuthorize": op(
            "send", "brokerAuthorization", "Authorize the session (optionally with last_seq)"
        ),
        "brokerAuthorizeReply": op("receive", "brokerAuthorizationReply", "Authorization result"),
        "brokerSubscribe": op("send", "brokerSubscription", "Subscribe/unsubscribe quote ticks"),
        "brokerPing": op("send", "brokerPing", "Heartbeat"),
        "brokerPong": op("receive", "brokerPong", "Heartbeat reply"),
        "brokerTicks": op("receive", "brokerTick", "Quote ticks for subscribed symbols"),
        "brokerBalanceEvents": op("receive", "brokerBalance", "Balance events"),
        "brokerTradeEvents": op("receive", "brokerTrade", "Trade events"),
        "brokerAlertEvents": op("receive", "brokerAlert", "Price alert events"),
        "brokerNotifications": op("receive", "brokerNotification", "Notifications"),
        "brokerErrors": op("receive", "brokerError", "Errors"),
    }
    return {
        "channels": {"broker": channel},
        "operations": operations,
        "components": {
            "messages": messages,
            "schemas": {
                "brokerTick": tick,
                "brokerBalance": balance,
                "brokerTrade": trade,
                "brokerAlert": alert,
                "brokerNotification": note,
            },
            "securitySchemes": {
                "brokerJwt": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": 'The token from POST /sign/in, sent in the first frame {"authorization": <jwt>}.',
                }
            },
        },
    }
