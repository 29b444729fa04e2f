"""/api/v1/vendors: onboarding (admin) and the vendor's own page with its vendor code."""

from __future__ import annotations

from fastapi import APIRouter

from cloud.api.deps import AdminDep, RuntimeDep, SessionDep, VendorDep
from cloud.schemas import VendorCreate, VendorCreated, VendorOut, VendorSummary, error_responses

router = APIRouter(prefix="/api/v1/vendors", tags=["vendors"])


@router.post("", status_code=201, summary="Register a vendor (admin)", responses=error_responses(401, 403, 409, 422))
def create_vendor(body: VendorCreate, _admin: AdminDep, runtime: RuntimeDep) -> VendorCreated:
    """Returns the vendor's API key once; only its hash is kept."""
    return runtime.vendors.create(body)


@router.get("", summary="List vendors (admin)", responses=error_responses(401, 403))
def list_vendors(_admin: AdminDep, runtime: RuntimeDep, session: SessionDep) -> list[VendorSummary]:
    return runtime.vendors.list(session)


@router.get(
    "/me", summary="The calling vendor: its vendor code and pending drop-offs", responses=error_responses(401, 403)
)
def me(vendor: VendorDep, runtime: RuntimeDep, session: SessionDep) -> VendorOut:
    return runtime.vendors.me(session, vendor)
