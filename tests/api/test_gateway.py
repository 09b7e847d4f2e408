"""Only the gateway speaks for users: with GATEWAY_SHARED_SECRET set, /api/v1 needs a fresh,
untampered HMAC signature over the request line, the X-User-* values and a timestamp."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from httpx import AsyncClient

from case_service.adapters.tables import cases
from case_service.api.gateway import canonical_request, gateway_signature
from case_service.config import ConfigurationError, Settings, load_settings
from case_service.main import create_app
from case_service.signing import signature_headers
from tests.api.helpers import count_rows
from tests.conftest import client_for, make_settings
from tests.events import body_of, envelope

SECRET = "test-gateway-secret-0123456789"
README = Path(__file__).resolve().parents[2] / "README.md"


def signed(
    method: str,
    target: str,
    *,
    user_id: str = "alice",
    email: str | None = None,
    roles: str | None = None,
    timestamp: int | None = None,
    secret: str = SECRET,
) -> dict[str, str]:
    """The headers the gateway adds to a request for `target` (path and query, as sent)."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    path, _, query = target.partition("?")
    canonical = canonical_request(method, path, query, user_id=user_id, user_email=email, user_roles=roles, timestamp=stamp)
    headers = {"X-User-ID": user_id, "X-Gateway-Timestamp": stamp, "X-Gateway-Signature": gateway_signature(secret, canonical)}
    if email is not None:
        headers["X-User-Email"] = email
    if roles is not None:
        headers["X-User-Roles"] = roles
    return headers


@pytest.fixture
def settings(database_url: str) -> Settings:
    """This module's apps (the `app` fixture) run with the gateway secret set."""
    return make_settings(database_url, gateway_shared_secret=SECRET, gateway_max_skew_seconds=60)


@pytest.fixture
async def anonymous(app: object) -> AsyncIterator[AsyncClient]:
    """A client that sends only the headers each test gives it."""
    async with client_for(app, user_id=None) as c:
        yield c


def test_the_readme_worked_example_gives_the_documented_signature() -> None:
    canonical = canonical_request(
        "GET",
        "/api/v1/cases",
        "status=active&limit=20",
        user_id="alice",
        user_email="alice@example.com",
        user_roles='["support"]',
        timestamp="1796184000",
    )
    assert canonical == (
        'fm-gateway-v1\nGET\n/api/v1/cases\nstatus=active&limit=20\nalice\nalice@example.com\n["support"]\n1796184000'
    )
    signature = gateway_signature("example-gateway-secret-0123456789", canonical)
    assert signature == "401dc77038ed812e7b5d51417a898e678689b42c8c26f3742a907197ed6793e4"
    assert signature in README.read_text(encoding="utf-8")


async def test_a_signed_request_is_served(anonymous: AsyncClient) -> None:
    target = "/api/v1/cases"
    created = await anonymous.post(target, json={"title": "Disk full"}, headers=signed("POST", target))
    assert created.status_code == 201, created.text
    listed_target = "/api/v1/cases?status=active&limit=5"
    listed = await anonymous.get(
        listed_target, headers=signed("GET", listed_target, email="a@example.com", roles='["support"]')
    )
    assert listed.status_code == 200 and len(listed.json()["cases"]) == 1


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"X-User-ID": "mallory"}, "another user"),
        ({"X-User-Roles": '["admin"]'}, "roles added"),
        ({"X-User-Email": "x@example.com"}, "email added"),
        ({"X-Gateway-Signature": "0" * 64}, "forged"),
        ({"X-Gateway-Signature": ""}, "empty"),
        ({"X-Gateway-Timestamp": "not-a-time"}, "bad timestamp"),
    ],
)
async def test_a_tampered_request_is_a_401_and_changes_nothing(
    anonymous: AsyncClient, app: object, change: dict[str, str], reason: str
) -> None:
    headers = {**signed("POST", "/api/v1/cases"), **change}
    response = await anonymous.post("/api/v1/cases", json={"title": "Disk full"}, headers=headers)
    assert response.status_code == 401, reason
    body = response.json()
    assert body["code"] == "gateway_signature_invalid" and set(body) == {"error", "code", "details", "correlation_id"}
    assert await count_rows(app, cases) == 0


async def test_a_signature_for_another_method_path_or_query_is_refused(anonymous: AsyncClient) -> None:
    assert (await anonymous.get("/api/v1/cases", headers=signed("POST", "/api/v1/cases"))).status_code == 401
    assert (await anonymous.get("/api/v1/cases/tags", headers=signed("GET", "/api/v1/cases"))).status_code == 401
    query = await anonymous.get("/api/v1/cases?limit=1", headers=signed("GET", "/api/v1/cases?limit=2"))
    assert query.status_code == 401


