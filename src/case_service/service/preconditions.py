"""Optimistic concurrency as the use cases see it: the case versions a caller is willing to change."""

from __future__ import annotations

from dataclasses import dataclass

from case_service.domain.case import Case
from case_service.domain.errors import PreconditionFailed


@dataclass(frozen=True)
class VersionPrecondition:
    """`versions` None: any version will do (no `If-Match`, or `If-Match: *`).

    Checked by the use case after it has read the case under its row lock, in the transaction that
    writes the change, so no other writer can slip in between the check and the write.
    """

    versions: frozenset[int] | None = None

    def check(self, case: Case) -> None:
        if self.versions is not None and case.version not in self.versions:
            raise PreconditionFailed(case.case_id, case.version)


ANY_VERSION = VersionPrecondition()
