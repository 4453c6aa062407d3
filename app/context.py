"""The app's typed state: the engine's runtime, the family registry and their services, and
the edge's faults and journal — one object per app (`app.state.ctx`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.clock import DomainClock
from app.config import Settings
from app.db import Database
from app.engine.runtime import FamilyService, Runtime
from app.engine.streams import Streams
from app.families import Registry
from app.faults import FaultRules
from app.integrator.chaos import Chaos
from app.integrator.coverage import Coverage
from app.journal import Journal


@dataclass
class AppContext:
    runtime: Runtime
    registry: Registry
    faults: FaultRules
    journal: Journal
    coverage: Coverage  # client coverage (§7.1)
    chaos: Chaos  # seeded chaos (§7.2)
    # each family's service, by family name
    services: dict[str, FamilyService] = field(default_factory=dict)

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    @property
    def db(self) -> Database:
        return self.runtime.db

    @property
    def clock(self) -> DomainClock:
        return self.runtime.clock

    @property
    def streams(self) -> Streams:
        return self.runtime.streams

    @property
    def seed_mode(self) -> str:
        return self.runtime.seed_mode

    def service(self, name: str) -> Any:
        """The family's service (typed by the family's own deps module)."""
        return self.services[name]
