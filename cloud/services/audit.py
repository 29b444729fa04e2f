"""The append-only audit trail: who changed a limit, acknowledged an alert, or edited the contacts, old -> new."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.db import utcnow
from cloud.models_monitoring import AuditEntry
from cloud.schemas_monitoring import AuditEntryOut

SYSTEM = "system"  # the actor of what the cloud does by itself (escalation)


def record(
    session: Session,
    actor: str,
    action: str,
    subject: str,
    old: dict | None,
    new: dict | None,
    at: datetime | None = None,
) -> AuditEntry:
    """Append one entry inside the caller's transaction (it lands exactly when the change does)."""
    entry = AuditEntry(at=at or utcnow(), actor=actor, action=action, subject=subject, old=old, new=new)
    session.add(entry)
    return entry


def entries(session: Session, subject: str | None = None, limit: int = 100) -> list[AuditEntryOut]:
    """Newest first; `subject` matches exactly (`alert:12`) or, ending in `:`, a whole kind (`alert:`)."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if subject:
        if subject.endswith(":"):
            query = query.where(AuditEntry.subject.startswith(subject, autoescape=True))
        else:
            query = query.where(AuditEntry.subject == subject)
    return [
        AuditEntryOut(id=e.id, at=e.at, actor=e.actor, action=e.action, subject=e.subject, old=e.old, new=e.new)
        for e in session.scalars(query)
    ]
