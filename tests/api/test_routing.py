"""Which route answers: the by-id routes come first, yet leave the fixed names beside them alone."""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from httpx import AsyncClient

from case_service.api.routes.cases import FIXED_SEGMENTS, CaseIdSegment
from tests.api.helpers import create


def test_every_fixed_name_beside_a_case_id_is_kept_from_the_by_id_routes(app: FastAPI) -> None:
    beside = {
        match.group(1)
        for route in iter_route_contexts(app.router.routes)
        if isinstance(route.original_route, APIRoute)
        and (match := re.fullmatch(r"/api/v1/cases/([^/{]+)", route.path_format))
    }
    # A new fixed path there must join FIXED_SEGMENTS, or GET/PUT/PATCH/DELETE by id would take it.
    assert beside == set(FIXED_SEGMENTS)
    segment = re.compile(CaseIdSegment.regex)
    assert not any(segment.fullmatch(name) for name in beside)


async def test_the_fixed_names_reach_their_own_routes(client: AsyncClient) -> None:
    case = await create(client, title="tagged", tags=["db"])
    assert (await client.get("/api/v1/cases/tags")).json() == {"tags": [{"tag": "db", "count": 1}]}
    assert (await client.get("/api/v1/cases/stats")).json()["total"] == 1
    batch = await client.post("/api/v1/cases/batch", json={"case_ids": [case["case_id"]]})
    assert [r["result"] for r in batch.json()["results"]] == ["found"]
    # Another method on a fixed name is that route's 405, not a case named "stats".
    wrong_method = await client.put("/api/v1/cases/stats", json={"title": "x"})
    assert wrong_method.status_code == 405
    assert wrong_method.headers["allow"] == "GET"


async def test_a_segment_that_only_starts_like_a_fixed_name_is_a_case_id(client: AsyncClient) -> None:
    for segment in ("tagsx", "statistics", "batch2", "Tags"):
        response = await client.get(f"/api/v1/cases/{segment}")
        assert response.status_code == 404, segment
        assert response.json()["code"] == "case_not_found", segment
