"""The committed OpenAPI contract is exactly what the app serves."""

from __future__ import annotations

from pathlib import Path

import yaml

from case_service.openapi import openapi_document

CONTRACT = Path(__file__).resolve().parents[1] / "openapi" / "case-api.yaml"


def test_the_committed_contract_matches_the_app() -> None:
    committed = yaml.safe_load(CONTRACT.read_text(encoding="utf-8"))
    assert committed == openapi_document(), (
        "openapi/case-api.yaml is stale: regenerate it with `case-service openapi --output openapi/case-api.yaml`"
    )


def test_the_contract_is_openapi_3_1_and_documents_every_error_with_the_error_body() -> None:
    document = openapi_document()
    assert document["openapi"].startswith("3.1")
    for path, operations in document["paths"].items():
        if not path.startswith("/api/v1"):
            continue
        for method, operation in operations.items():
            codes = set(operation["responses"])
            assert "401" in codes, f"{method.upper()} {path} does not document 401"
            for code, response in operation["responses"].items():
                if code.startswith(("4", "5")):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, code)
