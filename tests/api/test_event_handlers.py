"""Platform events applied through the HTTP ingress (development mode: an operator caller), on both
backends: each handler's effect, its outbox event and history, and the inbox turning repeats into
no-ops."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import select

from case_service.adapters.tables import event_inbox, event_outbox
from case_service.adapters.unit_of_work import SqlAlchemyUnitOfWorkFactory
from case_service.service.platform_events import EventPolicy, PlatformEventService
from tests.api.helpers import count_rows, create, outbox_of
from tests.conftest import client_for
from tests.events import body_of, deliver, envelope, evidence_event


async def inbox_row(app: Any, event_id: str) -> Any:
    async with app.state.database.connection(write=False) as conn:
        return (await conn.execute(select(event_inbox).where(event_inbox.c.event_id == event_id))).one_or_none()


async def test_evidence_is_linked_once_listed_in_context_history_and_outbox(app: Any, client: AsyncClient) -> None:
    case = await create(client, title="Checkout slow")
    event = evidence_event(case["case_id"], "ev_1", content_type="text/plain", size_bytes=48213)

    first = await deliver(client, event)
    again = await deliver(client, event)

    assert first.status_code == 200, first.text
    assert first.json() == {
        "event_id": event["event_id"],
        "event_type": "evidence.uploaded",
        "outcome": "applied",
        "reason": f"evidence ev_1 linked to {case['case_id']}",
        "affected": 1,
    }
    assert again.status_code == 200
    assert again.json()["outcome"] == "duplicate"
    listed = (await client.get(f"/api/v1/cases/{case['case_id']}/evidence")).json()
    assert listed == {
        "evidence": [
            {
                "evidence_id": "ev_1",
                "case_id": case["case_id"],
                "file_name": "checkout-pod.log",
                "content_type": "text/plain",
                "size_bytes": 48213,
                "uploaded_at": "2026-11-15T12:39:00Z",
                "uploaded_by": "alice",
            }
        ],
        "total": 1,
        "limit": 50,
        "offset": 0,
    }
    context = (await client.get(f"/api/v1/cases/{case['case_id']}/context")).json()
    assert context["evidence"] == {"items": listed["evidence"], "total": 1}
    # Linking is activity: the version grows once (not twice), updated_at stays.
    after = (await client.get(f"/api/v1/cases/{case['case_id']}")).json()
    assert after["version"] == case["version"] + 1
    assert after["updated_at"] == case["updated_at"]
    [entry, _created] = (await client.get(f"/api/v1/cases/{case['case_id']}/history")).json()["entries"]
    assert entry["event_type"] == "case.evidence.added"
    assert entry["actor"]["user_id"] == "fm-test-platform"
    assert entry["correlation_id"] == event["correlation_id"]
    assert entry["details"]["evidence_id"] == "ev_1"
    events = await outbox_of(app, case["case_id"])
    assert [kind for kind, _, _ in events] == ["case.created", "case.evidence.added"]
    assert events[1][2]["payload"]["file_name"] == "checkout-pod.log"
    assert (await inbox_row(app, event["event_id"])).outcome == "applied"


async def test_the_evidence_of_another_users_case_answers_404(client: AsyncClient, bob: AsyncClient) -> None:
    case = await create(client)
    assert (await deliver(client, evidence_event(case["case_id"]))).json()["outcome"] == "applied"
    response = await bob.get(f"/api/v1/cases/{case['case_id']}/evidence")
    assert response.status_code == 404
    assert response.json()["code"] == "case_not_found"
    assert (await bob.get("/api/v1/cases/case_000000000000/evidence")).status_code == 404


async def test_evidence_pages_oldest_upload_first(client: AsyncClient) -> None:
    case_id = (await create(client))["case_id"]
    for n in (3, 1, 2):
        event = evidence_event(case_id, f"ev_{n}", uploaded_at=f"2026-11-15T12:0{n}:00Z")
        assert (await deliver(client, event)).json()["outcome"] == "applied"
    page = (await client.get(f"/api/v1/cases/{case_id}/evidence", params={"limit": 2, "offset": 1})).json()
    assert [e["evidence_id"] for e in page["evidence"]] == ["ev_2", "ev_3"]
    assert page["total"] == 3


async def test_unknown_cases_and_already_linked_evidence_are_recorded_not_applied(app: Any, client: AsyncClient) -> None:
    case_id = (await create(client))["case_id"]
    missing = evidence_event("case_000000000000")
    foreign = evidence_event("not-one-of-ours")
    relinked = evidence_event(case_id, "ev_same")
    assert (await deliver(client, evidence_event(case_id, "ev_same"))).json()["outcome"] == "applied"

    answers = [(await deliver(client, event)).json() for event in (missing, foreign, relinked)]

    assert [a["outcome"] for a in answers] == ["unknown_case", "unknown_case", "ignored"]
    assert "already linked" in answers[2]["reason"]
    row = await inbox_row(app, missing["event_id"])
    assert (row.outcome, row.source, row.affected) == ("unknown_case", "http", 0)
    assert row.completed_at is not None
    assert (await client.get(f"/api/v1/cases/{case_id}/evidence")).json()["total"] == 1


def hypothesis(case_id: str, confidence: float) -> dict[str, Any]:
    return envelope(
        "hypothesis.validated", {"case_id": case_id, "hypothesis_id": "hyp_1", "confidence": confidence}
    )


async def test_a_confident_hypothesis_moves_the_case_one_step_and_nothing_else_moves_it(
    app: Any, client: AsyncClient
) -> None:
    case_id = (await create(client))["case_id"]

    low = (await deliver(client, hypothesis(case_id, 0.5))).json()
    to_investigating = (await deliver(client, hypothesis(case_id, 0.8))).json()
    to_resolved = (await deliver(client, hypothesis(case_id, 0.95))).json()
    after_resolved = (await deliver(client, hypothesis(case_id, 1.0))).json()

    assert (low["outcome"], low["reason"]) == ("ignored", "confidence 0.5 is below the threshold 0.8: no move")
    assert to_investigating["outcome"] == "applied"
    assert to_resolved["outcome"] == "applied"
    assert after_resolved["outcome"] == "ignored"
    assert "resolved case is not moved" in after_resolved["reason"]
    case = (await client.get(f"/api/v1/cases/{case_id}")).json()
    assert case["status"] == "resolved" and case["resolved_at"] is not None
    history = (await client.get(f"/api/v1/cases/{case_id}/context")).json()["status_history"]
    assert [(m["from_status"], m["to_status"]) for m in history] == [
        ("active", "investigating"),
        ("investigating", "resolved"),
    ]
    assert history[1]["reason"] == "hypothesis hyp_1 validated with confidence 0.95"
    assert history[1]["actor"]["user_id"] == "fm-test-platform"
    kinds = [kind for kind, _, _ in await outbox_of(app, case_id)]
    assert kinds == ["case.created", "case.status_changed", "case.status_changed"]


async def test_deleting_a_user_deletes_all_their_cases_in_batches_and_announces_each(
    app: Any, client: AsyncClient, bob: AsyncClient
) -> None:
    alice_cases = [(await create(client, tags=["db"]))["case_id"] for _ in range(7)]
    bobs = (await create(bob))["case_id"]
    await deliver(client, evidence_event(alice_cases[0]))
    await client.post(f"/api/v1/cases/{alice_cases[1]}/messages", json={"role": "user", "content": "hi"})
    event = envelope("auth.user.deleted", {"user_id": "alice"})
    events = service_with_batches_of(app, 3)

    receipt = await events.receive(body_of(event), "http")
    again = await deliver(client, event)

    assert (receipt.outcome.value, receipt.affected) == ("applied", 7)
    assert again.json()["outcome"] == "duplicate"
    assert (await client.get("/api/v1/cases", params={"include_total": "true"})).json()["total"] == 0
    for case_id in alice_cases:
        assert (await client.get(f"/api/v1/cases/{case_id}")).status_code == 404
        [(kind, _, envelope_)] = [e for e in await outbox_of(app, case_id) if e[0] == "case.deleted"]
        assert envelope_["payload"] == {"case_id": case_id, "user_id": "alice", "reason": "user_deleted"}
    assert (await bob.get(f"/api/v1/cases/{bobs}")).status_code == 200
    from case_service.adapters.tables import case_evidence, case_messages, case_tags

    for table in (case_evidence, case_messages, case_tags):
        assert await count_rows(app, table) == 0
    assert await count_rows(app, event_outbox, event_type="case.deleted") == 7


def service_with_batches_of(app: Any, size: int, clock: Any = None) -> PlatformEventService:
    """The app's event service with a small batch size (and, for crash tests, another clock)."""
    policy = EventPolicy(consumer="fm-case-service", user_deletion_batch_size=size, hypothesis_resolve_confidence=0.8)
    factory = SqlAlchemyUnitOfWorkFactory(app.state.database, "fm-case-service")
    return PlatformEventService(factory, policy, clock or (lambda: datetime.now(UTC)))