async def test_missing_headers_or_a_wrong_secret_are_refused(anonymous: AsyncClient) -> None:
    plain = await anonymous.get("/api/v1/cases", headers={"X-User-ID": "alice"})
    assert plain.status_code == 401 and "gateway" in plain.json()["error"]
    other_secret = signed("GET", "/api/v1/cases", secret="another-secret-0123456789")
    assert (await anonymous.get("/api/v1/cases", headers=other_secret)).status_code == 401


async def test_an_expired_or_future_timestamp_is_refused(anonymous: AsyncClient) -> None:
    # The window is 60 s; stamps 90 s away stay outside it however long the requests take.
    now = int(time.time())
    for stamp in (now - 90, now + 90):
        response = await anonymous.get("/api/v1/cases", headers=signed("GET", "/api/v1/cases", timestamp=stamp))
        assert response.status_code == 401 and "X-Gateway-Timestamp" in response.json()["error"]
    within = await anonymous.get("/api/v1/cases", headers=signed("GET", "/api/v1/cases", timestamp=now - 50))
    assert within.status_code == 200


async def test_health_and_readiness_stay_open(anonymous: AsyncClient) -> None:
    assert (await anonymous.get("/health")).status_code == 200
    assert (await anonymous.get("/ready")).status_code == 200


def test_production_without_a_secret_warns_loudly(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="case_service"):
        create_app(Settings(_env_file=None, auto_migrate=False, environment="production"))  # type: ignore[call-arg]
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING and "GATEWAY_SHARED_SECRET" in r.getMessage()]
    assert warnings and "any user" in warnings[0].getMessage()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="case_service"):
        create_app(Settings(_env_file=None, auto_migrate=False, environment="production", gateway_shared_secret=SECRET))  # type: ignore[call-arg]
        create_app(Settings(_env_file=None, auto_migrate=False, environment="development"))  # type: ignore[call-arg]
    assert not [r for r in caplog.records if "GATEWAY_SHARED_SECRET" in r.getMessage()]


async def test_the_path_is_signed_as_sent_with_its_percent_encoding(anonymous: AsyncClient) -> None:
    created = await anonymous.post(
        "/api/v1/cases", json={"title": "Disk full", "tags": ["data base"]}, headers=signed("POST", "/api/v1/cases")
    )
    target = f"/api/v1/cases/{created.json()['case_id']}/tags/data%20base"
    removed = await anonymous.delete(target, headers=signed("DELETE", target))
    assert removed.status_code == 200, removed.text
    assert removed.json()["tags"] == []
    decoded = target.replace("%20", " ")
    assert (await anonymous.delete(target, headers=signed("DELETE", decoded))).status_code == 401


def test_a_short_secret_is_refused_at_start_and_an_empty_one_means_none() -> None:
    with pytest.raises(ConfigurationError) as error:
        load_settings(_env_file=None, gateway_shared_secret="too-short")
    assert "GATEWAY_SHARED_SECRET" in str(error.value)
    assert load_settings(_env_file=None, gateway_shared_secret="  ").gateway_shared_secret is None
    assert "0123456789" not in repr(load_settings(_env_file=None, gateway_shared_secret=SECRET))


OPERATOR = '["admin"]'


async def test_the_internal_api_needs_the_gateway_signature_too(anonymous: AsyncClient) -> None:
    target = "/internal/v1/dead-letters"
    forged = await anonymous.get(target, headers={"X-User-ID": "mallory", "X-User-Roles": OPERATOR})
    assert forged.status_code == 401
    assert forged.json()["code"] == "gateway_signature_invalid"
    vouched = await anonymous.get(target, headers=signed("GET", target, user_id="ops", roles=OPERATOR))
    assert vouched.status_code == 200, vouched.text


async def test_the_event_ingress_signed_with_its_own_secret_skips_the_gateway_check(
    database_url: str,
) -> None:
    ingress_secret = "ingress-secret-for-tests-0123456789"
    app = create_app(
        make_settings(database_url, gateway_shared_secret=SECRET, event_ingress_secret=ingress_secret)
    )
    body = body_of(envelope("auth.user.deleted", {"user_id": "nobody"}))
    async with app.router.lifespan_context(app), client_for(app, user_id=None) as peer:
        accepted = await peer.post(
            "/internal/v1/events",
            content=body,
            headers={"Content-Type": "application/json", **signature_headers(ingress_secret, int(time.time()), body)},
        )
        unsigned = await peer.post("/internal/v1/events", content=body, headers={"Content-Type": "application/json"})
    assert accepted.status_code < 300, accepted.text
    assert unsigned.status_code == 401 and unsigned.json()["code"] == "invalid_signature"
