"""One domain error hierarchy, rendered at each family's edge in that family's shape.

The engine raises these with the family's own `code` (e.g. Musubi `CONFLICT`, broker
`NOT_ENOUGH_MONEY`, Order Entry `INVALID_SIGNATURE`); when `code` is omitted the family's
renderer picks its default code for the status.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status: int = 500

    def __init_subclass__(cls, *, status: int | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if status is not None:
            cls.status = status

    def __init__(
        self,
        message: str = "",
        *,
        code: str | None = None,
        details: list[dict[str, Any]] | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message or self.__class__.__name__)
        self.message = message or self.__class__.__name__
        self.code = code
        self.details = details or []
        if status is not None:
            self.status = status


class InvalidInput(DomainError, status=400):
    """400: the request is malformed; `details` names each bad field."""

    @classmethod
    def field(cls, field: str, reason: str, *, code: str | None = None) -> InvalidInput:
        return cls(f"{field}: {reason}", code=code, details=[{"field": field, "reason": reason}])


class Unauthorized(DomainError, status=401):
    """401: the caller is not (or no longer) authenticated."""


class PaymentRequired(DomainError, status=402):
    """402: the account may not act (e.g. a disabled login)."""


class Forbidden(DomainError, status=403):
    """403: authenticated, but this caller may not do that."""


class NotFound(DomainError, status=404):
    """404: no such thing, or not one the caller may see."""


class Conflict(DomainError, status=409):
    """409: the current state forbids it (a transition, a duplicate)."""


class UpstreamUnavailable(DomainError, status=502):
    """502: a simulated upstream (the settlement network) is down."""


class ServiceUnavailable(DomainError, status=503):
    """503: the server is shutting down and refuses new writes."""
