"""/api/v1/contacts: who hears of alerts, per escalation level (admin; changes are audited)."""

from __future__ import annotations

from fastapi import APIRouter

from cloud.api.deps import AdminDep, RuntimeDep, SessionDep
from cloud.schemas import error_responses
from cloud.schemas_monitoring import ContactCreate, ContactOut

router = APIRouter(prefix="/api/v1/contacts", tags=["contacts"])


@router.get("", summary="Active contacts by level (admin)", responses=error_responses(401, 403))
def list_contacts(_admin: AdminDep, runtime: RuntimeDep, session: SessionDep) -> list[ContactOut]:
    return runtime.contacts.list(session)


@router.post("", status_code=201, summary="Add a contact (admin)", responses=error_responses(401, 403, 409, 422))
def add_contact(body: ContactCreate, admin: AdminDep, runtime: RuntimeDep) -> ContactOut:
    """Level 0 hears of every alert; level n once an alert waited n × the escalation interval unacknowledged."""
    return runtime.contacts.create(admin.describe(), body)


@router.delete("/{contact_id}", summary="Remove a contact (admin)", responses=error_responses(401, 403, 404))
def remove_contact(contact_id: int, admin: AdminDep, runtime: RuntimeDep) -> ContactOut:
    return runtime.contacts.remove(admin.describe(), contact_id)
