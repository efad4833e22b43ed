"""Domain errors. They know nothing of HTTP; ``http/problems.py`` maps each to a status.

DomainError
├── InvalidInput          bad input, with the field names at fault (400)
│   └── InvalidIdentifier an email or phone that cannot be normalized
├── NotFound              unknown resource, or one of another tenant (404)
├── Conflict              the request contradicts what is stored (409)
└── Refused               well-formed, but the rules refuse it (422)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    message: str


class DomainError(Exception):
    title = "Error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidInput(DomainError):
    title = "Invalid input"

    def __init__(self, detail: str, errors: Sequence[FieldError] = ()) -> None:
        super().__init__(detail)
        self.errors = tuple(errors)

    @classmethod
    def field(cls, field: str, message: str) -> InvalidInput:
        return cls(f"{field}: {message}", [FieldError(field, message)])


class InvalidIdentifier(InvalidInput):
    title = "Invalid identifier"


class NotFound(DomainError):
    title = "Not found"


class Conflict(DomainError):
    title = "Conflict"


class Refused(DomainError):
    title = "Refused by the rules"
