"""Integrations: a shop platform's API key that creates and follows orders for a given set of vendors."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.db import Database
from cloud.errors import Conflict, InvalidRequest, NotFound
from cloud.models import Vendor
from cloud.models_access import Integration
from cloud.schemas_access import IntegrationCreate, IntegrationCreated, IntegrationOut
from cloud.services import audit
from cloud.tokens import new_api_key, sha256_hex


class Integrations:
    """The use cases behind /api/v1/integrations (admin only)."""

    def __init__(self, db: Database, admin_key: str) -> None:
        self._db = db
        self._admin_key = admin_key

    def create(self, request: IntegrationCreate, actor: str) -> IntegrationCreated:
        api_key = request.api_key or new_api_key()
        if api_key == self._admin_key:
            raise InvalidRequest("api_key: an integration cannot use the admin key")
        key_hash = sha256_hex(api_key)
        with self._db.write() as session:
            if session.get(Integration, request.id) is not None:
                raise Conflict(f"integration {request.id!r} already exists")
            unknown = sorted(set(request.vendors) - set(session.scalars(select(Vendor.id))))
            if unknown:
                raise InvalidRequest(f"vendors: no vendor {', '.join(map(repr, unknown))}")
            taken = session.scalar(select(Vendor.id).where(Vendor.api_key_hash == key_hash)) or session.scalar(
                select(Integration.id).where(Integration.api_key_hash == key_hash)
            )
            if taken is not None:
                raise Conflict("api_key: this API key is already in use; choose another")
            integration = Integration(
                id=request.id, name=request.name, vendors=sorted(set(request.vendors)), api_key_hash=key_hash
            )
            session.add(integration)
            session.flush()
            audit.record(
                session,
                actor,
                "integration_created",
                f"integration:{request.id}",
                None,
                {"vendors": integration.vendors},
            )
            out = _out(integration)
        return IntegrationCreated(**out.model_dump(), api_key=api_key)

    def list(self, session: Session) -> list[IntegrationOut]:
        return [_out(i) for i in session.scalars(select(Integration).order_by(Integration.id))]

    def remove(self, integration_id: str, actor: str) -> IntegrationOut:
        """Delete the integration: its API key stops working at once; its orders stay."""
        with self._db.write() as session:
            integration = session.get(Integration, integration_id)
            if integration is None:
                raise NotFound(f"no integration {integration_id!r}")
            out = _out(integration)
            session.delete(integration)
            audit.record(
                session, actor, "integration_removed", f"integration:{integration_id}", {"vendors": out.vendors}, None
            )
        return out


def _out(integration: Integration) -> IntegrationOut:
    return IntegrationOut(
        id=integration.id, name=integration.name, vendors=list(integration.vendors), created_at=integration.created_at
    )
