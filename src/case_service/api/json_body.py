"""Response bodies written from plain values by orjson, without building their pydantic models.

A list page of 50 cases took 437 µs of CPU to validate into `CaseList` and write with pydantic, and
64 µs to write with orjson from the same values (bench/PROFILE.md §22). The bytes are the same:
`tests/unit/test_json_body.py` compares them with the models' own JSON for generated cases.
"""

from __future__ import annotations

from typing import Any

import orjson
import pydantic_core


def dump_json(body: dict[str, Any]) -> bytes:
    """`body` as JSON, written as the response models write the same values.

    orjson writes integers of at most 64 bits. Metadata may hold a larger one, which pydantic's own
    writer takes, with the same output for everything else."""
    try:
        return orjson.dumps(body, option=orjson.OPT_UTC_Z)
    except orjson.JSONEncodeError:
        return pydantic_core.to_json(body)
