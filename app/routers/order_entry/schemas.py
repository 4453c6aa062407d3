"""The Order Entry contract in OpenAPI (CONTRACT §4.1-§4.4, §5): plain objects, the error document
`{"error": {"code", "message"}}`, the SC-* signed security scheme, and one declaration per
operation with a request example that succeeds against a `--seed demo` server (agent
spk_demo_trader_a on account 0xa11ce…0001)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from app.openapi import ORDER_ENTRY, Declarations, Errors, Op, control

ACCOUNT_A = "0xa11ce00000000000000000000000000000000001"
ACCOUNT_B = "0xb0b0000000000000000000000000000000000002"


class OrderEntryErrorBody(BaseModel):
    code: str = Field(
        description="400 INVALID_REQUEST; 401 MISSING_AUTH, INVALID_KEY, INVALID_PASSPHRASE, "
        "INVALID_SIGNATURE, TIMESTAMP_SKEW, NONCE_REPLAY; 403 SCOPE_REQUIRED, FORBIDDEN; "
        "404 NOT_FOUND; 503 SERVICE_UNAVAILABLE"
    )
    message: str


class OrderEntryError(BaseModel):
    """`{"error": {"code", "message"}}`"""

    error: OrderEntryErrorBody


class OrderEntryMarket(BaseModel):
    market: int
    symbol: str = Field(examples=["BTC-USDC"])
    baseAsset: str
    quoteAsset: str
    shard: int
    minQty: int
    status: Literal["open", "halted"]


class OrderEntryMarkets(BaseModel):
    markets: list[OrderEntryMarket]


class OrderEntryLimits(BaseModel):
    contract: str = Field(examples=["bsl-order-entry-v1"])
    maxActionsPerBatch: int
    timestampSkewMs: int
    executionsDefaultLimit: int
    executionsMaxLimit: int
    wsTokenTtlMs: int
    wsPingIntervalMs: int
    wsPongTimeoutMs: int
    scopes: list[str]


class OrderEntryBalance(BaseModel):
    free: int
    reserved: int


class OrderEntryRisk(BaseModel):
    openOrders: int
    reserved: dict[str, int]
    maxActionsPerBatch: int


class OrderEntryBootstrap(BaseModel):
    account: str
    balances: dict[str, OrderEntryBalance]
    risk: OrderEntryRisk
    nonceFloor: int


class OrderEntryAck(BaseModel):
    """One action's admission: accepted with its `orderId`, or refused with a `rejectCode`."""

    index: int
    accepted: bool
    orderId: str | None = None
    clientOrderId: str | None = None
    rejectCode: str | None = None


class OrderEntryBatchAnswer(BaseModel):
    idempotencyKey: str | None
    results: list[OrderEntryAck]


class OrderEntryOpenOrder(BaseModel):
    orderId: str
    clientOrderId: str | None
    market: int
    side: Literal["Bid", "Ask"]
    price: int
    qty: int
    leavesQty: int
    cumQty: int
    status: str
    timeInForce: str
    createdTsMs: int


class OrderEntryOpenOrders(BaseModel):
    account: str
    seq: int = Field(description="the last stream seq the snapshot includes")
    orders: list[OrderEntryOpenOrder]


class OrderEntryExecution(BaseModel):
    seq: int
    prevSeq: int
    clientOrderId: str | None
    orderId: str | None
    status: Literal["NEW", "PARTIALLY_FILLED", "FILLED", "CANCELED", "REPLACED", "REJECTED", "EXPIRED"]
    filledQty: int
    cumQty: int
    leavesQty: int
    fillId: str | None
    fillPrice: int | None
    rejectCode: str | None
    market: int | None
    shard: int | None
    engineTsMs: int
    serverTsMs: int
    side: str | None = None
    price: int | None = None
    qty: int | None = None


class OrderEntryExecutionFrame(BaseModel):
    channel: str
    account: str
    seq: int
    prevSeq: int
    schemaId: str
    schemaVersion: int
    schemaEncoding: str
    ts: int
    data: OrderEntryExecution


class OrderEntryExecutions(BaseModel):
    account: str
    fromSeq: int
    toSeq: int | None
    source: Literal["ring", "sql", "mixed", "live"]
    hasMore: bool
    nextSeq: int
    events: list[OrderEntryExecutionFrame]


class OrderEntryWsToken(BaseModel):
    token: str
    expiresAtMs: int
    account: str


# --- control routes ---------------------------------------------------------------------------------
class OrderEntryAgentCreated(BaseModel):
    apiKeyId: str
    apiSecret: str
    apiPassphrase: str
    account: str
    scopes: list[str]


class OrderEntryAgent(BaseModel):
    apiKeyId: str
    account: str
    scopes: list[str]
    revoked: bool
    demo: bool


class OrderEntryAgents(BaseModel):
    agents: list[OrderEntryAgent]


class OrderEntryRevoked(BaseModel):
    apiKeyId: str
    account: str
    revoked: bool


class OrderEntryFunded(BaseModel):
    account: str
    balances: dict[str, OrderEntryBalance]


class OrderEntryBook(BaseModel):
    market: int
    symbol: str
    bids: list[list[int]] = Field(description="[price, qty] levels, best first")
    asks: list[list[int]] = Field(description="[price, qty] levels, best first")


class OrderEntryLiquidity(BaseModel):
    enabled: bool


# --- the operations --------------------------------------------------------------------------------
TAG = "order-entry"
SIGNED = {
    401: (
        "MISSING_AUTH",
        "INVALID_KEY",
        "INVALID_PASSPHRASE",
        "INVALID_SIGNATURE",
        "TIMESTAMP_SKEW",
        "NONCE_REPLAY",
    ),
    403: ("SCOPE_REQUIRED",),
    503: ("SERVICE_UNAVAILABLE",),
}
BAD = {400: ("INVALID_REQUEST",)}
FOREIGN = {403: ("SCOPE_REQUIRED", "FORBIDDEN")}


