"""The AsyncAPI contract of the events, as JSON Schema validators (jsonschema, draft 7)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

CONTRACT_PATH = Path(__file__).resolve().parents[1] / "openapi" / "case-events.asyncapi.yaml"
_URI = "urn:fm-case-service:case-events"


@functools.cache
def contract() -> dict[str, Any]:
    return yaml.safe_load(CONTRACT_PATH.read_text(encoding="utf-8"))


@functools.cache
def _registry() -> Registry:
    return Registry().with_resource(_URI, Resource.from_contents(contract(), default_specification=DRAFT7))


def channel_addresses() -> dict[str, str]:
    """event type -> channel address, as the contract declares them."""
    document = contract()
    addresses = {}
    for channel in document["channels"].values():
        for message_ref in channel["messages"].values():
            name = message_ref["$ref"].rsplit("/", 1)[-1]
            addresses[document["components"]["messages"][name]["name"]] = channel["address"]
    return addresses


def _validator(pointer: str) -> Draft7Validator:
    return Draft7Validator(
        {"$ref": f"{_URI}#{pointer}"}, registry=_registry(), format_checker=Draft7Validator.FORMAT_CHECKER
    )


def _message(event_type: str) -> dict[str, Any]:
    messages = contract()["components"]["messages"]
    return next(message for message in messages.values() if message["name"] == event_type)


def assert_valid_event(envelope: dict[str, Any], headers: dict[str, str] | None = None) -> None:
    """Fail with every violation when the event or its headers break the contract."""
    message = _message(envelope["event_type"])
    problems = [f"body {list(e.absolute_path)}: {e.message}" for e in _validator(message["payload"]["$ref"][1:]).iter_errors(envelope)]
    if headers is not None:
        problems += [
            f"headers {list(e.absolute_path)}: {e.message}"
            for e in _validator(message["headers"]["$ref"][1:]).iter_errors(headers)
        ]
    assert not problems, f"{envelope['event_type']} breaks the contract:\n" + "\n".join(problems)
