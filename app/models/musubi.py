"""Tables of the musubi family (schema in its Alembic migration `0002_musubi`).

Timestamps are domain-clock milliseconds; amounts are decimal strings exactly as on the wire.
The service keeps the live state in memory and writes these rows through the streams writer
(`Streams.transact`) together with the participant events, so rows and events commit as one.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, LargeBinary, String, Text
from sqlmodel import Field, SQLModel

from app.models.columns import key, opt, req


class MusubiParticipant(SQLModel, table=True):
    __tablename__ = "musubi_participants"
    party_id: str = key(String(200))
    name: str = req(String(64))
    role: str = req(String(16))
    client_id: str = req(String(128), unique=True)
    client_secret: str = req(String(128))
    simulated: bool = Field(default=False)
    created_at: int = req(BigInteger)


class MusubiOrder(SQLModel, table=True):
    __tablename__ = "musubi_orders"
    intent_id: str = key(String(36))
    status: str = req(String(16))
    sender_party_id: str = req(String(200), index=True)
    sender_custodian_party_id: str = req(String(200))
    receiver_party_id: str = req(String(200))
    receiver_custodian_party_id: str = req(String(200))
    intent_signature: str = req(Text)
    source_contract_id: str = req(String(512))
    source_currency: str = req(String(16))
    target_amount: str = req(String(64))
    target_currency: str = req(String(16))
    source_amount_max: str = req(String(64))
    kyc_aml_ref: str = req(String(36))
    jurisdiction_sender: str = req(String(2))
    jurisdiction_receiver: str = req(String(2))
    memo: str | None = opt(Text)
    created_at: int = req(BigInteger)
    updated_at: int = req(BigInteger)
    expires_at: int = req(BigInteger)
    custodian_accepted_at: int | None = opt(BigInteger)
    fx_rate: str | None = opt(String(64))
    source_amount_actual: str | None = opt(String(64))
    market_maker_party_id: str | None = opt(String(200))
    selected_quote_id: str | None = opt(String(36))
    quote_accepted_at: int | None = opt(BigInteger)
    executing_at: int | None = opt(BigInteger)
    transaction_hash: str | None = opt(String(66))
    settled_at: int | None = opt(BigInteger)
    failure_reason: str | None = opt(String(16))


class MusubiQuote(SQLModel, table=True):
    __tablename__ = "musubi_quotes"
    quote_id: str = key(String(36))
    intent_id: str = req(String(36), index=True)
    market_maker_party_id: str = req(String(200))
    fx_rate: str = req(String(64))
    target_amount: str = req(String(64))
    source_amount: str = req(String(64))
    valid_until: int = req(BigInteger)
    status: str = req(String(16))
    created_at: int = req(BigInteger)
    updated_at: int = req(BigInteger)


class MusubiTransition(SQLModel, table=True):
    """The compliance record: every transition of an order, with its time and actor."""

    __tablename__ = "musubi_transitions"
    id: int | None = Field(default=None, primary_key=True)
    intent_id: str = req(String(36), index=True)
    at: int = req(BigInteger)
    actor: str = req(String(200))
    action: str = req(String(32))
    from_status: str | None = opt(String(16))
    to_status: str = req(String(16))
    detail: str | None = opt(Text)


class MusubiIdempotency(SQLModel, table=True):
    __tablename__ = "musubi_idempotency"
    party_id: str = key(String(200))
    key: str = key(String(255))
    intent_id: str = req(String(36))
    response: bytes = req(LargeBinary)
    created_at: int = req(BigInteger)
