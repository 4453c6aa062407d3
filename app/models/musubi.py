"""Tables of the musubi family (schema in its Alembic migration `0002_musubi`).

Timestamps are domain-clock milliseconds; amounts are decimal strings exactly as on the wire.
The service keeps the live state in memory and writes these rows through the streams writer
(`Streams.transact`) together with the participant events, so rows and events commit as one.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, LargeBinary, String, Text
from sqlmodel import Field, SQLModel


class MusubiParticipant(SQLModel, table=True):
    __tablename__ = "musubi_participants"
    party_id: str = Field(sa_column=Column(String(200), primary_key=True))
    name: str = Field(sa_column=Column(String(64), nullable=False))
    role: str = Field(sa_column=Column(String(16), nullable=False))
    client_id: str = Field(sa_column=Column(String(128), nullable=False, unique=True))
    client_secret: str = Field(sa_column=Column(String(128), nullable=False))
    simulated: bool = Field(default=False)
    created_at: int = Field(sa_column=Column(BigInteger, nullable=False))


class MusubiOrder(SQLModel, table=True):
    __tablename__ = "musubi_orders"
    intent_id: str = Field(sa_column=Column(String(36), primary_key=True))
    status: str = Field(sa_column=Column(String(16), nullable=False))
    sender_party_id: str = Field(sa_column=Column(String(200), nullable=False, index=True))
    sender_custodian_party_id: str = Field(sa_column=Column(String(200), nullable=False))
    receiver_party_id: str = Field(sa_column=Column(String(200), nullable=False))
    receiver_custodian_party_id: str = Field(sa_column=Column(String(200), nullable=False))
    intent_signature: str = Field(sa_column=Column(Text, nullable=False))
    source_contract_id: str = Field(sa_column=Column(String(512), nullable=False))
    source_currency: str = Field(sa_column=Column(String(16), nullable=False))
    target_amount: str = Field(sa_column=Column(String(64), nullable=False))
    target_currency: str = Field(sa_column=Column(String(16), nullable=False))
    source_amount_max: str = Field(sa_column=Column(String(64), nullable=False))
    kyc_aml_ref: str = Field(sa_column=Column(String(36), nullable=False))
    jurisdiction_sender: str = Field(sa_column=Column(String(2), nullable=False))
    jurisdiction_receiver: str = Field(sa_column=Column(String(2), nullable=False))
    memo: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    updated_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    expires_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    custodian_accepted_at: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    fx_rate: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    source_amount_actual: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    market_maker_party_id: str | None = Field(default=None, sa_column=Column(String(200), nullable=True))
    selected_quote_id: str | None = Field(default=None, sa_column=Column(String(36), nullable=True))
    quote_accepted_at: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    executing_at: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    transaction_hash: str | None = Field(default=None, sa_column=Column(String(66), nullable=True))
    settled_at: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    failure_reason: str | None = Field(default=None, sa_column=Column(String(16), nullable=True))


class MusubiQuote(SQLModel, table=True):
    __tablename__ = "musubi_quotes"
    quote_id: str = Field(sa_column=Column(String(36), primary_key=True))
    intent_id: str = Field(sa_column=Column(String(36), nullable=False, index=True))
    market_maker_party_id: str = Field(sa_column=Column(String(200), nullable=False))
    fx_rate: str = Field(sa_column=Column(String(64), nullable=False))
    target_amount: str = Field(sa_column=Column(String(64), nullable=False))
    source_amount: str = Field(sa_column=Column(String(64), nullable=False))
    valid_until: int = Field(sa_column=Column(BigInteger, nullable=False))
    status: str = Field(sa_column=Column(String(16), nullable=False))
    created_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    updated_at: int = Field(sa_column=Column(BigInteger, nullable=False))


class MusubiTransition(SQLModel, table=True):
    """The compliance record: every transition of an order, with its time and actor."""

    __tablename__ = "musubi_transitions"
    id: int | None = Field(default=None, primary_key=True)
    intent_id: str = Field(sa_column=Column(String(36), nullable=False, index=True))
    at: int = Field(sa_column=Column(BigInteger, nullable=False))
    actor: str = Field(sa_column=Column(String(200), nullable=False))
    action: str = Field(sa_column=Column(String(32), nullable=False))
    from_status: str | None = Field(default=None, sa_column=Column(String(16), nullable=True))
    to_status: str = Field(sa_column=Column(String(16), nullable=False))
    detail: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class MusubiIdempotency(SQLModel, table=True):
    __tablename__ = "musubi_idempotency"
    party_id: str = Field(sa_column=Column(String(200), primary_key=True))
    key: str = Field(sa_column=Column(String(255), primary_key=True))
    intent_id: str = Field(sa_column=Column(String(36), nullable=False))
    response: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: int = Field(sa_column=Column(BigInteger, nullable=False))
