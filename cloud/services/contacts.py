"""The escalation chain: contacts per level, added and removed by admins (audited)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.db import Database, utcnow
from cloud.errors import Conflict, NotFound
from cloud.models_monitoring import Contact
from cloud.schemas_monitoring import ContactCreate, ContactOut
from cloud.services import audit


def contact_out(contact: Contact) -> ContactOut:
    return ContactOut(
        id=contact.id,
        level=contact.level,
        name=contact.name,
        email=contact.email,
        webhook_url=contact.webhook_url,
        active=contact.active,
        created_at=contact.created_at,
    )


def _audit_view(contact: Contact) -> dict:
    return {"level": contact.level, "name": contact.name, "email": contact.email, "webhook_url": contact.webhook_url}


class Contacts:
    """Contacts behind /api/v1/contacts; removing one deactivates it so past notifications keep their meaning."""

    def __init__(self, db: Database, webhooks_enabled: bool) -> None:
        self._db = db
        self._webhooks_enabled = webhooks_enabled

    def create(self, actor: str, request: ContactCreate) -> ContactOut:
        if request.webhook_url and not self._webhooks_enabled:
            raise Conflict(
                "webhooks need a signing secret and this site has none: create DK_WEBHOOK_SECRET_FILE "
                "(python -m cloud init) and restart the service"
            )
        with self._db.write() as session:
            contact = Contact(
                level=request.level,
                name=request.name,
                email=request.email,
                webhook_url=request.webhook_url,
                active=True,
                created_at=utcnow(),
            )
            session.add(contact)
            session.flush()
            audit.record(session, actor, "contact.added", f"contact:{contact.id}", None, _audit_view(contact))
            return contact_out(contact)

    def list(self, session: Session, include_inactive: bool = False) -> list[ContactOut]:
        query = select(Contact).order_by(Contact.level, Contact.id)
        if not include_inactive:
            query = query.where(Contact.active.is_(True))
        return [contact_out(c) for c in session.scalars(query)]

    def remove(self, actor: str, contact_id: int) -> ContactOut:
        with self._db.write() as session:
            contact = session.get(Contact, contact_id, with_for_update=True)
            if contact is None or not contact.active:
                raise NotFound(f"no active contact {contact_id}")
            contact.active = False
            audit.record(session, actor, "contact.removed", f"contact:{contact.id}", _audit_view(contact), None)
            session.flush()
            return contact_out(contact)
