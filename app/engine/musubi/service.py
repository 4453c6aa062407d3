"""The Musubi settlement service: the facade that wires the nouns and offers the core its
lifecycle (`FamilyService`).

    participants  who may call, and their tokens          orders   proposal → co-sign
    quotes        makers' quotes and the simulated makers  timers   expiry, lapse, execute, settle
    queries       lists, stats, compliance, export         store    the SQL and the unit of work
    model         the domain objects and the memory        seed     the demo cast

State lives in memory (`Memory`) as immutable snapshots. Every change is staged as a `Changes`
and committed through the streams unit of work (`Store.commit`): rows and one event per party
stream in one transaction, then memory. If a commit fails, the unit of work rebuilds memory
from the database (`reload`) while refusing new changes. Changes to one order are serialised
by its lock (check → commit → apply); different orders commit together in the writer's batches.

Streams (family "musubi", stream = party id):
- institutions and custodians: `order_updated` (the order), `quote_received` (sender side);
- market makers: `quote_request_created` (anonymised RFQ), `quote_updated` (own quote),
  `settlement_updated` (the won settlement).
Each event's `ref` is its intent id (the SSE `?intent_id=` filter).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from app.engine.musubi import seed
from app.engine.musubi.model import Memory
from app.engine.musubi.orders import Orders, require_network
from app.engine.musubi.participants import Participants, TokenAuthority
from app.engine.musubi.queries import Queries
from app.engine.musubi.quotes import Quotes
from app.engine.musubi.seed import demo_party_id
from app.engine.musubi.store import Store
from app.engine.musubi.timers import Timers

if TYPE_CHECKING:
    from app.engine.runtime import Runtime


class Musubi:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.clock = rt.clock
        self.streams = rt.streams
        self.settings = rt.settings
        self.memory = Memory()
        self.store = Store(rt.db, rt.streams, self.memory, self._recover)
        now = self.clock.now_ms
        self.participants = Participants(self.memory, self.store, now)
        self.quotes = Quotes(self.memory, self.store, now)
        self.timers = Timers(self.memory, self.store, self.settings, self.clock, self.quotes)
        self.orders = Orders(self.memory, self.store, self.settings, now, self.timers.at)
        self.queries = Queries(self.memory, self.store, now)

    # --- the lifecycle the core drives (FamilyService) -----------------------------------------
    async def seed(self, mode: str) -> None:
        """The built-in simulated market maker always; the demo participants for `demo`."""
        have, clients = await self.store.participant_keys()
        ch = seed.missing(mode, have, clients, self.clock.now_ms())
        if ch.participants:
            await self.store.commit(ch)

    async def start(self) -> None:
        key = await self.rt.secrets.get("musubi-jwt")
        self.participants.auth = TokenAuthority(key, self.clock.now_ms, self.settings.musubi_token_ttl_s)
        await self.reload()
        self.timers.rearm()

    async def reload(self) -> None:
        """Memory from the database: whatever a failed commit left staged is gone."""
        self.memory.replace_all(await self.store.load())

    async def _recover(self) -> None:
        """The unit of work's failure path: memory from the database, then the timers it implies."""
        await self.reload()
        self.timers.rearm()

    async def stop(self) -> None:
        self.timers.stop()

    async def wipe(self) -> None:
        await self.store.wipe()
        if self.participants.auth is not None:
            self.participants.auth.forget()

    def credentials(self) -> list[str]:
        return seed.credentials(self.memory.participants)

    def dashboard(self) -> dict[str, Any] | None:
        """The participant the live dashboard acts as: the demo sender institution, if seeded."""
        p = self.memory.participants.get(demo_party_id("SenderInstitution"))
        if p is None:
            return None
        return {
            "name": p.name,
            "role": p.role,
            "client_id": p.client_id,
            "client_secret": p.client_secret,
            "party_id": p.party_id,
        }

    async def token(self, args: list[str]) -> str:
        if not args:
            raise SystemExit("usage: refserver token musubi <client_id|name|party_id>")
        return self.participants.mint_for(args[0])

    # --- the settlement network (control API) ----------------------------------------------------
    def require_network(self) -> None:
        require_network(self.memory)

    @property
    def network_available(self) -> bool:
        return self.memory.network_available

    def set_network(self, available: bool) -> None:
        self.timers.set_network(available)
