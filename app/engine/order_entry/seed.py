"""The demo agents and their funds (`--seed demo`), printed by the banner and `refserver seed`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.engine.order_entry import auth


@dataclass(frozen=True)
class DemoAgent:
    api_key_id: str
    api_secret: str
    api_passphrase: str
    account: str
    scopes: tuple[str, ...]
    name: str

    def to_json(self) -> dict[str, Any]:
        return {
            "apiKeyId": self.api_key_id,
            "apiSecret": self.api_secret,
            "apiPassphrase": self.api_passphrase,
            "account": self.account,
            "scopes": list(self.scopes),
            "name": self.name,
        }

    def __getitem__(self, key: str) -> Any:
        """Read like the control API's create answer: `agent["apiKeyId"]`."""
        return self.to_json()[key]


DEMO_AGENTS = (
    DemoAgent(
        "spk_demo_trader_a",
        "sps_demo_secret_trader_a",
        "spp_demo_pass_a",
        "0xa11ce00000000000000000000000000000000001",
        auth.SCOPES,
        "trader A",
    ),
    DemoAgent(
        "spk_demo_trader_b",
        "sps_demo_secret_trader_b",
        "spp_demo_pass_b",
        "0xb0b0000000000000000000000000000000000002",
        auth.SCOPES,
        "trader B",
    ),
    DemoAgent(
        "spk_demo_reader_a",
        "sps_demo_secret_reader_a",
        "spp_demo_pass_reader_a",
        "0xa11ce00000000000000000000000000000000001",
        ("read",),
        "read-only on trader A's account",
    ),
)
DEMO_FUNDS = {
    "USDC": 10_000_000_000,
    "USDT": 10_000_000_000,
    "BTC": 1_000,
    "ETH": 10_000,
    "SOL": 1_000_000,
    "AVAX": 1_000_000,
}


def demo_rows(existing: set[str], box: auth.SecretBox, now: int) -> tuple[list[dict[str, Any]], set[str]]:
    """The agent rows still to insert and the accounts to fund (those of new trading agents)."""
    rows: list[dict[str, Any]] = []
    funded: set[str] = set()
    for d in DEMO_AGENTS:
        if d.api_key_id in existing:
            continue
        rows.append(
            {
                "k": d.api_key_id,
                "a": d.account,
                "s": box.encrypt(d.api_secret),
                "p": box.hash_passphrase(d.api_passphrase),
                "sc": ",".join(d.scopes),
                "demo": True,
                "now": now,
            }
        )
        if "trade" in d.scopes:
            funded.add(d.account)
    return rows, funded
