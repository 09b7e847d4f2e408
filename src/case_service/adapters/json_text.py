"""JSON read from the database by orjson, and by the standard library wherever the two differ.

A list page reads 51 `metadata` objects: parsed by `json.loads`, they took about 105 µs of the
page's CPU; by orjson, 15 µs (bench/PROFILE.md §23). orjson reads an integer past 64 bits as a
float, where `json.loads` keeps it exact (and metadata may hold one), and refuses texts the
standard library reads: NaN, Infinity, numbers past a double's range, lone surrogates. Those
go to `json.loads`, so every text reads exactly as it did.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

# The shortest integer orjson may read as a float has 19 digits (2**63); any run that long, in a
# number or not, is left to the standard library.
_LONG_DIGIT_RUN = re.compile(r"\d{19}")


def load_json(text: str) -> Any:
    """`json.loads(text)`, faster."""
    if _LONG_DIGIT_RUN.search(text) is None:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass  # text orjson refuses; json.loads reads it, or raises its own error
    return json.loads(text)
