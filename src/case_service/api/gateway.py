"""Only the gateway speaks for users: an HMAC over the request line, the identity and a timestamp.

When GATEWAY_SHARED_SECRET is set, every `/api/v1` and `/internal/v1` request must carry

    X-Gateway-Timestamp: <Unix time, whole seconds>
    X-Gateway-Signature: <lowercase hex HMAC-SHA256(secret, canonical string)>

where the canonical string is these eight lines joined by "\\n" (no trailing newline):

    fm-gateway-v1
    <method, upper case>
    <path exactly as in the request line: percent-encoding untouched, no query>
    <query string exactly as sent, without "?"; empty when there is none>
    <X-User-ID value; empty when absent>
    <X-User-Email value; empty when absent>
    <X-User-Roles value; empty when absent>
    <X-Gateway-Timestamp value>

Raw HTTP cannot put a newline in a path, a query or a header value, so no two requests share a
canonical string. The body is not signed: the signature vouches for who is asking, not for what
they send. A signature stays valid for the allowed clock skew, so a captured request can be
replayed within that window; the identity in it cannot be changed.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from case_service.api.errors import error_response
from case_service.config import Settings

logger = logging.getLogger(__name__)

# The internal API trusts X-User-Roles as much as /api/v1 trusts X-User-ID, so it is signed too.
PROTECTED_PREFIXES = ("/api/v1/", "/internal/v1/")
# With EVENT_INGRESS_SECRET set, platform peers sign their events with it instead (case_service.signing).
EVENT_INGRESS_PATH = "/internal/v1/events"
TIMESTAMP_HEADER = "X-Gateway-Timestamp"
SIGNATURE_HEADER = "X-Gateway-Signature"
SCHEME = "fm-gateway-v1"


def canonical_request(
    method: str,
    path: str,
    query: str,
    *,
    user_id: str | None,
    user_email: str | None,
    user_roles: str | None,
    timestamp: str,
) -> str:
    return "\n".join(
        (SCHEME, method.upper(), path, query, user_id or "", user_email or "", user_roles or "", timestamp)
    )


def gateway_signature(secret: str, canonical: str) -> str:
    return hmac.new(secret.encode(), canonical.encode(), hashlib.sha256).hexdigest()


class GatewaySignatureMiddleware:
    """Refuses (401) an `/api/v1` or `/internal/v1` request whose gateway signature is missing,
    stale or wrong. `exempt` paths carry a signature of their own."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        secret: str,
        max_skew_seconds: int,
        exempt: frozenset[str] = frozenset(),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.app = app
        self._secret = secret
        self._max_skew = max_skew_seconds
        self._exempt = exempt
        self._clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and (scope["path"] + "/").startswith(PROTECTED_PREFIXES)
            and scope["path"].rstrip("/") not in self._exempt
        ):
            problem = self._problem(scope)
            if problem is not None:
                response = error_response(
                    Request(scope), 401, problem, "gateway_signature_invalid", {"header": SIGNATURE_HEADER}
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _problem(self, scope: Scope) -> str | None:
        """What is wrong with the request's signature, or None when it is good."""
        headers = Headers(scope=scope)
        timestamp = headers.get(TIMESTAMP_HEADER)
        signature = headers.get(SIGNATURE_HEADER)
        if not timestamp or not signature:
            return f"{TIMESTAMP_HEADER} and {SIGNATURE_HEADER} are required: call through the API gateway"
        if not timestamp.isdigit() or len(timestamp) > 12:
            return f"{TIMESTAMP_HEADER} must be a Unix time in whole seconds"
        if abs(self._clock() - int(timestamp)) > self._max_skew:
            return f"{TIMESTAMP_HEADER} is more than {self._max_skew} s away from the service's clock"
        raw_path = scope.get("raw_path") or scope["path"].encode()
        canonical = canonical_request(
            scope["method"],
            raw_path.split(b"?", 1)[0].decode("latin-1"),
            scope.get("query_string", b"").decode("latin-1"),
            user_id=headers.get("x-user-id"),
            user_email=headers.get("x-user-email"),
            user_roles=headers.get("x-user-roles"),
            timestamp=timestamp,
        )
        expected = gateway_signature(self._secret, canonical).encode()
        if not hmac.compare_digest(expected, signature.strip().lower().encode("latin-1")):
            return f"{SIGNATURE_HEADER} does not match the request"
        return None


def warn_when_unprotected(settings: Settings) -> None:
    """In production, running without the gateway secret lets anyone who reaches the port be anyone."""
    if settings.environment == "production" and settings.gateway_shared_secret is None:
        logger.warning(
            "SECURITY: GATEWAY_SHARED_SECRET is not set in production. Every /api/v1 and /internal/v1 request is trusted "
            "to name its own user in X-User-ID/X-User-Roles, so anything that can reach this port can act "
            "as any user, admins included. Set GATEWAY_SHARED_SECRET to the API gateway's signing secret, "
            "or make sure nothing but the gateway can reach the service."
        )
