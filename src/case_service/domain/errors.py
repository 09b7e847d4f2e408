"""Domain errors. The API maps each class to one status code and one error body."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every error the service reports to a caller on purpose."""

    code = "domain_error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidInput(DomainError):
    """A value breaks a rule of the case (length, allowed values, normalization)."""

    code = "validation_error"

    def __init__(self, field: str, message: str, location: str = "body") -> None:
        super().__init__(
            f"Invalid request: {field}: {message}",
            errors=[{"location": location, "field": field, "message": message, "type": "value_error"}],
        )
        self.field = field


class NotFound(DomainError):
    """Something the caller asked for does not exist, or is not theirs to see."""

    code = "not_found"


class CaseNotFound(NotFound):
    """The case does not exist, or belongs to someone else: the caller cannot tell which."""

    code = "case_not_found"

    def __init__(self, case_id: str) -> None:
        super().__init__(f"Case {case_id} was not found", case_id=case_id)


class UserNotFound(NotFound):
    """Another user's resources, asked for by a caller who is neither that user nor an admin."""

    code = "user_not_found"

    def __init__(self, user_id: str) -> None:
        super().__init__(f"User {user_id} was not found", user_id=user_id)


class InvalidTransition(DomainError):
    """The status machine does not allow the requested move."""

    code = "invalid_status_transition"

    def __init__(self, case_id: str, current: str, requested: str, allowed: list[str]) -> None:
        super().__init__(
            f"Cannot move case {case_id} from '{current}' to '{requested}'",
            case_id=case_id,
            current_status=current,
            requested_status=requested,
            allowed_statuses=allowed,
        )


class ConcurrentModification(DomainError):
    """Someone else changed the case between our read and our write."""

    code = "concurrent_modification"


class Unauthenticated(DomainError):
    """The request carries no usable identity."""

    code = "unauthenticated"


class Forbidden(DomainError):
    """The caller is known but lacks the role an operator-only resource requires."""

    code = "forbidden"


class BadRequest(DomainError):
    """The request is malformed in a way no field validation names (headers, JSON syntax)."""

    code = "bad_request"


class PreconditionFailed(DomainError):
    """The caller's `If-Match` names a version the case is no longer (or never was) at."""

    code = "precondition_failed"

    def __init__(self, case_id: str, current_version: int) -> None:
        super().__init__(
            f"Case {case_id} is at version {current_version}, not the one If-Match names; "
            "read it again and retry with its ETag",
            case_id=case_id,
            current_version=current_version,
        )


class IdempotencyKeyReused(DomainError):
    """An `Idempotency-Key` already used by the caller for a different request."""

    code = "idempotency_key_reused"

    def __init__(self, key: str) -> None:
        super().__init__(
            "This Idempotency-Key was already used for a different request (another body or endpoint); "
            "use a new key for a new request",
            idempotency_key=key,
        )


class ServiceUnavailable(DomainError):
    """A dependency the request needs cannot be reached now; the same call may work shortly."""

    code = "service_unavailable"
    retry_after_seconds = 1


class DatabaseUnavailable(ServiceUnavailable):
    """The database refused, dropped or did not answer in time: the request failed, changed nothing."""

    code = "database_unavailable"

    def __init__(self, reason: str) -> None:
        super().__init__("The database is unavailable; retry shortly", reason=reason)


class InvalidCursor(BadRequest):
    """A list cursor that was not issued by this service, was altered, or belongs to another
    selection (other filters, search or sort than the request it is sent with)."""

    code = "invalid_cursor"


class OffsetTooDeep(BadRequest):
    """An `offset` past the cap: deep pages are read with the cursor, which costs the same at any depth."""

    code = "offset_too_deep"


class DeadLetterNotFound(NotFound):
    code = "dead_letter_not_found"

    def __init__(self, dead_letter_id: int) -> None:
        super().__init__(f"Dead letter {dead_letter_id} was not found", dead_letter_id=dead_letter_id)


class ReplayFailed(DomainError):
    """A dead-lettered event failed again when replayed; it stays in the dead letters."""

    code = "replay_failed"


class SignatureInvalid(DomainError):
    """A signed request's signature is missing, malformed, stale or wrong."""

    code = "invalid_signature"
