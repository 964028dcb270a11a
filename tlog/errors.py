"""Typed errors: callers branch on the family, never on ``Exception``.

- ``MalformedError``: bytes or input that do not parse (says which field and what was expected).
- ``VerificationError``: well-formed, but a signature, proof or policy check failed.
- ``StoreError``: storage or transport failed (``NotFoundError``, ``ConflictError``).
- ``ConfigError``: a configuration or command-line setting is wrong.
- ``NotPublishedError``: committed, but the checkpoint could not be published yet.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "ConflictError",
    "ForkError",
    "HostileResponseError",
    "MalformedError",
    "NotFoundError",
    "NotPublishedError",
    "StoreError",
    "TlogError",
    "UnknownEntryTypeError",
    "VerificationError",
]


class TlogError(Exception):
    """Base of every error this project raises on purpose; ``str()`` is one readable line."""


class MalformedError(TlogError):
    """Input is not in the expected format; ``field`` names where, when known."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field


class UnknownEntryTypeError(MalformedError):
    """An entry's kind and apiVersion name no type installed here (a plugin this reader lacks):
    well-formed as far as can be told, but not checkable by this installation."""


class VerificationError(TlogError):
    """A signature, proof or policy check failed on well-formed input."""


class ForkError(VerificationError):
    """Two signed views of one log that cannot both be honest (rollback or fork).

    ``evidence`` holds the conflicting signed notes so they can be shown to others.
    """

    def __init__(self, message: str, *, evidence: tuple[bytes, ...] = ()) -> None:
        super().__init__(message)
        self.evidence = evidence


class HostileResponseError(VerificationError):
    """A server sent what no honest log or witness sends: over the size limit for the
    object, too slow to finish within the deadline, or a redirect to another origin."""


class StoreError(TlogError):
    """Storage or transport failure; ``key`` names the object concerned."""

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(f"{key}: {message}" if key else message)
        self.key = key


class NotFoundError(StoreError):
    """The object does not exist."""


class ConflictError(StoreError):
    """A create-only write met different bytes, or a compare-and-swap lost the race."""


class NotPublishedError(TlogError):
    """A run committed a tree but could not publish its checkpoint (witness policy not met);
    nothing is lost, and the next run retries publishing."""


class ConfigError(TlogError):
    """A configuration file or command-line setting is wrong."""
