"""Musubi reference and demo data: the built-in simulated market maker and the demo participants."""

from __future__ import annotations

import secrets
from collections.abc import Container

from app.engine.musubi.model import Changes, Participant, party_fingerprint

SIM_MM_NAME = "SimulatedMarketMaker"
SIM_MM_CLIENT_ID = "simulated-market-maker"
# (name, role, client_id, client_secret, simulated)
DEMO_PARTICIPANTS = (
    ("SenderInstitution", "institution", "sender-institution", "sender-institution-secret", False),
    ("ReceiverInstitution", "institution", "receiver-institution", "receiver-institution-secret", False),
    ("CustodianA", "custodian", "custodian-a", "custodian-a-secret", False),
    ("CustodianB", "custodian", "custodian-b", "custodian-b-secret", False),
    ("MarketMakerA", "market-maker", "market-maker-a", "market-maker-a-secret", True),
    ("MarketMakerB", "market-maker", "market-maker-b", "market-maker-b-secret", True),
)


def demo_party_id(name: str) -> str:
    return f"{name}::{party_fingerprint('refserver-demo:' + name)}"


def missing(mode: str, have: set[str], clients: set[str], now: int) -> Changes:
    """The participants a seed of `mode` adds: the simulated maker always, the demo cast for
    `demo`; those already stored (by party id or client id) are skipped."""
    ch = Changes()
    sim_id = demo_party_id(SIM_MM_NAME)
    if sim_id not in have and SIM_MM_CLIENT_ID not in clients:
        ch.participants.append(
            Participant(
                sim_id, SIM_MM_NAME, "market-maker", SIM_MM_CLIENT_ID, secrets.token_hex(16), True, now
            )
        )
    if mode == "demo":
        for name, role, client_id, secret, simulated in DEMO_PARTICIPANTS:
            pid = demo_party_id(name)
            if pid not in have and client_id not in clients:
                ch.participants.append(Participant(pid, name, role, client_id, secret, simulated, now))
    return ch


def credentials(seeded: Container[str]) -> list[str]:
    """Banner lines for the demo participants present in `seeded` (party ids)."""
    lines = ["Musubi participants (POST /auth/token {client_id, client_secret}):"]
    for name, role, client_id, secret, _sim in DEMO_PARTICIPANTS:
        if demo_party_id(name) in seeded:
            lines.append(f"  {role:<13} {client_id:<21} {secret:<28} {demo_party_id(name)}")
    return lines
