"""JSON Merge Patch (RFC 7386) applied to a case: which fields a `null` clears and which it cannot."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from case_service.domain.errors import InvalidInput

if TYPE_CHECKING:
    from case_service.domain.case import Case

# What `null` sets a field to. Fields not listed (title, severity, category) have no empty value a
# case could hold, so a `null` for them is refused rather than silently reset to a default.
CLEARED_VALUES: Mapping[str, Any] = {"description": "", "session_id": None, "tags": [], "metadata": {}}


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 section 2: objects merge key by key, `null` removes a key, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


def case_changes_from_merge_patch(case: Case, patch: Mapping[str, Any]) -> dict[str, Any]:
    """The field changes a merge patch means for this case, for `Case.update` to validate and apply.

    `metadata` merges into the case's metadata (a `null` inside it removes that key); every other
    field is replaced; `null` clears the fields that can be empty.
    """
    changes: dict[str, Any] = {}
    for name, value in patch.items():
        if value is None:
            if name not in CLEARED_VALUES:
                raise InvalidInput(name, "cannot be removed: null is accepted only for " + ", ".join(CLEARED_VALUES))
            changes[name] = CLEARED_VALUES[name]
        elif name == "metadata":
            if not isinstance(value, dict):
                raise InvalidInput("metadata", "must be a JSON object (or null to clear it)")
            changes[name] = merge_patch(case.metadata, value)
        else:
            changes[name] = value
    return changes