def _op(model: type[BaseModel], text: str, errors: Errors, **kw: Any) -> Op:
    return Op(
        model,
        text,
        errors={**SIGNED, **errors},
        security=ORDER_ENTRY,
        tag=TAG,
        **{"caller": "spk_demo_trader_a", **kw},
    )


def _batch(account: str, key: str, client_order_id: str) -> dict[str, Any]:
    return {
        "version": 1,
        "idempotencyKey": key,
        "actions": [
            {
                "payload": {
                    "account": account,
                    "nonce": 1,
                    "ts": 1735689600000,
                    "action": {
                        "SpotPlaceOrder": {
                            "market": 1,
                            "side": "Bid",
                            "price": 60000,
                            "qty": 1,
                            "timeInForce": "gtc",
                            "clientOrderId": client_order_id,
                        }
                    },
                },
                "signature": {"scheme": "eip712", "bytes": "0x00"},
            }
        ],
    }


BATCH_TEXT = (
    'A signed batch `{"version": 1, "actions": [{"payload": {"account", "nonce", "ts", "action": '
    '{"SpotPlaceOrder" | "SpotCancelOrder" | "SpotReplaceOrder" | "SpotCancelAll": {...}}}, '
    '"signature": {"scheme", "bytes"}}], "idempotencyKey"}` → a fast admission ack per action; '
    "outcomes arrive on the execution stream. The payload `nonce` must exceed the account's "
    "`nonceFloor` (bootstrap)."
)


def declarations() -> Declarations:
    acct = {"account": ACCOUNT_A}
    ops: dict[tuple[str, str], Op] = {
        ("POST", "/api/v1/order-entry/orders"): _op(
            OrderEntryBatchAnswer, BATCH_TEXT, BAD, body=_batch(ACCOUNT_A, "example-1", "example-a")
        ),
        ("POST", "/api/v1/bsl/orders/batch"): _op(
            OrderEntryBatchAnswer,
            "Legacy alias of POST /api/v1/order-entry/orders. " + BATCH_TEXT,
            BAD,
            body=_batch(ACCOUNT_B, "example-2", "example-b"),
            caller="spk_demo_trader_b",
        ),
        ("GET", "/api/v1/order-entry/markets"): _op(OrderEntryMarkets, "The markets and their shards.", {}),
        ("GET", "/api/v1/order-entry/limits"): _op(
            OrderEntryLimits,
            "Limits; the answer carries header `x-bsl-contract: bsl-order-entry-v1`.",
            {},
            response_headers={"x-bsl-contract": "bsl-order-entry-v1"},
        ),
        ("GET", "/api/v1/accounts/{account}/bootstrap"): _op(
            OrderEntryBootstrap,
            "Balances, risk and the payload nonce floor of the key's account (another account → 403 "
            "FORBIDDEN, never 404).",
            FOREIGN,
            path=acct,
        ),
        ("GET", "/api/v1/order-entry/accounts/{account}/open-orders"): _op(
            OrderEntryOpenOrders,
            "Open-orders snapshot with the last stream seq it includes (another account → 403).",
            FOREIGN,
            path=acct,
        ),
        ("GET", "/api/v1/order-entry/accounts/{account}/executions"): _op(
            OrderEntryExecutions,
            "Gap-fill: execution events with seq ≥ `fromSeq` (ring first, SQL fallback), at most "
            "`limit` (default 1,000, max 10,000) (another account → 403).",
            {**BAD, **FOREIGN},
            path=acct,
            query={"fromSeq": 1, "limit": 100},
        ),
        ("POST", "/api/v1/ws/token"): _op(
            OrderEntryWsToken, "A single-use token for the private WebSocket (TTL 60 s).", {}
        ),
        # control routes
        ("POST", "/_admin/order-entry/agents"): control(
            OrderEntryAgentCreated,
            "Create an agent `{scopes?, account?}` → its key triple, account and scopes.",
            {**BAD, 503: ("SERVICE_UNAVAILABLE",)},
            status=201,
            body={"scopes": ["read", "trade", "cancel"]},
        ),
        ("GET", "/_admin/order-entry/agents"): control(
            OrderEntryAgents, "Every agent (never its secrets).", {}
        ),
        ("DELETE", "/_admin/order-entry/agents/{api_key_id}"): control(
            OrderEntryRevoked,
            "Revoke an agent's key (takes effect at once).",
            {404: ("NOT_FOUND",), 503: ("SERVICE_UNAVAILABLE",)},
            path={"api_key_id": "spk_demo_reader_a"},
        ),
        ("POST", "/_admin/order-entry/accounts/{account}/fund"): control(
            OrderEntryFunded,
            'Credit balances `{"balances": {"ASSET": <integer smallest units>}}` (added).',
            {**BAD, 404: ("NOT_FOUND",), 503: ("SERVICE_UNAVAILABLE",)},
            path=acct,
            body={"balances": {"USDC": 1000000}},
        ),
        ("GET", "/_admin/order-entry/markets/{market}/book"): control(
            OrderEntryBook,
            "A market's aggregated book (by id or symbol), best first.",
            {404: ("NOT_FOUND",)},
            path={"market": "BTC-USDC"},
        ),
        ("POST", "/_admin/order-entry/liquidity"): control(
            OrderEntryLiquidity,
            'Switch the simulated liquidity provider `{"enabled": bool}`.',
            {**BAD, 503: ("SERVICE_UNAVAILABLE",)},
            body={"enabled": True},
        ),
    }
    return Declarations(error=OrderEntryError, ops=ops)
