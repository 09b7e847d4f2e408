"""PATCH with a JSON Merge Patch (RFC 7386): merge semantics, nulls, PUT's validation, media type."""

from __future__ import annotations

import pytest
from httpx import AsyncClient, Response

from case_service.adapters.tables import case_history
from tests.api.helpers import count_rows, create, outbox_of

MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}


async def patch(client: AsyncClient, case_id: str, body: bytes | str, **headers: str) -> Response:
    content = body.encode() if isinstance(body, str) else body
    return await client.patch(f"/api/v1/cases/{case_id}", content=content, headers={**MERGE_PATCH, **headers})


async def test_fields_left_out_stay_and_metadata_merges_key_by_key(client: AsyncClient, app: object) -> None:
    case = await create(
        client,
        title="Disk full",
        description="sda1",
        tags=["disk"],
        session_id="s1",
        metadata={"region": "eu", "host": {"name": "db1", "rack": 4}, "keep": True},
    )
    response = await patch(
        client, case["case_id"], '{"severity": "high", "metadata": {"region": null, "host": {"rack": 5}, "new": 1}}'
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["severity"] == "high"
    assert body["metadata"] == {"host": {"name": "db1", "rack": 5}, "keep": True, "new": 1}
    assert (body["title"], body["description"], body["tags"], body["session_id"]) == ("Disk full", "sda1", ["disk"], "s1")
    assert body["version"] == 2
    events = await outbox_of(app, case["case_id"])
    assert [event for event, _, _ in events] == ["case.created", "case.updated"]
    assert set(events[1][2]["payload"]["changes"]) == {"severity", "metadata"}


async def test_null_clears_the_fields_that_can_be_empty(client: AsyncClient) -> None:
    case = await create(client, title="Disk full", description="sda1", tags=["disk"], session_id="s1", metadata={"a": 1})
    response = await patch(
        client, case["case_id"], '{"description": null, "session_id": null, "tags": null, "metadata": null}'
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["description"], body["session_id"], body["tags"], body["metadata"]) == ("", None, [], {})


@pytest.mark.parametrize("field", ["title", "severity", "category"])
async def test_null_for_a_field_that_cannot_be_empty_is_a_422_naming_it(
    client: AsyncClient, app: object, field: str
) -> None:
    case = await create(client, title="Disk full")
    response = await patch(client, case["case_id"], f'{{"{field}": null, "description": "x"}}')
    assert response.status_code == 422, response.text
    assert response.json()["details"]["errors"][0]["field"] == field
    assert (await client.get(f"/api/v1/cases/{case['case_id']}")).json()["version"] == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"title": ""}', "title"),
        ('{"title": "   "}', "title"),
        ('{"title": "' + "x" * 201 + '"}', "title"),
        ('{"severity": "urgent"}', "severity"),
        ('{"tags": ["ok", ""]}', "tags.1"),
        ('{"tags": "disk"}', "tags"),
        ('{"status": "closed"}', "status"),
        ('{"metadata": [1]}', "metadata"),
        ('{"metadata": {"k": "nul\\u0000"}}', "metadata"),
        ('{"description": "' + "x" * 5001 + '"}', "description"),
    ],
)
async def test_values_are_validated_as_in_put(client: AsyncClient, app: object, body: str, field: str) -> None:
    case = await create(client, title="Disk full")
    response = await patch(client, case["case_id"], body)
    assert response.status_code == 422, response.text
    assert response.json()["details"]["errors"][0]["field"] == field
    put = await client.put(f"/api/v1/cases/{case['case_id']}", content=body, headers={"Content-Type": "application/json"})
    assert put.status_code == 422  # the same body is refused by PUT too
    assert await count_rows(app, case_history, case_id=case["case_id"]) == 1


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", None])
async def test_another_media_type_is_a_415(client: AsyncClient, content_type: str | None) -> None:
    case = await create(client, title="Disk full")
    headers = {} if content_type is None else {"Content-Type": content_type}
    response = await client.patch(f"/api/v1/cases/{case['case_id']}", content=b'{"title": "X"}', headers=headers)
    assert response.status_code == 415, response.text
    assert response.json()["code"] == "unsupported_media_type"


@pytest.mark.parametrize(("body", "status"), [(b"{nope", 400), (b"\xff\xfe", 400), (b"[1, 2]", 422), (b'"x"', 422)])
async def test_a_body_that_is_not_a_json_object_is_refused(
    client: AsyncClient, body: bytes, status: int
) -> None:
    case = await create(client, title="Disk full")
    response = await patch(client, case["case_id"], body)
    assert response.status_code == status, response.text


async def test_a_patch_that_changes_nothing_keeps_the_version_and_records_nothing(
    client: AsyncClient, app: object
) -> None:
    case = await create(client, title="Disk full", metadata={"a": 1})
    response = await patch(client, case["case_id"], '{"title": "Disk full", "metadata": {"b": null}}')
    assert response.status_code == 200 and response.json()["version"] == 1
    assert len(await outbox_of(app, case["case_id"])) == 1


async def test_the_charset_parameter_is_accepted_and_another_users_case_is_404(
    client: AsyncClient, bob: AsyncClient
) -> None:
    case = await create(client, title="Disk full")
    ok = await patch(client, case["case_id"], '{"title": "X"}', **{"Content-Type": "application/merge-patch+json; charset=utf-8"})
    assert ok.status_code == 200
    assert (await patch(bob, case["case_id"], '{"title": "Y"}')).status_code == 404
