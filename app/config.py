"""Typed settings, read once.

Every knob has a command-line flag (for the ones `refserver serve` exposes), an environment
variable `REFSERVER_<NAME>` and a default, all declared here and nowhere else.
"""

from __future__ import annotations

import secrets
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

OnOff = Literal["on", "off"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REFSERVER_", extra="ignore")

    # process and ports (CONTRACT §0)
    host: str = "127.0.0.1"
    port: int = 8000
    broker_ws_port: int = 8001
    database_url: str = "sqlite:///./data/refserver.db"
    admin_token: str = ""
    seed: Literal["demo", "none"] = "demo"
    clock: Literal["real", "frozen"] = "real"
    fix_port: int | Literal["off"] = 9878  # FIX drop-copy listener (§4.6): 0 = a free port
    fix_comp_id: str = "REFSERVER"
    log_level: str = "warning"
    access_log: bool = False
    # the largest request body and WebSocket frame accepted (CONTRACT §6, "Limits, every family")
    max_body_bytes: int = Field(default=1_048_576, ge=1)

    # streams (§1)
    ring_max_events: int = Field(default=10_000, ge=1)
    ring_retention_ms: int = Field(default=300_000, ge=0)
    subscriber_queue_max: int = Field(default=4_096, ge=1)
    ring_max_bytes: int = Field(default=64 * 1024 * 1024, ge=0)  # all rings together (§1.3)
    journal_size: int = Field(default=1_000, ge=1)
    # integrator tools (§7): keep request/answer bodies in the journal, up to this many bytes
    # each (0: off; secrets masked), and start with the chaos of this JSON file
    journal_bodies: int = Field(default=0, ge=0, le=1_048_576)
    chaos: str = ""

    # Musubi (§2)
    musubi_token_ttl_s: int = 3600
    musubi_order_ttl_ms: int = 300_000
    musubi_quote_delay_ms: int = 8_000
    musubi_execute_delay_ms: int = 1_000
    musubi_settle_delay_ms: int = 4_000
    musubi_sse_heartbeat_ms: int = 30_000
    musubi_auto_quote: OnOff | None = None

    # Broker (§3)
    broker_token_ttl_s: int = 86_400
    broker_tick_interval_ms: int = 1_000  # quote simulator step on the domain clock; 0 switches it off
    # argon2id cost (memory-hard); tests lower it for speed
    broker_argon2_memory_kib: int = 19_456
    broker_argon2_time_cost: int = 2

    # Order Entry (§4)
    oe_ws_token_ttl_ms: int = 60_000
    oe_ws_ping_interval_ms: int = 30_000
    oe_ws_pong_timeout_ms: int = 10_000
    oe_liquidity: OnOff | None = None

    @field_validator("fix_port", mode="before")
    @classmethod
    def _fix_port(cls, v: object) -> object:
        if isinstance(v, str):
            v = v.strip().lower()
            if v != "off" and not v.isdigit():
                raise ValueError("fix_port must be a port number, 0 (a free port) or off")
            return v if v == "off" else int(v)
        return v

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, v: str) -> str:
        if not v.startswith(("sqlite:", "postgresql", "postgres:")):
            raise ValueError("database_url must be sqlite:///… or postgresql://…")
        return v

    def model_post_init(self, __context: object) -> None:
        if not self.admin_token:
            self.admin_token = "adm_" + secrets.token_hex(16)

    @property
    def auto_quote(self) -> bool:
        """Musubi simulated market makers quote on their own."""
        if self.musubi_auto_quote is not None:
            return self.musubi_auto_quote == "on"
        return self.seed == "demo"
