"""Fault rules for the control API: answer matching requests with an error, a delay or a drop.

A rule matches on method, a path glob (fnmatch: `*` crosses `/`) and family; every field it
names must match. `times` bounds how often it fires (absent: until cleared). Rules are tried
in the order they were added; the first match fires. An error action may carry `body`: any
JSON, answered as given instead of the family's error shape.
"""

from __future__ import annotations

import fnmatch
import itertools
from dataclasses import dataclass, field
from typing import Any

from app.engine.bounds import int_field
from app.engine.errors import InvalidInput

_ids = itertools.count(1)
MAX_TIMES = 1_000_000_000
MAX_DELAY_MS = 600_000


@dataclass
class FaultRule:
    id: int
    method: str | None
    path: str | None
    family: str | None
    status: int | None = None
    code: str | None = None
    delay_ms: int | None = None
    drop: bool = False
    body: Any = None  # the answer body, sent as given instead of the family's error shape
    times: int | None = None
    fired: int = 0

    def matches(self, method: str, path: str, family: str | None) -> bool:
        if self.method is not None and self.method != method:
            return False
        if self.family is not None and self.family != family:
            return False
        return self.path is None or fnmatch.fnmatchcase(path, self.path)

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.fired >= self.times

    def to_json(self) -> dict[str, Any]:
        action: dict[str, Any]
        if self.drop:
            action = {"drop": True}
        elif self.delay_ms is not None:
            action = {"delay_ms": self.delay_ms}
        else:
            action = {"status": self.status, "code": self.code}
            if self.body is not None:
                action["body"] = self.body
        return {
            "id": self.id,
            "match": {"method": self.method, "path": self.path, "family": self.family},
            "action": action,
            "times": self.times,
            "fired": self.fired,
        }


@dataclass
class FaultRules:
    families: tuple[str, ...] = ()  # the names a rule's `match.family` may give
    rules: list[FaultRule] = field(default_factory=list)

    def add(self, body: Any) -> FaultRule:
        if not isinstance(body, dict):
            raise InvalidInput.field("body", "must be a JSON object")
        match = body.get("match") or {}
        action = body.get("action")
        if not isinstance(match, dict):
            raise InvalidInput.field("match", "must be an object")
        if not isinstance(action, dict) or not action:
            raise InvalidInput.field("action", "must be an object with status+code, delay_ms or drop")
        method = match.get("method")
        path = match.get("path")
        family = match.get("family")
        if method is not None and not isinstance(method, str):
            raise InvalidInput.field("match.method", "must be a string")
        if path is not None and not isinstance(path, str):
            raise InvalidInput.field("match.path", "must be a glob string")
        if family is not None and family not in self.families:
            raise InvalidInput.field("match.family", f"must be one of {', '.join(self.families)}")
        times = body.get("times")
        if times is not None:
            times = int_field(times, "times", lo=1, hi=MAX_TIMES)
        rule = FaultRule(next(_ids), method.upper() if method else None, path, family, times=times)
        if action.get("drop") is True:
            rule.drop = True
        elif "delay_ms" in action:
            rule.delay_ms = int_field(action["delay_ms"], "action.delay_ms", hi=MAX_DELAY_MS)
        elif "status" in action:
            st = int_field(action["status"], "action.status", lo=400, hi=599)
            code = action.get("code")
            if code is not None and not isinstance(code, str):
                raise InvalidInput.field("action.code", "must be a string")
            rule.status = st
            rule.code = code
            rule.body = action.get("body")
        else:
            raise InvalidInput.field("action", "needs status (+code), delay_ms or drop:true")
        self.rules.append(rule)
        return rule

    def take(self, method: str, path: str, family: str | None) -> FaultRule | None:
        """The first live rule matching the request, counted as fired; exhausted rules go."""
        for rule in self.rules:
            if rule.matches(method, path, family):
                rule.fired += 1
                if rule.exhausted:
                    self.rules.remove(rule)
                return rule
        return None

    def clear(self) -> None:
        self.rules.clear()
