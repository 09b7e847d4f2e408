"""HMAC-SHA256 signatures over a timestamp and a body, for events sent to or received over HTTP.

The webhook publisher signs what it posts and the event ingress verifies what it receives with the
same scheme, so one platform peer can speak to both:

    X-Signature-Timestamp: <unix seconds>
    X-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + body)>

Binding the timestamp into the MAC lets the receiver refuse replays older than its tolerance.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Signature"
TIMESTAMP_HEADER = "X-Signature-Timestamp"
_PREFIX = "sha256="


class SignatureRejected(Exception):
    """The signature is missing, malformed, stale or wrong; the message says which."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return _PREFIX + mac.hexdigest()


def signature_headers(secret: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: sign(secret, timestamp, body)}


def verify(
    secret: str, timestamp: str | None, signature: str | None, body: bytes, *, now: float, tolerance: float
) -> None:
    """Raise SignatureRejected unless `signature` is ours for `body` and `timestamp` is fresh."""
    if not timestamp or not signature:
        raise SignatureRejected(f"{TIMESTAMP_HEADER} and {SIGNATURE_HEADER} are required")
    if not timestamp.isdigit() or len(timestamp) > 12:
        raise SignatureRejected(f"{TIMESTAMP_HEADER} must be a Unix time in whole seconds")
    if abs(now - int(timestamp)) > tolerance:
        raise SignatureRejected(f"{TIMESTAMP_HEADER} is more than {tolerance:g} s away from the server's clock")
    if not hmac.compare_digest(sign(secret, int(timestamp), body), signature.strip()):
        raise SignatureRejected(f"{SIGNATURE_HEADER} does not match the body and timestamp")
