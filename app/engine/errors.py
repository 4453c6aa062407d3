"""One domain error hierarchy, rendered at each family's edge in that family's shape.

The engine raises these with the family's own `code` (e.g. Musubi `CONFLICT`, broker
`NOT_ENOUGH_MONEY`, Order Entry `INVALID_SIGNATURE`); when `code` is omitted the family's
renderer picks its default code for the status.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status: int = 500

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


class InvalidInput(DomainError):
    """400: the request is malformed; `details` names each bad field."""

    status = 400

    @classmethod
    def field(cls, field: str, reason: str, *, code: str | None = None) -> InvalidInput:
        return cls(f"{field}: {reason}", code=code, details=[{"field": field, "reason": reason}])


class Unauthorized(DomainError):
    status = 401


class PaymentRequired(DomainError):
    status = 402


class Forbidden(DomainError):
    status = 403


class NotFound(DomainError):
    status = 404


class Conflict(DomainError):
    status = 409


class UpstreamUnavailable(DomainError):
    """502: a simulated upstream (the settlement network) is down."""

    status = 502


class ServiceUnavailable(DomainError):
    """503: the server is shutting down and refuses new writes."""

    status = 503


class InjectedFault(DomainError):
    """A control-API fault rule answered this request."""
