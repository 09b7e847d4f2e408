"""Every limit is a clear 4xx naming it, and changes nothing: body size (413 before parsing, also
for chunked bodies), metadata size and depth, tag count and length, the per-user rate limit; and
CORS allows the configured origins only."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from httpx import AsyncClient

from case_service.adapters.tables import case_messages, cases
from case_service.config import Settings
from case_service.domain.case import METADATA_MAX_BYTES
from case_service.main import create_app
from tests.api.helpers import count_rows, create
from tests.api.test_hostile_input import nested
from tests.conftest import client_for, make_settings


async def _chunks(data: bytes, size: int = 4096) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url, max_request_body_bytes=2048)


async def test_a_body_over_the_limit_is_a_413_from_its_content_length(client: AsyncClient, app: object) -> None:
    body = b'{"title": "' + b"x" * 3000 + b'"}'
    response = await client.post("/api/v1/cases", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 413, response.text
    error = response.json()
    assert error["code"] == "payload_too_large" and "MAX_REQUEST_BODY_BYTES (2048 bytes)" in error["error"]
    assert error["details"] == {"max_bytes": 2048}
    assert await count_rows(app, cases) == 0


async def test_a_chunked_body_without_content_length_is_cut_off_at_the_limit(client: AsyncClient, app: object) -> None:
    body = b'{"title": "' + b"x" * 30_000 + b'"}'
    response = await client.post("/api/v1/cases", content=_chunks(body), headers={"Content-Type": "application/json"})
    assert "content-length" not in response.request.headers
    assert response.status_code == 413, response.text
    assert "MAX_REQUEST_BODY_BYTES" in response.json()["error"]
    assert await count_rows(app, cases) == 0
    case = await create(client, title="Disk full")
    patch = await client.patch(
        f"/api/v1/cases/{case['case_id']}",
        content=_chunks(b'{"description": "' + b"y" * 5000 + b'"}'),
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert patch.status_code == 413
    assert (await client.get(f"/api/v1/cases/{case['case_id']}")).json()["version"] == 1


async def test_a_body_within_the_limit_is_served_chunked_or_not(client: AsyncClient) -> None:
    body = b'{"title": "' + b"x" * 150 + b'", "description": "' + b"d" * 1800 + b'"}'
    assert len(body) <= 2048
    plain = await client.post("/api/v1/cases", content=body, headers={"Content-Type": "application/json"})
    chunked = await client.post("/api/v1/cases", content=_chunks(body, 100), headers={"Content-Type": "application/json"})
    assert (plain.status_code, chunked.status_code) == (201, 201), chunked.text


async def test_metadata_over_its_size_limit_is_a_422_naming_it(database_url: str) -> None:
    application = create_app(make_settings(database_url))  # the default 1 MiB body limit
    async with application.router.lifespan_context(application), client_for(application, "limits-user") as client:
        big = {"blob": "x" * METADATA_MAX_BYTES}
        response = await client.post("/api/v1/cases", json={"title": "Disk full", "metadata": big})
        assert response.status_code == 422, response.text
        error = response.json()["details"]["errors"][0]
        assert error["field"] == "metadata" and str(METADATA_MAX_BYTES) in error["message"]
        case = await create(client, title="Small", metadata={"blob": "x" * (METADATA_MAX_BYTES - 100)})
        message = await client.post(
            f"/api/v1/cases/{case['case_id']}/messages", json={"role": "user", "content": "hi", "metadata": big}
        )
        assert message.status_code == 422 and message.json()["details"]["errors"][0]["field"] == "metadata"
        assert await count_rows(application, case_messages, case_id=case["case_id"]) == 0


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"tags": [f"t{i}" for i in range(21)]}, "at most 20"),
        ({"tags": ["x" * 51]}, "50"),
        ({"metadata": {"deep": nested(40)}}, "32 levels"),
    ],
)
async def test_tag_and_metadata_limits_are_422s_naming_the_limit(
    client: AsyncClient, app: object, body: dict, needle: str
) -> None:
    response = await client.post("/api/v1/cases", json={"title": "Disk full", **body})
    assert response.status_code == 422, response.text
    assert needle in response.text
    assert await count_rows(app, cases) == 0


async def test_adding_tags_past_twenty_is_a_422_and_changes_nothing(client: AsyncClient) -> None:
    case = await create(client, title="Disk full", tags=[f"t{i}" for i in range(20)])
    response = await client.post(f"/api/v1/cases/{case['case_id']}/tags", json={"tags": ["one-more"]})
    assert response.status_code == 422 and "at most 20" in response.text
    assert (await client.get(f"/api/v1/cases/{case['case_id']}")).json()["version"] == 1


@pytest.mark.parametrize("user_id", ["a" * 129, "alice bob", "al<ice>"])
async def test_a_malformed_user_id_is_a_400(app: object, user_id: str) -> None:
    async with client_for(app, user_id) as client:
        response = await client.get("/api/v1/cases")
    assert response.status_code == 400 and response.json()["details"]["header"] == "X-User-ID"


async def test_the_rate_limit_answers_429_with_retry_after_and_ratelimit_headers(database_url: str) -> None:
    application = create_app(make_settings(database_url, rate_limit_per_minute=3))
    async with application.router.lifespan_context(application):
        async with client_for(application, "busy-user") as busy, client_for(application, "calm-user") as calm:
            answers = [await busy.get("/api/v1/cases") for _ in range(3)]
            assert [a.status_code for a in answers] == [200, 200, 200]
            assert [a.headers["ratelimit-remaining"] for a in answers] == ["2", "1", "0"]
            assert all(a.headers["ratelimit-limit"] == "3" for a in answers)
            assert 1 <= int(answers[0].headers["ratelimit-reset"]) <= 60

            refused = await busy.post("/api/v1/cases", json={"title": "Too many"})
            assert refused.status_code == 429, refused.text
            assert refused.json()["code"] == "rate_limited"
            assert "RATE_LIMIT_PER_MINUTE (3)" in refused.json()["error"]
            assert 1 <= int(refused.headers["retry-after"]) <= 60
            assert refused.headers["ratelimit-remaining"] == "0"

            # Per user: another caller has the whole quota; probes and unidentified calls are not counted.
            assert (await calm.get("/api/v1/cases")).headers["ratelimit-remaining"] == "2"
            assert (await busy.get("/health")).status_code == 200
        assert await count_rows(application, cases, user_id="busy-user") == 0


async def test_without_a_rate_limit_no_ratelimit_headers_are_sent(client: AsyncClient) -> None:
    response = await client.get("/api/v1/cases")
    assert response.status_code == 200 and "ratelimit-limit" not in response.headers


def _cors_app(origins: str) -> object:
    return create_app(Settings(_env_file=None, auto_migrate=False, cors_origins=origins))  # type: ignore[call-arg]


PREFLIGHT = {"Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "if-match,x-user-id"}


async def test_cors_allows_only_the_configured_origins_with_credentials() -> None:
    async with client_for(_cors_app("https://app.example.com,https://ops.example.com"), None) as browser:
        allowed = await browser.options("/api/v1/cases/case_000000000000", headers={"Origin": "https://app.example.com", **PREFLIGHT})
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"
        assert allowed.headers["access-control-allow-credentials"] == "true"

        refused = await browser.options("/api/v1/cases", headers={"Origin": "https://evil.example.com", **PREFLIGHT})
        assert refused.status_code == 400
        assert "access-control-allow-origin" not in refused.headers

        simple = await browser.get("/health", headers={"Origin": "https://ops.example.com"})
        assert simple.headers["access-control-allow-origin"] == "https://ops.example.com"
        assert "ETag" in simple.headers["access-control-expose-headers"]
        foreign = await browser.get("/health", headers={"Origin": "https://evil.example.com"})
        assert "access-control-allow-origin" not in foreign.headers


async def test_a_wildcard_origin_never_comes_with_credentials() -> None:
    async with client_for(_cors_app("*"), None) as browser:
        preflight = await browser.options("/api/v1/cases", headers={"Origin": "https://any.example.com", **PREFLIGHT})
        assert preflight.headers["access-control-allow-origin"] == "*"
        assert "access-control-allow-credentials" not in preflight.headers
        simple = await browser.get("/health", headers={"Origin": "https://any.example.com", "Cookie": "session=1"})
        assert simple.headers["access-control-allow-origin"] == "*"
        assert "access-control-allow-credentials" not in simple.headers
