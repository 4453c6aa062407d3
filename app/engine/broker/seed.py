"""Demo data: the two demo logins the banner, the dashboard and the examples use."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from app.engine.broker.accounts import Accounts

DEMO_USERS: tuple[dict[str, Any], ...] = (
    {
        "login": 1001,
        "password": "demo-1001",
        "name": "Demo Trader",
        "email": "demo1001@example.com",
        "balance": 10_000,
        "leverage": 100,
        "currency": "USD",
        "country": "GB",
    },
    {
        "login": 1002,
        "password": "demo-1002",
        "name": "Second Trader",
        "email": "demo1002@example.com",
        "balance": 10_000,
        "leverage": 100,
        "currency": "USD",
        "country": "DE",
    },
)


async def seed_demo(accounts: Accounts) -> None:
    for d in DEMO_USERS:
        if d["login"] in accounts:
            continue
        await accounts.create_user(
            password=d["password"],
            balance=Decimal(d["balance"]),
            leverage=d["leverage"],
            currency=d["currency"],
            name=d["name"],
            email=d["email"],
            country=d["country"],
            login=d["login"],
        )


def credentials(accounts: Accounts) -> list[str]:
    return [
        f"broker: login {d['login']} password {d['password']} "
        f"({d['balance']:,.0f} {d['currency']}, 1:{d['leverage']})"
        for d in DEMO_USERS
        if d["login"] in accounts
    ]


def dashboard(accounts: Accounts) -> dict[str, Any] | None:
    """The login the live dashboard acts as: the first demo user, when it is seeded."""
    d = DEMO_USERS[0]
    if d["login"] not in accounts:
        return None
    return {"login": d["login"], "password": d["password"]}
