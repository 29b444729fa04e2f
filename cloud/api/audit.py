"""/api/v1/audit: the append-only trail of limit changes, acknowledgements, escalations and contact edits."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from cloud.api.deps import AdminDep, SessionDep
from cloud.schemas import error_responses
from cloud.schemas_monitoring import AuditEntryOut
from cloud.services import audit

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


@router.get("", summary="Audit trail, newest first (admin)", responses=error_responses(401, 403))
def audit_trail(
    _admin: AdminDep,
    session: SessionDep,
    subject: Annotated[str | None, Query(max_length=80, description="e.g. alert:12, or alert: for all")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditEntryOut]:
    return audit.entries(session, subject, limit)
