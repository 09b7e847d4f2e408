"""JSON columns are read by orjson, yet every text reads exactly as `json.loads` reads it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from case_service.adapters.json_text import load_json

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()  # unbounded: past 64 bits, orjson alone would answer a float
    | st.floats()  # NaN, infinities and -0.0 included
    | st.text()  # lone surrogates included
)
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner), max_leaves=20)
# Numbers as a database may write them: long mantissas, exponents, trailing zeros, past a double.
NUMBER_TEXTS = st.from_regex(r"\A-?(0|[1-9][0-9]{0,40})(\.[0-9]{1,40})?([eE][+-]?[0-9]{1,4})?\Z")


def same(text: str) -> None:
    """Both read `text` to the same value (types, order of keys, -0.0 and NaN included), or both refuse it."""
    try:
        expected: Any = json.loads(text)
    except ValueError:
        with pytest.raises(ValueError):
            load_json(text)
        return
    assert repr(load_json(text)) == repr(expected)


@given(VALUES, st.booleans())
def test_every_json_text_reads_as_the_standard_library_reads_it(value: Any, ascii_only: bool) -> None:
    same(json.dumps(value, ensure_ascii=ascii_only))


@given(NUMBER_TEXTS)
def test_every_number_reads_as_the_standard_library_reads_it(number: str) -> None:
    same(number)
    same(f'{{"n":{number}}}')


def test_the_texts_orjson_alone_reads_otherwise() -> None:
    for text in ('{"big":18446744073709551616}', "[1e400]", "NaN", '"\\ud800"', '{"a":1,"a":2}', "[-0]", "", "{"):
        same(text)
    assert load_json('{"big": 123456789012345678901234567890}') == {"big": 123456789012345678901234567890}
