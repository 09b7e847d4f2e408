"""The committed contract `openapi/case-api.yaml` is rendered from the app by this function."""

from __future__ import annotations

import json
from typing import Any

import yaml

from case_service.config import Settings


def openapi_document() -> dict[str, Any]:
    from case_service.main import create_app

    # Defaults only, so the contract does not depend on the environment it was rendered in.
    app = create_app(Settings(_env_file=None, auto_migrate=False))  # type: ignore[call-arg]
    # A JSON round trip gives plain types (what a YAML reader will load back).
    return json.loads(json.dumps(app.openapi()))


def render_openapi() -> str:
    return yaml.safe_dump(openapi_document(), sort_keys=False, allow_unicode=True, width=100)