class CrashingClock:
    """Fails on its n-th reading: the service reads the clock once per batch, so the n-th batch
    fails before it commits, exactly like a process dying between two batches."""

    def __init__(self, fail_on: int) -> None:
        self.readings = 0
        self.fail_on = fail_on

    def __call__(self) -> datetime:
        self.readings += 1
        if self.readings == self.fail_on:
            raise RuntimeError("the process died here")
        return datetime.now(UTC)


async def test_a_deletion_cut_off_between_batches_resumes_and_announces_each_case_once(
    app: Any, client: AsyncClient
) -> None:
    for _ in range(8):
        await create(client)
    event = body_of(envelope("auth.user.deleted", {"user_id": "alice"}))

    with pytest.raises(RuntimeError):
        await service_with_batches_of(app, 3, CrashingClock(fail_on=3)).receive(event, "nats")
    assert (await client.get("/api/v1/cases", params={"include_total": "true"})).json()["total"] == 2  # two batches of 3 committed
    resumed = await service_with_batches_of(app, 3).receive(event, "nats")

    assert (resumed.outcome.value, resumed.affected) == ("applied", 8)
    assert (await client.get("/api/v1/cases", params={"include_total": "true"})).json()["total"] == 0
    assert await count_rows(app, event_outbox, event_type="case.deleted") == 8


