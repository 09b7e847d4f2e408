"""The HMAC scheme shared by the webhook publisher and the event ingress."""

import hashlib
import hmac

import pytest

from case_service.signing import SignatureRejected, sign, signature_headers, verify

SECRET = "s3cret"
BODY = b'{"event_id":"e1"}'


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    expected = hmac.new(b"s3cret", b'1700000000.{"event_id":"e1"}', hashlib.sha256).hexdigest()
    assert sign(SECRET, 1_700_000_000, BODY) == "sha256=" + expected
    assert signature_headers(SECRET, 1_700_000_000, BODY) == {
        "X-Signature-Timestamp": "1700000000",
        "X-Signature": "sha256=" + expected,
    }


def test_a_fresh_signature_of_the_same_body_is_accepted() -> None:
    verify(SECRET, "1700000000", sign(SECRET, 1_700_000_000, BODY), BODY, now=1_700_000_030, tolerance=300)


@pytest.mark.parametrize(
    ("timestamp", "signature", "body", "now", "reason"),
    [
        (None, "sha256=00", BODY, 1_700_000_000, "required"),
        ("1700000000", None, BODY, 1_700_000_000, "required"),
        ("17e8", "sha256=00", BODY, 1_700_000_000, "whole seconds"),
        ("1700000000", sign(SECRET, 1_700_000_000, BODY), BODY, 1_700_000_301, "away from"),
        ("1700000000", sign(SECRET, 1_700_000_000, BODY), BODY + b" ", 1_700_000_000, "does not match"),
        ("1700000001", sign(SECRET, 1_700_000_000, BODY), BODY, 1_700_000_000, "does not match"),
        ("1700000000", sign("other", 1_700_000_000, BODY), BODY, 1_700_000_000, "does not match"),
    ],
)
def test_missing_stale_or_tampered_signatures_are_rejected(
    timestamp: str | None, signature: str | None, body: bytes, now: int, reason: str
) -> None:
    with pytest.raises(SignatureRejected, match=reason):
        verify(SECRET, timestamp, signature, body, now=now, tolerance=300)
