"""Domain exceptions shared by every package.

These carry no HTTP knowledge; :mod:`maas.core.problems` holds the one registry that maps each class
to a status code and a problem type. Services raise them; views and the CLI translate them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class FieldError:
    """One bad input field: where it is and what is wrong with it."""

    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        """Serialise as it appears in a problem document's ``errors`` list."""
        return {"field": self.field, "message": self.message}


class MaasError(Exception):
    """Base of every error the system reports to a user on purpose."""

    title = "Request failed"
    # a narrower problem type than the class's registered one (a slug under /problems/), for
    # a case a client acts on by itself, e.g. ``pass-bound-elsewhere`` under Conflict's 409
    problem_type: str | None = None

    def __init__(self, detail: str, *, errors: Sequence[FieldError] = (),
                 retry_after: int | None = None,
                 extra: Mapping[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = tuple(errors)
        # seconds after which the same request may succeed (sent as ``Retry-After``)
        self.retry_after = retry_after
        # RFC 9457 extension members of the problem document (e.g. links to what to do next)
        self.extra: dict[str, Any] = dict(extra or {})


class ConfigError(MaasError):
    """A setting is missing or unusable; the process cannot start."""

    title = "Invalid configuration"


class InvalidInput(MaasError):
    """Input failed validation (a request field, a file, a line)."""

    title = "Invalid input"


class PayloadTooLarge(InvalidInput):
    """A request body larger than the service takes."""

    title = "Payload too large"


class NotFound(MaasError):
    """The thing asked for does not exist (or is not visible to the caller)."""

    title = "Not found"


class Conflict(MaasError):
    """The request conflicts with the current state."""

    title = "Conflict"


class Gone(MaasError):
    """The thing asked for existed but is over for good (an expired pass)."""

    title = "Gone"


class Unauthorized(MaasError):
    """No or bad credentials."""

    title = "Unauthorized"


class Forbidden(MaasError):
    """Credentials are fine but do not allow this."""

    title = "Forbidden"


class TooManyRequests(MaasError):
    """The caller is throttled (too many failed sign-ins); ``retry_after`` says how long."""

    title = "Too many requests"


class ServiceUnavailable(MaasError):
    """A dependency (the database) is unreachable; retrying later may work."""

    title = "Service unavailable"
