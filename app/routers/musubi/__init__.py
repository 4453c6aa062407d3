"""The musubi family: its routers, control routes and lifecycle hooks."""

from __future__ import annotations

from app.families import Family

family = Family(name="musubi")
