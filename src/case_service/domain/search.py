"""The search language of `q`, parsed into a small tree that adapters render for their database.

What a user may type:
- words, all of which must match (`timeout checkout`);
- a word ending in `*` matches every word starting with it (`time*`);
- `"a quoted phrase"` matches those words next to each other, in order, within one field; a
  phrase may end in `*` too (`"connection time"*`).

Nothing else has a meaning: punctuation inside a word splits it like the database does
(`foo-bar` is the phrase `"foo bar"`), and words are compared lower-cased. What reaches the
adapters is only lists of letters-and-digits words, so no user text is ever spliced into a
database query language. Malformed input (an unbalanced quote, a `*` that does not end a word,
nothing to search for) is an `InvalidInput` naming `q`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from case_service.domain.errors import InvalidInput

Q_MAX_LENGTH = 200
MAX_TERMS = 16
# A word is a run of letters and digits; everything else separates words (as FTS5's unicode61
# tokenizer and our PostgreSQL normalization both do).
_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class SearchTerm:
    """One condition of the query: a word (one entry in `words`) or a phrase (several)."""

    words: tuple[str, ...]
    prefix: bool = False

    @property
    def is_phrase(self) -> bool:
        return len(self.words) > 1


@dataclass(frozen=True)
class SearchQuery:
    """Every term must match. `text` is the query as the user wrote it (for cursors and echoes)."""

    terms: tuple[SearchTerm, ...]
    text: str


def words_of(text: str) -> tuple[str, ...]:
    return tuple(_WORD.findall(text.lower()))


def parse_search(text: str) -> SearchQuery:
    """Parse `q`; raise InvalidInput("q", ...) when it means nothing or is malformed."""
    if "\x00" in text:
        raise _invalid("must not contain NUL characters")
    if len(text) > Q_MAX_LENGTH:
        raise _invalid(f"must be at most {Q_MAX_LENGTH} characters")
    terms: list[SearchTerm] = []
    position, end = 0, len(text)
    while position < end:
        char = text[position]
        if char.isspace():
            position += 1
        elif char == '"':
            close = text.find('"', position + 1)
            if close == -1:
                raise _invalid("has a quote that is never closed")
            words = words_of(text[position + 1 : close])
            if not words:
                raise _invalid("has a quoted phrase with no words in it")
            position = close + 1
            prefix = position < end and text[position] == "*"
            position += prefix
            if position < end and not text[position].isspace() and text[position] != '"':
                raise _invalid("needs a space after a quoted phrase")
            terms.append(SearchTerm(words, prefix))
        else:
            stop = position
            while stop < end and not text[stop].isspace() and text[stop] != '"':
                stop += 1
            chunk = text[position:stop]
            position = stop
            prefix = chunk.endswith("*")
            body = chunk[:-1] if prefix else chunk
            if "*" in body:
                raise _invalid("`*` may only end a word (`time*`)")
            words = words_of(body)
            if words:
                terms.append(SearchTerm(words, prefix))
            elif prefix:
                raise _invalid("`*` must follow a word (`time*`), not stand alone")
    if not terms:
        raise _invalid("has no words to search for")
    if len(terms) > MAX_TERMS:
        raise _invalid(f"may hold at most {MAX_TERMS} words or phrases")
    return SearchQuery(terms=tuple(terms), text=text)


def _invalid(message: str) -> InvalidInput:
    return InvalidInput("q", message, location="query")
