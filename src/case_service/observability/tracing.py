"""W3C Trace Context: read the caller's `traceparent`, or start a trace when there is none.

Each request is one span of the trace. Its `traceparent` (the caller's trace id, this request's
span id) goes into the logs and into the headers of the events the request writes to the outbox,
so a consumer can continue the same trace. The caller's `tracestate` (other tracing systems' data
about the trace) goes with it, unchanged, as W3C asks of every hop that continues a trace.
"""

from __future__ import annotations

import random
import re
from typing import NamedTuple

# version-traceid-parentid-flags, lowercase hex. Later versions may append fields after a dash.
_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")
# tracestate list-members: key=value. A key is lowercase letters, digits and _-*/ (a tenant's key
# is tenant@system); a value is printable ASCII without ',' and '=', not ending in a space.
_TRACESTATE_MEMBER = re.compile(
    r"^(?:[a-z][_0-9a-z*/-]{0,255}|[a-z0-9][_0-9a-z*/-]{0,240}@[a-z][_0-9a-z*/-]{0,13})"
    r"=[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$"
)
TRACESTATE_MAX_MEMBERS = 32
# What W3C asks every hop to pass on at least; longer lists lose members from the end.
TRACESTATE_MAX_LENGTH = 512
_INVALID_TRACE_ID = "0" * 32
_INVALID_SPAN_ID = "0" * 16
SAMPLED = "01"


class TraceContext(NamedTuple):
    trace_id: str
    span_id: str
    flags: str = SAMPLED
    parent_span_id: str | None = None
    # The caller's tracestate, passed on as received (None without a caller's trace).
    tracestate: str | None = None

    @property
    def traceparent(self) -> str:
        """The header a downstream hop receives: same trace, this span as its parent."""
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"


def parse_traceparent(value: str | None) -> TraceContext | None:
    """The caller's trace, or None when the header is absent or breaks the W3C rules."""
    if not value:
        return None
    match = _TRACEPARENT.match(value.strip())
    if match is None:
        return None
    version, trace_id, parent_id, flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest):
        return None
    if trace_id == _INVALID_TRACE_ID or parent_id == _INVALID_SPAN_ID:
        return None
    return TraceContext(trace_id=trace_id, span_id=parent_id, flags=flags)


# Ids must be unique, not secret (W3C asks for randomness, not unpredictability): the process's
# Mersenne Twister (seeded from the OS) costs a third of `secrets` on every request.
_random_bits = random.Random().getrandbits


def new_span_id() -> str:
    return f"{_random_bits(64) or 1:016x}"


def new_trace_id() -> str:
    return f"{_random_bits(128) or 1:032x}"


def parse_tracestate(values: list[str]) -> str | None:
    """The caller's tracestate, from every header of that name in order, as one list; None when
    there is none or it breaks the W3C rules (a member out of form, a key twice, more than 32)."""
    members = [member.strip() for value in values for member in value.split(",")]
    members = [member for member in members if member]
    if not members or len(members) > TRACESTATE_MAX_MEMBERS:
        return None
    if not all(_TRACESTATE_MEMBER.match(member) for member in members):
        return None
    keys = [member.split("=", 1)[0] for member in members]
    if len(set(keys)) != len(keys):
        return None
    while len(",".join(members)) > TRACESTATE_MAX_LENGTH:
        members.pop()
    return ",".join(members) or None


def start_span(traceparent: str | None, tracestate: list[str] | None = None) -> TraceContext:
    """This request's span: a child of the caller's (with the caller's tracestate), or the root of
    a new trace (a tracestate without a valid traceparent means nothing and is dropped)."""
    parent = parse_traceparent(traceparent)
    if parent is None:
        return TraceContext(new_trace_id(), new_span_id())
    state = parse_tracestate(tracestate) if tracestate else None
    return TraceContext(parent.trace_id, new_span_id(), parent.flags, parent.span_id, state)
