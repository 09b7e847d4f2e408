"""With EVENT_INGRESS_SECRET set, the ingress takes signed requests only (the webhook scheme)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from case_service.config import Settings
from case_service.signing import signature_headers
from tests.conftest import client_for, make_settings
from tests.events import body_of, envelope

SECRET = "ingress-secret-for-tests-0123456789"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url, event_ingress_secret=SECRET, event_ingress_tolerance=60)


def event_body() -> bytes:
    return body_of(envelope("auth.user.deleted", {"user_id": "alice"}))


async def post(app: Any, body: bytes, headers: dict[str, str], user: str | None = None) -> Any:
    async with client_for(app, user) as peer:
        return await peer.post(
            "/internal/v1/events", content=body, headers={"Content-Type": "application/json", **headers}
        )


async def test_a_signed_event_is_accepted_without_any_user_header(app: Any) -> None:
    body = event_body()
    response = await post(app, body, signature_headers(SECRET, int(time.time()), body))
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "applied"


@pytest.mark.parametrize(
    ("forge", "message"),
    [
        (lambda body, now: signature_headers("another-secret-0123456789", now, body), "does not match"),
        (lambda body, now: signature_headers(SECRET, now - 120, body), "away from the server's clock"),
        (lambda body, now: signature_headers(SECRET, now, body + b" "), "does not match"),
        (lambda body, now: {}, "are required"),
        (lambda body, now: {**signature_headers(SECRET, now, body), "X-Signature-Timestamp": "soon"}, "Unix time"),
    ],
    ids=["wrong-secret", "stale", "tampered-body", "unsigned", "bad-timestamp"],
)
async def test_wrong_stale_tampered_or_missing_signatures_answer_401_and_apply_nothing(
    app: Any, forge: Any, message: str
) -> None:
    async with client_for(app, "alice") as alice:
        case_id = (await alice.post("/api/v1/cases", json={})).json()["case_id"]
    body = event_body()
    response = await post(app, body, forge(body, int(time.time())))
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_signature"
    assert message in response.json()["error"]
    async with client_for(app, "alice") as alice:
        assert (await alice.get(f"/api/v1/cases/{case_id}")).status_code == 200


async def test_with_a_secret_an_operator_role_is_not_enough(app: Any) -> None:
    response = await post(app, event_body(), {"X-User-Roles": "admin"}, user="ops")
    assert response.status_code == 401
