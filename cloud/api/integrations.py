"""/api/v1/integrations: shop platforms with their own API key, acting for a set of vendors (admin)."""

from __future__ import annotations

from fastapi import APIRouter

from cloud.api.deps import AdminDep, RuntimeDep, SessionDep
from cloud.schemas import error_responses
from cloud.schemas_access import IntegrationCreate, IntegrationCreated, IntegrationOut

router = APIRouter(prefix="/api/v1/integrations", tags=["integrations"])


@router.post(
    "",
    status_code=201,
    summary="Register a shop platform for some vendors (admin)",
    responses=error_responses(401, 403, 409, 422),
)
def create_integration(body: IntegrationCreate, admin: AdminDep, runtime: RuntimeDep) -> IntegrationCreated:
    """Returns the integration's API key once; only its hash is kept. It may create and see orders of its vendors."""
    return runtime.integrations.create(body, admin.describe())


@router.get("", summary="List integrations (admin)", responses=error_responses(401, 403))
def list_integrations(_admin: AdminDep, runtime: RuntimeDep, session: SessionDep) -> list[IntegrationOut]:
    return runtime.integrations.list(session)


@router.delete(
    "/{integration_id}",
    summary="Remove an integration: its API key stops working (admin)",
    responses=error_responses(401, 403, 404),
)
def remove_integration(integration_id: str, admin: AdminDep, runtime: RuntimeDep) -> IntegrationOut:
    return runtime.integrations.remove(integration_id, admin.describe())