async def test_a_user_without_cases_is_recorded_as_applied(app: Any, client: AsyncClient) -> None:
    answer = (await deliver(client, envelope("auth.user.deleted", {"user_id": "nobody"}))).json()
    assert (answer["outcome"], answer["affected"]) == ("applied", 0)


async def test_an_event_type_without_handler_is_recorded_as_ignored(client: AsyncClient) -> None:
    answer = (await deliver(client, envelope("billing.invoice.paid", {"invoice": 1}))).json()
    assert answer["outcome"] == "ignored"
    assert "no handler" in answer["reason"]


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"schema_version": "2.0.0"}, "unsupported_schema_version", "schema_version"),
        ({"event_id": "not-a-uuid"}, "malformed_event", "event_id"),
        ({"payload": []}, "malformed_event", "payload"),
        ({"timestamp": "yesterday"}, "malformed_event", "timestamp"),
        ({"event_type": None}, "malformed_event", "event_type"),
    ],
)
async def test_malformed_events_answer_422_and_record_nothing(
    app: Any, client: AsyncClient, change: dict[str, Any], code: str, field: str
) -> None:
    case_id = (await create(client))["case_id"]
    response = await deliver(client, {**evidence_event(case_id), **change})
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == code
    assert body["details"]["errors"][0]["field"] == field
    assert await count_rows(app, event_inbox) == 0


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"[]", b'{"event_id": NaN}', "\u00e9".encode("latin-1")],
)
async def test_bodies_that_are_not_an_envelope_answer_422(app: Any, client: AsyncClient, body: bytes) -> None:
    response = await deliver(client, body)
    assert response.status_code == 422
    assert response.json()["code"] == "malformed_event"


async def test_payload_rules_are_checked_before_anything_is_recorded(app: Any, client: AsyncClient) -> None:
    case_id = (await create(client))["case_id"]
    for event in (
        evidence_event(case_id, file_name=""),
        evidence_event(case_id, file_name="x" * 256),
        evidence_event(case_id, size_bytes=-1),
        evidence_event(case_id, file_name="bad\x00name"),
        hypothesis(case_id, 1.5),
        envelope("auth.user.deleted", {}),
    ):
        response = await deliver(client, event)
        assert response.status_code == 422, (event, response.text)
        assert response.json()["details"]["errors"][0]["field"].startswith("payload.")
    assert await count_rows(app, event_inbox) == 0


async def test_any_1x_schema_version_is_understood(client: AsyncClient) -> None:
    case_id = (await create(client))["case_id"]
    event = {**evidence_event(case_id), "schema_version": "1.7", "event_type": "evidence.uploaded.v1"}
    assert (await deliver(client, event)).json()["outcome"] == "applied"


async def test_the_ingress_without_a_secret_admits_only_operators(app: Any) -> None:
    event = body_of(envelope("auth.user.deleted", {"user_id": "alice"}))
    async with client_for(app, "mallory") as mallory:
        refused = await mallory.post("/internal/v1/events", content=event)
    async with client_for(app, None) as anonymous:
        unknown = await anonymous.post("/internal/v1/events", content=event)
    async with client_for(app, "ops", **{"X-User-Roles": "admin"}) as admin:
        accepted = await admin.post("/internal/v1/events", content=event)
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
    assert unknown.status_code == 401
    assert accepted.status_code == 200
